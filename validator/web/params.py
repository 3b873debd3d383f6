"""Whole numbers a client sends in headers and query strings, parsed one way.

``str.isdigit()`` accepts digits ``int()`` refuses ('²', '①': a 500) and any length
(Python refuses more than 4,300 digits: a 500 too), and ``int()`` alone accepts '+1',
' 1' and '١' (Arabic-Indic). Only ASCII digits are numbers here, at most 19 of them
(an int64, the tus headers' and SQLite's range).
"""

from __future__ import annotations

import re

_WHOLE = re.compile(r"[0-9]{1,19}")


def whole_number(text: str | None) -> int | None:
    """``text`` as a non-negative whole number, or None when it is not one."""
    if text is None or not _WHOLE.fullmatch(text):
        return None
    return int(text)
