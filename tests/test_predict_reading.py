"""The seed read as a Tmall reviewer would (issue 11), one test class per class of misses.

Examples are our own, in Simplified and Traditional Chinese, English, and mixed lines.
Each expectation cites the seed line it follows (../shared/seed, kept in
validator/predict/seed_lines.txt).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from validator.predict import find_terms, load_rulebook, predict, render_text, scan
from validator.timeutil import SHANGHAI

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=SHANGHAI)


def report(**verdicts: str) -> dict[str, Any]:
    reqs = {
        name: {"verdict": verdicts.get(name, "pass"), "reasons": [{"code": "x"}]}
        for name in ("consistency", "completeness", "validity", "timeliness")
    }
    vs = [r["verdict"] for r in reqs.values()]
    overall = "fail" if "fail" in vs else "review" if "review" in vs else "pass"
    return {"verdict": overall, "requirements": reqs}


GOOD_VIDEO = {"videos": [{"path": "v.mp4", "report": report()}]}


def chat(*lines: str | tuple[str, str]) -> dict[str, Any]:
    """A transcript: plain strings are the merchant's, (who, text) pairs anyone's."""
    out = [
        {"from": "merchant", "text": x} if isinstance(x, str) else {"from": x[0], "text": x[1]}
        for x in lines
    ]
    return {"service": {"transcript": out}}


def abuse(text: str) -> list[str]:
    return find_terms(text, "abuse")


# --- service attitude: 「辱罵消費者」「服務消極或敷衍」 ------------------------------------------


class TestQuestionsAreNotNegations:
    @pytest.mark.parametrize(
        "text",
        [
            "你是不是傻逼",
            "你是不是白癡？",  # Traditional
            "難道你不是騙子嗎？",  # Traditional, 难道…吗 with a negation: asserts
            "难道你不是骗子吗",
            "你不是骗子吗？",  # a negative yes/no question is rhetorical
            "你是不是有病啊",
            "Aren't you an idiot?",
            "Are you not stupid?",
            "你是不是 idiot?",  # mixed
        ],
    )
    def test_rhetorical_questions_count(self, text: str) -> None:
        assert abuse(text), text

    @pytest.mark.parametrize(
        "text",
        [
            "我们没有说您是骗子",
            "您不是骗子，我们误会了",
            "難道您是騙子嗎？我們從沒這樣想",  # 难道 + positive: a denial
            "We never called you an idiot.",
        ],
    )
    def test_real_negations_still_do_not(self, text: str) -> None:
        assert abuse(text) == [], text


class TestInsultsInEveryForm:
    @pytest.mark.parametrize(
        ("text", "term"),
        [
            ("滚", "滚"),
            ("滾！", "滾"),  # one Traditional character alone
            ("你给我滚。", "给我滚"),
            ("你就是个垃圾", "垃圾"),
            ("你這個垃圾", "垃圾"),  # Traditional
            ("垃圾买家", "垃圾"),
            ("白癡", "白癡"),
            ("買不起就別買", "買不起就別買"),
            ("你真是个sb", "sb"),
            ("nmsl", "nmsl"),
            ("shabi", "shabi"),
            ("You idiot.", "idiot"),
            ("you people are scammers", "scammer"),
            ("If you can't afford it, don't buy it", "can't afford"),
            ("亲，you are so stupid", "stupid"),  # mixed
        ],
    )
    def test_counts(self, text: str, term: str) -> None:
        assert term in abuse(text), text

    @pytest.mark.parametrize(
        "text",
        [
            "请向下滚动页面",
            "请把垃圾袋带走",
            "垃圾分類請看說明",  # Traditional
            "we are not scammers",
            "no idiots here",
            "Nobody here is an idiot.",
            "Throw the packaging in the trash",
            "We can't afford to lose a customer like you",
        ],
    )
    def test_innocent_lines_do_not(self, text: str) -> None:
        assert abuse(text) == [], text


class TestTargetAndSpeaker:
    @pytest.mark.parametrize(
        "text",
        [
            "您说我们是骗子，这我们不能接受",
            "您說我們是騙子，這我們不能接受",  # Traditional
            "您说“我们是骗子”，我们马上核实",
            "谁说您是骗子了？",
            "You said we are scammers; we will check the parcel.",
            "是快递员弄丢的，快递员是骗子",  # a courier, not the buyer
            "The courier is an idiot, sorry for that.",
            "那个courier是骗子",  # mixed
            "我们又不是骗子",  # the merchant itself
        ],
    )
    def test_not_abuse_of_the_buyer(self, text: str) -> None:
        assert abuse(text) == [], text

    def test_repeating_the_buyers_word_is_not_abuse_but_turning_it_is(self) -> None:
        att = scan(
            chat(("buyer", "你们就是骗子"), "骗子？我们可不是", "你才是骗子")["service"][
                "transcript"
            ]
        )
        assert [x.index for x in att.lines] == [2]


class TestCodesAreNotWords:
    @pytest.mark.parametrize(
        "text",
        [
            "型号SB-2000已发出",
            "SKU: NMSL2，库存充足",
            "订单号SB20261111，请核对",
            "详情见 https://shop.example.com/sb/nmsl?id=1",
            "联系 sb@example.com",
            "型號SB-2000已發出",  # Traditional
        ],
    )
    def test_codes(self, text: str) -> None:
        assert abuse(text) == [], text


class TestDismissivenessIsGraded:
    def test_one_curt_line_among_helpful_ones_decides_nothing(self) -> None:
        case = {
            **chat(
                "亲，很抱歉，麻烦拍个视频给我们看看",
                "随便",
                "已为您登记换货，今天发出",
                "Sorry for the trouble, we will send a new one today.",
            ),
            "claim": {"type": "swapped_item"},
            "evidence": GOOD_VIDEO,
        }
        p = predict(case, now=NOW)
        assert p.attitude.dismissive_lines == 1 and p.attitude.service_dismissive is False
        assert "faq5.service.dismissive" not in p.rule_ids
        assert p.outcome == "likely_upheld"

    @pytest.mark.parametrize(
        "lines",
        [
            ("随便", "爱退不退", "自己看", "亲，在的"),  # repeated: three curt lines
            ("隨便", "愛退不退"),  # Traditional; the whole side
            ("whatever", "not my problem", "deal with it"),
            ("亲，在的", "随便你", "Whatever."),  # mixed: two of three
        ],
    )
    def test_a_curt_side_decides(self, lines: tuple[str, ...]) -> None:
        case = {**chat(*lines), "claim": {"type": "swapped_item"}, "evidence": GOOD_VIDEO}
        p = predict(case, now=NOW)
        assert "faq5.service.dismissive" in p.rule_ids
        assert p.outcome == "likely_rejected"

    @pytest.mark.parametrize(
        "text",
        ["没空位了，下次早点预约", "您可以自己看一下说明书第3页", "您随便挑，都有货", "沒空位了"],
    )
    def test_polite_phrases_sharing_characters_are_not_curt(self, text: str) -> None:
        assert find_terms(text, "dismissive") == [], text


# --- FAQ 5 causes decide --------------------------------------------------------------------


class TestFailureCausesDecide:
    @pytest.mark.parametrize(
        ("ret", "claim"),
        [
            ({"reason": "quality"}, {"type": "used_or_damaged_by_buyer"}),
            ({"reason": "damaged"}, {"type": "other", "statement": "影响二次销售，不予退款"}),
            (
                {"reason": "other", "buyer_statement": "not working after two days"},
                {"type": "other", "statement": "The item cannot be resold, refund refused."},
            ),
            (
                {"reason": "other", "buyer_statement": "用了兩天就不能用了"},  # Traditional
                {"type": "other", "statement": "吊牌已拆，影響二次銷售"},
            ),
        ],
    )
    def test_refusing_a_quality_return_for_resale(self, ret: dict, claim: dict) -> None:
        # 「質量問題的退貨，破損或損毀/滅失風險應由商家承擔，以影響二次銷售的理由拒絕退款」
        p = predict({"return": ret, "claim": claim, "evidence": GOOD_VIDEO}, now=NOW)
        assert "faq5.product.quality_return_resale" in p.rule_ids
        assert p.outcome == "likely_rejected"

    def test_no_resale_refusal_when_the_resale_is_not_in_question(self) -> None:
        case = {
            "return": {"reason": "damaged"},
            "claim": {"type": "other", "statement": "商品不影响二次销售，已同意退货"},
        }
        assert "faq5.product.quality_return_resale" not in predict(case, now=NOW).rule_ids

    @pytest.mark.parametrize(
        ("facts", "rule"),
        [
            ({"product": {"exaggerated_ads": True}}, "faq5.product.exaggerated_ads"),
            ({"evidence": {"purchase_vouchers": "unrelated"}}, "faq5.product.no_vouchers"),
            ({"product": {"counterfeit_or_ip": True}}, "faq5.product.counterfeit_or_ip"),
        ],
    )
    def test_even_a_good_video_does_not_save_it(self, facts: dict, rule: str) -> None:
        case = {"claim": {"type": "swapped_item"}, "evidence": dict(GOOD_VIDEO)}
        for k, v in facts.items():
            case[k] = {**case.get(k, {}), **v}
        p = predict(case, now=NOW)
        assert rule in p.rule_ids and p.outcome == "likely_rejected"

    @pytest.mark.parametrize(
        ("category", "statement"),
        [("food", "零食已拆封，商家要求退回"), ("food", "零食已拆封了"), ("fresh_food", None)],
    )
    def test_goods_unfit_for_return(self, category: str, statement: str | None) -> None:
        # 「商品性質已不適宜退貨，包括但不限于已過期或已拆封的食品生鮮」
        case = {
            "order": {"category": category},
            "claim": {"type": "not_returned"},
            "return": {"buyer_statement": statement},
        }
        p = predict(case, now=NOW)
        assert "faq5.other.unfit_for_return" in p.rule_ids and p.outcome == "likely_rejected"

    def test_unopened_food_may_be_asked_back(self) -> None:
        case = {"order": {"category": "food"}, "claim": {"type": "not_returned"}}
        assert "faq5.other.unfit_for_return" not in predict(case, now=NOW).rule_ids

    @pytest.mark.parametrize(
        "lines",
        [
            ("我们承诺48小时内发货", ("buyer", "说好的48小时发货呢？")),
            ("我們保證給您補發", ("buyer", "說好的補發呢，到現在都沒收到")),  # Traditional
            ("We promise a free gift with it.", "Sorry, we can't honor the gift offer."),
            ("亲，包邮哦", ("buyer", "you promised free shipping")),  # mixed
        ],
    )
    def test_a_promise_broken_in_the_chat(self, lines: tuple) -> None:
        # 「未履行在商品詳情、聊天、退款留言中對消費者的承諾」: read from the chat too.
        p = predict({**chat(*lines), "claim": {"type": "other"}}, now=NOW)
        assert "faq5.promise.chat" in p.rule_ids and p.outcome == "likely_rejected"

    def test_a_promised_gift_the_case_says_is_missing(self) -> None:
        case = {**chat("下单就送您赠品"), "flags": {"gift_missing": True}}
        assert "faq5.promise.chat" in predict(case, now=NOW).rule_ids

    def test_a_kept_promise_is_no_cause(self) -> None:
        case = chat("我们承诺48小时内发货", ("buyer", "收到了，谢谢"))
        assert "faq5.promise.chat" not in predict(case, now=NOW).rule_ids


class TestSeedLinesOutsideFaq5ThatDecide:
    def test_a_missing_gift(self) -> None:
        # FAQ 4 「這個情況商家有責在先」; a gift shipped short is FAQ 5's 「漏發」.
        p = predict({"flags": {"gift_missing": True}, "evidence": GOOD_VIDEO}, now=NOW)
        assert "faq4.gift_missing" in p.rule_ids and p.outcome == "likely_rejected"

    def test_a_no_reason_return_within_the_7_days(self) -> None:
        # FAQ 2 「平臺規定自物流顯示簽收起計算7天的無理由退貨時間」
        case = {
            "order": {"delivered_at": "2026-11-20T10:00"},
            "return": {"reason": "no_reason", "requested_at": "2026-11-22T10:00"},
            "claim": {"type": "other"},
        }
        assert predict(case, now=NOW).outcome == "likely_rejected"
        case["return"]["requested_at"] = "2026-11-29T10:00"  # past the 7 days: not decided
        assert predict(case, now=NOW).outcome == "uncertain"

    def test_late_shipment_decides_a_dispute_that_is_not_about_the_returned_goods(self) -> None:
        case = {
            "shipping": {"on_time": False},
            "return": {"type": "return_and_refund"},
            "claim": {"type": "other", "statement": "发货晚了两天，买家要求退货退款"},
        }
        assert "faq5.shipping.late" in predict(case, now=NOW).rule_ids


class TestScenariosOneAndTwo:
    @pytest.mark.parametrize(
        "case",
        [
            {"shipping": {"interception": "succeeded"}},
            {"shipping": {"refused_by_buyer": True}},
            {"claim": {"statement": "物流有拒簽記錄，但我們還沒退款"}},  # Traditional text
            {"claim": {"statement": "The parcel was intercepted, refund pending."}},
            {"return": {"buyer_statement": "我已经拒签了"}},
        ],
    )
    def test_a_stopped_parcel_not_refunded(self, case: dict) -> None:
        # 「如果物流公司已經反饋攔截成功或者物流有拒簽記錄，及時操作退款」
        ret = {"type": "refund_only", "requested_at": "2026-11-20T10:00"}
        case = {**case, "return": {**ret, **case.get("return", {})}}
        p = predict(case, now=NOW)
        assert "scenario2.refund_after_stop" in p.rule_ids and p.outcome == "likely_rejected"

    def test_a_prompt_refund_is_no_cause(self) -> None:
        ret = {
            "type": "refund_only",
            "requested_at": "2026-11-20T10:00",
            "refunded_at": "2026-11-20T18:00",
        }
        case = {"shipping": {"interception": "succeeded"}, "return": ret}
        assert "scenario2.refund_after_stop" not in predict(case, now=NOW).rule_ids

    @pytest.mark.parametrize(
        ("order", "statement", "fires"),
        [
            ({"shipped": False}, None, True),
            ({}, "还没发货就申请仅退款，我们还没处理", True),
            ({}, "The order was not shipped yet.", True),
            ({"shipped_at": "2026-11-19T10:00"}, None, False),  # shipped: not scenario 1
        ],
    )
    def test_an_unshipped_refund_not_agreed_in_24_hours(
        self, order: dict, statement: str | None, fires: bool
    ) -> None:
        # 「未覆蓋0秒退的訂單，客服應在24小時內對售后單進行【同意退款】操作」
        case = {
            "order": order,
            "claim": {"type": "other", "statement": statement},
            "return": {"type": "refund_only", "requested_at": "2026-11-24T10:00"},
        }
        p = predict(case, now=NOW)
        assert ("scenario1.unshipped_refund_late" in p.rule_ids) is fires
        if fires:
            assert p.outcome == "likely_rejected"
            assert p.next_actions[0]["action"] == "refund_now"

    def test_within_24_hours_is_no_cause(self) -> None:
        case = {
            "order": {"shipped": False},
            "return": {"type": "refund_only", "requested_at": "2026-11-26T02:00"},
        }
        assert "scenario1.unshipped_refund_late" not in predict(case, now=NOW).rule_ids


class TestNoScoreStepWithoutASeedLine:
    def test_matching_vouchers_earn_nothing(self) -> None:
        base = {"claim": {"type": "swapped_item"}, "evidence": dict(GOOD_VIDEO)}
        more = {**base, "evidence": {**GOOD_VIDEO, "purchase_vouchers": "matching"}}
        assert predict(more, now=NOW).score == predict(base, now=NOW).score

    def test_every_step_names_a_rule_that_quotes_the_seed(self) -> None:
        book = load_rulebook()
        for rule in book.rules:
            assert rule.quotes, rule.id


# --- the four elements, deadlines, scopes ----------------------------------------------------


class TestFourElements:
    @pytest.mark.parametrize(
        ("element", "action"),
        [
            ("consistency", "check_consistency"),
            ("completeness", "check_completeness"),
            ("validity", "check_validity"),
            ("timeliness", "check_timeliness"),
        ],
    )
    def test_an_element_under_review_is_at_best_uncertain(self, element: str, action: str) -> None:
        # 「需要滿足四要素：一致性、完整性、有效性、時效性」
        videos = {"videos": [{"path": "v.mp4", "report": report(**{element: "review"})}]}
        p = predict({"claim": {"type": "swapped_item"}, "evidence": videos}, now=NOW)
        assert p.outcome == "uncertain"
        assert f"faq3.{element}.review" in p.rule_ids
        assert p.next_actions[0]["action"] == action

    def test_all_four_met_is_upheld(self) -> None:
        p = predict({"claim": {"type": "swapped_item"}, "evidence": GOOD_VIDEO}, now=NOW)
        assert p.outcome == "likely_upheld"


class TestDeadlines:
    def test_a_date_alone_is_the_end_of_that_day_in_china(self) -> None:
        case = {"evidence": {"deadline": "2026-11-24"}}
        noon = predict(case, now=datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI))
        assert noon.deadline["days_left"] == 0.5 and noon.deadline["late"] is False
        assert noon.deadline["assumed"] == "end_of_day"
        assert "end of that day" in noon.deadline["assumed_en"]
        assert "当天结束" in noon.deadline["assumed_zh"]
        assert "剩余 0.5 天" in render_text(noon, "zh")
        in_time = {"evidence": {"deadline": "2026-11-24", "submitted_at": "2026-11-24T23:59"}}
        assert predict(in_time, now=NOW).deadline["late"] is False
        late = {"evidence": {"deadline": "2026-11-24", "submitted_at": "2026-11-25T00:00:01"}}
        assert "faq5.other.evidence_late" in predict(late, now=NOW).rule_ids

    def test_the_check_reads_a_date_alone_as_the_predictor_does(self) -> None:
        # the video check's timeliness (submitted within the evidence period) and the
        # predictor must agree: a submission at 23:59 on the deadline's date is in time
        from validator.analyze import facts_from_case
        from validator.predict.engine import deadline_time

        case = {"evidence": {"deadline": "2026-11-24"}}
        facts = facts_from_case(case)
        assert facts.evidence_deadline == deadline_time(case)[0]
        assert facts.evidence_deadline > datetime(2026, 11, 24, 23, 59, tzinfo=SHANGHAI)
        exact = facts_from_case({"evidence": {"deadline": "2026-11-24T12:00"}})
        assert exact.evidence_deadline == datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI)

    def test_a_time_is_that_instant(self) -> None:
        case = {"evidence": {"deadline": "2026-11-24T12:00", "submitted_at": "2026-11-24T13:00"}}
        p = predict(case, now=NOW)
        assert p.deadline["assumed"] == "exact_time" and p.deadline["late"] is True


class TestShippingScope:
    def test_shipping_rules_do_not_sink_a_swap_about_received_goods(self) -> None:
        case = {
            "claim": {"type": "swapped_item"},
            "return": {"type": "return_and_refund"},
            "shipping": {"on_time": False, "out_of_stock": True},
            "evidence": {**GOOD_VIDEO, "proof_of_delivery": False},
        }
        p = predict(case, now=NOW)
        assert not [r for r in p.rule_ids if r.startswith("faq5.shipping.")]
        assert p.outcome == "likely_upheld"

    @pytest.mark.parametrize("statement", ["一直没收到货", "一直沒收到貨", "never received it"])
    def test_they_decide_a_delivery_dispute(self, statement: str) -> None:
        case = {
            "return": {"type": "refund_only", "buyer_statement": statement},
            "claim": {"type": "other"},
            "evidence": {"proof_of_delivery": False},
        }
        p = predict(case, now=NOW)
        assert "faq5.shipping.no_proof_of_delivery" in p.rule_ids
        assert p.outcome == "likely_rejected"


# --- output a merchant can act on ------------------------------------------------------------

_FACT_OR_FLAG = re.compile(
    r"(?:derived|video|evidence|return|claim|order|shipping|product|flags|service|promises)"
    r"\.[a-z_]+|--[a-z]|\b(?:likely_\w+|uncertain|pass|fail|review|not_checked)\b"
)


def _rich_case() -> dict[str, Any]:
    return {
        "id": "TK-9",
        "claim": {"type": "swapped_item"},
        "flags": {"gift_missing": True},
        "evidence": {
            "videos": [{"path": "v.mp4", "report": report(timeliness="review")}],
            "deadline": "2026-11-27",
        },
        **chat("你是不是白癡？", ("buyer", "你们是骗子"), "随便"),
    }


class TestChineseOutput:
    @pytest.mark.parametrize(
        "case",
        [
            _rich_case(),
            {"claim": {"type": "swapped_item"}},
            {"evidence": {"videos": [{"report": report(consistency="review")}]}},
        ],
    )
    def test_no_ids_paths_english_verdicts_or_flags(self, case: dict) -> None:
        p = predict(case, now=NOW)
        text = render_text(p, "zh")
        assert not _FACT_OR_FLAG.search(text), _FACT_OR_FLAG.search(text)
        for rule in load_rulebook().rules:
            assert rule.id not in text

    def test_the_texts_a_merchant_reads_carry_no_fields(self) -> None:
        book = load_rulebook()
        texts = [r.message_zh for r in book.rules] + [r.remedy_zh for r in book.rules]
        texts += [e["need_zh"] for e in book.evidence.values()]
        texts += [a["zh"] for a in book.actions.values()]
        assert [t for t in texts if _FACT_OR_FLAG.search(t)] == []

    def test_titles_are_not_repeated_in_texts(self) -> None:
        book = load_rulebook()
        for r in book.rules:
            for lang in ("en", "zh"):
                title = book.actions[r.action][lang]
                text = getattr(r, f"remedy_{lang}")
                assert not text.startswith(title), (r.id, lang)

    def test_numbers_read_naturally(self) -> None:
        p = predict({"evidence": {"deadline": "2026-11-28T12:00"}}, now=NOW)
        text = render_text(p, "zh")
        assert "剩余 2 天" in text and "2.0" not in text


def _cases() -> Any:
    from test_predict_properties import cases  # the generated cases of the property tests

    return cases()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_uncertain_always_says_what_would_settle_it(case: dict[str, Any]) -> None:
    p = predict(case, now=NOW)
    if p.outcome == "uncertain":
        settling = [a for a in p.next_actions if a["action"] != "submit_evidence"]
        assert settling, p.to_dict()
    for m in p.missing_evidence:  # only what would improve the outcome
        rank = {"likely_rejected": 0, "uncertain": 1, "likely_upheld": 2}
        assert rank[m["outcome_if_favourable"]] > rank[p.outcome]
