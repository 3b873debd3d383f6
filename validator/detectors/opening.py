"""When the parcel was opened: its appearance changes for good.

Opened boxes show their inside: a large region in the box's own shadow, much
darker than the table around it and than the faces held before, where a sealed
face, lit like the table, has little. The faces detector (``faces.py``)
measures, on each sample, the share of the parcel region darker than its
``DARK_RATIO`` of the table's luma (or of the faces', where darker: a kraft box
on a light table); ``DarkEpisodes`` keeps the spans where that share stays over
``DARK_OPEN`` for ``MIN_DARK_S`` (a few numbers per span, bounded). Measured: the
generated insides at 0.36 of the table, the dev set's at 0.62 of its kraft faces.

``find_opening`` then takes the first dark span after which the parcel never
again looks like a face held before it (no later hold within the faces'
merge distance of an earlier hold): a lid lifted and closed again, or a dark
face, is not an opening; a cut tape, open flaps and the item are. The
opening time is where the last steady pose before that span ended (the knife
and flaps start from there), or the span's start when the parcel was moving.
A video whose first dark span starts within ``START_OPEN_S`` with no hold
before it was already open when recording began.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from validator.detectors.faces import Hold

DARK_OPEN = 0.40  # share of the parcel region that is dark in an opened box
MIN_DARK_S = 0.3  # a dark span shorter than this is a shadow or a turn
LOOKBACK_S = 1.5  # the last steady pose ended at most this long before the inside shows
START_OPEN_S = 1.0  # an inside seen this early, with no face held before, was open already
MAX_EPISODES = 200


@dataclass(frozen=True, slots=True)
class Opening:
    opened_at_s: float | None  # None: no opening seen
    seen_at_s: float | None  # when the inside was first seen
    starts_open: bool


class DarkEpisodes:
    """Spans of samples whose dark share stays at or over ``DARK_OPEN`` (bounded)."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._last = 0.0
        self._spans: list[tuple[float, float]] = []

    def add(self, t_s: float, dark: float) -> None:
        if dark >= DARK_OPEN:
            if self._start is None:
                self._start = t_s
            self._last = t_s
        else:
            self._close()

    def _close(self) -> None:
        start = self._start
        long_enough = start is not None and self._last - start >= MIN_DARK_S - 1e-6
        if start is not None and long_enough and len(self._spans) < MAX_EPISODES:
            self._spans.append((start, self._last))
        self._start = None

    def episodes(self) -> list[tuple[float, float]]:
        self._close()
        return list(self._spans)


def find_opening(
    holds: Sequence[Hold],
    dark_spans: Sequence[tuple[float, float]],
    merge_distance: float,
    distance: Callable[[np.ndarray, np.ndarray], float],
) -> Opening:
    """The first dark span after which no hold looks like one held before it."""
    for start, _end in dark_spans:
        before = [h for h in holds if h.end_s <= start + 1e-6]
        after = [h for h in holds if h.start_s >= start - 1e-6]
        if any(distance(a.desc, b.desc) < merge_distance for a in after for b in before):
            continue  # the parcel came back to a sealed look: not opened yet
        opened = start
        if before and start - before[-1].end_s <= LOOKBACK_S:
            opened = before[-1].end_s
        starts_open = not before and start <= START_OPEN_S
        return Opening(opened, start, starts_open)
    return Opening(None, None, False)
