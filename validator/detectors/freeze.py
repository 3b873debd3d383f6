"""Freezes: the same picture repeated, as an editor pads over a removed part.

A handheld recording never repeats a frame: sensor noise and shake change every
pixel a little. We compare each frame with the previous one at analysis
resolution; a run of frames whose mean absolute difference stays below
``SAME_MEAN`` (and whose largest block difference stays small) is a freeze.
This is the test FFmpeg's ``freezedetect`` filter makes (mean absolute
difference against a noise tolerance), applied to the analysis frames.
"""

from __future__ import annotations

import cv2
import numpy as np

from validator.detectors.base import Detector, Findings, Frame, register
from validator.models import Event

SAME_MEAN = 0.35  # gray levels: decoded repeats differ by re-encoding noise only
SAME_BLOCK = 1.5  # and no 40x30 block may differ by more than this on average
MIN_FREEZE_S = 0.25  # shorter repeats are reported nowhere (a 30 fps phone may dup a frame)


@register
class FreezeDetector(Detector):
    name = "freeze"

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.prev: np.ndarray | None = None
        self.run_start: float | None = None
        self.last_t = 0.0
        self.events: list[Event] = []
        self.total_s = 0.0

    def _close(self, end_t: float) -> None:
        if self.run_start is not None:
            length = end_t - self.run_start
            if length >= MIN_FREEZE_S:
                self.events.append(
                    Event("freeze", self.run_start, length_s=length, detector=self.name)
                )
                self.total_s += length
        self.run_start = None

    def process(self, frame: Frame) -> None:
        g = frame.gray
        if self.prev is not None and self.prev.shape == g.shape:
            diff = cv2.absdiff(g, self.prev)
            same = float(diff.mean()) < SAME_MEAN and (
                float(cv2.resize(diff, (8, 6), interpolation=cv2.INTER_AREA).max()) < SAME_BLOCK
            )
            if same:
                if self.run_start is None:
                    self.run_start = self.last_t  # the repeated picture was first shown here
            else:
                self._close(frame.t_s)
        self.prev = g
        self.last_t = frame.t_s

    def finish(self) -> Findings:
        # A freeze running to the end lasts until the last frame is replaced (one step on).
        self._close(self.last_t)
        return Findings(self.events, {"frozen_s": round(self.total_s, 3)})
