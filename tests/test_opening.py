"""The opening: when the parcel's look changes for good, and videos that start open.

The detector sees the opening when the flaps show the dark inside; the truth's
``opened_at_s`` is the first frame with the tape slit, which comes ``cut`` s
(0.6-0.8 s in the fixtures) before the flaps move. The bound tested is the
honest one: not before the seal is broken, and at most ``TOL_S`` after the
flaps start to open (see the report note on the slit).
The variants' face metrics are conftest.py's ``face_metrics``: one decode per variant
per run, shared with the face tests.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from validator import requirements as req
from validator.detectors.faces import FaceMetrics, Hold, descriptor, distance
from validator.detectors.opening import DarkEpisodes, find_opening
from validator.policy import load_policy

P = load_policy()
TOL_S = 0.5
MERGE = 0.30


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, id=n)
        for n in (
            "clean",
            "four-faces",
            "five-faces",
            "face-too-brief",
            "face-twice",
            "slow-turning",
            "fast-turning",
            "dark",
        )
    ],
)
def test_opening_between_seal_cut_and_flaps(face_metrics, name):
    m, truth = face_metrics(name)
    assert not m.starts_open
    cut, flaps = truth["opening"]["seal_cut_s"], truth["opening"]["flaps_open_s"]
    assert m.opened_at_s is not None, f"{name}: no opening found"
    assert cut - 1e-6 <= m.opened_at_s <= flaps + TOL_S, (name, m.opened_at_s, cut, flaps)
    # every counted face was first shown before it
    assert all(f["t_s"] < m.opened_at_s for f in m.shown)


def test_video_that_starts_open_is_flagged(face_metrics):
    m, truth = face_metrics("already-open")
    assert truth["starts_open"] is True
    assert m.starts_open is True
    assert m.count == 0
    r = req.completeness(20.0, [], P, faces=m)
    assert r.verdict == "fail"
    assert {"starts_opened", "faces_missing"} <= {x.code for x in r.reasons}


def _hold(t: float, colour: tuple[int, int, int], dark: float = 0.0) -> Hold:
    img = np.full((20, 30, 3), colour, np.uint8)
    return Hold(t, t + 1.0, descriptor(img), 10, dark)


KRAFT, RED, INSIDE = (90, 140, 190), (40, 40, 220), (15, 15, 15)


def test_dark_span_after_which_the_parcel_looks_new_is_the_opening():
    holds = [_hold(0, KRAFT), _hold(2, RED), _hold(4, KRAFT), _hold(6.5, INSIDE, 0.9)]
    o = find_opening(holds, [(6.2, 7.5)], MERGE, distance)
    assert o.opened_at_s == pytest.approx(5.0)  # where the last sealed pose ended
    assert o.seen_at_s == pytest.approx(6.2)
    assert not o.starts_open


def test_a_dark_moment_followed_by_a_face_seen_before_is_not_the_opening():
    # a shadow (or a dark face) at 3 s, then the kraft top again: not opened yet
    holds = [_hold(0, KRAFT), _hold(1.5, RED), _hold(4, KRAFT), _hold(6.5, INSIDE, 0.9)]
    o = find_opening(holds, [(3.0, 3.5), (6.2, 7.5)], MERGE, distance)
    assert o.seen_at_s == pytest.approx(6.2)


def test_no_dark_span_means_no_opening_seen():
    o = find_opening([_hold(0, KRAFT)], [], MERGE, distance)
    assert o.opened_at_s is None and not o.starts_open


def test_dark_from_the_first_second_starts_open():
    o = find_opening([_hold(0.2, INSIDE, 0.9), _hold(2, RED)], [(0.0, 1.5)], MERGE, distance)
    assert o.starts_open and o.opened_at_s == 0.0


def test_dark_episodes_ignore_short_spans():
    d = DarkEpisodes()
    for i in range(40):
        t = i / 10
        d.add(t, 0.9 if 1.0 <= t < 1.2 or 2.0 <= t < 3.0 else 0.0)
    assert d.episodes() == [(2.0, pytest.approx(2.9))]


FACES6 = FaceMetrics(
    count=6,
    shown=[{"face": i, "t_s": float(i)} for i in range(1, 7)],
    opened_at_s=10.0,
    opening_t_s=10.2,
    starts_open=False,
)


def codes(r):
    return [x.code for x in r.reasons]


def test_six_faces_pass_and_fewer_fail():
    assert req.completeness(20, [], P, faces=FACES6).verdict == "pass"
    assert "faces_all_shown" in codes(req.completeness(20, [], P, faces=FACES6))
    four = replace(FACES6, count=4, shown=FACES6.shown[:4])
    r = req.completeness(20, [], P, faces=four)
    assert r.verdict == "fail"
    missing = next(x for x in r.reasons if x.code == "faces_missing")
    assert missing.at_s == (1.0, 2.0, 3.0, 4.0)
    assert "4 of 6" in missing.message_en


def test_opening_not_seen_needs_review():
    r = req.completeness(20, [], P, faces=replace(FACES6, opened_at_s=None, opening_t_s=None))
    assert r.verdict == "review"
    assert "opening_not_seen" in codes(r)


def test_label_read_only_after_the_opening_needs_review():
    r = req.completeness(20, [], P, faces=FACES6, label_first_s=12.0)
    assert r.verdict == "review"
    assert "label_after_opening" in codes(r)
    assert req.completeness(20, [], P, faces=FACES6, label_first_s=0.5).verdict == "pass"


def test_without_the_faces_detector_completeness_is_continuity_only():
    assert codes(req.completeness(20, [], P)) == ["continuous_take"]
