"""``run_job(check_id)``: the one job function (the Celery task ``tasks.run_check`` runs it).

Load the row, reuse a finished result of the same file, facts and policy when there
is one, otherwise run ``validator.check`` with a progress callback that updates the
row (throttled), then store the report or the error. Broker-free and Flask-free:
it needs only the settings (the store's URL and DATA_DIR) and returns JSON.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from validator.errors import ValidatorError
from validator.jobs import settings as settings_mod
from validator.jobs.recordings import WITNESS
from validator.jobs.settings import Settings
from validator.jobs.storage import LocalStorage, local_storage
from validator.jobs.store import Store
from validator.jobs.tables import Check

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 0.5  # at most two progress writes a second per job


class JobTimeout(ValidatorError):
    """The analysis ran past JOB_TIMEOUT_S (Celery's soft or hard time limit)."""

    code = "job_timeout"

    def __init__(self, limit_s: float) -> None:
        super().__init__(
            f"the analysis ran past its time limit of {limit_s:g} s and was stopped. "
            "A shorter video (or a larger APPEAL_VALIDATOR_JOB_TIMEOUT_S) helps.",
            details={"reason": "timeout", "limit_s": limit_s},
        )


class JobOutOfMemory(ValidatorError):
    """The analysis asked for more memory than WORKER_MAX_MEMORY_MB lets its process have."""

    code = "job_out_of_memory"

    def __init__(self, limit_mb: int) -> None:
        super().__init__(
            f"the analysis needed more memory than the worker's limit of {limit_mb} MB "
            "(APPEAL_VALIDATOR_WORKER_MAX_MEMORY_MB) and was stopped. A video of a smaller "
            "picture size helps, or a larger limit.",
            details={"reason": "memory", "limit_mb": limit_mb},
        )


class _Stopped(Exception):
    """Raised from the progress callback: the job's row is gone (the check was deleted)
    or no longer this delivery's, so the analysis stops at its next progress write."""


def crashed(message: str, exit_code: int | None) -> dict[str, Any]:
    """The ``job_crashed`` error body of a job whose analysis process died or never ran."""
    return {
        "code": "job_crashed",
        "message": message,
        "details": {"reason": "crashed", "exit_code": exit_code},
    }


# The analysis itself; tests of the plumbing swap in a fast fake (``analyze`` below).
Analyze = Callable[..., dict[str, Any]]


def analyze(path: str, *, case: Mapping[str, Any] | None, policy: str, out_dir: str,
            progress: Callable[[float, str], None],
            more_videos: Sequence[str] = (),
            witness: Mapping[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """The real analysis: ``check_case`` on the uploaded video (and the case's
    ``more_videos``, when the form sent several), into the check's folder
    (``report.json``, the case with every video's report, and the pictures the service
    serves by name); returns the first video's report with the case's prediction
    riding along, as ``check --case`` prints it. ``witness``: a recording's signed
    witness record (``validator.witness``)."""
    from validator.cases import check_case

    videos = [path, *more_videos]
    result = check_case(case, videos, out_dir, policy=policy, progress=progress,
                        witness=witness)  # fmt: skip
    if more_videos and result.reports and result.unreadable:
        # The check's report is its first video's: when that one is unreadable and
        # another is not, the check fails with the first one's reason (the case's
        # report.json still has the others).
        first = Path(path).name
        for u in result.unreadable:
            if u.video == first:
                raise u.error
    return result.video_report()


def _internal(e: BaseException) -> dict[str, Any]:
    return {
        "code": "internal_error",
        "message": "the analysis failed on an internal error; it was logged. "
        "Try again, or report the file to the maintainers.",
        "details": {"type": type(e).__name__},
    }


def run_job(
    check_id: str,
    *,
    settings: Settings | None = None,
    owner: str | None = None,
    store: Store | None = None,
    analysis: Analyze | None = None,
) -> dict[str, Any]:
    """Run check ``check_id``; returns ``{"id", "status"}`` (plus ``error`` when failed).

    ``owner`` is the delivery that already claimed the job (``tasks.execute``); without it
    the job is claimed here (a queued job only). ``settings`` default to the
    environment (``APPEAL_VALIDATOR_*``).
    """
    cfg = settings if settings is not None else settings_mod.from_env()
    own_store = store is None
    db = store or Store(cfg.database_url)
    try:
        return _run(check_id, cfg, owner, db, analysis or analyze)
    finally:
        if own_store:
            db.close()


def _run(
    check_id: str, cfg: Settings, owner: str | None, db: Store, analysis: Analyze
) -> dict[str, Any]:
    if owner is None:
        owner = f"run_job:{check_id}"
        if not db.claim(check_id, owner, cfg.job_lease_s):
            row = db.get(check_id)
            return {"id": check_id, "status": row.status if row else "missing"}
    row = db.get(check_id)
    if row is None or row.status != "running" or row.lease_owner != owner:
        return {"id": check_id, "status": row.status if row else "missing"}
    storage = local_storage(cfg.data_dir)
    tenant = str(row.tenant_id)
    try:
        return _analyze(row, cfg, owner, db, storage, analysis)
    finally:
        # Deletion is final (storage.py): a check deleted while this job ran loses the
        # files the job wrote after the deletion's sweep too (checked after the writes).
        if db.get(row.id) is None:
            storage.delete_check(tenant, row.id)


def _analyze(
    row: Check, cfg: Settings, owner: str, db: Store, storage: LocalStorage, analysis: Analyze
) -> dict[str, Any]:
    tenant = str(row.tenant_id)
    reusable = db.find_reusable(
        row.tenant_id, row.sha256, row.facts_hash, row.policy_digest, exclude=row.id
    )
    # A witness belongs to one recording: its report is never another check's (the same
    # bytes uploaded later were not witnessed then; a recording is judged on its own
    # server clock), and a recording never takes an unwitnessed report.
    paths = storage.video_paths(tenant, row.id)
    witnessed = bool(paths) and paths[0].with_name(WITNESS).is_file()
    if (
        reusable is not None
        and reusable.report is not None
        and not witnessed
        and not reusable.report.get("witness")
    ):
        try:
            storage.copy_derived(tenant, reusable.id, row.id)
        except FileNotFoundError:
            if db.get(row.id) is None:
                return status_of(db, row.id)  # deleted meanwhile: nothing to finish
            raise
        db.finish(row.id, owner, _rebind(reusable.report, row), reused_from=reusable.id)
        return status_of(db, row.id)

    last = [0.0]

    def progress(fraction: float, stage: str) -> None:
        # The analysis's "done" is not the job's: the job is done when ``finish`` stores
        # the report, in the UPDATE that sets status done, stage done and progress 1.
        # Written here, a poller saw "running" with stage "done" in between.
        if stage == "done":
            return
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or fraction >= 1.0:
            last[0] = now
            if not db.set_progress(row.id, owner, fraction, stage):
                raise _Stopped(row.id)

    video, *more = storage.video_paths(tenant, row.id)
    try:
        staging: Path | None = storage.begin_derived(tenant, row.id)
    except FileNotFoundError:
        if db.get(row.id) is None:
            return status_of(db, row.id)  # deleted before it ran: nothing to do
        staging = None  # the folder is gone, the row is not: the probe says video_missing
    out_dir = staging or storage.derived_dir(tenant, row.id)
    # A recording made through the service has its signed witness beside the video
    # (validator.jobs.recordings); only then is it passed, so analyses that take no
    # witness (the tests' fakes) keep working.
    extra: dict[str, Any] = {}
    witness_file = video.with_name(WITNESS)
    if witness_file.is_file():
        extra["witness"] = json.loads(witness_file.read_text("utf-8"))
    try:
        data = analysis(
            str(video),
            case=row.case,
            policy=row.policy,
            out_dir=str(out_dir),
            progress=progress,
            # Only for a case of several videos: the analyses of tests take one.
            **({"more_videos": [str(p) for p in more]} if more else {}),
            **extra,
        )
        if staging is not None:
            try:
                storage.publish_derived(tenant, row.id, staging)
            except FileNotFoundError:
                if db.get(row.id) is None:
                    return status_of(db, row.id)  # deleted meanwhile: nothing to publish
                raise
            staging = None
    except _Stopped:  # deleted, or taken over: whoever has the row now ends it
        return status_of(db, row.id)
    except ValidatorError as e:  # the precise reason: not_a_video, undecodable, ...
        db.fail(row.id, owner, _without_paths(e.to_dict(), video, cfg.data_dir))
        return status_of(db, row.id)
    except MemoryError:  # past WORKER_MAX_MEMORY_MB (tasks.limit_memory): this job only
        log.warning("check %s ran out of memory", row.id, exc_info=True)
        db.fail(row.id, owner, JobOutOfMemory(cfg.worker_max_memory_mb).to_dict())
        return status_of(db, row.id)
    except Exception as e:
        log.warning("check %s failed on an internal error", row.id, exc_info=True)
        db.fail(row.id, owner, _internal(e))
        return status_of(db, row.id)
    finally:
        if staging is not None:  # not published: a failed analysis leaves no pictures
            shutil.rmtree(staging, ignore_errors=True)
    db.finish(row.id, owner, _rebind(data, row))
    return status_of(db, row.id)


def _without_paths(error: dict[str, Any], video: Path, data_dir: Path) -> dict[str, Any]:
    """The error as clients (API, webhooks, the form) see it: the file by its name, no
    server path (the messages name the file already; this keeps it so for any other)."""
    text = json.dumps(error, ensure_ascii=False)
    for path, name in ((str(video), video.name), (str(data_dir), "DATA_DIR")):
        text = text.replace(json.dumps(path)[1:-1], name)
    return json.loads(text)


def _rebind(report: Mapping[str, Any], row: Check) -> dict[str, Any]:
    """The report for this check: the stored file's name, never a client path.

    ``check`` hashed the stored file itself; it is the uploaded file's sha256 (the
    tests compare them), so only a report without one gets the upload's.
    """
    data = dict(report)
    file = dict(data.get("file") or {})
    file.setdefault("sha256", row.sha256)
    file["sha256"] = file["sha256"] or row.sha256
    file.setdefault("size_bytes", row.size_bytes)
    file["name"] = "video"  # the stored name; the client's filename is on the check
    data["file"] = file
    return data


def status_of(db: Store, check_id: str) -> dict[str, Any]:
    """The JSON a job function returns: id, status and the error when it failed."""
    row = db.get(check_id)
    if row is None:
        return {"id": check_id, "status": "missing"}
    out: dict[str, Any] = {"id": row.id, "status": row.status}
    if row.error:
        out["error"] = row.error
    return out
