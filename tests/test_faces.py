"""Parcel faces: distinct faces held to the camera before the opening, and when.

Ground truth: the generated variants (``fixtures/``), whose truth lists each face's
first steady hold (``faces[]``: ``first_t_s`` the hold's middle, ``shown_s``) and
how many count (``faces_counted``). In-memory clips test the relations: a face
shown too briefly does not count, a face shown twice counts once.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from fixtures.generate import VARIANTS, build
from validator.analyze import run_detectors
from validator.detectors.base import Frame
from validator.detectors.faces import (
    FaceDetector,
    Hold,
    cluster,
    descriptor,
    different_labels,
    distance,
)
from validator.detectors.waybill import WaybillDetector
from validator.media.probe import probe
from validator.media.source import VideoSource
from validator.policy import load_policy

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("FIXTURE_CACHE", ROOT / ".cache" / "fixtures"))
P = load_policy()
TOL_S = 0.5


@cache
def faces_of(name: str) -> tuple[dict, dict]:
    """The faces detector's metrics on a generated variant, and the variant's truth."""
    if name not in VARIANTS:
        pytest.skip(f"fixture variant {name!r} is not in this checkout's fixtures")
    path, truth = build(name, CACHE)
    media = probe(path, P)
    with VideoSource(path, stream_index=media.video_stream_index) as source:
        # with the waybill detector, whose reads tell labelled faces apart
        detectors = [FaceDetector(media, P), WaybillDetector(media, P)]
        found = run_detectors(source, detectors, duration_s=media.duration_s)
    return found["faces"].metrics, truth


def counted(truth: dict) -> list[dict]:
    """The truth's faces that count: held at least ``min_face_hold_s``."""
    need = P["completeness.min_face_hold_s"]
    return [f for f in truth["faces"] if f["shown_s"] >= need - 1e-6]


FACE_VARIANTS = [
    pytest.param("clean", id="clean"),
    pytest.param("four-faces", id="four-faces"),
    pytest.param("five-faces", id="five-faces"),
    pytest.param("face-too-brief", id="face-too-brief"),
    pytest.param("face-twice", id="face-twice"),
    pytest.param("slow-turning", id="slow-turning"),
    pytest.param("fast-turning", id="fast-turning"),
    pytest.param("portrait-rotated", id="portrait-rotated"),
    pytest.param("vfr", id="vfr"),
    pytest.param("dark", id="dark"),
    pytest.param("two-labels", id="two-labels"),
]


@pytest.mark.parametrize("name", FACE_VARIANTS)
def test_face_count_matches_truth(name):
    m, truth = faces_of(name)
    want = truth.get("faces_counted", len(counted(truth)))
    assert m["count"] == want, f"{name}: {m['shown']} vs truth {truth['faces']}"


@pytest.mark.parametrize("name", FACE_VARIANTS)
def test_each_face_first_shown_at_its_true_time(name):
    m, truth = faces_of(name)
    found = sorted(f["t_s"] for f in m["shown"])
    want = sorted(f["first_t_s"] for f in counted(truth))
    assert len(found) == len(want)
    for got, t in zip(found, want, strict=True):
        assert abs(got - t) <= TOL_S, f"{name}: first shown at {found}, truth {want}"


def test_slow_and_fast_turning_count_the_same():
    slow, _ = faces_of("slow-turning")
    fast, _ = faces_of("fast-turning")
    assert slow["count"] == fast["count"] == 6


# ---------------------------------------------------------------- in-memory clips

FPS = 30
COLOURS = {  # BGR
    "red": (40, 40, 220),
    "blue": (200, 90, 30),
    "green": (60, 170, 50),
    "orange": (30, 140, 240),
    "purple": (150, 40, 120),
    "white": (235, 235, 235),
}


def _table(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 18, (h, w, 1))
    return np.clip(np.array([40, 75, 120]) + noise, 0, 255).astype(np.uint8)


def clip(poses: list[tuple[str, float]], turn_s: float = 0.5) -> list[Frame]:
    """Frames of a parcel face (a coloured card mid-frame) held for each (colour, s),
    with a blur of motion between holds."""
    import cv2

    h, w = 180, 320
    table = _table(h, w)
    frames: list[Frame] = []
    t = 0.0
    seq: list[tuple[str | None, float]] = []
    for i, (colour, length) in enumerate(poses):
        if i:
            seq.append((None, turn_s))
        seq.append((colour, length))
    rng = np.random.default_rng(5)
    for colour, length in seq:
        for _ in range(round(length * FPS)):
            img = table.copy()
            if colour is None:  # mid-turn: an edge-on box sweeping across
                x = int(rng.integers(60, 200))
                img[50:130, x : x + 60] = rng.integers(0, 255, 3)
            else:
                img[45:135, 90:230] = COLOURS[colour]
                img[80:100, 150:170] = 0  # the printed digit
            color = cv2.resize(img, (160, 90), interpolation=cv2.INTER_AREA)
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            frames.append(Frame(len(frames), t, gray, color))
            t = round(t + 1 / FPS, 6)
    return frames


def run(frames: list[Frame]) -> dict:
    d = FaceDetector(None, P)  # type: ignore[arg-type]  # media is not used
    for f in frames:
        d.process(f)
    return d.finish().metrics


def test_descriptor_tells_colours_apart():
    card = {k: np.full((20, 30, 3), v, np.uint8) for k, v in COLOURS.items()}
    same = distance(descriptor(card["red"]), descriptor(card["red"]))
    assert same == pytest.approx(0.0)
    for a in ("red", "blue", "green", "purple", "white"):
        for b in ("red", "blue", "green", "purple", "white"):
            if a != b:
                assert distance(descriptor(card[a]), descriptor(card[b])) > 0.5


def test_every_face_held_counts_once():
    m = run(clip([(c, 1.2) for c in ("white", "red", "blue", "green", "orange", "purple")]))
    assert m["count"] == 6
    assert [round(f["t_s"]) for f in m["shown"]] == [1, 2, 4, 6, 7, 9]


def test_a_face_shown_twice_counts_once():
    m = run(clip([("white", 1.2), ("red", 1.2), ("blue", 1.2), ("red", 1.2), ("green", 1.2)]))
    assert m["count"] == 4
    red = m["shown"][1]
    assert red["holds"] == 2 and red["t_s"] < 3.0  # its first time, not the second


def test_a_glimpse_does_not_count():
    brief = P["completeness.min_face_hold_s"] * 0.6
    m = run(clip([("white", 1.2), ("red", brief), ("blue", 1.2)]))
    assert m["count"] == 2


def test_longer_holds_do_not_add_faces():
    short = run(clip([(c, 0.8) for c in ("white", "red", "blue")]))
    long = run(clip([(c, 3.0) for c in ("white", "red", "blue")]))
    assert short["count"] == long["count"] == 3


def test_cluster_merges_only_close_holds():
    def hold(t, colour):
        img = np.full((20, 30, 3), COLOURS[colour], np.uint8)
        return Hold(t, t + 1, descriptor(img), 10, 0.0)

    holds = [hold(0, "red"), hold(2, "blue"), hold(4, "red"), hold(6, "green")]
    assert cluster(holds) == [[0, 2], [1], [3]]


def _hold(t: float, colour: str) -> Hold:
    return Hold(t, t + 1, descriptor(np.full((20, 30, 3), COLOURS[colour], np.uint8)), 10, 0.0)


def test_holds_with_different_labels_never_merge():
    # two white label faces: alike by colour, told apart by the codes read on them
    holds = [_hold(0, "white"), _hold(2, "red"), _hold(4, "white"), _hold(6, "white")]
    assert cluster(holds) == [[0, 2, 3], [1]]
    assert cluster(holds, apart={(0, 2)}) in ([[0, 3], [1], [2]], [[0], [1], [2, 3]])
    assert len(cluster(holds, apart={(0, 2), (0, 3), (2, 3)})) == 4


def test_labels_read_in_holds_give_the_pairs_apart():
    holds = [_hold(0, "white"), _hold(2, "red"), _hold(4, "white"), _hold(6, "white")]
    spans = {"SF1": [[0.2, 0.9], [6.1, 6.5]], "YT2": [[4.3, 4.8]]}
    # hold 1 read nothing: no constraint; 0 and 3 share SF1
    assert different_labels(holds, spans) == {(0, 2), (2, 3)}
    both = {"SF1": [[0.2, 0.9]], "YT2": [[0.5, 0.6], [4.3, 4.8]]}
    assert different_labels(holds, both) == set()  # hold 0 shows both: one of them is 2's
    # one label with two codes (number and order id), each read alone in a hold: one face
    parts = {"SF1": [[0.2, 0.9], [3.0, 3.1]], "ORDER9": [[4.3, 4.8]]}
    assert different_labels(holds, parts) == {(0, 2), (1, 2)}
    assert different_labels(holds, parts, together=[["ORDER9", "SF1"]]) == set()


def test_no_more_faces_than_a_box_has():
    colours = ["white", "red", "blue", "green", "orange", "purple"]
    holds = [_hold(2 * i, c) for i, c in enumerate(colours)]
    holds.append(Hold(20, 21, 0.5 * (holds[1].desc + holds[2].desc), 10, 0.0))  # in between
    assert len(cluster(holds)) == 7
    merged = cluster(holds, max_clusters=6)
    assert len(merged) == 6
    assert [0] in merged and [3] in merged  # only the look-alikes merged


def test_state_stays_bounded():
    frames = clip([("white", 0.7), ("red", 0.7)] * 20, turn_s=0.3)
    d = FaceDetector(None, P)  # type: ignore[arg-type]
    for f in frames:
        d.process(f)
    # a few numbers per hold, never frames
    assert len(d.holds) <= 40
    assert all(h.desc.size < 64 for h in d.holds)
