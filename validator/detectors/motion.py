"""Global motion between two small gray frames, shared by the detectors that need it.

Phase correlation (Kuglin & Hines, 1975; OpenCV ``phaseCorrelate``) gives the
dominant translation between frames in about 0.1 ms at 160x90: enough to take
a handheld camera's shake and pans out of a frame difference.
"""

from __future__ import annotations

import cv2
import numpy as np

MOTION_LONG_SIDE = 160


def small(gray: np.ndarray, long_side: int = MOTION_LONG_SIDE) -> np.ndarray:
    """Float32 image ``long_side`` pixels on its long side, for motion and residuals."""
    h, w = gray.shape
    if max(h, w) != long_side:
        s = long_side / max(h, w)
        gray = cv2.resize(
            gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    return gray.astype(np.float32)


class MotionEstimator:
    """Translation of ``cur`` relative to ``prev`` (pixels at the small size)."""

    def __init__(self) -> None:
        self._window: np.ndarray | None = None

    def shift(self, prev: np.ndarray, cur: np.ndarray) -> tuple[float, float, float]:
        """(dx, dy, response); response near 0 means no reliable peak (e.g. a cut)."""
        if self._window is None or self._window.shape != prev.shape:
            self._window = cv2.createHanningWindow(prev.shape[::-1], cv2.CV_32F)
        # Copies: OpenCV's phaseCorrelate applies the window to its inputs in place,
        # which would corrupt the frames the residual measures use next.
        (dx, dy), response = cv2.phaseCorrelate(prev.copy(), cur.copy(), self._window)
        return float(dx), float(dy), float(response)


def compensate(prev: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``prev`` moved by (dx, dy): the prediction of the next frame under pure translation."""
    m = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(
        prev,
        m,
        (prev.shape[1], prev.shape[0]),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
