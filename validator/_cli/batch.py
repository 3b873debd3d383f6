"""``appeal-validator batch DIR``: check every case in a folder tree."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from validator.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="check every case (folder of videos + optional case.json) in a folder tree",
        description="Check every case in a folder tree in parallel processes. A rerun "
        "skips cases whose videos, case.json and policy are unchanged. Exit 4 when any "
        "case could not be read, else 1 when any fails, else 3 when any needs review, else 0.",
    )
    p.add_argument("dir", type=Path, help="the folder tree")
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel processes (default: the number of cores)",
    )
    p.add_argument("--policy", metavar="NAME|FILE", help="policy profile (default: taobao)")
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where reports and summaries go (default: DIR/.appeal-validator/)",
    )
    p.add_argument(
        "--format",
        choices=("jsonl", "csv", "html"),
        default="jsonl",
        help="the summary printed on stdout (all three are written to --out)",
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="hand the cases to Celery workers (needs APPEAL_VALIDATOR_BROKER_URL)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from validator.batch import run_batch, summary

    if not args.dir.is_dir():
        raise UsageError(f"no such folder: {args.dir}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError("-j must be 1 or more")
    submit = None
    if args.distributed:
        if not os.environ.get("APPEAL_VALIDATOR_BROKER_URL"):
            raise UsageError(
                "--distributed needs APPEAL_VALIDATOR_BROKER_URL (a Redis URL) and running "
                "workers (appeal-validator worker); see docs/scale-out.md"
            )
        from validator.jobs.tasks import submit_batch

        submit = submit_batch
    result = run_batch(args.dir, jobs=args.jobs, policy=args.policy, out=args.out, submit=submit)
    rows = result.rows
    if args.format == "csv":
        sys.stdout.write(summary.render_csv(rows))
    elif args.format == "html":
        sys.stdout.write(summary.render_html(rows, str(args.dir)))
    else:
        sys.stdout.write(summary.render_jsonl(rows))
    bad = result.unreadable
    for r in bad:
        what = r["error"] or r["unreadable"]
        print(f"error: case {r['case_id']} could not be read: {what}", file=sys.stderr)
    print(
        f"batch: {len(rows)} case(s), {result.analyzed} checked, {result.skipped} unchanged, "
        f"{len(bad)} unreadable; reports in {result.out_dir}",
        file=sys.stderr,
    )
    return result.exit_code
