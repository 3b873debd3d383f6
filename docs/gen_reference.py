"""Regenerate docs/reasons.md from the reason catalogue and the policy settings.

    python docs/gen_reference.py > docs/reasons.md

Tests check that the document names every reason code and setting.
"""

from __future__ import annotations

from validator.detectors import event_kinds
from validator.models import REQUIREMENTS
from validator.policy import THRESHOLDS, load_policy
from validator.reasons import advice, catalogue

RATIO_CODES = ("too_dark", "overexposed", "blurred")


def main() -> None:
    cat = catalogue()
    out = [
        "# Reason codes, events and policy settings",
        "",
        "Every requirement verdict carries reasons. A reason has a stable `code` (API: never",
        "renamed), the `verdict` it contributes (`pass`, `fail`, `review`), `message_en`,",
        "`message_zh` and the times `at_s` (seconds from the first frame) it refers to. A",
        "requirement's verdict is the worst of its reasons' (fail > review > pass); the overall",
        "verdict is the worst of the four. Messages live in `validator/data/reasons.json`, the",
        "event kinds' (and their reasons') with the module that finds them; this page is made",
        "by `docs/gen_reference.py`.",
        "",
    ]
    for name in REQUIREMENTS:
        out += [f"## {name}", "", "| code | verdict | meaning |", "| --- | --- | --- |"]
        for code, e in cat.items():
            if e["requirement"] == name:
                verdict = "fail / review" if code in RATIO_CODES else e["verdict"]
                out.append(f"| `{code}` | {verdict} | {e['en']} |")
        out.append("")
    out += [
        "`too_dark`, `overexposed` and `blurred` are `fail` when the share of affected seconds",
        "is at least `validity.fail_fraction`, `review` when it is at least",
        "`validity.review_fraction`.",
        "",
        "## Events",
        "",
        "| kind | found by | meaning |",
        "| --- | --- | --- |",
    ]
    out += [f"| `{k.kind}` | `{k.found_by}` | {k.meaning} |" for k in event_kinds().values()]
    out += [
        "",
        "## What now, per reason",
        "",
        "Under each finding that is no pass, the report page says whether this clip can still",
        "pass (`yes`: once the step is done), cannot (`no`: the recording itself is the",
        "problem; a cut stays a cut) or needs a person (`review`), and what other evidence the",
        "seed accepts instead. The texts (en, zh) live in `validator/data/advice.json`; none",
        "asks to change the video file (`tests/test_advice.py`).",
        "",
        "| code | fixable | what now | other evidence |",
        "| --- | --- | --- | --- |",
    ]
    for code in cat:
        a = advice(code)
        if a is not None:
            out.append(f"| `{code}` | {a['fixable']} | {a['now']} | {'; '.join(a['instead'])} |")
    out += [
        "",
        "## Policy settings",
        "",
        "Thresholds live in policy profiles (`validator/policies/*.toml`); pass your own with",
        "`--policy FILE`. Each value in a profile carries its `source`.",
        "",
        "| setting | default (taobao) | meaning |",
        "| --- | --- | --- |",
    ]
    p = load_policy()
    out += [f"| `{s.name}` | {s.value_in(p)} | {s.help} |" for s in THRESHOLDS]
    print("\n".join(out))


if __name__ == "__main__":
    main()
