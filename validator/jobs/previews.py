"""The report player's H.264 previews (issue 12), made by a worker, never by the web.

A browser that cannot play a check's video (HEVC in Chromium; AVI, MPEG-TS) plays a
small H.264 copy (``report/preview.py``). Making it decodes the whole original, so it
is a job like a check: the web process only asks (``request``), the worker makes it
(``make``, run by the Celery task ``tasks.make_preview_task``):

* ``request`` answers ``ready`` (the file is in the check's derived folder),
  ``failed`` (with the reason the page shows) or ``preparing``; when no task is on it
  yet, it claims the row ``check_previews`` (check, video) for a new task id, an
  INSERT that only one process can make (a compare-and-set: several web and worker
  processes share the database), and sends the task with that id;
* ``make`` starts only as the row's owner, writes the preview atomically beside the
  check's pictures (``files.atomic_path``) and ends the row ``ready`` or ``failed``.
  It is bounded: the encoder's own wall-clock budget, Celery's soft time limit (the
  same), and the hard one ``HARD_GRACE_S`` later for a decoder stuck in C code. A row
  still ``making`` past all of them (its process was killed) reads as failed, so the
  page never waits for ever; a failed preview is not retried (it would fail again),
  the page offers the original file instead.
* A check deleted meanwhile keeps nothing: the folder is gone before the file is
  renamed into it (the rename fails, the temporary file is removed), and a deletion
  after the rename is seen by a look at the row once the file is written, which then
  removes the check's folder again, as the analysis job does (``runner._run``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from validator.errors import AnalysisTimeout, ValidatorError
from validator.jobs.settings import Settings
from validator.jobs.storage import LocalStorage, local_storage
from validator.jobs.store import Store
from validator.jobs.tables import Check
from validator.report.preview import PREVIEW_NAME, make_preview

log = logging.getLogger(__name__)

# Making a preview decodes the whole original: 1080p HEVC at about 1.6x real time on a
# loaded 2-core machine (report/preview.py), so 10 minutes bound about 16 minutes of
# 1080p, far over an unboxing; past it the preview fails and the page offers the original.
TIMEOUT_S = 600.0
HARD_GRACE_S = 30.0  # Celery's hard limit, after the soft one (as tasks.HARD_LIMIT_GRACE_S)
# A row still "making" this long after it started has no live task (the hard limit
# killed it, or its worker died): it reads as failed. A minute over the hard limit.
MAKING_DEADLINE_S = TIMEOUT_S + HARD_GRACE_S + 60.0
# A task queued this long and never started lost its message (a broker that lost it):
# the next request sends another one; the old one, if it comes, finds itself replaced.
RESEND_AFTER_S = 3600.0
RETRY_AFTER_S = 2  # what the 202 tells a player to wait before it asks again

State = Literal["ready", "preparing", "failed"]


@dataclass(frozen=True)
class PreviewStatus:
    """Where a video's preview is: ``path`` when ready, ``error`` when failed."""

    state: State
    path: Path | None = None
    error: dict[str, Any] | None = None


def preview_name(index: int) -> str:
    """The file name of the ``index``-th video's preview (the first keeps the old name)."""
    return PREVIEW_NAME if index == 0 else f"preview-{index}.mp4"


def preview_path(storage: LocalStorage, row: Check, index: int) -> Path:
    return storage.derived_dir(str(row.tenant_id), row.id) / preview_name(index)


def _timed_out() -> dict[str, Any]:
    return AnalysisTimeout(
        f"the preview was not made within {MAKING_DEADLINE_S:.0f} s; the original is unchanged"
    ).to_dict()


def request(
    store: Store,
    storage: LocalStorage,
    row: Check,
    index: int,
    send: Callable[[str, int, str], None],
    *,
    now: datetime | None = None,
) -> PreviewStatus:
    """The preview's status; sends ``send(check_id, index, task_id)`` when none is being
    made (at most one task per video at a time: see the module docstring)."""
    target = preview_path(storage, row, index)
    if target.is_file():
        return PreviewStatus("ready", path=target)
    now = now or datetime.now(UTC)
    rec = store.preview(row.id, index)
    if rec is not None:
        if rec.state == "failed":
            return PreviewStatus("failed", error=rec.error or {})
        if rec.state == "ready":  # and yet no file: removed by hand; not made again
            return PreviewStatus("failed", error={"code": "not_found", "message": "gone"})
        if rec.state == "making":
            started = rec.started_at or rec.queued_at
            if started < now - timedelta(seconds=MAKING_DEADLINE_S):
                # Killed at the hard limit: its half-written file had no one to remove it.
                for part in target.parent.glob(f".{target.name}.*.part"):
                    part.unlink(missing_ok=True)
                return PreviewStatus("failed", error=_timed_out())
            return PreviewStatus("preparing")
    resend_before = now - timedelta(seconds=RESEND_AFTER_S)
    if rec is not None and rec.queued_at >= resend_before:
        return PreviewStatus("preparing")  # queued, its message on its way: not again
    task_id = str(uuid.uuid4())
    if store.queue_preview(row.id, index, task_id, now=now, resend_before=resend_before):
        send(row.id, index, task_id)
    return PreviewStatus("preparing")


def make(
    check_id: str,
    index: int,
    task_id: str,
    settings: Settings,
    *,
    timeout_s: float = TIMEOUT_S,
) -> dict[str, Any]:
    """Make the preview as the task ``task_id``; returns ``{"status": ...}`` (JSON):
    ``ready``, ``failed`` (with ``error``), ``skipped`` (not this task's to make) or
    ``deleted`` (the check went meanwhile; nothing of it is left)."""
    from celery.exceptions import SoftTimeLimitExceeded

    store = Store(settings.database_url)
    try:
        row = store.get(check_id)
        if row is None:
            return {"status": "deleted"}
        if not store.start_preview(check_id, index, task_id, now=datetime.now(UTC)):
            return {"status": "skipped"}
        storage = local_storage(settings.data_dir)
        tenant = str(row.tenant_id)
        error: dict[str, Any] | None = None
        try:
            paths = storage.video_paths(tenant, check_id)
            if not 0 <= index < len(paths):
                raise FileNotFoundError(f"check {check_id} has no video {index}")
            make_preview(paths[index], preview_path(storage, row, index), timeout_s=timeout_s)
        except SoftTimeLimitExceeded:
            error = _timed_out()
        except ValidatorError as e:  # not a video, no picture, past its budget
            error = e.to_dict()
        except FileNotFoundError:  # the check's folder is gone (deleted), or its video
            error = {"code": "video_missing", "message": "the video is gone"}
        except Exception as e:
            log.warning("check %s: preview %d failed", check_id, index, exc_info=True)
            error = {"code": "internal_error", "message": type(e).__name__}
        if store.get(check_id) is None:
            # Deleted during the encode: whatever reached the folder after the deletion's
            # sweep goes too (the folder is recreated by nothing: atomic_path(parents=False)).
            storage.delete_check(tenant, check_id)
            return {"status": "deleted"}
        store.end_preview(check_id, index, task_id, now=datetime.now(UTC), error=error)
        return {"status": "failed", "error": error} if error else {"status": "ready"}
    finally:
        store.close()
