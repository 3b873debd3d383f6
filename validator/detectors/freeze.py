"""Freezes: a repeated picture that hides time, not a still scene.

A phone on a stand filming a parcel at rest gives identical frames too: at
phone bitrates the encoder codes a still scene as skipped blocks and the
decoder repeats the reference picture exactly (x264 does so at CRF 23-35 on a
source with sensor noise of sigma 2: our stand clips, see
``tests/test_freeze_black.py``). Stillness proves nothing, so a run of
repeated pictures is a ``freeze`` only on positive evidence that time went on
while the picture stood:

(a) **exact repeats amid motion**: the run is one picture at high resolution
    (a pixel-level view of the full-resolution luma), while the camera is seen
    to move right up to the run and right after it (the frame's border changes
    from frame to frame, which a parcel or hands in front of a fixed camera do
    not make it do), in a clip that shows no other repeated pictures: a handheld
    camera cannot stop dead for the length of the run; a copied frame can.
(b) **a jump across the run**: the frame after the run differs from the run's
    picture far more than neighbouring frames differ from each other, on a
    40 px thumbnail after a gain/offset fit (an exposure step is not a jump):
    the scene moved on while the picture stood. Where that frame is a keyframe
    the jump must also stand far above this clip's own keyframe refreshes: a
    low-bitrate encoder re-codes a still picture at every keyframe with a
    visible pulse (1-2.5 gray levels at 40 px at CRF 35), the size of a real jump.

FFmpeg's ``freezedetect`` (mean absolute difference under a noise tolerance)
is the candidate filter here; the decision is taken on the run's context, as
the twin-comparison method of Zhang, Kankanhalli and Smoliar (1993) judges a
transition against the frame differences around it.

Cost per frame: one L1 norm at 320 px and a 40 px thumbnail from the integral
image (0.05 ms at 1080p). The high-resolution view is sampled only while a
candidate run lasts (every ``CHECK_EVERY`` frames and at keyframes), and the
border shares only for the few pairs around a run: 0.13 ms a frame on a clip
that is still two thirds of the time (0.3 ms when the picture is rotated).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, Metrics, register
from validator.detectors.steps import FrameSteps
from validator.models import Event, EventKind, KindReason

# -- candidates (320 px) ------------------------------------------------------------------
# Gray levels, mean |diff| at 320 px. A repeated picture measures 0.00-0.03 (fixture
# freeze-padding, devset d06). Under this gate a pair is only a candidate: the decision is
# taken at high resolution and on the run's context, so the gate can be generous (devset
# still stretches measure 0.01-0.5; real webcam footage never goes under 0.1: box.mp4).
STILL_MEAN = 0.5
# Pairs under this mean show the same picture to within codec noise at 320 px (repeats:
# 0.00-0.03; a slowly drifting devset scene 0.3-0.4): used only to date where a run that
# follows a drift began.
CALM_MEAN = 0.1

# -- the same picture (high resolution) ---------------------------------------------------
# A sampled pixel "changed" when it differs by this many gray levels: x264 refines the
# P-frames after an I-frame of a repeated picture by <= 0.02 levels on average and single
# pixels by 1-2 (fixtures/README.md, Known limits; d06: max 5-6 in a handful of pixels).
SAME_DIFF = 3
# A frame shows the run's picture when under this share of sampled pixels changed. Repeats
# measure 0-0.2% (fixture freeze-padding 0.2% just after its keyframe, d06 0.0%); a still
# devset scene with one small moving thing 0.04-3% between neighbours, more against a
# picture seconds older.
SAME_SHARE = 0.005
# Frames between high-resolution checks while a run lasts (~0.13 s at 30 fps; a run as
# long as MIN_FREEZE_S gets at least one).
CHECK_EVERY = 4
# px: above this long side the full-resolution luma is sampled with a stride (a power of
# two, to at most SAMPLE_MAX_SIDE): pixels as decoded, not averaged. Striding by 4 reads a
# quarter of the rows: 0.05 ms at 1080p, where a stride of 3 costs 0.2 ms (cache lines).
SAMPLE_FULL_SIDE = 960
SAMPLE_MAX_SIDE = 640

# -- (a) the camera was live around the run -----------------------------------------------
# Pairs judged on each side of a run (keyframe pairs left out: a keyframe re-codes the
# whole picture and would look like motion everywhere).
CONTEXT_PAIRS = 5
# A 320 px cell of 8x8 px "changed" when its mean |diff| reaches this (gray levels).
LIVE_CELL = 0.5
# The live share of a pair is the share of changed cells in the frame's border (a ring
# of RING_CELLS cells, 16 px at 320 px): a moving camera moves the border with the rest,
# while a parcel or hands in front of a fixed camera reach it only in places.
RING_CELLS = 2
# The camera moves when on average this share of the border changes, on each side.
# Median over moving pairs: handheld fixtures 0.69, iPhone with-gps.mov 0.62, Samsung slow
# motion 0.87; cameras on a stand 0.00 (our x264 stand clips, CRF 23-35, 480p/720p; devset
# d02 0.01), a fixed webcam with a hand crossing the frame 0.09-0.14 (box.mp4).
LIVE_SHARE = 0.3
# ... in a clip whose camera is not seen to repeat pictures elsewhere: at most this share
# of the other frame pairs lie in other runs of repeats (confirmed at high resolution).
# Handheld clips: 0; cameras on a stand that film pauses: 0.5-0.8 of the clip.
CAMERA_STILL_SHARE = 0.2

# -- (b) the jump -------------------------------------------------------------------------
# The frame after the run against the run's picture, over the median difference of the
# frame pairs that follow (those before are the run's repeats). Freeze pads: 15-70 (d06
# ~27, our x264 pads at CRF 23-35 15-69); a still stretch that ends in motion: at most 4
# (devset, stand clips, realdata sample_mpeg4.mp4 and h265_bframes.mp4). The fixture's
# mild jump (4.8 over 1.0) is a freeze by (a) instead.
JUMP_RATIO = 6.0
# Neighbour differences under this count as this (gray levels at 40 px): the codec noise
# of a still scene must not turn a small change into a large ratio.
JUMP_FLOOR = 0.15
# A jump on a keyframe must also reach this multiple of the largest refresh pulse seen at
# this clip's other keyframes inside runs (d06: 4.1 against 0.2-0.4; our stand clips at
# CRF 23-35: refreshes of 0.6-2.5 against each other, ratios 0.5-2).
KEY_RATIO = 3.0
CELL = 8  # px at 320 px: one thumbnail pixel, one live cell

MIN_FREEZE_S = 0.25  # shorter repeats are reported nowhere (a 30 fps phone may dup a frame)
MAX_RUNS = 2000  # run records kept for the end of the pass (bounded state)


@dataclass(slots=True)
class _Pair:
    """One frame pair (previous -> current) at 320 px and 40 px."""

    t: float  # time of the current frame
    mean: float  # mean |diff| at 320 px
    t40: float  # thumbnail difference after a gain/offset fit
    key: bool  # the current frame is a keyframe
    live: float | None = None  # share of 320 px cells that changed (filled on demand)


@dataclass
class _Boundary:
    """A keyframe inside a run that re-coded the picture: a refresh or a hidden jump."""

    t: float
    pulse: float  # thumbnail difference across it


@dataclass
class _Run:
    """Consecutive frames that show one picture (a keyframe may re-code it)."""

    start_t: float
    anchor: np.ndarray
    anchor_thumb: np.ndarray
    before: list[_Pair]
    pairs: int = 1
    since_check: int = 0
    check_in: int = CHECK_EVERY  # frames to the next high-resolution check
    checks: int = 0  # high-resolution checks that found the same picture
    boundaries: list[_Boundary] = field(default_factory=list)
    open_boundary: bool = False  # a keyframe re-anchored the run; confirm on the next frame
    end_t: float = 0.0
    jump: float | None = None
    jump_key: bool = False
    after: list[_Pair] = field(default_factory=list)


def thumb_residual(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |b - (gain * a + offset)| of two float thumbnails, the gain fitted by least
    squares and clamped to 0.5-2: an exposure or white-balance step is not a change of
    what is shown."""
    ma, sa = cv2.meanStdDev(a)
    mb = float(cv2.mean(b)[0])
    da = a - float(ma[0, 0])
    db = b - mb
    var = float(sa[0, 0]) ** 2
    gain = float(np.clip(cv2.mean(cv2.multiply(da, db))[0] / var, 0.5, 2.0)) if var > 1 else 1.0
    return float(cv2.mean(cv2.absdiff(db, gain * da))[0])


def thumbnail(gray: np.ndarray) -> np.ndarray:
    """Means over 8x8 cells of the 320 px picture (float), from its integral image."""
    h, w = gray.shape
    h8, w8 = max(CELL, h - h % CELL), max(CELL, w - w % CELL)
    c = cv2.integral(gray[:h8, :w8])[::CELL, ::CELL]
    return ((c[1:, 1:] - c[:-1, 1:] - c[1:, :-1] + c[:-1, :-1]) / CELL**2).astype(np.float32)


def live_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the border's 8x8 cells (320 px) whose mean |diff| reaches ``LIVE_CELL``."""
    changed = thumbnail(cv2.absdiff(a, b)) >= LIVE_CELL
    k = RING_CELLS
    inner = changed[k:-k, k:-k]
    border = changed.size - inner.size
    return float(np.count_nonzero(changed) - np.count_nonzero(inner)) / max(1, border)


def _median(pairs: list[_Pair]) -> float:
    return float(np.median([p.t40 for p in pairs])) if pairs else 0.0


def _mean_live(pairs: list[_Pair]) -> float:
    vals = [p.live for p in pairs if p.live is not None]
    return float(np.mean(vals)) if vals else 0.0


@dataclass(frozen=True, slots=True)
class FreezeMetrics(Metrics):
    frozen_s: float  # the freeze events' seconds in all
    still_runs: int  # still stretches judged
    longest_still_s: float


@register
class FreezeDetector(Detector):
    name = "freeze"
    event_kinds = (
        EventKind(
            "freeze",
            "Freeze",
            "画面冻结",
            "the same picture repeated (`length_s`)",
            reason=KindReason(
                "freeze",
                "fail",
                "The same picture is repeated for {lengths} s at {times}: padding over a removed "
                "part.",
                "在 {times} 同一画面重复 {lengths} 秒：疑似用定格画面填补删减部分。",
                over=lambda p: p.completeness.max_freeze_s,
            ),
            caption="freeze",
            rank=30,
        ),
    )

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.grays: deque[np.ndarray] = deque(maxlen=2)  # previous and current 320 px
        self.prev_thumb: np.ndarray | None = None
        self.prev_t = 0.0
        self.calm_since = 0.0  # the first frame of the current streak of calm pairs
        # Recent non-keyframe pairs with the grays they compare (for the live share).
        self.recent: deque[tuple[_Pair, np.ndarray, np.ndarray]] = deque(maxlen=2 * CONTEXT_PAIRS)
        self.run: _Run | None = None
        self.closed: list[_Run] = []
        self.awaiting: list[_Run] = []  # closed runs still collecting pairs after them
        self.pairs = 0
        self.repeat_pairs = 0  # frame pairs inside runs confirmed at high resolution
        self.events: list[Event] = []
        self.judged: list[dict] = []  # every run long enough to judge (bounded, for tuning)
        self.steps = FrameSteps()
        self.sample_request: int | None = None
        self.sample_stride = 1
        if media is not None:
            long_side = max(media.width, media.height)
            # Unrotated, the full-resolution luma is a view (no copy) to stride. A rotated
            # picture is turned by copying it whole (8 ms at 1080p), so halve it first with
            # OpenCV's 2:1 area resize, its fast path (0.2-0.5 ms at 1080p; other ratios
            # cost 3-10 ms): pixels averaged over 2x2 at most.
            rotated = media.rotation % 360 != 0
            self.sample_request = long_side // 2 if rotated and long_side > 1280 else long_side
            if self.sample_request > SAMPLE_FULL_SIDE:
                while self.sample_request / self.sample_stride > SAMPLE_MAX_SIDE:
                    self.sample_stride *= 2

    # -- pictures -------------------------------------------------------------------------
    def _sample(self, frame: Frame) -> np.ndarray:
        """The frame at high resolution: decoded pixels (averaged over 2x2 at most)."""
        if frame.hires is None or self.sample_request is None:
            return frame.gray
        img = frame.hires(self.sample_request)
        if self.sample_stride > 1:
            img = img[:: self.sample_stride, :: self.sample_stride]
        return np.ascontiguousarray(img)

    @staticmethod
    def _same(a: np.ndarray, b: np.ndarray) -> bool:
        if a.shape != b.shape:
            return False
        d = cv2.absdiff(a, b)
        changed = cv2.countNonZero(cv2.threshold(d, SAME_DIFF - 1, 1, cv2.THRESH_BINARY)[1])
        return changed < SAME_SHARE * d.size

    # -- the pass -------------------------------------------------------------------------
    def process(self, frame: Frame) -> None:
        step_s = self.steps.add(frame.t_s)
        g = frame.gray
        thumb = thumbnail(g)
        prev = self.grays[-1] if self.grays else None
        self.grays.append(g)
        if prev is None or prev.shape != g.shape or self.prev_thumb is None:
            if self.run is not None:
                self._close(frame.t_s, None, False)
        else:
            mean = cv2.norm(g, prev, cv2.NORM_L1) / g.size
            pair = _Pair(frame.t_s, mean, 0.0, frame.keyframe)
            # Across a few frames the camera dropped (``validator.detectors.steps``: at
            # most three) the change is judged per frame time, as the change over as many
            # steps after it: a still stretch that ends in motion during the missing time
            # is no jump (a stand clip with 0.3 s dropped where the hands came in measured
            # a "jump" of 6.7; a hole that long is now judged as before, over the bound).
            # A pad's jump shows seconds of motion (15-70): it still stands out.
            pair.t40 = thumb_residual(self.prev_thumb, thumb) / self.steps.spanned(step_s)
            self.pairs += 1
            if pair.mean >= CALM_MEAN:
                self.calm_since = frame.t_s
            self._feed(pair, prev, g)
            self._step(frame, pair, thumb)
            if not pair.key:
                self.recent.append((pair, prev, g))
        self.prev_thumb, self.prev_t = thumb, frame.t_s

    def _feed(self, pair: _Pair, a: np.ndarray, b: np.ndarray) -> None:
        """Give closed runs the non-keyframe pairs after them, with their live share."""
        if not self.awaiting or pair.key:
            return
        if pair.live is None:
            pair.live = live_share(a, b)
        for run in self.awaiting:
            run.after.append(pair)
        self.awaiting = [r for r in self.awaiting if len(r.after) < CONTEXT_PAIRS]

    def _start(
        self, frame: Frame, thumb: np.ndarray, start_t: float, sample: np.ndarray | None = None
    ) -> None:
        # The pairs before the run (a run dated back over calm pairs owns those).
        before = [(p, a, b) for p, a, b in self.recent if p.t <= start_t][-CONTEXT_PAIRS:]
        for p, a, b in before:
            if p.live is None:
                p.live = live_share(a, b)
        anchor = sample if sample is not None else self._sample(frame)
        self.run = _Run(start_t, anchor, thumb, [p for p, _, _ in before])

    def _step(self, frame: Frame, pair: _Pair, thumb: np.ndarray) -> None:
        run = self.run
        still = pair.mean < STILL_MEAN
        if run is None:
            if still:
                self._start(frame, thumb, self.prev_t)  # the picture was first shown there
            return
        if run.open_boundary:
            # The frame after a re-coding keyframe must repeat it, else the keyframe was
            # the first frame of something new: the run ended there.
            run.open_boundary = False
            if not (still and self._same(self._sample(frame), run.anchor)):
                b = run.boundaries.pop()
                self._close(b.t, b.pulse, True, pairs=-1)
                if run in self.awaiting and not pair.key:  # the first pair after the jump
                    if pair.live is None:
                        pair.live = live_share(*self.grays)
                    run.after.append(pair)
                if still:
                    self._start(frame, thumb, self.prev_t)
                return
            run.pairs += 1
            run.checks += 1
            return
        if frame.keyframe:
            sample = self._sample(frame)
            run.pairs += 1
            if still and self._same(sample, run.anchor):
                run.checks += 1
            else:
                pulse = thumb_residual(run.anchor_thumb, thumb)
                run.boundaries.append(_Boundary(frame.t_s, pulse))
                run.anchor, run.anchor_thumb = sample, thumb
                run.open_boundary = True
            return
        if not still:
            self._close(frame.t_s, pair.t40, False)
            return
        run.pairs += 1
        run.since_check += 1
        if run.since_check < run.check_in:
            return
        run.since_check, run.check_in = 0, CHECK_EVERY
        sample = self._sample(frame)
        if self._same(sample, run.anchor):
            run.checks += 1
            return
        # The picture drifted under the 320 px gate: what stood ends here, and what
        # follows may stand again from this frame. A drift is no jump: the change across
        # the end is this pair's step, not what built up since the run began.
        self._close(frame.t_s, pair.t40, False)
        self._start(frame, thumb, min(frame.t_s, max(self.calm_since, run.start_t)), sample)
        # Check the new run on its next frame, to date its start to the frame, unless the
        # last run also drifted before its first check (a slow drift: check as usual).
        if run.checks and self.run is not None:
            self.run.check_in = 1

    def _close(self, end_t: float, jump: float | None, key: bool, pairs: int = 0) -> None:
        run, self.run = self.run, None
        if run is None or run.checks == 0:
            return
        run.pairs += pairs
        self.repeat_pairs += run.pairs
        if end_t - run.start_t < MIN_FREEZE_S:
            return
        run.end_t, run.jump, run.jump_key = end_t, jump, key
        run.anchor = run.anchor_thumb = np.empty(0)  # keep no pictures past the run
        self.awaiting.append(run)
        if len(self.closed) < MAX_RUNS:
            self.closed.append(run)

    # -- the decision ---------------------------------------------------------------------
    def _refresh_level(self, exclude_t: float) -> float | None:
        """The largest keyframe refresh pulse inside this clip's runs, but the one at
        ``exclude_t``; None when there is no other."""
        pulses = [b.pulse for r in self.closed for b in r.boundaries if abs(b.t - exclude_t) > 1e-6]
        return max(pulses) if pulses else None

    def _is_jump(self, t: float, size: float, key: bool, after: list[_Pair]) -> tuple[bool, float]:
        """Whether a change of ``size`` at ``t`` (the first frame after a still picture)
        is a jump: far above the differences of the frames that follow it (the frames
        before it are the run's repeats), and on a keyframe above the clip's refreshes."""
        ratio = size / max(_median(after), JUMP_FLOOR)
        if ratio < JUMP_RATIO:
            return False, ratio
        if key:
            refresh = self._refresh_level(t)
            if refresh is None or size < KEY_RATIO * refresh:
                return False, ratio
        return True, ratio

    def _judge(self, run: _Run) -> None:
        # Keyframes inside the run: refreshes of the picture, or a jump that the encoder
        # happened to code as a keyframe with a still scene after it (d06 at 17.0 s).
        start, before = run.start_t, run.before
        for b in run.boundaries:
            jumped, ratio = self._is_jump(b.t, b.pulse, True, [])
            if jumped:
                self._emit(start, b.t, ratio, run, ["jump"], before, [])
                start, before = b.t, []
        jumped, ratio = (
            self._is_jump(run.end_t, run.jump, run.jump_key, run.after)
            if run.jump is not None
            else (False, 0.0)
        )
        evidence = ["jump"] if jumped else []
        others = max(1, self.pairs - run.pairs)
        camera_still = max(0, self.repeat_pairs - run.pairs) / others
        live_before, live_after = _mean_live(before), _mean_live(run.after)
        if (
            len(before) >= CONTEXT_PAIRS
            and len(run.after) >= CONTEXT_PAIRS
            and min(live_before, live_after) >= LIVE_SHARE
            and camera_still <= CAMERA_STILL_SHARE
        ):
            evidence.insert(0, "repeats_amid_motion")
        self._emit(start, run.end_t, ratio, run, evidence, before, run.after, camera_still)

    def _emit(self, start, end, ratio, run, evidence, before, after, camera_still=None) -> None:
        length = end - start
        if length < MIN_FREEZE_S:
            return
        record = {
            "t_s": round(start, 3),
            "length_s": round(length, 3),
            "jump_ratio": round(ratio, 2),
            "live_before": round(_mean_live(before), 2),
            "live_after": round(_mean_live(after), 2),
            "keyframes_inside": len(run.boundaries),
            "evidence": evidence,
        }
        if camera_still is not None:
            record["camera_still_share"] = round(camera_still, 3)
        if len(self.judged) < 50:
            self.judged.append(record)
        if evidence:
            details = {k: v for k, v in record.items() if k not in ("t_s", "length_s")}
            self.events.append(
                Event(
                    "freeze",
                    start,
                    length_s=length,
                    score=round(ratio, 3),
                    detector=self.name,
                    details=details,
                )
            )

    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        # A run lasting to the end has no frame after it: no jump and no moving camera
        # can be seen after it, so it is judged on what came before only (never (a)).
        if self.run is not None and self.run.open_boundary:
            b = self.run.boundaries.pop()
            self._close(b.t, b.pulse, True, pairs=-1)
        self._close(self.prev_t, None, False)
        for run in self.closed:
            self._judge(run)
        self.events.sort(key=lambda e: e.t_s)
        return Findings(
            self.events,
            FreezeMetrics(
                frozen_s=round(sum(e.length_s or 0 for e in self.events), 3),
                still_runs=len(self.closed),
                longest_still_s=round(
                    max((r.end_t - r.start_t for r in self.closed), default=0.0), 3
                ),
            ),
        )
