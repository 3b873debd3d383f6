"""The work of one case, run in a pool process: check every video, predict, write.

Results go to ``<out>/cases/<slug>/`` atomically: everything is written into a
temporary sibling folder first (``report.json`` last), which then replaces the old
folder. A run killed at any moment leaves either the old result, the new one, or a
``.tmp-*`` folder that the next run removes; never a half-written report.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

from validator.files import write_json

REPORT = "report.json"


def publish(tmp_dir: Path, final: Path) -> None:
    """Replace ``final`` with ``tmp_dir`` (a crash in between leaves no final: rerun)."""
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
        os.replace(tmp_dir, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp_dir, final)


def _worst(verdicts: list[str]) -> str:
    for v in ("fail", "review", "pass"):
        if v in verdicts:
            return v
    return "review"


def run_case(job: dict[str, Any]) -> dict[str, Any]:
    """Analyse one case (``job`` is plain JSON); returns the case report it wrote."""
    from validator.analyze import check
    from validator.errors import InputError, ValidatorError
    from validator.report.thumbnails import write_thumbnails

    out = Path(job["out_dir"]) / "cases"
    out.mkdir(parents=True, exist_ok=True)
    final = out / job["slug"]
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{job['slug']}-", dir=out))
    tmp.chmod(0o755)
    result: dict[str, Any] = {
        "case_id": job["case_id"],
        "key": job["key"],
        "policy": job["policy_digest"],
        "status": "done",
        "verdict": None,
        "videos": [],
        "unreadable": [],
        "error": None,
        "prediction": None,
    }
    try:
        case = None
        if job.get("case_file"):
            from validator.predict import load_case

            case = load_case(Path(job["case_file"]))
        reports = []
        for i, video in enumerate(job["videos"]):
            name = Path(video).name
            try:
                report = check(video, facts=case, policy=job["policy"]).to_dict()
            except InputError as e:
                result["unreadable"].append({"video": name, **e.to_dict()})
                continue
            # paths relative to the case folder, where its report.json is
            write_thumbnails(video, report, tmp, subdir=f"v{i}")
            reports.append(report)
            result["videos"].append(report)
        if result["unreadable"]:
            result["status"] = "unreadable"
        if reports:
            result["verdict"] = _worst([r["verdict"] for r in reports])
        if case is not None:
            from validator.predict import predict

            result["prediction"] = predict(case, reports).to_dict()
    except ValidatorError as e:  # a bad case.json or policy: listed, not cached
        result.update(status="error", error=e.to_dict())
    except Exception as e:  # a bug: listed with its type, the others go on
        result.update(
            status="error",
            error={
                "code": "internal_error",
                "message": f"{type(e).__name__}: {e}",
                "details": {"traceback": traceback.format_exc(limit=5)},
            },
        )
    try:
        write_json(tmp / REPORT, result)
        publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
