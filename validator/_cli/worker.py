"""``appeal-validator worker``: a Celery worker for the service's jobs and batch cases.

``serve`` starts one beside the web process (embedded mode: the SQLite broker in
DATA_DIR); scaled out, one runs on every machine with APPEAL_VALIDATOR_BROKER_URL.
"""

from __future__ import annotations

import argparse
import os

from validator.errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker",
        help="run a Celery worker for the service's jobs",
        description="Consume the analysis jobs: from the SQLite broker in "
        "APPEAL_VALIDATOR_DATA_DIR by default (what serve starts beside the web process), "
        "or from Redis (APPEAL_VALIDATOR_BROKER_URL) when scaled out. The job store is "
        "DATABASE_URL (PostgreSQL when several machines share it); DATA_DIR must then be "
        "the shared folder every worker mounts. See docs/scale-out.md.",
    )
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=None,
        help="analyses at once (default: the number of cores)",
    )
    p.add_argument("--loglevel", default="info", help="Celery log level (default: info)")
    p.add_argument("-n", "--hostname", help="worker name (default: celery@<host>)")
    # The plumbing tests swap in a fast fake analysis (the app's ANALYSIS_TARGET).
    p.add_argument("--analysis-target", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from validator.jobs import settings as settings_mod
    from validator.jobs import tasks
    from validator.jobs.store import Store

    cfg = settings_mod.from_env()
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be 1 or more")
    settings_mod.ensure_data_dir(cfg)
    Store(cfg.database_url).close()  # migrates the schema; a bad URL fails here
    app = tasks.make_celery(cfg)
    app.conf[tasks.CONCURRENCY_CONF] = args.concurrency or os.cpu_count() or 1
    if args.analysis_target:
        app.conf[tasks.TARGET_CONF] = args.analysis_target
    argv = ["worker", f"--loglevel={args.loglevel}", "-Q", cfg.queue, "--without-gossip",
            "--without-mingle"]  # fmt: skip
    if args.concurrency:
        argv.append(f"--concurrency={args.concurrency}")
    if args.hostname:
        argv.append(f"--hostname={args.hostname}")
    app.worker_main(argv)
    return 0
