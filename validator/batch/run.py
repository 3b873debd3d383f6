"""The batch run: skip unchanged cases, check the rest in parallel processes, summarise."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from validator.batch import summary
from validator.batch.discover import Case, case_key, discover
from validator.batch.work import load, run_case
from validator.models import VERDICT_EXIT, combine

DONE_STATUSES = ("done", "unreadable")  # cached; "error" (bad case.json, bug) is retried


@dataclass
class BatchResult:
    rows: list[dict[str, Any]]
    analyzed: int = 0
    skipped: int = 0
    out_dir: Path = field(default_factory=Path)

    @property
    def exit_code(self) -> int:
        return exit_code(self.rows)

    @property
    def unreadable(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] in ("unreadable", "error")]


def exit_code(rows: list[dict[str, Any]]) -> int:
    """4 any case unreadable (or not checkable), else the worst verdict's (1 fail, 3
    review, 0 pass; 0 for no case)."""
    if any(r["status"] in ("unreadable", "error") for r in rows):
        return 4
    return VERDICT_EXIT[combine([r["verdict"] for r in rows])]


def default_out(root: Path) -> Path:
    return root / ".appeal-validator"


def _cleanup(cases_dir: Path) -> None:
    """Remove what an interrupted run left behind (never a finished report)."""
    if not cases_dir.is_dir():
        return
    for p in cases_dir.iterdir():
        if p.name.startswith((".tmp-", ".old-")):
            shutil.rmtree(p, ignore_errors=True)


class Progress:
    """A tqdm bar with ETA on a terminal; plain lines otherwise."""

    def __init__(self, total: int, stream: TextIO, *, skipped: int) -> None:
        self.total, self.stream, self.done = total, stream, 0
        self.started = time.monotonic()
        self.bar = None
        if stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=stream, unit="case", dynamic_ncols=True)
        elif total or skipped:
            print(f"batch: {total} case(s) to check, {skipped} unchanged", file=stream)

    def step(self, case_id: str, what: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"{case_id}: {what}", refresh=False)
            self.bar.update(1)
            return
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        print(
            f"[{self.done}/{self.total}] {case_id}: {what} (eta {eta:.0f} s)",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_batch(
    root: str | Path,
    *,
    jobs: int | None = None,
    policy: str | None = None,
    out: str | Path | None = None,
    stream: TextIO | None = None,
    submit: Callable[[list[dict[str, Any]], Callable[[str, str], None]], Any] | None = None,
) -> BatchResult:
    """Check every case under ``root``; see the package docstring.

    ``submit`` replaces the local process pool (``batch --distributed``): it receives
    the pending jobs and a progress callback ``(case_id, what)``, and returns when their
    reports are written.
    """
    from validator import __version__
    from validator.policy import load_policy

    root = Path(root).resolve()
    out_dir = Path(out).resolve() if out is not None else default_out(root)
    cases_dir = out_dir / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    _cleanup(cases_dir)
    pol = load_policy(policy)  # a bad policy fails here, before any work
    stream = stream if stream is not None else sys.stderr
    cases = discover(root, exclude=out_dir)

    pending: list[dict[str, Any]] = []
    skipped = 0
    for c in cases:
        key = case_key(c, pol.digest, __version__)
        old = load(cases_dir / c.slug)
        if old is not None and old.get("key") == key and old.get("status") in DONE_STATUSES:
            skipped += 1
            continue
        pending.append(_job(c, key, policy, pol.digest, out_dir))

    progress = Progress(len(pending), stream, skipped=skipped)
    try:
        if submit is not None:
            submit(pending, progress.step)
        elif pending:
            _run_local(pending, jobs or os.cpu_count() or 1, progress)
    finally:
        progress.close()
    rows = []
    for c in cases:
        data = load(cases_dir / c.slug)
        if data is None:  # its process crashed (a decoder bug): listed, retried on rerun
            data = {
                "case_id": c.id,
                "status": "error",
                "error": {"message": "not checked: its process died; rerun to retry"},
            }
        rows.append(summary.row(data, c.slug))
    summary.write_all(out_dir, rows, f"appeal-validator batch: {root.name}")
    return BatchResult(rows, analyzed=len(pending), skipped=skipped, out_dir=out_dir)


def _job(c: Case, key: str, policy: str | None, digest: str, out_dir: Path) -> dict[str, Any]:
    return {
        "case_id": c.id,
        "slug": c.slug,
        "key": key,
        "videos": [str(v) for v in c.videos],
        "case_file": str(c.case_file) if c.case_file else None,
        "refused": [list(r) for r in c.refused],
        "policy": policy,
        "policy_digest": digest,
        "out_dir": str(out_dir),
    }


def _describe(result: dict[str, Any]) -> str:
    if result["status"] == "error":
        return f"error: {result['error']['message']}"
    if result["status"] == "unreadable":
        return "unreadable: " + ", ".join(u["video"] for u in result["unreadable"])
    return result["verdict"] or "no video"


MAX_TRIES = 3  # a case whose process died this often is listed as crashed


def _run_local(
    pending: list[dict[str, Any]],
    jobs: int,
    progress: Progress,
    fn: Callable[[dict[str, Any]], dict[str, Any]] = run_case,
) -> None:
    """Run ``fn`` on every job in ``jobs`` processes.

    A process that dies (a decoder crash) breaks the pool and takes down the cases
    that shared it. Those are run again one at a time, each in a fresh process, so an
    innocent case is never lost with the bad one; a case that keeps killing its own
    process (MAX_TRIES times) ends listed as crashed.
    """
    lost = _pool_pass(list(pending), jobs, progress, fn)
    for job in lost:
        for attempt in range(1, MAX_TRIES):
            if not _pool_pass([job], 1, progress, fn):
                break
            if attempt == MAX_TRIES - 1:
                progress.step(job["case_id"], "crashed: its process died; rerun to retry")


def _init_process(analysis_threads: int) -> None:
    # A terminal's Ctrl-C reaches the whole process group. The workers ignore it so
    # that only this process decides: it stops them and leaves nothing half-written.
    # (Were they to die of it, the pool would look crashed and its cases be retried.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from validator.media.source import set_analysis_threads

    set_analysis_threads(analysis_threads)


def _pool_pass(
    todo: list[dict[str, Any]],
    jobs: int,
    progress: Progress,
    fn: Callable[[dict[str, Any]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """One pool over ``todo``; returns the jobs lost to a dead process."""
    # spawn: no forked locks, threads or decoder state; each process imports the library.
    ctx = multiprocessing.get_context("spawn")
    from validator.media.source import pool_analysis_threads

    processes = max(1, min(jobs, len(todo)))
    ex = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=ctx,
        initializer=_init_process,
        initargs=(pool_analysis_threads(processes),),
    )
    lost: list[dict[str, Any]] = []
    try:
        futures = {ex.submit(fn, job): job for job in todo}
        left = set(futures)
        while left:
            done, left = wait(left, return_when=FIRST_COMPLETED)
            for f in done:
                job = futures[f]
                try:
                    progress.step(job["case_id"], _describe(f.result()))
                except BrokenProcessPool:
                    lost.append(job)
                except Exception as e:  # not picklable, ...: listed, retried on rerun
                    progress.step(job["case_id"], f"crashed: {e!r}")
    except BaseException:
        # Ctrl-C or a kill: stop the work now; every finished report is already complete
        # and the interrupted ones left only .tmp folders (removed by the next run).
        for p in list(getattr(ex, "_processes", {}).values()):
            p.terminate()
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    return lost
