"""Parsing the times that users and files give us.

Times without an offset are read as China Standard Time (Asia/Shanghai, UTC+8):
the marketplaces this tool serves run on it. China has had no daylight saving
since 1991, so a fixed offset is exact for every date a return can carry and
needs no tz database in slim images.
"""

from __future__ import annotations

import re
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


_DATE_ONLY = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s*$")


def parse_deadline(text: str, *, field: str = "deadline") -> tuple[datetime, bool]:
    """(a deadline as an instant, whether only a date was given).

    A date alone (``2026-11-24``) is the end of that day in Asia/Shanghai: the next
    midnight, exclusive (a deadline "on the 24th" leaves the whole day). A time is that
    instant. The check and the predictor read a deadline with this one function.
    """
    when = parse_time(text, field=field)
    if _DATE_ONLY.match(text):
        day = when.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
        return day + timedelta(days=1), True
    return when, False


def iso(dt: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 in UTC (``...Z``), or None."""
    if dt is None:
        return None
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")
