"""One video and one case through the CLI, the service and batch: the same files.

All three call ``validator.check_case``; they may differ only in where the result
goes. The case is an example whose ``evidence.videos`` lists another file with a
passing report: the service used to merge it with the checked video (and judged
the passing one best) while the CLI judged the checked video alone, so the same
video and case got two predictions. The clock is frozen (``validator.clock``) so
that the reports' durations and the prediction's "now" are the same in every
process; without it the files differ and this test fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_web_api import fixture_clip, key_for, make_app, upload, wait

from validator.cases import CaseResult, check_case, judged_case
from validator.clock import FROZEN_ENV
from validator.errors import NotAVideo

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "examples" / "cases" / "swapped_item.json"
FROZEN_AT = "2026-11-25T12:00:00+08:00"


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # In os.environ, so the CLI's and batch's processes and the service's analysis
    # process inherit it.
    monkeypatch.setenv(FROZEN_ENV, FROZEN_AT)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "validator", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)


def cli_check(video: Path, out: Path) -> tuple[bytes, dict[str, Any]]:
    """``appeal-validator check VIDEO --case CASE --out OUT``: report.json and stdout."""
    p = run("check", video, "--case", CASE, "--out", out, "--format", "json")
    assert p.returncode == 1, p.stderr  # a 8 s clip fails completeness
    return (out / "report.json").read_bytes(), json.loads(p.stdout)


def service_check(tmp_path: Path, content: bytes) -> tuple[bytes, dict[str, Any], list[str]]:
    """The API with the embedded jobs: derived report.json, the check, served pictures.

    Its worker analyses with one thread of FFmpeg's and OpenCV's each (as a worker that
    fills the cores does), the CLI with their own threads: the report must not change."""
    for app in make_app(tmp_path / "svc", ANALYSIS_THREADS=1):
        client = app.test_client()
        h = key_for(app, "acme")
        resp = upload(client, h, content, case=CASE.read_text("utf-8"), filename="video.mp4")
        assert resp.status_code == 202, resp.get_data(as_text=True)
        done = wait(client, h, resp.json["id"], timeout=240)
        assert done["status"] == "done", done.get("error")
        svc = app.extensions["appeal"]
        row = svc.store.get(done["id"])
        folder = svc.storage.derived_dir(str(row.tenant_id), row.id)
        served = [url.rsplit("/", 1)[-1] for url in done["links"]["thumbnails"]]
        return (folder / "report.json").read_bytes(), done, served
    raise AssertionError("unreachable")


def batch_check(tmp_path: Path, video: Path) -> bytes:
    """``appeal-validator batch``: the case folder's report.json."""
    root = tmp_path / "batch-in"
    (root / "case").mkdir(parents=True)
    shutil.copy(video, root / "case" / "video.mp4")
    shutil.copy(CASE, root / "case" / "case.json")
    out = tmp_path / "batch-out"
    p = run("batch", root, "--out", out, "-j", "1")
    assert p.returncode == 1, p.stderr
    (row,) = [json.loads(line) for line in p.stdout.splitlines()]
    assert row["status"] == "done" and row["case_id"] == "case"
    return (out / row["report"]).read_bytes()


def renamed(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The case result as if its one video had been called ``name``."""
    data = json.loads(json.dumps(data))
    data["videos"][0]["file"]["name"] = name
    data["prediction"]["videos"]["best"]["path"] = name
    return data


def test_cli_service_and_batch_write_the_same_report(tmp_path: Path, frozen_clock: None) -> None:
    clip, _ = fixture_clip("too-short")
    # The service stores every upload as ``video`` and reports that name, so the CLI
    # checks a file of that name; batch finds videos by extension (``video.mp4``).
    bare = tmp_path / "cli-in" / "video"
    bare.parent.mkdir()
    shutil.copy(clip, bare)

    cli_bytes, cli_stdout = cli_check(bare, tmp_path / "cli-out")
    svc_bytes, svc_check, served = service_check(tmp_path, clip.read_bytes())
    assert svc_bytes == cli_bytes

    batch_bytes = batch_check(tmp_path, clip)
    cli_mp4_bytes, _ = cli_check(tmp_path / "batch-in" / "case" / "video.mp4", tmp_path / "o2")
    assert batch_bytes == cli_mp4_bytes
    # ... and the two names aside, the same report and prediction as the others.
    assert renamed(json.loads(batch_bytes), "video") == json.loads(cli_bytes)

    result = json.loads(cli_bytes)
    (report,) = result["videos"]
    prediction = result["prediction"]
    assert result["verdict"] == report["verdict"] == "fail" and result["unreadable"] == []
    # The checked video alone is judged: not the case file's other, passing video.
    assert prediction["videos"]["count"] == prediction["videos"]["reports"] == 1
    assert prediction["videos"]["best"]["verdict"] == "fail"
    assert prediction["now"] == "2026-11-25T04:00:00Z"
    # What the CLI prints and what the service stores: the report, the prediction along.
    assert cli_stdout == svc_check["report"] == {**report, "prediction": prediction}
    assert svc_check["verdict"] == "fail" and svc_check["progress"] == 1.0
    # Every picture the report names is served, by its bare name.
    named = [f["thumbnail"] for f in report["faces"]["shown"]]
    assert named and set(named) | {report["thumbnails"]["contact_sheet"]} <= set(served)


def test_the_prediction_judges_the_videos_checked_not_the_case_files_list() -> None:
    case = json.loads(CASE.read_text("utf-8"))
    assert [v["path"] for v in case["evidence"]["videos"]] == ["videos/TK-0001-unboxing.mp4"]
    judged = judged_case(case, ["video", "second.mp4"])
    assert judged["evidence"]["videos"] == [{"path": "video"}, {"path": "second.mp4"}]
    assert {k: v for k, v in judged.items() if k != "evidence"} == {
        k: v for k, v in case.items() if k != "evidence"
    }
    assert case["evidence"]["videos"][0]["path"] == "videos/TK-0001-unboxing.mp4"  # not changed


def test_an_unreadable_video_is_listed_and_the_case_still_predicted(
    tmp_path: Path, frozen_clock: None
) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all\n")
    case = json.loads(CASE.read_text("utf-8"))
    seen: list[tuple[float, str]] = []
    result = check_case(case, [bad], tmp_path / "out", progress=lambda f, s: seen.append((f, s)))
    assert isinstance(result, CaseResult)
    assert result.reports == [] and result.verdict is None and result.status == "unreadable"
    assert [u.video for u in result.unreadable] == ["notes.mp4"]
    # The case's video is there but has no report: it counts, and no report is best.
    assert result.prediction is not None
    assert result.prediction["videos"]["count"] == 1
    assert result.prediction["videos"]["reports"] == 0
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    assert on_disk == result.to_dict() and on_disk["unreadable"][0]["code"] == "not_a_video"
    assert seen[-1] == (1.0, "done")
    # The CLI and the service turn it into the video's error (exit 4, a failed job).
    with pytest.raises(NotAVideo):
        result.video_report()
