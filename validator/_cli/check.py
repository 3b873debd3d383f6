"""``appeal-validator check VIDEO``: the four requirements for one video."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from validator.analyze import facts_from_case
from validator.cases import check_case
from validator.errors import UsageError
from validator.models import VERDICT_EXIT
from validator.report.text import render_text
from validator.timeutil import parse_deadline, parse_time

EXIT = VERDICT_EXIT


class TerminalProgress:
    """``decoding  42%`` on one line of a terminal, rewritten in place at most every
    ``every_s``, erased at the end. A 10-minute 1080p clip takes about two minutes; a
    person at a terminal sees it move. Nothing when ``stream`` is not a terminal (a
    pipe, a log, CI): stderr stays for errors there."""

    def __init__(self, stream: TextIO, every_s: float = 0.2) -> None:
        self.stream = stream
        self.on = stream.isatty()
        self.every_s = every_s
        self._last = -1.0
        self._width = 0

    def __call__(self, fraction: float, stage: str) -> None:
        now = time.monotonic()
        if not self.on or (now - self._last < self.every_s and stage != "done"):
            return
        self._last = now
        if stage == "done":
            self.close()
            return
        line = f"{stage} {100 * max(0.0, min(1.0, fraction)):3.0f}%"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def close(self) -> None:
        if self.on and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check",
        help="check one video against the four requirements",
        description="Check one unboxing video. Times without an offset are Asia/Shanghai. "
        "Exit 0 pass, 1 fail, 3 review, 2 usage error, 4 not a readable video.",
    )
    p.add_argument("video", type=Path, help="the video file")
    p.add_argument("--tracking-number", help="the return's waybill (tracking) number")
    p.add_argument(
        "--return-signed-at", metavar="ISO8601", help="when the merchant signed for the return"
    )
    p.add_argument(
        "--submitted-at", metavar="ISO8601", help="when the evidence is (to be) submitted"
    )
    p.add_argument("--evidence-deadline", metavar="ISO8601", help="the evidence deadline")
    p.add_argument("--case", type=Path, metavar="case.json", help="the facts of the return (JSON)")
    p.add_argument("--policy", metavar="NAME|FILE", help="policy profile (default: taobao)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the text report")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="also write report.json (the case: this video's report and the prediction) "
        "and the evidence pictures here",
    )
    p.add_argument(
        "--pdf",
        action="store_true",
        help="with --out: also write the evidence report there as evidence-zh.pdf and "
        "evidence-en.pdf (A4, for the appeal; needs a CJK font, see README)",
    )
    p.set_defaults(func=run)


def _write_pdfs(reports: list[dict], out: Path) -> None:
    """evidence-zh.pdf and evidence-en.pdf beside report.json (FontMissing: exit 2)."""
    from validator.clock import default
    from validator.files import write_bytes
    from validator.report.pdf import render_pdf

    checked_at = default().now()
    for lang in ("zh", "en"):
        data = render_pdf(reports, lang, pictures=out, checked_at=checked_at)
        write_bytes(out / f"evidence-{lang}.pdf", data)


def _load_case(path: Path | None) -> dict | None:
    if path is None:
        return None
    from validator.predict import load_case  # CaseError (exit 2) names the bad field

    return load_case(path)


def run(args: argparse.Namespace) -> int:
    if not args.video.exists():
        raise UsageError(f"no such file: {args.video}")
    if args.video.is_dir():
        raise UsageError(f"{args.video} is a folder; give one video file (batch checks folders)")
    overrides = {
        "tracking_number": args.tracking_number,
        "return_signed_at": args.return_signed_at
        and parse_time(args.return_signed_at, field="--return-signed-at"),
        "submitted_at": args.submitted_at and parse_time(args.submitted_at, field="--submitted-at"),
        "evidence_deadline": args.evidence_deadline
        and parse_deadline(args.evidence_deadline, field="--evidence-deadline")[0],
    }
    if args.pdf and args.out is None:
        raise UsageError("--pdf writes into the --out folder: give --out DIR too")
    case = _load_case(args.case)
    facts = facts_from_case(case, **overrides)
    progress = TerminalProgress(sys.stderr)
    try:
        result = check_case(
            case, [args.video], args.out, policy=args.policy, facts=facts, progress=progress
        )
    finally:
        progress.close()  # an error's message starts on a clean line
    data = result.video_report()  # raises the video's InputError: exit 4
    if args.pdf and result.reports:
        _write_pdfs(result.reports, args.out)
    if args.format == "json":
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(render_text(data, lang=args.lang))
    return EXIT[data["verdict"]]
