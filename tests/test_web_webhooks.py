"""Signed webhooks against a local receiver: signature, retries with backoff, records."""

from __future__ import annotations

import io
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

import pytest
from _service import app_config, worker
from flask import Flask
from werkzeug.test import TestResponse

from validator.jobs import webhooks
from validator.jobs.webhooks import SIGNATURE_HEADER, sign, verify
from validator.web import create_app

FAKE = "_service:fake_analysis"
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 200


class Receiver:
    """A local webhook receiver answering the statuses in ``script`` (then 200); with
    ``drip_s``, one byte of an answer every ``drip_s`` for as long as the test runs
    (every read succeeds: a per-socket timeout never fires)."""

    def __init__(
        self, script: list[int], tls: ssl.SSLContext | None = None, drip_s: float | None = None
    ) -> None:
        self.script = list(script)
        self.calls: list[dict] = []
        self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body,
                                       "path": self.path, "at": time.monotonic()})  # fmt: skip
                if drip_s is not None:
                    receiver.drip(self.wfile, drip_s)
                    return
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def drip(self, out: BinaryIO, interval_s: float) -> None:
        head = b"HTTP/1.1 200 OK\r\nX-Drip: "
        sent = 0
        while not self.stop.wait(interval_s):
            try:
                out.write(head[sent : sent + 1] or b"a")
                out.flush()
            except OSError:  # the sender gave up: what the deadline is for
                return
            sent += 1

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver([500, 503])
    yield r
    r.close()


@contextmanager
def make_app(tmp_path: Path, **kw: object) -> Iterator[Flask]:
    """The app and a worker beside it (the worker delivers the webhooks)."""
    app = create_app(app_config(tmp_path / "data", **{"ANALYSIS_TARGET": FAKE, **kw}))
    try:
        with worker(app):
            yield app
    finally:
        app.extensions["appeal"].close()


def post_check(app: Flask, key: str, content: bytes = MP4, **fields: str) -> str:
    client = app.test_client()
    resp = client.post(
        "/api/v1/checks",
        headers={"Authorization": f"Bearer {key}"},
        data={"video": (io.BytesIO(content), "a.mp4"), **fields},
    )
    assert resp.status_code == 202, resp.json
    return resp.json["id"]


def deliveries(app: Flask, key: str, check_id: str, until: int, timeout: float = 30) -> list:
    client = app.test_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/checks/{check_id}",
                          headers={"Authorization": f"Bearer {key}"}).json  # fmt: skip
        done = [d for d in body["webhook_deliveries"] if d["status"] in ("succeeded", "failed")]
        if len(done) >= until:
            return body["webhook_deliveries"]
        time.sleep(0.05)
    raise AssertionError(f"fewer than {until} deliveries after {timeout} s: {body}")


def test_signed_retried_and_recorded(tmp_path: Path, receiver: Receiver) -> None:
    with make_app(tmp_path) as app:
        row, key = app.extensions["appeal"].store.create_key("acme", callback_url=receiver.url)
        check_id = post_check(app, key)
        records = deliveries(app, key, check_id, until=3)
        shown = app.test_client().get(f"/api/v1/checks/{check_id}",
                                      headers={"Authorization": f"Bearer {key}"}).json  # fmt: skip
    assert [(d["attempt"], d["status"], d["response_status"], d["error"]) for d in records] == [
        (1, "failed", 500, "http_5xx"),  # a status class, never the receiver's text
        (2, "failed", 503, "http_5xx"),
        (3, "succeeded", 200, None),
    ]
    assert all(d["event"] == "check.done" and d["url"] == receiver.url for d in records)
    # Exponential backoff: 0.1 s, then 0.2 s (WEBHOOK_BACKOFF_S = 0.1).
    sched = [datetime.fromisoformat(d["scheduled_at"].replace("Z", "+00:00")) for d in records]
    assert (sched[1] - sched[0]).total_seconds() >= 0.1
    assert (sched[2] - sched[1]).total_seconds() >= 0.2
    assert len(receiver.calls) == 3
    for call in receiver.calls:
        header = call["headers"][SIGNATURE_HEADER]
        assert verify(row.webhook_secret, header, call["body"])
        assert not verify(row.webhook_secret, header, call["body"] + b" ")  # tampered
        assert not verify("whsec_other", header, call["body"])
        assert call["headers"]["X-Appeal-Event"] == "check.done"
    event = json.loads(receiver.calls[-1]["body"])
    assert event["type"] == "check.done" and event["data"]["check"]["id"] == check_id
    assert event["data"]["check"]["report"]["verdict"] == "fail"
    # docs/api.md: data.check is the check as GET shows it, its links included.
    assert event["data"]["check"]["links"] == shown["links"]
    assert shown["links"]["thumbnails"] == [
        f"/api/v1/checks/{check_id}/thumbnails/v0-contact_sheet.jpg",
        f"/api/v1/checks/{check_id}/thumbnails/v0-face-1.jpg",
    ]


def test_the_delivery_header_is_the_events_id_across_retries_and_checks(
    tmp_path: Path, receiver: Receiver
) -> None:
    """docs/api.md: X-Appeal-Delivery is the event's id: the same on each retry of one
    event, another for every other event, whichever check it is about."""
    receiver.script[:] = [500]
    with make_app(tmp_path) as app:
        _, key = app.extensions["appeal"].store.create_key("acme", callback_url=receiver.url)
        first = post_check(app, key)
        deliveries(app, key, first, until=2)
        app.test_client().delete(f"/api/v1/checks/{first}",
                                 headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        second = post_check(app, key)  # its delivery row may take a deleted row's id
        deliveries(app, key, second, until=1)
    sent = [(json.loads(c["body"]), c["headers"]["X-Appeal-Delivery"]) for c in receiver.calls]
    assert [(event["data"]["check"]["id"], event["id"] == header) for event, header in sent] == [
        (first, True),
        (first, True),
        (second, True),
    ]
    assert sent[0][1] == sent[1][1] != sent[2][1]
    assert sent[0][1].startswith("evt_")


def test_a_request_callback_overrides_the_keys_and_failures_are_sent(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.script.clear()
    with make_app(tmp_path, ANALYSIS_TARGET="_service:error_analysis") as app:
        _, key = app.extensions["appeal"].store.create_key("acme", callback_url="http://x.invalid/")
        check_id = post_check(app, key, callback_url=receiver.url + "?t=1")
        records = deliveries(app, key, check_id, until=1)
    assert records[0]["status"] == "succeeded" and receiver.calls[0]["path"] == "/hook?t=1"
    event = json.loads(receiver.calls[0]["body"])
    assert event["type"] == "check.failed"
    assert event["data"]["check"]["error"]["code"] == "internal_error"


def test_private_addresses_are_blocked_by_default(tmp_path: Path, receiver: Receiver) -> None:
    with make_app(tmp_path, WEBHOOK_ALLOW_PRIVATE=False) as app:
        _, key = app.extensions["appeal"].store.create_key("acme", callback_url=receiver.url)
        check_id = post_check(app, key)
        deliveries(app, key, check_id, until=1)
        time.sleep(0.5)  # would be long enough for a retry (backoff 0.1 s): none comes
        records = deliveries(app, key, check_id, until=1)
    assert len(records) == 1 and records[0]["status"] == "failed"
    assert records[0]["error"] == "blocked_address" and not receiver.calls


def test_verify_rejects_old_timestamps() -> None:
    body = b'{"type":"check.done"}'
    old = sign("whsec_x", body, timestamp=int(time.time()) - 3600)
    assert not verify("whsec_x", old, body)
    assert verify("whsec_x", old, body, tolerance_s=7200)
    assert not verify("whsec_x", "garbage", body)


# -- one tenant's slow receiver delays no one else (issue 15, item 1) ----------------------


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_slow_receiver_does_not_delay_another_tenants_webhook(tmp_path: Path) -> None:
    slow, fast = Receiver([], drip_s=1.0), Receiver([])
    deadline_s = 8.0
    try:
        # Two sender threads; tenant A has three deliveries due, more than the pool.
        with make_app(tmp_path, WEBHOOK_DEADLINE_S=deadline_s, WEBHOOK_POOL_SIZE=2) as app:
            store = app.extensions["appeal"].store
            _, key_a = store.create_key("tenant-a", callback_url=slow.url)
            _, key_b = store.create_key("tenant-b", callback_url=fast.url)
            slow_ids = [post_check(app, key_a, MP4 + bytes([i])) for i in range(3)]
            check_b = post_check(app, key_b)
            (b,) = deliveries(app, key_b, check_b, until=1, timeout=15)
            # B went out at once, while A's receiver was still dripping.
            assert b["status"] == "succeeded", b
            assert (_at(b["sent_at"]) - _at(b["scheduled_at"])).total_seconds() < 3.0, b
            a_first = store.deliveries(slow_ids[0])[0]
            assert a_first.status == "sending" and slow.calls, a_first.to_dict()
            # A's attempt ends at the overall deadline (bytes kept coming), failed and
            # retried later: a timeout, not the socket's error text.
            a = deliveries(app, key_a, slow_ids[0], until=1, timeout=deadline_s + 10)[0]
        assert a["status"] == "failed" and a["error"] == "timeout", a
        assert a["duration_ms"] <= (deadline_s + 1.5) * 1000, a
        assert [d.attempt for d in store.deliveries(slow_ids[0])][:2] == [1, 2]  # a retry
        assert len(fast.calls) == 1
    finally:
        slow.close()
        fast.close()


def test_the_deadline_ends_a_dripping_answer() -> None:
    slow = Receiver([], drip_s=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(webhooks.DeadlineExceeded) as caught:
            webhooks.post(slow.url, "{}", {}, timeout=5.0, allow_private=True, deadline_s=2.0)
        took_s = time.monotonic() - started
    finally:
        slow.close()
    assert 2.0 <= took_s < 3.0  # every read came within the 5 s timeout
    assert webhooks.outcome(caught.value) == "timeout"


# -- the connection goes to the address that was checked (issue 15, item 2) ---------------

PUBLIC_IP = "93.184.216.34"  # a global address; never actually connected to here


def _resolver(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """socket.getaddrinfo answering ``answers[host]`` in turn (the last one repeats)."""
    real = socket.getaddrinfo

    def fake(host: str, port: object, *args: object, **kw: object) -> list:
        if host not in answers:
            return real(host, port, *args, **kw)  # type: ignore[arg-type]
        seq = answers[host]
        ip = seq.pop(0) if len(seq) > 1 else seq[0]
        if ip == "nxdomain":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        addr = (ip, int(port or 0), 0, 0) if family == socket.AF_INET6 else (ip, int(port or 0))
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", addr)]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_a_dns_rebinding_cannot_redirect_the_connection(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    # Public when the guard asks, loopback when the HTTP client would ask again.
    _resolver(monkeypatch, {"rebind.test": [PUBLIC_IP, "127.0.0.1"]})
    connected: list[str] = []
    real_connect = socket.create_connection

    def create_connection(address: tuple, *args: object, **kw: object) -> socket.socket:
        connected.append(address[0])
        if address[0] == PUBLIC_IP:  # no internet in tests: as if nothing listened there
            raise ConnectionRefusedError(111, "Connection refused")
        return real_connect(address, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", create_connection)
    url = f"http://rebind.test:{receiver.port}/hook"
    with pytest.raises(ConnectionRefusedError):
        webhooks.post(url, "{}", {}, timeout=2.0, allow_private=False)
    assert connected == [PUBLIC_IP] and not receiver.calls


def test_the_pinned_connection_keeps_the_name_for_host(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    _resolver(monkeypatch, {"hook.test": ["127.0.0.1"]})
    url = f"http://hook.test:{receiver.port}/hook"
    assert webhooks.post(url, "{}", {}, timeout=2.0, allow_private=True) == 500
    assert receiver.calls[0]["headers"]["Host"] == f"hook.test:{receiver.port}"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_pinned_tls_connection_sends_the_name_as_sni(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hook.test",
         "-addext", "subjectAltName=DNS:hook.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    sni: list[str | None] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda sock, name, _ctx: sni.append(name)  # type: ignore[assignment,misc,return-value]
    tls = Receiver([], tls=ctx)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this one cert
        _resolver(monkeypatch, {"hook.test": ["127.0.0.1"]})
        url = f"https://hook.test:{tls.port}/hook"
        # The certificate names hook.test, not 127.0.0.1: verified only by name.
        assert webhooks.post(url, "{}", {}, timeout=5.0, allow_private=True) == 200
    finally:
        tls.close()
    assert sni == ["hook.test"]
    assert tls.calls[0]["headers"]["Host"] == f"hook.test:{tls.port}"


def submit(tmp_path: Path, callback_url: str) -> TestResponse:
    """POST /api/v1/checks with ``callback_url`` to an app that guards against SSRF."""
    app = create_app(app_config(tmp_path / "data", WEBHOOK_ALLOW_PRIVATE=False, RUN_POOL=False))
    try:
        _, key = app.extensions["appeal"].store.create_key("acme")
        return app.test_client().post(
            "/api/v1/checks",
            headers={"Authorization": f"Bearer {key}"},
            data={"video": (io.BytesIO(MP4), "a.mp4"), "callback_url": callback_url},
        )
    finally:
        app.extensions["appeal"].close()


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://127.0.0.1:8080/hook", id="loopback"),
        pytest.param("http://localhost/hook", id="localhost"),
        pytest.param("http://[::1]/hook", id="loopback-v6"),
        pytest.param("http://[::ffff:127.0.0.1]/hook", id="v4-mapped-loopback"),
        pytest.param("http://0.0.0.0/hook", id="unspecified"),
        pytest.param("http://10.1.2.3/hook", id="private"),
        pytest.param("http://192.168.0.10/hook", id="private-192"),
        pytest.param("http://169.254.169.254/latest/meta-data/", id="metadata"),
        pytest.param("http://[fd00:ec2::254]/", id="metadata-v6"),
        pytest.param("http://metadata.test/", id="name-to-metadata"),
        pytest.param("http://intranet.test/", id="name-to-ula"),
        pytest.param("http://nowhere.test/", id="unresolvable"),
    ],
)
def test_private_callback_urls_are_refused_at_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    _resolver(monkeypatch, {"metadata.test": ["169.254.169.254"], "intranet.test": ["fd12::7"],
                            "nowhere.test": ["nxdomain"]})  # fmt: skip
    resp = submit(tmp_path, url)
    assert resp.status_code == 400, resp.json
    err = resp.json["error"]
    assert err["code"] == "callback_url_blocked" and err["details"]["field"] == "callback_url"
    # The message says the rule, never what a name resolved to (an internal address).
    assert "public" in err["message"]
    for internal in ("169.254.169.254", "fd12::7"):
        assert internal in url or internal not in json.dumps(resp.json)


def test_public_callback_urls_are_accepted_at_submit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _resolver(monkeypatch, {"hooks.test": [PUBLIC_IP]})
    resp = submit(tmp_path, "https://hooks.test/x")
    assert resp.status_code == 202, resp.json


def test_every_delivery_outcome_is_documented() -> None:
    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "api.md").read_text("utf-8")
    spec = (root / "validator" / "web" / "openapi.json").read_text("utf-8")
    delivery_error = json.loads(spec)["components"]["schemas"]["Delivery"]["properties"]["error"]
    missing = [o for o in webhooks.OUTCOMES if f"`{o}`" not in doc]
    assert not missing, f"docs/api.md does not mention {missing}"
    assert all(o in delivery_error["description"] for o in webhooks.OUTCOMES)
