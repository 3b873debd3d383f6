"""``appeal-validator predict case.json [--video VIDEO ...]``: the predictor's CLI adapter.

Only argument handling and output live here; the logic is ``validator.predict``.
Errors are raised as ``ValidatorError`` subclasses and translated by ``validator.cli``
(a bad case file is ``CaseError``: exit 2). Exit codes: 0 likely_upheld,
1 likely_rejected, 3 uncertain.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from validator.errors import UsageError
from validator.timeutil import parse_time


def register(subparsers: Any) -> None:
    """Add the ``predict`` subcommand."""
    p = subparsers.add_parser(
        "predict",
        help="predict whether the merchant's appeal would succeed",
        description=(
            "Combine the facts of a return dispute (case.json) with unboxing-video reports "
            "into a predicted appeal outcome, the reasons, and the next actions. "
            "Exit codes: 0 likely_upheld, 1 likely_rejected, 3 uncertain, 2 a bad case file."
        ),
    )
    p.add_argument("case", help="the case file (JSON; schema: validator/predict/case.schema.json)")
    p.add_argument(
        "--video",
        action="append",
        default=[],
        metavar="VIDEO",
        help="an unboxing video to check and use (repeatable)",
    )
    p.add_argument("--format", choices=("json", "text"), default="text", help="output format")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of text output")
    p.add_argument("--policy", default=None, metavar="NAME|FILE", help="policy for --video checks")
    p.add_argument("--rulebook", default=None, metavar="FILE", help="another rulebook (TOML)")
    p.add_argument(
        "--now",
        default=None,
        metavar="ISO8601",
        help="the current time, for reproducible days-left (default: the clock)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``predict``; print the prediction; return its exit code."""
    from validator.predict import load_case, predict, render_text

    # A Path: the argument names a file even when it starts with "{" (load_case reads
    # a str starting with "{" that is no file as JSON text).
    case = load_case(Path(args.case))
    now = parse_time(args.now, field="--now") if args.now else None
    reports: list[dict[str, Any]] = []
    if args.video:
        # Imported here so this module (and `predict` without videos) works without
        # the video stack installed.
        from validator.analyze import check

        for path in args.video:
            reports.append(check(path, facts=case, policy=args.policy).to_dict())
    if args.format not in ("json", "text"):
        raise UsageError(f"--format: expected json or text, got {args.format!r}")
    prediction = predict(case, reports, now=now, rulebook=args.rulebook)
    if args.format == "json":
        json.dump(prediction.to_dict(), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_text(prediction, lang=args.lang))
    return prediction.exit_code
