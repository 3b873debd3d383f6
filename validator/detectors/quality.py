"""Image quality per second: light, over-exposure and focus measured on the edges that exist.

Focus is the *edge spread*: the standard deviation (in pixels) of the Gaussian blur that
would turn an ideal step into the frame's sharpest edges. It is measured only where the
frame has real step edges, so a large plain surface (a carton, a desk) says nothing
about focus instead of reading as blur, and a frame without any edge is ``unknown``.

Method, per sampled frame at analysis resolution (320 px on the long side):

1. Edges: local maxima of the gradient magnitude across the edge (non-maximum
   suppression, Canny 1986) at a coarse scale (Gaussian ``S_COARSE``), where the gradient
   is at least ``EDGE_MIN_GRADIENT`` gray levels a pixel: contrast far above sensor and
   coding noise at this resolution.
2. Steps only: the profile across each edge (sampled along the gradient direction over
   ``±PROFILE_HALF_PX``) must be monotone. Thin lines, bars and dense patterns are
   dropped: a blurred barcode or grain reads like a finer pattern, not like a blur, so
   they would bias the answer toward "sharp" in a blurred frame.
3. Spread of each step from its gradient at two known scales (the re-blur principle of
   Zhuo and Sim, "Defocus map estimation from a single image", Pattern Recognition 44(9),
   2011; Elder and Zucker, IEEE PAMI 20(7), 1998): a step blurred by ``sigma`` and
   smoothed by ``s`` has a peak gradient ``C / sqrt(2 pi (sigma^2 + s^2))``, so the
   ratio ``R`` of the gradients at scales ``s1 < s2``, each divided by the step's
   contrast ``C`` measured across it at that scale, gives
   ``sigma^2 = (s2^2 - R^2 s1^2) / (R^2 - 1)`` whatever the contrast.
4. Regions: the frame is split into ``BLOCK_PX`` blocks; a block with at least
   ``MIN_BLOCK_EDGES`` step pixels gets the median spread of its steps; the frame's
   spread is the ``SHARPEST_SHARE`` quantile over those blocks (its best-focused fifth:
   the parcel in focus before a blurred background still reads sharp).

The spread includes the analysis image's own sampling (an ideal step reads about
0.6-0.8 px), so a frame scaled from 4K and one recorded at 480p are judged on the
same scale: the spread is reported as a percentage of the frame's long side, the unit
of the policy's ``validity.max_blur_pct``. Print that is blurred at that share of the
frame is blurred at any recording resolution (tests/test_quality_calibration.py).

Why not the Crété-Roffet (2007) blur metric over the whole frame, used before: on a
frame that is mostly plain, the few edges are outweighed by flat areas whose variation
is noise, and with a floor on the detail the whole frame read "blurred" (issue 10).

Light is measured on every ``STRIDE``-th frame (and the first of each second), focus on
every ``FOCUS_EVERY``-th of those: a per-second profile does not need more. Focus costs
about 0.3-0.6 ms a measured frame at 320x180.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, Metrics, register

STRIDE = 6  # 5 samples a second at 30 fps: enough for a per-second median
# Focus is measured on every other sample (about 3 a second at 30 fps): enough for a
# per-second median, at half the cost (benchmarks/bench_check.py).
FOCUS_EVERY = 2
# Gaussian scales (px at analysis resolution) of the two gradients. s1 = 1 keeps the fine
# gradient sampled well (a finite difference of an unsmoothed step is not a Gaussian
# peak); s2 = 2 px makes the ratio change fastest for spreads of 1-2.5 px, where the
# legibility threshold lies (the width ratio is 1.7 at 0.6 px, 1.25 at 2 px).
S_FINE = 1.0
S_COARSE = 2.0
# Minimum gradient (gray levels per px, at about the coarse scale) of an edge that is
# judged: a sharp step of about 8 gray levels. Noise at 320 px (Immerkaer 1996 estimate)
# is under 1 gray level on every source measured (fixtures, devset, real phone clips), so
# its smoothed gradient stays near 0.1; coding blocks and grain stay below this.
EDGE_MIN_GRADIENT = 1.5
# Half-length (px) of the window across each edge where the step must be monotone and its
# contrast is read: +-2.5 sigma of a step blurred to 2.8 px at the coarse scale.
STEP_HALF_PX = 7
# A step's profile may go against its direction by at most this share of its rise (noise,
# texture on a face); more means a line, bar or pattern, whose spread is not the blur's.
MONOTONE_TOLERANCE = 0.15
BLOCK_PX = 32  # region size: a 320x180 frame has 10x6 blocks
# Steps a block needs for its median to count (edge points are taken on the half-size
# grid, so 4 points are about 8 px of edge).
MIN_BLOCK_EDGES = 4
# The frame's spread is this quantile over its blocks: its best-focused fifth.
SHARPEST_SHARE = 0.2
# Edges whose profile is measured at most (a regular subsample beyond): about 16 a block
# of a fully detailed frame, enough for every block median, and it bounds the cost.
MAX_EDGES = 1000
_S_STEP = float(np.sqrt(S_COARSE**2 - S_FINE**2))
_G_FINE = cv2.getGaussianKernel(7, S_FINE).astype(np.float32)  # +-3 sigma
# The coarse profile is the fine one smoothed across the edge by the remaining Gaussian:
# for a straight edge that is exactly the 2-D smoothing, at a fraction of its cost.
_K_STEP = cv2.getGaussianKernel(11, _S_STEP).astype(np.float32).reshape(1, -1)
_L = STEP_HALF_PX + 5  # profile half-length: the window plus the coarse kernel's reach
_T = np.arange(-_L, _L + 1, dtype=np.float32)
_MID = slice(_L - 3, _L + 3)  # differences within +-2.5 px of the point: the edge's peak
# Width ratios near 1 mean a spread beyond any the window can resolve; bounding R^2 caps the
# spread at MAX_SPREAD_PX instead of letting it run to infinity.
MAX_SPREAD_PX = 8.0
_MIN_R2 = (S_COARSE**2 + MAX_SPREAD_PX**2) / (S_FINE**2 + MAX_SPREAD_PX**2)


def edge_spread(gray: np.ndarray) -> float | None:
    """Edge spread (px, Gaussian sigma) of the best-focused fifth of a gray frame's regions.

    ``None`` when the frame has no step edge to judge (plain, flat, dark or only lines).
    Independent of contrast; larger means more blurred. See the module docstring.
    """
    w = gray.shape[1]
    b1 = cv2.sepFilter2D(gray, cv2.CV_32F, _G_FINE, _G_FINE)  # Gaussian S_FINE, to float
    # Edge points on the half-size grid: pyrDown adds a Gaussian of about 1 px, so this is
    # close to the coarse scale, at a quarter of the pixels.
    half = cv2.pyrDown(b1)
    hx = cv2.Sobel(half, cv2.CV_32F, 1, 0, ksize=1)  # [-1 0 1]
    hy = cv2.Sobel(half, cv2.CV_32F, 0, 1, ksize=1)
    hm = cv2.magnitude(hx, hy)  # four times the gradient per full-size px
    hh, hw = hm.shape
    e = (_L + 1) // 2 + 1  # margin: the profile stays inside the frame
    if hh <= 2 * e or hw <= 2 * e:
        return None
    yy, xx = np.nonzero(hm[e:-e, e:-e] >= 4.0 * EDGE_MIN_GRADIENT)
    yy += e
    xx += e
    # Non-maximum suppression across the edge (Canny 1986), direction quantised to x or y.
    idx = yy * hw + xx
    flat = hm.ravel()
    c = flat[idx]
    gxs, gys = hx.ravel()[idx], hy.ravel()[idx]
    off = np.where(np.abs(gxs) >= np.abs(gys), 1, hw)
    keep = np.flatnonzero((c >= flat[idx - off]) & (c > flat[idx + off]))
    if len(keep) > MAX_EDGES:  # a regular subsample keeps every region's share
        keep = keep[np.linspace(0, len(keep) - 1, MAX_EDGES).astype(np.intp)]
    if len(keep) < MIN_BLOCK_EDGES:
        return None
    ys, xs, c = 2 * yy[keep], 2 * xx[keep], c[keep]
    # Profiles across the edges (along the gradient), at the fine scale.
    mapx = xs.astype(np.float32)[:, None] + (gxs[keep] / c)[:, None] * _T
    mapy = ys.astype(np.float32)[:, None] + (gys[keep] / c)[:, None] * _T
    p1 = cv2.remap(b1, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    d1 = p1[:, 1:] - p1[:, :-1]
    rise = np.maximum(d1[:, _L - STEP_HALF_PX : _L + STEP_HALF_PX], 0).sum(axis=1)
    contrast = p1[:, _L + STEP_HALF_PX] - p1[:, _L - STEP_HALF_PX]
    step = (rise - contrast <= MONOTONE_TOLERANCE * rise) & (contrast > 0)  # little falls back
    if np.count_nonzero(step) < MIN_BLOCK_EDGES:
        return None
    p1, d1, contrast, ys, xs = p1[step], d1[step], contrast[step], ys[step], xs[step]
    p2 = cv2.filter2D(p1, -1, _K_STEP, borderType=cv2.BORDER_REPLICATE)
    # Width at each scale = contrast across the step / its peak gradient; R = coarse/fine.
    w1 = contrast / np.maximum(d1[:, _MID].max(axis=1), 1e-3)
    w2 = (p2[:, _L + STEP_HALF_PX] - p2[:, _L - STEP_HALF_PX]) / np.maximum(
        (p2[:, 1:] - p2[:, :-1])[:, _MID].max(axis=1), 1e-3
    )
    r2 = np.maximum((w2 / np.maximum(w1, 1e-3)) ** 2, _MIN_R2)
    spread = np.sqrt(np.maximum(S_COARSE**2 - r2 * S_FINE**2, 0.0) / (r2 - 1.0))
    # Median spread per block, over blocks with enough steps.
    block = (ys // BLOCK_PX) * (w // BLOCK_PX + 1) + xs // BLOCK_PX
    order = np.lexsort((spread, block))
    block, spread = block[order], spread[order]
    _, start, count = np.unique(block, return_index=True, return_counts=True)
    full = count >= MIN_BLOCK_EDGES
    if not full.any():
        return None
    start, count = start[full], count[full]
    medians = (spread[start + (count - 1) // 2] + spread[start + count // 2]) / 2
    return float(np.quantile(medians, SHARPEST_SHARE))


@dataclass(frozen=True, slots=True)
class QualityMetrics(Metrics):
    """The report's ``quality``: per-second ``profile`` rows (t_s, luma, blur_pct,
    overexposed) and their medians."""

    seconds: int
    seconds_focus_known: int
    median_luma: float | None
    median_blur_pct: float | None
    profile: list[dict[str, Any]]


@register
class QualityDetector(Detector):
    name = "quality"

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.profile: list[dict] = []
        self._sec: int | None = None
        self._acc: list[tuple[float, float]] = []  # per sample: luma, clipped share
        self._focus: list[float | None] = []  # per focus sample: spread, % of the long side

    def _flush(self) -> None:
        if self._sec is None or not self._acc:
            return
        known = [v for v in self._focus if v is not None]
        # A second's focus is known when at least half its focus samples had edges to judge;
        # fewer is a hand passing, a turn showing a plain face: not evidence either way.
        blur = round(float(np.median(known)), 3) if 2 * len(known) >= len(self._focus) else None
        a = np.array(self._acc)
        self.profile.append(
            {
                "t_s": self._sec,
                "luma": round(float(a[:, 0].mean()), 1),
                "blur_pct": blur,
                "overexposed": round(float(a[:, 1].mean()), 3),
            }
        )
        self._acc = []
        self._focus = []

    def process(self, frame: Frame) -> None:
        sec = int(frame.t_s)
        if sec != self._sec:
            self._flush()
            self._sec = sec
        elif frame.index % STRIDE:
            return
        g = frame.gray
        if len(self._acc) % FOCUS_EVERY == 0:
            spread = edge_spread(g)
            self._focus.append(None if spread is None else 100.0 * spread / max(g.shape))
        self._acc.append((float(g.mean()), float(np.count_nonzero(g >= 250)) / g.size))

    def finish(self, upstream=None) -> Findings:
        self._flush()
        p = self.profile

        def med(key: str) -> float | None:
            v = [s[key] for s in p if s[key] is not None]
            return round(float(np.median(v)), 3) if v else None

        return Findings(
            [],
            QualityMetrics(
                seconds=len(p),
                seconds_focus_known=sum(s["blur_pct"] is not None for s in p),
                median_luma=med("luma"),
                median_blur_pct=med("blur_pct"),
                profile=p,
            ),
        )
