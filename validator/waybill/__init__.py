"""Waybill (运单) reading for the consistency requirement (一致性).

- ``reader``: ``read_codes(gray)`` / ``scan(gray)``: zxing-cpp on one frame.
- ``carriers``: tracking-number formats, ``normalise``, ``identify``, check digits.
- ``aggregate``: ``WaybillTracker`` over sampled frames and ``verdict(expected, codes)``.

The frame detector that drives them is ``validator.detectors.waybill``.
"""

from validator.waybill.aggregate import (
    VERDICT_OF,
    CodeSummary,
    WaybillTracker,
    make_reason,
    verdict,
    verdict_from_metrics,
)
from validator.waybill.carriers import (
    Carrier,
    identify,
    normalise,
    same_waybill,
    validate_check_digit,
)
from validator.waybill.reader import DEFAULT_FORMATS, CodeRead, Scan, read_codes, scan

__all__ = [
    "DEFAULT_FORMATS",
    "VERDICT_OF",
    "Carrier",
    "CodeRead",
    "CodeSummary",
    "Scan",
    "WaybillTracker",
    "identify",
    "make_reason",
    "normalise",
    "read_codes",
    "same_waybill",
    "scan",
    "validate_check_digit",
    "verdict",
    "verdict_from_metrics",
]
