"""Black frames and a covered lens.

A frame is black (lens covered, camera in a pocket, a black frame inserted by
an editor) when it is both dark and featureless: mean luma under ``BLACK_LUMA``
and a standard deviation under ``FLAT_STD``. A dark but textured scene is a
quality problem (see ``quality.py``), not black. FFmpeg's ``blackdetect``
uses the same idea (pixel threshold and a picture ratio).
"""

from __future__ import annotations

import cv2

from validator.detectors.base import Detector, Findings, Frame, register
from validator.models import Event

BLACK_LUMA = 32.0  # mean luma (0-255); BT.601 black is 16
FLAT_STD = 8.0  # gray levels; a lit table or parcel has far more texture than this
MIN_BLACK_S = 0.2


@register
class BlackDetector(Detector):
    name = "black"

    def __init__(self, media, policy) -> None:
        super().__init__(media, policy)
        self.run_start: float | None = None
        self.last_t = 0.0
        self.step = 1 / 30
        self.events: list[Event] = []
        self.total_s = 0.0

    def _close(self, end_t: float) -> None:
        if self.run_start is not None:
            length = end_t - self.run_start
            if length >= MIN_BLACK_S:
                self.events.append(
                    Event("black", self.run_start, length_s=length, detector=self.name)
                )
                self.total_s += length
        self.run_start = None

    def process(self, frame: Frame) -> None:
        if frame.index:
            self.step = max(1e-3, frame.t_s - self.last_t)
        mean, std = cv2.meanStdDev(frame.gray)
        if float(mean[0, 0]) < BLACK_LUMA and float(std[0, 0]) < FLAT_STD:
            if self.run_start is None:
                self.run_start = frame.t_s
        else:
            self._close(frame.t_s)
        self.last_t = frame.t_s

    def finish(self) -> Findings:
        self._close(self.last_t + self.step)
        return Findings(self.events, {"black_s": round(self.total_s, 3)})
