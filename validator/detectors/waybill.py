"""Waybill codes on camera: which Code 128 / QR codes were read, when, how often.

Reading a 1280 px frame costs 7-10 ms (``validator.waybill.reader``),
so the detector reads a sample of frames: ``waybill.sample_hz`` a second of video
(3 by default: a label held up for one second is read about three times), plus a
frame right after a big change of view (a parcel turned to its label side), at
most one every ``_MIN_CHANGE_GAP_S``. A change is the mean absolute difference of
a 32 px wide thumbnail against the thumbnail at the last read.

The detector knows nothing about the case: ``finish()`` reports every code it
read (``metrics["codes"]``), and the requirements module compares them with the
return's tracking number through ``validator.waybill.verdict_from_metrics``.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, register
from validator.models import Event
from validator.waybill.aggregate import WaybillTracker
from validator.waybill.reader import DEFAULT_FORMATS, scan

if TYPE_CHECKING:
    from validator.media.probe import MediaInfo
    from validator.policy import Policy

HIRES_LONG_SIDE = 1280  # module width ~2 px for a label filling a third of the frame
_THUMB_W = 32
_MAX_CODES = 50  # a report lists at most this many distinct codes (most frames first)


@register
class WaybillDetector(Detector):
    name = "waybill"

    def __init__(self, media: MediaInfo, policy: Policy) -> None:
        super().__init__(media, policy)
        hz = float(policy["waybill.sample_hz"])
        self.period_s = 1.0 / hz if hz > 0 else float("inf")
        # Change-triggered reads keep at least half a period apart: a restless
        # (panning) video then costs at most twice the sampled reads.
        self.min_gap_s = self.period_s / 2
        self.change_luma = float(policy["waybill.change_luma"])
        self.tracker = WaybillTracker()
        self.next_t: float | None = None
        self.last_read_t = float("-inf")
        self.last_thumb: np.ndarray | None = None
        self.read_ms: list[float] = []
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

    def process(self, frame: Frame) -> None:
        thumb = self._thumb(frame.gray)
        due = self.next_t is None or frame.t_s >= self.next_t
        changed = not due and self._changed(thumb, frame.t_s)
        if not (due or changed):
            return
        img = frame.hires(HIRES_LONG_SIDE) if frame.hires is not None else None
        if img is None:  # in-memory frames in tests, or a source without a hires path
            img = frame.gray
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        t0 = time.perf_counter()
        result = scan(img)
        self.read_ms.append((time.perf_counter() - t0) * 1000.0)
        self.tracker.add_scan(frame.t_s, result)
        self.long_side = max(self.long_side, max(img.shape[:2]))
        self.change_reads += int(changed)
        self.last_read_t = frame.t_s
        self.next_t = frame.t_s + self.period_s
        self.last_thumb = thumb

    def finish(self) -> Findings:
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
        metrics: dict[str, Any] = {
            "codes": [c.to_dict() for c in codes[:_MAX_CODES]],
            # when each code was in view, for the faces detector (one label, one face)
            "spans": {c.text: spans[c.text] for c in codes[:_MAX_CODES] if not c.weak},
            "read_together": self.tracker.read_together(),
            "sampled_frames": self.tracker.sampled_frames,
            "change_reads": self.change_reads,
            "unread_frames": self.tracker.unread_frames,
            "read_ms_total": round(sum(self.read_ms), 1),
            "read_ms_median": round(statistics.median(self.read_ms), 2) if self.read_ms else 0.0,
            "read_long_side_px": self.long_side,
            "formats": list(DEFAULT_FORMATS),
        }
        return Findings(events=events, metrics=metrics)
