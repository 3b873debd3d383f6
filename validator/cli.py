"""The ``appeal-validator`` command. Subcommands live in ``validator/_cli/``.

Errors are translated to exit codes here and nowhere else:
0 pass, 1 fail, 3 review (or the subcommand's own outcome codes),
2 usage error, 4 the input is not a readable video, 70 a bug (an unexpected exception:
never 1 or 3, which a ticket system reads as an outcome).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from validator import __version__
from validator.errors import ValidatorError

COMMANDS = ("check", "predict", "serve", "keys", "batch", "worker", "db", "verify")
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, not the user's fault


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 itself; keep our format
        self.print_usage(sys.stderr)
        raise SystemExit(_fail(f"{self.prog}: {message}", EXIT_USAGE, None))


def _fail(message: str, code: int, err: ValidatorError | None, as_json: bool = False) -> int:
    print(f"error: {message}", file=sys.stderr)
    if as_json and err is not None:
        print(json.dumps({"error": err.to_dict()}, ensure_ascii=False))
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="appeal-validator",
        description="Check unboxing videos (拆包视频) for return-dispute appeals.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"validator._cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"validator._cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every error becomes its exit code here, for every command."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): not an error of ours
        return 0
    except Exception as e:  # a bug, wherever it was raised (the parser included)
        return internal_error(e)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    as_json = getattr(args, "format", None) == "json"
    try:
        return int(args.func(args))
    except ValidatorError as e:
        if type(e).exit_code == ValidatorError.exit_code:
            # An error of no kind of its own: a bug in classifying it, never an outcome.
            return internal_error(e)
        return _fail(e.message, e.exit_code, e, as_json)


def internal_error(e: BaseException) -> int:
    """One line on stderr for a bug (never a traceback, never 1 or 3); returns 70."""
    what = " ".join(str(e).split())[:300] or "no message"
    print(
        f"error: internal error ({type(e).__name__}: {what}); this is a bug in "
        f"appeal-validator {__version__}: please file a bug report with this line, the "
        "command and the input that caused it",
        file=sys.stderr,
    )
    return EXIT_INTERNAL
