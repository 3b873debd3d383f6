"""Frame detectors. Importing this package registers every shipped detector."""

from validator.detectors import black, cuts, freeze, quality, waybill  # noqa: F401  (registration)
from validator.detectors.base import REGISTRY, Detector, Findings, Frame, register

__all__ = ["REGISTRY", "Detector", "Findings", "Frame", "register"]
