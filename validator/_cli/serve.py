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
import sys
import threading
from typing import Any


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
    if services.settings["RUN_POOL"]:
        from validator.jobs.tasks import start_worker

        # Its banner and logs go to stderr: stdout carries only the URL line.
        worker = start_worker(
            services.settings, analysis_target=app.config.get("ANALYSIS_TARGET"), stdout=sys.stderr
        )
    host = server.host if ":" not in server.host else f"[{server.host}]"
    print(f"Serving on http://{host}:{server.port}/", flush=True)
    print(
        f"data: {services.settings['DATA_DIR']}  workers: {services.settings['WORKERS']}  "
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
            from validator.jobs.tasks import stop_worker

            stop_worker(worker)  # a job still running is requeued at the next start
        services.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``serve`` alone (tests and the benchmark start it before cli.py lists it)."""
    from validator.cli import _Parser
    from validator.errors import ValidatorError

    parser = _Parser(prog="appeal-validator")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args))
    except ValidatorError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return e.exit_code
