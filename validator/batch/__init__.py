"""Batch checks of a folder tree: find the cases, analyze them in parallel, summarise.

Library first (the CLI ``appeal-validator batch`` is a thin adapter)::

    discover.py  cases in a folder tree; the per-case key (sha256 of videos, case, policy, tool)
    work.py      one case in a pool process: check, thumbnails, predict, atomic write
    summary.py   summary.jsonl / summary.csv / index.html from the per-case reports
    run.py       the run: skip unchanged keys, a ProcessPoolExecutor (spawn), progress, exit code

Exit codes (``exit_code``): 4 when any case could not be read, else 1 when any fails,
else 3 when any needs review, else 0.
"""

from validator.batch.discover import Case, case_key, discover
from validator.batch.run import BatchResult, exit_code, run_batch

__all__ = ["BatchResult", "Case", "case_key", "discover", "exit_code", "run_batch"]
