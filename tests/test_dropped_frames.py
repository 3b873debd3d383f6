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
import random
from fractions import Fraction
from pathlib import Path

import av
import pytest
from _media import DEVSET, REALDATA, clip

from validator import check

MAX_RUN = 2  # frames dropped in a row (a run may follow a run: up to 0.3 s went missing)
FACTS = {"return": {"signed_at": "2026-10-20T14:00:00+08:00"}}


def dropped(src: Path, out: Path, seed: int, share: float) -> Path:
    """``src`` re-encoded (H.264, CRF 18) with runs of frames dropped (each frame starts
    one with chance ``share``), the rest at their own times."""
    rnd = random.Random(seed)
    with av.open(str(src)) as ic, av.open(str(out), "w") as oc:
        vs = ic.streams.video[0]
        st = None
        skip, last = 0, -1
        for f in ic.decode(vs):
            if st is None:
                st = oc.add_stream("libx264", rate=round(float(vs.average_rate or 30)))
                st.width, st.height, st.pix_fmt = f.width, f.height, "yuv420p"
                st.codec_context.time_base = Fraction(1, 90000)
                st.options = {"preset": "ultrafast", "crf": "18"}
            if skip:
                skip -= 1
                continue
            if rnd.random() < share:
                skip = rnd.randint(0, MAX_RUN - 1)
                continue
            nf = av.VideoFrame.from_ndarray(f.to_ndarray(format="yuv420p"), format="yuv420p")
            # Display order; the real clip's times run back by a frame in places.
            last = nf.pts = max(last + 1, round(float(f.pts * f.time_base) * 90000))
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
        import json

        if not DEVSET.is_dir():
            pytest.skip(f"development set {DEVSET} is absent (expected ../shared/devset)")
        t = json.loads((DEVSET / "truth.json").read_text())["cases"][name]
        return DEVSET / t["file"], len(t["faces_seen"])
    if not REALDATA.is_dir():
        pytest.skip(f"real media folder {REALDATA} is absent (expected ../shared/realdata)")
    return REALDATA / "opencv-doc" / "box.mp4", 1


# (source, clip, seed, share of frames starting a dropped run). Before the fix, the clean
# and stand takes here ended in a cut (fail) or, the stand take, a freeze (fail).
SIX = [
    ("generated", "clean", 3, 0.2),
    ("generated", "clean", 9, 0.2),
    ("generated", "clean", 11, 0.2),
    ("generated", "m-stand-27pct-colour-wood-480p-still-after", 3, 0.15),
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
    # Never an edit: the timestamps say where frames went missing.
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
        # Never a fail; a review only for a count the check says it cannot establish.
        assert completeness["verdict"] != "fail", (name, seed, codes)
        if completeness["verdict"] == "review":
            assert codes <= {"continuous_take", "faces_uncertain", "faces_indistinct"}, codes
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
