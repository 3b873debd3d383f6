"""The reason catalogue: every stable reason code with its messages (en, zh).

The messages live in ``validator/data/reasons.json``; ``docs/reasons.md`` lists
every code (a test keeps the two in step).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from validator.models import Reason


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every reason code with its requirement, verdict and message templates."""
    raw = json.loads(resources.files("validator.data").joinpath("reasons.json").read_text("utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def reason(code: str, at_s: tuple[float, ...] | list[float] = (), **fields: Any) -> Reason:
    """A ``Reason`` for ``code`` with its messages filled from ``fields``."""
    entry = catalogue()[code]
    return Reason(
        code=code,
        verdict=entry["verdict"],  # type: ignore[arg-type]
        message_en=entry["en"].format(**fields),
        message_zh=entry["zh"].format(**fields),
        at_s=tuple(at_s),
    )
