"""Image quality per second: light, over-exposure and sharpness.

Sharpness is ``1 - blur_effect`` where blur_effect is the no-reference
perceptual blur metric of Crété-Roffet et al. (2007), "The Blur Effect:
Perception and Estimation with a New No-Reference Perceptual Blur Metric",
SPIE 6492 (the same method as scikit-image's ``measure.blur_effect``): re-blur
the image with a box filter and measure how much of its neighbour-pixel
variation survives. A sharp image loses much of it (sharpness near 1), an
already blurred one almost nothing (near 0). It is independent of contrast, so
a dark but sharp frame is not called blurred. The policy's threshold
(``validity.blur_sharpness``) is calibrated at the analysis resolution
(320 px): print that is a blur there is not legible in the original either.

Measured on every ``STRIDE``-th frame (and the first of each second): a per-second
profile does not need more.
"""

from __future__ import annotations

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, register

STRIDE = 6  # 5 samples a second at 30 fps: enough for a per-second median
H_SIZE = 11  # Crété-Roffet's re-blur filter length
# Mean neighbour difference (gray levels) under which an 8-bit image has no legible
# detail: there the metric measures quantisation steps, not edges, and would call a
# dark, blurred frame sharp.
MIN_DETAIL = 1.0


def sharpness(gray: np.ndarray) -> float:
    """``1 - blur_effect`` (Crété-Roffet 2007) of a gray image; 1 is sharp, 0 blurred."""
    img = gray.astype(np.float32)
    worst = 0.0
    for axis, ksize in ((0, (1, H_SIZE)), (1, (H_SIZE, 1))):
        blurred = cv2.blur(img, ksize)  # box filter along ``axis`` only
        d_sharp = np.abs(np.diff(img, axis=axis))[2:-1, 2:-1]
        d_blur = np.abs(np.diff(blurred, axis=axis))[2:-1, 2:-1]
        m1 = float(d_sharp.sum())
        if m1 <= MIN_DETAIL * d_sharp.size:
            return 0.0  # flat, or only quantisation steps: nothing to read
        m2 = float(np.maximum(0.0, d_sharp - d_blur).sum())
        worst = max(worst, abs(m1 - m2) / m1)
    return 1.0 - worst


@register
class QualityDetector(Detector):
    name = "quality"

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.profile: list[dict] = []
        self._sec: int | None = None
        self._acc: list[tuple[float, float, float]] = []

    def _flush(self) -> None:
        if self._sec is None or not self._acc:
            return
        a = np.array(self._acc)
        self.profile.append(
            {
                "t_s": self._sec,
                "luma": round(float(a[:, 0].mean()), 1),
                "sharpness": round(float(np.median(a[:, 1])), 3),
                "overexposed": round(float(a[:, 2].mean()), 3),
            }
        )
        self._acc = []

    def process(self, frame: Frame) -> None:
        sec = int(frame.t_s)
        if sec != self._sec:
            self._flush()
            self._sec = sec
        elif frame.index % STRIDE:
            return
        g = frame.gray
        clipped = float(np.count_nonzero(g >= 250)) / g.size
        self._acc.append((float(g.mean()), sharpness(g), clipped))

    def finish(self) -> Findings:
        self._flush()
        p = self.profile

        def med(key: str) -> float | None:
            return round(float(np.median([s[key] for s in p])), 3) if p else None

        return Findings(
            [],
            {
                "seconds": len(p),
                "median_luma": med("luma"),
                "median_sharpness": med("sharpness"),
                "profile": p,
            },
        )
