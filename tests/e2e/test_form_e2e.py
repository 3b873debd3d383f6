"""The upload form in headless Chromium against the real server and the real analysis.

The browser is conftest.py's ``chromium`` (skips, saying why, without Playwright or
the browser).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from _media import clip
from _service import Server

from validator.models import combine

LABELS = {"pass": "PASS", "fail": "FAIL", "review": "REVIEW"}

pytestmark = pytest.mark.e2e


def test_upload_a_fixture_and_see_the_verdict_cards(chromium, tmp_path: Path) -> None:
    video, truth = clip("spliced-take")
    upload = tmp_path / "unboxing.mp4"  # what a merchant picks on the phone
    shutil.copyfile(video, upload)
    with Server(tmp_path / "data") as server:
        page = chromium.new_page(viewport={"width": 375, "height": 812})  # a phone
        # Whatever the Content-Security-Policy blocks (an inline style or script without
        # the nonce) Chromium reports on the console: the pages must need none of it.
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Security Policy" in m.text else 0)
        try:
            page.goto(server.url + "/")
            page.set_input_files("#video", str(upload))
            page.fill("#tracking_number", truth["case"]["return"]["tracking_number"])
            page.fill("#return_signed_at", "2026-11-20T14:00")
            page.fill("#evidence_deadline", "2026-12-05T14:00")
            page.select_option("#claim_type", "swapped_item")
            page.click("#submit")
            page.wait_for_selector("[data-testid=verdict]", timeout=120_000)

            cards = page.locator("[data-requirement]")
            assert cards.count() == 4
            # The fixture's ground truth decides (a second take is spliced in: fail).
            want = truth["expected"]["completeness"]
            card = page.locator("[data-requirement=completeness]")
            assert card.get_attribute("data-verdict") == want
            assert LABELS[want] in card.locator(".pill").inner_text()
            verdicts = [cards.nth(i).get_attribute("data-verdict") for i in range(4)]
            overall = page.locator("[data-testid=verdict]").get_attribute("data-verdict")
            assert overall == combine(verdicts)
            assert page.locator(".timeline .mark").count() >= 1
            assert page.locator(".thumbs img").count() >= 1  # e.g. the frame after the cut
            assert page.locator("[data-testid=prediction] .outcome").count() == 1
            # Fits a phone: nothing wider than the screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
            # Into tmp_path, or E2E_SCREENSHOTS to keep it for a look.
            shots = Path(os.environ.get("E2E_SCREENSHOTS") or tmp_path)
            page.screenshot(path=str(shots / "report-375.png"), full_page=True)

            page.click("[data-testid=lang-switch]")
            page.wait_for_selector("text=完整性")
            zh = {"pass": "通过", "fail": "不通过", "review": "需人工复核"}[want]
            assert page.locator("[data-requirement=completeness] .pill").inner_text() == zh

            with page.expect_download() as info:
                page.click("[data-testid=download]")
            report = json.loads(Path(info.value.path()).read_text("utf-8"))
            assert report["requirements"]["completeness"]["verdict"] == want
            assert not refused, refused
        finally:
            page.close()


def test_a_bad_file_shows_a_clear_message(chromium, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-video.mp4"
    bad.write_text("this is a text file with a video's name\n" * 20)
    with Server(tmp_path / "data") as server:
        page = chromium.new_page(viewport={"width": 375, "height": 812})
        try:
            page.goto(server.url + "/")
            page.set_input_files("#video", str(bad))
            page.click("#submit")
            box = page.locator("#form-error")
            box.wait_for(state="visible", timeout=30_000)
            assert "not a video container" in box.inner_text()
            assert "Traceback" not in page.content()
        finally:
            page.close()
