"""Waybill codes on camera: which Code 128 / QR codes were read, when, how often.

Two kinds of read feed one ``WaybillTracker``:

- **Dense reads while a label is in view.** Up to ``DENSE_HZ`` times a second of
  video the barcode-like regions of the 320 px analysis frame are found
  (``validator.waybill.regions``: edge density and the agreement of edge
  directions, about 1 ms) and read on a crop of the full-resolution frame,
  turned level and upscaled where the modules are thin (``reader.read_region``,
  Code 128, 1-3 ms).
  The label is followed between reads: once a code is read, the next read (a
  search period later) crops the code's own place, sized to the code, without
  a search; a search runs again when that read fails (the label moved or
  turned away). Where a region does not decode three times running, that part
  of the frame waits (0.2, 0.4, ... 1 s) before the next try, so a printed
  stripe pattern or a blurred label costs about a read a second; a search that
  finds nothing readable waits two periods before the next.
- **Whole-frame reads** ``waybill.sample_hz`` times a second, plus one right
  after a big change of view (a 32 px thumbnail's mean absolute difference), at
  1280 px (``reader.scan`` with ``linear_by_regions``: QR codes over the whole
  frame, 1-D codes in OpenCV's barcode regions at any angle; 3-9 ms). They read
  QR codes and the 1-D codes the region finder missed, and they alone count
  undecoded 1-D regions (``unread_frames``), with OpenCV's more selective
  detector. While a label is being followed they wait: its code is read anyway.

Measured (``time.thread_time``, 2 busy cores): on devset d01 upscaled to 1080p
the label is read on 25 frames (every read while it faced the camera) and the
detector costs 17 ms a second of video, against 14 ms for the former
one-read-a-second detector, which read it on 5 frames; on the benchmark's 1080p
clip (a panned texture, no code) 14 ms against 26 ms (the whole-frame 1-D search
it no longer makes). ``benchmarks/bench_check.py`` (2 min): barcode share 3.8%
(it was 7-9%).

The detector knows nothing about the case: ``finish()`` reports every code it
read (``WaybillMetrics.codes``), and the requirements module compares them with the
return's tracking number through ``validator.waybill.verdict``.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, Metrics, register
from validator.models import Event, EventKind
from validator.waybill.aggregate import WaybillTracker
from validator.waybill.reader import DEFAULT_FORMATS, MIN_CODE_PX, CodeRead, read_region, scan
from validator.waybill.regions import CELL_PX, Region, find_regions

if TYPE_CHECKING:
    from validator.media.probe import MediaInfo
    from validator.policy import Policy

HIRES_LONG_SIDE = 1280  # whole-frame reads: module width ~2 px for a label filling a third
FULL_RES = 1 << 15  # ``frame.hires`` of this long side is the decoded frame, unscaled
_THUMB_W = 32
_MAX_CODES = 50  # a report lists at most this many distinct codes (most frames first)
_READ_MS_KEPT = 1000  # read times kept for the median: bounded state on long videos

# Region searches (and dense reads) a second of video: a face held for 1.3 s
# (the quickest holds of the devset) is read 6 times.
DENSE_HZ = 5.0
# A search that found nothing worth reading waits this many periods: a label
# coming into view is still found within 0.4 s, and a clip without one pays half.
_IDLE_PERIODS = 2
# Regions shorter than 24 analysis pixels (6 cells) are not read, whatever the
# resolution: letters and logo strokes measure 8-20 px there (devset, fixtures),
# and at 1080p a waybill code that short has modules under 1.4 px.
_MIN_LENGTH_PX = 24.0
_REGION_READS = 2  # regions read per search while no label is being followed
_SAME_REGION_IOU = 0.3  # bounds overlapping this much are the same region a search later
# Where a region did not decode, that part of the frame waits after the third
# failure running 0.2 s, then 0.4, 0.8, at most 1 s: a stripe pattern or a
# blurred label costs about a read a second, and a label turning into view (its
# first reads fail) is not held back. The wait is kept per 4x4 px cell of the
# analysis frame, not per region: a busy texture breaks into regions that
# differ from one search to the next.
_FREE_TRIES = 3
_BACKOFF_MAX_S = 1.0
# A region 1.5 times the size of the one that failed there is a new view (a label
# turned to the camera or brought closer): it is read at once.
_GROWTH_RESET = 1.5


def _code_region(code: CodeRead, px_per_cell_px: float, found: Region) -> Region:
    """The region of a read code, in analysis pixels: where to read it at the next search.

    ``px_per_cell_px`` turns analysis pixels into the code position's pixels. The
    code's quadrilateral gives its centre, axis and length (start to stop
    pattern); its height is that of the region it was found in, at least a
    quarter of its length (zxing reports the rows it decoded, often a few).
    """
    p = np.asarray(code.position, dtype=np.float64) / px_per_cell_px
    axis = 0.5 * ((p[1] - p[0]) + (p[2] - p[3]))
    length = float(np.hypot(*axis))
    if length <= 0:
        return found
    cx, cy = p.mean(axis=0)
    angle = float(np.arctan2(axis[1], axis[0]))
    height = max(found.height if length < 1.5 * found.length else 0.0, 0.25 * length)
    return Region(float(cx), float(cy), length, height, angle, found.cells)


@dataclass(frozen=True, slots=True)
class WaybillMetrics(Metrics):
    """The codes read (``CodeRead``'s dicts), when each was in view, and the reader's
    own counts and times (``benchmarks/bench_check.py``)."""

    codes: list[dict[str, Any]]
    # when each code was in view, for the faces detector (one label, one face)
    spans: dict[str, Any]
    read_together: list[Any]
    sampled_frames: int
    whole_frames: int
    change_reads: int
    unread_frames: int
    region_searches: int
    region_frames: int
    region_reads: int
    region_hits: int
    region_ms_total: float
    # every barcode millisecond, region searches included
    read_ms_total: float
    read_ms_median: float
    read_long_side_px: int
    formats: list[str]


@register
class WaybillDetector(Detector):
    name = "waybill"
    event_kinds = (
        EventKind(
            "waybill_read",
            "Waybill read",
            "读到运单",
            "a waybill barcode or QR code first read at `t_s`",
            rank=70,
        ),
    )

    def __init__(self, media: MediaInfo, policy: Policy) -> None:
        super().__init__(media, policy)
        hz = policy.waybill.sample_hz
        self.period_s = 1.0 / hz if hz > 0 else float("inf")
        # Change-triggered reads keep at least half a period apart: a restless
        # (panning) video then costs at most twice the sampled reads.
        self.min_gap_s = self.period_s / 2
        self.change_luma = policy.waybill.change_luma
        self.tracker = WaybillTracker()
        self.next_t: float | None = None
        self.last_read_t = float("-inf")
        self.last_thumb: np.ndarray | None = None
        self.next_search_t = float("-inf")
        self.following: Region | None = None  # where a code was read at the last search
        # per analysis cell: failed reads running, when reading may resume, and the
        # size of the region that failed there
        self.fails = np.zeros((0, 0), np.int16)
        self.wait_until = np.zeros((0, 0))
        self.wait_cells = np.zeros((0, 0), np.float32)
        self.read_ms_total = 0.0
        self.read_ms: deque[float] = deque(maxlen=_READ_MS_KEPT)  # the latest, for a median
        self.region_ms = 0.0
        self.searches = 0
        self.region_frames = 0  # searches that found a region worth reading
        self.region_reads = 0  # region crops read
        self.region_hits = 0  # region crops that decoded
        self.change_reads = 0
        self.long_side = 0

    @staticmethod
    def _thumb(gray: np.ndarray) -> np.ndarray:
        h, w = gray.shape[:2]
        th = max(1, round(_THUMB_W * h / max(w, 1)))
        return cv2.resize(gray, (_THUMB_W, th), interpolation=cv2.INTER_AREA).astype(np.float32)

    def _changed(self, thumb: np.ndarray, t_s: float) -> bool:
        last = self.last_thumb
        if last is None or last.shape != thumb.shape or t_s - self.last_read_t < self.min_gap_s:
            return False
        return float(np.abs(thumb - last).mean()) >= self.change_luma

    # -- dense reads of barcode-like regions --------------------------------------------
    def _cells(self, region: Region) -> tuple[slice, slice]:
        """The analysis cells under a region's bounds."""
        x0, y0, x1, y1 = region.bbox()
        ch, cw = self.fails.shape
        cx0, cy0 = max(0, int(x0 // CELL_PX)), max(0, int(y0 // CELL_PX))
        cx1, cy1 = min(cw, int(x1 // CELL_PX) + 1), min(ch, int(y1 // CELL_PX) + 1)
        return slice(cy0, max(cy0 + 1, cy1)), slice(cx0, max(cx0 + 1, cx1))

    def _waiting(self, region: Region, t_s: float) -> bool:
        """Whether reads failed lately where this region lies, on a region of about its size."""
        ch, cw = self.wait_until.shape
        x = min(cw - 1, max(0, int(region.cx // CELL_PX)))
        y = min(ch - 1, max(0, int(region.cy // CELL_PX)))
        if self.wait_until[y, x] <= t_s:
            return False
        return region.cells < _GROWTH_RESET * float(self.wait_cells[y, x])

    def _failed(self, region: Region, t_s: float) -> None:
        cells = self._cells(region)
        n = int(self.fails[cells].max()) + 1
        self.fails[cells] = n
        wait = 0.0 if n < _FREE_TRIES else min(_BACKOFF_MAX_S, 2 ** (n - _FREE_TRIES) / DENSE_HZ)
        self.wait_until[cells] = t_s + wait - 1e-6
        self.wait_cells[cells] = region.cells

    def _search(self, frame: Frame) -> tuple[list[CodeRead], bool]:
        """Find the regions worth reading and read them: (codes, whether any was read)."""
        gray = frame.gray
        t0 = time.perf_counter()
        regions = find_regions(gray)
        self.region_ms += (time.perf_counter() - t0) * 1000.0
        self.searches += 1
        shape = (gray.shape[0] // CELL_PX + 1, gray.shape[1] // CELL_PX + 1)
        if self.fails.shape != shape:
            self.fails = np.zeros(shape, np.int16)
            self.wait_until = np.full(shape, -np.inf)
            self.wait_cells = np.zeros(shape, np.float32)
        # Failures are remembered only where barcode-like regions stay: a place that
        # shows none at this search starts afresh (a label turned to the camera where
        # a letter failed a moment ago is tried at once).
        covered = np.zeros(shape, bool)
        for r in regions:
            covered[self._cells(r)] = True
        self.fails[~covered] = 0
        self.wait_until[~covered] = -np.inf
        following, self.following = self.following, None
        full = gray
        if regions and frame.hires is not None:
            full = frame.hires(FULL_RES)
            if full.ndim == 3:
                full = cv2.cvtColor(full, cv2.COLOR_BGR2GRAY)
        scale = full.shape[1] / gray.shape[1]
        worth = [
            r for r in regions if r.length >= _MIN_LENGTH_PX and r.length * scale >= MIN_CODE_PX
        ]
        self.region_frames += bool(worth)
        due = [r for r in worth if not self._waiting(r, frame.t_s)]
        if following is not None and due:  # the label read a search ago goes first
            best = max(due, key=following.overlap)
            if following.overlap(best) >= _SAME_REGION_IOU:
                due.remove(best)
                due.insert(0, best)
        idle = _IDLE_PERIODS if not worth else 1
        self.next_search_t = frame.t_s + idle / DENSE_HZ - 1e-6
        if not due:
            return [], False
        # positions in the whole-frame reads' pixels, so code sizes compare across both
        out_scale = min(1.0, HIRES_LONG_SIDE / max(full.shape[:2]))
        codes: list[CodeRead] = []
        t1 = time.perf_counter()
        for r in due[:_REGION_READS]:
            got = read_region(full, r, scale, out_scale=out_scale)
            self.region_reads += 1
            if got:
                self.region_hits += 1
                cells = self._cells(r)
                self.fails[cells] = 0
                self.wait_until[cells] = -np.inf
                codes.extend(got)
                self.following = _code_region(got[0], scale * out_scale, r)
                break  # the label is read; other regions wait for a search without one
            self._failed(r, frame.t_s)
        self._timed(t1)
        return codes, True

    def _timed(self, t0: float) -> None:
        ms = (time.perf_counter() - t0) * 1000.0
        self.read_ms_total += ms
        self.read_ms.append(ms)

    # -- whole-frame reads ----------------------------------------------------------------
    def _whole(self, frame: Frame) -> tuple[list[CodeRead], int]:
        img = frame.hires(HIRES_LONG_SIDE) if frame.hires is not None else None
        if img is None:  # in-memory frames in tests, or a source without a hires path
            img = frame.gray
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        t0 = time.perf_counter()
        result = scan(img, linear_by_regions=True)
        self._timed(t0)
        self.long_side = max(self.long_side, max(img.shape[:2]))
        return list(result.codes), result.unread_regions

    def _follow(self, frame: Frame) -> list[CodeRead]:
        """Read the label again where its code was read last, without a search."""
        region, self.following = self.following, None
        if region is None or frame.hires is None:
            return []
        full = frame.hires(FULL_RES)
        if full.ndim == 3:
            full = cv2.cvtColor(full, cv2.COLOR_BGR2GRAY)
        scale = full.shape[1] / frame.gray.shape[1]
        out_scale = min(1.0, HIRES_LONG_SIDE / max(full.shape[:2]))
        t0 = time.perf_counter()
        got = read_region(full, region, scale, out_scale=out_scale)
        self._timed(t0)
        self.region_reads += 1
        if got:
            self.region_hits += 1
            self.following = _code_region(got[0], scale * out_scale, region)
            self.next_search_t = frame.t_s + 1.0 / DENSE_HZ - 1e-6
        return got

    def process(self, frame: Frame) -> None:
        codes: list[CodeRead] = []
        searched = False
        if frame.t_s >= self.next_search_t:
            # while a label is followed its code's last place is read first; a
            # search runs when that fails (the label moved or turned away)
            codes = self._follow(frame)
            searched = bool(codes)
            if not codes:
                codes, searched = self._search(frame)
        thumb = self._thumb(frame.gray)
        due = self.next_t is None or frame.t_s >= self.next_t
        changed = not due and self._changed(thumb, frame.t_s)
        whole = (due or changed) and self.following is None
        unread = 0
        if whole:
            more, unread = self._whole(frame)
            seen = {c.text for c in codes}
            codes.extend(c for c in more if c.text not in seen)
            self.change_reads += int(changed)
            self.last_read_t = frame.t_s
            self.next_t = frame.t_s + self.period_s
            self.last_thumb = thumb
        if searched or whole:
            self.tracker.add(frame.t_s, codes, unread_regions=unread, whole=whole)

    def finish(self, upstream: Mapping[str, Findings] | None = None) -> Findings:
        codes = self.tracker.codes()
        spans = self.tracker.spans()
        events = [
            Event(
                "waybill_read",
                c.first_t_s,
                detector=self.name,
                details={"text": c.text, "format": c.format, "frames": c.frames},
            )
            for c in codes
            if not c.weak
        ]
        metrics = WaybillMetrics(
            codes=[c.to_dict() for c in codes[:_MAX_CODES]],
            spans={c.text: spans[c.text] for c in codes[:_MAX_CODES] if not c.weak},
            read_together=self.tracker.read_together(),
            sampled_frames=self.tracker.sampled_frames,
            whole_frames=self.tracker.whole_frames,
            change_reads=self.change_reads,
            unread_frames=self.tracker.unread_frames,
            region_searches=self.searches,
            region_frames=self.region_frames,
            region_reads=self.region_reads,
            region_hits=self.region_hits,
            region_ms_total=round(self.region_ms, 1),
            read_ms_total=round(self.read_ms_total + self.region_ms, 1),
            read_ms_median=round(statistics.median(self.read_ms), 2) if self.read_ms else 0.0,
            read_long_side_px=self.long_side,
            formats=list(DEFAULT_FORMATS),
        )
        return Findings(events=events, metrics=metrics)
