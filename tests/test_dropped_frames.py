"""Frames the camera dropped are not an edit and hide no face.

A phone, or a browser's MediaRecorder on a busy machine (issue 15's recordings), drops
frames now and then and says so honestly: the next frame's timestamp is one or more
frame times late. What moved in the missing time is unknown, so a spike there proves no
cut, and a turn across it is filled in at its own angular velocity. Seen before the fix:
the generated clean take with frames dropped mid-turn ended in a ``cut`` (fail) and,
without it, in ``faces_indistinct`` (its last quarter turn measured ~50 degrees).

Judged on the three sources at once against their truth: the generated clean and
five-face takes, the dev set's clean take and its take without the bottom face, and
the real webcam clip (continuous: never a cut). Each is re-encoded with runs of one or
two frames dropped at random (a fifth of the frames start one; timestamps kept), and
must keep its truth: no cut or freeze; the six-face takes never fail and mostly pass
(a review only where the check says it cannot establish the count); the takes with
fewer faces never pass for six.
"""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction
from pathlib import Path

import av
import pytest
from _media import DEVSET, REALDATA, clip

from validator import check

MAX_RUN = 2  # frames dropped in a row (then one is kept): holes of 2-3 frame times
FACTS = {"return": {"signed_at": "2026-10-20T14:00:00+08:00"}}


def dropped(
    src: Path,
    out: Path,
    seed: int,
    share: float,
    hole: tuple[float, float] | None = None,
    jitter: float = 0.0,
) -> Path:
    """``src`` re-encoded (H.264, CRF 18) with runs of frames dropped (each frame after a
    kept one starts a run with chance ``share``), and the frames timed within ``hole``
    (seconds) too; the rest at their own times, each moved by up to ``jitter`` frame
    steps either way (a browser recorder's capture times)."""
    rnd, shift = random.Random(seed), random.Random(-seed)
    with av.open(str(src)) as ic, av.open(str(out), "w") as oc:
        vs = ic.streams.video[0]
        st = None
        skip, last, kept_one = 0, -1, True
        for f in ic.decode(vs):
            if st is None:
                st = oc.add_stream("libx264", rate=round(float(vs.average_rate or 30)))
                st.width, st.height, st.pix_fmt = f.width, f.height, "yuv420p"
                st.codec_context.time_base = Fraction(1, 90000)
                st.options = {"preset": "ultrafast", "crf": "18"}
            t_s = float(f.pts * f.time_base)
            if hole is not None and hole[0] <= t_s < hole[1]:
                continue
            if skip:
                skip -= 1
                kept_one = False
                continue
            if kept_one and rnd.random() < share:
                skip = rnd.randint(0, MAX_RUN - 1)
                kept_one = False
                continue
            kept_one = True
            nf = av.VideoFrame.from_ndarray(f.to_ndarray(format="yuv420p"), format="yuv420p")
            # (its own draws: the frames dropped with a seed stay those of before)
            moved = t_s + shift.uniform(-jitter, jitter) / float(vs.average_rate or 30)
            # Display order; the real clip's times run back by a frame in places.
            last = nf.pts = max(last + 1, round(moved * 90000))
            nf.time_base = Fraction(1, 90000)
            for p in st.encode(nf):
                oc.mux(p)
        assert st is not None
        for p in st.encode():
            oc.mux(p)
    return out


def _source(kind: str, name: str) -> tuple[Path, int]:
    """The clip and its true number of faces shown before the opening."""
    if kind == "generated":
        path, truth = clip(name)
        return path, len(truth["faces"])
    if kind == "devset":
        if not DEVSET.is_dir():
            pytest.skip(f"development set {DEVSET} is absent (expected ../shared/devset)")
        t = json.loads((DEVSET / "truth.json").read_text())["cases"][name]
        return DEVSET / t["file"], len(t["faces_seen"])
    if not REALDATA.is_dir():
        pytest.skip(f"real media folder {REALDATA} is absent (expected ../shared/realdata)")
    return REALDATA / "opencv-doc" / "box.mp4", 1


# (source, clip, seed, share of frames starting a dropped run). Before the fix, the clean
# and stand takes here ended in a cut (fail).
SIX = [
    ("generated", "clean", 3, 0.2),
    ("generated", "clean", 9, 0.2),
    ("generated", "clean", 11, 0.2),
    ("generated", "m-stand-27pct-colour-wood-480p-still-after", 5, 0.2),
    ("devset", "d01_clean", 1, 0.2),
    ("devset", "d02_phone_on_stand", 2, 0.2),
]
FEWER = [
    ("generated", "five-faces", 1, 0.2),
    ("devset", "d07_bottom_not_shown", 1, 0.2),
    ("real", "box", 3, 0.2),
]
PASS_SHARE = 0.8  # of the six-face takes that must pass completeness (the rest: review)


def checked(kind: str, name: str, seed: int, share: float, tmp: Path) -> tuple[dict, int]:
    src, faces_true = _source(kind, name)
    path = dropped(src, tmp / f"{name}-{seed}.mp4", seed, share)
    with av.open(str(path)) as c:
        times = sorted(float(f.pts * f.time_base) for f in c.decode(video=0))
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert max(steps) > 2.5 * min(steps), "the clip should have frames dropped"
    report = check(path, facts=FACTS).to_dict()
    kinds = {e["kind"] for e in report["events"]}
    # Never an edit proven: the timestamps say where frames went missing.
    assert not kinds & {"cut", "freeze"}, report["events"]
    codes = {r["code"] for r in report["requirements"]["completeness"]["reasons"]}
    assert not codes & {"cut_detected", "freeze", "timestamp_gap"}, codes
    return report, faces_true


def test_six_faces_with_frames_dropped_pass_or_at_worst_review(tmp_path: Path) -> None:
    passed = []
    for kind, name, seed, share in SIX:
        if kind == "devset" and not DEVSET.is_dir():
            continue  # the generated takes are still judged (the dev set is in CI)
        report, faces_true = checked(kind, name, seed, share, tmp_path)
        assert faces_true == 6
        completeness = report["requirements"]["completeness"]
        codes = {r["code"] for r in completeness["reasons"]}
        # Never a fail; a review only for a count the check says it cannot establish, or
        # a possible cut across the hole (a person looks).
        assert completeness["verdict"] != "fail", (name, seed, codes)
        if completeness["verdict"] == "review":
            allowed = {"continuous_take", "faces_uncertain", "faces_indistinct", "faces_one_pose",
                       "cut_in_motion"}  # fmt: skip
            assert codes <= allowed, codes
        passed.append(completeness["verdict"] == "pass")
    assert sum(passed) >= PASS_SHARE * len(passed), list(zip(SIX, passed, strict=False))


@pytest.mark.parametrize(
    ("kind", "name", "seed", "share"), FEWER, ids=[f"{k}-{n}" for k, n, _, _ in FEWER]
)
def test_fewer_faces_with_frames_dropped_never_pass_for_six(
    kind: str, name: str, seed: int, share: float, tmp_path: Path
) -> None:
    report, faces_true = checked(kind, name, seed, share, tmp_path)
    assert faces_true < 6
    count = report["faces"]["count"]
    assert count < 6 and report["requirements"]["completeness"]["verdict"] != "pass", count


# Edits with a hole of dropped frames where they join: the hole must hide nothing. (clip,
# the edit's kind in the truth, frames dropped just before it.)
EDITS = [
    ("spliced-take", "cut", 2),  # two takes joined, the join amid motion
    ("removed-segment", "cut", 2),  # a segment cut out: the proof is local matching
    ("removed-segment", "cut", 12),  # a hole too long to judge per frame time
]
# Not here: a freeze pad with a hole at its end. Re-encoding the generated pad (as this
# file drops frames) already loses its exact repeats, hole or not, so it cannot be built
# this way; the freeze detector judges a jump across a hole of at most three dropped
# frames per frame time (a pad's jump measures 15-70 over one step).


@pytest.mark.parametrize(("name", "kind", "frames"), EDITS, ids=[f"{n}-{f}" for n, _, f in EDITS])
def test_an_edit_behind_a_few_dropped_frames_is_never_passed(
    name: str, kind: str, frames: int, tmp_path: Path
) -> None:
    src, truth = clip(name)
    edit = next(e for e in truth["events"] if e["kind"] == kind)
    end = edit["t_s"] + (edit.get("length_s") or 0.0) if kind == "freeze" else edit["t_s"]
    step = 1.0 / truth["fps"]
    hole = (end - (frames + 0.5) * step, end - 0.5 * step)  # the frames just before it
    path = dropped(src, tmp_path / "edit.mp4", 0, 0.0, hole)
    report = check(path, facts=FACTS).to_dict()
    # Found: proven, or (local matching proves nothing across the hole) a possible cut
    # that a person looks at; never a pass.
    found = [e for e in report["events"] if e["kind"] in (kind, "possible_cut", "gap")]
    assert any(abs(e["t_s"] - edit["t_s"]) <= 0.5 for e in found), report["events"]
    assert report["requirements"]["completeness"]["verdict"] != "pass"


# Every frame kept, each timed up to ``JITTER`` frame steps off its place, as Chromium's
# recorder stamps a fake camera's frames (the e2e take: steps of 16-55 ms at 30 fps,
# content one frame each). The times carry no content: the takes keep their truth.
# Seen before the faces detector sampled by frames: frames stamped early were skipped,
# its turns measured over two frames' motion, and the generated clean take with seed 6
# ended in faces_indistinct (a review; another draw of such times counted five faces,
# established: a fail). The dev set's clean take held up either way.
JITTER = 0.35  # steps from 0.3 to 1.7 usual ones: under MISSING_STEP, no frame dropped
JITTERED = [
    ("generated", "clean", 6, 6),
    ("devset", "d01_clean", 1, 6),
    ("generated", "five-faces", 2, 5),
]


@pytest.mark.parametrize(
    ("kind", "name", "seed", "faces"), JITTERED, ids=[f"{k}-{n}" for k, n, _, _ in JITTERED]
)
def test_jittered_frame_times_keep_the_count(
    kind: str, name: str, seed: int, faces: int, tmp_path: Path
) -> None:
    src, faces_true = _source(kind, name)
    assert faces_true == faces
    path = dropped(src, tmp_path / f"{name}-{seed}.mp4", seed, 0.0, jitter=JITTER)
    report = check(path, facts=FACTS).to_dict()
    assert not {e["kind"] for e in report["events"]} & {"cut", "freeze", "gap"}
    completeness = report["requirements"]["completeness"]
    codes = {r["code"] for r in completeness["reasons"]}
    if faces == 6:
        assert completeness["verdict"] == "pass", codes
        assert report["faces"]["count"] == 6
    else:
        assert report["faces"]["count"] < 6 and completeness["verdict"] != "pass", codes
