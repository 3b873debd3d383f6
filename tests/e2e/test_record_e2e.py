"""The "record now" page in headless Chromium with a fake camera fed by a fixture clip,
against the real server and the real analysis (issue 15): a take is recorded, uploaded
chunk by chunk, witnessed, checked, and ``appeal-validator verify`` accepts the file; a
second take loses the network for 3 s midway and still ends complete and verifiable,
the pause in the witness record.

Chromium is launched here with its fake-device flags (through the shared Playwright of
conftest.py's ``chromium``), the camera reading a Y4M made from the clean fixture clip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _service import Server

from validator.timeutil import SHANGHAI

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# Issue 15: the state shown lags the camera by at most 2 s with one recording running.
LAG_LIMIT_S = 2.0
# conftest.py's browser and flags (not imported: ``conftest`` may name tests/conftest.py)
CHROMIUM = Path(os.environ.get("APPEAL_VALIDATOR_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]  # fmt: skip


def y4m(name: str, out: Path, size: str = "640:360", fps: int = 10) -> Path:
    """Fixture clip ``name`` as a fake camera's Y4M (the camera loops it), made with the
    project's ffmpeg: 640x360 at 10 fps is 67 MB for the 19 s clean clip."""
    import imageio_ffmpeg

    from fixtures.generate import build, default_cache

    src, _ = build(name, default_cache())
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src),
         "-vf", f"scale={size},fps={fps}", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe",
         str(out)],
        check=True,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The clip's own 854x480 at 30 fps (360 MB, in tmp): the clean take is to pass all
    # four requirements. Below 480 px validity asks for a person; at 10 fps the final
    # check could not tell the six faces apart, at 15 fps once in two runs.
    return y4m("clean", tmp_path_factory.mktemp("camera") / "clean.y4m", "854:480", 30)


def launch(chromium: Any, clip_path: Path) -> Any:
    return chromium.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*ARGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={clip_path}"],
    )  # fmt: skip


@pytest.fixture
def camera_browser(chromium: Any, camera_clip: Path) -> Iterator[Any]:
    browser = launch(chromium, camera_clip)
    try:
        yield browser
    finally:
        browser.close()


def wait_until(page: Any, ok: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(200)


def sent(page: Any) -> int:
    return int(page.locator("[data-testid=sent]").inner_text())


def queued(page: Any) -> int:
    return int(page.locator("[data-testid=queued]").inner_text())


def verify(video: Path, report: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validator", "verify", str(video), str(report)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip


def record(page: Any, seconds: float, offline_at: float | None = None, context: Any = None):
    """Start, record ``seconds`` (with the network cut for 3 s at ``offline_at``), stop."""
    page.click("[data-testid=start]")
    wait_until(page, lambda: sent(page) >= 1, "the first chunk to be sent", 30)
    t0 = time.monotonic()
    if offline_at is not None:
        page.wait_for_timeout(offline_at * 1000)
        context.set_offline(True)
        page.wait_for_timeout(3000)
        # The page kept recording: chunks wait in its queue, none was lost.
        assert queued(page) >= 2
        context.set_offline(False)
    rest = seconds - (time.monotonic() - t0)
    page.wait_for_timeout(max(0.0, rest) * 1000)
    page.click("[data-testid=stop]")


def recorded_files(server: Server, page: Any) -> tuple[Path, dict]:
    """The assembled video on the server's disk and its report, once checked."""
    root = page.locator("[data-testid=recorder]")
    wait_until(page, lambda: root.get_attribute("data-state") in ("done", "failed"),
               "the recording's check", 240)  # fmt: skip
    assert root.get_attribute("data-state") == "done"
    check_id = root.get_attribute("data-check-id")
    video = next(server.data_dir.glob(f"files/*/{check_id}/video"))
    return video, check_id


@pytest.mark.alone  # the lag bound holds with one recording on the machine
def test_a_take_is_recorded_witnessed_and_verifiable(camera_browser: Any, tmp_path: Path) -> None:
    with Server(tmp_path / "data") as server:
        context = camera_browser.new_context(viewport={"width": 375, "height": 812})
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Security Policy" in m.text else 0)
        try:
            page.goto(server.url + "/record")
            page.fill("#tracking_number", "SF1234567890123")
            # Signed for an hour ago (China time): the witness's clock makes it timely.
            signed = datetime.now(SHANGHAI) - timedelta(hours=1)
            page.fill("#return_signed_at", signed.strftime("%Y-%m-%dT%H:%M"))
            root = page.locator("[data-testid=recorder]")
            page.click("[data-testid=start]")
            started = time.monotonic()
            # Live guidance: the faces count rises to six and the label is read and
            # matched while the camera runs; then stop is offered.
            cube = page.locator("[data-testid=live-cube]")
            shown: list[int] = []  # the cube diagram's count, as the page polled it

            def offered() -> bool:
                shown.append(int(cube.get_attribute("data-shown") or 0))
                return root.get_attribute("data-can-stop") == "true"

            wait_until(page, offered, "stop to be offered", 60)
            assert page.locator("[data-testid=live-faces]").inner_text() == "6"
            # The cube diagram rose with the count and is full: six squares filled, and
            # its text equivalent says so.
            assert min(shown) < 6, shown
            filled = page.locator("[data-testid=cube-face][data-seen=true]")
            assert filled.count() == 6 and cube.get_attribute("aria-label") == "6 of 6 faces shown"
            assert root.get_attribute("data-label-matched") == "true"
            lags = [float(x) for x in (root.get_attribute("data-lags") or "").split(",") if x]
            print(f"live state behind the camera (s): {lags}")
            assert lags and max(lags) <= LAG_LIMIT_S, lags
            # The rest of the take: the opening (14.7-16.7 s), stopped before the camera's
            # clip (19.3 s) starts over.
            page.wait_for_timeout(max(0.0, 18.3 - (time.monotonic() - started)) * 1000)
            page.click("[data-testid=stop]")
            video, check_id = recorded_files(server, page)
            link = page.locator("[data-testid=report-link]")
            assert link.is_visible()
            report = page.request.get(server.url + f"/checks/{check_id}/report.json").json()
            w = report["witness"]
            assert w["chunk_count"] >= 12 and w["gaps"] == []
            assert report["media"]["recorded_at_source"] == "witness"
            codes = {r["code"] for r in report["requirements"]["completeness"]["reasons"]}
            assert "witnessed_live" in codes
            verdicts = {k: v["verdict"] for k, v in report["requirements"].items()}
            reasons = {k: [r["code"] for r in v["reasons"]]
                       for k, v in report["requirements"].items()}  # fmt: skip
            # Four passes (issue 15). Chromium's fake camera on a busy machine drops frames
            # (honest timestamps): once a turn across them was miscounted, now filled in
            # (validator/detectors/steps.py, tests/test_dropped_frames.py).
            said = report["faces"], report["requirements"]["completeness"]["reasons"]
            assert verdicts == dict.fromkeys(verdicts, "pass"), (reasons, said)
            report_file = tmp_path / "report.json"
            report_file.write_text(json.dumps(report), "utf-8")
            ok = verify(video, report_file)
            assert ok.returncode == 0, ok.stdout + ok.stderr
            # The verify page, linked from the record page, says the same.
            page.goto(server.url + "/record")
            page.click("[data-testid=verify-link]")
            page.set_input_files("#verify-video", str(video))
            page.set_input_files("#verify-report", str(report_file))
            page.click("[data-testid=verify-submit]")
            result = page.locator("[data-testid=verify-result]")
            assert result.get_attribute("data-ok") == "true", page.content()
            assert not refused, refused
        finally:
            context.close()


def test_a_dropped_connection_loses_nothing_and_is_recorded(
    camera_browser: Any, tmp_path: Path
) -> None:
    with Server(tmp_path / "data") as server:
        # A ticket system's session: the page opens from the link the API returned.
        keys = subprocess.run(
            [sys.executable, "-m", "validator", "keys", "create", "acme",
             "--data-dir", str(server.data_dir)],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )  # fmt: skip
        auth = {"Authorization": f"Bearer {keys.stdout.strip()}"}
        context = camera_browser.new_context(viewport={"width": 375, "height": 812})
        page = context.new_page()
        try:
            made = page.request.post(server.url + "/api/v1/recordings", headers=auth, data={})
            assert made.status == 201, made.text()
            rec = made.json()
            # A link cut before its token says so instead of recording for nothing.
            page.goto(rec["links"]["record"].split("#", 1)[0])
            assert page.locator("#rec-error").is_visible()
            assert page.locator("[data-testid=start]").is_disabled()
            page.goto(rec["links"]["record"])
            page.reload()  # a new fragment alone does not reload the page
            record(page, 10, offline_at=2.0, context=context)
            video, check_id = recorded_files(server, page)
            assert queued(page) == 0
            check = page.request.get(server.url + f"/api/v1/checks/{check_id}", headers=auth)
            report = check.json()["report"]
            w = report["witness"]
            # The pause is in the record, honestly: at least the 3 s the network was gone.
            assert w["longest_gap_s"] is not None and w["longest_gap_s"] >= 2.5
            codes = {r["code"] for r in report["requirements"]["completeness"]["reasons"]}
            assert "witnessed_with_delay" in codes
            # Nothing was lost: every chunk number from 0 arrived, the file is complete.
            assert [c["seq"] for c in w["chunks"]] == list(range(w["chunk_count"]))
            report_file = tmp_path / "report.json"
            report_file.write_text(json.dumps(report), "utf-8")
            ok = verify(video, report_file)
            assert ok.returncode == 0, ok.stdout + ok.stderr
        finally:
            context.close()


def test_the_record_page_passes_axe(chromium: Any, tmp_path: Path) -> None:
    """The page before recording, at both widths and in both languages (axe-core, as
    test_a11y_e2e.py checks the form's pages)."""
    from test_a11y_e2e import look

    axe = pytest.importorskip("axe_playwright_python", reason="axe-core is not installed")
    script = (Path(axe.__file__).parent / "axe.min.js").read_text("utf-8")
    problems: list[str] = []
    with Server(tmp_path / "data") as server:
        page = chromium.new_page()
        try:
            look(page, script, server.url + "/record", "record", problems)
            # The live guidance as it shows while recording: the cube diagram half full.
            from test_a11y_e2e import LANGS, VIEWPORTS, blocking_violations

            for viewport in VIEWPORTS:
                page.set_viewport_size(viewport)
                for lang in LANGS:
                    page.goto(f"{server.url}/record?lang={lang}")
                    page.evaluate(
                        "() => { document.getElementById('live').hidden = false;"
                        " const c = document.querySelectorAll('[data-testid=cube-face]');"
                        " for (let i = 0; i < 3; i++) c[i].classList.add('seen'); }"
                    )
                    where = f"record live {lang} {viewport['width']}px"
                    problems += [f"{where}: {p}" for p in blocking_violations(page, script)]
        finally:
            page.close()
    assert not problems, "\n".join(problems)


def test_a_face_missing_is_prompted_for(chromium: Any, tmp_path: Path) -> None:
    """The camera shows a take with five faces: the page never offers to stop and asks
    for the last face (the bottom), in the page's language."""
    browser = launch(chromium, y4m("five-faces", tmp_path / "five.y4m"))
    try:
        with Server(tmp_path / "data") as server:
            page = browser.new_page()
            page.goto(server.url + "/record?lang=zh")
            page.fill("#tracking_number", "SF1234567890123")
            root = page.locator("[data-testid=recorder]")
            page.click("[data-testid=start]")
            prompts = page.locator("[data-testid=live-prompts] li")
            wait_until(page, lambda: page.locator("li[data-code=show_bottom]").count() == 1,
                       "the prompt for the missing face", 60)  # fmt: skip
            page.wait_for_timeout(4000)  # the rest of the take (it lasts 17 s): still five
            assert page.locator("[data-testid=live-faces]").inner_text() == "5"
            # The cube diagram: five squares filled, the bottom's empty, said in Chinese.
            faces = page.locator("[data-testid=cube-face]")
            seen = [faces.nth(i).get_attribute("data-seen") for i in range(faces.count())]
            assert seen == ["true"] * 5 + ["false"], seen
            assert "cube-bottom" in (faces.nth(5).get_attribute("class") or "")
            cube = page.locator("[data-testid=live-cube]")
            assert cube.get_attribute("aria-label") == "已展示 5/6 个面"
            assert root.get_attribute("data-can-stop") == "false"
            texts = [prompts.nth(i).inner_text() for i in range(prompts.count())]
            assert any("底面" in t for t in texts), texts
            page.close()
    finally:
        browser.close()
