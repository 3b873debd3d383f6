"""Chinese carriers' tracking-number formats: normalise, identify, check digits.

The formats live in ``validator/data/carriers.json`` (one entry per format, with
the public source of each; most carriers publish no specification, and those
entries say the format is our observation of public examples).

The only check-digit scheme in the table is UPU S10 (EMS international numbers):
weights 8, 6, 4, 2, 3, 5, 9, 7 over the 8 serial digits, ``C = 11 - S mod 11``,
10 -> 0, 11 -> 5 (UPU standard S10; https://en.wikipedia.org/wiki/S10_(UPU_standard)).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "Carrier",
    "carriers",
    "identify",
    "normalise",
    "same_waybill",
    "upu_s10_check_digit",
    "validate_check_digit",
]

# An AIM symbology identifier some scanners put before the data ("]C0", "]C1", "]Q1" ...).
_AIM_PREFIX = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
# Spelled-out function characters (zxing's Escaped text mode, some scanner apps).
_FNC_TOKENS = re.compile(r"<(?:GS|FNC[1-4])>", re.IGNORECASE)
# Separators people and printers put inside a number: whitespace and dash-likes.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\uff0d]+")
# Control characters, e.g. GS (0x1D) that stands for FNC1 in Code 128 / GS1 data.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_S10 = re.compile(r"[A-Z]{2}(\d{8})(\d)[A-Z]{2}")
_S10_WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def normalise(text: str) -> str:
    """The canonical form of a tracking number as read or as typed.

    Full-width characters become ASCII (NFKC), a leading AIM symbology identifier
    and FNC/GS function characters are dropped, spaces and dashes are removed, and
    letters are upper-cased: ``" sf 1234-5678 "`` -> ``"SF12345678"``.
    """
    s = unicodedata.normalize("NFKC", text).strip()
    s = _AIM_PREFIX.sub("", s)
    s = _FNC_TOKENS.sub("", s)
    s = _CONTROL.sub("", s)
    s = _SEPARATORS.sub("", s)
    return s.upper()


def upu_s10_check_digit(serial: str) -> int:
    """The UPU S10 check digit of an 8-digit serial number."""
    if len(serial) != 8 or not serial.isdigit():
        raise ValueError(f"an S10 serial is 8 digits, got {serial!r}")
    c = 11 - sum(int(d) * w for d, w in zip(serial, _S10_WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(c, c)


def validate_check_digit(text: str, scheme: str | None = None) -> bool | None:
    """Whether the number's check digit is right; ``None`` when no scheme applies.

    ``scheme`` defaults to the scheme of whichever format the shape suggests (only
    ``"upu_s10"`` exists: 2 letters, 9 digits, 2 letters).
    """
    s = normalise(text)
    if scheme is None:
        scheme = "upu_s10" if _S10.fullmatch(s) else None
    if scheme is None:
        return None
    if scheme != "upu_s10":
        raise ValueError(f"unknown check-digit scheme {scheme!r}")
    m = _S10.fullmatch(s)
    if m is None:
        return False
    return upu_s10_check_digit(m.group(1)) == int(m.group(2))


@dataclass(frozen=True, slots=True)
class Carrier:
    """One tracking-number format of one carrier (see ``validator/data/carriers.json``)."""

    id: str
    name_zh: str
    name_en: str
    regex: str
    check: str | None
    source: str
    examples: tuple[str, ...] = ()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.regex))

    def matches(self, number: str) -> bool:
        """Whether a normalised number fits this format (and its check digit, if any)."""
        if not self.pattern.fullmatch(number):
            return False
        return self.check is None or validate_check_digit(number, self.check) is True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name_zh": self.name_zh, "name_en": self.name_en}


@cache
def carriers() -> tuple[Carrier, ...]:
    """The shipped carrier table, loaded once."""
    raw = json.loads(resources.files("validator.data").joinpath("carriers.json").read_text("utf-8"))
    out = []
    for e in raw["carriers"]:
        out.append(
            Carrier(
                id=e["id"],
                name_zh=e["name_zh"],
                name_en=e["name_en"],
                regex=e["regex"],
                check=e.get("check"),
                source=e["source"],
                examples=tuple(e.get("examples", ())),
            )
        )
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise ValueError(f"carriers.json has duplicate ids: {ids}")
    return tuple(out)


def identify(text: str) -> list[Carrier]:
    """The carrier formats a number fits, after normalisation (may be several, or none)."""
    s = normalise(text)
    if not s:
        return []
    return [c for c in carriers() if c.matches(s)]


def same_waybill(read: str, expected: str) -> bool:
    """Whether a decoded code is the expected tracking number.

    Exact equality after ``normalise``. We accept no carrier prefixes or suffixes
    (such as JD's package suffix ``-1-1-``): none is documented publicly, and a
    looser match could pass a video of another parcel. ``aggregate.verdict``
    sends a code that merely contains the number to review instead.
    """
    e = normalise(expected)
    return bool(e) and normalise(read) == e
