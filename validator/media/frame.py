"""``Frame``: what the decode loop (``source.py``) hands every detector.

It lives in ``media/`` (the lower layer) so the decode loop needs nothing from
``detectors/``; ``validator.detectors.base`` re-exports it for the detectors
and for in-memory frame sources in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Frame:
    """One decoded frame at analysis resolution, display-oriented.

    ``gray`` is the luma plane scaled to ``ANALYSIS_LONG_SIDE`` pixels on the
    long side (uint8, HxW); ``color`` a small BGR image (``COLOR_LONG_SIDE``).
    ``hires(long_side)`` returns a larger gray image on demand (for barcode
    reading); it is only valid while the frame is being processed.
    """

    index: int
    t_s: float
    gray: np.ndarray
    color: np.ndarray
    keyframe: bool = False
    hires: Callable[[int], np.ndarray] | None = field(default=None, repr=False)
