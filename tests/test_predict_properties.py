"""Relations the predictor must keep on any case (hypothesis).

Adding supporting evidence never lowers the score or the outcome; adding a blocking
fact never raises them; and the score stays 0-100 with the outcome its thresholds say.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validator.predict import load_rulebook, predict
from validator.timeutil import SHANGHAI

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=SHANGHAI)
RANK = {"likely_rejected": 0, "uncertain": 1, "likely_upheld": 2}
VERDICTS = ("pass", "fail", "review")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

flag = st.one_of(st.none(), st.booleans())


def _report(verdicts: dict[str, str | None]) -> dict[str, Any]:
    reqs = {}
    for name, v in verdicts.items():
        reqs[name] = (
            {"verdict": "review", "reasons": [{"code": "not_checked"}]}
            if v is None
            else {"verdict": v, "reasons": [{"code": "x"}]}
        )
    all_v = [r["verdict"] for r in reqs.values()]
    overall = "fail" if "fail" in all_v else "review" if "review" in all_v else "pass"
    return {"verdict": overall, "requirements": reqs}


reports = st.builds(
    _report,
    st.fixed_dictionaries(
        {
            "consistency": st.one_of(st.none(), st.sampled_from(VERDICTS)),
            "completeness": st.sampled_from(VERDICTS),
            "validity": st.sampled_from(VERDICTS),
            "timeliness": st.sampled_from(VERDICTS),
        }
    ),
)
LINES = [
    {"from": "merchant", "text": "亲，抱歉，马上处理"},
    {"from": "merchant", "text": "爱买不买"},
    {"from": "merchant", "text": "你是骗子"},
    {"from": "buyer", "text": "你们是骗子"},
    {"from": "merchant", "text": "we don't care"},
]
times = st.one_of(
    st.none(), st.sampled_from(["2026-11-03T10:00", "2026-11-12T10:00", "2026-11-20T18:00"])
)


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    def opt(section: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in section.items() if v is not None or draw(st.booleans())}

    videos = draw(st.one_of(st.none(), st.lists(reports, max_size=2)))
    case: dict[str, Any] = {
        "order": opt(
            {
                "category": draw(
                    st.one_of(st.none(), st.sampled_from(["food", "fresh_food", "apparel"]))
                ),
                "delivered_at": draw(times),
            }
        ),
        "return": opt(
            {
                "type": draw(
                    st.one_of(st.none(), st.sampled_from(["refund_only", "return_and_refund"]))
                ),
                "reason": draw(
                    st.one_of(st.none(), st.sampled_from(["no_reason", "quality", "other"]))
                ),
                "requested_at": draw(times),
                "signed_at": draw(times),
                "address_ok": draw(flag),
                "arrived_intact": draw(flag),
            }
        ),
        "claim": opt(
            {
                "type": draw(
                    st.one_of(
                        st.none(),
                        st.sampled_from(
                            ["swapped_item", "used_or_damaged_by_buyer", "not_returned", "other"]
                        ),
                    )
                )
            }
        ),
        "evidence": opt(
            {
                "videos": None if videos is None else [{"report": r} for r in videos],
                "purchase_vouchers": draw(
                    st.one_of(st.none(), st.sampled_from(["none", "matching", "unrelated"]))
                ),
                "proof_of_delivery": draw(flag),
                "deadline": draw(times),
                "submitted_at": draw(times),
            }
        ),
        "shipping": opt(
            {
                "on_time": draw(flag),
                "fake_shipment": draw(flag),
                "interception": draw(
                    st.one_of(st.none(), st.sampled_from(["failed", "succeeded"]))
                ),
            }
        ),
        "product": opt({"quality_issue_confirmed": draw(flag), "exaggerated_ads": draw(flag)}),
        "flags": opt(
            {"gift_missing": draw(flag), "buyer_already_returned_intact_or_paid": draw(flag)}
        ),
    }
    transcript = draw(st.one_of(st.none(), st.lists(st.sampled_from(LINES), max_size=3)))
    if transcript is not None:
        case["service"] = {"transcript": transcript}
    promises = draw(
        st.one_of(
            st.none(),
            st.lists(
                st.fixed_dictionaries(
                    {"where": st.sampled_from(["chat", "warranty"]), "kept": flag}
                ),
                max_size=2,
            ),
        )
    )
    if promises is not None:
        case["promises"] = promises
    return case


Mutation = Callable[[dict[str, Any]], None]


def _section(case: dict[str, Any], name: str) -> dict[str, Any]:
    return case.setdefault(name, {})


def _set_if_unknown(section: str, key: str, value: Any) -> Mutation:
    def apply(case: dict[str, Any]) -> None:
        sec = _section(case, section)
        if sec.get(key) is None:
            sec[key] = value

    return apply


def _set(section: str, key: str, value: Any) -> Mutation:
    def apply(case: dict[str, Any]) -> None:
        _section(case, section)[key] = value

    return apply


def _add_video(verdicts: dict[str, str | None], first: bool = False) -> Mutation:
    def apply(case: dict[str, Any]) -> None:
        ev = _section(case, "evidence")
        new, old = [{"report": _report(verdicts)}], ev.get("videos") or []
        ev["videos"] = new + old if first else old + new

    return apply


def _add_line(text: str) -> Mutation:
    def apply(case: dict[str, Any]) -> None:
        svc = _section(case, "service")
        svc["transcript"] = [*(svc.get("transcript") or []), {"from": "merchant", "text": text}]

    return apply


def _add_promise(kept: bool) -> Mutation:
    def apply(case: dict[str, Any]) -> None:
        case["promises"] = [*(case.get("promises") or []), {"where": "chat", "kept": kept}]

    return apply


def _signed_intact(case: dict[str, Any]) -> None:
    ret = _section(case, "return")
    ret["signed_at"] = ret.get("signed_at") or "2026-11-20T18:00"
    ret["arrived_intact"] = True


PASSING = {"consistency": None, "completeness": "pass", "validity": "pass", "timeliness": "pass"}
SUPPORTING: dict[str, Mutation] = {
    "passing video": _add_video(PASSING),
    "passing video listed first": _add_video(PASSING, first=True),
    "reviewed video listed first": _add_video(
        {**PASSING, "validity": "review", "timeliness": "review"}, first=True
    ),
    "fully passing video": _add_video({**PASSING, "consistency": "pass"}),
    "matching vouchers": _set_if_unknown("evidence", "purchase_vouchers", "matching"),
    "proof of delivery": _set_if_unknown("evidence", "proof_of_delivery", True),
    "polite line": _add_line("亲，非常抱歉，我们马上为您处理"),
    "kept promise": _add_promise(True),
    "address ok": _set_if_unknown("return", "address_ok", True),
}
BLOCKING: dict[str, Mutation] = {
    "fake shipment": _set("shipping", "fake_shipment", True),
    "counterfeit": _set("product", "counterfeit_or_ip", True),
    "abusive line": _add_line("滚蛋，骗子"),
    "bad address": _set("return", "address_ok", False),
    "broken promise": _add_promise(False),
    "signed and intact": _signed_intact,
    "buyer already paid": _set("flags", "buyer_already_returned_intact_or_paid", True),
}


@SETTINGS
@given(cases(), st.sampled_from(sorted(SUPPORTING)))
def test_supporting_evidence_never_lowers_the_score(case: dict[str, Any], name: str) -> None:
    before = predict(case, now=NOW)
    more = copy.deepcopy(case)
    SUPPORTING[name](more)
    after = predict(more, now=NOW)
    assert after.score >= before.score
    assert RANK[after.outcome] >= RANK[before.outcome]


@SETTINGS
@given(cases(), st.sampled_from(sorted(BLOCKING)))
def test_a_blocking_fact_never_raises_the_score(case: dict[str, Any], name: str) -> None:
    before = predict(case, now=NOW)
    worse = copy.deepcopy(case)
    BLOCKING[name](worse)
    after = predict(worse, now=NOW)
    assert after.score <= before.score
    assert RANK[after.outcome] <= RANK[before.outcome]
    assert after.outcome == "likely_rejected"


@SETTINGS
@given(cases())
def test_score_and_outcome_agree_with_the_thresholds(case: dict[str, Any]) -> None:
    s = load_rulebook().scoring
    p = predict(case, now=NOW)
    assert 0 <= p.score <= 100
    assert p.steps[-1]["score"] == p.score
    blocked = any(h.rule.effect == "block" for h in p.hits)
    if blocked or p.score <= s.likely_rejected_max:
        assert p.outcome == "likely_rejected"
    elif p.score >= s.likely_upheld_min:
        assert p.outcome == "likely_upheld"
    else:
        assert p.outcome == "uncertain"


@SETTINGS
@given(
    st.lists(reports, min_size=1, max_size=3),
    reports,
    st.integers(min_value=0, max_value=3),
    st.sampled_from(["swapped_item", "other"]),
)
def test_another_video_never_lowers_the_score(
    existing: list[dict[str, Any]], extra: dict[str, Any], at: int, claim: str
) -> None:
    # The best video is chosen, so one more report (anywhere in the list) can only help.
    def case(rs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"claim": {"type": claim}, "evidence": {"videos": [{"report": r} for r in rs]}}

    more = [*existing[:at], extra, *existing[at:]]
    assert predict(case(more), now=NOW).score >= predict(case(existing), now=NOW).score
