"""Frame detectors. Importing this package registers every shipped detector."""

from validator.detectors import (  # noqa: F401  (registration)
    black,
    cuts,
    faces,
    freeze,
    quality,
    waybill,
)
from validator.detectors.base import (
    REGISTRY,
    Detector,
    Findings,
    Frame,
    Metrics,
    event_kinds,
    register,
)

__all__ = ["REGISTRY", "Detector", "Findings", "Frame", "Metrics", "event_kinds", "register"]
