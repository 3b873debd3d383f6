"""The evidence report in headless Chromium: the PDF downloaded from the report page and
read back (its Chinese text), the printable page, and the screenshots anyone can look at.

Screenshots go to ``docs/screenshots/`` (or ``E2E_SCREENSHOTS``): the form, the report in
Chinese and English at 375 and 1366 px, the printable page, and the PDF's first page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _media import clip
from _service import Server
from test_a11y_e2e import look

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WIDTHS = (375, 1366)  # a phone, a laptop


def _shots() -> Path:
    folder = Path(os.environ.get("E2E_SCREENSHOTS") or ROOT / "docs" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script, as tests/e2e/test_a11y_e2e.py injects it."""
    axe = pytest.importorskip("axe_playwright_python", reason="pip install axe-playwright-python")
    return (Path(axe.__file__).parent / "axe.min.js").read_text("utf-8")


def test_download_the_evidence_pdf_and_read_its_chinese(
    chromium, axe_source: str, tmp_path: Path
) -> None:
    pypdfium2 = pytest.importorskip("pypdfium2", reason="pip install pypdfium2")
    video, truth = clip("clean")
    upload = tmp_path / "拆包视频.mp4"
    shutil.copyfile(video, upload)
    shots = _shots()
    with Server(tmp_path / "data") as server:
        page = chromium.new_page(viewport={"width": WIDTHS[0], "height": 812})
        try:
            page.goto(server.url + "/?lang=zh")
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.screenshot(path=str(shots / f"form-zh-{width}.png"), full_page=True)
            page.set_input_files("#video", str(upload))
            page.fill("#tracking_number", truth["case"]["return"]["tracking_number"])
            page.fill("#return_signed_at", truth["case"]["return"]["signed_at"][:16])
            page.click("#submit")
            page.wait_for_selector("[data-testid=verdict]", timeout=120_000)
            report_url = page.url.split("?", 1)[0]
            for lang in ("zh", "en"):
                page.goto(f"{report_url}?lang={lang}")
                for width in WIDTHS:
                    page.set_viewport_size({"width": width, "height": 900})
                    path = shots / f"report-{lang}-{width}.png"
                    page.screenshot(path=str(path), full_page=True)

            page.goto(f"{report_url}?lang=zh")
            # Printed, the report page keeps its verdict's words: dark ink, not white on red.
            page.emulate_media(media="print")
            for selector in (".verdict-value", ".pill"):
                colour = page.eval_on_selector(selector, "e => getComputedStyle(e).color")
                assert colour == "rgb(0, 0, 0)", selector
            page.emulate_media(media="screen")
            with page.expect_download() as info:
                page.click("[data-testid=download-pdf]")
            download = info.value
            assert download.suggested_filename.endswith("-zh.pdf")
            pdf = pypdfium2.PdfDocument(download.path())
            try:
                text = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
                pdf[0].render(scale=1.5).to_pil().save(shots / "evidence-pdf-zh-page1.png")
            finally:
                pdf.close()
            assert "拆包视频检查证据报告" in text
            for word in ("一致性", "完整性", "有效性", "时效性", "通过"):
                assert word in text
            assert "拆包视频.mp4" in text  # the name the merchant uploaded
            sha = page.evaluate(
                "fetch(location.pathname + '/report.json').then(r => r.json())"
                ".then(j => j.file.sha256)"
            )
            assert sha and sha in text

            # The printable page: the same words, its print stylesheet hides the bar.
            page.click("[data-testid=evidence-page]")
            page.wait_for_selector("[data-testid=evidence]")
            assert page.locator("[data-testid=sha256]").inner_text() == sha
            page.emulate_media(media="print")
            assert not page.locator(".bar").is_visible()
            colour = page.eval_on_selector(".ev-value", "e => getComputedStyle(e).color")
            assert colour == "rgb(0, 0, 0)"  # the verdict's word in black ink on paper
            page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
            page.screenshot(path=str(shots / "evidence-page-zh-print.png"), full_page=True)

            page.emulate_media(media="screen")
            problems: list[str] = []
            look(page, axe_source, page.url.split("?", 1)[0], "evidence page", problems)
            assert not problems, "axe (serious or critical):\n" + "\n".join(problems)
        finally:
            page.close()
    for name in ("form-zh-375", "report-zh-1366", "report-en-375", "evidence-pdf-zh-page1"):
        assert (shots / f"{name}.png").stat().st_size > 5_000, name
