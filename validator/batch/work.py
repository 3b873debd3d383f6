"""The work of one case, run in a pool process: ``check_case`` into the case's folder.

Results go to ``<out>/cases/<slug>/``: ``report.json`` and the pictures, exactly as
``check_case`` writes them for the CLI and the service, and ``batch.json``, this
run's bookkeeping (the case's id here, its key for resuming, status, error). All is
written into a temporary sibling folder first, which then replaces the old folder.
A run killed at any moment leaves either the old result, the new one, or a
``.tmp-*`` folder that the next run removes; never a half-written case.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

from validator.cases import REPORT
from validator.files import write_json

BOOK = "batch.json"


def publish(tmp_dir: Path, final: Path) -> None:
    """Replace ``final`` with ``tmp_dir`` (a crash in between leaves no final: rerun)."""
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp_dir, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, final)


def run_case(job: dict[str, Any]) -> dict[str, Any]:
    """Check one case (``job`` is plain JSON); returns what it wrote, as ``load`` reads it."""
    from validator.cases import check_case
    from validator.errors import ValidatorError

    out = Path(job["out_dir"]) / "cases"
    out.mkdir(parents=True, exist_ok=True)
    final = out / job["slug"]
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{job['slug']}-", dir=out))
    tmp.chmod(0o755)
    book: dict[str, Any] = {
        "case_id": job["case_id"],
        "key": job["key"],
        "policy": job["policy_digest"],
        "status": "done",
        "error": None,
    }
    result: dict[str, Any] = {}
    try:
        case = None
        if job.get("case_file"):
            from validator.predict import load_case

            case = load_case(Path(job["case_file"]))
        result = check_case(case, job["videos"], tmp, policy=job["policy"]).to_dict()
        if job.get("refused"):
            result = _with_refused(result, job["refused"])
            write_json(tmp / REPORT, result)
        book["status"] = result["status"]
    except ValidatorError as e:  # a bad case.json or policy: listed, not cached
        book.update(status="error", error=e.to_dict())
    except Exception as e:  # a bug: listed with its type, the others go on
        book.update(
            status="error",
            error={
                "code": "internal_error",
                "message": f"{type(e).__name__}: {e}",
                "details": {"traceback": traceback.format_exc(limit=5)},
            },
        )
    try:
        write_json(tmp / BOOK, book)
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**result, **book}


def _with_refused(result: dict[str, Any], refused: list[list[str]]) -> dict[str, Any]:
    """The case's report with the entries discovery would not read listed as unreadable
    (a fifo, a link to nothing or out of the tree, a file it may not read)."""
    from validator.errors import UnreadableFile

    listed = [
        {"video": name, **UnreadableFile(f"{name}: {why}", details={"name": name}).to_dict()}
        for name, why in refused
    ]
    return {**result, "status": "unreadable", "unreadable": [*result["unreadable"], *listed]}


def load(folder: Path) -> dict[str, Any] | None:
    """A case's folder as one dict: ``report.json`` (if any) under ``batch.json``;
    None when the case has no complete result (never run, or its process died)."""
    import json

    def read(name: str) -> dict[str, Any] | None:
        try:
            return json.loads((folder / name).read_text("utf-8"))
        except (OSError, ValueError):
            return None

    book = read(BOOK)
    if book is None:
        return None
    return {**(read(REPORT) or {}), **book}
