"""Reading ``case.json``: JSON syntax, the JSON Schema, and messages that name the field.

The schema ships inside the package (``case.schema.json``; ``schemas/case.schema.json``
in the repository is the same file for ticket systems). Times are checked twice:
the schema's pattern (portable to other validators) and ``parse_time`` through the
custom ``x-iso-time`` keyword (catches dates like 2026-13-01 the pattern lets by).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from validator.errors import CaseError, UsageError
from validator.timeutil import parse_time

SCHEMA_FILE = "case.schema.json"
DEFAULT_PLATFORM = "taobao"

_TYPE_NAMES = {
    "boolean": "true, false",
    "null": "null",
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "object": "an object {...}",
    "array": "a list [...]",
}


@cache
def case_schema() -> dict[str, Any]:
    """The case JSON Schema (cached and shared: do not mutate it)."""
    text = resources.files("validator.predict").joinpath(SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


def _iso_time(validator: Any, enabled: Any, instance: Any, schema: Mapping[str, Any]) -> Any:
    if enabled and isinstance(instance, str):
        try:
            parse_time(instance)
        except UsageError:
            yield ValidationError(f"{instance!r} is not an ISO 8601 time")


_CaseValidator = validators.extend(Draft202012Validator, {"x-iso-time": _iso_time})


@cache
def _validator() -> Any:
    return _CaseValidator(case_schema())


def _either(names: list[str]) -> str:
    words = ", ".join(names).split(", ")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _join(prefix: str, field: str) -> str:
    if not prefix:
        return field
    if not field:
        return prefix
    return prefix + field if field.startswith("[") else f"{prefix}.{field}"


def _describe(err: ValidationError, root: str) -> tuple[str, str, str]:
    """(field path, what was expected, one-line message) for one schema error.

    ``root`` names the document (``""`` for a case, ``video_reports[0]`` for a report);
    a case's top level is called ``case`` in messages.
    """
    field = _join(root, _path(err.absolute_path))
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    kind = err.validator
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        where = f"field in {field}" if field else "top-level field"
        name = _join(field, extra[0])
        expected = "one of: " + ", ".join(allowed)
        return name, expected, f"{name}: unknown {where}; allowed: {', '.join(allowed)}"
    if kind == "required":
        missing = err.message.split("'")[1] if "'" in err.message else "?"
        name = _join(field, missing)
        return name, "a value", f"{name}: required field is missing"
    if "x-expected" in schema and kind in ("pattern", "x-iso-time", "anyOf", "type"):
        expected = schema["x-expected"]
    elif kind == "type":
        types = err.validator_value
        types = types if isinstance(types, list) else [types]
        expected = _either([_TYPE_NAMES.get(t, t) for t in types])
    elif kind in ("enum", "const"):
        values = err.validator_value if kind == "enum" else [err.validator_value]
        expected = "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in values)
    elif kind == "minimum":
        expected = f"a number >= {err.validator_value}"
    elif kind == "minLength":
        expected = "a non-empty string"
    elif kind == "pattern":
        expected = f"text matching {err.validator_value}"
    else:
        expected = err.message
    name = field or "case"
    return name, expected, f"{name}: expected {expected}, got {_show(err.instance)}"


def _errors(validator: Any, instance: Any, root: str = "") -> list[tuple[str, str, str]]:
    errs = sorted(
        validator.iter_errors(instance),
        key=lambda e: ([str(p) for p in e.absolute_path], str(e.validator)),
    )
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for e in errs:
        field, expected, message = _describe(e, root)
        if field in seen:  # the pattern and x-iso-time both reject one bad time
            continue
        seen.add(field)
        out.append((field, expected, message))
    return out


def _raise(errors: list[tuple[str, str, str]], origin: str) -> None:
    field, expected, message = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    raise CaseError(
        f"{message}{more}",
        details={
            "file": origin,
            "field": field,
            "expected": expected,
            "errors": [m for _, _, m in errors],
        },
    )


def _read(source: str | Path) -> tuple[Any, str]:
    if isinstance(source, str) and source.lstrip().startswith("{"):
        text, origin = source, "case"
    else:
        path = Path(source)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise CaseError(f"{origin}: no such case file", details={"file": origin}) from e
        except (OSError, UnicodeDecodeError) as e:
            raise CaseError(f"{origin}: cannot read the case file as UTF-8 text: {e}") from e
    try:
        return json.loads(text), origin
    except json.JSONDecodeError as e:
        raise CaseError(
            f"{origin}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
            details={"file": origin, "line": e.lineno, "column": e.colno},
        ) from e


def load_case(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read and validate a case: a path, JSON text (starting with ``{``), or a dict.

    Returns a normalised deep copy (``platform`` defaults to ``"taobao"``).
    Raises ``CaseError`` naming the field and what was expected.
    """
    if isinstance(source, Mapping):
        data, origin = copy.deepcopy(dict(source)), "case"
    elif not isinstance(source, str | Path):
        data, origin = source, "case"
    else:
        data, origin = _read(source)
    if not isinstance(data, dict):
        raise CaseError(
            f"{origin}: expected a JSON object {{...}} at the top, got {type(data).__name__}",
            details={"file": origin, "field": "case", "expected": "an object"},
        )
    errors = _errors(_validator(), data)
    if errors:
        _raise(errors, origin)
    if data.get("platform") is None:
        data["platform"] = DEFAULT_PLATFORM
    return data


@cache
def _report_validator() -> Any:
    return _CaseValidator({"$ref": "#/$defs/video_report", "$defs": case_schema()["$defs"]})


def check_report(report: Any, where: str) -> dict[str, Any]:
    """Validate one video report given next to a case (only the fields the predictor reads).

    ``where`` names it in messages, e.g. ``video_reports[0]``.
    """
    errors = _errors(_report_validator(), report, where)
    if errors:
        _raise(errors, where)
    return report
