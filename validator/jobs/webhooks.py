"""Signed webhooks: one POST per finished check, retried with exponential backoff.

The body is JSON; the header ``X-Appeal-Signature: t=<unix time>,v1=<hex>`` carries
HMAC-SHA256 over ``f"{t}.{body}"`` with the API key's webhook secret (``whsec_...``,
printed by ``keys create``). A receiver recomputes it, compares in constant time and
rejects old timestamps (replays): ``verify()`` below does exactly that. Every
attempt is a row in ``webhook_deliveries``; a failed one schedules the next after
``WEBHOOK_BACKOFF_S * 2**(attempt-1)`` until ``WEBHOOK_MAX_ATTEMPTS``.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from validator import __version__

if TYPE_CHECKING:
    from validator.jobs.settings import Settings
    from validator.jobs.store import Store
    from validator.jobs.tables import Check, Delivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Appeal-Signature"
DEFAULT_TOLERANCE_S = 300


def event_body(event: str, check: Check) -> str:
    """The JSON body of ``event`` (``check.done`` / ``check.failed``) for ``check``."""
    from validator.jobs.tables import utcnow
    from validator.timeutil import iso

    return json.dumps(
        {
            "id": "evt_" + uuid.uuid4().hex,
            "type": event,
            "created_at": iso(utcnow()),
            "data": {"check": check.to_dict()},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> str:
    """The signature header value for ``body``: ``t=<unix>,v1=<hex>``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    raw = body.encode("utf-8") if isinstance(body, str) else body
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + raw, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def verify(
    secret: str,
    header: str,
    body: bytes | str,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s`` old."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, v) for v in parts.get("v1", []))


class Blocked(Exception):
    """The callback URL resolves to an address deliveries may not reach."""


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a callback URL (syntax only), or None when it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError as e:
        return str(e)
    if parts.scheme not in ("http", "https"):
        return "the scheme must be http or https"
    if not parts.hostname:
        return "the URL has no host"
    if parts.username or parts.password:
        return "credentials in the URL are not allowed; authenticate with the signature"
    if len(url) > 2000:
        return "the URL is longer than 2000 characters"
    return None


def _guard(host: str, port: int, allow_private: bool) -> None:
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise OSError(f"cannot resolve {host}: {e}") from e
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global:
            # Against server-side request forgery into the host's own network.
            raise Blocked(f"{host} resolves to the non-public address {addr}")


def post(
    url: str, body: str, headers: Mapping[str, str], *, timeout: float, allow_private: bool
) -> int:
    """POST ``body`` to ``url``; the response status. Raises OSError or Blocked."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    _guard(host, port, allow_private)
    conn_cls = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_cls(host, port, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request("POST", path, body=body.encode("utf-8"), headers=dict(headers))
        resp = conn.getresponse()
        resp.read(65536)  # drain a little; the body is not used
        return resp.status
    finally:
        conn.close()


def deliver(store: Store, delivery: Delivery, settings: Settings) -> bool:
    """Make one attempt of ``delivery`` (already claimed) and record it; True on 2xx."""
    from validator.jobs.tables import utcnow

    secret = store.webhook_secret(delivery.check_id)
    if secret is None:  # the check was deleted meanwhile: nothing left to tell
        store.record_delivery(
            delivery,
            ok=False,
            response_status=None,
            error="the check was deleted",
            duration_ms=0,
            retry_at=None,
        )
        return False
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"appeal-evidence-validator/{__version__}",
        "X-Appeal-Event": delivery.event,
        "X-Appeal-Delivery": str(delivery.id),
        "X-Appeal-Attempt": str(delivery.attempt),
        SIGNATURE_HEADER: sign(secret, delivery.body),
    }
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    retry = True
    try:
        status = post(
            delivery.url,
            delivery.body,
            headers,
            timeout=settings.webhook_timeout_s,
            allow_private=settings.webhook_allow_private,
        )
        if not 200 <= status < 300:
            error = f"the receiver answered HTTP {status}"
    except Blocked as e:
        error, retry = str(e), False
    except (OSError, http.client.HTTPException) as e:
        error = f"{type(e).__name__}: {e}"
    ok = error is None
    retry_at = None
    if not ok and retry and delivery.attempt < settings.webhook_max_attempts:
        delay = settings.webhook_backoff_s * 2 ** (delivery.attempt - 1)
        retry_at = utcnow() + timedelta(seconds=delay)
    store.record_delivery(
        delivery,
        ok=ok,
        response_status=status,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
        retry_at=retry_at,
    )
    if not ok:
        log.info("webhook %s attempt %d: %s", delivery.url, delivery.attempt, error)
    return ok


class Sender:
    """A background thread that delivers due webhooks until ``stop()``."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)

    def start(self) -> None:
        # 'sending' rows of a process that died mid-request go out again.
        self.store.requeue_stuck_deliveries(self.settings.webhook_timeout_s * 3)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                delivery = self.store.claim_due_delivery()
                if delivery is not None:
                    deliver(self.store, delivery, self.settings)
                    continue
            except Exception:  # the loop must survive a database hiccup
                log.warning("webhook sender: unexpected error", exc_info=True)
            self._wake.wait(self.settings.poll_s)
            self._wake.clear()
