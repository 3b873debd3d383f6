"""Black frames and a covered lens, with the ramps that lead in and out.

A frame is black (lens covered, camera in a pocket, a black frame inserted by
an editor) when it is both dark and featureless: mean luma under ``BLACK_LUMA``
and a standard deviation under ``FLAT_STD``. A dark but textured scene is a
quality problem (see ``quality.py``), not black. FFmpeg's ``blackdetect``
uses the same idea (pixel threshold and a picture ratio).

A hand or a pocket does not cover the lens in one frame: the picture dims over
a few frames before it is black and brightens over a few after (8 frames in
the fixture ``lens-covered``). The frames of those ramps change fast, so the
cut detector may see an abrupt change there. The event carries the ramps'
extent (``ramp_start_s``, ``ramp_end_s``: where the mean luma last stopped
falling before the run and first stopped rising after it) so that the report
can give those edges to the black run (``validator.analyze.absorb_black_edges``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import cv2

from validator.detectors.base import Detector, Findings, Frame, Metrics, register
from validator.models import Event, EventKind, KindReason

BLACK_LUMA = 32.0  # mean luma (0-255); BT.601 black is 16
FLAT_STD = 8.0  # gray levels; a lit table or parcel has far more texture than this
MIN_BLACK_S = 0.2
# A ramp frame is darker (in) or brighter (out) than its neighbour by at least this mean
# luma: the fixture's hand dims the picture by ~10 levels a frame, a 1 s fade by ~3; a
# still or handheld scene drifts by well under this between frames only now and then,
# and the walk stops at the first frame that does not follow the ramp.
RAMP_STEP = 0.5
RAMP_MAX_S = 1.0  # a ramp longer than this is not the lens being covered (a slow fade)


@dataclass
class _Closed:
    """A black run that ended, waiting for the end of its ramp out."""

    start: float
    length: float
    ramp_start: float
    end: float  # the first frame that is not black
    ramp_end: float  # the last frame of the ramp out so far
    luma: float | None  # its mean luma


@dataclass(frozen=True, slots=True)
class BlackMetrics(Metrics):
    black_s: float  # black seconds in all (every run, short ones too)


@register
class BlackDetector(Detector):
    name = "black"
    event_kinds = (
        EventKind(
            "black",
            "Covered / black",
            "遮挡/黑屏",
            "black picture or covered lens (`length_s`)",
            reason=KindReason(
                "black_segment",
                "review",
                "The picture is black or the lens covered for {lengths} s at {times}.",
                "在 {times} 画面全黑或镜头被遮挡 {lengths} 秒。",
                over=lambda p: p.completeness.max_black_s,
            ),
            caption="black",
            rank=60,
        ),
    )

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.run_start: float | None = None
        self.ramp_start: float | None = None
        self.last_t = 0.0
        self.step = 1 / 30
        self.events: list[Event] = []
        self.total_s = 0.0
        # (t, mean luma) of the recent frames, for the ramp before a run (bounded).
        self.recent: deque[tuple[float, float]] = deque(maxlen=64)
        self.rising: _Closed | None = None

    def _ramp_in(self, black_t: float) -> float:
        """Where the dimming before the run began: walk back while each earlier frame
        was brighter by at least ``RAMP_STEP``."""
        start_t, luma = self.recent[-1] if self.recent else (black_t, 0.0)
        for t, m in reversed(list(self.recent)[:-1]):
            if m < luma + RAMP_STEP or black_t - t > RAMP_MAX_S:
                break
            start_t, luma = t, m
        return start_t

    def _close(self, end_t: float, luma: float | None) -> None:
        """The run ended at ``end_t``: the first frame that is not black, of ``luma``."""
        if self.run_start is not None:
            length = end_t - self.run_start
            if length >= MIN_BLACK_S:
                ramp_start = self.ramp_start if self.ramp_start is not None else self.run_start
                self.rising = _Closed(self.run_start, length, ramp_start, end_t, end_t, luma)
            self.run_start = None

    def _emit(self) -> None:
        r, self.rising = self.rising, None
        if r is None:
            return
        self.events.append(
            Event(
                "black",
                r.start,
                length_s=r.length,
                detector=self.name,
                details={
                    "ramp_start_s": round(r.ramp_start, 3),
                    "ramp_end_s": round(r.ramp_end, 3),
                },
            )
        )
        self.total_s += r.length

    def _follow_ramp_out(self, t: float, luma: float) -> None:
        """Extend the closed run's ramp out while the picture keeps brightening."""
        r = self.rising
        if r is None:  # called only while a closed run's ramp is followed
            return
        if r.luma is None or luma < r.luma + RAMP_STEP or t - r.end > RAMP_MAX_S:
            self._emit()
            return
        r.ramp_end, r.luma = t, luma

    def process(self, frame: Frame) -> None:
        if frame.index:
            self.step = max(1e-3, frame.t_s - self.last_t)
        mean, std = cv2.meanStdDev(frame.gray)
        luma = float(mean[0, 0])
        if luma < BLACK_LUMA and float(std[0, 0]) < FLAT_STD:
            if self.rising is not None:  # black again before the last run's ramp ended
                self._emit()
            if self.run_start is None:
                self.run_start = frame.t_s
                self.ramp_start = self._ramp_in(frame.t_s)
        elif self.run_start is not None:
            self._close(frame.t_s, luma)
        elif self.rising is not None:
            self._follow_ramp_out(frame.t_s, luma)
        self.recent.append((frame.t_s, luma))
        self.last_t = frame.t_s

    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        self._close(self.last_t + self.step, None)
        self._emit()
        return Findings(self.events, BlackMetrics(black_s=round(self.total_s, 3)))
