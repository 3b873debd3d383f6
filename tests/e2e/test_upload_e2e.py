"""The form's resumable upload and a case of several videos, in headless Chromium
against the real server (issue 12). The analysis is ``_service.fake_analysis``: these
tests are about the bytes arriving, not about what is in them.

The browser is conftest.py's ``chromium`` (skips without Playwright or the browser).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _service import Server

pytestmark = pytest.mark.e2e

# 1 MiB chunks on the server (the page sends min(8 MiB, the server's limit)), so a
# 3.5 MiB file is four chunks; the content is random past the MP4 signature.
FAKE = {"APPEAL_VALIDATOR_ANALYSIS_TARGET": "_service:fake_analysis",
        "APPEAL_VALIDATOR_UPLOAD_CHUNK_MB": "1"}  # fmt: skip
CHUNK = 1 << 20
# The fake analysis takes no time; the wait covers the embedded worker's start beside
# the other test worker's analyses (CI once waited past 60 s, cause unknown: the
# failure now says what the page and the server saw).
VERDICT_MS = 120_000
UPLOAD_URL = re.compile(r"/uploads/[0-9a-f]{32}$")


def a_video(path: Path, size: int) -> bytes:
    data = b"\0\0\0\x18ftypmp42" + os.urandom(size - 12)
    path.write_bytes(data)
    return data


def verdict_shown(page: Any, server: Server, sent: object = None) -> None:
    """Wait for the check's verdict; a form error, or none within the time, fails with
    what the page showed, the requests sent and the server's log (CI keeps only this)."""
    try:
        page.wait_for_selector("[data-testid=verdict], #form-error:visible", timeout=VERDICT_MS)
        if page.locator("[data-testid=verdict]").count():
            return
        why = "the form showed an error"
    except Exception as e:  # Playwright's TimeoutError
        why = f"no verdict: {e}".splitlines()[0]
    error = page.locator("#form-error")
    log = Path(server.log.name).read_text("utf-8", "replace")[-3000:]
    pytest.fail(
        f"{why}; page {page.url}; form error {error.inner_text() if error.count() else None!r}; "
        f"requests {sent!r}; server log:\n{log}"
    )


@pytest.fixture
def context(chromium: Any) -> Iterator[Any]:
    ctx = chromium.new_context(viewport={"width": 1366, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()


def test_a_dropped_chunk_resumes_from_the_servers_offset(context: Any, tmp_path: Path) -> None:
    video = tmp_path / "原片.mp4"
    data = a_video(video, 3 * CHUNK + CHUNK // 2)
    with Server(tmp_path / "data", env=FAKE) as server:
        page = context.new_page()
        sent: list[tuple[str, str | None]] = []  # (method, Upload-Offset) of each request
        dropped: list[str] = []

        def network(route: Any) -> None:
            req = route.request
            sent.append((req.method, req.headers.get("upload-offset")))
            # The second chunk's connection drops: the request fails in the browser.
            if req.method == "PATCH" and not dropped and sent.count(("PATCH", str(CHUNK))) == 1:
                dropped.append(req.headers["upload-offset"])
                route.abort("connectionreset")
                return
            route.continue_()

        page.route(UPLOAD_URL, network)
        page.goto(server.url + "/?lang=zh")
        page.set_input_files("#video", str(video))
        page.fill("#tracking_number", "SF1234567890123")
        page.click("#submit")
        verdict_shown(page, server, sent)

        assert dropped == [str(CHUNK)]
        patches = [offset for method, offset in sent if method == "PATCH"]
        # Every chunk once, the dropped one twice; never again from byte 0.
        assert patches == ["0", str(CHUNK), str(CHUNK), str(2 * CHUNK), str(3 * CHUNK)]
        after = sent[sent.index(("PATCH", str(CHUNK))) + 1 :]
        assert after[0] == ("HEAD", None)  # it asked the server where to go on
        report = page.request.get(page.url + "/report.json").json()
        assert report["file"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert report["file"]["size_bytes"] == len(data)


def test_progress_is_shown_and_several_videos_make_one_case(context: Any, tmp_path: Path) -> None:
    first, second = tmp_path / "开箱.mp4", tmp_path / "细节.mp4"
    a_video(first, 2 * CHUNK)
    a_video(second, CHUNK // 2)
    with Server(tmp_path / "data", env=FAKE) as server:
        page = context.new_page()
        labels: list[str] = []
        held: list[Any] = []

        def hold_last(route: Any) -> None:  # the last chunk waits until the label is read
            if (
                route.request.method == "PATCH"
                and not held
                and (route.request.headers.get("upload-offset") == str(CHUNK))
            ):
                held.append(route)
                return
            route.continue_()

        page.route(UPLOAD_URL, hold_last)
        page.goto(server.url + "/?lang=en")
        page.set_input_files("#video", [str(first), str(second)])
        page.click("#submit")
        for _ in range(300):  # the first chunk is in; the second one is held
            if held:
                break
            page.wait_for_timeout(100)
        labels.append(page.locator("#upload-label").inner_text())
        assert page.locator("#upload-bar").get_attribute("aria-labelledby") == "upload-label"
        held[0].continue_()
        verdict_shown(page, server)

        assert re.search(r"Uploading… \d+% · video 1 of 2", labels[0]), labels
        listed = page.locator("[data-testid=case-video]")
        assert listed.count() == 2
        assert listed.nth(0).locator("a").inner_text() == "开箱.mp4"
        assert listed.nth(1).locator("a").inner_text() == "细节.mp4"
        assert listed.nth(0).locator("a").get_attribute("aria-current") == "page"
        listed.nth(1).locator("a").click()
        page.wait_for_selector("[data-testid=case-video] a[aria-current=page]")
        assert page.locator("[data-testid=case-video] a[aria-current=page]").inner_text() == (
            "细节.mp4"
        )
        # The list of the case's videos passes axe like the rest of the report page.
        axe = pytest.importorskip("axe_playwright_python", reason="axe-core is not installed")
        from test_a11y_e2e import blocking_violations

        axe_js = (Path(axe.__file__).parent / "axe.min.js").read_text("utf-8")
        for width in (375, 1366):
            page.set_viewport_size({"width": width, "height": 900})
            for lang in ("zh", "en"):
                page.goto(f"{page.url.split('?')[0]}?video=1&lang={lang}")
                assert blocking_violations(page, axe_js) == [], (lang, width)
                assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("width", [375, 1366])
def test_the_guide_plays_its_sample_video(chromium: Any, tmp_path: Path, width: int) -> None:
    """The recording guide's sample (H.264, generated from the fixtures) plays in the page,
    and its pictures load, on a phone and on a laptop."""
    with Server(tmp_path / "data", env=FAKE) as server:
        page = chromium.new_page(viewport={"width": width, "height": 900})
        try:
            page.goto(server.url + "/?lang=zh")
            guide = page.locator("[data-testid=guide]")
            assert "如何录制" in guide.locator("h2").inner_text()
            video = page.locator("#guide-sample")
            video.scroll_into_view_if_needed()
            played = page.evaluate(
                """() => { const v = document.getElementById('guide-sample');
                           return v.play().then(() => true, (e) => String(e)); }"""
            )
            assert played is True, played
            for _ in range(100):  # 10 s at most
                state = page.evaluate(
                    """() => { const v = document.getElementById('guide-sample');
                               return [v.currentTime, v.videoWidth, v.videoHeight, v.error]; }"""
                )
                if state[0] > 1.0:
                    break
                page.wait_for_timeout(100)
            current_s, w, h, error = state
            assert error is None and current_s > 1.0, state  # it plays: time goes on
            assert (w, h) == (854, 480)
            duration_s = page.evaluate("() => document.getElementById('guide-sample').duration")
            assert 19 < duration_s < 20
            # The pictures load (naturalWidth 0: a broken image) and fit the screen.
            for img in guide.locator("img").all():
                img.scroll_into_view_if_needed()
                page.wait_for_timeout(50)
            loaded = page.evaluate(
                """() => [...document.querySelectorAll('.guide img')]
                          .map((i) => i.complete && i.naturalWidth > 0)"""
            )
            assert loaded and all(loaded), loaded
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            page.close()
