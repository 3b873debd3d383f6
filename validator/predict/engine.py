"""The predictor: case facts + video reports + rulebook -> a ``Prediction``.

1. Validate the case and the reports; compute the derived facts (days, lateness,
   service attitude) and the video facts of each candidate "best" video.
2. Evaluate every rule (three-valued: true, false, unknown); the fired ones score.
3. Score: ``base`` + supports - weakens - blocks, clamped to 0-100, and capped at
   ``block_cap`` when any rule blocks. Outcome: any block or a score at or under
   ``likely_rejected_max`` -> likely_rejected; at or over ``likely_upheld_min`` ->
   likely_upheld; otherwise uncertain.
4. Missing evidence: rules left unknown are grouped by the evidence that would decide
   them; a group is reported when deciding it could change the outcome.

Scoring is monotone by construction (a support only adds, a block only subtracts
and caps), which the property tests check on whole cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from validator.predict import conditions
from validator.predict.attitude import Attitude, scan
from validator.predict.case import check_report, load_case
from validator.predict.rulebook import Rule, Rulebook, load_rulebook, settles
from validator.timeutil import SHANGHAI, parse_time

SCHEMA_VERSION = "1"
OUTCOMES: tuple[str, ...] = ("likely_upheld", "likely_rejected", "uncertain")
EXIT_CODES: dict[str, int] = {"likely_upheld": 0, "likely_rejected": 1, "uncertain": 3}
EFFECT_ORDER = {"block": 0, "weaken": 1, "support": 2}
VERDICT_RANK = {"pass": 2, "review": 1, "fail": 0}
OUTCOME_RANK = {"likely_rejected": 0, "uncertain": 1, "likely_upheld": 2}
REQUIREMENTS: tuple[str, ...] = ("consistency", "completeness", "validity", "timeliness")


# --- facts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Video:
    """One video of the case: where it came from, its path, and its report if any."""

    source: str
    path: str | None
    report: dict[str, Any] | None


def _get(case: Mapping[str, Any], path: str) -> Any:
    return conditions.get(case, path)


def _time(case: Mapping[str, Any], path: str) -> datetime | None:
    value = _get(case, path)
    return None if value is None else parse_time(value, field=path)


def _days(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds() / 86400


def merge_videos(
    case: Mapping[str, Any], reports: list[dict[str, Any]]
) -> tuple[list[Video], bool]:
    """The case's videos plus the given reports; a report fills a case video of its file.

    Returns the videos and whether the video list is known at all (``evidence.videos``
    present, or reports given): an absent list is unknown, ``[]`` means no video.
    """
    listed = _get(case, "evidence.videos")
    videos = [
        Video(f"evidence.videos[{i}]", v.get("path"), v.get("report"))
        for i, v in enumerate(listed or [])
    ]
    for j, report in enumerate(reports):
        file = report.get("file") if isinstance(report.get("file"), Mapping) else {}
        name, digest = file.get("name"), file.get("sha256")
        listed_shas = {v.report.get("file", {}).get("sha256") for v in videos if v.report}
        if digest and digest in listed_shas:
            continue  # the same file's report was given twice
        slot = next(
            (
                k
                for k, v in enumerate(videos)
                if v.report is None and v.path and name and PurePath(v.path).name == name
            ),
            None,
        )
        if slot is not None:
            videos[slot] = Video(videos[slot].source, videos[slot].path, report)
        else:
            videos.append(Video(f"video_reports[{j}]", name, report))
    return videos, listed is not None or bool(reports)


def requirement_verdict(report: Mapping[str, Any], name: str) -> str | None:
    """A requirement's verdict; None when unknown (missing, or only ``not_checked``)."""
    req = (report.get("requirements") or {}).get(name)
    if not isinstance(req, Mapping):
        return None
    reasons = req.get("reasons") or []
    # Until the waybill reader exists, consistency is "review / not_checked": unknown.
    if reasons and all(r.get("code") == "not_checked" for r in reasons):
        return None
    return req.get("verdict")


def video_facts(videos: list[Video], known: bool, best: Video | None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "count": len(videos) if known else None,
        "reports_count": sum(1 for v in videos if v.report is not None) if known else None,
        "best": None,
    }
    if best is not None and best.report is not None:
        media = best.report.get("media") or {}
        facts["best"] = {
            "verdict": best.report.get("verdict"),
            "duration_s": media.get("duration_s") if isinstance(media, Mapping) else None,
            "requirements": {
                name: {"verdict": requirement_verdict(best.report, name)} for name in REQUIREMENTS
            },
        }
    return facts


def derived_facts(case: Mapping[str, Any], now: datetime, attitude: Attitude) -> dict[str, Any]:
    delivered = _time(case, "order.delivered_at")
    requested = _time(case, "return.requested_at")
    deadline = _time(case, "evidence.deadline")
    submitted = _time(case, "evidence.submitted_at")
    if deadline is None:
        late = None
    elif submitted is not None:
        late = submitted > deadline
    else:
        # Nothing submitted yet: late once the deadline has passed, not before.
        late = now > deadline
    return {
        "days_since_delivery": _days(delivered, now),
        "days_delivery_to_request": _days(delivered, requested),
        "days_left_to_deadline": _days(now, deadline),
        "evidence_late": late,
        "abusive_lines_count": attitude.abusive_lines,
        "dismissive_lines_count": attitude.dismissive_lines,
    }


# --- scoring -------------------------------------------------------------------------------


def _ordered(rules: list[Rule]) -> list[Rule]:
    """Deciding order: blocks, then weakens, then supports; heavier first."""
    return sorted(rules, key=lambda r: (EFFECT_ORDER[r.effect], -r.weight, r.order))


def score(rulebook: Rulebook, fired: list[Rule]) -> tuple[int, str, list[dict[str, Any]]]:
    """(score, outcome, steps) for a set of fired rules."""
    s = rulebook.scoring
    running = s.base
    steps: list[dict[str, Any]] = [{"step": "base", "rule": None, "delta": 0, "score": running}]
    for r in _ordered(fired):
        running += r.delta
        steps.append({"step": r.effect, "rule": r.id, "delta": r.delta, "score": running})
    clamped = min(100, max(0, running))
    if clamped != running:
        steps.append({"step": "clamp", "rule": None, "delta": clamped - running, "score": clamped})
    final = clamped
    blocked = any(r.effect == "block" for r in fired)
    if blocked and final > s.block_cap:
        steps.append(
            {"step": "block_cap", "rule": None, "delta": s.block_cap - final, "score": s.block_cap}
        )
        final = s.block_cap
    if blocked or final <= s.likely_rejected_max:
        outcome = "likely_rejected"
    elif final >= s.likely_upheld_min:
        outcome = "likely_upheld"
    else:
        outcome = "uncertain"
    return final, outcome, steps


# --- the prediction ------------------------------------------------------------------------


def _json_value(v: Any) -> Any:
    return round(v, 2) if isinstance(v, float) else v


@dataclass(frozen=True)
class RuleHit:
    """A fired rule and the facts that made it fire."""

    rule: Rule
    facts: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**self.rule.summary(), "facts": {k: _json_value(v) for k, v in self.facts.items()}}


@dataclass(frozen=True)
class Prediction:
    """The predicted outcome of an appeal and everything that led to it."""

    outcome: str
    score: int
    steps: tuple[dict[str, Any], ...]
    hits: tuple[RuleHit, ...]
    missing_evidence: tuple[dict[str, Any], ...]
    deadline: dict[str, Any]
    next_actions: tuple[dict[str, Any], ...]
    attitude: Attitude
    videos: dict[str, Any]
    rulebook: Rulebook
    now: datetime
    case_id: str | None = None
    facts: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def exit_code(self) -> int:
        """0 likely_upheld, 1 likely_rejected, 3 uncertain (the CLI's exit codes)."""
        return EXIT_CODES[self.outcome]

    @property
    def rule_ids(self) -> list[str]:
        return [h.rule.id for h in self.hits]

    def to_dict(self) -> dict[str, Any]:
        """The JSON prediction (docs/predict.md, 'Output')."""
        return {
            "schema_version": SCHEMA_VERSION,
            "case_id": self.case_id,
            "outcome": self.outcome,
            "score": self.score,
            "scoring": {
                **self.rulebook.scoring.to_dict(),
                "steps": [dict(s) for s in self.steps],
            },
            "rules": [h.to_dict() for h in self.hits],
            "missing_evidence": [dict(m) for m in self.missing_evidence],
            "evidence_deadline": dict(self.deadline),
            "next_actions": [dict(a) for a in self.next_actions],
            "service": self.attitude.to_dict(),
            "videos": self.videos,
            "rulebook": {"version": self.rulebook.version, "sha256": self.rulebook.digest},
            "now": self.now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        }


@dataclass(frozen=True)
class _Run:
    """One evaluation of the rulebook with one candidate best video."""

    best: Video | None
    results: dict[str, conditions.Result]
    fired: list[Rule]
    score: int
    outcome: str
    steps: list[dict[str, Any]]
    facts: dict[str, Any]


def _evaluate(rulebook: Rulebook, facts: dict[str, Any], best: Video | None) -> _Run:
    results = {r.id: conditions.evaluate(r.when, facts) for r in rulebook.rules}
    fired = [r for r in rulebook.rules if results[r.id].value is True]
    total, outcome, steps = score(rulebook, fired)
    return _Run(best, results, fired, total, outcome, steps, facts)


def _missing(rulebook: Rulebook, run: _Run) -> list[dict[str, Any]]:
    groups: dict[str, list[Rule]] = {}
    for r in rulebook.rules:
        result = run.results[r.id]
        if not r.evidence or result.value is not None:
            continue
        # Only rules that this evidence alone would decide: a rule also waiting on an
        # unrelated unknown (say, the claim type) is not the evidence's to settle.
        settled = rulebook.evidence[r.evidence]["facts"]
        if all(settles(settled, path) for path, value in result.facts if value is None):
            groups.setdefault(r.evidence, []).append(r)
    out: list[dict[str, Any]] = []
    for key, rules in groups.items():
        good = [r for r in rules if r.effect == "support"]
        bad = [r for r in rules if r.effect != "support"]
        _, if_good, _ = score(rulebook, run.fired + good)
        _, if_bad, _ = score(rulebook, run.fired + bad)
        if if_good == run.outcome and if_bad == run.outcome:
            continue
        unknown: dict[str, None] = {}
        for r in rules:
            for path, value in run.results[r.id].facts:
                if value is None:
                    unknown.setdefault(path)
        out.append(
            {
                "evidence": key,
                "need_en": rulebook.evidence[key]["need_en"],
                "need_zh": rulebook.evidence[key]["need_zh"],
                "unknown_facts": list(unknown),
                "rules": [r.id for r in rules],
                "outcome_if_favourable": if_good,
                "outcome_if_unfavourable": if_bad,
            }
        )
    # Evidence that could improve the outcome first: that is what the merchant can act on.
    helps = [m for m in out if OUTCOME_RANK[m["outcome_if_favourable"]] > OUTCOME_RANK[run.outcome]]
    return helps + [m for m in out if m not in helps]


def _local(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _deadline(case: Mapping[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    deadline = _time(case, "evidence.deadline")
    submitted = _time(case, "evidence.submitted_at")
    left = derived["days_left_to_deadline"]
    return {
        "deadline": None if deadline is None else deadline.isoformat(),
        "submitted_at": None if submitted is None else submitted.isoformat(),
        "days_left": None if left is None else round(left, 1),
        "late": derived["evidence_late"],
    }


def _actions(
    rulebook: Rulebook,
    hits: list[RuleHit],
    outcome: str,
    missing: list[dict[str, Any]],
    deadline: dict[str, Any],
) -> list[dict[str, Any]]:
    blocked = any(h.rule.effect == "block" for h in hits)
    out: dict[str, dict[str, Any]] = {}
    for h in hits:
        r = h.rule
        # With a block the appeal is lost: showing supporting evidence no longer helps.
        if blocked and r.effect == "support":
            continue
        if r.action in out:
            out[r.action]["because"].append(r.id)
            continue
        title = rulebook.actions[r.action]
        out[r.action] = {
            "action": r.action,
            "title_en": title["en"],
            "title_zh": title["zh"],
            "text_en": r.remedy_en,
            "text_zh": r.remedy_zh,
            "because": [r.id],
        }
    actions = list(out.values())
    for m in missing:
        if OUTCOME_RANK[m["outcome_if_favourable"]] > OUTCOME_RANK[outcome]:
            actions.append(
                {
                    "action": "provide_evidence",
                    "title_en": "Provide the missing evidence",
                    "title_zh": "补充缺少的凭证",
                    "text_en": m["need_en"],
                    "text_zh": m["need_zh"],
                    "because": list(m["rules"]),
                }
            )
    pending = deadline["deadline"] and deadline["late"] is False and not deadline["submitted_at"]
    if pending and not blocked:
        when = _local(datetime.fromisoformat(deadline["deadline"]))
        days = deadline["days_left"]
        title = rulebook.actions.get(
            "submit_evidence", {"en": "Submit the evidence in time", "zh": "按时提交凭证"}
        )
        actions.append(
            {
                "action": "submit_evidence",
                "title_en": title["en"],
                "title_zh": title["zh"],
                "text_en": f"Submit the appeal evidence before {when} (China time), "
                f"{days} day(s) left.",
                "text_zh": f"请在 {when}（北京时间）前提交申诉凭证，剩余 {days} 天。",
                "because": ["evidence.deadline"],
            }
        )
    return actions


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=SHANGHAI)


def predict(
    case: Mapping[str, Any],
    video_reports: list[dict[str, Any]] | None = None,
    *,
    now: datetime | None = None,
    rulebook: Rulebook | str | None = None,
) -> Prediction:
    """Predict the outcome of the merchant's appeal for ``case``.

    ``video_reports`` are reports from ``check`` (dicts) besides any in
    ``case.evidence.videos[].report``; ``now`` fixes the clock (naive = Asia/Shanghai)
    for days-left; ``rulebook`` is a ``Rulebook`` or a TOML path (default: shipped).
    Raises ``CaseError`` for a case or report that does not fit the schema.
    """
    data = load_case(case)
    reports = [check_report(r, f"video_reports[{i}]") for i, r in enumerate(video_reports or [])]
    book = load_rulebook(rulebook)
    clock = _aware(now)
    attitude = scan(_get(data, "service.transcript"))
    derived = derived_facts(data, clock, attitude)
    videos, known = merge_videos(data, reports)

    candidates: list[Video | None] = [v for v in videos if v.report is not None] or [None]
    runs: list[_Run] = []
    for cand in candidates:
        facts = {**data, "derived": derived, "video": video_facts(videos, known, cand)}
        runs.append(_evaluate(book, facts, cand))

    # Best video: the best overall verdict; among equals, the one that scores highest
    # (so adding a video never lowers the score); then the first listed.
    def key(item: tuple[int, _Run]) -> tuple[int, int, int]:
        i, run = item
        verdict = run.best.report.get("verdict") if run.best and run.best.report else None
        return (VERDICT_RANK.get(str(verdict), -1), run.score, -i)

    run = max(enumerate(runs), key=key)[1]
    hits = [RuleHit(r, dict(run.results[r.id].facts)) for r in _ordered(run.fired)]
    missing = _missing(book, run)
    deadline = _deadline(data, derived)
    best_index = videos.index(run.best) if run.best is not None else None
    video_summary = {
        "count": run.facts["video"]["count"],
        "reports": run.facts["video"]["reports_count"],
        "best": None
        if run.best is None
        else {
            "index": best_index,
            "source": run.best.source,
            "path": run.best.path,
            **(run.facts["video"]["best"] or {}),
        },
    }
    return Prediction(
        outcome=run.outcome,
        score=run.score,
        steps=tuple(run.steps),
        hits=tuple(hits),
        missing_evidence=tuple(missing),
        deadline=deadline,
        next_actions=tuple(_actions(book, hits, run.outcome, missing, deadline)),
        attitude=attitude,
        videos=video_summary,
        rulebook=book,
        now=clock,
        case_id=data.get("id"),
        facts=run.facts,
    )
