"""The rulebook: every rule fires on its own case, traces to the seed, and is data."""

from __future__ import annotations

import copy
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from _media import ROOT, SHARED

from validator.errors import ConfigError
from validator.predict import load_rulebook, predict
from validator.predict.conditions import ConditionError, evaluate, validate
from validator.predict.rulebook import accepts, lookup, parse_rulebook
from validator.timeutil import SHANGHAI

SEED = SHARED / "seed" / "000_026778f32728c716.txt"
# The quoted seed lines kept in the project, for checkouts without ../shared.
SEED_LINES = ROOT / "validator" / "predict" / "seed_lines.txt"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=SHANGHAI)
RULEBOOK = ROOT / "validator" / "predict" / "rulebook.toml"


def report(consistency: str | None = None, **verdicts: str) -> dict[str, Any]:
    """A video report shaped like `check`'s; consistency None = not_checked."""
    reqs: dict[str, Any] = {}
    for name in ("completeness", "validity", "timeliness"):
        v = verdicts.get(name, "pass")
        reqs[name] = {"verdict": v, "reasons": [{"code": f"{name}_{v}"}]}
    reqs["consistency"] = (
        {"verdict": "review", "reasons": [{"code": "not_checked"}]}
        if consistency is None
        else {"verdict": consistency, "reasons": [{"code": f"consistency_{consistency}"}]}
    )
    all_v = [r["verdict"] for r in reqs.values()]
    overall = "fail" if "fail" in all_v else "review" if "review" in all_v else "pass"
    return {"verdict": overall, "requirements": reqs, "file": {"name": "v.mp4"}}


def videos(*reports: dict[str, Any]) -> dict[str, Any]:
    return {"videos": [{"path": f"v{i}.mp4", "report": r} for i, r in enumerate(reports)]}


def line(text: str, who: str = "merchant") -> dict[str, Any]:
    return {"from": who, "text": text}


# One case per rule that triggers it. Every fact not given is unknown.
TRIGGERS: dict[str, dict[str, Any]] = {
    "faq5.service.abuse": {"service": {"transcript": [line("你才是骗子")]}},
    "faq5.service.dismissive": {"service": {"transcript": [line("爱买不买")]}},
    "faq5.shipping.forced": {"shipping": {"forced_shipment": True}},
    "faq5.shipping.fake": {"shipping": {"fake_shipment": True}},
    "faq5.shipping.late": {"shipping": {"on_time": False}},
    "faq5.shipping.out_of_stock": {"shipping": {"out_of_stock": True}},
    "faq5.shipping.no_proof_of_delivery": {"evidence": {"proof_of_delivery": False}},
    "faq5.return.bad_address": {"return": {"address_ok": False}},
    "faq5.return.no_inspection_proof": {
        "claim": {"type": "swapped_item"},
        "evidence": {"videos": []},
    },
    "faq5.return.proof_cannot_verify": {
        "claim": {"type": "empty_parcel"},
        "evidence": videos(report(timeliness="fail")),
    },
    "faq5.promise.item_page": {"promises": [{"where": "item_page", "kept": False}]},
    "faq5.promise.chat": {"promises": [{"where": "chat", "text": "送运费险", "kept": False}]},
    "faq5.promise.refund_message": {"promises": [{"where": "refund_message", "kept": False}]},
    "faq5.promise.warranty": {"promises": [{"where": "warranty", "kept": False}]},
    "faq5.product.quality": {"product": {"quality_issue_confirmed": True}},
    "faq5.product.not_as_described": {"product": {"not_as_described": True}},
    "faq5.product.damaged_wrong_missing": {"product": {"damaged_wrong_or_missing": True}},
    "faq5.product.exaggerated_ads": {"product": {"exaggerated_ads": True}},
    "faq5.product.food_safety": {"product": {"food_safety_issue": True}},
    "faq5.product.prohibited": {"product": {"prohibited": True}},
    "faq5.product.counterfeit_or_ip": {"product": {"counterfeit_or_ip": True}},
    "faq5.product.no_vouchers": {"evidence": {"purchase_vouchers": "unrelated"}},
    "faq5.product.quality_return_resale": {
        "return": {"reason": "quality"},
        "claim": {"type": "used_or_damaged_by_buyer"},
    },
    "faq5.other.unfit_for_return": {
        "order": {"category": "fresh_food"},
        "claim": {"type": "not_returned"},
    },
    "faq5.other.evidence_late": {
        "evidence": {"deadline": "2026-11-20T18:00", "submitted_at": "2026-11-21T09:00"}
    },
    "faq5.other.carrier_refuses": {"flags": {"carrier_refuses_return_no_alternative": True}},
    "faq5.other.purchasing_agent": {"flags": {"purchasing_agent_claim_but_stock": True}},
    "faq5.other.buyer_returned_or_paid": {"flags": {"buyer_already_returned_intact_or_paid": True}},
    "faq5.other.not_returned_but_signed": {
        "claim": {"type": "not_returned"},
        "return": {"signed_at": "2026-11-20T10:00"},
    },
    "faq5.other.signed_intact": {
        "return": {"signed_at": "2026-11-20T10:00", "arrived_intact": True}
    },
    "faq3.completeness.pass": {"evidence": videos(report(validity="review", timeliness="review"))},
    "faq3.completeness.fail": {"evidence": videos(report(completeness="fail"))},
    "faq3.validity.pass": {"evidence": videos(report(completeness="review", timeliness="review"))},
    "faq3.validity.fail": {"evidence": videos(report(validity="fail"))},
    "faq3.timeliness.pass": {"evidence": videos(report(completeness="review", validity="review"))},
    "faq3.timeliness.fail": {"evidence": videos(report(timeliness="fail"))},
    "faq3.consistency.pass": {"evidence": videos(report(consistency="pass"))},
    "faq3.consistency.fail": {"evidence": videos(report(consistency="fail"))},
    "faq3.consistency.review": {"evidence": videos(report())},
    "faq3.completeness.review": {
        "evidence": videos(report(consistency="pass", completeness="review"))
    },
    "faq3.validity.review": {"evidence": videos(report(consistency="pass", validity="review"))},
    "faq3.timeliness.review": {"evidence": videos(report(consistency="pass", timeliness="review"))},
    "scenario1.unshipped_refund_late": {
        "order": {"shipped": False},
        "return": {"type": "refund_only", "requested_at": "2026-11-20T10:00"},
    },
    "scenario2.refund_after_stop": {
        "return": {"type": "refund_only"},
        "shipping": {"interception": "succeeded"},
    },
    "faq2.no_reason_after_7_days": {
        "order": {"delivered_at": "2026-11-03T10:00"},
        "return": {"reason": "no_reason", "requested_at": "2026-11-12T10:00"},
    },
    "faq2.no_reason_within_7_days": {
        "order": {"delivered_at": "2026-11-03T10:00"},
        "return": {"reason": "no_reason", "requested_at": "2026-11-05T10:00"},
        "claim": {"type": "other"},
    },
    "faq4.gift_missing": {"flags": {"gift_missing": True}},
    "faq1.interception_failed_signed": {
        "return": {"type": "refund_only"},
        "shipping": {"interception": "failed"},
        "evidence": {"proof_of_delivery": True},
    },
}

# A failing element fails the whole video, so FAQ 5's "proof cannot verify" block comes
# with it: the one block that is related, not unrelated.
RELATED_BLOCKS = {
    f"faq3.{name}.fail": {"faq5.return.proof_cannot_verify"}
    for name in ("completeness", "validity", "timeliness", "consistency")
}

# The checklist of seed FAQ 5, item by item (verbatim): each needs a rule quoting it.
FAQ5_CHECKLIST = [
    "辱罵消費者",
    "服務消極或敷衍",
    "強行發貨",
    "虛假發貨",
    "未按約定時間發貨",
    "缺貨",
    "未在舉證期內提供有效簽收憑證",
    "退貨地址不清晰、地址錯誤",
    "退貨有爭議無有效憑證證實當場驗貨",
    "憑證無法核實商品問題",
    "未履行在商品詳情、聊天、退款留言中對消費者的承諾",
    "以及三包規定",
    "商品存在質量問題",
    "貨不對版/描述不符",
    "商品破損/錯發/漏發",
    "夸大宣傳以及其他違反廣告法的行為",
    "違反《食品安全法》",
    "屬于違禁品",
    "假冒品牌或知識產權侵權",
    "商家無法提供有效進貨合規憑證",
    "質量問題的退貨",
    "商品性質已不適宜退貨",
    "商家未按照平臺要求及時舉證",
    "商品性質導致退貨快遞不收件",
    "承諾是代購實際是現貨",
    "買家已將商品完好寄回給商家/買家已打款給商家",
    "商家簽收退貨且商品完好",
]


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def test_rulebook_loads_with_unique_ids() -> None:
    book = load_rulebook()
    ids = [r.id for r in book.rules]
    assert len(ids) == len(set(ids))
    assert book.scoring.block_cap <= book.scoring.likely_rejected_max


def test_every_rule_has_a_trigger_case() -> None:
    assert set(TRIGGERS) == {r.id for r in load_rulebook().rules}


@pytest.mark.parametrize("rule_id", sorted(TRIGGERS))
def test_rule_fires_on_its_case_without_unrelated_blocks(rule_id: str) -> None:
    book = load_rulebook()
    rule = book.rule(rule_id)
    p = predict(TRIGGERS[rule_id], now=NOW)
    assert rule_id in p.rule_ids
    blocks = {h.rule.id for h in p.hits if h.rule.effect == "block"}
    assert blocks <= {rule_id} | RELATED_BLOCKS.get(rule_id, set())
    hit = next(h for h in p.hits if h.rule.id == rule_id)
    assert hit.facts, "a fired rule names the facts that triggered it"
    if rule.effect == "block":
        assert p.outcome == "likely_rejected"
        assert p.score <= book.scoring.block_cap
    elif rule.effect == "weaken" and not blocks:
        assert p.score < book.scoring.base
    elif rule.effect == "support" and not blocks:
        assert p.score > book.scoring.base


def _nullify(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _nullify(v) if isinstance(v, dict) else None for k, v in node.items()}
    return None


@pytest.mark.parametrize("rule_id", sorted(TRIGGERS))
def test_unknown_facts_never_fire_the_rule(rule_id: str) -> None:
    case = _nullify(copy.deepcopy(TRIGGERS[rule_id]))
    assert rule_id not in predict(case, now=NOW).rule_ids


def test_empty_case_is_uncertain_at_the_base() -> None:
    p = predict({}, now=NOW)
    assert (p.outcome, p.score, p.rule_ids) == ("uncertain", load_rulebook().scoring.base, [])


def _seed_lines() -> list[str]:
    text = SEED_LINES.read_text("utf-8")
    return [nfkc(x) for x in text.splitlines() if x.strip() and not x.startswith("#")]


def test_every_rule_quotes_the_seed() -> None:
    # Runs in any checkout: the quoted lines are kept in the project (seed_lines.txt).
    lines = _seed_lines()
    for rule in load_rulebook().rules:
        assert rule.quotes, rule.id
        for q in rule.quotes:
            assert any(nfkc(q) in line for line in lines), f"{rule.id}: 「{q}」 is not in the seed"


def test_the_kept_seed_lines_are_the_seeds() -> None:
    if not SEED.is_file():
        pytest.skip(f"seed {SEED} is absent: the kept lines were checked where it was present")
    seed = nfkc(SEED.read_text("utf-8"))
    lines = _seed_lines()
    assert len(lines) >= 15
    assert [x for x in lines if x not in seed] == []


def test_every_faq5_checklist_item_has_a_rule() -> None:
    quoted = nfkc(" ".join(r.source for r in load_rulebook().rules if r.section == "FAQ 5"))
    missing = [item for item in FAQ5_CHECKLIST if nfkc(item) not in quoted]
    assert not missing


def test_the_other_sections_the_issue_names_have_rules() -> None:
    sections = {r.section for r in load_rulebook().rules}
    assert {"FAQ 1", "FAQ 2", "FAQ 3", "FAQ 4", "FAQ 5"} <= sections
    faq3 = {r.id.split(".")[1] for r in load_rulebook().rules if r.section == "FAQ 3"}
    assert faq3 == {"consistency", "completeness", "validity", "timeliness"}


def _cjk_share(text: str) -> float:
    return sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff") / max(1, len(text))


def test_rules_have_both_languages() -> None:
    for r in load_rulebook().rules:
        for text in (r.message_zh, r.remedy_zh):
            assert _cjk_share(text) > 0.5, r.id
        for text in (r.message_en, r.remedy_en):
            # English may name a Chinese term in passing (代购), nothing more.
            assert _cjk_share(text) < 0.1, r.id


# --- the condition language ----------------------------------------------------------------

FACTS = {
    "return": {"address_ok": None, "arrived_intact": True, "reason": "quality"},
    "order": {"amount": 120.5},
    "promises": [{"where": "chat", "kept": None}, {"where": "item_page", "kept": False}],
}


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        pytest.param({"fact": "return.arrived_intact", "op": "is_true"}, True, id="is_true"),
        pytest.param({"fact": "return.address_ok", "op": "is_false"}, None, id="null-is-unknown"),
        pytest.param({"fact": "return.signed_at", "op": "eq", "value": "x"}, None, id="absent"),
        pytest.param({"fact": "return.address_ok", "op": "ne", "value": True}, None, id="ne-unk"),
        pytest.param({"not": {"fact": "return.address_ok", "op": "is_true"}}, None, id="not-unk"),
        pytest.param({"fact": "return.address_ok", "op": "missing"}, True, id="missing"),
        pytest.param({"fact": "return.reason", "op": "exists"}, True, id="exists"),
        pytest.param({"fact": "order.amount", "op": "gt", "value": 100}, True, id="gt"),
        pytest.param({"fact": "order.amount", "op": "lt", "value": 100}, False, id="lt"),
        pytest.param(
            {"fact": "return.reason", "op": "in", "value": ["damaged", "quality"]}, True, id="in"
        ),
        pytest.param(
            {
                "all": [
                    {"fact": "return.arrived_intact", "op": "is_true"},
                    {"fact": "return.address_ok", "op": "is_true"},
                ]
            },
            None,
            id="all-true-and-unknown",
        ),
        pytest.param(
            {
                "all": [
                    {"fact": "return.arrived_intact", "op": "is_false"},
                    {"fact": "return.address_ok", "op": "is_true"},
                ]
            },
            False,
            id="all-false-wins",
        ),
        pytest.param(
            {
                "any": [
                    {"fact": "return.address_ok", "op": "is_true"},
                    {"fact": "return.arrived_intact", "op": "is_true"},
                ]
            },
            True,
            id="any-true-wins",
        ),
        pytest.param(
            {
                "fact": "promises",
                "op": "some",
                "match": {
                    "all": [
                        {"fact": "where", "op": "eq", "value": "item_page"},
                        {"fact": "kept", "op": "is_false"},
                    ]
                },
            },
            True,
            id="some",
        ),
        pytest.param(
            {
                "fact": "promises",
                "op": "some",
                "match": {
                    "all": [
                        {"fact": "where", "op": "eq", "value": "chat"},
                        {"fact": "kept", "op": "is_false"},
                    ]
                },
            },
            None,
            id="some-unknown",
        ),
        pytest.param({"fact": "order.amount", "op": "eq", "value": True}, False, id="no-bool-int"),
    ],
)
def test_three_valued_conditions(cond: dict[str, Any], expected: bool | None) -> None:
    assert evaluate(cond, FACTS).value is expected


def test_some_reports_the_matching_item() -> None:
    cond = {"fact": "promises", "op": "some", "match": {"fact": "kept", "op": "is_false"}}
    assert dict(evaluate(cond, FACTS).facts) == {"promises[1].kept": False}


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        pytest.param({"fact": "return.adress_ok", "op": "is_true"}, "unknown fact", id="typo"),
        pytest.param({"fact": "return.address_ok", "op": "truthy"}, "unknown op", id="op"),
        pytest.param(
            {"fact": "order.category", "op": "eq", "value": "shoes"},
            "not a possible",
            id="enum-value",
        ),
        pytest.param({"fact": "order.category", "op": "is_true"}, "not a true/false", id="bool"),
        pytest.param({"fact": "order.category", "op": "gt", "value": 3}, "not a number", id="num"),
        pytest.param({"fact": "order", "op": "some", "match": {}}, "needs a list", id="some"),
        pytest.param(
            {"fact": "__import__('os').system('x')", "op": "exists"},
            "unknown fact",
            id="code-is-just-a-name",
        ),
        pytest.param({"all": []}, "non-empty", id="empty-all"),
        pytest.param({"fact": "order.amount", "op": "exists", "value": 1}, "takes no", id="extra"),
        pytest.param("return.address_ok == false", "expected a table", id="string-condition"),
    ],
)
def test_bad_conditions_are_rejected_at_load(cond: Any, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        validate(cond, "when", lookup, accepts)


def _with_rule(extra: str) -> bytes:
    return RULEBOOK.read_bytes() + extra.encode("utf-8")


NEW_RULE = """
[[rule]]
id = "local.high_value_electronics"
section = "FAQ 3"
source = "local policy 「證明驗貨時賣家發現的退貨問題」"
effect = "weaken"
weight = 5
action = "attach_video"
when.all = [
  { fact = "order.category", op = "eq", value = "electronics" },
  { fact = "order.amount", op = "gt", value = 5000 },
]
message_en = "High-value electronics: the platform looks closely."
message_zh = "高价电子产品：平台会严格审核。"
remedy_en = "Show the serial number on camera."
remedy_zh = "在视频中拍摄序列号。"
"""


def test_adding_a_rule_is_editing_the_data_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_bytes(_with_rule(NEW_RULE))
    case = {"order": {"category": "electronics", "amount": 8000}}
    p = predict(case, now=NOW, rulebook=str(path))
    assert p.rule_ids == ["local.high_value_electronics"]
    assert p.score == load_rulebook().scoring.base - 5
    assert predict(case, now=NOW).rule_ids == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(
            NEW_RULE.replace('id = "local.high_value_electronics"', 'id = "faq4.gift_missing"'),
            "duplicate",
            id="dup-id",
        ),
        pytest.param(
            NEW_RULE.replace('effect = "weaken"', 'effect = "maybe"'), "effect", id="effect"
        ),
        pytest.param(
            NEW_RULE.replace('action = "attach_video"', 'action = "sue"'), "action", id="action"
        ),
        pytest.param(
            NEW_RULE.replace("「證明驗貨時賣家發現的退貨問題」", ""), "quote", id="no-quote"
        ),
        pytest.param(
            NEW_RULE.replace('"electronics" }', '"electronic" }'), "not a possible", id="bad-value"
        ),
        pytest.param(NEW_RULE.replace("weight = 5", "weight = 5.5"), "weight", id="weight"),
        pytest.param(NEW_RULE + "colour = 'red'\n", "unknown fields", id="unknown-field"),
    ],
)
def test_bad_rulebooks_fail_at_start_up(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rulebook(_with_rule(extra), "test.toml")


def test_scoring_thresholds_must_make_sense() -> None:
    text = RULEBOOK.read_text("utf-8").replace("block_cap = 20", "block_cap = 40")
    with pytest.raises(ConfigError, match="block_cap"):
        parse_rulebook(text.encode("utf-8"), "test.toml")


def test_one_weaken_alone_leaves_a_case_uncertain() -> None:
    # "Weaken" means it does not decide the appeal by itself; "block" does.
    s = load_rulebook().scoring
    for r in load_rulebook().rules:
        if r.effect == "weaken":
            assert s.base - r.weight > s.likely_rejected_max, r.id
