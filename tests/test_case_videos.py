"""The service's analysis of a case of several videos (``runner.analyze`` with
``more_videos``, as the form's case of several uploads runs it) against the fixtures'
truth: each video gets its own verdicts, the check's report is the first video's, the
case's report.json covers them all."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from validator.errors import InputError
from validator.jobs.runner import analyze
from validator.models import combine


def test_each_video_of_a_case_is_checked_and_the_first_is_the_checks(
    fixture_clip: Callable[[str], tuple[Path, dict]], tmp_path: Path
) -> None:
    clean, clean_truth = fixture_clip("clean")
    spliced, spliced_truth = fixture_clip("spliced-take")
    # Stored as the service stores a case's videos.
    first, second = tmp_path / "video", tmp_path / "video-1"
    shutil.copyfile(clean, first)
    shutil.copyfile(spliced, second)
    out = tmp_path / "derived"
    out.mkdir()
    stages: list[float] = []
    report = analyze(str(first), case=clean_truth["case"], policy="taobao", out_dir=str(out),
                     progress=lambda f, s: stages.append(f), more_videos=[str(second)])  # fmt: skip

    assert report["file"]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert (
        report["requirements"]["completeness"]["verdict"]
        == (clean_truth["expected"]["completeness"])
    )
    assert report["prediction"] is not None  # the case's, judged on both videos
    case = json.loads((out / "report.json").read_text("utf-8"))
    assert [v["file"]["name"] for v in case["videos"]] == ["video", "video-1"]
    for video, truth in zip(case["videos"], (clean_truth, spliced_truth), strict=True):
        assert video["requirements"]["completeness"]["verdict"] == truth["expected"]["completeness"]
    assert case["verdict"] == combine([v["verdict"] for v in case["videos"]])
    assert case["prediction"] == report["prediction"]
    names = {p.name for p in out.iterdir()}
    assert any(n.startswith("v0-") for n in names) and any(n.startswith("v1-") for n in names)
    assert stages == sorted(stages) and max(stages) <= 1.0  # one progress over both videos


def test_an_unreadable_first_video_fails_the_check_with_its_own_reason(
    fixture_clip: Callable[[str], tuple[Path, dict]], tmp_path: Path
) -> None:
    clean, _ = fixture_clip("clean")
    broken = tmp_path / "video"
    broken.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 500)  # an MP4 signature, no video
    second = tmp_path / "video-1"
    shutil.copyfile(clean, second)
    with pytest.raises(InputError) as e:
        analyze(str(broken), case=None, policy="taobao", out_dir=str(tmp_path),
                progress=lambda f, s: None, more_videos=[str(second)])  # fmt: skip
    assert "video" in e.value.message
    # The other video was still checked: the case's report.json lists it and the first.
    case = json.loads((tmp_path / "report.json").read_text("utf-8"))
    assert [v["file"]["name"] for v in case["videos"]] == ["video-1"]
    assert [u["video"] for u in case["unreadable"]] == ["video"]
