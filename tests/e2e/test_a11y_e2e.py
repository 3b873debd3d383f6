"""Accessibility of the form's pages (issue 12), checked by axe-core in headless Chromium.

Every page a merchant sees (the form, the progress page while a check runs, the
report, the history, the share page and a share link's view, the question before a
delete, an error page), at a phone's and a laptop's width, in both languages: no
violation axe rates serious or critical. The progress is announced to screen readers
and every progress bar has a name.

axe-core is the copy bundled in the ``axe-playwright-python`` wheel, injected into the
page: nothing is fetched at run time. Skips, saying why, when it, Playwright or the
browser is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from _media import clip
from _service import GATE_FILE, Server

pytestmark = pytest.mark.e2e

VIEWPORTS = [{"width": 375, "height": 800}, {"width": 1366, "height": 900}]
LANGS = ["zh", "en"]
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="module")
def axe_js() -> str:
    axe = pytest.importorskip(
        "axe_playwright_python",
        reason="axe-core is not installed (pip install axe-playwright-python)",
    )
    return (Path(axe.__file__).parent / "axe.min.js").read_text("utf-8")


def blocking_violations(page: Any, axe_js: str) -> list[str]:
    """axe's serious and critical findings on the page as it is, one line per node."""
    page.evaluate(axe_js)  # by the DevTools protocol: the page's CSP does not apply
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = []
    for v in result["violations"]:
        lines = [f"{v['id']} ({v['impact']}) {n['target']}: {v['help']}" for n in v["nodes"]]
        if v["impact"] in BLOCKING:
            found += lines
        else:  # minor and moderate: shown (pytest -s, or with a failure), not failed on
            print(*lines, sep="\n")
    return found


def look(page: Any, axe_js: str, url: str, what: str, problems: list[str]) -> None:
    """Each width and language of one page; what axe objects to goes into problems."""
    for viewport in VIEWPORTS:
        page.set_viewport_size(viewport)
        for lang in LANGS:
            page.goto(f"{url}?lang={lang}")
            where = f"{what} {lang} {viewport['width']}px"
            if page.locator("h1").count() != 1:  # axe's page-has-heading-one is moderate
                problems.append(f"{where}: not exactly one <h1>")
            want = "zh-CN" if lang == "zh" else "en"
            assert page.locator("html").get_attribute("lang") == want, where
            problems += [f"{where}: {p}" for p in blocking_violations(page, axe_js)]


def named_and_announced(page: Any, label_id: str, what: str, problems: list[str]) -> None:
    """Every visible progress bar has a name (Chromium's accessibility tree says so) and
    the text that tells the progress (``label_id``) sits in a polite live region."""
    bars = page.get_by_role("progressbar")
    if bars.count() == 0:
        problems.append(f"{what}: no progress bar shown")
    for i in range(bars.count()):
        node = bars.nth(i).aria_snapshot()  # '- progressbar "Uploading"' when named
        if '"' not in node:
            problems.append(f"{what}: a progress bar without a name: {node}")
    live = page.evaluate(
        "id => !!document.getElementById(id).closest('[aria-live=polite], [role=status]')",
        label_id,
    )
    if not live:
        problems.append(f"{what}: #{label_id} is in no aria-live=polite / role=status region")


def test_every_page_passes_axe_at_both_widths_in_both_languages(
    chromium,
    axe_js: str,
    tmp_path: Path,
) -> None:
    video, _ = clip("clean")
    upload = tmp_path / "unboxing.mp4"
    shutil.copyfile(video, upload)
    data = tmp_path / "data"
    env = {"APPEAL_VALIDATOR_ANALYSIS_TARGET": "_service:gated_analysis"}
    problems: list[str] = []
    with Server(data, env=env) as server:
        page = chromium.new_page()
        try:
            look(page, axe_js, server.url + "/", "form", problems)
            # The upload's bar, shown as the script shows it: named, in a live region.
            page.evaluate("document.getElementById('upload-progress').hidden = false")
            named_and_announced(page, "upload-label", "form", problems)

            page.goto(server.url + "/?lang=en")
            page.set_input_files("#video", str(upload))
            page.click("#submit")
            page.wait_for_selector("#analysis-bar", timeout=60_000)
            check_url = page.url.split("?")[0]
            # The analysis waits for GATE_FILE in DATA_DIR: the progress page stays.
            for _ in range(600):  # wait_for_function would eval() in the page: the CSP says no
                if page.evaluate("document.getElementById('analysis-bar').value") >= 30:
                    break
                page.wait_for_timeout(100)
            look(page, axe_js, check_url, "progress", problems)
            named_and_announced(page, "analysis-label", "progress", problems)

            (data / GATE_FILE).touch()
            page.wait_for_selector("[data-testid=verdict]", timeout=60_000)
            look(page, axe_js, check_url, "report", problems)
            # The fake's verdict is fail: the other banners' colours, on the same page.
            for verdict in ("pass", "review"):
                page.evaluate(
                    "v => document.querySelector('[data-testid=verdict]').className = "
                    "'verdict ' + v",
                    verdict,
                )
                found = blocking_violations(page, axe_js)
                problems += [f"report as {verdict}: {p}" for p in found]

            # History and sharing: the list, the share page, the question before a
            # delete, and the read-only copy a share link opens.
            look(page, axe_js, server.url + "/checks", "history", problems)
            look(page, axe_js, check_url + "/delete", "delete confirmation", problems)
            page.goto(check_url + "/share")
            page.click("[data-testid=share-create]")
            link = page.locator("[data-testid=share-url]").input_value()
            look(page, axe_js, check_url + "/share", "share", problems)
            look(page, axe_js, link, "shared report", problems)
            look(page, axe_js, server.url + "/checks/no-such-check", "404", problems)
        finally:
            page.close()
    assert not problems, "axe (serious or critical):\n" + "\n".join(problems)


def test_the_verify_page_passes_axe_with_each_answer(chromium, axe_js: str, tmp_path: Path) -> None:
    """The verify page empty and with each kind of answer (verified, not verified with
    its reasons, a report it cannot use), at both widths and in both languages."""
    import hashlib
    import json
    from datetime import UTC, datetime

    from validator import witness

    data = tmp_path / "data"
    data.mkdir()
    video = tmp_path / "recording.webm"
    video.write_bytes(b"\x1aE\xdf\xa3" + bytes(range(256)) * 40)
    body = video.read_bytes()
    chunk = witness.Chunk(0, len(body), hashlib.sha256(body).hexdigest(), datetime.now(UTC))
    record = witness.build(recording_id="a11y", created_at=datetime.now(UTC), chunks=[chunk],
                           chunk_interval_s=1.0, file_sha256=chunk.sha256,
                           file_size_bytes=len(body))  # fmt: skip
    # Signed with the key the server will use (made in its DATA_DIR before it starts).
    signed = witness.sign(record, witness.load_or_create_key(data))
    good, changed, plain = (tmp_path / n for n in ("good.json", "changed.json", "plain.json"))
    good.write_text(json.dumps({"witness": signed}), "utf-8")
    changed.write_text(json.dumps({"witness": {**signed, "chunk_count": 2}}), "utf-8")
    plain.write_text(json.dumps({"verdict": "pass"}), "utf-8")
    problems: list[str] = []
    with Server(data) as server:
        page = chromium.new_page()
        try:
            look(page, axe_js, server.url + "/verify", "verify", problems)
            for viewport in VIEWPORTS:
                page.set_viewport_size(viewport)
                for lang in LANGS:
                    for report, ok in ((good, "true"), (changed, "false"), (plain, None)):
                        where = f"verify {report.stem} {lang} {viewport['width']}px"
                        page.goto(f"{server.url}/verify?lang={lang}")
                        page.set_input_files("#verify-video", str(video))
                        page.set_input_files("#verify-report", str(report))
                        page.click("[data-testid=verify-submit]")
                        page.wait_for_load_state()
                        result = page.locator("[data-testid=verify-result]")
                        got = result.get_attribute("data-ok") if result.count() else None
                        assert got == ok, where
                        if ok is None:
                            assert page.locator("[data-testid=verify-error]").is_visible(), where
                        problems += [f"{where}: {p}" for p in blocking_violations(page, axe_js)]
        finally:
            page.close()
    assert not problems, "axe (serious or critical):\n" + "\n".join(problems)
