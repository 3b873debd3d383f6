"""The evidence report (validator/report/evidence.py) and its PDF (validator/report/pdf.py).

A generated clip with known truth goes through ``check_case`` into a folder; the PDF is
made from that folder alone (report.json and the v0-*.jpg pictures), then read back as a
viewer would: its text (pypdfium2), its font dictionary (pypdf: the font is embedded)
and its first page rasterised (not blank, and darker where the words are).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _media import clip

from validator.cases import check_case
from validator.errors import ConfigError, FontMissing
from validator.media.creation_times import REJECTED, CreationTime
from validator.policy import load_policy
from validator.report import pdf as pdfmod
from validator.report.evidence import WORDS, evidence, source_words
from validator.report.text import LABELS
from validator.requirements import CheckFacts, timeliness
from validator.timeutil import SHANGHAI

pypdfium2 = pytest.importorskip("pypdfium2", reason="pip install pypdfium2 (a test dependency)")
pypdf = pytest.importorskip("pypdf", reason="pip install pypdf (a test dependency)")

CHECKED_AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 12:00 in China


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video, truth = clip("clean")
    out = tmp_path_factory.mktemp("case")
    check_case(truth["case"], [video], out)
    return out


def _report(case_dir: Path) -> dict[str, Any]:
    return json.loads((case_dir / "report.json").read_text("utf-8"))["videos"][0]


def _text(data: bytes) -> str:
    doc = pypdfium2.PdfDocument(data)
    try:
        return "\n".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def _flat(s: str) -> str:
    """Without white space: a line the PDF wrapped reads as one."""
    return "".join(s.split())


def _fonts(data: bytes) -> list[dict[str, Any]]:
    """Every font descriptor of every page (the Type0 fonts' descendants')."""
    import io

    out = []
    for page in pypdf.PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for desc in font.get("/DescendantFonts") or [font]:
                out.append(dict(desc.get_object()["/FontDescriptor"].get_object()))
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pdf_says_the_verdicts_and_the_file_in_words(case_dir: Path, lang: str) -> None:
    report = _report(case_dir)
    data = pdfmod.case_pdf(case_dir, lang, checked_at=CHECKED_AT)
    assert data.startswith(b"%PDF-")
    text = _text(data)
    lab = LABELS[lang]
    for name, req in report["requirements"].items():  # each verdict in plain words
        assert f"{lab[name]}{'：' if lang == 'zh' else ': '}{lab[req['verdict']]}" in text
        for reason in req["reasons"]:
            assert reason["code"] not in text  # never a reason code
    assert report["file"]["sha256"] in text
    assert report["file"]["name"] in text
    assert f"{report['file']['size_bytes']:,}" in text
    assert "2026-11-25 12:00:00 (UTC+8)" in text  # the check's time, in China's clock
    assert report["tool"]["version"] in text
    # The recording time in China's clock, and where it came from in words, not a tag.
    recorded = datetime.fromisoformat(report["media"]["recorded_at"].replace("Z", "+00:00"))
    assert recorded.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") in text
    assert source_words(report["media"]["recorded_at_source"], lang) in text
    # The key frames with their times: each counted face, the waybill with its number.
    w = WORDS[lang]
    for face in report["faces"]["shown"]:
        assert w["face"].format(n=face["face"]) in text
    number = report["waybill"]["codes"][0]["text"]
    assert w["waybill_no"].format(number=number) in text
    if lang == "zh":
        assert "通过" in text and "一致性" in text and "时效性" in text


def test_the_font_is_embedded_and_the_first_page_is_not_blank(case_dir: Path) -> None:
    data = pdfmod.case_pdf(case_dir, "zh", checked_at=CHECKED_AT)
    fonts = _fonts(data)
    assert fonts, "no font in the PDF"
    for desc in fonts:  # every font the text uses is in the file (a subset)
        assert "/FontFile2" in desc or "/FontFile3" in desc, desc
    doc = pypdfium2.PdfDocument(data)
    try:
        width_pt, height_pt = doc[0].get_size()
        page = np.asarray(doc[0].render(scale=1).to_pil().convert("L"))
    finally:
        doc.close()
    # A4 portrait: 210 x 297 mm in points (1/72 in)
    assert width_pt == pytest.approx(210 / 25.4 * 72, abs=0.5)
    assert height_pt == pytest.approx(297 / 25.4 * 72, abs=0.5)
    h = page.shape[0]
    ink = page < 128
    assert ink.mean() > 0.01, "the first page is blank"
    # The title's band (the top fifth) carries dark pixels: the Chinese title is drawn,
    # not a row of empty boxes (those would be thin outlines, a fraction of the ink).
    assert ink[: h // 5].mean() > 0.005


def test_the_pictures_are_the_case_folders(case_dir: Path, tmp_path: Path) -> None:
    """Without the pictures the PDF says so, and is smaller by about their size."""
    report = _report(case_dir)
    with_frames = pdfmod.render_pdf(report, "en", pictures=case_dir)
    without = pdfmod.render_pdf(report, "en", pictures=tmp_path)  # an empty folder
    assert WORDS["en"]["no_frames"] in _text(without)
    assert WORDS["en"]["no_frames"] not in _text(with_frames)
    names = [f.name for f in evidence(report, "en").frames]
    assert names and all((case_dir / n).is_file() for n in names)
    jpegs = sum((case_dir / n).stat().st_size for n in names)
    assert len(with_frames) - len(without) >= 0.9 * jpegs  # embedded as they are (JPEG)


def test_an_untrusted_recording_time_says_why(case_dir: Path) -> None:
    """No trusted time: the evidence says why the file's time was rejected, as the
    timeliness verdict does (a time in the future: the device's clock was wrong)."""
    report = _report(case_dir)
    future = CreationTime("format:creation_time", "2099-01-01T00:00:00Z", None, "future",
                          "future")  # fmt: skip
    req = timeliness(None, None, CheckFacts(), load_policy(), rejected=[future])
    report["requirements"]["timeliness"] = req.to_dict()
    report["media"] = {**report["media"], "recorded_at": None, "recorded_at_source": None}
    for lang, why in (("en", REJECTED["future"][0]), ("zh", REJECTED["future"][1])):
        ev = evidence(report, lang)
        assert ev.recorded_at is None
        assert ev.recorded_note is not None and why in ev.recorded_note
        assert _flat(why) in _flat(_text(pdfmod.render_pdf(report, lang)))


def test_no_cjk_font_is_a_config_error_that_says_what_to_install(
    case_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pdfmod, "SYSTEM_FONTS", ())
    monkeypatch.setattr(pdfmod, "PYPI_FONT_PACKAGE", "no_such_font_package")
    with pytest.raises(FontMissing) as e:
        pdfmod.render_pdf(_report(case_dir), "zh")
    assert isinstance(e.value, ConfigError)
    assert "manimgx-fonts-cjk" in e.value.message and "fonts-noto-cjk" in e.value.message
    assert "字体" in e.value.details["message_zh"]
    # A setting that names a font without Chinese glyphs is refused the same way.
    latin = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if latin.is_file():
        monkeypatch.setenv(pdfmod.CJK_FONT_ENV, str(latin))
        with pytest.raises(FontMissing, match="no Chinese glyphs"):
            pdfmod.find_fonts()
    monkeypatch.setenv(pdfmod.CJK_FONT_ENV, str(tmp_path / "missing.ttf"))
    with pytest.raises(FontMissing, match="is not a file"):
        pdfmod.find_fonts()


def test_the_packaged_variable_font_is_instanced_and_embedded(
    case_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a machine without Debian's fonts, the PyPI package's variable font serves."""
    pytest.importorskip(pdfmod.PYPI_FONT_PACKAGE, reason="pip install manimgx-fonts-cjk")
    monkeypatch.setattr(pdfmod, "SYSTEM_FONTS", ())
    fonts = pdfmod.find_fonts()
    assert fonts.regular.wght == pdfmod.REGULAR_WGHT
    data = pdfmod.case_pdf(case_dir, "zh", checked_at=CHECKED_AT)
    assert _report(case_dir)["file"]["sha256"] in _text(data)
    assert "拆包视频检查证据报告" in _text(data)
    fonts = _fonts(data)
    assert all("/FontFile2" in d or "/FontFile3" in d for d in fonts)
    # Regular and bold are two instances: each its own name, or a viewer may take one
    # for the other.
    assert len({str(d["/FontName"]) for d in fonts}) == 2


def test_check_writes_both_pdfs_with_pdf(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from validator.cli import main

    video, truth = clip("clean")
    out = tmp_path / "out"
    number = truth["case"]["return"]["tracking_number"]
    code = main(["check", str(video), "--tracking-number", number, "--out", str(out), "--pdf"])
    assert code in (0, 1, 3)
    report = _report(out)
    for lang, title in (("zh", "拆包视频检查证据报告"), ("en", "Unboxing video evidence report")):
        text = _text((out / f"evidence-{lang}.pdf").read_bytes())
        assert title in text and report["file"]["sha256"] in text
    capsys.readouterr()
    assert main(["check", str(video), "--pdf"]) == 2  # --pdf writes into --out
    assert "--out" in capsys.readouterr().err


def test_the_same_check_gives_the_same_pdf_byte_for_byte(case_dir: Path) -> None:
    """With the check's time given (the frozen clock's, the service's finish time), the
    PDF is reproducible: the same instant in another offset, the same file."""
    a = pdfmod.case_pdf(case_dir, "zh", checked_at=CHECKED_AT)
    b = pdfmod.case_pdf(case_dir, "zh", checked_at="2026-11-25T12:00:00+08:00")
    assert a == b
    assert pdfmod.case_pdf(case_dir, "zh", checked_at="2026-11-26T12:00:00+08:00") != a
