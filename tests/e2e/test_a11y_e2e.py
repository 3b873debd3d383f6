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
