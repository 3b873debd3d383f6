"""The packet timeline of a video: timestamps only, by demuxing (no decoding).

``read_timeline`` demuxes the primary video stream and one audio stream once and
keeps, per stream, numpy float64 arrays of presentation times (and audio packet
durations, key-frame times) -- nothing else per packet. Times are seconds
relative to the first displayed video frame, so a start offset or an edit-list
shift is not a gap. Video PTS are sorted because B-frames arrive in decode order;
packets the demuxer marks as discard (pre-roll before an edit list start) are
counted but not displayed.

``find_gaps`` reports holes in that timeline as ``Event(kind="gap" | "short_gaps" |
"audio_gap")``:

* a step between two consecutive displayed frames is a gap when it exceeds what
  the stream's own rhythm explains: ``step > max(K * median_step, floor)`` with
  ``K = 4`` (phones vary each step 0.6x-1.6x of nominal, so 4x is never jitter)
  and ``floor = min(0.25 s, policy completeness.max_gap_s)`` (the floor keeps
  high-frame-rate capture, where 4 steps are ~17 ms, from reporting noise, and
  is never above the policy's own limit. For streams under ~8 fps the 4x rule
  itself exceeds 0.5 s, so a hole of one or two frame steps there goes
  unreported: the price of not calling a low frame rate a gap).
* audio: a hole between one packet's end and the next packet's start over the
  same floor is an ``audio_gap``. The packet's length is capped at the median
  packet length, because MP4 cannot store a hole in audio: the muxer writes it
  as one long ``stts`` sample duration of the packet before.
* ``t_s`` is the time of the last frame (audio: packet start) **before** the
  hole; ``length_s`` is the missing time: the step minus one normal step (audio:
  the next start minus the end of the packet before).
* a ``time_restart`` is where the video's decode times (DTS) run back by more than
  ``RESTART_S``: a camera's clock never does, a file joined from recordings without
  re-timing does (each part starts at its own time). ``t_s`` is the latest display time
  read before it; the display times are sorted, so no gap is seen there.
* gaps each within ``completeness.max_gap_s`` prove no pause one by one; two or more
  that together miss ``max_gap_s`` or more add one ``short_gaps`` event at the first
  (``count``, ``total_s`` in details), and only the first ``SHORT_GAPS_KEPT`` are listed.
* slow-motion capture stored time-stretched (Android ``com.android.capture.fps``
  above the stored rate) runs media time slower than real time by
  ``capture_fps / fps``; the test and ``length_s`` use real time there, and
  ``details`` keep the media-time step.

The verdict compares ``length_s`` with ``completeness.max_gap_s``; this module
only reports. ``keyframe_off_grid`` lists key frames that break the stream's
regular GOP (a free hint of a splice; not an event by itself).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import av
import av.error
import numpy as np

from validator.media.container import open_input
from validator.models import Event, EventKind, KindReason

if TYPE_CHECKING:
    from validator.policy import Policy

GAP_K = 4.0
GAP_FLOOR_S = 0.25
# Decode times (DTS) that run back by more than this start the stream's clock again: a
# camera's own clock never runs back (a frame reordered for B-frames moves by a few frame
# steps at most, and DTS are in decode order anyway). Files joined without re-timing (MPEG-TS
# segments concatenated, ``ffmpeg -c copy`` of two takes) restart at their own start time.
RESTART_S = GAP_FLOOR_S
VFR_TOLERANCE = 0.05  # steps spread more than 5 % of the median step -> variable frame rate
SLOW_MOTION_MIN_RATIO = 1.5  # capture fps / stored fps above this is time-stretched capture
_LIST_CAP = 200  # lists in to_dict() stay short
# Gaps within max_gap_s reported one by one, at most: a file with a short hole after every
# other frame gave 1499 ``gap`` events (575 KB of report.json); ``short_gaps`` counts them all.
# Well under the report's 20 thumbnails (``report.thumbnails.MAX_EVENTS``), which a later
# cut or freeze still needs.
SHORT_GAPS_KEPT = 5

EVENT_KINDS = (
    EventKind(
        "gap",
        "Gap",
        "时间断档",
        "a hole in the video timestamps beyond the stream's own rhythm",
        reason=KindReason(
            "timestamp_gap",
            "fail",
            "The video timestamps jump at {times} ({lengths} s missing): the recording was "
            "paused or cut.",
            "视频时间戳在 {times} 处断档（缺失 {lengths} 秒）：录制曾暂停或被剪辑。",
            over=lambda p: p.completeness.max_gap_s,
        ),
        caption="gap",
        rank=20,
    ),
    EventKind(
        "short_gaps",
        "Short gaps add up",
        "多处短断档",
        "holes in the video timestamps each within `completeness.max_gap_s` that together "
        "miss at least as much (`count`, `total_s` in details; at the first of them)",
        reason=KindReason(
            "timestamp_gaps_add_up",
            "review",
            "The video timestamps skip {count} short holes from {times} ({total} s missing "
            "in all, each under {each} s): frames were dropped or the recording stuttered. "
            "Watch those moments.",
            "视频时间戳自 {times} 起有 {count} 处短断档（共缺失 {total} 秒，每处不足 {each} 秒）："
            "丢帧或录制卡顿。请人工查看这些时刻。",
            fields=lambda evs: {
                "times": ", ".join(f"{e.t_s:.1f} s" for e in evs),
                "count": sum(e.details["count"] for e in evs),
                "total": f"{sum(e.details['total_s'] for e in evs):.1f}",
                "each": f"{evs[0].details['each_under_s']:g}",
            },
        ),
        rank=23,
    ),
    EventKind(
        "audio_gap",
        "Audio gap",
        "音频断档",
        "the same in the audio timestamps",
        reason=KindReason(
            "audio_gap",
            "fail",
            "The audio timestamps jump at {times} ({lengths} s missing).",
            "音频时间戳在 {times} 处断档（缺失 {lengths} 秒）。",
            over=lambda p: p.completeness.max_gap_s,
        ),
        rank=21,
    ),
    EventKind(
        "time_restart",
        "Clock restarts",
        "时间戳重新开始",
        "the video timestamps run back (`back_s` in details): recordings joined",
        reason=KindReason(
            "timestamps_restart",
            "fail",
            "The video timestamps start again after {times}: the file joins recordings "
            "(or a paused recording was resumed).",
            "视频时间戳在 {times} 之后重新开始：文件由多段录像拼接而成（或录制曾暂停后继续）。",
        ),
        caption="restart",
        rank=22,
    ),
)


class Gap(NamedTuple):
    """A hole between two timestamps (seconds; ``length_s`` in real time)."""

    t_s: float  # last frame / packet start before the hole
    next_s: float  # first one after it
    length_s: float  # missing time
    step_s: float  # the media-time step that held the hole


def nominal_step(times_s: np.ndarray) -> float | None:
    """Median step of sorted times (None with fewer than two distinct times)."""
    t = np.unique(np.asarray(times_s, dtype=np.float64))
    if t.size < 2:
        return None
    steps = np.diff(t)
    # With fewer than three steps the median is one of them, possibly the hole.
    return float(np.median(steps)) if steps.size >= 3 else float(steps.min())


def find_gaps_in_times(
    times_s: np.ndarray,
    *,
    floor_s: float = GAP_FLOOR_S,
    k: float = GAP_K,
    durations_s: np.ndarray | None = None,
    time_scale: float = 1.0,
) -> list[Gap]:
    """Holes in a timestamp array (the pure core of ``find_gaps``; see module docstring).

    ``times_s`` need not be sorted (B-frame order); duplicates are ignored.
    Without ``durations_s`` (video) a step is a gap when it exceeds
    ``max(k * median step, floor_s)``; with ``durations_s`` (audio, aligned with
    ``times_s``) a hole between a packet's end and the next start over
    ``floor_s`` is a gap, each packet's length capped at the median length.
    ``time_scale`` > 1 divides media time to get real time (slow motion).
    """
    t = np.asarray(times_s, dtype=np.float64)
    if t.size < 2:
        return []
    order = np.argsort(t, kind="stable")
    t = t[order]
    d = None if durations_s is None else np.asarray(durations_s, dtype=np.float64)[order]
    keep = np.concatenate(([True], np.diff(t) > 0))
    t = t[keep]
    if d is not None:
        d = d[keep]
    if t.size < 2:
        return []
    steps = np.diff(t)
    m = float(np.median(steps)) if steps.size >= 3 else float(steps.min())
    scale = max(float(time_scale), 1.0)
    if d is not None:
        # Audio: the hole is the next start minus this packet's end. A packet's
        # own length is capped at the median packet length: MP4 cannot store a
        # hole in audio, it stores it as one long stts sample duration instead.
        pos = d[d > 0]
        typical = float(np.median(pos)) if pos.size else m
        own = np.where(d[:-1] > 0, d[:-1], typical)
        expected = np.minimum(own, typical)
        missing = (steps - expected) / scale
        idx = np.flatnonzero(missing > floor_s)
    else:
        # Video: a step is a hole only beyond the stream's own rhythm.
        threshold = max(k * m, floor_s * scale)  # in media time
        missing = (steps - m) / scale
        idx = np.flatnonzero(steps > threshold)
    return [
        Gap(float(t[i]), float(t[i + 1]), float(missing[i]), float(steps[i]))
        for i in idx
        if missing[i] > 0
    ]


def keyframes_off_grid(
    times_s: np.ndarray, key_times_s: np.ndarray, *, min_keys: int = 3
) -> list[float]:
    """Key frames that break the stream's regular GOP, as times.

    The grid is the median distance between key frames, in frames and in
    seconds. A key frame is off the grid when its distance from the previous
    one differs from the grid by more than one frame (and 10 %) *and* by more
    than two frame steps in time (so VFR does not trigger it). Needs at least
    ``min_keys`` key frames; encoders that place key frames at scene changes
    (x264 default) give hints that mean nothing.
    """
    t = np.unique(np.asarray(times_s, dtype=np.float64))
    k = np.unique(np.asarray(key_times_s, dtype=np.float64))
    if k.size < max(min_keys, 3) or t.size < 3:
        return []
    idx = np.searchsorted(t, k)
    di = np.diff(idx).astype(np.float64)
    dt = np.diff(k)
    g_frames = float(np.median(di))
    g_time = float(np.median(dt))
    step = float(np.median(np.diff(t)))
    if g_frames < 2:
        return []  # all-intra or nearly: there is no grid to leave
    off_frames = np.abs(di - g_frames) > max(1.0, 0.1 * g_frames)
    off_time = np.abs(dt - g_time) > max(2.0 * step, 0.1 * g_time)
    return [float(x) for x in k[1:][off_frames & off_time]]


@dataclass(slots=True)
class StreamTimeline:
    """Timestamps of one stream, seconds relative to the first displayed video frame."""

    kind: str
    index: int
    time_base: float  # seconds per tick: the resolution of every time here
    pts_s: np.ndarray  # sorted display times of the packets kept
    key_s: np.ndarray  # sorted key-frame times
    dur_s: np.ndarray | None = None  # audio: packet durations aligned with pts_s
    packets: int = 0  # packets with data, including discarded ones
    discarded: int = 0  # pre-roll packets the demuxer marks as not displayed
    missing_pts: int = 0  # packets without pts (dts used instead)
    no_timestamp: int = 0  # packets with neither (dropped)
    non_monotonic_dts: int = 0
    duplicate_pts: int = 0
    pts_in_read_order: bool = True  # each packet's pts above the one read before it
    # Where the clock started again (``RESTART_S``): the latest display time read before
    # the packet whose DTS ran back (seconds from the first frame), and how far it ran back.
    restarts: tuple[tuple[float, float], ...] = ()

    @property
    def count(self) -> int:
        return int(self.pts_s.size)

    @property
    def nominal_step_s(self) -> float | None:
        if self.dur_s is not None and self.dur_s.size and np.any(self.dur_s > 0):
            return float(np.median(self.dur_s[self.dur_s > 0]))
        return nominal_step(self.pts_s)

    @property
    def start_s(self) -> float | None:
        return float(self.pts_s[0]) if self.pts_s.size else None

    @property
    def end_s(self) -> float | None:
        """End of the last frame / packet (its start plus its length or one step)."""
        if not self.pts_s.size:
            return None
        if self.dur_s is not None and self.dur_s.size:
            return float(np.max(self.pts_s + np.maximum(self.dur_s, 0.0)))
        return float(self.pts_s[-1]) + (self.nominal_step_s or 0.0)

    def to_dict(self) -> dict[str, Any]:
        step = self.nominal_step_s
        return {
            "stream_index": self.index,
            "packets": self.packets,
            "count": self.count,
            "start_s": _r(self.start_s),
            "end_s": _r(self.end_s),
            "nominal_step_s": _r(step, 6),
            "keyframes": int(self.key_s.size),
            "discarded": self.discarded,
            "missing_pts": self.missing_pts,
            "no_timestamp": self.no_timestamp,
            "non_monotonic_dts": self.non_monotonic_dts,
            "duplicate_pts": self.duplicate_pts,
            "restarts": [{"t_s": _r(t), "back_s": _r(b)} for t, b in self.restarts[:_LIST_CAP]],
        }


@dataclass(slots=True)
class Timeline:
    """Video (and audio) packet timelines of one file; see the module docstring."""

    origin_s: float  # absolute media time of the first displayed video frame
    video: StreamTimeline
    audio: StreamTimeline | None = None
    capture_fps: float | None = None
    demux_error: str | None = None
    keyframe_off_grid: list[float] = field(default_factory=list)

    @property
    def frame_count(self) -> int:
        return self.video.count

    @property
    def span_s(self) -> float:
        """First to last displayed frame (seconds)."""
        return float(self.video.pts_s[-1] - self.video.pts_s[0]) if self.video.count else 0.0

    @property
    def fps_measured(self) -> float | None:
        """(frames - 1) / span: the rate the timestamps actually have."""
        n = self.video.count
        return (n - 1) / self.span_s if n >= 2 and self.span_s > 0 else None

    @property
    def vfr(self) -> bool:
        """True when frame steps vary by more than ``VFR_TOLERANCE`` of the median step.

        Uses the 10th-90th percentile spread, and never less than 1.5 ticks of
        the stream's time base (a 1/600 time base cannot hold 29.97 fps evenly).
        """
        t = np.unique(self.video.pts_s)
        if t.size < 4:
            return False
        steps = np.diff(t)
        m = float(np.median(steps))
        lo, hi = np.percentile(steps, [10, 90])
        return float(hi - lo) > max(VFR_TOLERANCE * m, 1.5 * self.video.time_base)

    @property
    def slow_motion_factor(self) -> float:
        """capture_fps / stored fps when the capture was time-stretched, else 1."""
        step = self.video.nominal_step_s
        if not self.capture_fps or not step:
            return 1.0
        ratio = self.capture_fps * step
        return ratio if ratio > SLOW_MOTION_MIN_RATIO else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin_s": _r(self.origin_s, 6),
            "frame_count": self.frame_count,
            "span_s": _r(self.span_s),
            "fps_measured": _r(self.fps_measured),
            "vfr": self.vfr,
            "capture_fps": self.capture_fps,
            "slow_motion_factor": _r(self.slow_motion_factor),
            "video": self.video.to_dict(),
            "audio": None if self.audio is None else self.audio.to_dict(),
            "keyframe_off_grid": [_r(x) for x in self.keyframe_off_grid[:_LIST_CAP]],
            "demux_error": self.demux_error,
        }


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


class _Acc:
    """Per-stream accumulator: compact int64 arrays, never per-packet objects."""

    def __init__(self) -> None:
        self.pts = array("q")
        self.dur = array("q")
        self.key = array("q")
        self.packets = 0
        self.discarded = 0
        self.missing_pts = 0
        self.no_ts = 0
        self.non_mono = 0
        self.last_dts: int | None = None
        self.max_pts: int | None = None  # the latest display time read so far
        self.restarts: list[tuple[int, int]] = []  # (max_pts before, ticks run back)


def read_timeline(
    path: str | Path,
    video_index: int,
    audio_index: int | None = None,
    *,
    capture_fps: float | None = None,
) -> Timeline:
    """Demux ``path`` once (packets only) and build its ``Timeline``.

    A demuxing error part-way keeps what was read and sets ``demux_error``;
    opening errors propagate (``probe`` translates them).
    """
    accs: dict[int, _Acc] = {video_index: _Acc()}
    if audio_index is not None:
        accs[audio_index] = _Acc()
    demux_error: str | None = None
    with open_input(path, metadata_errors="replace") as container:
        streams = [container.streams[i] for i in accs]
        tbs = {s.index: float(s.time_base) if s.time_base else 0.0 for s in streams}
        try:
            for pkt in container.demux(streams):
                if pkt.size == 0:
                    continue  # the flush packet at the end of each stream
                acc = accs[pkt.stream.index]
                acc.packets += 1
                pts, dts = pkt.pts, pkt.dts
                if dts is not None:
                    if acc.last_dts is not None and dts <= acc.last_dts:
                        acc.non_mono += 1
                        back = acc.last_dts - dts
                        tb = tbs[pkt.stream.index]
                        if acc.max_pts is not None and back * tb > RESTART_S:
                            acc.restarts.append((acc.max_pts, back))
                    acc.last_dts = dts
                if pts is None:
                    if dts is None:
                        acc.no_ts += 1
                        continue
                    acc.missing_pts += 1
                    pts = dts
                if pkt.is_discard:
                    acc.discarded += 1
                    continue
                acc.pts.append(pts)
                acc.max_pts = pts if acc.max_pts is None else max(acc.max_pts, pts)
                acc.dur.append(pkt.duration or 0)
                if pkt.is_keyframe:
                    acc.key.append(pts)
        except (av.error.FFmpegError, OSError, ValueError) as e:  # PyAV also raises ValueError
            demux_error = f"{type(e).__name__}: {e}"

    def seconds(a: array, tb: float) -> np.ndarray:
        return np.frombuffer(a, dtype=np.int64).astype(np.float64) * tb if len(a) else np.empty(0)

    va = accs[video_index]
    vtb = tbs[video_index]
    vpts = seconds(va.pts, vtb)
    origin = float(vpts.min()) if vpts.size else 0.0

    def build(kind: str, index: int, with_dur: bool) -> StreamTimeline:
        a = accs[index]
        tb = tbs[index]
        pts = seconds(a.pts, tb) - origin
        order = np.argsort(pts, kind="stable")
        pts = pts[order]
        dur = seconds(a.dur, tb)[order] if with_dur else None
        keys = np.sort(seconds(a.key, tb) - origin)
        dup = int(np.count_nonzero(np.diff(pts) == 0)) if pts.size > 1 else 0
        read = np.frombuffer(a.pts, dtype=np.int64) if len(a.pts) else np.empty(0, np.int64)
        return StreamTimeline(
            kind=kind,
            index=index,
            time_base=tb,
            pts_s=pts,
            key_s=keys,
            dur_s=dur,
            packets=a.packets,
            discarded=a.discarded,
            missing_pts=a.missing_pts,
            no_timestamp=a.no_ts,
            non_monotonic_dts=a.non_mono,
            duplicate_pts=dup,
            pts_in_read_order=bool(np.all(np.diff(read) > 0)),
            restarts=tuple((t * tb - origin, b * tb) for t, b in a.restarts),
        )

    video = build("video", video_index, with_dur=False)
    audio = build("audio", audio_index, with_dur=True) if audio_index is not None else None
    return Timeline(
        origin_s=origin,
        video=video,
        audio=audio,
        capture_fps=capture_fps,
        demux_error=demux_error,
        keyframe_off_grid=keyframes_off_grid(video.pts_s, video.key_s),
    )


def _short_gaps(gaps: list[Event], max_gap_s: float) -> list[Event]:
    """The gaps each within ``max_gap_s`` (kept as they are, the first ``SHORT_GAPS_KEPT``
    of them), and a ``short_gaps`` event when together they miss ``max_gap_s`` or more:
    one such hole is no proof of a pause, but several that add up to one hide as much.
    (None of the generated, dev set or real clips has two holes over 0.1 s; a phone's
    slow-motion clip has one of 0.29 s.)"""
    total = sum(g.length_s or 0.0 for g in gaps)
    out = gaps[:SHORT_GAPS_KEPT]
    if len(gaps) >= 2 and total >= max_gap_s:
        details = {"count": len(gaps), "total_s": round(total, 3), "each_under_s": max_gap_s}
        # No length: the holes are spread out, not one span from the first of them.
        out.append(Event("short_gaps", gaps[0].t_s, detector="timeline", details=details))
    return out


def find_gaps(timeline: Timeline, policy: Policy) -> list[Event]:
    """Video ``gap``, ``short_gaps``, ``time_restart`` and ``audio_gap`` events (the module
    docstring)."""
    floor = min(GAP_FLOOR_S, policy.completeness.max_gap_s)
    events: list[Event] = []
    v = timeline.video
    vstep = v.nominal_step_s
    scale = timeline.slow_motion_factor
    for t, back in v.restarts:
        events.append(
            Event("time_restart", t, detector="timeline", details={"back_s": round(back, 3)})
        )
    short: list[Event] = []  # gaps each within max_gap_s
    for g in find_gaps_in_times(v.pts_s, floor_s=floor, time_scale=scale):
        details: dict[str, Any] = {
            "next_s": round(g.next_s, 3),
            "step_s": round(g.step_s, 4),
            "nominal_step_s": None if vstep is None else round(vstep, 4),
        }
        if scale != 1.0:
            details["slow_motion_factor"] = round(scale, 3)
        gap = Event("gap", g.t_s, g.length_s, detector="timeline", details=details)
        (events if g.length_s > policy.completeness.max_gap_s else short).append(gap)
    events += _short_gaps(short, policy.completeness.max_gap_s)
    a = timeline.audio
    if a is not None and a.count >= 2:
        astep = a.nominal_step_s
        for g in find_gaps_in_times(a.pts_s, floor_s=floor, durations_s=a.dur_s):
            events.append(
                Event(
                    "audio_gap",
                    g.t_s,
                    g.length_s,
                    detector="timeline",
                    details={
                        "next_s": round(g.next_s, 3),
                        "step_s": round(g.step_s, 4),
                        "nominal_step_s": None if astep is None else round(astep, 4),
                    },
                )
            )
    events.sort(key=lambda e: (e.t_s, e.kind))
    return events
