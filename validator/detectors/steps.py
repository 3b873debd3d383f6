"""Frames the camera dropped: how many usual frame steps two frames lie apart.

A phone, or a browser's MediaRecorder on a busy machine (issue 15's recordings), drops
frames now and then and says so honestly: the next frame's timestamp comes one or more
frame times late. An editor's cut is the other way round: it re-times the frames it
keeps and leaves no hole. What moved in the missing time is unknown, so the detectors
that compare neighbouring frames judge a pair across dropped frames per frame time:
the cuts detector's spike, the freeze detector's jump, the faces detector's turn.

``MISSING_STEP`` is the midpoint between one usual step (1.0, with jitter of a few per
cent) and one frame dropped (2.0): no threshold near either.
"""

from __future__ import annotations

from collections import deque

import numpy as np

MISSING_STEP = 1.5
KEEP = 61  # the last frame steps the usual one is the median of (two seconds at 30 fps)


class FrameSteps:
    """The usual time between frames, and how many of them a step spans."""

    def __init__(self) -> None:
        self.steps_s: deque[float] = deque(maxlen=KEEP)
        self.last_t_s: float | None = None

    def add(self, t_s: float) -> float | None:
        """Note a frame's time; the step from the previous frame (None for the first)."""
        step = None if self.last_t_s is None else t_s - self.last_t_s
        if step is not None and step > 0:
            self.steps_s.append(step)
        self.last_t_s = t_s
        return step

    def spanned(self, step_s: float | None, least_s: float = 0.0) -> float:
        """How many usual steps (at least ``least_s`` each) ``step_s`` spans when frames
        were dropped within it (over ``MISSING_STEP`` of them), else 1.0."""
        if step_s is None or len(self.steps_s) < 3:
            return 1.0
        usual = max(float(np.median(self.steps_s)), least_s)
        steps = step_s / usual
        return steps if steps > MISSING_STEP else 1.0
