"""Splices and removed segments: abrupt changes that motion does not explain.

Method, in two stages.

1. Every frame (cheap). Take the camera's translation out (phase correlation,
   ``motion.py``) and measure the residual difference in a grid of blocks (8x6
   at 160 px). A cut is a *temporal spike*: a block's residual between frames
   t-1 and t is far above its residual in the pairs before and after.
   Continuous motion changes every pair by a similar amount, so its ratio stays
   near 1; a splice or a removed segment changes one pair only. Comparing per
   block rather than over the whole frame catches a removed segment in which
   only the parcel (a fifth of the frame) jumps to another pose while the table
   stays: a frame-global measure (PySceneDetect's ContentDetector) averages
   that change away. The neighbours are the ``WINDOW`` pairs on each side: a
   turn spreads its change over several frames, a cut puts it into one.

2. Candidates only (rare). A parcel turned fast moves its edges across blocks
   faster than a global translation explains, so one block can spike while an
   edge passes through it. Each candidate is re-measured with *local* motion:
   every block of frame t is searched for in frame t-1 within ``SEARCH_PX``
   (block matching, as motion-compensated video coding does), for the pair and
   its neighbours. Motion, however fast, finds its match nearby; a cut does
   not. A second test looks at block-mean colour: a spliced take (another
   table, other light) changes the colour of most of the frame at once, which
   motion never does, even where block matching finds similar wood grain.
   Only a spike that survives one of these tests is reported: as a ``cut``
   when the colours changed or the blocks were still in the pairs around it,
   as a ``possible_cut`` when only the local test fired while the blocks
   were moving (``MOVING_AROUND``). A parcel flicked round in a
   fifth of a second can end in a frame no nearby block explains, exactly
   as a cut on action does; a person must look at those (completeness
   ``review``, ``cut_in_motion``).

The spike test is the temporal-derivative idea of classic shot-boundary
detection (Yeo & Liu, 1995, "Rapid scene analysis on compressed video": a
window's maximum must exceed the second-largest by a factor), applied per
block on motion-compensated differences.

Score: the larger of the spike ratio of the ``MIN_BLOCKS``-th strongest block
after local matching and the median block's colour spike ratio, divided by
``RATIO_AT_SCORE_1``; the policy's
``completeness.cut_score`` (default 1.0) decides what is reported.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, register
from validator.detectors.motion import MotionEstimator, compensate, small
from validator.models import Event

GRID = (8, 6)  # blocks across, down (landscape; transposed for portrait)
MIN_BLOCKS = 6  # an eighth of the frame must spike: a parcel covers about a fifth
MIN_RESIDUAL = 12.0  # gray levels: a block changing less than this is noise, not a cut
NOISE_FLOOR = 1.5  # added to the neighbours' residual so near-static frames don't divide by ~0
RATIO_AT_SCORE_1 = 2.8  # calibrated on the generated clips: cuts 3.5+, fast turns under 2.3
CANDIDATE_SCORE = 0.6  # stage 1 keeps anything above this for stage 2
SEARCH_PX = 8  # local search radius at 160 px (5% of the width): a fast turn's edge speed
MERGE_S = 0.5  # spikes closer than this are one event
WINDOW = 2  # a spike must stand out against this many pairs on each side
ZERO_BIAS = 1.1  # a block whose match in place is this close to its best has not moved
# How far (px at 160 px, median of the spiking blocks, most in any pair around the
# spike) the content moved against the camera, over which the parcel was moving
# there: a fast turn, not a steady pose. Such a spike is a ``possible_cut``.
MOVING_AROUND = 2.0
# A colour spike this many times the cut score is a new scene (spliced takes: 4+; the
# pans and turns of the generated clips: 1.0 at most), a cut even amid motion.
SCENE_SURE = 2.0


def grid(shape: tuple[int, ...]) -> tuple[int, int]:
    """Blocks (across, down) for an image of ``shape``: near-square blocks either way up."""
    return GRID if shape[1] >= shape[0] else GRID[::-1]


def block_residual(prev: np.ndarray, cur: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Mean absolute residual per block after moving ``prev`` by (dx, dy)."""
    pred = compensate(prev, dx, dy)
    # Remove a global brightness change (auto exposure) before differencing.
    r = np.abs(cur - pred - (float(cur.mean()) - float(pred.mean())))
    h, w = r.shape
    m = int(min(max(abs(dx), abs(dy)) + 2, min(h, w) // 4))
    r = r[m : h - m, m : w - m]
    return cv2.resize(r, grid(r.shape), interpolation=cv2.INTER_AREA).ravel()


def local_residual(
    prev: np.ndarray, cur: np.ndarray, dx: float, dy: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-block RMS residual of ``cur`` against its best match in ``prev`` nearby, and
    how far (px) that match lies from where the global motion puts the block.

    Each block is searched for within ``SEARCH_PX`` of where the global motion
    (dx, dy) puts it. The residual at the best whole-pixel match is measured
    against the 3x3 min/max envelope of ``prev`` (Birchfield & Tomasi, 1998, "A
    pixel dissimilarity measure that is insensitive to image sampling"): a
    sub-pixel shift of a sharp edge (a barcode under handheld shake) then costs
    nothing, while content that is not there at all still does. A block that
    matches where it is almost as well as anywhere (flat, or still) has not moved:
    the zero-motion bias of video coders' block matching.
    """
    cur = cur - (float(cur.mean()) - float(prev.mean()))
    h, w = cur.shape
    r = SEARCH_PX
    pad = r + int(np.ceil(max(abs(dx), abs(dy))))
    ref = cv2.copyMakeBorder(prev, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    kernel = np.ones((3, 3), np.uint8)
    hi, lo = cv2.dilate(ref, kernel), cv2.erode(ref, kernel)
    gx, gy = grid(cur.shape)
    bw, bh = w // gx, h // gy
    out = np.empty(gx * gy, np.float32)
    moved = np.zeros(gx * gy, np.float32)
    for j in range(gy):
        for i in range(gx):
            x0, y0 = i * bw, j * bh
            block = cur[y0 : y0 + bh, x0 : x0 + bw]
            # the block came from (x0 - dx, y0 - dy) in prev under the global motion
            sx = round(x0 - dx) + pad - r
            sy = round(y0 - dy) + pad - r
            area = ref[sy : sy + bh + 2 * r, sx : sx + bw + 2 * r]
            sq = cv2.matchTemplate(area, block, cv2.TM_SQDIFF)
            best, _, (mx, my), _ = cv2.minMaxLoc(sq)
            if sq[r, r] > ZERO_BIAS * best + block.size:  # else: as good where it is
                moved[j * gx + i] = float(np.hypot(mx - r, my - r))
            ys, xs = sy + my, sx + mx
            over = block - hi[ys : ys + bh, xs : xs + bw]
            under = lo[ys : ys + bh, xs : xs + bw] - block
            d = np.maximum(0.0, np.maximum(over, under))
            out[j * gx + i] = np.sqrt(float(np.mean(d * d)))
    return out, moved


def block_colour_change(prev: np.ndarray, cur: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Per-block change of mean colour (largest channel) after the global motion.

    Block means are blind to motion within a block and to texture, so they tell a
    new scene (another table, other light: a spliced take) from motion, which
    moves texture but keeps each region's colour.
    """
    prev = prev.astype(np.float32)
    cur = cur.astype(np.float32)
    pred = compensate(prev, dx, dy)
    h, w = cur.shape[:2]
    m = int(min(max(abs(dx), abs(dy)) + 1, min(h, w) // 4))
    g = grid(cur.shape)
    a = cv2.resize(pred[m : h - m, m : w - m], g, interpolation=cv2.INTER_AREA)
    b = cv2.resize(cur[m : h - m, m : w - m], g, interpolation=cv2.INTER_AREA)
    return np.abs(a - b).max(axis=2).ravel()


def spike_ratios(now: np.ndarray, before: list[np.ndarray], after: list[np.ndarray]) -> np.ndarray:
    """Per-block ratio of ``now`` over its neighbours (0 under ``MIN_RESIDUAL``).

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
    return np.where(now >= MIN_RESIDUAL, now / (ref + NOISE_FLOOR), 0.0)


def scene_strength(now: np.ndarray, before: list[np.ndarray], after: list[np.ndarray]) -> float:
    """Median per-block ratio of colour change over the neighbours': a frame-wide change."""
    return float(np.median(spike_ratios(now, before, after)))


def spike_strength(now: np.ndarray, before: list[np.ndarray], after: list[np.ndarray]) -> float:
    """``MIN_BLOCKS``-th largest per-block ratio of ``now`` over its neighbours."""
    return strongest(spike_ratios(now, before, after))


def strongest(ratio: np.ndarray) -> float:
    """The ``MIN_BLOCKS``-th largest of per-block ``ratio``: an eighth of the frame spikes."""
    if ratio.size < MIN_BLOCKS:
        return 0.0
    return float(np.partition(ratio, -MIN_BLOCKS)[-MIN_BLOCKS])


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
    prev_colour: np.ndarray
    cur_colour: np.ndarray
    evaluated: bool = False
    _local: np.ndarray | None = None  # computed once, for the pair and as a neighbour
    _moved: np.ndarray | None = None
    _colour: np.ndarray | None = None

    def local(self) -> np.ndarray:
        # Both directions: content a turn reveals has no match in the frame before,
        # content it hides none in the frame after; a cut has neither.
        if self._local is None:
            fwd, fwd_moved = local_residual(self.prev, self.cur, self.dx, self.dy)
            bwd, bwd_moved = local_residual(self.cur, self.prev, -self.dx, -self.dy)
            self._local = np.minimum(fwd, bwd)
            self._moved = np.where(fwd <= bwd, fwd_moved, bwd_moved)
        return self._local

    def moved(self) -> np.ndarray:
        """Per block, px between its best local match and the global motion's guess."""
        self.local()
        assert self._moved is not None
        return self._moved

    def colour(self) -> np.ndarray:
        if self._colour is None:
            scale = self.cur_colour.shape[1] / self.cur.shape[1]
            self._colour = block_colour_change(
                self.prev_colour, self.cur_colour, self.dx * scale, self.dy * scale
            )
        return self._colour


@register
class CutDetector(Detector):
    """Finds cuts (a second take, a removed segment) and profiles camera motion."""

    name = "cuts"

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.threshold = float(policy["completeness.cut_score"])
        self.motion = MotionEstimator()
        self.prev: np.ndarray | None = None
        self.prev_colour: np.ndarray | None = None
        self.pairs: deque[_Pair] = deque(maxlen=2 * WINDOW + 1)
        self.candidates: list[Event] = []
        self.verified = 0
        self.max_score = 0.0
        self._sec: int | None = None
        self._sec_motion: list[float] = []
        self.motion_profile: list[dict] = []

    def _evaluate(self, now: _Pair, before: list[_Pair], after: list[_Pair]) -> None:
        """Judge one pair; ``before`` and ``after`` are its neighbours, nearest first."""
        now.evaluated = True
        around = before + after

        def each(value: Callable[[_Pair], np.ndarray]) -> tuple[list, list]:
            return [value(p) for p in before], [value(p) for p in after]

        coarse = spike_strength(now.residual, *each(lambda p: p.residual))
        if coarse / RATIO_AT_SCORE_1 < CANDIDATE_SCORE * self.threshold:
            return
        self.verified += 1
        local_now = now.local()
        ratios = spike_ratios(local_now, *each(_Pair.local))
        local = strongest(ratios)
        scene = scene_strength(now.colour(), *each(_Pair.colour))
        score = max(local, scene) / RATIO_AT_SCORE_1
        self.max_score = max(self.max_score, score)
        if score < self.threshold:
            return
        top = np.argsort(ratios)[-MIN_BLOCKS:]
        moving = float(np.median(np.max([p.moved()[top] for p in around], axis=0)))
        # A new scene's colours are a cut however things moved; a local spike amid
        # fast motion may be a flicked turn as much as a cut on action.
        unsure = moving >= MOVING_AROUND and scene / RATIO_AT_SCORE_1 < SCENE_SURE * self.threshold
        ev = Event(
            kind="possible_cut" if unsure else "cut",
            t_s=now.t_s,
            score=score,
            detector=self.name,
            details={
                "local_ratio": round(local, 2),
                "scene_ratio": round(scene, 2),
                "blocks_changed": int(np.count_nonzero(local_now >= MIN_RESIDUAL)),
                "blocks_total": int(local_now.size),
                "moving_around_px": round(moving, 1),
                # An I-frame off the regular grid often marks where an editor joined takes.
                "keyframe": now.keyframe,
            },
        )
        if self.candidates and now.t_s - self.candidates[-1].t_s < MERGE_S:
            last = self.candidates[-1]
            if score > (last.score or 0):
                self.candidates[-1] = ev
            if "cut" in (last.kind, ev.kind):  # one cut among them: never only "possible"
                self.candidates[-1] = dataclasses.replace(self.candidates[-1], kind="cut")
            return
        self.candidates.append(ev)

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
        cur = small(frame.gray)
        colour = frame.color
        if self.prev is not None and self.prev.shape == cur.shape:
            dx, dy, _ = self.motion.shift(self.prev, cur)
            # Motion in analysis pixels (320 px long side) for the shake measure.
            scale = frame.gray.shape[1] / cur.shape[1]
            self._profile(frame.t_s, float(np.hypot(dx, dy)) * scale)
            residual = block_residual(self.prev, cur, dx, dy)
            self.pairs.append(
                _Pair(
                    frame.t_s,
                    frame.keyframe,
                    self.prev,
                    cur,
                    dx,
                    dy,
                    residual,
                    self.prev_colour,
                    colour,
                )
            )
            self._judge(final=False)
        self.prev = cur
        self.prev_colour = colour

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

    def finish(self) -> Findings:
        self._judge(final=True)
        self._flush_second()
        motions = [m["motion_px"] for m in self.motion_profile]
        return Findings(
            events=self.candidates,
            metrics={
                "max_score": round(self.max_score, 3),
                "candidates_verified": self.verified,
                "median_motion_px": round(float(np.median(motions)), 2) if motions else None,
                "motion_profile": self.motion_profile,
            },
        )
