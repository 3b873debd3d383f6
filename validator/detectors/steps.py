"""Frames the camera dropped: how many usual frame steps two frames lie apart.

A phone, or a browser's MediaRecorder on a busy machine (issue 15's recordings), drops
a frame or a few now and then and says so honestly: the next frame's timestamp comes one
or more frame times late. What moved in the missing time is unknown, so the detectors
that compare neighbouring frames judge a pair across such a hole per frame time: the
cuts detector's spike amid motion, the freeze detector's jump, the faces detector's
turn. Only short holes: a longer one is judged as before (the timeline's gap rule, and
the detectors' own evidence), since an editor may leave a hole too (a trim without
re-timing) and nothing here may hide an edit.
"""

from __future__ import annotations

from collections import deque

import numpy as np

# A step this many usual steps long spans dropped frames: over the per-step jitter of
# phones' variable frame rate (up to 1.6x: ``validator.media.timeline``), under one frame
# dropped (2.0); at 60 fps, where the faces detector samples every other frame, one
# frame dropped is 1.5 sampling steps and is left alone.
MISSING_STEP = 1.75
# ... and at most this many: up to three frames dropped in a row (4.0: a burst of a busy
# recorder), under four (5.0).
MAX_SPANNED = 4.5
KEEP = 61  # the last frame steps the usual one is the median of (two seconds at 30 fps)


class FrameSteps:
    """The usual time between frames, and how many of them a step spans."""

    def __init__(self) -> None:
        self.steps_s: deque[float] = deque(maxlen=KEEP)
        self.last_t_s: float | None = None

    def add(self, t_s: float) -> float | None:
        """Note a frame's time; the step from the latest frame so far (None for the
        first; a frame timed before it, as some real files have, steps nothing)."""
        step = None if self.last_t_s is None else t_s - self.last_t_s
        if step is not None and step > 0:
            self.steps_s.append(step)
        self.last_t_s = t_s if self.last_t_s is None else max(self.last_t_s, t_s)
        return step

    def usual_s(self) -> float | None:
        """The usual time between frames (None until a few steps were seen)."""
        return float(np.median(self.steps_s)) if len(self.steps_s) >= 3 else None

    def spanned(self, step_s: float | None, least_s: float = 0.0) -> float:
        """How many usual steps (at least ``least_s`` each) ``step_s`` spans when a few
        frames were dropped within it (``MISSING_STEP`` to ``MAX_SPANNED`` of them),
        else 1.0: a regular step, or a hole too long to judge per frame time."""
        usual = self.usual_s()
        if step_s is None or usual is None:
            return 1.0
        steps = step_s / max(usual, least_s)
        return steps if MISSING_STEP < steps <= MAX_SPANNED else 1.0
