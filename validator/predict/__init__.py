"""Predict whether a merchant's appeal (申诉) in a return dispute would succeed.

The video alone does not decide an appeal: the platform weighs the case's history,
and most failed appeals fail on the checklist in the seed's FAQ 5. This package
combines the facts of the case (``case.json``, schema ``case.schema.json``) with the
video reports from ``check`` through a rulebook kept as data (``rulebook.toml``)::

    from validator.predict import load_case, predict, render_text
    case = load_case("case.json")          # CaseError names the bad field
    p = predict(case, [report_dict], now=None)
    p.outcome                               # likely_upheld | likely_rejected | uncertain
    p.to_dict()                             # JSON-ready (docs/predict.md, "Output")
    print(render_text(p, lang="zh"))

Modules: ``case`` (reading and validating cases), ``conditions`` (the rule-condition
language), ``rulebook`` (loading rules), ``attitude`` (abusive/dismissive replies),
``engine`` (facts, scoring, prediction), ``render`` (text).
"""

from validator.predict.attitude import Attitude, OffendingLine, find_terms, scan
from validator.predict.case import case_schema, load_case
from validator.predict.engine import EXIT_CODES, OUTCOMES, Prediction, predict
from validator.predict.render import render_text
from validator.predict.rulebook import Rule, Rulebook, load_rulebook

__all__ = [
    "EXIT_CODES",
    "OUTCOMES",
    "Attitude",
    "OffendingLine",
    "Prediction",
    "Rule",
    "Rulebook",
    "case_schema",
    "find_terms",
    "load_case",
    "load_rulebook",
    "predict",
    "render_text",
    "scan",
]
