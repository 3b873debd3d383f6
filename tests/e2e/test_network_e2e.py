"""Network trouble on the form's pages, in headless Chromium against the real server
(issue 12): leaving during an upload asks first; a poll that fails for the network or
a 5xx says so and retries until the report is there; a 4xx (the check was deleted) is
final. The analysis is ``_service.gated_analysis``: it runs until the test lets it end.

The browser is conftest.py's ``chromium`` (skips without Playwright or the browser).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _service import Server

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
    # The label shows the stage once a poll has seen the analysis running.
    page.locator("#analysis-label", has_text="decoding").wait_for(timeout=30_000)
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
