"""Hardening issue, items 4-6: rate limits per client address, a health answer without
tenants' counts, anonymous bodies refused before they are read, JSON bodies bounded by
the case limit, and hostile case JSON answered ``bad_case`` on every path."""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _service import app_config
from flask import Flask
from flask.testing import FlaskClient

from validator import cli
from validator.predict.case import DEFAULT_MAX_CASE_BYTES
from validator.web import create_app

MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 200
XHR = {"X-Requested-With": "XMLHttpRequest"}
DEEP = "[" * 5000 + "]" * 5000  # past Python's JSON decoder's recursion
BIG_INT = "1" + "0" * 5000  # past int()'s 4,300-digit guard (sys.int_info)


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    """Apps without a worker (nothing here needs a job to run), closed after the test."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        data = tmp_path / f"data{len(apps)}"
        app = create_app(app_config(data, RUN_POOL=False, **overrides))
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["appeal"].close()


def key_for(app: Flask, tenant: str = "acme") -> dict[str, str]:
    _, key = app.extensions["appeal"].store.create_key(tenant)
    return {"Authorization": f"Bearer {key}"}


def csrf(client: FlaskClient) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


class CountingStream(io.RawIOBase):
    """A request body of ``size`` bytes that records how much the server pulled."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0
        self.pulled = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # werkzeug's test client measures the body by seeking
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset + (0, self.pos, self.size)[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self.size - self.pos))
        buffer[:n] = b"x" * n
        self.pos += n
        self.pulled += n
        return n


# -- item 4: rate limits -------------------------------------------------------------------


def test_the_window_slides() -> None:
    from validator.web.limits import SlidingWindow

    now = [0.0]
    window = SlidingWindow(2, window_s=60.0, clock=lambda: now[0])
    assert window.retry_after_s("a") == 0
    window.hit("a")
    now[0] = 10.0
    window.hit("a")
    assert window.retry_after_s("a") == pytest.approx(50.0)  # the first hit leaves at 60 s
    assert window.retry_after_s("b") == 0  # per address
    now[0] = 60.5
    assert window.retry_after_s("a") == 0


def test_failed_keys_are_limited_per_address(make: Any) -> None:
    app = make(FAILED_KEYS_PER_MIN=3)
    client = app.test_client()
    good = key_for(app)
    for _ in range(10):  # good keys never count
        assert client.get("/api/v1/checks/x", headers=good).status_code == 404
    bad = {"Authorization": "Bearer av_guess"}
    for _ in range(3):
        assert client.get("/api/v1/checks/x", headers=bad).status_code == 401
    resp = client.get("/api/v1/checks/x", headers=bad)
    assert resp.status_code == 429 and resp.json["error"]["code"] == "rate_limited"
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert resp.json["error"]["details"]["retry_after_s"] == int(resp.headers["Retry-After"])
    # While the address is over its limit no key is looked at: a guess that hit would
    # otherwise tell itself apart from the misses.
    assert client.get("/api/v1/checks/x", headers=good).status_code == 429
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/api/v1/checks/x", headers=bad, environ_base=other).status_code == 401
    # Health and the document need no key and are not limited.
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_forwarded_for_is_trusted_only_behind_a_proxy(make: Any) -> None:
    bad = {"Authorization": "Bearer av_guess"}
    for proxies, second in ((0, 429), (1, 401)):
        client = make(FAILED_KEYS_PER_MIN=1, TRUSTED_PROXIES=proxies).test_client()
        first = client.get("/api/v1/checks/x", headers={**bad, "X-Forwarded-For": "198.51.100.1"})
        assert first.status_code == 401
        resp = client.get("/api/v1/checks/x", headers={**bad, "X-Forwarded-For": "198.51.100.2"})
        assert resp.status_code == second, proxies


def test_form_posts_are_limited_per_address(make: Any) -> None:
    app = make(FORM_POSTS_PER_MIN=2)
    client = app.test_client()
    token = csrf(client)
    for _ in range(2):
        resp = client.post(
            f"/checks?csrf_token={token}", data={"video": (io.BytesIO(MP4), "a.mp4")}
        )
        assert resp.status_code == 303
    resp = client.post("/checks?lang=zh", data={"video": (io.BytesIO(MP4), "a.mp4")})
    assert resp.status_code == 429 and resp.mimetype == "text/html"
    assert 0 < int(resp.headers["Retry-After"]) <= 60
    assert "请求过于频繁" in resp.get_data(as_text=True)  # the page speaks the visitor's language
    resp = client.post(f"/checks?csrf_token={token}", headers=XHR)  # what the script shows
    assert resp.status_code == 429 and resp.json["error"]["code"] == "rate_limited"


def test_health_shows_no_counts(make: Any) -> None:
    app = make()
    client = app.test_client()
    client.post("/api/v1/checks", headers=key_for(app),
                data={"video": (io.BytesIO(MP4), "a.mp4")})  # fmt: skip
    body = client.get("/api/v1/health").json
    assert body["status"] == "ok" and body["storage"] == "ok"
    assert "checks" not in body
    assert not any(isinstance(v, dict | list) for v in body.values()), body


def test_health_is_degraded_when_storage_is_not_writable(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from validator.web import api

    client = make().test_client()
    monkeypatch.setattr(api, "storage_writable", lambda path: False)
    resp = client.get("/api/v1/health")
    assert resp.status_code == 503
    assert resp.json["status"] == "degraded" and resp.json["storage"] == "not_writable"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_health_is_degraded_with_a_read_only_data_dir(make: Any) -> None:
    app = make()
    tmp = app.extensions["appeal"].tmp_dir
    tmp.chmod(0o500)
    try:
        resp = app.test_client().get("/api/v1/health")
    finally:
        tmp.chmod(0o700)
    assert resp.status_code == 503 and resp.json["status"] == "degraded"


def test_the_storage_probe_sees_a_missing_folder(tmp_path: Path) -> None:
    from validator.web.api import storage_writable

    assert storage_writable(tmp_path)
    assert not storage_writable(tmp_path / "gone")


# -- item 5: anonymous bodies ---------------------------------------------------------------

BIG_BODY = 20 << 20
MULTIPART = "multipart/form-data; boundary=xyz"


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("no-session", id="no-session"),
        pytest.param("token-only-in-body", id="token-only-in-body"),
        pytest.param("forged-header", id="forged-header"),
    ],
)
def test_an_anonymous_body_is_refused_unread(make: Any, how: str) -> None:
    client = make().test_client()
    headers: dict[str, str] = {}
    if how != "no-session":
        csrf(client)  # a session with a token, which the body would carry
    if how == "forged-header":
        headers["X-CSRF-Token"] = "forged"
    body = CountingStream(BIG_BODY)
    resp = client.post("/checks", input_stream=body, content_length=BIG_BODY,
                       content_type=MULTIPART, headers={**headers, **XHR})  # fmt: skip
    assert resp.status_code == 400 and resp.json["error"]["code"] == "csrf_failed"
    assert body.pulled == 0


def test_the_token_in_a_header_or_the_query_string_is_accepted(make: Any) -> None:
    client = make().test_client()
    token = csrf(client)
    video = {"video": (io.BytesIO(MP4), "a.mp4")}
    resp = client.post("/checks", data=dict(video), headers={"X-CSRF-Token": token, **XHR})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    resp = client.post(f"/checks?csrf_token={token}", data={"video": (io.BytesIO(MP4), "a.mp4")})
    assert resp.status_code == 303


def test_the_form_action_carries_the_token(make: Any) -> None:
    client = make().test_client()
    page = client.get("/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    action = re.search(r'id="upload-form"[^>]*action="([^"]+)"', page).group(1)
    assert action == f"/checks?csrf_token={token}"


def test_the_number_of_parts_is_bounded(make: Any) -> None:
    app = make()
    client = app.test_client()
    token = csrf(client)
    fields = {f"f{i}": "x" for i in range(200)}
    resp = client.post(f"/checks?csrf_token={token}", headers=XHR,
                       data={"video": (io.BytesIO(MP4), "a.mp4"), **fields})  # fmt: skip
    assert resp.status_code == 413 and resp.json["error"]["code"] == "payload_too_large"
    assert "parts" in resp.json["error"]["message"]
    resp = client.post("/api/v1/checks", headers=key_for(app),
                       data={"video": (io.BytesIO(MP4), "a.mp4"), **fields})  # fmt: skip
    assert resp.status_code == 413


# -- item 6: JSON bodies ----------------------------------------------------------------------


def test_a_json_body_over_the_case_limit_is_refused_unread(make: Any) -> None:
    app = make()
    client = app.test_client()
    size = 200 << 20
    body = CountingStream(size)
    resp = client.post("/api/v1/predictions", input_stream=body, content_length=size,
                       content_type="application/json", headers=key_for(app))  # fmt: skip
    assert resp.status_code == 413 and resp.json["error"]["code"] == "payload_too_large"
    assert resp.json["error"]["details"]["max_bytes"] == DEFAULT_MAX_CASE_BYTES
    assert body.pulled == 0


def test_a_chunked_json_body_stops_at_the_case_limit(make: Any) -> None:
    app = make()
    client = app.test_client()
    body = CountingStream(200 << 20)
    resp = client.post("/api/v1/predictions", input_stream=body,
                       content_type="application/json",
                       headers={**key_for(app), "Transfer-Encoding": "chunked"},
                       # A server that reads chunked bodies (gunicorn) says so here.
                       environ_base={"wsgi.input_terminated": True})  # fmt: skip
    assert resp.status_code == 413
    assert body.pulled <= DEFAULT_MAX_CASE_BYTES + (1 << 20)


@pytest.mark.parametrize("value", [DEEP, BIG_INT], ids=["deep", "big-int"])
def test_hostile_case_json_is_bad_case_in_the_api(make: Any, value: str) -> None:
    app = make()
    client = app.test_client()
    h = key_for(app)
    case = '{"claim": {"statement": ' + value + "}}"
    resp = client.post("/api/v1/predictions", headers={**h, "Content-Type": "application/json"},
                       data='{"case": ' + case + "}")  # fmt: skip
    assert resp.status_code == 400 and resp.json["error"]["code"] == "bad_case"
    for part in ({"case": case}, {"case": (io.BytesIO(case.encode()), "case.json")}):
        resp = client.post("/api/v1/checks", headers=h,
                           data={"video": (io.BytesIO(MP4), "a.mp4"), **part})  # fmt: skip
        assert resp.status_code == 400, resp.get_data(as_text=True)
        assert resp.json["error"]["code"] == "bad_case"


@pytest.mark.parametrize("value", [DEEP, BIG_INT], ids=["deep", "big-int"])
def test_hostile_text_in_the_forms_fields_is_only_text(make: Any, value: str) -> None:
    # The form builds the case from text fields: what would nest in JSON is a string.
    client = make().test_client()
    token = csrf(client)
    resp = client.post(f"/checks?csrf_token={token}", headers=XHR,
                       data={"video": (io.BytesIO(MP4), "a.mp4"), "claim_statement": value,
                             "tracking_number": value})  # fmt: skip
    assert resp.status_code in (200, 400), resp.get_data(as_text=True)
    if resp.status_code == 400:
        assert resp.json["error"]["code"] == "bad_case"


@pytest.mark.parametrize("value", [DEEP, BIG_INT], ids=["deep", "big-int"])
def test_hostile_case_files_are_bad_case_in_the_cli_and_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    from validator.batch.discover import Case, case_key
    from validator.batch.work import run_case

    path = tmp_path / "case" / "case.json"
    path.parent.mkdir()
    path.write_text('{"claim": {"statement": ' + value + "}}", "utf-8")
    video = tmp_path / "case" / "v.mp4"
    video.write_bytes(MP4)
    assert cli.main(["predict", str(path), "--format", "json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "bad_case"
    assert cli.main(["check", str(video), "--case", str(path)]) == 2
    assert "error: " in capsys.readouterr().err
    assert case_key(Case("case", (video,), path, "case"), "digest", "0")  # no exception
    job = {"case_id": "case", "slug": "case", "key": "k", "videos": [str(video)],
           "case_file": str(path), "refused": [], "policy": None, "policy_digest": "d",
           "out_dir": str(tmp_path / "out")}  # fmt: skip
    result = run_case(job)
    assert result["status"] == "error" and result["error"]["code"] == "bad_case", result
