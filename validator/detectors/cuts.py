"""Splices, removed segments and editing-app transitions: changes that motion does not explain.

A cut is judged against the part of the picture that changes, never against a fixed
share of the frame: a parcel may fill 3% of the frame or 80%, on a camera held still
on a stand or in a hand. Three stages.

1. Every frame (cheap). The camera's translation is taken out (phase correlation,
   ``motion.py``; standing still instead, when that explains the pair better: a
   correlation peak on a plain table can be a false one) and the residual difference
   is measured in a grid of blocks (12x9 at 160 px, each about 1% of the frame). A cut
   is a *temporal spike*: a block's residual between frames t-1 and t far above its
   residual in the ``WINDOW`` pairs on each side. Continuous motion changes every
   pair by a similar amount; a splice or a removed segment changes one pair only. The
   spike is weighed over the blocks that change in that pair (the *region*: the
   parcel and the hands, however small) and over its strongest few blocks (a parcel
   of 3% jumping while the shake changes the whole table a little), never over a
   fixed share of the frame. A second, frame-level test is PySceneDetect's
   AdaptiveDetector (Castellano, 2014-2024): the frame's HSV content change against
   the mean of its neighbours', looser than the peer's own thresholds, so that every
   change the peer would report is at least examined.

2. Candidates only (a few in a hundred frames): proof. *Local*: every block of frame
   t is searched for in frame t-1 within ``SEARCH_PX`` and back (block matching, as
   motion-compensated video coding does), after a global exposure fit, both frames
   softened a little, each candidate window brought to the block's mean (a shadow
   brightens a patch without changing what is there) and measured against the 3x3
   min/max envelope of the other frame (Birchfield & Tomasi, 1998). Motion, however
   fast, finds its match nearby; a cut does not: the spike ratio over the region
   that changed must be high *and* a good share of those blocks' contrast must stay
   unexplained (a cut replaces content; blur, aliasing and light only alter it).
   *Scene*: block-mean colour after a per-channel gain and offset (an exposure or
   white-balance step is such a map; another table or other light is not), its
   median over the frame against the neighbours'. *Jump*: the whole picture moves in
   one pair while it was still on both sides (the camera set up again) and the frame
   changes as at a cut in that same pair; each alone is something a camera does (a
   bump, an exposure step), both at once in one frame interval are two takes joined.
   A proof makes a ``cut``. A local proof while the region was moving fast around
   it (``MOVING_AROUND``) is a ``possible_cut`` (a parcel flicked round in a fifth
   of a second can end in a frame no nearby block explains, as a cut on action
   does) and nothing at all unless the frame also changed as the peer's cuts do. A
   frame that changed as the peer's cuts do, with a residual spike the camera's
   motion does not explain but no proof (things moving in the picture might), is a
   ``possible_cut`` too: completeness ``review``, a person looks.

3. Gradual transitions (cross-dissolves of 2-30 mixed frames, fades through black),
   found by twin comparison (Zhang, Kankanhalli & Smoliar, 1993, "Automatic
   partitioning of full-motion video"): a span of frames whose end differs from its
   start far more than spans of that length usually do, no single step holding the
   change (a cut is stage 1's); long spans are also taken when their frames lie on
   one line. Such a span is proven a transition by what only editing makes: a
   *dissolve*'s frames are blends (1 - w) A + w B of the frames before and after it
   (Alattar, 1993, the linear model of dissolves), with w rising by an even step;
   its middle is explained by mixing far better than by moving either end (motion,
   zooms, focus hunting and a hand passing the lens are the other way round); and
   the ends differ in structure, not only in light (an exposure ramp is linear too).
   A *fade* dims one picture to black and brightens the next from black, its ratio
   of contrast to brightness kept (a gain; a hand over the lens or a light going out
   changes it). Reported as ``cut`` with ``details.transition`` and ``frames``.

The spike test is the temporal-derivative idea of classic shot-boundary detection
(Yeo & Liu, 1995, "Rapid scene analysis on compressed video"), applied per block on
motion-compensated differences. A cut at the edge of a freeze is that freeze's own
edge (the freeze detector reports it) and is not reported twice.

Score: the strongest proof's ratio divided by ``RATIO_AT_SCORE_1``; the policy's
``completeness.cut_score`` (default 1.0) decides what is reported.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, Metrics, register
from validator.detectors.motion import MotionEstimator, compensate, small
from validator.detectors.steps import FrameSteps
from validator.models import Event, EventKind, KindReason

GRID = (12, 9)  # blocks across, down (landscape; transposed for portrait): ~1% of the frame each
WINDOW = 2  # a spike must stand out against this many pairs on each side
MERGE_S = 0.5  # spikes closer than this are one event
# Spike ratio of score 1. Over the region that changed, local matching's ratio measured
# 2.2-11 (median 4.4) at the 34 removals, retakes and splices of fixtures, devset and
# edited real clips where it is the proof, and 2.0 at most on the 600 candidates of
# continuous footage from the same three sources (shake, turns, blur, light, codec).
RATIO_AT_SCORE_1 = 2.8
CANDIDATE_SCORE = 0.6  # stage 1 keeps anything above this for stage 2

# --- stage 1 (global residual: mean absolute, gray levels at 160 px)
COARSE_MIN = 4.0  # a block changing less than this is noise or compression, not content
NOISE_FLOOR = 1.5  # added to the neighbours' residual so still frames don't divide by ~0
MIN_REGION = 2  # blocks (~2% of the frame): the least that can show a parcel's change
# A global shift this large is checked against standing still: where a parcel moves over
# a still table the correlation may follow the parcel (or, on a plain table, a false
# peak), and the table's stillness explains the pair better.
STILL_CHECK_PX = 0.5
# Frame-level content change (PySceneDetect's HSV measure). The peer cuts at ratio 3.0
# over content 15 at ~256-320 px; our 160 px frames give lower values on fine texture,
# so candidates start well below its thresholds.
CONTENT_RATIO = 2.0
CONTENT_MIN = 4.0
# The peer's own ratio (3 over the neighbours' mean), at a content our 160 px frames
# reach on the cuts it finds (the pond clip's 0.5 s removal: 14.5) and a codec's
# keyframe refresh on a plain desk at CRF 28-32 does not (9.5 at most: the hue of
# near-grey pixels flickers). With a candidate's residual spike over the region (the
# edits that reach both measured 2.2 and more; continuous footage at this ratio and
# content, 1.2 at most) it makes a possible cut.
PEER_RATIO = 3.0
PEER_CONTENT = 10.0
# A fitted gain must leave the typical block at most this share of the offset alone's
# error, or the offset alone is kept (a plain table pins no gain).
GAIN_GAIN = 0.7
GAIN_RANGE = (0.5, 2.0)  # a camera's exposure step between two frames stays within this

# --- stage 2 (local matching: RMS of the Birchfield-Tomasi dissimilarity, gray levels)
# Both frames are smoothed by this Gaussian (px at 160 px) first: the blur a pan starts
# or stops with, and the aliasing of a barcode under shake, then no longer differ;
# content that is not there still does (fixtures, devset and real removals: cuts kept
# ratios of 4-10, blur onset and aliasing fell from 3.2 and 2.9 to nothing).
SOFTEN_PX = 0.7
SEARCH_PX = 8  # local search radius at 160 px (5% of the width): a fast turn's edge speed
LOCAL_MIN = 4.0  # a block this far from anything nearby has changed content
TEXTURE_MIN = 4.0  # block std (gray levels) below which a block has no structure to compare
# Share of a changed block's contrast (RMS residual over its std) left unexplained by
# local matching, over the region: cuts measured 0.28 at the 10th percentile (median
# 0.37) on fixtures, devset and edited real clips; shutter blur and a barcode's
# aliasing under shake, which spiked before the frames were softened, 0.17 at most.
UNEXPLAINED_MIN = 0.25
ZERO_BIAS = 1.1  # a block whose match in place is this close to its best has not moved
# How far (px at 160 px, median of the spiking region, most in any pair around the
# spike) the content moved against the camera, over which the parcel was moving
# there: a fast turn, not a steady pose. Such a spike is a ``possible_cut``.
MOVING_AROUND = 2.0
# Content moving this much around a spike (same measure) is motion that a few dropped
# frames can carry on unseen; a region that stood still (a stand, a held pose: codec
# noise of a few tenths) cannot change across them.
HOLE_MOVING = 0.5
# A colour spike this many times the cut score is a new scene (spliced takes: 4+; the
# pans and turns of the generated clips: 1.0 at most), a cut even amid motion.
SCENE_SURE = 2.0
COLOUR_MIN = 3.0  # block-mean colour change (after the photometric fit) that is content
# Jump: the whole picture moves at least this far (px at 160 px) in one pair, this many
# times more than in any pair around, and the frame's content changes by this ratio
# (a camera's own exposure steps measured 2.8 on real webcam footage).
JUMP_PX = 1.0
JUMP_RATIO = 4.0
JUMP_LIGHT_RATIO = 5.0

# --- stage 3 (transitions, on block-mean colour signatures: mean absolute change)
LAGS = (2, 3, 4, 6, 8, 11, 16, 22, 31)  # frames spanned: transitions of 1 to 30 mixed frames
CHORD_HISTORY = 90  # frames (3 s at 30 fps) over which each span's usual change is learned
USUAL_EVERY = 16  # frames between updates of the usual change (it drifts slowly)
CHORD_RATIO = 3.0  # a span changing this many times its usual is a transition candidate
CHORD_MIN = 2.0  # and at least this (levels): less is noise on a still picture
CHORD_NOISE = 0.5  # levels added to the usual change (still pictures, clean renders)
CUT_SHARE = 0.5  # one step holding this share of a span's change is a cut (stage 1's)
SETTLE = 3  # frames without a better candidate before the best one is tested
# Long spans, tested every LONG_EVERY frames for frames on one line (a slow dissolve):
# block means this close to the line from the span's first frame to its last (share of
# the change left; slow dissolves measured 0.003-0.015 on every source, smooth motion
# as low: the tests at 160 px decide).
LONG_LAGS = (16, 22, 31)
LONG_EVERY = 4
LONG_LINEAR = 0.03
LONG_CHORD_MIN = 4.0  # levels: a span that changed less shows nothing to test
# A dissolve's inner frames leave at most this share of the change unexplained by the
# blend at 40 px (dissolves on fixtures and real footage: 0.025 at most; turns, pans
# and hands, linear enough at that scale to get here: 0.09-0.4; the tests after this
# one decide those).
LINEAR_MAX = 0.1
MIX_GAIN = 2.0  # moving either end must leave this many times the blend's residual
MIX_NOISE = 0.5  # levels: compression noise in the mixed frame, which neither explains
# A dissolve's frame is the blend to within compression noise: its residual at most this
# share of the change between the ends (dissolves on fixtures and real footage: 0.015 at
# most; a carton's flaps opening, roughly linear at 40 px: 0.08).
MIX_SHARE = 0.05
BLEND_SHIFT_PX = 4  # px at 160 px, in steps of 2 (the 5x5 envelope fills between)
STRUCTURE_SAME = 0.8  # normalised correlation of ends whose structure is the same (light)
# Median change of a dissolve's per-frame step over the step itself: editors' dissolves
# (linear or eased) measured 0.24 at most on every source; the devset renderer's item,
# faded in by fits and starts over a second, 0.83.
UNEVEN_MAX = 0.5
MIN_MIXED = 2  # mixed frames of the shortest dissolve an editor makes (2-30 frames)
MAX_TRANSITION = 31  # frames of a fade's half: 30 dimmed frames and the picture's own
MAX_BLACK = 30  # black frames a fade may hold; longer black is the black detector's
BLACK_LUMA = 24.0  # mean luma of a faded-out frame (video black is 16)
BLACK_SPREAD = 6.0  # gray std of a black frame: no structure left
# A fading picture's ratio of contrast (gray std) to brightness above black drifts at
# most this much (fades through black on fixtures, devset and real clips: 0.1 at most,
# under motion; a hand covering the lens: +160%).
FADE_MAX = 0.25
FADE_SIGNAL = 4.0  # levels above black below which the ratio is quantisation noise
FREEZE_EDGE_S = 0.1  # a cut this close to a freeze's start or end is that freeze's own edge

# --- zoom steps: a phone's zoom button (0.5x, 1x, 2x, 3x) or its switch to another lens
# (a macro lens as the phone nears the label) changes the picture's scale from one frame
# to the next within a continuous take. Local matching finds no scaled block nearby, so
# such a step was proved a "cut": devset clips with a step of x1.15 to x2 added failed, a
# false fail. A spike that would be reported is checked for one (``_zoom_step``): where
# a scale explains it, it is a ``zoom_step``, a review, never nothing: two takes of a
# parcel at rest filmed from different distances make the same step.
# Steps looked for: local matching follows less; 0.5x to 3x is 6x. At 160 px a step of x4
# leaves a crop of 40 px to match: it was measured as a zoom on 2 of 4 clips (a devset
# stand clip, a generated handheld one) and stays a cut on the real webcam clip and a
# 1080p stand render; x5 on a devset handheld clip was measured as x0.32 and stays a cut.
ZOOM_RANGE = (1.1, 6.0)
ZOOM_STEPS = 37  # scales tried on a log grid over ZOOM_RANGE, each way (about 5% apart)
# A scale is tried in full (the proofs in one view) only where it leaves at most this
# share of what translation alone leaves, both at one softness. Steps of x1.15-x4, in
# and out, some with a 3% offset and an exposure change, added to devset clips:
# 0.05-0.2, and 0.38 with a hand moving fast. Edits without a change of scale: 0.69 and
# more. Edits with one (a second take from closer, a segment removed and the camera
# moved in) measured 0.06-0.37: this share tells only that the scale changed; the
# proofs in one view tell a cut from a step, and a step is still a review.
ZOOM_BETTER = 0.4
ZOOM_SHIFT = 0.1  # share of the long side: a lens's offset and a hand's motion in a frame
ZOOM_NOISE = 0.25  # gray levels added to translation's residual: two flat frames explain nothing


def grid(shape: tuple[int, ...]) -> tuple[int, int]:
    """Blocks (across, down) for an image of ``shape``: near-square blocks either way up."""
    return GRID if shape[1] >= shape[0] else GRID[::-1]


def blocks(img: np.ndarray) -> np.ndarray:
    """Mean of ``img`` per grid block, one row per block (channels in columns)."""
    gx, gy = grid(img.shape)
    # Whole blocks from the top left, as ``local_residual`` lays them out (and an exact
    # ratio keeps OpenCV's area resampling on its fast path).
    h, w = img.shape[:2]
    img = img[: h - h % gy, : w - w % gx]
    return cv2.resize(img, (gx, gy), interpolation=cv2.INTER_AREA).reshape(gx * gy, -1)


def block_residual(prev: np.ndarray, cur: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Mean absolute residual per block after moving ``prev`` by (dx, dy)."""
    pred = compensate(prev, dx, dy) if dx or dy else prev
    # Remove a global brightness change (auto exposure) before differencing.
    shift = cv2.mean(cur)[0] - cv2.mean(pred)[0]
    r = cv2.absdiff(cur, cv2.add(pred, shift))
    h, w = r.shape
    m = int(min(max(abs(dx), abs(dy)) + 2, min(h, w) // 4))
    return blocks(r[m : h - m, m : w - m]).ravel()


def photometric_fit(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain and offset taking block means ``a`` to ``b`` (rows: blocks).

    A camera's exposure and white balance act on the whole picture as such a map (to
    first order); the blocks whose content changed are left out by one refit on the
    better-fitting half, so a parcel that moved does not bend the fit. Where the
    picture's unchanged part is too even to pin a gain (a plain table), a gain would
    only fit the changed part: the offset alone is kept unless the gain explains the
    typical block (the median error) clearly better. The gain stays within
    ``GAIN_RANGE``.
    """
    lo, hi = GAIN_RANGE
    x, y = a.astype(np.float64), b.astype(np.float64)
    keep = np.ones(x.shape, bool)
    for _ in range(2):
        n = keep.sum(axis=0)
        mx = (x * keep).sum(axis=0) / n
        my = (y * keep).sum(axis=0) / n
        var = (((x - mx) ** 2) * keep).sum(axis=0) / n
        cov = ((x - mx) * (y - my) * keep).sum(axis=0) / n
        g = np.clip(np.where(var > 1.0, cov / np.maximum(var, 1.0), 1.0), lo, hi)
        o = my - g * mx
        err = np.abs(g * x + o - y)
        keep = err <= np.median(err, axis=0)
    shift = np.median(y - x, axis=0)  # offset only
    plain = np.median(np.abs(x + shift - y), axis=0)
    fitted = np.median(np.abs(g * x + o - y), axis=0)
    use_gain = fitted < GAIN_GAIN * plain
    g, o = np.where(use_gain, g, 1.0), np.where(use_gain, o, shift)
    return g.astype(np.float32), o.astype(np.float32)


def local_residual(
    prev: np.ndarray, cur: np.ndarray, dx: float, dy: float, which: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-block RMS residual of ``cur`` against its best match in ``prev`` nearby, and
    how far (px) that match lies from where the global motion puts the block.

    Each block is searched for within ``SEARCH_PX`` of where the global motion
    (dx, dy) puts it, each candidate brought to the block's own mean first: a shadow
    or a lamp brightens a patch of the scene without changing what is there, a cut
    changes what is there. The residual at the best whole-pixel match is measured
    against the 3x3 min/max envelope of ``prev`` (Birchfield & Tomasi, 1998, "A
    pixel dissimilarity measure that is insensitive to image sampling"): a
    sub-pixel shift of a sharp edge (a barcode under handheld shake) then costs
    nothing, while content that is not there at all still does. A block that
    matches where it is almost as well as anywhere (flat, or still) has not moved:
    the zero-motion bias of video coders' block matching. Only the blocks ``which``
    marks are measured (all by default); the others are 0.
    """
    h, w = cur.shape
    r = SEARCH_PX
    pad = r + int(np.ceil(max(abs(dx), abs(dy))))
    ref = cv2.copyMakeBorder(prev, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    kernel = np.ones((3, 3), np.uint8)
    hi, lo = cv2.dilate(ref, kernel), cv2.erode(ref, kernel)
    gx, gy = grid(cur.shape)
    bw, bh = w // gx, h // gy
    n = bw * bh
    k = 2 * r + 1
    # Sum and sum of squares of every block-sized window of prev (top-left anchored), and
    # each block's own mean and sum of squared deviations, all at once.
    win = (bw, bh)
    s1 = cv2.boxFilter(ref, cv2.CV_64F, win, anchor=(0, 0), normalize=False)
    s2 = cv2.boxFilter(ref * ref, cv2.CV_64F, win, anchor=(0, 0), normalize=False)
    mean_b = blocks(cur).ravel()
    ss_b = n * np.maximum(blocks(cur * cur).ravel() - mean_b**2, 0.0)
    out = np.zeros(gx * gy, np.float32)
    moved = np.zeros(gx * gy, np.float32)
    todo = np.ones(gx * gy, bool) if which is None else which
    for idx in np.flatnonzero(todo):
        j, i = divmod(int(idx), gx)
        x0, y0 = i * bw, j * bh
        block = cur[y0 : y0 + bh, x0 : x0 + bw]
        # the block came from (x0 - dx, y0 - dy) in prev under the global motion
        sx = round(x0 - dx) + pad - r
        sy = round(y0 - dy) + pad - r
        area = ref[sy : sy + bh + 2 * r, sx : sx + bw + 2 * r]
        # Sum of squared differences once both sides lose their own mean:
        # SS(block) + SS(window) - 2 cross-covariance, per position.
        cc = cv2.matchTemplate(area, block, cv2.TM_CCOEFF)
        w1 = s1[sy : sy + k, sx : sx + k]
        ss = s2[sy : sy + k, sx : sx + k] - w1 * w1 / n + ss_b[idx] - 2.0 * cc
        best_i = int(np.argmin(ss))
        my, mx = divmod(best_i, k)
        if ss[r, r] > ZERO_BIAS * ss.flat[best_i] + n:  # else: as good where it is
            moved[idx] = float(np.hypot(mx - r, my - r))
        ys, xs = sy + my, sx + mx
        shifted = block + (float(w1[my, mx]) / n - mean_b[idx])  # to the window's mean
        d = cv2.max(
            cv2.subtract(shifted, hi[ys : ys + bh, xs : xs + bw]),
            cv2.subtract(lo[ys : ys + bh, xs : xs + bw], shifted),
        )
        d = cv2.max(d, 0.0)
        out[idx] = np.sqrt(cv2.sumElems(cv2.multiply(d, d))[0] / n)
    return out, moved


def spike_ratios(
    now: np.ndarray,
    before: list[np.ndarray],
    after: list[np.ndarray],
    floor: float = COARSE_MIN,
    noise: float = NOISE_FLOOR,
) -> np.ndarray:
    """Per-block ratio of ``now`` over its neighbours (0 under ``floor``).

    ``before`` and ``after`` are the pairs on each side, nearest first. The reference
    is the larger of the two nearest pairs and of the second largest of all: a turn
    changes several pairs in a row and stays under it, while one other spike two
    pairs away (a take of two frames spliced in has two) does not hide this one.
    """
    near = [side[0] for side in (before, after) if side]
    ref = np.max(near, axis=0) if near else np.zeros_like(now)
    every = before + after
    if len(every) >= 3:
        ref = np.maximum(ref, np.sort(np.stack(every), axis=0)[-2])
    return np.where(now >= floor, now / (ref + noise), 0.0)


def region_strength(ratio: np.ndarray, now: np.ndarray, floor: float) -> float:
    """How strongly the region that changed (blocks of ``now`` at or over ``floor``) spikes.

    The median of the per-block ``ratio`` over that region, each block weighted by its
    change, so the parcel's own blocks decide whether the parcel fills 3% of the
    frame or all of it; 0 when fewer than ``MIN_REGION`` blocks changed.
    """
    region = now >= floor
    if int(np.count_nonzero(region)) < MIN_REGION:
        return 0.0
    r, w = ratio[region], now[region]
    order = np.argsort(r)
    cum = np.cumsum(w[order])
    return float(r[order][np.searchsorted(cum, 0.5 * cum[-1])])


def hsv_content(a: np.ndarray, b: np.ndarray) -> float:
    """PySceneDetect's content value: mean absolute difference of H, S and V, averaged."""
    return sum(cv2.mean(cv2.absdiff(a, b))[:3]) / 3.0


def _softening(k: float) -> float:
    """Gaussian sigma (px at 160 px) that softens a frame as much as magnifying by ``k``
    softens another (about 0.6 px, the image's own resolution, grown ``k`` times)."""
    return 0.6 * float(np.sqrt(max(k * k - 1.0, 0.0)))


def _zoom_view(prev: np.ndarray, cur: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The two frames in the narrower one's view: the wider one magnified by ``scale``
    (``cur`` over ``prev``: above 1 the camera zoomed in) about the centre, the narrower
    one softened as much (``_softening``). Colour frames work too."""
    wide, narrow, k = (prev, cur, scale) if scale > 1 else (cur, prev, 1 / scale)
    h, w = narrow.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0, k)
    big = cv2.warpAffine(
        wide.astype(np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    sharp = cv2.GaussianBlur(narrow.astype(np.float32), (0, 0), _softening(k))
    return (big, sharp) if scale > 1 else (sharp, big)


def _view_residual(
    a: np.ndarray, b: np.ndarray, motion: MotionEstimator, *, zoomed: bool = True
) -> float:
    """Mean absolute difference of ``b`` and ``a`` moved by their translation, brightness
    matched, inside a margin of the shift and a tenth of the frame; for a ``zoomed``
    view, ``inf`` where the shift is more than a lens's offset could give (``ZOOM_SHIFT``)."""
    dx, dy, _ = motion.shift(a, b)
    h, w = b.shape
    if zoomed and max(abs(dx), abs(dy)) > ZOOM_SHIFT * max(h, w):
        return float("inf")
    pred = compensate(a, dx, dy)
    m = int(min(max(abs(dx), abs(dy)) + 2 + 0.1 * min(h, w), min(h, w) // 4))
    pred, b = pred[m : h - m, m : w - m], b[m : h - m, m : w - m]
    return float(cv2.mean(cv2.absdiff(b, cv2.add(pred, float(np.mean(b) - np.mean(pred)))))[0])


def zoom_step(prev: np.ndarray, cur: np.ndarray, motion: MotionEstimator) -> float:
    """The scale step (``cur`` over ``prev``, gray at 160 px) that explains the pair
    clearly better than translation alone (``ZOOM_BETTER``), else 1.0."""
    k, share = best_zoom(prev, cur, motion)
    return k if share <= ZOOM_BETTER else 1.0


def best_zoom(prev: np.ndarray, cur: np.ndarray, motion: MotionEstimator) -> tuple[float, float]:
    """(scale, share): the scale step that best explains the pair, and the share of the
    residual translation alone leaves that it leaves.

    Each scale is weighed against translation alone at the same softness: magnifying
    softens a picture, and two soft pictures differ less whatever they show."""
    lo, hi = np.log(ZOOM_RANGE[0]), np.log(ZOOM_RANGE[1])
    ks = np.exp(np.linspace(lo, hi, ZOOM_STEPS))
    step = (hi - lo) / (ZOOM_STEPS - 1) / 2
    plain: dict[float, float] = {}

    def share(k: float) -> float:
        s = _softening(max(k, 1 / k))
        if s not in plain:
            soft = [cv2.GaussianBlur(f, (0, 0), s) for f in (prev, cur)]
            plain[s] = _view_residual(soft[0], soft[1], motion, zoomed=False)
        return _view_residual(*_zoom_view(prev, cur, k), motion) / (plain[s] + ZOOM_NOISE)

    shares = {float(k): share(float(k)) for k in (*ks, *(1 / ks))}
    best = min(shares, key=shares.__getitem__)
    for k in (best * np.exp(-step), best * np.exp(step)):  # halfway to each neighbour
        shares[float(k)] = share(float(k))
    best = min(shares, key=shares.__getitem__)
    return best, shares[best]


@dataclass(slots=True)
class _Pair:
    """Two consecutive small frames and their globally compensated block residual."""

    t_s: float
    keyframe: bool
    prev: np.ndarray
    cur: np.ndarray
    dx: float
    dy: float
    residual: np.ndarray
    content: float
    prev_colour: np.ndarray
    cur_colour: np.ndarray
    evaluated: bool = False
    step_s: float | None = None  # time from the previous frame to this one
    _local: np.ndarray | None = None  # per block, computed once (as a pair or a neighbour)
    _moved: np.ndarray | None = None
    _done: np.ndarray | None = None  # blocks of _local and _moved measured so far
    _prev_lit: np.ndarray | None = None  # prev under cur's exposure, smoothed
    _cur_soft: np.ndarray | None = None  # cur, smoothed
    _lit_residual: np.ndarray | None = None
    _colour: np.ndarray | None = None

    def local(self, which: np.ndarray | None = None) -> np.ndarray:
        """Per block, the local matching residual (of the blocks ``which`` marks, the
        others 0 unless measured before; all by default)."""
        n = self.residual.size
        if self._local is None or self._moved is None or self._done is None:
            self._local, self._moved = np.zeros(n, np.float32), np.zeros(n, np.float32)
            self._done = np.zeros(n, bool)
        todo = ~self._done if which is None else which & ~self._done
        if not todo.any():
            return self._local
        prev, cur = self.softened()
        # Both directions: content a turn reveals has no match in the frame before,
        # content it hides none in the frame after; a cut has neither.
        fwd, fwd_moved = local_residual(prev, cur, self.dx, self.dy, todo)
        bwd, bwd_moved = local_residual(cur, prev, -self.dx, -self.dy, todo)
        self._local[todo] = np.minimum(fwd, bwd)[todo]
        self._moved[todo] = np.where(fwd <= bwd, fwd_moved, bwd_moved)[todo]
        self._done |= todo
        return self._local

    def softened(self) -> tuple[np.ndarray, np.ndarray]:
        """The two frames as local matching compares them: ``prev`` under ``cur``'s
        exposure, both smoothed by ``SOFTEN_PX``."""
        if self._prev_lit is None or self._cur_soft is None:
            pred = compensate(self.prev, self.dx, self.dy)
            m = int(min(max(abs(self.dx), abs(self.dy)) + 2, min(self.cur.shape) // 4))
            inner = (slice(m, -m), slice(m, -m))
            (g,), (o,) = photometric_fit(blocks(pred[inner]), blocks(self.cur[inner]))
            self._prev_lit = cv2.GaussianBlur(self.prev * g + o, (0, 0), SOFTEN_PX)
            self._cur_soft = cv2.GaussianBlur(self.cur, (0, 0), SOFTEN_PX)
        return self._prev_lit, self._cur_soft

    def lit_residual(self) -> np.ndarray:
        """``block_residual`` of the softened frames, exposure fitted (gain and offset)."""
        if self._lit_residual is None:
            prev, cur = self.softened()
            pred = compensate(prev, self.dx, self.dy)
            h, w = cur.shape
            m = int(min(max(abs(self.dx), abs(self.dy)) + 2, min(h, w) // 4))
            r = cv2.absdiff(cur, pred)[m : h - m, m : w - m]
            self._lit_residual = blocks(r).ravel()
        return self._lit_residual

    def contrasts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-block standard deviation of gray in the frame before and the frame after
        (as local matching sees them)."""

        def std(img: np.ndarray) -> np.ndarray:
            return np.sqrt(np.maximum(blocks(img * img) - blocks(img) ** 2, 0.0)).ravel()

        return tuple(std(img) for img in self.softened())  # type: ignore[return-value]

    def moved(self, which: np.ndarray | None = None) -> np.ndarray:
        """Per block, px between its best local match and the global motion's guess."""
        self.local(which)
        assert self._moved is not None
        return self._moved

    def colour(self) -> np.ndarray:
        """Per-block colour change (largest channel) after motion and a photometric fit."""
        if self._colour is None:
            scale = self.cur_colour.shape[1] / self.cur.shape[1]
            dx, dy = self.dx * scale, self.dy * scale
            pred = compensate(self.prev_colour.astype(np.float32), dx, dy)
            cur = self.cur_colour.astype(np.float32)
            h, w = cur.shape[:2]
            m = int(min(max(abs(dx), abs(dy)) + 1, min(h, w) // 4))
            a, b = blocks(pred[m : h - m, m : w - m]), blocks(cur[m : h - m, m : w - m])
            g, o = photometric_fit(a, b)
            self._colour = np.abs(a * g + o - b).max(axis=1)
        return self._colour


_Span = tuple[float, int, int]  # a transition candidate: priority, last frame, frames


@dataclass(slots=True)
class _Kept:
    """One frame of the recent past, for the transition tests (references, no copies)."""

    t_s: float
    gray: np.ndarray  # 160 px, float32
    colour: np.ndarray  # 160 px BGR, uint8
    signature: np.ndarray  # block-mean colour, one row per block
    luma: float


def tiny(k: _Kept) -> np.ndarray:
    """The frame at 40 px: a dissolve keeps both pictures' motion, small shifts vanish here."""
    return cv2.resize(k.colour, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA).astype(
        np.float32
    )


def blend_weights(
    run: list[_Kept], image: Callable[[_Kept], np.ndarray] = tiny
) -> tuple[np.ndarray, np.ndarray]:
    """Per inner frame of ``run``: the weight ``w`` of ``f ~ (1 - w) a + w b`` (a, b the
    run's ends, as ``image`` gives them) and the share of ``|b - a|^2`` that blend
    leaves unexplained."""
    return line_fit(np.stack([image(k).ravel() for k in run]))


def line_fit(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``blend_weights`` of frames given as the rows of one array (first and last: ends)."""
    a = rows[0]
    d = rows[-1] - a
    dd = float(d @ d) or 1.0
    x = rows[1:-1] - a  # one row per inner frame
    ws = x @ d / dd
    r = x - np.outer(ws, d)
    return ws, np.einsum("ij,ij->i", r, r) / dd


def structure_kept(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    """Median over ``region`` of the best normalised correlation of each block of ``b``
    within ``SEARCH_PX`` of its place in ``a`` (gray, 160 px).

    Normalised correlation ignores a block's own gain and offset: a lamp or a shadow
    keeps the structure (near 1), other content does not. Blocks with almost no
    texture in either frame say nothing and are left out (``nan`` if none is left).
    """
    h, w = b.shape
    r = SEARCH_PX
    ref = cv2.copyMakeBorder(a, r, r, r, r, cv2.BORDER_REPLICATE)
    gx, gy = grid(b.shape)
    bw, bh = w // gx, h // gy
    out = []
    for idx in np.flatnonzero(region):
        j, i = divmod(int(idx), gx)
        x0, y0 = i * bw, j * bh
        block = b[y0 : y0 + bh, x0 : x0 + bw]
        area = ref[y0 : y0 + bh + 2 * r, x0 : x0 + bw + 2 * r]
        if (
            float(block.std()) < TEXTURE_MIN
            or float(a[y0 : y0 + bh, x0 : x0 + bw].std()) < TEXTURE_MIN
        ):
            continue
        out.append(float(cv2.matchTemplate(area, block, cv2.TM_CCOEFF_NORMED).max()))
    return float(np.median(out)) if out else float("nan")


def mixing_not_moving(
    a: np.ndarray, m: np.ndarray, b: np.ndarray, region: np.ndarray
) -> tuple[float, float, float]:
    """For a frame ``m`` between ``a`` and ``b`` (gray, 160 px): the per-block residual of
    the best blend ``(1 - w) a + w b``, of the best nearby match in either end alone
    (block matching within ``SEARCH_PX``) and the change from ``a`` to ``b`` (RMS),
    each the median over ``region``.

    The blend may shift by up to ``BLEND_SHIFT_PX`` per block (in whole steps of 2 px)
    and is measured against its 5x5 envelope, since each side of a dissolve runs on
    (moves) under the mix. A dissolve's frame holds both pictures at once, so mixing
    explains it and moving either picture does not; a pan, a turn or a zoom is the
    other way round.
    """
    d = (b - a).ravel()
    w = float(np.clip(float((m - a).ravel() @ d) / (float(d @ d) or 1.0), 0.0, 1.0))
    blend = (1 - w) * a + w * b
    kernel = np.ones((5, 5), np.uint8)
    sh = BLEND_SHIFT_PX
    hi = cv2.copyMakeBorder(cv2.dilate(blend, kernel), sh, sh, sh, sh, cv2.BORDER_REPLICATE)
    lo = cv2.copyMakeBorder(cv2.erode(blend, kernel), sh, sh, sh, sh, cv2.BORDER_REPLICATE)
    rows, cols = m.shape
    mixed = np.full(region.size, np.inf, np.float32)
    for dy in range(0, 2 * sh + 1, 2):
        for dx in range(0, 2 * sh + 1, 2):
            win = (slice(dy, dy + rows), slice(dx, dx + cols))
            r = cv2.max(cv2.max(cv2.subtract(m, hi[win]), cv2.subtract(lo[win], m)), 0.0)
            mixed = np.minimum(mixed, np.sqrt(blocks(cv2.multiply(r, r)).ravel()))
    ga, oa = photometric_fit(blocks(a), blocks(m))
    gb, ob = photometric_fit(blocks(b), blocks(m))
    from_a, _ = local_residual(a * ga[0] + oa[0], m, 0.0, 0.0, region)
    from_b, _ = local_residual(b * gb[0] + ob[0], m, 0.0, 0.0, region)
    moved = np.minimum(from_a, from_b)
    change = np.sqrt(blocks((b - a) ** 2).ravel())
    return (
        float(np.median(mixed[region])),
        float(np.median(moved[region])),
        float(np.median(change[region])),
    )


def dissolve_proof(run: list[_Kept]) -> tuple[bool, dict]:
    """Whether ``run`` (the frame before a transition .. the frame after) is a dissolve.

    Three conditions, each something motion, light and focus do not make together:
    the inner frames are linear blends of the ends with a weight rising through one
    half (the linear model of dissolves, Alattar, 1993), first on block means, then at
    40 px; the middle of the mix is explained by mixing far better than by moving
    either end; and the ends differ in structure, not only in light.
    """
    # First on the block means at hand (free): most candidates are motion and end here.
    ws, rest = blend_weights(run, lambda k: k.signature)
    core = (ws > 0.15) & (ws < 0.85)
    if not core.any() or float(np.mean(rest[core])) > LINEAR_MAX:
        return False, {}
    ws, rest = blend_weights(run)
    core = (ws > 0.15) & (ws < 0.85)
    if not core.any():
        return False, {}
    rising = bool(np.all(np.diff(ws) > -0.15)) and ws[0] < 0.5 < ws[-1]
    unexplained = float(np.mean(rest[core]))
    info: dict[str, float | None] = {"unexplained": round(unexplained, 3)}
    if not rising or unexplained > LINEAR_MAX:
        return False, info
    a, b = run[0], run[-1]
    region = np.abs(blocks(b.gray) - blocks(a.gray)).ravel() >= COARSE_MIN
    if int(np.count_nonzero(region)) < MIN_REGION:
        return False, info
    # The ends nearest the mix (a window may reach past the transition): less motion.
    first = max([i for i, w in enumerate(ws) if w <= 0.05], default=-1) + 1
    last = min([i for i, w in enumerate(ws) if w >= 0.95], default=len(ws)) + 1
    mid = 1 + int(np.argmin(np.abs(ws - 0.5)))
    mixed, moved, change = mixing_not_moving(run[first].gray, run[mid].gray, run[last].gray, region)
    info.update(
        mix_residual=round(mixed, 2), move_residual=round(moved, 2), change=round(change, 2)
    )
    if moved < MIX_GAIN * (mixed + MIX_NOISE) or mixed > MIX_SHARE * change:
        return False, info
    kept = structure_kept(a.gray, b.gray, region)
    info["structure_kept"] = round(kept, 2) if kept == kept else None
    return bool(not kept >= STRUCTURE_SAME), info


def contrast_drift(run: list[_Kept], black: float) -> float:
    """How far the contrast-to-brightness ratio of ``run`` drifts from its first frame's.

    A fade scales the picture by a gain towards black: its standard deviation and its
    brightness above black shrink together, so their ratio stays (whatever moves in the
    picture). A hand over the lens, a light going out (noise stays) or a pan onto
    something dark change it. Frames within a few levels of black are left out.
    """
    ratios = [float(k.gray.std()) / (k.luma - black) for k in run if k.luma - black >= FADE_SIGNAL]
    if len(ratios) < 2 or ratios[0] <= 0:
        return float("inf")
    return max(abs(r / ratios[0] - 1.0) for r in ratios)


@dataclass(frozen=True, slots=True)
class CutMetrics(Metrics):
    """The report's ``motion``: the per-second ``motion_profile`` and its median."""

    max_score: float
    candidates_verified: int
    transitions_verified: int
    median_motion_px: float | None
    motion_profile: list[dict[str, Any]]


def _key_grid(media: Any) -> tuple[float, list[float]] | None:
    """(frame step, the key frames off the grid) of a stream with a regular GOP, else
    None (``timeline.keyframes_off_grid``: the grid is the median key-frame distance)."""
    timeline = getattr(media, "timeline", None)
    video = getattr(timeline, "video", None)
    if timeline is None or video is None or video.key_s.size < 3 or video.pts_s.size < 3:
        return None
    step_s = float(np.median(np.diff(video.pts_s)))
    frames = np.diff(np.searchsorted(video.pts_s, video.key_s))
    if float(np.median(frames)) < 2:
        return None  # all-intra or nearly: no grid
    return step_s, list(timeline.keyframe_off_grid)


@register
class CutDetector(Detector):
    """Finds cuts (a second take, a removed segment, a transition) and profiles camera motion."""

    name = "cuts"
    uses = ("freeze",)
    event_kinds = (
        EventKind(
            "cut",
            "Cut",
            "剪辑点",
            "a splice or removed segment (motion-compensated per-block temporal spike)",
            reason=KindReason(
                "cut_detected",
                "fail",
                "The picture changes abruptly in a way camera motion does not explain (a splice "
                "or a removed segment) at {times}.",
                "在 {times} 画面突变且无法由镜头运动解释（拼接或删减片段）。",
            ),
            caption="cut",
            rank=10,
            abrupt=True,
        ),
        EventKind(
            "possible_cut",
            "Possible cut (fast motion)",
            "疑似剪辑（快速动作）",
            "the same spike while the parcel was moving fast around it: a cut on action, or "
            "only a very fast turn (completeness `review`)",
            reason=KindReason(
                "cut_in_motion",
                "review",
                "At {times} the picture changes abruptly while the parcel is turned fast: a cut "
                "hidden in the motion, or just a very fast turn. Watch that moment; turn the "
                "parcel more slowly when recording.",
                "在 {times} 包裹快速翻转时画面突变：可能是藏在动作中的剪辑，也可能只是翻转过快。"
                "请人工查看该时刻；录制时请放慢翻转速度。",
            ),
            caption="possible_cut",
            rank=11,
            abrupt=True,
        ),
        EventKind(
            "zoom_step",
            "Zoom step",
            "画面缩放跳变",
            "the same spike, explained by the picture's scale changing from one frame to the "
            "next (`scale` in details): a zoom button or another lens, or two takes filmed "
            "from different distances (completeness `review`)",
            reason=KindReason(
                "zoom_step",
                "review",
                "At {times} the picture's scale jumps from one frame to the next: the phone's "
                "zoom button or its switch to another lens does this within one take, and so "
                "does a join of two takes filmed from different distances. Watch that moment; "
                "zoom by moving the phone, not with the zoom buttons, when recording.",
                "在 {times} 画面比例在相邻两帧间突变：拍摄中按下变焦按钮或手机切换镜头会这样，"
                "两段在不同距离拍摄的录像拼接也会这样。请人工查看该时刻；录制时请移动手机来"
                "拉近拉远，不要使用变焦按钮。",
            ),
            caption="zoom step",
            rank=12,
            abrupt=True,
        ),
    )

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.threshold = policy.completeness.cut_score
        # The stream's regular key frames: a codec's refresh, not an editor's join. None
        # when the stream has no regular grid (too few key frames, all-intra).
        self.grid: tuple[float, list[float]] | None = _key_grid(media)
        self.motion = MotionEstimator()
        self.prev: np.ndarray | None = None
        self.prev_colour: np.ndarray | None = None
        self.prev_hsv: np.ndarray | None = None
        self.steps = FrameSteps()  # dropped frames (``validator.detectors.steps``)
        self.pairs: deque[_Pair] = deque(maxlen=2 * WINDOW + 1)
        self.kept: deque[_Kept] = deque(maxlen=max(LAGS) + SETTLE + 3)
        self.chord_history = np.zeros((CHORD_HISTORY, len(LAGS)), np.float32)
        self.chords_seen = 0
        self.step_sizes: deque[float] = deque(maxlen=max(LAGS))
        self.pending: _Span | None = None
        self.settle = 0
        self.pending_long: _Span | None = None
        self.settle_long = 0
        self.frame_no = -1  # number of the frame being processed
        self.fade: dict = {}
        self.usual: np.ndarray | None = None
        self.signatures: np.ndarray | None = None  # ring of the last frames' signatures
        self.candidates: list[Event] = []
        self.verified = 0
        self.transitions_verified = 0
        self.max_score = 0.0
        self._sec: int | None = None
        self._sec_motion: list[float] = []
        self.motion_profile: list[dict] = []

    # --- hard cuts ---------------------------------------------------------------------

    def _evaluate(self, now: _Pair, before: list[_Pair], after: list[_Pair]) -> None:
        """Judge one pair; ``before`` and ``after`` are its neighbours, nearest first."""
        now.evaluated = True
        around = before + after
        mean_around = sum(p.content for p in around) / len(around) if around else 0.0
        adaptive = now.content / (mean_around + 1e-3)
        peer_like = now.content >= CONTENT_MIN and adaptive >= CONTENT_RATIO
        least = CANDIDATE_SCORE * self.threshold * RATIO_AT_SCORE_1
        if not peer_like and not self._coarse_spike(now, before, after, least):
            return
        self.verified += 1
        local, unexplained, scene, region, local_now = self._proofs(now, before, after)
        jump = self._jump(now, around, adaptive)
        score = max(local, scene, jump) / RATIO_AT_SCORE_1
        self.max_score = max(self.max_score, score)
        if score < self.threshold:
            # No proof, but the frame changed as the peer's cuts do (its content
            # against its neighbours') and the camera's motion does not explain it (the
            # residual after it spikes over the region that changed, as a candidate's
            # does): things moving in the picture might, so a person should look.
            spread = self._spread(now, before, after)  # an exposure step is no such change
            if now.content < PEER_CONTENT or adaptive < PEER_RATIO or spread < least:
                return
            if self._on_grid(now):
                # The frame is an I-frame of the regular GOP: the codec refreshed the
                # whole picture there (noise and texture re-coded at once), which makes
                # this change without an edit. Measured on generated clips with sensor
                # noise at CRF 28: content ratio 16.8, residual 2.6 at a grid key frame.
                return
            score = spread / RATIO_AT_SCORE_1 / CANDIDATE_SCORE
            if self._zoom_step(now, before, after, least, score):
                return
            self._add(
                Event(
                    kind="possible_cut",
                    t_s=now.t_s,
                    score=score,
                    detector=self.name,
                    details={
                        "content_ratio": round(adaptive, 2),
                        "residual_ratio": round(spread, 2),
                        "local_ratio": round(local, 2),
                        "keyframe": now.keyframe,
                    },
                )
            )
            return
        moving = 0.0
        if around and np.any(region):
            moving = float(np.median(np.max([p.moved(region)[region] for p in around], axis=0)))
        # A new scene's colours or a jump of the whole picture are a cut however things
        # moved; a local spike amid fast motion may be a flicked turn as much as a cut.
        sure = max(scene, jump) / RATIO_AT_SCORE_1 >= SCENE_SURE * self.threshold
        # Across a few dropped frames (``validator.detectors.steps``) the picture moved on
        # over several frame times of which nothing is known: local matching proves
        # nothing there (as amid fast motion: at most a possible cut, a person looks).
        # Amid motion the frame's content change is judged per frame time (steady motion
        # changes k steps about k times as much); a region that stood still keeps its
        # whole change (a splice of two still takes with a hole at the join: a review).
        missing = self.steps.spanned(now.step_s)
        per_frame = missing if moving >= HOLE_MOVING else 1.0
        unsure = (moving >= MOVING_AROUND or missing > 1.0) and not sure
        # On the clip's last frame no frame after it shows the new picture held, nor the
        # change ending: a light that flickers, a camera that starts to move or a phone's
        # last frame as it stops all look the same there (the real webcam clip under
        # mains flicker scored 1.13 on its last frame, benchmarks/bench_transcodes.py).
        unsure = unsure or not after
        if unsure and (adaptive / per_frame < PEER_RATIO or self._on_grid(now)):
            # Amid fast motion, and the frame as a whole did not change as the peer's
            # cuts do (a hand sweeping past the lens, a flick, a pan that stops), or the
            # frame is a regular I-frame (the refresh of a fast-changing picture):
            # nothing to show.
            return
        if self._zoom_step(now, before, after, least, score):
            return
        self._add(
            Event(
                kind="possible_cut" if unsure else "cut",
                t_s=now.t_s,
                score=score,
                detector=self.name,
                details={
                    "local_ratio": round(local, 2),
                    "unexplained": round(unexplained, 2),
                    "scene_ratio": round(scene, 2),
                    "jump_ratio": round(jump, 2),
                    "blocks_changed": int(np.count_nonzero(region)),
                    "blocks_total": int(local_now.size),
                    "moving_around_px": round(moving, 1),
                    # An I-frame off the regular grid often marks where an editor joined takes.
                    "keyframe": now.keyframe,
                },
            )
        )

    @staticmethod
    def _proofs(
        now: _Pair, before: list[_Pair], after: list[_Pair]
    ) -> tuple[float, float, float, np.ndarray, np.ndarray]:
        """Stage 2's local and scene proofs of ``now``: (local spike ratio, unexplained
        share, scene ratio, the region that changed, each block's local residual)."""

        def each(value: Callable[[_Pair], np.ndarray]) -> tuple[list, list]:
            return [value(p) for p in before], [value(p) for p in after]

        # Blocks with structure on both sides only: a cut shows one scene's texture
        # where another's was, while a hand or a cover close to the lens is a blur
        # without any (it goes or comes in one frame when it moves fast).
        before_std, after_std = now.contrasts()
        textured = np.minimum(before_std, after_std) >= TEXTURE_MIN
        # Local matching only where the global residual shows a change at all: what
        # the camera's motion explains, nearby blocks explain too (saves the search).
        changed = textured & (now.residual >= 0.5 * LOCAL_MIN)
        local_now = np.where(changed, now.local(changed), 0.0)
        region = local_now >= LOCAL_MIN
        # A cut replaces a block's content, leaving a good share of its contrast
        # unexplained; blur, aliasing and light leave a small share of it. Only then
        # are the neighbours searched too (the costly part).
        contrast = np.maximum(before_std, after_std)
        unexplained = region_strength(local_now / (contrast + 1.0), local_now, LOCAL_MIN)
        local = 0.0
        if unexplained >= UNEXPLAINED_MIN:
            ratios = spike_ratios(local_now, *each(lambda p: p.local(region)), floor=LOCAL_MIN)
            local = region_strength(ratios, local_now, LOCAL_MIN)
        scene = float(np.median(spike_ratios(now.colour(), *each(_Pair.colour), floor=COLOUR_MIN)))
        return local, unexplained, scene, region, local_now

    @staticmethod
    def _spread(now: _Pair, before: list[_Pair], after: list[_Pair]) -> float:
        """How strongly the exposure-fitted residual spikes over the region that changed."""
        lit = now.lit_residual()
        around = [p.lit_residual() for p in before], [p.lit_residual() for p in after]
        return region_strength(spike_ratios(lit, *around), lit, COARSE_MIN)

    def _zoom_step(
        self, now: _Pair, before: list[_Pair], after: list[_Pair], least: float, score: float
    ) -> bool:
        """Whether a change of scale (``zoom_step``) explains the spike at ``now``, and if
        so, report it as a ``zoom_step`` (a review) instead of a cut.

        Explained: with the two frames brought to one view, no content proof is left
        (local, scene) and the residual no longer spikes over the region that changed.
        The jump proof is not asked: a lens's offset moves the whole picture as a jump
        does. Such a step is not proof of an edit, but it is no proof of one take either:
        two takes of a parcel at rest filmed from different distances look the same, so
        a person looks (never nothing)."""
        k = zoom_step(now.prev, now.cur, self.motion)
        if k == 1.0:
            return False
        prev, cur = _zoom_view(now.prev, now.cur, k)
        prev_colour, cur_colour = _zoom_view(now.prev_colour, now.cur_colour, k)
        dx, dy, _ = self.motion.shift(prev, cur)
        view = _Pair(
            now.t_s,
            now.keyframe,
            prev,
            cur,
            dx,
            dy,
            block_residual(prev, cur, dx, dy),
            now.content,
            prev_colour,
            cur_colour,
            step_s=now.step_s,
        )
        local, _, scene, _, _ = self._proofs(view, before, after)
        if max(local, scene) / RATIO_AT_SCORE_1 >= self.threshold:
            return False
        if self._spread(view, before, after) >= least:
            return False
        self._add(
            Event(
                kind="zoom_step",
                t_s=now.t_s,
                score=score,
                detector=self.name,
                details={"scale": round(k, 2), "keyframe": now.keyframe},
            )
        )
        return True

    def _on_grid(self, now: _Pair) -> bool:
        """Whether ``now`` is a key frame on the stream's regular GOP grid."""
        if not now.keyframe or self.grid is None:
            return False
        step_s, off_grid = self.grid
        return not any(abs(now.t_s - t) <= step_s for t in off_grid)

    @staticmethod
    def _coarse_spike(now: _Pair, before: list[_Pair], after: list[_Pair], least: float) -> bool:
        """Whether ``now`` spikes on the global residual: the region that changed by
        ``least``, or a few of its blocks (``MIN_REGION``) by a cut's own ratio (a small
        parcel jumping while the camera's shake changes the whole table a little).
        Most pairs are settled by cheap bounds first: too few blocks changed, or not
        even the nearest neighbours alone leave such a spike."""
        res = now.residual
        if int(np.count_nonzero(res >= COARSE_MIN)) < MIN_REGION:
            return False

        def spiking(ratio: np.ndarray) -> bool:
            few = float(np.partition(ratio, -MIN_REGION)[-MIN_REGION])
            return few >= RATIO_AT_SCORE_1 or region_strength(ratio, res, COARSE_MIN) >= least

        near = [side[0].residual for side in (before, after) if side]
        if near:
            bound = np.where(res >= COARSE_MIN, res / (np.maximum.reduce(near) + NOISE_FLOOR), 0)
            if not spiking(bound):
                return False
        return spiking(spike_ratios(res, [p.residual for p in before], [p.residual for p in after]))

    @staticmethod
    def _jump(now: _Pair, around: list[_Pair], light: float) -> float:
        """The spike ratio of a jump of the whole picture with a change of light, else 0."""
        if len(around) < 2 or light < JUMP_LIGHT_RATIO:
            return 0.0
        ref = np.mean([(p.dx, p.dy) for p in around], axis=0)
        step = float(np.hypot(now.dx - ref[0], now.dy - ref[1]))
        spread = max(float(np.hypot(p.dx - ref[0], p.dy - ref[1])) for p in around)
        ratio = step / (spread + 0.25)  # 0.25 px: phase correlation's own jitter
        return ratio if step >= JUMP_PX and ratio >= JUMP_RATIO else 0.0

    def _add(self, ev: Event) -> None:
        """Keep ``ev``, or merge it with the event found less than ``MERGE_S`` before: the
        stronger one stands, a transition's account before a spike inside it."""
        if self.candidates and abs(ev.t_s - self.candidates[-1].t_s) < MERGE_S:
            last = self.candidates[-1]
            rank = ("transition" in ev.details, ev.score or 0)
            if rank > ("transition" in last.details, last.score or 0):
                self.candidates[-1] = ev
            if "cut" in (last.kind, ev.kind):  # one cut among them: never only "possible"
                self.candidates[-1] = dataclasses.replace(self.candidates[-1], kind="cut")
            return
        self.candidates.append(ev)

    # --- gradual transitions -----------------------------------------------------------

    def _step(self, kept: _Kept) -> None:
        """Per frame: twin comparison over several spans, and the fade's state machine."""
        self.frame_no += 1
        self.kept.append(kept)
        if self.signatures is None:
            self.signatures = np.zeros((max(LAGS) + 1, kept.signature.size), np.float32)
        self.signatures[self.frame_no % len(self.signatures)] = kept.signature.ravel()
        self._fade_step(kept)
        n = len(self.kept)
        if n > 1:
            self.step_sizes.append(self._last_step())
        if self.pending is not None:
            self.settle += 1
            _, end_no, lag = self.pending
            leaving = self.frame_no - (end_no - lag) >= len(self.kept) - 1
            if self.settle > SETTLE or leaving:
                self._transition(*self.pending)
                self.pending = None
        if self.pending_long is not None:
            self.settle_long += 1
            _, end_no, lag = self.pending_long
            leaving = self.frame_no - (end_no - lag) >= len(self.kept) - 1
            if self.settle_long > LONG_EVERY + SETTLE or leaving:
                self._transition(*self.pending_long)
                self.pending_long = None
        if self.frame_no < max(LAGS):
            return  # every span needs its frames (the first second is context only)
        past = self.signatures[(self.frame_no - np.array(LAGS)) % len(self.signatures)]
        chords = np.abs(past - self.signatures[self.frame_no % len(self.signatures)]).mean(axis=1)
        if self.chords_seen >= 10:
            if self.usual is None or self.frame_no % USUAL_EVERY == 0:
                # the ring holds the last CHORD_HISTORY frames once it is full
                self.usual = np.median(self.chord_history[: self.chords_seen], axis=0)
            usual = self.usual
            ratio = np.where(chords >= CHORD_MIN, chords / (usual + CHORD_NOISE), 0.0)
            i = int(np.argmax(ratio))
            lag = LAGS[i]
            if (
                ratio[i] >= CHORD_RATIO
                and max(list(self.step_sizes)[-lag:]) < CUT_SHARE * chords[i]
            ):
                self.pending = self._candidate(self.pending, (float(ratio[i]), self.frame_no, lag))
                self.settle = 0 if self.pending[1] == self.frame_no else self.settle
        self.chord_history[self.chords_seen % CHORD_HISTORY] = chords
        self.chords_seen += 1
        if self.frame_no % LONG_EVERY == 0:
            self._long_step(chords)

    def _long_step(self, chords: np.ndarray) -> None:
        """Long spans (half a second and more): a slow dissolve changes each frame little,
        amid motion its span does not stand out, but its frames stay on one line."""
        for lag in LONG_LAGS:
            chord = float(chords[LAGS.index(lag)])
            if chord < LONG_CHORD_MIN:
                continue
            assert self.signatures is not None
            at = (self.frame_no - lag + np.arange(lag + 1)) % len(self.signatures)
            ws, rest = line_fit(self.signatures[at])
            core = (ws > 0.15) & (ws < 0.85)
            if core.mean() < 0.5 or not np.all(np.diff(ws) > -0.1):
                continue
            linear = float(np.mean(rest[core]))
            steps = list(self.step_sizes)[-lag:]
            if linear <= LONG_LINEAR and max(steps) < CUT_SHARE * chord:
                self.pending_long = self._candidate(
                    self.pending_long, (-linear, self.frame_no, lag)
                )
                self.settle_long = 0 if self.pending_long[1] == self.frame_no else self.settle_long

    def _candidate(self, pending: _Span | None, new: _Span) -> _Span:
        """The better of two candidate spans (priority, end frame, frames) if they overlap;
        else the pending one is tested now and the new one waits."""
        if pending is None:
            return new
        if new[1] - new[2] > pending[1]:  # no overlap: a separate event
            self._transition(*pending)
            return new
        return new if new[0] > pending[0] else pending

    def _last_step(self) -> float:
        return cv2.mean(cv2.absdiff(self.kept[-1].signature, self.kept[-2].signature))[0]

    def _run(self, end_no: int, lag: int) -> list[_Kept] | None:
        """Frames ``end_no - lag`` .. ``end_no`` if still kept."""
        last = self.frame_no - (len(self.kept) - 1)  # frame number of kept[0]
        first = end_no - lag
        if first < last:
            return None
        return list(self.kept)[first - last : end_no - last + 1]

    def _transition(self, _ratio: float, end_no: int, lag: int) -> None:
        """Test the span that changed like a transition; report a dissolve it proves."""
        run = self._run(end_no, lag)
        if run is None:
            return
        self.transitions_verified += 1
        ok, info = dissolve_proof(run)
        if not ok:
            return
        first, last = self._extent(run)
        mid = 0.5 * (self.kept[first].t_s + self.kept[last].t_s)
        mixed = last - first - 1
        if mixed < MIN_MIXED:
            return  # one mixed frame is a step of opacity, not an editor's dissolve
        span = list(self.kept)[first : last + 1]
        ws, _ = blend_weights(span)
        rate = np.diff(np.concatenate(([0.0], ws, [1.0])))
        if len(rate) >= 4:
            # An editor's mix advances by the same step every frame (or eases smoothly
            # in and out); an overlay a renderer fades in by fits and starts is no edit.
            jerk = float(np.median(np.abs(np.diff(rate))) / max(float(np.median(rate)), 1e-6))
            info["unevenness"] = round(jerk, 2)
            if jerk > UNEVEN_MAX:
                return
        self._add(
            Event(
                kind="cut",
                t_s=mid,
                score=1.0,
                detector=self.name,
                details={"transition": "dissolve", "frames": mixed, **info},
            )
        )

    def _extent(self, run: list[_Kept]) -> tuple[int, int]:
        """Indices in ``kept`` of the last frame before a proven dissolve and the first
        after it. ``run`` may lie inside the dissolve or reach past it: the weight of
        the blend of its ends rises by a steady step per mixed frame (Alattar, 1993),
        so the dissolve runs as far as that step does, on either side of its middle."""
        kept = list(self.kept)
        a, b = run[0].signature, run[-1].signature
        d = (b - a).ravel()
        dd = float(d @ d) or 1.0
        w = np.array([float((k.signature - a).ravel() @ d) / dd for k in kept])
        at = {id(k): i for i, k in enumerate(kept)}
        lo, hi = at[id(run[0])], at[id(run[-1])]
        mid = lo + int(np.argmin(np.abs(w[lo : hi + 1] - 0.5)))
        step = float(np.median(np.diff(w[lo : hi + 1])))

        def rising(i: int, j: int) -> bool:  # from frame i to frame j (j = i +- 1)
            return min(i, j) >= 0 and max(i, j) < len(w) and (w[j] - w[i]) * (j - i) >= step / 2

        first, last = mid, mid
        # A frame that pauses the rise inside it (an overlay faded in by fits and starts)
        # belongs to it: the evenness test then sees the pause.
        while rising(first, first - 1) or (rising(first - 1, first - 2) and first >= 2):
            first -= 1
        while rising(last, last + 1) or (rising(last + 1, last + 2) and last + 2 < len(w)):
            last += 1
        return first, last

    def _fade_step(self, kept: _Kept) -> None:
        """A fade through black: frames dimming one picture down to black, black, and the
        next picture brightening from black. Followed frame by frame."""
        black = kept.luma <= BLACK_LUMA and float(kept.gray.std()) <= BLACK_SPREAD
        st = self.fade
        if black:
            if st.get("phase") == "in":  # black again before the picture settled
                st.clear()
            if not st:
                out = self._dimming()
                if out is None:
                    return
                st.update(phase="black", out=out, black=0, start=kept.t_s, black_luma=kept.luma)
            if st.get("phase") == "black":
                st["black"] += 1
                st["end"] = kept.t_s
                if st["black"] > MAX_BLACK:
                    st.clear()
            return
        if st.get("phase") == "black":
            st.update(phase="in", rise=[kept], step=kept.luma - st["black_luma"])
            return
        if st.get("phase") == "in":
            rise = st["rise"]
            if kept.luma - rise[-1].luma >= _ramp_step(st["step"]) and len(rise) < MAX_TRANSITION:
                rise.append(kept)
                return
            # The picture stopped brightening: the fade-in ended with the last frame.
            if len(rise) >= 2 and contrast_drift(rise[::-1], st["black_luma"]) <= FADE_MAX:
                n = len(st["out"]) - 1 + st["black"] + len(rise) - 1
                self._add(
                    Event(
                        kind="cut",
                        t_s=0.5 * (st["start"] + st["end"]),
                        score=1.0,
                        detector=self.name,
                        details={"transition": "fade", "frames": n},
                    )
                )
            st.clear()

    def _dimming(self) -> list[_Kept] | None:
        """The frames before this black one that dimmed one picture into it, or None."""
        frames = list(self.kept)
        black = frames.pop()
        if not frames:
            return None
        step = _ramp_step(frames[-1].luma - black.luma)
        run: list[_Kept] = []
        for k in reversed(frames):
            if run and k.luma - run[-1].luma < step:
                break
            run.append(k)
            if len(run) > MAX_TRANSITION:
                return None
        run = run[::-1]  # the brightest (the picture) first
        too_dark = run[0].luma < 2 * BLACK_LUMA if run else True
        if len(run) < 2 or too_dark or contrast_drift(run, black.luma) > FADE_MAX:
            return None
        return run

    # --- the pass ----------------------------------------------------------------------

    def _profile(self, t: float, shift: float) -> None:
        sec = int(t)
        if self._sec is not None and sec != self._sec:
            self._flush_second()
        self._sec = sec
        self._sec_motion.append(shift)

    def _flush_second(self) -> None:
        if self._sec_motion:
            self.motion_profile.append(
                {"t_s": self._sec, "motion_px": round(float(np.median(self._sec_motion)), 2)}
            )
        self._sec_motion = []

    def process(self, frame: Frame) -> None:
        step_s = self.steps.add(frame.t_s)
        cur = small(frame.gray)
        colour = frame.color
        hsv = cv2.cvtColor(colour, cv2.COLOR_BGR2HSV)
        # Block means of colour, rounded to whole levels (noise well under CHORD_NOISE).
        signature = blocks(colour).astype(np.float32)
        self._step(_Kept(frame.t_s, cur, colour, signature, cv2.mean(cur)[0]))
        prev_colour = self.prev_colour
        if self.prev is not None and prev_colour is not None and self.prev.shape == cur.shape:
            dx, dy, _ = self.motion.shift(self.prev, cur)
            # Motion in analysis pixels (320 px long side) for the shake measure.
            scale = frame.gray.shape[1] / cur.shape[1]
            self._profile(frame.t_s, float(np.hypot(dx, dy)) * scale)
            residual = block_residual(self.prev, cur, dx, dy)
            if np.hypot(dx, dy) >= STILL_CHECK_PX:
                still = block_residual(self.prev, cur, 0.0, 0.0)
                if float(still.mean()) <= float(residual.mean()):
                    dx, dy, residual = 0.0, 0.0, still
            self.pairs.append(
                _Pair(
                    frame.t_s,
                    frame.keyframe,
                    self.prev,
                    cur,
                    dx,
                    dy,
                    residual,
                    hsv_content(self.prev_hsv, hsv) if self.prev_hsv is not None else 0.0,
                    prev_colour,
                    colour,
                    step_s=step_s,
                )
            )
            self._judge(final=False)
        self.prev = cur
        self.prev_colour = colour
        self.prev_hsv = hsv

    def _judge(self, *, final: bool) -> None:
        """Judge each pair once its ``WINDOW`` successors exist (at the end: all left)."""
        pairs = list(self.pairs)
        for k, p in enumerate(pairs):
            if p.evaluated or (not final and len(pairs) - 1 - k < WINDOW):
                continue
            before = pairs[max(0, k - WINDOW) : k][::-1]
            after = pairs[k + 1 : k + 1 + WINDOW]
            if before or after:
                self._evaluate(p, before, after)

    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        self._judge(final=True)
        for pending in (self.pending, self.pending_long):
            if pending is not None:
                self._transition(*pending)
        self._flush_second()
        motions = [m["motion_px"] for m in self.motion_profile]
        events = self.candidates
        freezes = (upstream or {}).get("freeze")
        if freezes is not None:
            events = [e for e in events if not _edge_of_freeze(e, freezes.events)]
        return Findings(
            events=sorted(events, key=lambda e: e.t_s),
            metrics=CutMetrics(
                max_score=round(self.max_score, 3),
                candidates_verified=self.verified,
                transitions_verified=self.transitions_verified,
                median_motion_px=round(float(np.median(motions)), 2) if motions else None,
                motion_profile=self.motion_profile,
            ),
        )


def _ramp_step(first: float) -> float:
    """Least luma step that continues a fade whose step next to black was ``first``: a
    quarter of it (a fade's gain changes evenly; the picture under it moves a little)."""
    return max(0.3, 0.25 * first)


def _edge_of_freeze(cut: Event, freezes: list[Event]) -> bool:
    """A freeze that hides time ends in a jump: that jump is the freeze, not a second edit."""
    for f in freezes:
        if f.kind != "freeze":
            continue
        end = f.t_s + (f.length_s or 0.0)
        if min(abs(cut.t_s - f.t_s), abs(cut.t_s - end)) <= FREEZE_EDGE_S:
            return True
    return False
