"""Network trouble on the form's pages, in headless Chromium against the real server
(issue 12): leaving during an upload asks first; a poll that fails for the network or
a 5xx says so and retries until the report is there; a 4xx (the check was deleted) is
final. The analysis is ``_service.gated_analysis``: it runs until the test lets it end.

The browser is conftest.py's ``chromium`` (skips without Playwright or the browser).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _service import GATE_FILE, Server

pytestmark = pytest.mark.e2e

MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 200  # passes the upload's container sniff
GATED = {"APPEAL_VALIDATOR_ANALYSIS_TARGET": "_service:gated_analysis"}
STATUS_JSON = re.compile(r"/checks/[0-9a-f-]+/status\.json$")


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    # A context of its own per test: set_offline() is the context's.
    ctx = chromium.new_context(viewport={"width": 375, "height": 812})
    try:
        yield ctx
    finally:
        ctx.close()


def wait_until(page: Any, ok: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    """Lets the page's events run (Playwright's sync API dispatches them while it waits)
    until ``ok()``."""
    deadline = time.monotonic() + timeout_s
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


def start_check(page: Any, url: str, tmp_path: Path) -> str:
    """Uploads a small "video" from the form; returns the check's id once its progress
    page polls a running analysis."""
    upload = tmp_path / "unboxing.mp4"
    upload.write_bytes(MP4)
    page.goto(url)
    page.set_input_files("#video", str(upload))
    page.click("#submit")
    page.wait_for_selector("#analysis", timeout=30_000)
    # The label shows the stage (in the page's language; its code in data-stage) once a
    # poll has seen the analysis running.
    page.locator("#analysis-label[data-stage=decoding]").wait_for(timeout=30_000)
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def test_leaving_during_an_upload_asks_first(context: Any, tmp_path: Path) -> None:
    upload = tmp_path / "unboxing.mp4"
    upload.write_bytes(MP4)
    with Server(tmp_path / "data", env=GATED) as server:
        spare = context.new_page()  # waits on while a closing page goes away
        # An ordinary visit never asks.
        page = context.new_page()
        page.goto(server.url + "/")
        page.click("#tracking_number")  # a user gesture: Chromium asks only after one
        page.fill("#tracking_number", "SF1234567890123")
        dialogs: list[str] = []
        page.on("dialog", lambda d: dialogs.append(d.type))
        page.close(run_before_unload=True)
        wait_until(spare, page.is_closed, "the page to close without asking")
        assert dialogs == []

        page = context.new_page()
        dialogs = []

        def stay(dialog: Any) -> None:  # the merchant answers "stay on this page"
            dialogs.append(dialog.type)
            dialog.dismiss()

        page.on("dialog", stay)
        # The upload is held in flight here until the test lets it through: the page
        # sees an upload that has not finished, however fast the loopback is.
        held: list[Any] = []
        page.route(re.compile(r"/checks\?csrf_token="), lambda route: held.append(route))
        page.goto(server.url + "/?lang=zh")
        page.set_input_files("#video", str(upload))
        page.click("#submit")
        wait_until(page, lambda: len(held) == 1, "the upload to start")
        progress = page.locator("#upload-progress")
        assert progress.is_visible()
        assert "上传完成前请勿关闭" in progress.inner_text()  # said on the page, in Chinese

        page.close(run_before_unload=True)
        wait_until(page, lambda: dialogs == ["beforeunload"], "the close to ask")
        assert not page.is_closed()
        page.click("a.brand", no_wait_after=True)  # a link away asks too
        wait_until(page, lambda: len(dialogs) == 2, "the link to ask")
        assert dialogs == ["beforeunload", "beforeunload"]
        assert page.url.endswith("/?lang=zh") and progress.is_visible()

        held[0].continue_()  # the upload ends: the page opens the check's progress
        page.wait_for_selector("#analysis", timeout=30_000)
        page.close(run_before_unload=True)
        wait_until(spare, page.is_closed, "the progress page to close without asking")
        assert dialogs == ["beforeunload", "beforeunload"]


def test_an_offline_poll_says_so_and_retries(context: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Server(data, env=GATED) as server:
        page = context.new_page()
        start_check(page, server.url + "/?lang=zh", tmp_path)
        notice = page.locator("#poll-notice")
        assert not notice.is_visible()
        failed: list[str] = []
        page.on("requestfailed", lambda r: failed.append(r.url) if "status.json" in r.url else 0)

        context.set_offline(True)
        notice.wait_for(state="visible", timeout=15_000)
        assert notice.get_attribute("role") == "status"  # screen readers hear it
        assert notice.get_attribute("aria-live") == "polite"
        assert "网络连接已断开" in notice.inner_text()
        assert "自动重试" in notice.inner_text()
        wait_until(page, lambda: len(failed) >= 3, "three failed polls")  # it keeps trying
        assert page.locator("#analysis").is_visible()  # still the progress page

        context.set_offline(False)
        notice.wait_for(state="hidden", timeout=15_000)  # within the longest pause
        label = page.locator("#analysis-label")
        assert label.get_attribute("data-stage") == "decoding"
        assert "解码" in label.inner_text()  # the stage named in the page's language
        (data / GATE_FILE).touch()  # the analysis ends: the page opens the report by itself
        page.wait_for_selector("[data-testid=verdict]", timeout=30_000)
        assert page.locator("[data-requirement=completeness]").get_attribute("data-verdict") == (
            "fail"
        )


def test_a_5xx_is_retried_and_a_deleted_check_is_final(context: Any, tmp_path: Path) -> None:
    with Server(tmp_path / "data", env=GATED) as server:
        page = context.new_page()
        check_id = start_check(page, server.url + "/?lang=en", tmp_path)
        notice = page.locator("#poll-notice")
        polls: list[int] = []
        page.on("response", lambda r: polls.append(r.status) if STATUS_JSON.search(r.url) else 0)

        def unavailable(route: Any) -> None:  # a proxy in front says the app is down
            body = {"error": {"code": "unavailable", "message": "upstream down"}}
            route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

        page.route(STATUS_JSON, unavailable)
        notice.wait_for(state="visible", timeout=15_000)
        assert "The server did not answer (HTTP 503)" in notice.inner_text()
        assert "tries again" in notice.inner_text()
        wait_until(page, lambda: polls.count(503) >= 2, "a second try after the 503")
        page.unroute(STATUS_JSON)
        notice.wait_for(state="hidden", timeout=15_000)

        # The check is deleted (from another tab, say): its status is a 404, which no
        # retry mends: the page says so and stops asking.
        index = page.request.get(server.url + "/").text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', index).group(1)
        gone = page.request.post(
            f"{server.url}/checks/{check_id}/delete?csrf_token={token}",
            form={"confirm": "yes"},  # the confirmation page's answer
        )
        assert gone.ok, gone.status
        notice.wait_for(state="visible", timeout=15_000)
        assert "no longer exists" in notice.inner_text()
        wait_until(page, lambda: 404 in polls, "the 404")
        asked = len(polls)
        page.wait_for_timeout(3_000)  # longer than a poll's pause and the first retry's
        assert len(polls) == asked, polls
        assert "no longer exists" in notice.inner_text()
        assert page.url.endswith(f"/checks/{check_id}")
