"""History, share links and delete in headless Chromium against the real server
(issue 12): a merchant's check is listed; its share link opens read-only in a fresh
browser context (another device: no cookies); delete asks on a page of its own, and
afterwards the page works and the link is dead. The analysis is the fake one of
``_service`` (a ``fail`` verdict, one face picture): this tests the journey, not the
detectors.

The browser is conftest.py's ``chromium`` (skips, saying why, without Playwright or
the browser).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _service import Server

pytestmark = pytest.mark.e2e

MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 200  # passes the upload's container sniff
FAKE = {"APPEAL_VALIDATOR_ANALYSIS_TARGET": "_service:fake_analysis"}


def test_history_share_in_a_fresh_context_and_delete_with_confirmation(
    chromium, tmp_path: Path
) -> None:
    upload = tmp_path / "开箱视频.mp4"
    upload.write_bytes(MP4)
    with Server(tmp_path / "data", env=FAKE) as server:
        merchant = chromium.new_context(viewport={"width": 375, "height": 812})
        colleague = chromium.new_context(viewport={"width": 1366, "height": 900})
        try:
            page = merchant.new_page()
            page.goto(server.url + "/?lang=zh")
            page.set_input_files("#video", str(upload))
            page.click("#submit")
            page.wait_for_selector("[data-testid=verdict]", timeout=60_000)
            report_url = page.url

            # The history lists it, with its verdict, in Chinese.
            page.click("[data-testid=history-link]")
            item = page.locator(".history-item")
            assert item.count() == 1
            assert item.get_attribute("data-verdict") == "fail"
            assert "不通过" in item.inner_text() and "开箱视频.mp4" in item.inner_text()
            assert re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", item.inner_text())

            # A share link, made from the report's share button.
            page.goto(report_url)
            page.click("[data-testid=share]")
            page.click("[data-testid=share-create]")
            link = page.locator("[data-testid=share-url]").input_value()
            assert re.fullmatch(re.escape(server.url) + r"/s/[A-Za-z0-9_-]{43}", link), link

            # Another device: a fresh context, no cookie of the merchant's.
            other = colleague.new_page()
            other.goto(link + "?lang=zh")
            other.wait_for_selector("[data-testid=shared-view]")
            assert other.locator("[data-testid=verdict]").get_attribute("data-verdict") == "fail"
            assert other.locator("[data-testid=delete]").count() == 0
            assert other.locator("[data-testid=share]").count() == 0
            img = other.locator(".thumbs img").first
            img.wait_for()
            other.wait_for_function("[...document.images].every(i => i.complete)")
            assert img.evaluate("i => i.naturalWidth") > 0  # served through the link
            with other.expect_download() as info:
                other.click("[data-testid=download]")
            assert json.loads(Path(info.value.path()).read_text("utf-8"))["verdict"] == "fail"

            # Delete asks first; cancelling keeps the check.
            page.goto(report_url)
            page.click("[data-testid=delete]")
            page.wait_for_selector("[data-testid=confirm-delete]")
            page.click("[data-testid=delete-cancel]")
            page.wait_for_selector("[data-testid=verdict]")
            # Confirmed, it lands on the history, which works and says what happened.
            page.click("[data-testid=delete]")
            page.click("[data-testid=delete-confirm]")
            page.wait_for_selector("[data-testid=notice]")
            assert page.url.rstrip("/").endswith("/checks")
            assert "已删除" in page.locator("[data-testid=notice]").inner_text()
            assert page.locator(".history-item").count() == 0
            assert page.locator("[data-testid=history-empty]").is_visible()

            # The link died with the check: the colleague is told so, in Chinese.
            resp = other.goto(link + "?lang=zh")
            assert resp is not None and resp.status == 404
            assert "分享链接无效" in other.locator("[data-testid=error-message]").inner_text()
        finally:
            merchant.close()
            colleague.close()
