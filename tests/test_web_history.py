"""The form's history, share links and delete confirmation (issue 12), through Flask's
test client. The ``app`` and ``client`` fixtures are conftest.py's (a worker runs the
fake analysis: a ``fail`` verdict, one face picture)."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_web_form import wait_done

from validator.errors import ConfigError
from validator.jobs import settings as settings_mod
from validator.jobs.tables import Share

MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 200
XHR = {"X-Requested-With": "XMLHttpRequest"}


def token(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def upload(client: FlaskClient, name: str = "开箱.mp4", content: bytes = MP4) -> str:
    data = {"video": (io.BytesIO(content), name)}
    resp = client.post(f"/checks?csrf_token={token(client)}", data=data, headers=XHR)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json["id"]


def make_share(client: FlaskClient, check_id: str) -> str:
    """Creates a link from the share page, as the button does; returns its path."""
    resp = client.post(f"/checks/{check_id}/shares?csrf_token={token(client)}")
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    found = re.search(r'id="share-url" type="text" readonly value="([^"]+)"', page)
    assert found, page
    # Shown once: the next visit of the page no longer has it (only its hash is kept).
    assert 'id="share-url"' not in client.get(resp.headers["Location"]).get_data(as_text=True)
    return "/" + found.group(1).split("/", 3)[3]


def history_ids(client: FlaskClient, lang: str = "en") -> list[str]:
    html = client.get(f"/checks?lang={lang}").get_data(as_text=True)
    return re.findall(r'data-check-id="([0-9a-f-]+)"', html)


def test_history_lists_this_browsers_checks_newest_first(app: Flask, client: FlaskClient) -> None:
    assert history_ids(client) == []
    assert "No checks from this browser yet" in client.get("/checks").get_data(as_text=True)
    first = upload(client, "第一个.mp4")
    second = upload(client, "第二个.mp4")
    for c in (first, second):
        wait_done(client, c)
    assert history_ids(client) == [second, first]  # newest first

    html = client.get("/checks?lang=en").get_data(as_text=True)
    rows = app.extensions["appeal"].store.session_checks(
        app.extensions["appeal"].web_tenant_id, _sid(client), limit=10
    )
    for row in rows:  # the verdict and the date (China time) of each
        assert f'data-check-id="{row.id}" data-status="done" data-verdict="fail"' in html
        shown = row.created_at.astimezone(UTC) + timedelta(hours=8)
        assert shown.strftime("%Y-%m-%d %H:%M") in html
    assert "第一个.mp4" in html and "FAIL" in html
    zh = client.get("/checks?lang=zh").get_data(as_text=True)
    assert "我的检查记录" in zh and "不通过" in zh and "FAIL" not in zh

    other = app.test_client()  # another browser: its own (empty) history
    assert history_ids(other) == []


def _sid(client: FlaskClient) -> str:
    with client.session_transaction() as s:
        return s["sid"]


def test_a_share_link_opens_the_report_read_only_elsewhere(app: Flask, client: FlaskClient):
    check_id = upload(client)
    wait_done(client, check_id)
    link = make_share(client, check_id)
    assert re.fullmatch(r"/s/[A-Za-z0-9_-]{43}", link), link  # 32 random bytes

    colleague = app.test_client()  # another device: no session, no cookie
    assert colleague.get(f"/checks/{check_id}").status_code == 404
    resp = colleague.get(link + "?lang=zh")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-testid="verdict" data-verdict="fail"' in html
    assert "2.0 秒处有剪辑。" in html and 'data-testid="shared-view"' in html
    assert "no-store" in resp.headers["Cache-Control"]
    # Read-only: nothing that deletes or shares, no link into the owner's pages.
    assert "/delete" not in html and "/shares" not in html and f"/checks/{check_id}" not in html
    pictures = re.findall(r'<img src="([^"]+)"', html)
    assert pictures and all(p.startswith(link + "/thumbnails/") for p in pictures)
    with colleague.get(pictures[0]) as pic:
        assert pic.status_code == 200 and pic.mimetype == "image/jpeg"
    # The player plays through the link too (with Range, as a browser seeks).
    src = re.search(r'<video[^>]* src="([^"]+)"', html)
    assert src and src.group(1).startswith(link + "/"), src
    with colleague.get(src.group(1), headers={"Range": "bytes=0-99"}) as clip:
        assert clip.status_code == 206 and len(clip.data) == 100
    assert f'href="{link}/evidence.pdf"' in html
    report = colleague.get(link + "/report.json")
    assert report.status_code == 200 and report.json["verdict"] == "fail"
    assert "attachment" in report.headers["Content-Disposition"]
    # A post through the link changes nothing (there is no such route).
    assert colleague.post(link + "/delete").status_code in (400, 404, 405)
    assert client.get(f"/checks/{check_id}").status_code == 200


def test_only_the_tokens_hash_is_stored(app: Flask, client: FlaskClient) -> None:
    check_id = upload(client)
    wait_done(client, check_id)
    secret = make_share(client, check_id).rsplit("/", 1)[1]
    with app.extensions["appeal"].store.session() as s:
        rows = list(s.scalars(select(Share)))
    assert [r.token_hash for r in rows] == [hashlib.sha256(secret.encode()).hexdigest()]
    db = Path(app.config["DATA_DIR"]) / "appeal.db"
    assert secret.encode() not in db.read_bytes() + _wal(db)


def _wal(db: Path) -> bytes:
    wal = db.with_name(db.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def test_a_revoked_link_no_longer_opens(app: Flask, client: FlaskClient) -> None:
    check_id = upload(client)
    wait_done(client, check_id)
    kept, revoked = make_share(client, check_id), make_share(client, check_id)
    colleague = app.test_client()
    assert colleague.get(revoked).status_code == 200
    share_id = _share_ids(client, check_id)[0]  # newest first: the second link
    resp = client.post(f"/checks/{check_id}/shares/{share_id}/revoke?csrf_token={token(client)}")
    assert resp.status_code == 303
    page = client.get(resp.headers["Location"] + "?lang=zh").get_data(as_text=True)
    assert "链接已撤销" in page and 'data-state="revoked"' in page and 'data-state="live"' in page
    gone = colleague.get(revoked + "?lang=zh")
    assert gone.status_code == 404 and "分享链接无效" in gone.get_data(as_text=True)
    assert colleague.get(revoked + "/report.json").status_code == 404
    assert colleague.get(kept).status_code == 200  # the other link is unaffected
    # Revoking needs the owner's session and token: another browser cannot.
    colleague.get("/")
    with colleague.session_transaction() as s:
        forged = s["csrf"]
    (other_id,) = _share_ids(client, check_id)  # only the live one can be revoked
    url = f"/checks/{check_id}/shares/{other_id}/revoke?csrf_token={forged}"
    assert colleague.post(url).status_code == 404
    assert colleague.get(kept).status_code == 200


def _share_ids(client: FlaskClient, check_id: str) -> list[int]:
    page = client.get(f"/checks/{check_id}/share").get_data(as_text=True)
    return [int(i) for i in re.findall(r"/shares/(\d+)/revoke", page)]


def test_a_link_expires_after_the_setting(tmp_path: Path) -> None:
    from _service import app_config, worker

    from validator.web import create_app

    app = create_app(app_config(tmp_path / "data", ANALYSIS_TARGET="_service:fake_analysis",
                                SHARE_TTL_H=2))  # fmt: skip
    svc = app.extensions["appeal"]
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    svc.now = lambda: start  # an injected clock: no sleeping for hours
    try:
        with worker(app):
            client = app.test_client()
            check_id = upload(client)
            wait_done(client, check_id)
            link = make_share(client, check_id)
            page = client.get(f"/checks/{check_id}/share").get_data(as_text=True)
            assert "2026-11-30 18:00" in page  # 08:00 UTC + 2 h, in China time
            colleague = app.test_client()
            ttl = timedelta(hours=2)
            for after, status in ((ttl - timedelta(seconds=1), 200), (ttl, 404),
                                  (timedelta(days=30), 404)):  # fmt: skip
                svc.now = lambda after=after: start + after
                assert colleague.get(link).status_code == status, after
            assert 'data-state="expired"' in client.get(f"/checks/{check_id}/share").get_data(
                as_text=True
            )
    finally:
        svc.close()


def test_the_share_ttl_is_a_declared_setting() -> None:
    setting = next(s for s in settings_mod.SETTINGS if s.name == "SHARE_TTL_H")
    assert setting.env == "APPEAL_VALIDATOR_SHARE_TTL_H" and setting.help
    assert settings_mod.resolve({"SHARE_TTL_H": "0.5"}).share_ttl_h == 0.5
    with pytest.raises(ConfigError, match="SHARE_TTL_H"):
        settings_mod.resolve({"SHARE_TTL_H": "0"})


def test_delete_asks_first_then_lands_on_the_history(app: Flask, client: FlaskClient) -> None:
    check_id = upload(client)
    wait_done(client, check_id)
    link = make_share(client, check_id)
    report = client.get(f"/checks/{check_id}").get_data(as_text=True)
    # The report's delete is a link to the confirmation page (no JavaScript needed).
    assert f'href="/checks/{check_id}/delete"' in report
    confirm = client.get(f"/checks/{check_id}/delete?lang=zh")
    html = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "确定删除此检查吗" in html
    assert 'name="confirm" value="yes"' in html

    # A post without the confirmation deletes nothing: it is sent to the question.
    resp = client.post(f"/checks/{check_id}/delete?csrf_token={token(client)}")
    assert resp.status_code == 303 and resp.headers["Location"] == f"/checks/{check_id}/delete"
    assert client.get(f"/checks/{check_id}").status_code == 200

    resp = client.post(
        f"/checks/{check_id}/delete?csrf_token={token(client)}", data={"confirm": "yes"}
    )
    assert resp.status_code == 303 and resp.headers["Location"] == "/checks"
    landed = client.get("/checks?lang=zh")
    text = landed.get_data(as_text=True)
    assert landed.status_code == 200 and "视频及其报告已删除" in text  # the notice, once
    assert "视频及其报告已删除" not in client.get("/checks").get_data(as_text=True)
    assert history_ids(client) == []
    assert client.get(f"/checks/{check_id}").status_code == 404
    assert app.test_client().get(link).status_code == 404  # its links went with it
    assert not list((Path(app.config["DATA_DIR"]) / "files").rglob("video"))


def test_a_link_to_a_failed_check_says_why_in_the_pages_language(app: Flask) -> None:
    svc = app.extensions["appeal"]
    client = app.test_client()
    client.get("/")
    with client.session_transaction() as s:
        s["sid"] = sid = "b" * 32
    row, _ = svc.store.create_check(
        tenant_id=svc.web_tenant_id, web_session=sid, filename="坏.mp4", sha256="0" * 64,
        facts_hash="0" * 64, policy="taobao", policy_digest="0" * 64,
    )  # fmt: skip
    assert svc.store.fail(row.id, None, {"code": "undecodable", "message": "x", "details": {}})
    link = make_share(client, row.id)
    html = app.test_client().get(link + "?lang=zh").get_data(as_text=True)
    assert "视频无法解码" in html and "undecodable" not in html
    assert app.test_client().get(link + "/report.json").status_code == 404


def test_the_share_page_and_the_docs_say_the_link_shows_the_video(
    app: Flask, client: FlaskClient
) -> None:
    """A share link serves the original video(s) and the PDF besides the report, its
    pictures and JSON (the faces, the waybill's address): the merchant reads that
    before making one, in both languages, and the docs and the setting's help say it."""
    check_id = upload(client)
    wait_done(client, check_id)
    link = make_share(client, check_id)
    colleague = app.test_client()
    with colleague.get(link + "/video") as served:
        assert served.status_code == 200 and served.data == MP4  # what the words must say
    for lang, video, pdf in (("en", "shows the video too", "PDF"), ("zh", "也会显示视频", "PDF")):
        page = client.get(f"/checks/{check_id}/share?lang={lang}").get_data(as_text=True)
        note = re.search(r'data-testid="share-video-note">(.*?)</p>', page, re.S)
        assert note and video in note.group(1), lang
        assert pdf in page
    doc = " ".join((Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text().split())
    section = doc[doc.index("### History, share links and delete") :][:1500]
    assert "original video(s)" in section and "PDF" in section
    setting = next(s for s in settings_mod.SETTINGS if s.name == "SHARE_TTL_H")
    assert "video" in setting.help and "PDF" in setting.help
