"""``appeal-validator serve``: the web service on embedded defaults.

werkzeug's threaded server, which only enqueues, plus one Celery worker process
beside it (``appeal-validator worker``, on the SQLite broker in DATA_DIR unless
BROKER_URL is set): enough for one machine. In production run the web process under
gunicorn (``gunicorn 'validator.web:create_app()'``) and ``appeal-validator worker``
beside it (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from validator.jobs.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the web service (upload form + JSON API) with a worker beside it",
        description="Run the upload form and the API v1, and a worker process for the "
        "analyses (unless APPEAL_VALIDATOR_RUN_POOL=false). "
        "Settings: APPEAL_VALIDATOR_DATA_DIR, APPEAL_VALIDATOR_MAX_UPLOAD_MB, "
        "APPEAL_VALIDATOR_WORKERS, DATABASE_URL, ... (docs/api.md, 'Settings').",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--workers", type=int, help="analyses at once (APPEAL_VALIDATOR_WORKERS)")
    p.add_argument("--data-dir", help="data directory (APPEAL_VALIDATOR_DATA_DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from validator.errors import UsageError
    from validator.web import create_app

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    overrides: dict[str, Any] = {}
    if args.workers is not None:
        overrides["WORKERS"] = args.workers
    if args.data_dir:
        overrides["DATA_DIR"] = args.data_dir
    app = create_app(overrides)
    services = app.extensions["appeal"]
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as e:
        services.close()
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {e.strerror}") from e
    worker = None
    if services.settings.run_pool:
        worker = Worker(services.settings, app.config.get("ANALYSIS_TARGET")).start()
    host = server.host if ":" not in server.host else f"[{server.host}]"
    print(f"Serving on http://{host}:{server.port}/", flush=True)
    print(
        f"data: {services.settings.data_dir}  workers: {services.settings.workers}  "
        "(Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )

    def _stop(signum: int, frame: Any) -> None:
        # shutdown() waits for serve_forever to return: call it off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if worker is not None:
            worker.stop()  # a job still running is requeued at the next start
        services.close()
    return 0


class Worker:
    """The worker process beside the web process, started again when it dies.

    A worker killed mid-job (kill -9, the OOM killer) is replaced within a second; the
    new one's recovery requeues the job whose process is gone. One that keeps dying
    at start (a broken setting) is restarted with a growing pause, up to a minute.
    """

    def __init__(self, settings: Settings, analysis_target: str | None) -> None:
        self.settings, self.target = settings, analysis_target
        self.proc: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="worker-watch", daemon=True)

    def _spawn(self) -> None:
        from validator.jobs.tasks import start_worker

        # Its banner and logs go to stderr: stdout carries only the URL line.
        self.proc = start_worker(self.settings, analysis_target=self.target, stdout=sys.stderr)

    def start(self) -> Worker:
        self._spawn()
        self._thread.start()
        return self

    def _watch(self) -> None:
        pause, started = 1.0, time.monotonic()
        while not self._stop.wait(pause):
            with self._lock:
                assert self.proc is not None
                if self._stop.is_set() or self.proc.poll() is None:
                    continue
                quick = time.monotonic() - started < 10
                pause = min(pause * 2, 60.0) if quick else 1.0
                print(f"worker exited ({self.proc.returncode}); starting another",
                      file=sys.stderr, flush=True)  # fmt: skip
                self._spawn()
                started = time.monotonic()

    def stop(self) -> None:
        from validator.jobs.tasks import stop_worker

        self._stop.set()
        with self._lock:
            if self.proc is not None:
                stop_worker(self.proc)


def main(argv: list[str] | None = None) -> int:
    """``serve`` alone: ``appeal-validator serve ...``, errors translated in cli.main."""
    from validator.cli import main as cli_main

    return cli_main(["serve", *(sys.argv[1:] if argv is None else argv)])
