"""A prediction as plain text for people, in English or Simplified Chinese."""

from __future__ import annotations

import json
from typing import Any

from validator.errors import UsageError
from validator.predict.engine import Prediction

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
        "missing": "Missing evidence that would change the outcome",
        "unknown": "unknown",
        "if_good": "if favourable",
        "if_bad": "if not",
        "deadline": "Evidence deadline",
        "days_left": "day(s) left",
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
        "rules": "起决定作用的规则",
        "no_rules": "没有规则触发：现有事实不足以判断。",
        "facts": "依据",
        "source": "出处",
        "how": "得分计算过程",
        "base": "起始分",
        "clamp": "限定在0-100",
        "block_cap": "存在否决规则：封顶",
        "missing": "可能改变结果的缺失凭证",
        "unknown": "未知",
        "if_good": "若有利",
        "if_bad": "若不利",
        "deadline": "举证截止",
        "days_left": "天剩余",
        "passed": "已过期",
        "submitted": "已提交",
        "late": "逾期",
        "actions": "建议下一步",
        "because": "依据规则",
        "service": "服务态度：商家违规聊天记录",
        "videos": "视频",
        "best": "最佳",
        "none": "无",
        "not_known": "未知",
    },
}
_EFFECT = {
    "en": {"block": "BLOCKS", "weaken": "weakens", "support": "supports"},
    "zh": {"block": "否决", "weaken": "削弱", "support": "支持"},
}


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False)


def render_text(prediction: Prediction, lang: str = "en") -> str:
    """The prediction as text: outcome, rules, score steps, missing evidence, actions."""
    if lang not in LANGS:
        raise UsageError(f"--lang: expected one of {', '.join(LANGS)}, got {lang!r}")
    w = _WORDS[lang]
    d = prediction.to_dict()
    out: list[str] = []
    head = f"{w['title']}: {w[d['outcome']]} ({w['score']} {d['score']}/100)"
    if d["case_id"]:
        head += f"  [{w['case']} {d['case_id']}]"
    out.append(head)

    out.append("")
    out.append(f"{w['rules']}:")
    if not d["rules"]:
        out.append(f"  {w['no_rules']}")
    for i, r in enumerate(d["rules"], 1):
        sign = "+" if r["effect"] == "support" else "-"
        out.append(
            f"  {i}. [{_EFFECT[lang][r['effect']]} {sign}{r['weight']}] {r['id']}: "
            f"{r[f'message_{lang}']}"
        )
        if r["facts"]:
            facts = ", ".join(f"{k}={_value(v)}" for k, v in r["facts"].items())
            out.append(f"     {w['facts']}: {facts}")
        out.append(f"     {w['source']}: {r['source']}")

    out.append("")
    out.append(f"{w['how']}:")
    for s in d["scoring"]["steps"]:
        label = s["rule"] or w.get(s["step"], s["step"])
        delta = f"{s['delta']:+d}" if s["step"] != "base" else ""
        out.append(f"  {label:<40} {delta:>5} -> {s['score']}")

    if d["missing_evidence"]:
        out.append("")
        out.append(f"{w['missing']}:")
        for m in d["missing_evidence"]:
            out.append(f"  - {m[f'need_{lang}']}")
            unknown = ", ".join(m["unknown_facts"]) or "-"
            out.append(
                f"    {w['unknown']}: {unknown}; {w['if_good']}: {w[m['outcome_if_favourable']]}, "
                f"{w['if_bad']}: {w[m['outcome_if_unfavourable']]}"
            )

    dl = d["evidence_deadline"]
    if dl["deadline"]:
        out.append("")
        line = f"{w['deadline']}: {dl['deadline']}"
        if dl["submitted_at"]:
            line += f"; {w['submitted']} {dl['submitted_at']}"
            if dl["late"]:
                line += f" ({w['late']})"
        elif dl["days_left"] is not None:
            line += (
                f" ({w['passed']})"
                if dl["days_left"] < 0
                else f" ({dl['days_left']} {w['days_left']})"
            )
        out.append(line)

    if d["next_actions"]:
        out.append("")
        out.append(f"{w['actions']}:")
        for i, a in enumerate(d["next_actions"], 1):
            out.append(f"  {i}. {a[f'title_{lang}']}: {a[f'text_{lang}']}")
            out.append(f"     ({w['because']}: {', '.join(a['because'])})")

    lines = d["service"]["offending_lines"]
    if lines:
        out.append("")
        out.append(f"{w['service']}:")
        for x in lines:
            at = f" {x['at']}" if x["at"] else ""
            terms = "; ".join(f"{k}: {', '.join(v)}" for k, v in x["terms"].items())
            out.append(f"  [{x['index']}]{at} {x['text']!r} ({terms})")

    v = d["videos"]
    out.append("")
    count = w["not_known"] if v["count"] is None else str(v["count"])
    line = f"{w['videos']}: {count}"
    if v["best"]:
        b = v["best"]
        reqs = ", ".join(
            f"{k}={r['verdict'] or w['not_known']}" for k, r in b.get("requirements", {}).items()
        )
        line += f"; {w['best']}: {b['path'] or b['source']} ({b.get('verdict')}; {reqs})"
    out.append(line)
    return "\n".join(out) + "\n"
