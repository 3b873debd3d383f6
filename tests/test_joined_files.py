"""Files joined from recordings without re-timing: the clock starts again, the size may change.

Two MPEG-TS recordings concatenated byte for byte (as ``cat a.ts b.ts`` or a copy-mode
join does) play as one file whose timestamps run back to the second part's start, and
whose picture changes size where the parts differ. Before: the frames' times ran back
into the detectors (a face held for -3.9 s failed the report's schema: exit 70) and a
change of shape crashed the faces detector (exit 70). Now the timeline reports the
``time_restart`` (a fail: a camera's clock never runs back), the decode reports the
``size_change`` (a review: a browser's recorder on a phone turned mid-take changes size
too, its clock going on) and absorbs the cut the fitted frames show there; the frames
run on in time and keep one shape. Real files never restart: every file of
../shared/realdata and ../shared/devset is read without one.
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from _media import DEVSET, REALDATA

from validator import check
from validator.media.probe import probe
from validator.media.source import VideoSource
from validator.policy import load_policy

FPS = 30
N = 45  # 1.5 s a part


def scene(seed: int, width: int, height: int) -> np.ndarray:
    """A smooth texture wide enough to pan across for two parts."""
    rng = np.random.default_rng(seed)
    big = rng.integers(0, 255, (max(width, height), 2 * (width + 2 * N), 3), np.uint8)
    return cv2.GaussianBlur(big, (0, 0), 3)


def part(
    path: Path, width: int, height: int, seed: int, *, first: int = 0, turned: bool = False
) -> Path:
    """A recording of a texture panning 2 px a frame, as MPEG-TS, its frames numbered
    from 0 (its own clock) or ``first`` (the clock of a take going on); ``turned``: the
    same pan seen by a phone turned a quarter (the picture rotated, its size swapped)."""
    big = scene(seed, width, height)
    w, h = (height, width) if turned else (width, height)
    tb = Fraction(1, FPS)
    with av.open(str(path), "w", format="mpegts") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        for i in range(first, first + N):
            img = np.ascontiguousarray(big[:height, 2 * i : 2 * i + width])
            if turned:
                img = np.ascontiguousarray(np.rot90(img))
            fr = av.VideoFrame.from_ndarray(img, format="bgr24")
            fr.pts, fr.time_base = i, tb
            out.mux(vs.encode(fr))
        out.mux(vs.encode(None))
    return path


def joined(tmp_path: Path, second: tuple[int, int]) -> Path:
    a = part(tmp_path / "a.ts", 160, 90, 1)
    b = part(tmp_path / "b.ts", *second, 2)
    out = tmp_path / "joined.ts"
    out.write_bytes(a.read_bytes() + b.read_bytes())
    return out


def frames_of(path: Path) -> tuple[list, VideoSource]:
    with VideoSource(path) as src:
        return [(f.t_s, f.gray.shape, f.color.shape) for f in src], src


def test_the_clock_that_starts_again_is_reported_and_time_runs_on(tmp_path: Path) -> None:
    path = joined(tmp_path, (160, 90))
    media = probe(path, load_policy(None))
    ((t, back),) = media.timeline.video.restarts
    assert t == pytest.approx((N - 1) / FPS, abs=0.02) and back == pytest.approx(t, abs=0.05)
    frames, src = frames_of(path)
    times = [f[0] for f in frames]
    assert len(times) == 2 * N and all(b > a for a, b in itertools.pairwise(times))
    # The second part follows one frame step after the first's last frame.
    assert times[N] - times[N - 1] == pytest.approx(1 / FPS, abs=0.002)
    assert src.size_changes == []


def test_a_change_of_size_is_reported_and_the_frames_keep_one_shape(tmp_path: Path) -> None:
    frames, src = frames_of(joined(tmp_path, (96, 96)))
    assert len({(g, c) for _, g, c in frames}) == 1  # the first part's shapes throughout
    ((t, before, after),) = src.size_changes
    assert t == pytest.approx(N / FPS, abs=0.02) and (before, after) == ((160, 90), (96, 96))


@pytest.mark.parametrize("second", [(160, 90), (96, 96)], ids=["same-size", "other-size"])
def test_a_joined_file_fails_completeness_on_that_proof(tmp_path: Path, second) -> None:
    report = check(joined(tmp_path, second)).to_dict()
    completeness = report["requirements"]["completeness"]
    codes = {r["code"]: r for r in completeness["reasons"]}
    assert completeness["verdict"] == "fail"
    restart = codes["timestamps_restart"]
    assert restart["verdict"] == "fail" and restart["at_s"] == [pytest.approx(1.467, abs=0.02)]
    assert ("picture_size_change" in codes) == (second != (160, 90))
    kinds = [e["kind"] for e in report["events"]]
    assert kinds.count("time_restart") == 1


def test_a_phone_turned_while_a_browser_records_is_a_review_not_a_cut(tmp_path: Path) -> None:
    """A browser's recorder takes the camera track's frames as they come: a phone turned
    mid-take turns them, and the file's picture changes size with its clock going on.
    That is no proof of an edit: a review of the moment, and no cut there."""
    a = part(tmp_path / "a.ts", 160, 90, 1)
    b = part(tmp_path / "b.ts", 160, 90, 1, first=N, turned=True)
    path = tmp_path / "turned.ts"
    path.write_bytes(a.read_bytes() + b.read_bytes())
    report = check(path).to_dict()
    kinds = {e["kind"]: e for e in report["events"]}
    assert "time_restart" not in kinds and "cut" not in kinds and "possible_cut" not in kinds
    change = kinds["size_change"]
    # Where the second part starts (the TS muxer shifts each part by its B-frame delay).
    assert change["t_s"] == pytest.approx(N / FPS, abs=0.1)
    assert change["details"]["from"] == "160x90" and change["details"]["to"] == "90x160"
    codes = {r["code"]: r["verdict"] for r in report["requirements"]["completeness"]["reasons"]}
    assert codes["picture_size_change"] == "review" and "cut_detected" not in codes


def test_no_real_file_starts_its_clock_again() -> None:
    files = [p for p in REALDATA.rglob("*") if p.suffix.lower() in (".mp4", ".mov", ".3gp")]
    files += sorted(DEVSET.glob("*.mp4"))
    if not files:
        pytest.skip("../shared/realdata and ../shared/devset are absent")
    policy = load_policy(None)
    read = 0
    for path in files:
        try:
            media = probe(path, policy)
        except Exception:  # metadata-only samples and the like: refused, not read
            continue
        read += 1
        assert media.timeline.video.restarts == (), path.name
    assert read >= 20
