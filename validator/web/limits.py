"""Rate limits per client address: failed API keys and the form's anonymous posts.

A sliding window in this process's memory (no Redis): the embedded mode is one web
process. With several gunicorn workers each worker keeps its own windows, so an
address gets up to (workers x limit) per minute; a proxy in front (nginx
``limit_req``) is the place for one limit across processes and machines.

The client address is the connection's (``request.remote_addr``); X-Forwarded-For is
believed only when the setting ``TRUSTED_PROXIES`` says that many proxies are in
front (werkzeug's ``ProxyFix``, installed by ``create_app``), since any client can
send that header.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from flask import request

from validator.web.errors import RateLimited

WINDOW_S = 60.0
# Addresses remembered at most: past this, those with no event in the window are
# forgotten (and, under a flood of distinct addresses, all are) to bound the memory.
MAX_ADDRESSES = 100_000


class SlidingWindow:
    """At most ``limit`` events per ``window_s`` seconds per key (a client address)."""

    def __init__(
        self,
        limit: int,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # gunicorn's threaded workers share the windows

    def _recent(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after_s(self, key: str) -> float:
        """Seconds until ``key`` may have one more event; 0 when it may now."""
        with self._lock:
            now = self._clock()
            events = self._recent(key, now)
            if events is None or len(events) < self.limit:
                return 0.0
            return events[-self.limit] + self.window_s - now

    def hit(self, key: str) -> None:
        """Record one event of ``key``."""
        with self._lock:
            now = self._clock()
            if key not in self._events and len(self._events) >= MAX_ADDRESSES:
                for old in list(self._events):
                    self._recent(old, now)
                if len(self._events) >= MAX_ADDRESSES:
                    self._events.clear()
            events = self._events.setdefault(key, deque())
            events.append(now)
            while len(events) > self.limit:  # only the newest `limit` decide
                events.popleft()


def client_address() -> str:
    """The client's address as the rate limits see it."""
    return request.remote_addr or "unknown"


def refuse_if_over(window: SlidingWindow, what: str) -> str:
    """Raise ``RateLimited`` when this request's address is over ``window``'s limit;
    else return the address (for ``window.hit``)."""
    address = client_address()
    wait_s = window.retry_after_s(address)
    if wait_s > 0:
        retry_after_s = max(1, math.ceil(wait_s))
        raise RateLimited(
            f"too many {what} from your address ({window.limit} per minute); "
            f"try again in {retry_after_s} s",
            details={"retry_after_s": retry_after_s, "limit_per_min": window.limit},
        )
    return address


__all__ = ["SlidingWindow", "client_address", "refuse_if_over"]
