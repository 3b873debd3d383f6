"""``appeal-validator verify VIDEO REPORT``: a recording against its signed witness, offline."""

from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

from validator.errors import UnreadableFile, UsageError, VideoMissing

EXIT_OK, EXIT_MISMATCH = 0, 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "verify",
        help="check a recording made through the service against its signed witness",
        description="Check VIDEO against the witness record in REPORT (the report JSON of "
        "a recording made with the service's record page: report.json, the API's check "
        "or its report) and the record's Ed25519 signature, offline. Exit 0 when the "
        "file and the signature match, 1 when they do not (each difference is named), "
        "2 usage error (no witness in REPORT, a bad key file), 4 VIDEO cannot be read.",
    )
    p.add_argument("video", metavar="VIDEO", help="the recording's file")
    p.add_argument("report", metavar="REPORT", help="its report (JSON) with the witness record")
    p.add_argument(
        "--key",
        metavar="FILE",
        help="the service's public key to trust (PEM, the JSON of "
        "/.well-known/appeal-validator-witness-key, or base64); default: the key the "
        "record carries, which proves it unchanged since that key signed it",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=run)


def _readable(path: Path) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise VideoMissing(f"{path.name} is not there: pass the recording's file",
                           details={"name": path.name}) from e  # fmt: skip
    except OSError as e:
        raise UnreadableFile(f"cannot read {path.name}: {e.strerror}",
                             details={"name": path.name}) from e  # fmt: skip
    if not stat.S_ISREG(st.st_mode) or not os.access(path, os.R_OK):
        raise UnreadableFile(f"cannot read {path.name}: not a readable regular file",
                             details={"name": path.name})  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from validator import witness

    video, report = Path(args.video), Path(args.report)
    try:
        doc = json.loads(report.read_text("utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read the report {report}: {e.strerror}") from e
    except ValueError as e:
        raise UsageError(f"the report {report} is not JSON: {e}") from e
    record = witness.find_witness(doc)
    if record is None:
        raise UsageError(
            f"{report.name} has no witness record: only a video recorded with the service's "
            "record page has one (its report's 'witness')"
        )
    trusted = None
    if args.key:
        try:
            trusted = witness.read_public_key(Path(args.key).read_bytes())
        except OSError as e:
            raise UsageError(f"cannot read the key file {args.key}: {e.strerror}") from e
        except ValueError as e:
            raise UsageError(f"the key file {args.key} is not an Ed25519 public key: {e}") from e
    _readable(video)
    result = witness.verify(video, record, trusted)
    if args.format == "json":
        out = {"ok": result.ok, "problems": result.problems, "key_id": result.key_id,
               "recording_id": record.get("recording_id")}  # fmt: skip
        print(json.dumps(out, ensure_ascii=False))
    elif result.ok:
        trust = "the trusted key" if trusted else "the key the record carries"
        print(
            f"OK: {video.name} is the recording {record.get('recording_id')} as the service "
            f"received it ({record.get('chunk_count')} chunks, {record.get('first_chunk_at')} "
            f"to {record.get('last_chunk_at')}); signature by {trust} ({result.key_id})"
        )
    else:
        print(f"MISMATCH: {video.name} does not match its witness record:")
        for problem in result.problems:
            print(f"  - {problem}")
    return EXIT_OK if result.ok else EXIT_MISMATCH
