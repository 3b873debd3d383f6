"""The evidence report's page and PDF through Flask's test client (the fake analysis)."""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from test_web_form import MP4, XHR, submit, wait_done

from validator.report import pdf as pdfmod

pypdfium2 = pytest.importorskip("pypdfium2", reason="pip install pypdfium2 (a test dependency)")


def _done(client: FlaskClient) -> str:
    check_id = submit(client, headers=XHR).json["id"]
    assert wait_done(client, check_id)["status"] == "done"
    return check_id


def _text(data: bytes) -> str:
    doc = pypdfium2.PdfDocument(data)
    try:
        return "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    finally:
        doc.close()


def test_the_report_page_links_the_pdf_and_the_printable_page(client: FlaskClient) -> None:
    check_id = _done(client)
    html = client.get(f"/checks/{check_id}?lang=zh").get_data(as_text=True)
    assert f'href="/checks/{check_id}/evidence.pdf"' in html and "下载证据报告（PDF）" in html
    assert f'href="/checks/{check_id}/evidence"' in html


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pdf_in_the_pages_language(client: FlaskClient, lang: str) -> None:
    check_id = _done(client)
    resp = client.get(f"/checks/{check_id}/evidence.pdf?lang={lang}")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert f"-{lang}.pdf" in resp.headers["Content-Disposition"]
    assert "attachment" in resp.headers["Content-Disposition"]
    text = _text(resp.data)
    assert hashlib.sha256(MP4).hexdigest() in text
    assert "我的视频.mp4" in text  # the name the merchant uploaded, not the stored "video"
    if lang == "zh":  # the fake report's words (tests/_service.py)
        assert "完整性：不通过" in text and "2.0 秒处有剪辑。" in text
        assert "包裹第 1 面" in text  # its one picture, v0-face-1.jpg
    else:
        assert "Completeness: FAIL" in text and "A cut at 2.0 s." in text


def test_the_printable_page_prints_dark_words(client: FlaskClient) -> None:
    check_id = _done(client)
    html = client.get(f"/checks/{check_id}/evidence?lang=zh").get_data(as_text=True)
    assert 'data-testid="evidence"' in html and "拆包视频检查证据报告" in html
    assert hashlib.sha256(MP4).hexdigest() in html
    assert f"/checks/{check_id}/thumbnails/v0-face-1.jpg" in html
    assert "waybill_not_found" not in html  # words, never reason codes
    assert "/static/evidence.css" in html
    with client.get("/static/evidence.css") as resp:  # a file response: closed after
        css = resp.get_data(as_text=True)
    assert "@media print" in css and ".bar" in css.split("@media print", 1)[1]


def test_another_session_gets_neither(app: Flask, client: FlaskClient) -> None:
    check_id = _done(client)
    other = app.test_client()
    for url in (f"/checks/{check_id}/evidence", f"/checks/{check_id}/evidence.pdf"):
        assert other.get(url).status_code == 404


def test_without_a_cjk_font_the_pdf_is_a_localised_503(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_id = _done(client)
    monkeypatch.setattr(pdfmod, "SYSTEM_FONTS", ())
    monkeypatch.setattr(pdfmod, "PYPI_FONT_PACKAGE", "no_such_font_package")
    resp = client.get(f"/checks/{check_id}/evidence.pdf?lang=zh")
    assert resp.status_code == 503
    assert "字体" in resp.get_data(as_text=True)
