"""Service attitude: abusive and dismissive merchant lines, quotes, negations, buyers."""

from __future__ import annotations

import pytest

from validator.predict import find_terms, scan


@pytest.mark.parametrize(
    ("text", "abuse", "dismissive"),
    [
        pytest.param("你就是个骗子", ["骗子"], [], id="zh-abuse"),
        pytest.param("你真不要脸", ["不要脸"], [], id="zh-term-containing-negation"),
        pytest.param("你不买就滚蛋", ["滚蛋"], [], id="zh-negation-out-of-reach"),
        pytest.param("我们没有说您是骗子", [], [], id="zh-negated"),
        pytest.param("您不是骗子，我们误会了", [], [], id="zh-negated-copula"),
        pytest.param("您说的“骗子”是什么意思", [], [], id="zh-quoted"),
        pytest.param("您说的「滚」字我们没有说过", [], [], id="zh-corner-quoted"),
        pytest.param("请向下滚动页面查看详情", [], [], id="zh-innocent-phrase"),
        pytest.param("騙子", ["騙子"], [], id="zh-traditional"),
        pytest.param("爱买不买", [], ["爱买不买"], id="zh-dismissive"),
        pytest.param("哦。", [], ["哦"], id="zh-one-word-reply"),
        pytest.param("哦，那我们帮您查一下物流", [], [], id="zh-oh-in-a-real-answer"),
        pytest.param("这不是你自己的问题，我们来处理", [], [], id="zh-dismissive-negated"),
        pytest.param("亲，非常抱歉，我们马上为您补发", [], [], id="zh-polite"),
        pytest.param("You are an idiot", ["idiot"], [], id="en-abuse"),
        pytest.param("What idiots", ["idiot"], [], id="en-wildcard"),
        pytest.param("you are not stupid", [], [], id="en-negated"),
        pytest.param("I never called you an idiot", [], [], id="en-negated-with-fillers"),
        pytest.param("I can't believe you're so stupid", ["stupid"], [], id="en-not-negated"),
        pytest.param('You wrote "scammer" in your review', [], [], id="en-quoted"),
        pytest.param("please put it in a trash bag", [], [], id="en-innocent-phrase"),
        pytest.param("STOP MESSAGING ME, LOSER", ["loser"], ["stop messaging"], id="en-both"),
        pytest.param("Whatever.", [], ["whatever"], id="en-one-word-reply"),
        pytest.param("whatever you need, we will help", [], [], id="en-whatever-in-sentence"),
        pytest.param("That's not my problem", [], ["not my problem"], id="en-dismissive"),
        pytest.param("It's not your problem, we will fix it", [], [], id="en-dismissive-negated"),
        pytest.param("Don’t worry, we’ll resend it", [], [], id="en-curly-apostrophe"),
        pytest.param("ＳＢ", ["sb"], [], id="full-width"),
    ],
)
def test_lexicon_truth_table(text: str, abuse: list[str], dismissive: list[str]) -> None:
    assert find_terms(text, "abuse") == abuse
    assert find_terms(text, "dismissive") == dismissive


def test_buyer_lines_are_not_the_merchants() -> None:
    att = scan(
        [
            {"from": "buyer", "text": "你们就是骗子！滚！"},
            {"from": "platform", "text": "请双方文明沟通"},
            {"from": "merchant", "text": "亲，很抱歉，我们马上处理"},
        ]
    )
    assert (att.abusive_lines, att.dismissive_lines, att.merchant_lines) == (0, 0, 1)
    assert att.lines == ()


def test_offending_lines_are_reported_with_index_time_and_terms() -> None:
    transcript = [
        {"from": "buyer", "at": "2026-11-14T10:00", "text": "质量太差了"},
        {"from": "merchant", "at": "2026-11-14T10:05", "text": "爱买不买，穷鬼"},
        {"from": "merchant", "at": "2026-11-14T10:06", "text": "亲，抱歉"},
        {"from": "merchant", "text": "哦"},
    ]
    att = scan(transcript)
    assert att.abusive_lines == 1
    assert att.dismissive_lines == 2
    d = att.to_dict()
    assert [x["index"] for x in d["offending_lines"]] == [1, 3]
    first = d["offending_lines"][0]
    assert first == {
        "index": 1,
        "at": "2026-11-14T10:05",
        "text": "爱买不买，穷鬼",
        "kinds": ["abuse", "dismissive"],
        "terms": {"abuse": ["穷鬼"], "dismissive": ["爱买不买"]},
    }


def test_no_transcript_is_unknown_not_clean() -> None:
    att = scan(None)
    assert att.abusive_lines is None and att.dismissive_lines is None
    assert scan([]).abusive_lines == 0
