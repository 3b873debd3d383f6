"""The clock a check reads, in one place: the time of day and a counter for durations.

The report gives how long the check took (``analysis.decode_s``, ``total_s``,
``detector_s``, ``thumbnails_s``) and the prediction gives the instant it was made
(``prediction.now``, which also decides days-left and lateness). Both come from a
``Clock``: ``check`` and ``check_case`` take one, and without one they use
``default()``, the system's clock, unless ``APPEAL_VALIDATOR_FROZEN_CLOCK`` names
an instant (ISO 8601): then the clock stands still there, every duration is 0 and
the same video and case give byte-identical reports in every process that
inherits the variable (the CLI, the service's analysis processes, batch's
workers). Tests and comparisons of runs use it; a deployment never sets it.

Not this clock: the probe's check that a creation time is not in the future (it
is about the device's clock, against the real time) and the time limits (real
time, always).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from validator.timeutil import parse_time

FROZEN_ENV = "APPEAL_VALIDATOR_FROZEN_CLOCK"


@dataclass(frozen=True)
class Clock:
    """``now()``: an aware datetime; ``counter()``: seconds that only go forward."""

    now: Callable[[], datetime]
    counter: Callable[[], float]

    @classmethod
    def frozen(cls, at: datetime) -> Clock:
        """A clock standing still at ``at`` (naive = Asia/Shanghai): durations are 0."""
        if at.tzinfo is None:
            at = parse_time(at.isoformat())
        return cls(now=lambda: at, counter=lambda: 0.0)


SYSTEM = Clock(now=lambda: datetime.now(UTC), counter=time.perf_counter)


def default() -> Clock:
    """The system's clock, or the frozen one ``APPEAL_VALIDATOR_FROZEN_CLOCK`` names."""
    at = os.environ.get(FROZEN_ENV, "").strip()
    return Clock.frozen(parse_time(at, field=FROZEN_ENV)) if at else SYSTEM
