"""The predictor: case facts + video reports + rulebook -> a ``Prediction``.

1. Validate the case and the reports; compute the derived facts (days, lateness,
   service attitude) and the video facts of each candidate "best" video.
2. Evaluate every rule (three-valued: true, false, unknown); the fired ones score.
3. Score: ``base`` + supports - weakens - blocks, clamped to 0-100, and capped at
   ``block_cap`` when any rule blocks. A *hold* (a video element still under review:
   FAQ 3's four elements are not met) caps what the video adds at ``hold_cap``, so an
   appeal resting on that video is at best uncertain. Outcome: any block or a score at
   or under ``likely_rejected_max`` -> likely_rejected; at or over ``likely_upheld_min``
   -> likely_upheld; otherwise uncertain.
4. Missing evidence: rules left unknown are grouped by the evidence that would decide
   them; a group is reported when deciding it could improve the outcome.

Scoring is monotone by construction (a support only adds, a block only subtracts
and caps, a hold never takes away what the facts outside the video give), which the
property tests check on whole cases.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import PurePath
from typing import Any

from validator.models import REQUIREMENTS
from validator.predict import conditions
from validator.predict.attitude import Attitude, scan
from validator.predict.case import check_report, load_case
from validator.predict.casetext import text_facts, transcript_messages
from validator.predict.rulebook import Rule, Rulebook, load_rulebook, settles
from validator.timeutil import SHANGHAI, parse_deadline, parse_time

SCHEMA_VERSION = "1"
OUTCOMES: tuple[str, ...] = ("likely_upheld", "likely_rejected", "uncertain")
EXIT_CODES: dict[str, int] = {"likely_upheld": 0, "likely_rejected": 1, "uncertain": 3}
EFFECT_ORDER = {"block": 0, "hold": 1, "weaken": 2, "support": 3}
VERDICT_RANK = {"pass": 2, "review": 1, "fail": 0}
OUTCOME_RANK = {"likely_rejected": 0, "uncertain": 1, "likely_upheld": 2}
# A date without a time ("2026-11-24") as an evidence deadline means the whole day.
# Claims about goods the buyer received and sent back (or kept): not about delivery.
RECEIVED_GOODS_CLAIMS = frozenset(
    {"swapped_item", "used_or_damaged_by_buyer", "missing_parts", "empty_parcel", "not_returned"}
)
# Claims about what the returned parcel held (not about getting goods back at all).
CONTENTS_CLAIMS = frozenset({"swapped_item", "missing_parts", "empty_parcel"})
# Return reasons that name a quality problem (seed FAQ 5, 「質量問題的退貨」).
QUALITY_REASONS = frozenset({"quality", "damaged"})


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
    # Indexes kept up to date, so many videos cost one pass, not one pass per report.
    shas = {_sha(v.report) for v in videos if v.report} - {None}
    open_slots: dict[str, list[int]] = {}
    for k, v in enumerate(videos):
        if v.report is None and v.path:
            open_slots.setdefault(PurePath(v.path).name, []).append(k)
    for j, report in enumerate(reports):
        given = report.get("file")
        file: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
        name, digest = file.get("name"), file.get("sha256")
        if digest and digest in shas:
            continue  # the same file's report was given twice
        if digest:
            shas.add(digest)
        slots = open_slots.get(name) if name else None
        if slots:
            k = slots.pop(0)
            videos[k] = Video(videos[k].source, videos[k].path, report)
        else:
            videos.append(Video(f"video_reports[{j}]", name, report))
    return videos, listed is not None or bool(reports)


def _sha(report: Mapping[str, Any] | None) -> str | None:
    file = report.get("file") if isinstance(report, Mapping) else None
    return file.get("sha256") if isinstance(file, Mapping) else None


def requirement_verdict(report: Mapping[str, Any], name: str) -> str | None:
    """A requirement's verdict as the report gives it; None when the report lacks it.

    ``review`` (a person must look, or an old report's ``not_checked``) is an element
    not yet met: FAQ 3 asks for all four.
    """
    req = (report.get("requirements") or {}).get(name)
    if not isinstance(req, Mapping):
        return None
    return req.get("verdict")


def video_facts(
    videos: list[Video], known: bool, best: Video | None, reports: int | None = None
) -> dict[str, Any]:
    """The ``video.*`` facts with ``best`` as the best video (``reports``: how many
    videos have a report, when the caller counted them already)."""
    if reports is None:
        reports = sum(1 for v in videos if v.report is not None)
    facts: dict[str, Any] = {
        "count": len(videos) if known else None,
        "reports_count": reports if known else None,
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


def deadline_time(case: Mapping[str, Any]) -> tuple[datetime | None, bool]:
    """(the evidence deadline as an instant, whether only a date was given): see
    ``timeutil.parse_deadline`` (a date alone is the end of that day in Asia/Shanghai)."""
    raw = _get(case, "evidence.deadline")
    if raw is None:
        return None, False
    return parse_deadline(raw, field="evidence.deadline")


def _known(*values: Any) -> bool:
    return any(v is not None for v in values)


def _flag(true_if: list[bool | None], false_if_known: list[Any]) -> bool | None:
    """True when any of ``true_if`` is True; False when nothing says so but one of the
    inputs is known; None when nothing is known."""
    if any(v is True for v in true_if):
        return True
    return False if _known(*true_if, *false_if_known) else None


def derived_facts(
    case: Mapping[str, Any],
    now: datetime,
    attitude: Attitude,
    said: Mapping[str, bool | None] | None = None,
) -> dict[str, Any]:
    """The computed facts (``derived.*``; the catalogue is ``rulebook.COMPUTED``).

    ``said``: the facts the case's texts state (``casetext.text_facts``).
    """
    said = said if said is not None else text_facts(case)
    delivered = _time(case, "order.delivered_at")
    requested = _time(case, "return.requested_at")
    refunded = _time(case, "return.refunded_at")
    deadline, _ = deadline_time(case)
    submitted = _time(case, "evidence.submitted_at")
    if deadline is None:
        late = None
    elif submitted is not None:
        late = submitted >= deadline
    else:
        # Nothing submitted yet: late once the deadline has passed, not before.
        late = now >= deadline
    claim = _get(case, "claim.type")
    reason = _get(case, "return.reason")
    category = _get(case, "order.category")
    interception = _get(case, "shipping.interception")
    not_received = said["not_received_stated"]
    # The buyer clearly had the goods: a claim about what came back, a return and
    # refund, a return the merchant signed for. A buyer saying it never arrived makes
    # it a delivery dispute whatever else is said.
    received_claim = not_received is not True and claim in RECEIVED_GOODS_CLAIMS
    received = received_claim or (
        not_received is not True
        and (
            _get(case, "return.type") == "return_and_refund"
            or _get(case, "return.signed_at") is not None
        )
    )
    quality = _flag(
        [
            None if reason is None else reason in QUALITY_REASONS,
            _get(case, "product.quality_issue_confirmed"),
            said["quality_problem_stated"],
        ],
        [],
    )
    food = None if category is None else category in ("food", "fresh_food")
    opened = None
    if food is not None:
        opened = food and (claim == "used_or_damaged_by_buyer" or said["opened_stated"] is True)
    shipped_known = _known(
        _get(case, "order.shipped_at"), _get(case, "order.delivered_at")
    ) or interception in ("succeeded", "failed")
    shipped = _get(case, "order.shipped")
    if shipped is None and shipped_known:
        shipped = True
    if shipped is None and said["unshipped_stated"] is True:
        shipped = False
    stopped = _flag(
        [
            None if interception is None else interception == "succeeded",
            _get(case, "shipping.refused_by_buyer"),
            said["delivery_stopped_stated"],
        ],
        [],
    )
    wait = None
    if requested is not None:
        wait = ((refunded or now) - requested).total_seconds() / 3600
    return {
        "days_since_delivery": _days(delivered, now),
        "days_delivery_to_request": _days(delivered, requested),
        "days_left_to_deadline": _days(now, deadline),
        "evidence_late": late,
        "abusive_lines_count": attitude.abusive_lines,
        "dismissive_lines_count": attitude.dismissive_lines,
        "dismissive_share": attitude.dismissive_share,
        "service_dismissive": attitude.service_dismissive,
        "received_goods_dispute": received,
        "received_goods_claim": received_claim,
        "contents_claim": claim in CONTENTS_CLAIMS,
        "quality_return": quality,
        "resale_refusal": said["resale_refusal_stated"],
        "food_opened": opened,
        "order_shipped": shipped,
        "delivery_stopped": stopped,
        "refund_wait_hours": wait,
        "chat_promise_broken": said["chat_promise_broken"],
    }


# --- scoring -------------------------------------------------------------------------------


def _ordered(rules: list[Rule]) -> list[Rule]:
    """Deciding order: blocks, then weakens, then supports; heavier first."""
    return sorted(rules, key=lambda r: (EFFECT_ORDER[r.effect], -r.weight, r.order))


def _total(base: int, rules: list[Rule]) -> int:
    return min(100, max(0, base + sum(r.delta for r in rules)))


def score(rulebook: Rulebook, fired: list[Rule]) -> tuple[int, str, list[dict[str, Any]]]:
    """(score, outcome, steps) for a set of fired rules."""
    s = rulebook.scoring
    running = s.base
    steps: list[dict[str, Any]] = [{"step": "base", "rule": None, "delta": 0, "score": running}]
    for r in _ordered(fired):
        if r.effect == "hold":
            continue  # a hold adds nothing; it caps below
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
    if any(r.effect == "hold" for r in fired):
        # The video may lift the appeal to hold_cap at most; what the other facts give
        # without the video stays (so a reviewed video never lowers an appeal).
        without_video = _total(s.base, [r for r in fired if r.evidence != "video"])
        cap = max(s.hold_cap, without_video)
        if final > cap:
            steps.append({"step": "hold_cap", "rule": None, "delta": cap - final, "score": cap})
            final = cap
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
    # Only evidence that could improve the outcome: that is what the merchant can act on
    # (evidence that could only make it worse is not "missing" to them).
    return [m for m in out if OUTCOME_RANK[m["outcome_if_favourable"]] > OUTCOME_RANK[run.outcome]]


def _local(dt: datetime) -> str:
    return dt.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def days_text(days: float) -> str:
    """Days as people write them: 2, 2.5, 0.5 (one decimal, no trailing .0)."""
    text = f"{round(days, 1):.1f}"
    return text[:-2] if text.endswith(".0") else text


def _deadline(case: Mapping[str, Any], derived: Mapping[str, Any]) -> dict[str, Any]:
    deadline, date_only = deadline_time(case)
    submitted = _time(case, "evidence.submitted_at")
    left = derived["days_left_to_deadline"]
    out: dict[str, Any] = {
        "deadline": None if deadline is None else deadline.isoformat(),
        "submitted_at": None if submitted is None else submitted.isoformat(),
        "days_left": None if left is None else round(left, 1),
        "late": derived["evidence_late"],
        "assumed": None,
        "assumed_en": None,
        "assumed_zh": None,
    }
    if deadline is not None:
        raw = str(_get(case, "evidence.deadline")).strip()
        if date_only:
            out["assumed"] = "end_of_day"
            out["assumed_en"] = (
                f"The deadline {raw} gives only a date: the end of that day in China time "
                f"(before {_local(deadline)}) was assumed."
            )
            out["assumed_zh"] = f"举证截止只给了日期 {raw}，按当天结束（北京时间 24:00）计算。"
        else:
            out["assumed"] = "exact_time"
            out["assumed_en"] = f"The deadline is the time given, {_local(deadline)} China time."
            out["assumed_zh"] = f"举证截止按所给时间计算：北京时间 {_local(deadline)}。"
    return out


def _action(rulebook: Rulebook, key: str, text_en: str, text_zh: str, because: list[str]) -> dict:
    title = rulebook.actions.get(key, {"en": key, "zh": key})
    return {
        "action": key,
        "title_en": title["en"],
        "title_zh": title["zh"],
        "text_en": text_en,
        "text_zh": text_zh,
        "because": because,
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
    for h in hits:  # deciding order: blocks, holds (the element to fix), weakens, supports
        r = h.rule
        # With a block the appeal is lost: showing or fixing the evidence no longer helps.
        if blocked and r.effect in ("support", "hold"):
            continue
        if r.action in out:
            out[r.action]["because"].append(r.id)
            continue
        out[r.action] = _action(rulebook, r.action, r.remedy_en, r.remedy_zh, [r.id])
    actions = list(out.values())
    for m in missing:  # only evidence that could improve the outcome is listed
        actions.append(
            _action(rulebook, "provide_evidence", m["need_en"], m["need_zh"], list(m["rules"]))
        )
    if outcome == "uncertain" and not actions:
        # Uncertain always says what would settle it, even when no single fact would.
        general = rulebook.evidence.get("case_facts")
        if general is not None:
            actions.append(
                _action(rulebook, "provide_evidence", general["need_en"], general["need_zh"], [])
            )
    pending = deadline["deadline"] and deadline["late"] is False and not deadline["submitted_at"]
    if pending and not blocked:
        when = datetime.fromisoformat(deadline["deadline"])
        days = days_text(deadline["days_left"])
        if deadline["assumed"] == "end_of_day":
            day = (when - timedelta(seconds=1)).astimezone(SHANGHAI).strftime("%Y-%m-%d")
            text_en = (
                f"Due by the end of {day} (China time; the deadline gives only a date, so "
                f"the end of that day was assumed): {days} day(s) left."
            )
            text_zh = (
                f"截止到 {day} 当天结束（北京时间 24:00；截止时间只给了日期，按当天结束计算），"
                f"剩余 {days} 天。"
            )
        else:
            text_en = f"Due before {_local(when)} China time: {days} day(s) left."
            text_zh = f"截止到北京时间 {_local(when)}，剩余 {days} 天。"
        actions.append(
            _action(rulebook, "submit_evidence", text_en, text_zh, ["evidence.deadline"])
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
    chat = transcript_messages(data)  # every chat line read once, for every use
    transcript = _get(data, "service.transcript")
    attitude = scan(transcript, None if chat is None else [m for _, m in chat])
    derived = derived_facts(data, clock, attitude, text_facts(data, chat))
    videos, known = merge_videos(data, reports)

    candidates: list[Video | None] = [v for v in videos if v.report is not None] or [None]
    runs: list[_Run] = []
    # Videos whose reports give the same facts score the same: evaluate each kind once.
    by_facts: dict[str, _Run] = {}
    with_report = sum(1 for v in videos if v.report is not None)
    for cand in candidates:
        vfacts = video_facts(videos, known, cand, with_report)
        sig = json.dumps(vfacts["best"], sort_keys=True, default=str)
        if sig not in by_facts:
            by_facts[sig] = _evaluate(book, {**data, "derived": derived, "video": vfacts}, cand)
        runs.append(replace(by_facts[sig], best=cand))

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
    best_index = next((i for i, v in enumerate(videos) if v is run.best), None)
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
