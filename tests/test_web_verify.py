"""The verify page through Flask's test client: a recording's file and its report are
checked against the witness record and this service's key, with the answer the CLI
gives (tests/test_recordings_web.py runs the CLI on a real recording), in both
languages; the uploads are gone once it answers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _service import app_config
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from validator import witness
from validator.web import create_app
from validator.witness import Chunk

T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
RID = "5f0c1a9e-0000-4000-8000-0000000000aa"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(app_config(tmp_path / "data", MAX_UPLOAD_MB=2))
    try:
        yield app
    finally:
        app.extensions["appeal"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def recording(key_dir: Path, n: int = 6) -> tuple[bytes, dict, list[bytes]]:
    """A recording's bytes (n parts of different sizes) and its witness, signed with the
    key in ``key_dir`` (the service's DATA_DIR: the key the service signs with)."""
    parts = [os.urandom(3000 - 7 * i) for i in range(n)]
    data = b"".join(parts)
    chunks = [Chunk(i, len(p), hashlib.sha256(p).hexdigest(), T0 + timedelta(seconds=1 + i))
              for i, p in enumerate(parts)]  # fmt: skip
    record = witness.build(recording_id=RID, created_at=T0, chunks=chunks, chunk_interval_s=1.0,
                           file_sha256=hashlib.sha256(data).hexdigest(),
                           file_size_bytes=len(data))  # fmt: skip
    return data, witness.sign(record, witness.load_or_create_key(key_dir)), parts


def data_dir(app: Flask) -> Path:
    return Path(app.config["DATA_DIR"])


def token(client: FlaskClient, lang: str = "en") -> str:
    page = client.get(f"/verify?lang={lang}").get_data(as_text=True)
    return re.search(r'action="/verify\?csrf_token=([^"]+)"', page).group(1)


def post(client: FlaskClient, video: bytes | None, report: bytes | None, lang: str = "en"):
    """The page's form post. The body is encoded here, in memory: werkzeug's test client
    spools large bodies to a temporary file it leaves open when the app refuses early."""
    form = {}
    if video is not None:
        form["video"] = FileStorage(io.BytesIO(video), "recording.webm")
    if report is not None:
        form["report"] = FileStorage(io.BytesIO(report), "report.json")
    boundary, body = encode_multipart(form)
    return client.post(f"/verify?csrf_token={token(client, lang)}", data=body,
                       content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip


def report_of(record: dict) -> bytes:
    """The record as a check's report.json carries it."""
    return json.dumps({"verdict": "pass", "witness": record}, ensure_ascii=False).encode()


def answer(resp) -> tuple[bool | None, str]:
    html = resp.get_data(as_text=True)
    m = re.search(r'data-testid="verify-result"\s+data-ok="(true|false)"', html)
    return (None if m is None else m.group(1) == "true"), html


def test_the_page_is_a_form_with_its_token_in_both_languages(client: FlaskClient) -> None:
    en = client.get("/verify?lang=en")
    html = en.get_data(as_text=True)
    assert en.status_code == 200 and 'name="video"' in html and 'name="report"' in html
    assert 'enctype="multipart/form-data"' in html and "csrf_token=" in html
    zh = client.get("/verify?lang=zh").get_data(as_text=True)
    assert "核验见证录制的视频" in zh and 'lang="zh-CN"' in zh


def test_an_untouched_recording_is_verified(app: Flask, client: FlaskClient) -> None:
    data, record, _ = recording(data_dir(app))
    resp = post(client, data, report_of(record))
    ok, html = answer(resp)
    assert resp.status_code == 200 and ok is True
    assert RID in html and record["signature"]["key_id"] in html
    # The same answer as the library (the CLI's) for the same file.
    assert witness.verify(io.BytesIO(data), record).ok
    # The bare record, or an API check that holds it, is accepted as the report too.
    assert answer(post(client, data, json.dumps(record).encode()))[0] is True
    api_check = {"id": "x", "report": {"witness": record}}
    assert answer(post(client, data, json.dumps(api_check).encode()))[0] is True


def test_one_changed_byte_is_not_verified_and_the_part_is_named(
    app: Flask, client: FlaskClient
) -> None:
    data, record, parts = recording(data_dir(app))
    changed = bytearray(data)
    changed[len(parts[0]) + len(parts[1]) + 5] ^= 0x01  # inside part 2
    resp = post(client, bytes(changed), report_of(record))
    ok, html = answer(resp)
    assert resp.status_code == 422 and ok is False
    assert "part(s) 2 differ" in html and "SHA-256 differs" in html
    zh = post(client, bytes(changed), report_of(record), lang="zh")
    ok, html = answer(zh)
    assert ok is False and "第 2 段的字节与服务收到的不同" in html
    # The page's list is the library's: one line per problem it found.
    found = witness.verify(io.BytesIO(bytes(changed)), record).found
    assert html.count("<li>") == len(found) == 2


def test_a_dropped_part_is_not_verified(app: Flask, client: FlaskClient) -> None:
    _, record, parts = recording(data_dir(app))
    ok, html = answer(post(client, b"".join(parts[:3] + parts[4:]), report_of(record)))
    assert ok is False and "a part was dropped or added" in html


def test_a_changed_record_breaks_the_signature(app: Flask, client: FlaskClient) -> None:
    data, record, _ = recording(data_dir(app))
    forged = {**record, "first_chunk_at": "2026-11-19T07:00:01Z"}
    ok, html = answer(post(client, data, report_of(forged)))
    assert ok is False and "a field of the record was changed" in html


def test_a_record_signed_by_another_key_is_named_as_such(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    """Signed consistently, but not by this service: the page trusts only its own key
    (the CLI trusts the record's own key unless given --key)."""
    (tmp_path / "other").mkdir()
    data, record, _ = recording(tmp_path / "other")
    assert witness.verify(io.BytesIO(data), record).ok  # self-consistent
    ok, html = answer(post(client, data, report_of(record)))
    assert ok is False and "not by this service&#39;s key" in html
    ok, html = answer(post(client, data, report_of(record), lang="zh"))
    assert ok is False and "而不是本服务的密钥" in html


@pytest.mark.parametrize(
    ("video", "report", "en", "zh"),
    [
        pytest.param(b"v", json.dumps({"verdict": "pass"}).encode(), "has no witness record",
                     "没有见证记录", id="no-witness"),
        pytest.param(b"v", b"\xff not json", "is not a JSON file", "不是 JSON 文件", id="not-json"),
        pytest.param(None, b"{}", "Choose the video file", "请选择视频文件", id="no-video"),
        pytest.param(b"v", None, "Choose the report", "请选择随视频提供的报告", id="no-report"),
    ],
)  # fmt: skip
def test_what_cannot_be_verified_gets_a_clear_answer(
    client: FlaskClient, video, report, en: str, zh: str
) -> None:
    resp = post(client, video, report)
    ok, html = answer(resp)
    assert resp.status_code == 422 and ok is None and en in html
    assert 'role="alert"' in html and "Traceback" not in html
    assert zh in post(client, video, report, lang="zh").get_data(as_text=True)


def test_a_post_without_the_token_is_refused(app: Flask, client: FlaskClient) -> None:
    data, record, _ = recording(data_dir(app))
    client.get("/verify")
    form = {"video": (io.BytesIO(data), "v.webm"), "report": (io.BytesIO(report_of(record)), "r")}
    resp = client.post("/verify", data=form)
    assert resp.status_code == 400 and "verify-result" not in resp.get_data(as_text=True)


def test_the_upload_limit_bounds_the_video(app: Flask, client: FlaskClient) -> None:
    resp = post(client, b"\0" * (4 << 20), b"{}")  # MAX_UPLOAD_MB=2 in this app
    assert resp.status_code == 413


def test_the_uploads_are_deleted_after_the_answer(app: Flask, client: FlaskClient) -> None:
    data, record, _ = recording(data_dir(app))
    before = set(os.listdir(data_dir(app)))
    assert answer(post(client, data, report_of(record)))[0] is True
    tmp = app.extensions["appeal"].tmp_dir
    assert list(tmp.iterdir()) == []  # the parts' files were unnamed, and are closed
    assert set(os.listdir(data_dir(app))) == before  # nothing kept beside them
    proc_fds = Path(f"/proc/{os.getpid()}/fd")
    if proc_fds.is_dir():  # no open descriptor left on a deleted upload
        links = [os.readlink(p) for p in proc_fds.iterdir() if p.is_symlink()]
        assert not [p for p in links if str(tmp) in p]


def test_the_page_and_the_cli_agree(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    """One file, one report: the CLI's exit code and the page's answer are the same."""
    data, record, _ = recording(data_dir(app))
    key = tmp_path / "key.json"
    key.write_text(client.get("/.well-known/appeal-validator-witness-key").get_data(as_text=True))
    for name, video in (("good", data), ("bad", data[:-1] + bytes([data[-1] ^ 1]))):
        v, r = tmp_path / f"{name}.webm", tmp_path / f"{name}.json"
        v.write_bytes(video)
        r.write_bytes(report_of(record))
        cli = subprocess.run(
            [sys.executable, "-m", "validator", "verify", str(v), str(r), "--key", str(key),
             "--format", "json"], capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        ok, html = answer(post(client, video, report_of(record)))
        assert (cli.returncode == 0) is ok
        # Each problem the CLI names, the page names (in English, the same sentence
        # with "chunk" said as "part" for a reader who never saw the chunks).
        problems = json.loads(cli.stdout)["problems"]
        assert html.count("<li>") == len(problems) and (ok or problems)
        page = html.replace("&#39;", "'").lower()
        for problem in problems:
            assert problem.replace("chunk", "part").split(" (")[0][:40].lower() in page


def test_the_record_page_links_to_the_verify_page(client: FlaskClient) -> None:
    for lang, words in (("en", "Verify it"), ("zh", "核验视频")):
        html = client.get(f"/record?lang={lang}").get_data(as_text=True)
        assert 'href="/verify"' in html and words in html


def test_every_problem_the_library_names_has_words_in_both_languages() -> None:
    """The page's words cover each kind of problem ``witness.verify`` reports (read from
    its source: a new kind without words would show the English sentence in Chinese)."""
    import inspect

    from validator.web.verify import LABELS

    kinds = set(re.findall(r'\.add\(\s*"([a-z_]+)"', inspect.getsource(witness)))
    assert len(kinds) >= 12
    for lang in ("en", "zh"):
        assert {f"vp_{k}" for k in kinds} <= set(LABELS[lang]), lang
    assert set(LABELS["en"]) == set(LABELS["zh"])
