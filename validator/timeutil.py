"""Parsing the times that users and files give us.

Times without an offset are read as China Standard Time (Asia/Shanghai, UTC+8):
the marketplaces this tool serves run on it. China has had no daylight saving
since 1991, so a fixed offset is exact for every date a return can carry and
needs no tz database in slim images.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from validator.errors import UsageError

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def parse_time(text: str, *, field: str = "time") -> datetime:
    """Parse ISO 8601 (``2026-11-20T10:00``, ``...+08:00``, ``...Z``) to an aware datetime.

    Raises ``UsageError`` naming ``field`` when ``text`` is not ISO 8601.
    """
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError as e:
        raise UsageError(
            f"{field}: {text!r} is not an ISO 8601 time; write e.g. 2026-11-20T14:30:00+08:00",
            details={"field": field, "value": text},
        ) from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SHANGHAI)
    return dt


def iso(dt: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in UTC (``...Z``), or None."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
