"""A prediction as plain text for people, in English or Simplified Chinese.

The English text is for the people who run the tool and carries rule ids and fact
names. The Chinese text is for the merchant: the seed's own words, no rule ids, fact
paths, English verdicts or command options, and numbers as people write them
(剩余 0.5 天).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from validator.errors import UsageError
from validator.predict.engine import Prediction, days_text
from validator.timeutil import SHANGHAI

LANGS = ("en", "zh")

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "likely_upheld": "likely upheld",
        "likely_rejected": "likely rejected",
        "uncertain": "uncertain",
        "title": "Appeal prediction",
        "case": "case",
        "score": "score",
        "rules": "Deciding rules",
        "no_rules": "No rule fired: the facts given decide nothing either way.",
        "facts": "facts",
        "source": "source",
        "how": "How the score was reached",
        "base": "start",
        "clamp": "clamp to 0-100",
        "block_cap": "a rule blocks: cap",
        "hold_cap": "a video element under review: cap",
        "missing": "Missing evidence that would improve the outcome",
        "unknown": "unknown",
        "if_good": "if favourable",
        "deadline": "Evidence deadline",
        "passed": "passed",
        "submitted": "submitted",
        "late": "late",
        "actions": "Next actions",
        "because": "because",
        "service": "Service attitude: offending merchant lines",
        "videos": "Videos",
        "best": "best",
        "none": "none",
        "not_known": "not known",
    },
    "zh": {
        "likely_upheld": "申诉很可能成功",
        "likely_rejected": "申诉很可能失败",
        "uncertain": "结果不确定",
        "title": "申诉结果预测",
        "case": "案件",
        "score": "得分",
        "rules": "起决定作用的依据",
        "no_rules": "现有事实不足以判断申诉结果。",
        "source": "出处",
        "how": "得分计算过程",
        "base": "起始分",
        "clamp": "限定在 0 至 100 之间",
        "block_cap": "存在导致申诉失败的问题，得分封顶",
        "hold_cap": "视频要素尚待确认，得分封顶",
        "missing": "补充后可改善结果的凭证",
        "if_good": "补充有利凭证后",
        "deadline": "举证截止",
        "passed": "已过期",
        "submitted": "已提交",
        "late": "逾期",
        "actions": "建议下一步",
        "service": "服务态度：商家有问题的聊天记录",
        "videos": "拆包视频",
        "best": "采用",
        "none": "无",
        "not_known": "未知",
    },
}
_EFFECT = {
    "en": {"block": "BLOCKS", "hold": "holds", "weaken": "weakens", "support": "supports"},
    "zh": {"block": "导致失败", "hold": "待确认", "weaken": "不利", "support": "有利"},
}
_VERDICT_ZH = {"pass": "通过", "fail": "不通过", "review": "需人工确认", None: "未知"}
_REQUIREMENT_ZH = {
    "consistency": "一致性",
    "completeness": "完整性",
    "validity": "有效性",
    "timeliness": "时效性",
}
_KIND_ZH = {"abuse": "辱骂", "dismissive": "消极敷衍"}
_SECTION_ZH = re.compile(r"^(FAQ|Scenario) (\d+)$")
_QUOTE = re.compile(r"「[^」]+」")


def outcome_line(prediction: dict[str, Any], lang: str) -> str:
    """One line for a report's text: the outcome in words and the score (``lang`` en/zh)."""
    w = _WORDS[lang]
    outcome = str(prediction.get("outcome"))
    return f"{w['title']}: {w.get(outcome, outcome)} ({w['score']} {prediction.get('score')})"


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def _weight(rule: dict[str, Any]) -> str:
    """ " +10" / " -40"; a hold has no weight."""
    if rule["effect"] == "hold":
        return ""
    return f" {'+' if rule['effect'] == 'support' else '-'}{rule['weight']}"


def _section_zh(section: str) -> str:
    m = _SECTION_ZH.match(section)
    if m is None:
        return section
    return ("常见问题" if m.group(1) == "FAQ" else "场景") + m.group(2)


def _source_zh(rule: dict[str, Any]) -> str:
    quotes = "".join(_QUOTE.findall(rule["source"]))
    return f"《金牌售后服务指南》{_section_zh(rule['section'])}{quotes}"


def _local(iso: str | None) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _same(title: str, text: str) -> bool:
    """Whether an action's text only repeats its title (then only one is printed)."""

    def key(s: str) -> str:
        return re.sub(r"[\W_]+", "", s).lower()

    return not text or key(text).startswith(key(title)) or key(title) == key(text)


def render_text(prediction: Prediction, lang: str = "en") -> str:
    """The prediction as text: outcome, rules, score steps, missing evidence, actions."""
    if lang not in LANGS:
        raise UsageError(f"--lang: expected one of {', '.join(LANGS)}, got {lang!r}")
    d = prediction.to_dict()
    return (_zh if lang == "zh" else _en)(d)


def _en(d: dict[str, Any]) -> str:
    w = _WORDS["en"]
    case = f"  [{w['case']} {d['case_id']}]" if d["case_id"] else ""
    out = [f"{w['title']}: {w[d['outcome']]} ({w['score']} {d['score']}/100){case}"]
    out += ["", f"{w['rules']}:"] + ([f"  {w['no_rules']}"] if not d["rules"] else [])
    for i, r in enumerate(d["rules"], 1):
        effect = _EFFECT["en"][r["effect"]] + _weight(r)
        out.append(f"  {i}. [{effect}] {r['id']}: {r['message_en']}")
        if r["facts"]:
            facts = ", ".join(f"{k}={_value(v)}" for k, v in r["facts"].items())
            out.append(f"     {w['facts']}: {facts}")
        out.append(f"     {w['source']}: {r['source']}")
    out += ["", f"{w['how']}:"]
    for s in d["scoring"]["steps"]:
        label = s["rule"] or w.get(s["step"], s["step"])
        delta = f"{s['delta']:+d}" if s["step"] != "base" else ""
        out.append(f"  {label:<40} {delta:>5} -> {s['score']}")
    if d["missing_evidence"]:
        out += ["", f"{w['missing']}:"]
        for m in d["missing_evidence"]:
            out.append(f"  - {m['need_en']}")
            unknown = ", ".join(m["unknown_facts"]) or "-"
            out.append(
                f"    {w['unknown']}: {unknown}; {w['if_good']}: {w[m['outcome_if_favourable']]}"
            )
    dl = d["evidence_deadline"]
    if dl["deadline"]:
        line = f"{w['deadline']}: {_local(dl['deadline'])} China time"
        if dl["submitted_at"]:
            line += f"; {w['submitted']} {_local(dl['submitted_at'])}"
            if dl["late"]:
                line += f" ({w['late']})"
        elif dl["days_left"] is not None:
            left = dl["days_left"]
            line += f" ({w['passed']})" if left < 0 else f" ({days_text(left)} day(s) left)"
        out += ["", line]
        if dl.get("assumed_en"):
            out.append(f"  {dl['assumed_en']}")
    if d["next_actions"]:
        out += ["", f"{w['actions']}:"]
        for i, a in enumerate(d["next_actions"], 1):
            title, text = a["title_en"], a["text_en"]
            out.append(f"  {i}. {text}" if _same(title, text) else f"  {i}. {title}: {text}")
            if a["because"]:
                out.append(f"     ({w['because']}: {', '.join(a['because'])})")
    lines = d["service"]["offending_lines"]
    if lines:
        out += ["", f"{w['service']}:"]
        for x in lines:
            at = f" {x['at']}" if x["at"] else ""
            terms = "; ".join(f"{k}: {', '.join(v)}" for k, v in x["terms"].items())
            out.append(f"  [{x['index']}]{at} {x['text']!r} ({terms})")
    v = d["videos"]
    count = w["not_known"] if v["count"] is None else str(v["count"])
    line = f"{w['videos']}: {count}"
    if v["best"]:
        b = v["best"]
        reqs = ", ".join(
            f"{k}={r['verdict'] or w['not_known']}" for k, r in b.get("requirements", {}).items()
        )
        line += f"; {w['best']}: {b['path'] or b['source']} ({b.get('verdict')}; {reqs})"
    out += ["", line]
    return "\n".join(out) + "\n"


def _zh(d: dict[str, Any]) -> str:
    w = _WORDS["zh"]
    by_id = {r["id"]: r for r in d["rules"]}
    case = f"  {w['case']} {d['case_id']}" if d["case_id"] else ""
    out = [f"{w['title']}：{w[d['outcome']]}（{w['score']} {d['score']}/100）{case}"]
    out += ["", f"{w['rules']}："] + ([f"  {w['no_rules']}"] if not d["rules"] else [])
    for i, r in enumerate(d["rules"], 1):
        effect = _EFFECT["zh"][r["effect"]] + _weight(r)
        out.append(f"  {i}. 【{effect}】{r['message_zh']}")
        out.append(f"     {w['source']}：{_source_zh(r)}")
    out += ["", f"{w['how']}："]
    for s in d["scoring"]["steps"]:
        rule = by_id.get(s["rule"]) if s["rule"] else None
        label = rule["message_zh"] if rule else w.get(s["step"], s["step"])
        delta = f" {s['delta']:+d}" if s["step"] != "base" else ""
        out.append(f"  {label}{delta} → {s['score']}")
    if d["missing_evidence"]:
        out += ["", f"{w['missing']}："]
        for m in d["missing_evidence"]:
            out.append(f"  - {m['need_zh']}（{w['if_good']}：{w[m['outcome_if_favourable']]}）")
    dl = d["evidence_deadline"]
    if dl["deadline"]:
        line = f"{w['deadline']}：北京时间 {_local(dl['deadline'])}"
        notes: list[str] = []
        if dl.get("assumed") == "end_of_day":
            end = datetime.fromisoformat(dl["deadline"]) - timedelta(seconds=1)
            day = end.astimezone(SHANGHAI).strftime("%Y-%m-%d")
            line = f"{w['deadline']}：{day} 当天结束"
            notes.append("北京时间 24:00；只给了日期，按当天结束计算")
        if dl["submitted_at"]:
            notes.append(f"{w['submitted']}于 {_local(dl['submitted_at'])}")
            if dl["late"]:
                notes.append(w["late"])
        elif dl["days_left"] is not None:
            left = dl["days_left"]
            notes.append(w["passed"] if left < 0 else f"剩余 {days_text(left)} 天")
        out += ["", line + (f"（{'；'.join(notes)}）" if notes else "")]
    if d["next_actions"]:
        out += ["", f"{w['actions']}："]
        for i, a in enumerate(d["next_actions"], 1):
            title, text = a["title_zh"], a["text_zh"]
            out.append(f"  {i}. {text}" if _same(title, text) else f"  {i}. {title}：{text}")
    lines = d["service"]["offending_lines"]
    if lines:
        out += ["", f"{w['service']}："]
        for x in lines:
            at = f"（{_local(x['at'])}）" if x["at"] else ""
            terms = "；".join(
                f"{_KIND_ZH.get(k, k)}：{'、'.join(v)}" for k, v in x["terms"].items()
            )
            out.append(f"  第 {x['index'] + 1} 条{at}：{x['text']}（{terms}）")
    v = d["videos"]
    count = w["not_known"] if v["count"] is None else f"{v['count']} 个"
    line = f"{w['videos']}：{count}"
    if v["best"]:
        b = v["best"]
        reqs = "，".join(
            f"{_REQUIREMENT_ZH.get(k, k)}{_VERDICT_ZH.get(r['verdict'], r['verdict'])}"
            for k, r in b.get("requirements", {}).items()
        )
        verdict = _VERDICT_ZH.get(b.get("verdict"), b.get("verdict"))
        line += f"；{w['best']} {b['path'] or '检测报告'}（总体{verdict}；{reqs}）"
    out += ["", line]
    return "\n".join(out) + "\n"
