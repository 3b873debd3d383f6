"""The rulebook: rules as data (``rulebook.toml``), validated when loaded.

A bad rulebook fails at start-up with ``ConfigError`` naming the rule and the problem:
unknown fields, effects, actions or evidence kinds, and conditions that use an
unknown fact, an unknown op, or a value the fact can never have (``"fial"``).
Facts are checked against the case schema plus the computed facts in ``COMPUTED``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from validator.errors import ConfigError
from validator.models import REQUIREMENTS
from validator.predict import conditions
from validator.predict.case import case_schema

EFFECTS: tuple[str, ...] = ("block", "hold", "weaken", "support")
RULE_FIELDS = {
    "id": str,
    "section": str,
    "source": str,
    "effect": str,
    "action": str,
    "message_en": str,
    "message_zh": str,
    "remedy_en": str,
    "remedy_zh": str,
    "when": dict,
}
# ``weight`` is required for every effect but ``hold`` (which caps, adds nothing).
OPTIONAL_RULE_FIELDS = {"evidence": str, "weight": int}
_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_QUOTE = re.compile(r"「([^」]+)」")

_VERDICT = {"enum": ["pass", "fail", "review"]}
_COUNT = {"type": "integer", "minimum": 0}
_DAYS = {"type": "number"}
_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
_FLAG = {"type": "boolean"}

# Facts computed from the case, the transcript and the video reports, with their
# schemas (for checking rule literals) and the help text docs/predict.md shows.
COMPUTED: dict[str, tuple[dict[str, Any], str]] = {
    "derived.days_since_delivery": (_DAYS, "days from order.delivered_at to now"),
    "derived.days_delivery_to_request": (
        _DAYS,
        "days from order.delivered_at (buyer's sign-for) to return.requested_at (FAQ 2)",
    ),
    "derived.days_left_to_deadline": (
        _DAYS,
        "days from now to evidence.deadline; negative: passed",
    ),
    "derived.evidence_late": (
        _FLAG,
        "evidence.submitted_at is after evidence.deadline, or nothing was submitted and the "
        "deadline has passed; false while the deadline is ahead",
    ),
    "derived.abusive_lines_count": (
        _COUNT,
        "merchant lines with abusive words (null: no transcript)",
    ),
    "derived.dismissive_lines_count": (
        _COUNT,
        "merchant lines with dismissive or perfunctory words (null: no transcript)",
    ),
    "derived.dismissive_share": (
        _SHARE,
        "dismissive lines as a share of the merchant's lines (null: no merchant line)",
    ),
    "derived.service_dismissive": (
        _FLAG,
        "the merchant's side as a whole is passive or perfunctory: at least half its lines, "
        "or three lines, are curt (attitude.DISMISSIVE_SHARE, DISMISSIVE_REPEATED); one "
        "curt line among helpful ones is not",
    ),
    "derived.received_goods_dispute": (
        _FLAG,
        "the dispute is about goods the buyer received (a claim about the returned goods, "
        "a return and refund, a return signed for), not about delivery; false when the "
        "buyer says the parcel never arrived, and when nothing says so",
    ),
    "derived.received_goods_claim": (
        _FLAG,
        "the merchant's claim is about goods the buyer received (swapped_item, "
        "used_or_damaged_by_buyer, missing_parts, empty_parcel, not_returned) and the buyer "
        "does not say the parcel never arrived; false otherwise, including an unknown claim",
    ),
    "derived.contents_claim": (
        _FLAG,
        "the merchant's claim is about what the returned parcel held (swapped_item, "
        "missing_parts, empty_parcel); false otherwise, including an unknown claim",
    ),
    "derived.quality_return": (
        _FLAG,
        "the return is about quality: return.reason quality or damaged, "
        "product.quality_issue_confirmed, or the buyer's words say so (broken, 不能用)",
    ),
    "derived.resale_refusal": (
        _FLAG,
        "the merchant refuses because the goods cannot be resold (影响二次销售), in "
        "claim.statement or its chat lines (null: neither given)",
    ),
    "derived.food_opened": (
        _FLAG,
        "food or fresh food that was opened or eaten: claimed used, or the texts say so "
        "(null: order.category unknown)",
    ),
    "derived.order_shipped": (
        _FLAG,
        "order.shipped, else true when a shipping or delivery time or an interception is "
        "known, false when the texts say not shipped (未发货)",
    ),
    "derived.delivery_stopped": (
        _FLAG,
        "the parcel in transit was stopped: shipping.interception succeeded, "
        "shipping.refused_by_buyer, or the texts say so (拦截成功, 拒签)",
    ),
    "derived.refund_wait_hours": (
        _DAYS,
        "hours from return.requested_at to return.refunded_at, or to now while not "
        "refunded (null: request time unknown)",
    ),
    "derived.chat_promise_broken": (
        _FLAG,
        "a promise the merchant made in the chat was not kept: the buyer says so, the "
        "merchant takes it back, or flags.gift_missing / shipping.on_time show it "
        "(null: no transcript)",
    ),
    "video.count": (
        _COUNT,
        "videos in evidence.videos plus reports given to predict (null: evidence.videos absent)",
    ),
    "video.reports_count": (_COUNT, "videos with a report"),
    "video.best.verdict": (_VERDICT, "overall verdict of the best video"),
    "video.best.duration_s": (_DAYS, "duration of the best video, seconds"),
    **{
        f"video.best.requirements.{name}.verdict": (
            _VERDICT,
            f"the best video's {name} verdict (null when the report says not_checked)",
        )
        for name in REQUIREMENTS
    },
}


@dataclass(frozen=True)
class Rule:
    """One rule of the rulebook (see ``rulebook.toml`` for the meaning of each field)."""

    id: str
    section: str
    source: str
    effect: str
    weight: int
    action: str
    when: dict[str, Any]
    message_en: str
    message_zh: str
    remedy_en: str
    remedy_zh: str
    evidence: str | None = None
    order: int = 0

    @property
    def quotes(self) -> list[str]:
        """The seed lines quoted in ``source``."""
        return _QUOTE.findall(self.source)

    @property
    def delta(self) -> int:
        """Points this rule adds to the score when it fires (a hold adds none)."""
        if self.effect == "hold":
            return 0
        return self.weight if self.effect == "support" else -self.weight

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "effect": self.effect,
            "weight": self.weight,
            "section": self.section,
            "source": self.source,
            "message_en": self.message_en,
            "message_zh": self.message_zh,
            "remedy_en": self.remedy_en,
            "remedy_zh": self.remedy_zh,
            "action": self.action,
        }


@dataclass(frozen=True)
class Scoring:
    base: int
    block_cap: int
    likely_upheld_min: int
    likely_rejected_max: int
    hold_cap: int

    def to_dict(self) -> dict[str, int]:
        return {
            "base": self.base,
            "block_cap": self.block_cap,
            "hold_cap": self.hold_cap,
            "likely_upheld_min": self.likely_upheld_min,
            "likely_rejected_max": self.likely_rejected_max,
        }


@dataclass(frozen=True)
class Rulebook:
    version: str
    digest: str
    origin: str
    scoring: Scoring
    rules: tuple[Rule, ...]
    actions: dict[str, dict[str, str]]
    evidence: dict[str, dict[str, Any]]

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def to_dict(self) -> dict[str, str]:
        return {"version": self.version, "sha256": self.digest, "origin": self.origin}


# --- the fact catalogue --------------------------------------------------------------------


def _resolve(node: Any) -> Any:
    defs = case_schema()["$defs"]
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        merged = {k: v for k, v in node.items() if k != "$ref"}
        node = {**defs[ref.rsplit("/", 1)[-1]], **merged}
    return node


def lookup(path: str, scope: Any = None) -> Any:
    """The schema of a fact path (``scope``: an item schema inside ``some``), or None."""
    if scope is None and path in COMPUTED:
        return COMPUTED[path][0]
    node = _resolve(scope if scope is not None else case_schema())
    for part in path.split("."):
        props = node.get("properties", {}) if isinstance(node, Mapping) else {}
        if part not in props:
            return None
        node = _resolve(props[part])
    return node


def accepts(schema: Any, value: Any) -> bool:
    """Whether a literal in a rule is a possible (non-null) value of a fact."""
    leaf = {k: v for k, v in _resolve(schema).items() if k != "x-iso-time"}
    return Draft202012Validator(leaf).is_valid(value)


def case_fact_paths() -> list[str]:
    """Every leaf and list path of the case schema (for docs and tests)."""
    out: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        node = _resolve(node)
        props = node.get("properties") if isinstance(node, Mapping) else None
        if props and prefix.count(".") < 2 and "items" not in node:
            for k, v in props.items():
                walk(v, f"{prefix}.{k}" if prefix else k)
        else:
            out.append(prefix)
            items = _resolve(node.get("items")) if isinstance(node, Mapping) else None
            if isinstance(items, Mapping) and "properties" in items:
                for k in items["properties"]:
                    out.append(f"{prefix}[].{k}")

    walk(case_schema(), "")
    return out


# --- loading -------------------------------------------------------------------------------


def _fail(origin: str, where: str, problem: str) -> ConfigError:
    return ConfigError(f"rulebook {origin}: {where}: {problem}", details={"where": where})


def _scoring(raw: Any, origin: str) -> Scoring:
    if not isinstance(raw, Mapping):
        raise _fail(origin, "scoring", "missing [scoring] table")
    values: dict[str, int] = {}
    for key in ("base", "block_cap", "hold_cap", "likely_upheld_min", "likely_rejected_max"):
        v = raw.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 100:
            raise _fail(origin, f"scoring.{key}", f"expected a whole number 0-100, got {v!r}")
        values[key] = v
    s = Scoring(**values)
    # An empty case must be uncertain, a blocked one must land in likely_rejected and
    # a held one in uncertain.
    if not s.block_cap <= s.likely_rejected_max < s.base < s.likely_upheld_min:
        raise _fail(
            origin,
            "scoring",
            "need block_cap <= likely_rejected_max < base < likely_upheld_min",
        )
    if not s.likely_rejected_max < s.hold_cap < s.likely_upheld_min:
        raise _fail(origin, "scoring", "need likely_rejected_max < hold_cap < likely_upheld_min")
    return s


def _texts(raw: Any, origin: str, table: str, keys: tuple[str, ...]) -> dict[str, dict[str, str]]:
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(origin, table, f"missing [{table}] table")
    out: dict[str, dict[str, str]] = {}
    for name, entry in raw.items():
        if not isinstance(entry, Mapping) or set(entry) != set(keys):
            raise _fail(origin, f"{table}.{name}", f"expected exactly the keys {list(keys)}")
        if not all(isinstance(entry[k], str) and entry[k].strip() for k in keys):
            raise _fail(origin, f"{table}.{name}", "texts must be non-empty strings")
        out[name] = dict(entry)
    return out


def _evidence(raw: Any, origin: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(origin, "evidence", "missing [evidence] table")
    out: dict[str, dict[str, Any]] = {}
    for key, entry in raw.items():
        where = f"evidence.{key}"
        if not isinstance(entry, Mapping) or set(entry) != {"need_en", "need_zh", "facts"}:
            raise _fail(origin, where, "expected exactly the keys need_en, need_zh, facts")
        if not all(isinstance(entry[k], str) and entry[k].strip() for k in ("need_en", "need_zh")):
            raise _fail(origin, where, "need_en and need_zh must be non-empty strings")
        facts = entry["facts"]
        if not isinstance(facts, list) or not facts:
            raise _fail(origin, f"{where}.facts", "expected a non-empty list of fact paths")
        for f in facts:
            ok = isinstance(f, str) and (
                lookup(f) is not None
                or (f.endswith(".*") and any(c.startswith(f[:-1]) for c in COMPUTED))
            )
            if not ok:
                raise _fail(origin, f"{where}.facts", f"unknown fact {f!r}")
        out[key] = {"need_en": entry["need_en"], "need_zh": entry["need_zh"], "facts": list(facts)}
    return out


def settles(entries: list[str], path: str) -> bool:
    """Whether a fact path (``promises[0].kept``) is one an evidence kind settles."""
    for e in entries:
        if e.endswith(".*") and path.startswith(e[:-1]):
            return True
        if path == e or path.startswith((e + ".", e + "[")):
            return True
    return False


def _rule(
    raw: Any,
    i: int,
    origin: str,
    actions: Mapping[str, Any],
    evidence: Mapping[str, Any],
) -> Rule:
    where = f"rule[{i}]"
    if not isinstance(raw, Mapping):
        raise _fail(origin, where, "expected a [[rule]] table")
    rid = raw.get("id")
    where = f"rule {rid!r}" if isinstance(rid, str) else where
    known = set(RULE_FIELDS) | set(OPTIONAL_RULE_FIELDS)
    extra = sorted(set(raw) - known)
    if extra:
        raise _fail(origin, where, f"unknown fields {extra}; known: {sorted(known)}")
    missing = sorted(set(RULE_FIELDS) - set(raw))
    if missing:
        raise _fail(origin, where, f"missing fields {missing}")
    for name, typ in {**RULE_FIELDS, **OPTIONAL_RULE_FIELDS}.items():
        if name in raw and (not isinstance(raw[name], typ) or isinstance(raw[name], bool)):
            raise _fail(origin, where, f"{name} must be a {typ.__name__}, got {raw[name]!r}")
        if typ is str and name in raw and not raw[name].strip():
            raise _fail(origin, where, f"{name} must not be empty")
    rid = raw["id"]  # a non-empty str: checked above
    if not _ID.match(rid):
        raise _fail(origin, where, "id must be dotted lower-case words, like faq5.service.abuse")
    if raw["effect"] not in EFFECTS:
        raise _fail(origin, where, f"effect must be one of {list(EFFECTS)}, got {raw['effect']!r}")
    if raw["effect"] == "hold":
        if "weight" in raw:
            raise _fail(origin, where, "a hold caps the score and takes no weight")
    elif "weight" not in raw:
        raise _fail(origin, where, "missing fields ['weight']")
    elif not 1 <= raw["weight"] <= 100:
        raise _fail(origin, where, f"weight must be 1-100, got {raw['weight']}")
    if raw["action"] not in actions:
        raise _fail(
            origin, where, f"action {raw['action']!r} is not in [actions]: {sorted(actions)}"
        )
    if raw.get("evidence") is not None and raw["evidence"] not in evidence:
        raise _fail(origin, where, f"evidence {raw['evidence']!r} is not in [evidence]")
    if not _QUOTE.search(raw["source"]):
        raise _fail(origin, where, "source must quote the seed's line between 「」")
    try:
        conditions.validate(raw["when"], "when", lookup, accepts)
    except conditions.ConditionError as e:
        raise _fail(origin, where, str(e)) from e
    return Rule(
        id=rid,
        section=raw["section"],
        source=raw["source"],
        effect=raw["effect"],
        weight=raw.get("weight", 0),
        action=raw["action"],
        when=raw["when"],
        message_en=raw["message_en"],
        message_zh=raw["message_zh"],
        remedy_en=raw["remedy_en"],
        remedy_zh=raw["remedy_zh"],
        evidence=raw.get("evidence"),
        order=i,
    )


def parse_rulebook(text: bytes, origin: str) -> Rulebook:
    """Parse and validate rulebook TOML; raise ``ConfigError`` on any problem."""
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"rulebook {origin} is not valid TOML: {e}") from e
    extra = sorted(set(data) - {"version", "scoring", "actions", "evidence", "rule"})
    if extra:
        raise _fail(origin, "top level", f"unknown tables {extra}")
    if not isinstance(data.get("version"), str):
        raise _fail(origin, "version", "missing version = '...'")
    scoring = _scoring(data.get("scoring"), origin)
    actions = _texts(data.get("actions"), origin, "actions", ("en", "zh"))
    evidence = _evidence(data.get("evidence"), origin)
    raw_rules = data.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _fail(origin, "rule", "no [[rule]] tables")
    rules = tuple(_rule(r, i, origin, actions, evidence) for i, r in enumerate(raw_rules))
    seen: set[str] = set()
    for r in rules:
        if r.id in seen:
            raise _fail(origin, f"rule {r.id!r}", "duplicate id")
        seen.add(r.id)
    return Rulebook(
        version=data["version"],
        digest=hashlib.sha256(text).hexdigest(),
        origin=origin,
        scoring=scoring,
        rules=rules,
        actions=actions,
        evidence=evidence,
    )


@cache
def _shipped() -> Rulebook:
    text = resources.files("validator.predict").joinpath("rulebook.toml").read_bytes()
    return parse_rulebook(text, "rulebook.toml")


def load_rulebook(spec: str | Path | Rulebook | None = None) -> Rulebook:
    """The shipped rulebook (``None``), or one read from a TOML file path."""
    if spec is None:
        return _shipped()
    if isinstance(spec, Rulebook):
        return spec
    path = Path(spec)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read rulebook {path}: {e.strerror}") from e
    return parse_rulebook(text, str(path))
