"""Signed webhooks: one POST per finished check, retried with exponential backoff.

The body is JSON; the header ``X-Appeal-Signature: t=<unix time>,v1=<hex>`` carries
HMAC-SHA256 over ``f"{t}.{body}"`` with the API key's webhook secret (``whsec_...``,
printed by ``keys create``). A receiver recomputes it, compares in constant time and
rejects old timestamps (replays): ``verify()`` below does exactly that. Every
attempt is a row in ``webhook_deliveries``; a failed one schedules the next after
``WEBHOOK_BACKOFF_S * 2**(attempt-1)`` until ``WEBHOOK_MAX_ATTEMPTS``. The row records
the attempt's outcome as a class (``OUTCOMES``), never the exception's text: that text
would tell a tenant what answers inside the service's network.

Against server-side request forgery, a callback host must resolve to public addresses
only (unless ``WEBHOOK_ALLOW_PRIVATE``), checked when a check is submitted and again at
each attempt; the attempt then connects to the very addresses it checked, so a second
DNS answer (a rebinding) cannot point it elsewhere. Host header, TLS SNI and the
certificate check keep the name.

One attempt ends by ``WEBHOOK_DEADLINE_S`` whatever the receiver does, and ``Sender``
sends from a bounded pool with at most one attempt per tenant in flight: one tenant's
slow receiver delays only that tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from validator import __version__

if TYPE_CHECKING:
    from validator.jobs.settings import Settings
    from validator.jobs.store import Store
    from validator.jobs.tables import Check, Delivery

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Appeal-Signature"
DEFAULT_TOLERANCE_S = 300
API_PREFIX = "/api/v1"  # the API blueprint's; the webhook's links are paths under it


def thumbnail_names(report: Mapping[str, Any] | None) -> list[str]:
    """The pictures a check's report names, sorted: ``thumbnails.files``, which lists every
    picture ``check_case`` wrote (each face, event, waybill and opening thumbnail, and
    the contact sheet; the report's model requires it). Bare names only (the service
    serves nothing else). What ``links.thumbnails`` lists, in the API and in the webhook
    alike; read on every status poll, so it reads one list, not the whole report."""
    pictures = (report or {}).get("thumbnails") or {}
    names = {f for f in pictures.get("files") or [] if isinstance(f, str)}
    return sorted(n for n in names if n and "/" not in n and "\\" not in n and n[0] != ".")


def check_links(check: Check, self_path: str | None = None) -> dict[str, Any]:
    """The check's ``links`` as ``GET /checks/{id}`` shows them: its own path
    (``self_path``, the API's ``url_for``; else the path under ``API_PREFIX``) and its
    pictures' under it."""
    self_ = self_path or f"{API_PREFIX}/checks/{check.id}"
    names = thumbnail_names(check.report) if check.status == "done" else []
    return {"self": self_, "thumbnails": [f"{self_}/thumbnails/{name}" for name in names]}


def event_body(event: str, check: Check) -> str:
    """The JSON body of ``event`` (``check.done`` / ``check.failed``) for ``check``."""
    from validator.jobs.tables import utcnow
    from validator.timeutil import iso

    return json.dumps(
        {
            "id": "evt_" + uuid.uuid4().hex,
            "type": event,
            "created_at": iso(utcnow()),
            # The check as GET shows it, links included (the deliveries aside).
            "data": {"check": {**check.to_dict(), "links": check_links(check)}},
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def event_id(body: str) -> str:
    """The ``id`` of an event body (``event_body``), the header ``X-Appeal-Delivery``."""
    return str(json.loads(body)["id"])


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


class Unresolvable(OSError):
    """The callback host does not resolve (retried: DNS may come back)."""


class DeadlineExceeded(TimeoutError):
    """The attempt ran past WEBHOOK_DEADLINE_S."""


# What a delivery record's ``error`` can be: the class of the failure, never its text.
OUTCOMES = (
    "timeout",  # no answer within WEBHOOK_TIMEOUT_S, or the whole past WEBHOOK_DEADLINE_S
    "connection_refused",
    "connection_error",  # reset, unreachable, closed before answering
    "tls_error",  # handshake or certificate check failed
    "protocol_error",  # not an HTTP answer
    "dns_error",  # the host does not resolve
    "blocked_address",  # the host resolves to a non-public address (not retried)
    "http_1xx",
    "http_3xx",
    "http_4xx",
    "http_5xx",
    "check_deleted",
)


def outcome(error: BaseException) -> str:
    """The class of a failed attempt as its delivery record shows it (``OUTCOMES``)."""
    if isinstance(error, Blocked):
        return "blocked_address"
    if isinstance(error, Unresolvable):
        return "dns_error"
    if isinstance(error, TimeoutError):  # socket.timeout too
        return "timeout"
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return "tls_error"
    if isinstance(error, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(error, OSError):  # before HTTPException: RemoteDisconnected is both
        return "connection_error"
    if isinstance(error, http.client.HTTPException):
        return "protocol_error"
    return "connection_error"


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


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(addr: Address) -> bool:
    """True for an address a callback may reach: global unicast. Not loopback, private,
    link-local (169.254.169.254, the cloud metadata service), unique-local (fd00::/8,
    fd00:ec2::254), shared, reserved or unspecified."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 to the kernel
    return addr.is_global and not addr.is_multicast


def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``: Unresolvable when it does not resolve,
    Blocked when any of them is not public (unless ``allow_private``)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise Unresolvable(f"cannot resolve {host}: {e}") from e
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        for text in addresses:
            addr = ipaddress.ip_address(text.split("%", 1)[0])  # no IPv6 scope
            if not is_public(addr):
                # Against server-side request forgery into the host's own network.
                raise Blocked(f"{host} resolves to the non-public address {addr}")
    if not addresses:
        raise Unresolvable(f"cannot resolve {host}: no address")
    return addresses


def check_destination(url: str) -> None:
    """Raise Blocked (or Unresolvable) unless ``url``'s host resolves to public addresses.

    For submit time; each attempt checks again (DNS answers change)."""
    parts = urlsplit(url)
    resolve(parts.hostname or "", parts.port or 0, allow_private=False)


class _Deadline:
    """The overall time limit of one attempt.

    Per-socket timeouts restart at every byte: a receiver that drips one byte every few
    seconds never reaches them (it held the single sender thread for 21.5 s, issue 15).
    At the deadline a timer shuts the connection's socket down, which ends whatever
    read, write or TLS handshake is blocked on it.
    """

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._fds: list[int] = []
        self._over = False  # the attempt ended: the descriptors may be reused
        self.expired = False
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return max(0.0, self._at - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (now, if it has passed)."""
        with self._lock:
            self._fds.append(sock.fileno())
            if self.expired:
                self._shutdown(self._fds[-1])
                raise DeadlineExceeded("the webhook deadline passed")

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.expired = True
            for fd in self._fds:
                self._shutdown(fd)

    @staticmethod
    def _shutdown(fd: int) -> None:
        # By descriptor: a TLS socket took the TCP socket's descriptor over (detach), and
        # shutdown(2) acts on the connection behind every duplicate of it.
        try:
            dup = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        with dup, suppress(OSError):  # OSError: the peer closed it already
            dup.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Deadline:
        self._timer = threading.Timer(self.remaining(), self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._over = True
        if self._timer is not None:
            self._timer.cancel()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses that were checked, not to what the host resolves to now:
    a second resolution is what DNS rebinding exploits. ``self.host`` stays the name, so
    the Host header (and, in the HTTPS subclass, SNI and the certificate check) use it."""

    addresses: tuple[str, ...] = ()
    deadline: _Deadline  # set by post() before the request

    def connect(self) -> None:
        error: OSError = Unresolvable(f"cannot resolve {self.host}: no address")
        for address in self.addresses:
            remaining_s = self.deadline.remaining()
            if remaining_s <= 0:
                raise DeadlineExceeded("the webhook deadline passed")
            # The per-step timeout post() passed, cut to what is left of the deadline.
            timeout = min(self.timeout or remaining_s, remaining_s)
            try:
                self.sock = socket.create_connection((address, self.port), timeout)
                break
            except OSError as e:
                error = e
        else:
            raise error
        self.deadline.watch(self.sock)
        with suppress(OSError):  # as http.client does: the request goes in one packet
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection, _PinnedHTTPConnection):
    """HTTPSConnection.connect wraps what ``_PinnedHTTPConnection.connect`` opened, with
    ``server_hostname=self.host``: the name."""


def post(
    url: str,
    body: str,
    headers: Mapping[str, str],
    *,
    timeout: float,
    allow_private: bool,
    deadline_s: float | None = None,
) -> int:
    """POST ``body`` to ``url``; the response status. Raises OSError (DeadlineExceeded
    past ``deadline_s``), http.client.HTTPException or Blocked.

    ``timeout`` bounds each socket operation, ``deadline_s`` the whole attempt after
    the host was resolved."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port, allow_private=allow_private)
    conn_cls = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    deadline = _Deadline(timeout if deadline_s is None else deadline_s)
    conn = conn_cls(host, port, timeout=timeout)
    conn.addresses = tuple(addresses)
    conn.deadline = deadline
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        with deadline:
            try:
                conn.request("POST", path, body=body.encode("utf-8"), headers=dict(headers))
                resp = conn.getresponse()
                resp.read(65536)  # drain a little; the body is not used
                return resp.status
            except (OSError, http.client.HTTPException) as e:
                if deadline.expired:  # the socket was shut down under the request
                    raise DeadlineExceeded("the webhook deadline passed") from e
                raise
    finally:
        conn.close()  # after the deadline's timer is off: it acts on this descriptor


def deliver(store: Store, delivery: Delivery, settings: Settings) -> bool:
    """Make one attempt of ``delivery`` (already claimed) and record it; True on 2xx."""
    from validator.jobs.tables import utcnow

    secret = store.webhook_secret(delivery.check_id)
    if secret is None:  # the check was deleted meanwhile: nothing left to tell
        store.record_delivery(
            delivery,
            ok=False,
            response_status=None,
            error="check_deleted",
            duration_ms=0,
            retry_at=None,
        )
        return False
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"appeal-evidence-validator/{__version__}",
        "X-Appeal-Event": delivery.event,
        # The event's id (evt_<uuid4>, as in the body): unique across all checks and the
        # same on every retry of the event, so a receiver can deduplicate by the header
        # alone. The row id was neither: each retry is a new row, and SQLite reuses the
        # ids of deleted rows.
        "X-Appeal-Delivery": event_id(delivery.body),
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
            deadline_s=settings.webhook_deadline_s,
        )
        if not 200 <= status < 300:
            error = f"http_{status // 100}xx" if 100 <= status < 600 else "protocol_error"
    except (Blocked, OSError, http.client.HTTPException) as e:
        error, retry = outcome(e), not isinstance(e, Blocked)
        # The text stays in the service's log, for its operators.
        log.info("webhook %s attempt %d: %s: %s", delivery.url, delivery.attempt,
                 type(e).__name__, e)  # fmt: skip
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
    return ok


class Sender:
    """Delivers due webhooks until ``stop()``: a dispatcher thread and at most
    WEBHOOK_POOL_SIZE attempts in flight, at most one per tenant.

    Each attempt ends by WEBHOOK_DEADLINE_S, so a tenant whose receiver is slow holds
    one thread that long at most while the other tenants' webhooks go out beside it
    (one thread sent everything before: one receiver dripping a byte every few
    seconds delayed another tenant's webhook by 21.5 s).
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._lock = threading.Lock()
        # The attempts in flight by delivery id: their tenant and thread.
        self._in_flight: dict[int, tuple[int, threading.Thread]] = {}

    def start(self) -> None:
        # 'sending' rows of a process that died mid-request go out again; a live
        # attempt ends by the deadline, well before.
        self.store.requeue_stuck_deliveries(self.settings.webhook_deadline_s * 2)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop claiming, and wait up to ``timeout`` for the attempts in flight (an
        attempt cut short stays 'sending' and goes out again at the next start)."""
        until = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._lock:
            threads = [t for _, t in self._in_flight.values()]
        for t in threads:
            t.join(max(0.0, until - time.monotonic()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before claiming: a wake-up meanwhile is not lost
            try:
                self._dispatch()
            except Exception:  # the loop must survive a database hiccup
                log.warning("webhook sender: unexpected error", exc_info=True)
            self._wake.wait(self.settings.poll_s)

    def _dispatch(self) -> None:
        """Start due deliveries while a thread is free, skipping busy tenants."""
        while not self._stop.is_set():
            with self._lock:
                if len(self._in_flight) >= self.settings.webhook_pool_size:
                    return
                busy = {tenant for tenant, _ in self._in_flight.values()}
            claimed = self.store.claim_due_delivery(skip_tenants=busy)
            if claimed is None:
                return
            delivery, tenant_id = claimed
            # Daemon threads: a stopping process does not wait on a receiver.
            t = threading.Thread(
                target=self._send, args=(delivery,), name=f"webhook-{delivery.id}", daemon=True
            )
            with self._lock:
                self._in_flight[delivery.id] = (tenant_id, t)
            t.start()

    def _send(self, delivery: Delivery) -> None:
        try:
            deliver(self.store, delivery, self.settings)
        except Exception:  # a database hiccup: the row is requeued at the next start
            log.warning("webhook sender: unexpected error", exc_info=True)
        finally:
            with self._lock:
                self._in_flight.pop(delivery.id, None)
            self._wake.set()  # a thread is free: the next due delivery goes now
