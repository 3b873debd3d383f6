"""Reading ``case.json``: JSON syntax, the JSON Schema, and messages that name the field.

The schema ships inside the package, its one copy (``validator/predict/case.schema.json``,
which the docs link for ticket systems: a second copy could drift). Times are checked
twice: the schema's pattern (portable to other validators) and ``parse_time`` through the
custom ``x-iso-time`` keyword (catches dates like 2026-13-01 the pattern lets by).

Every adapter (``predict``, ``check --case``, ``batch``, ``POST /api/v1/predictions``)
reads cases through ``load_case``, so the limits on hostile input live here once:
a case is at most ``MAX_CASE_BYTES`` (setting ``APPEAL_VALIDATOR_MAX_CASE_BYTES``,
default 1 MiB), at most ``MAX_DEPTH`` levels deep, with at most
``MAX_TRANSCRIPT_LINES`` chat lines; ``NaN``, ``Infinity`` and integers outside
64 bits are refused. Each check is one linear pass over the input.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import stat
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from validator.errors import CaseError, ConfigError, UsageError
from validator.timeutil import parse_time

SCHEMA_FILE = "case.schema.json"
DEFAULT_PLATFORM = "taobao"

# Limits on hostile input (issue 11). A real case with a 5,000-line chat is about
# 0.5 MB, so 1 MiB leaves room while keeping every scan of a case well under a second.
MAX_CASE_BYTES_ENV = "APPEAL_VALIDATOR_MAX_CASE_BYTES"
DEFAULT_MAX_CASE_BYTES = 1 << 20
# Levels of nesting: a case with videos and their reports nests about 10 deep.
MAX_DEPTH = 64
# Chat lines in service.transcript: a long dispute has a few hundred.
MAX_TRANSCRIPT_LINES = 5000
# Whole numbers must fit a signed 64-bit integer (what ticket systems store).
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# More digits than this cannot fit 64 bits: refused before Python converts them.
MAX_INT_DIGITS = 20
# Schema problems collected from one case: enough to name the first few, bounded so a
# megabyte of wrong items is answered at once.
MAX_SCHEMA_ERRORS = 100

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
        expected = _either([_TYPE_NAMES.get(str(t), str(t)) for t in types])
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
        itertools.islice(validator.iter_errors(instance), MAX_SCHEMA_ERRORS),
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


def max_case_bytes() -> int:
    """The largest case accepted, in bytes (setting ``APPEAL_VALIDATOR_MAX_CASE_BYTES``)."""
    raw = os.environ.get(MAX_CASE_BYTES_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_CASE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(
            f"{MAX_CASE_BYTES_ENV}: expected a whole number of bytes > 0, got {raw!r}",
            details={"setting": MAX_CASE_BYTES_ENV, "value": raw},
        )
    return value


def _too_big(origin: str, size: int, limit: int) -> CaseError:
    return CaseError(
        f"{origin}: the case is {size:,} bytes; the limit is {limit:,} bytes "
        f"(setting {MAX_CASE_BYTES_ENV})",
        details={"file": origin, "field": "case", "size_bytes": size, "max_bytes": limit},
    )


def _limit_error(origin: str, field: str, message: str, **details: Any) -> CaseError:
    return CaseError(
        f"{origin}: {message}" if field == "case" else f"{field}: {message}",
        details={"file": origin, "field": field, **details},
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; write a finite number or null")


def _parse_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS or not INT64_MIN <= int(text) <= INT64_MAX:
        raise ValueError(f"the whole number {text[:30]} does not fit 64 bits")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:30]} is too large")
    return value


def _decode(text: str, origin: str) -> Any:
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except json.JSONDecodeError as e:
        raise CaseError(
            f"{origin}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}",
            details={"file": origin, "line": e.lineno, "column": e.colno},
        ) from e
    except ValueError as e:  # a hook refused a number
        raise CaseError(f"{origin}: {e}", details={"file": origin, "field": "case"}) from e
    except RecursionError as e:  # nesting in the thousands: past MAX_DEPTH in any case
        raise _limit_error(
            origin, "case", f"nested deeper than {MAX_DEPTH} levels", max_depth=MAX_DEPTH
        ) from e


def decode_json(data: bytes | str, origin: str = "case") -> Any:
    """JSON from a request body or a file, with the case limits: size, nesting (no
    RecursionError escapes), finite numbers within 64 bits. Raises ``CaseError``."""
    limit = max_case_bytes()
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise _too_big(origin, size, limit)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise CaseError(f"{origin}: not UTF-8 text: {e}", details={"file": origin}) from e
    return _decode(data, origin)


def _is_path(source: str) -> bool:
    # An existing file wins, whatever its name starts with ("{case}.json" is a file).
    # isfile() answers False for names too long or with NUL, never raises.
    return "\n" not in source and os.path.isfile(source)


def _read(source: str | Path) -> tuple[Any, str]:
    limit = max_case_bytes()
    if isinstance(source, str) and not _is_path(source) and source.lstrip().startswith("{"):
        size = len(source.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise _too_big("case", size, limit)
        return _decode(source, "case"), "case"
    path = Path(source)
    origin = str(path)
    try:
        info = path.stat()
    except FileNotFoundError as e:
        raise CaseError(f"{origin}: no such case file", details={"file": origin}) from e
    except (OSError, ValueError) as e:
        raise CaseError(
            f"{origin}: cannot read the case file: {e}", details={"file": origin}
        ) from e
    if not stat.S_ISREG(info.st_mode):
        # A folder, a FIFO or a device: reading it could block or never end.
        raise CaseError(f"{origin}: not a regular file", details={"file": origin})
    if info.st_size > limit:
        raise _too_big(origin, info.st_size, limit)
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)  # the file may have grown since stat()
        if len(data) > limit:
            raise _too_big(origin, len(data), limit)
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise CaseError(
            f"{origin}: cannot read the case file as UTF-8 text: {e}", details={"file": origin}
        ) from e
    return _decode(text, origin), origin


def _check_values(data: Any, origin: str) -> None:
    """One iterative pass: depth, finite numbers, 64-bit integers, JSON types only.

    Cases handed over as dicts (the API, Python callers) were parsed by someone else,
    so the same limits as for files are checked on the values themselves.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                raise _limit_error(
                    origin, "case", f"nested deeper than {MAX_DEPTH} levels", max_depth=MAX_DEPTH
                )
            items = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, depth + 1) for child in items)
            if isinstance(node, Mapping) and not all(isinstance(k, str) for k in node):
                raise _limit_error(origin, "case", "object keys must be strings")
        elif isinstance(node, bool) or node is None or isinstance(node, str):
            continue
        elif isinstance(node, int):
            if not INT64_MIN <= node <= INT64_MAX:
                raise _limit_error(origin, "case", "a whole number does not fit 64 bits")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise _limit_error(
                    origin, "case", "NaN and Infinity are not JSON numbers; write a number or null"
                )
        else:
            raise _limit_error(origin, "case", f"{type(node).__name__} is not a JSON value")


def _check_limits(data: Mapping[str, Any], origin: str, measured: bool) -> None:
    _check_values(data, origin)
    if not measured:
        limit = max_case_bytes()
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        if size > limit:
            raise _too_big(origin, size, limit)
    service = data.get("service")
    transcript = service.get("transcript") if isinstance(service, Mapping) else None
    if isinstance(transcript, list) and len(transcript) > MAX_TRANSCRIPT_LINES:
        raise _limit_error(
            origin,
            "service.transcript",
            f"{len(transcript):,} chat lines; the limit is {MAX_TRANSCRIPT_LINES:,}",
            max_lines=MAX_TRANSCRIPT_LINES,
        )


def load_case(source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read and validate a case: a path, JSON text (starting with ``{``), or a dict.

    A string that names an existing file is read as that file, even when it starts
    with ``{``. Returns a normalised deep copy (``platform`` defaults to ``"taobao"``).
    Raises ``CaseError`` naming the field and what was expected, or the limit passed.
    """
    measured = False
    if isinstance(source, Mapping) or not isinstance(source, str | Path):
        data, origin = source, "case"
    else:
        data, origin = _read(source)
        measured = True
    if not isinstance(data, Mapping):
        raise CaseError(
            f"{origin}: expected a JSON object {{...}} at the top, got {type(data).__name__}",
            details={"file": origin, "field": "case", "expected": "an object"},
        )
    _check_limits(data, origin, measured)
    # A copy the caller's dict does not share (one read from a file is ours already).
    case: dict[str, Any] = copy.deepcopy(dict(data)) if not measured else dict(data)
    errors = _errors(_validator(), case)
    if errors:
        _raise(errors, origin)
    if case.get("platform") is None:
        case["platform"] = DEFAULT_PLATFORM
    return case


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
