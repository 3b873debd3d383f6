"""The report's player in headless Chromium (issue 12, "Look for yourself"): a click on
a finding's time and a tap on a timeline mark show that moment in the player; the
pictures enlarge by click and by keyboard; an HEVC upload (which Chromium cannot
play) plays as its H.264 preview, which a worker makes while the page says so and which
the page then plays without a reload, and its times seek it the same way.

The browser is conftest.py's ``chromium`` (skips, saying why, without Playwright or
the browser).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from _media import clip
from _service import Server
from test_a11y_e2e import blocking_violations
from test_preview import hevc_clip

pytestmark = pytest.mark.e2e

TOLERANCE_S = 0.5
FAKE = {"APPEAL_VALIDATOR_ANALYSIS_TARGET": "_service:fake_analysis"}


def axe_source() -> str:
    axe = pytest.importorskip("axe_playwright_python", reason="axe-core is not installed")
    return (Path(axe.__file__).parent / "axe.min.js").read_text("utf-8")


def current_time(page: Any) -> float:
    return float(page.evaluate("document.getElementById('player').currentTime"))


def wait_for_metadata(page: Any) -> None:
    # Polled from here: wait_for_function would eval() in the page, which the CSP forbids.
    for _ in range(300):
        if page.evaluate("document.getElementById('player').readyState") >= 1:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the player never loaded the video's metadata")


def rewind(page: Any) -> None:
    page.evaluate("document.getElementById('player').currentTime = 0")
    assert current_time(page) < TOLERANCE_S


def upload(page: Any, url: str, video: Path, **fields: str) -> str:
    page.goto(url + "/?lang=en")
    page.set_input_files("#video", str(video))
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    page.click("#submit")
    page.wait_for_selector("[data-testid=verdict]", timeout=180_000)
    return page.url.split("?")[0]


def test_finding_times_and_timeline_marks_seek_the_player(chromium, tmp_path: Path) -> None:
    video, truth = clip("spliced-take")
    upload_path = tmp_path / "unboxing.mp4"
    shutil.copyfile(video, upload_path)
    with Server(tmp_path / "data") as server:
        # A phone: touch events, so the mark is tapped as a finger would.
        context = chromium.new_context(
            viewport={"width": 375, "height": 812}, has_touch=True, is_mobile=True
        )
        page = context.new_page()
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Security Policy" in m.text else 0)
        try:
            check_url = upload(
                page,
                server.url,
                upload_path,
                tracking_number=truth["case"]["return"]["tracking_number"],
            )
            wait_for_metadata(page)
            # The completeness card cites the splice: its time is a link to the player.
            link = page.locator("[data-requirement=completeness] a.seek").first
            want = float(link.get_attribute("data-seek"))
            assert page.locator(".timeline .mark").count() >= 1
            rewind(page)
            link.click()
            assert abs(current_time(page) - want) <= TOLERANCE_S
            assert page.url.split("?")[0] == check_url  # seeking, not leaving the page

            rewind(page)
            mark = page.locator(f".timeline .mark[data-seek='{want:.3f}']")
            assert mark.count() == 1, "the cited moment has no mark on the timeline"
            assert want > 0.5  # else a rewind would look like a seek
            mark.tap()
            assert abs(current_time(page) - want) <= TOLERANCE_S
            name = mark.get_attribute("aria-label") or ""
            assert f"{want:.2f}" in name  # a named button, not a coloured line

            # Every mark is a cited moment: the cards' times, and nothing else.
            cited = {
                float(a.get_attribute("data-seek"))
                for a in page.locator("[data-requirement] a.seek").all()
            }
            marks = page.locator(".timeline .mark").all()
            for m in marks:
                t = float(m.get_attribute("data-seek"))
                assert any(abs(t - c) <= 0.05 for c in cited), t

            pictures = page.locator("a.enlarge")
            if pictures.count():
                pictures.first.click()
                assert page.locator("dialog#picture[open]").count() == 1
                assert page.locator("#picture-img").evaluate("i => i.naturalWidth") > 0
                page.keyboard.press("Escape")
                assert page.locator("dialog#picture[open]").count() == 0
                pictures.first.focus()
                page.keyboard.press("Enter")  # by keyboard too
                assert page.locator("dialog#picture[open]").count() == 1
                page.locator("dialog#picture [data-close]").click()
                assert page.locator("dialog#picture[open]").count() == 0
                # axe on the page with the picture open and the other events shown.
                pictures.first.click()
                for details in page.locator("[data-testid=other-events]").all():
                    details.evaluate("d => { d.open = true; }")
                found = blocking_violations(page, axe_source())
                assert not found, "axe (serious or critical):\n" + "\n".join(found)
                page.keyboard.press("Escape")

            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            shots = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path)
            page.screenshot(path=str(shots / "report-player-375.png"), full_page=True)
            assert not refused, refused
        finally:
            context.close()


def test_an_hevc_upload_plays_as_its_preview_and_seeks(chromium, tmp_path: Path) -> None:
    source = hevc_clip(tmp_path / "IMG_0001.mp4", width=640, height=360)
    with Server(tmp_path / "data", env=FAKE) as server:
        page = chromium.new_page(viewport={"width": 1366, "height": 900})
        try:
            upload(page, server.url, source)
            # The worker makes the preview: the page says so in its live region, then
            # gives the player its source without a reload.
            status = page.locator("#preview-status")
            assert status.get_attribute("aria-live") == "polite"
            assert "Preparing a playable copy" in status.inner_text()
            loaded_at = page.evaluate("performance.timeOrigin")
            for _ in range(1200):
                if page.locator("#player").get_attribute("data-state") != "preparing":
                    break
                page.wait_for_timeout(100)
            assert page.locator("#player").get_attribute("data-state") == "ready"
            assert page.evaluate("performance.timeOrigin") == loaded_at  # not reloaded
            assert status.inner_text() == "The playable copy is ready."
            src = page.locator("#player").get_attribute("src") or ""
            assert src.endswith("/preview.mp4")
            wait_for_metadata(page)  # Chromium plays what it could not play before
            assert page.evaluate("document.getElementById('player').videoWidth") > 0
            rewind(page)
            link = page.locator("[data-requirement=completeness] a.seek").first
            want = float(link.get_attribute("data-seek"))  # the fake's cut, at 2 s
            link.click()
            assert abs(current_time(page) - want) <= TOLERANCE_S
            assert page.locator("#player-error").is_hidden()

            # In Chinese: the times in 秒, what now under the finding that is no pass.
            page.goto(page.url.split("?")[0] + "?lang=zh")
            assert "秒" in page.locator("[data-requirement=completeness] a.seek").first.inner_text()
            assert page.locator("[data-testid=what-now]").count() >= 1
            shots = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path)
            page.screenshot(path=str(shots / "report-player-zh-1366.png"), full_page=True)
        finally:
            page.close()
