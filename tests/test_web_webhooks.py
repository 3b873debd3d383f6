"""Signed webhooks against a local receiver: signature, retries with backoff, records."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask

from validator.jobs.testing import app_config, worker
from validator.jobs.webhooks import SIGNATURE_HEADER, sign, verify
from validator.web import create_app

FAKE = "validator.jobs.testing:fake_analysis"
MP4 = b"\0\0\0\x18ftypmp42" + b"\0" * 200


class Receiver:
    """A local webhook receiver answering the statuses in ``script`` (then 200)."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.calls: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body,
                                       "path": self.path, "at": time.monotonic()})  # fmt: skip
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
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
    assert [(d["attempt"], d["status"], d["response_status"]) for d in records] == [
        (1, "failed", 500),
        (2, "failed", 503),
        (3, "succeeded", 200),
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


def test_a_request_callback_overrides_the_keys_and_failures_are_sent(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.script.clear()
    with make_app(tmp_path, ANALYSIS_TARGET="validator.jobs.testing:error_analysis") as app:
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
    assert "non-public address" in records[0]["error"] and not receiver.calls


def test_verify_rejects_old_timestamps() -> None:
    body = b'{"type":"check.done"}'
    old = sign("whsec_x", body, timestamp=int(time.time()) - 3600)
    assert not verify("whsec_x", old, body)
    assert verify("whsec_x", old, body, tolerance_s=7200)
    assert not verify("whsec_x", "garbage", body)
