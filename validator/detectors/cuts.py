"""Splices and removed segments: abrupt changes that motion does not explain.

Method. For each pair of consecutive frames we take the camera's translation
out (phase correlation, see ``motion.py``) and measure the residual difference
in a grid of blocks (8x6 at 160 px). A cut is a *temporal spike*: a block's
residual between frames t-1 and t is far above its residual in the pair before
and the pair after. Continuous motion, however fast (a parcel turned quickly,
a fast pan), changes every pair by a similar amount, so its spike ratio stays
near 1; a splice or a removed segment changes one pair only. Comparing per
block rather than over the whole frame catches a removed segment in which only
the parcel (a fifth of the frame) jumps to another pose while the table stays:
a frame-global measure (e.g. PySceneDetect's ContentDetector) averages that
change away.

This is the "temporal derivative ratio" idea of classic shot-boundary work
(Yeo & Liu, 1995, "Rapid scene analysis on compressed video": a sliding window
whose maximum must exceed the second-largest by a factor), applied per block on
motion-compensated differences.

Score: the spike ratio of the ``MIN_BLOCKS``-th strongest block, divided by
``RATIO_AT_SCORE_1``; the policy's ``completeness.cut_score`` (default 1.0)
decides what is reported.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from validator.detectors.base import Detector, Findings, Frame, register
from validator.detectors.motion import MotionEstimator, compensate, small
from validator.models import Event

GRID = (8, 6)  # blocks across, down
MIN_BLOCKS = 3  # ~6% of the frame must spike: a parcel covers about 20%
MIN_RESIDUAL = 6.0  # gray levels: a block changing less than this is noise, not a cut
NOISE_FLOOR = 1.5  # added to the neighbours' residual so near-static frames don't divide by ~0
RATIO_AT_SCORE_1 = 3.0
MERGE_S = 0.5  # spikes closer than this are one event


def block_residual(prev: np.ndarray, cur: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Mean absolute residual per block after moving ``prev`` by (dx, dy)."""
    import cv2

    pred = compensate(prev, dx, dy)
    # Remove a global brightness change (auto exposure) before differencing.
    r = np.abs(cur - pred - (float(cur.mean()) - float(pred.mean())))
    h, w = r.shape
    m = int(min(max(abs(dx), abs(dy)) + 2, min(h, w) // 4))
    r = r[m : h - m, m : w - m]
    return cv2.resize(r, GRID, interpolation=cv2.INTER_AREA).ravel()


def spike_strength(before: np.ndarray | None, now: np.ndarray, after: np.ndarray | None) -> float:
    """``MIN_BLOCKS``-th largest per-block ratio of ``now`` over its neighbours."""
    ref = np.zeros_like(now)
    if before is not None:
        ref = np.maximum(ref, before)
    if after is not None:
        ref = np.maximum(ref, after)
    ratio = np.where(now >= MIN_RESIDUAL, now / (ref + NOISE_FLOOR), 0.0)
    if ratio.size < MIN_BLOCKS:
        return 0.0
    return float(np.partition(ratio, -MIN_BLOCKS)[-MIN_BLOCKS])


@register
class CutDetector(Detector):
    """Finds cuts (a second take, a removed segment) and profiles camera motion."""

    name = "cuts"

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.threshold = float(policy["completeness.cut_score"])
        self.motion = MotionEstimator()
        self.prev: np.ndarray | None = None
        # (t_s of the later frame, keyframe, block residuals) for the last three pairs
        self.pairs: deque[tuple[float, bool, np.ndarray]] = deque(maxlen=3)
        self.candidates: list[Event] = []
        self.max_score = 0.0
        self._sec: int | None = None
        self._sec_motion: list[float] = []
        self.motion_profile: list[dict] = []
        self.frames = 0

    def _evaluate(self, before, now, after) -> None:
        t, key, res = now
        strength = spike_strength(
            None if before is None else before[2], res, None if after is None else after[2]
        )
        score = strength / RATIO_AT_SCORE_1
        self.max_score = max(self.max_score, score)
        if score < self.threshold:
            return
        spiking = int(np.count_nonzero(res >= MIN_RESIDUAL))
        ev = Event(
            kind="cut",
            t_s=t,
            score=score,
            detector=self.name,
            details={
                "blocks_changed": spiking,
                "blocks_total": int(res.size),
                # An I-frame off the regular grid often marks where an editor joined takes.
                "keyframe": key,
            },
        )
        if self.candidates and t - self.candidates[-1].t_s < MERGE_S:
            if score > (self.candidates[-1].score or 0):
                self.candidates[-1] = ev
            return
        self.candidates.append(ev)

    def _profile(self, t: float, shift: float) -> None:
        sec = int(t)
        if self._sec is not None and sec != self._sec and self._sec_motion:
            self.motion_profile.append(
                {"t_s": self._sec, "motion_px": round(float(np.median(self._sec_motion)), 2)}
            )
            self._sec_motion = []
        self._sec = sec
        self._sec_motion.append(shift)

    def process(self, frame: Frame) -> None:
        cur = small(frame.gray)
        self.frames += 1
        if self.prev is not None and self.prev.shape == cur.shape:
            dx, dy, _ = self.motion.shift(self.prev, cur)
            # Motion in analysis pixels (320 px long side) for the shake measure.
            scale = frame.gray.shape[1] / cur.shape[1]
            self._profile(frame.t_s, float(np.hypot(dx, dy)) * scale)
            self.pairs.append((frame.t_s, frame.keyframe, block_residual(self.prev, cur, dx, dy)))
            if len(self.pairs) == 2 and len(self.candidates) == 0 and self.frames == 3:
                self._evaluate(None, self.pairs[0], self.pairs[1])
            if len(self.pairs) == 3:
                self._evaluate(self.pairs[0], self.pairs[1], self.pairs[2])
        self.prev = cur

    def finish(self) -> Findings:
        if len(self.pairs) >= 2:
            self._evaluate(self.pairs[-2], self.pairs[-1], None)
        if self._sec is not None and self._sec_motion:
            self.motion_profile.append(
                {"t_s": self._sec, "motion_px": round(float(np.median(self._sec_motion)), 2)}
            )
        motions = [m["motion_px"] for m in self.motion_profile]
        return Findings(
            events=self.candidates,
            metrics={
                "max_score": round(self.max_score, 3),
                "median_motion_px": round(float(np.median(motions)), 2) if motions else None,
                "motion_profile": self.motion_profile,
            },
        )
