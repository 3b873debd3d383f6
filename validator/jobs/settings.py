"""The service's settings, declared once: name, default, type and help.

``serve``, ``keys``, the app factory and the job runner all read them from here.
Each setting comes from the environment variable ``APPEAL_VALIDATOR_<NAME>``
(``DATABASE_URL`` also without the prefix, the usual name on PaaS hosts), from
``create_app(test_config)`` or from a CLI flag, in increasing order of precedence.
A bad value fails at start-up with a ``ConfigError`` that names the variable.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from validator.errors import ConfigError

PREFIX = "APPEAL_VALIDATOR_"


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _positive(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):  # bool is an int in Python; never a count
            raise ValueError(f"expected a number, got {value!r}")
        out = kind(value)
        if out <= 0:
            raise ValueError(f"must be greater than 0, got {value!r}")
        return out

    return parse


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting of the service (Datasette's ``Setting(name, default, help)``)."""

    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", "./data", str, "Folder for uploads, derived files, the SQLite file."),
    Setting(
        "DATABASE_URL",
        None,
        str,
        "SQLAlchemy URL of the job store; default sqlite:///<DATA_DIR>/appeal.db. "
        "Also read from DATABASE_URL.",
    ),
    Setting("MAX_UPLOAD_MB", 500, _positive(int), "Largest accepted upload; bigger gets 413."),
    Setting(
        "WORKERS",
        1,
        _positive(int),
        "Analyses run at once by the worker serve starts (CPU-bound: about one per core).",
    ),
    Setting(
        "JOB_TIMEOUT_S",
        3600.0,
        _positive(float),
        "Wall-time limit of one analysis (Celery's soft time limit; the hard one is 30 s "
        "later); past it the job fails with job_timeout.",
    ),
    Setting(
        "JOB_LEASE_S",
        60.0,
        _positive(float),
        "How often each worker looks for lost jobs: a running job whose process is gone, "
        "a job queued this long while no message waits in the broker.",
    ),
    Setting(
        "JOB_MAX_ATTEMPTS",
        3,
        _positive(int),
        "A job whose process died this many times fails (job_crashed, job_abandoned).",
    ),
    Setting("POLL_S", 0.5, _positive(float), "How often the workers look for due webhooks."),
    Setting(
        "SECRET_KEY",
        None,
        str,
        "Signs the form's session cookie (CSRF). Default: generated once, kept in "
        "<DATA_DIR>/secret_key.",
    ),
    Setting(
        "RUN_POOL",
        True,
        _bool,
        "serve starts a Celery worker process beside the web process (WORKERS analyses at "
        "once). Off when workers run elsewhere (appeal-validator worker).",
    ),
    Setting(
        "BROKER_URL",
        None,
        str,
        "Redis URL of the Celery broker, when scaled out (docs/scale-out.md). Default: "
        "an SQLite broker in DATA_DIR (broker.db), for workers on this machine.",
    ),
    Setting("QUEUE", "appeal-validator", str, "Celery queue the jobs are sent to."),
    Setting("WEBHOOK_MAX_ATTEMPTS", 6, _positive(int), "Deliveries tried per webhook event."),
    Setting(
        "WEBHOOK_BACKOFF_S",
        5.0,
        _positive(float),
        "Wait before the first retry; doubles after each failed attempt.",
    ),
    Setting("WEBHOOK_TIMEOUT_S", 10.0, _positive(float), "Timeout of one webhook request."),
    Setting(
        "WEBHOOK_ALLOW_PRIVATE",
        False,
        _bool,
        "Allow callback URLs that resolve to loopback or private addresses (tests, "
        "intranets). Off by default against server-side request forgery.",
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def resolve(values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, then ``values`` (unknown keys ignored); each value parsed and checked.

    Fills the derived defaults: DATABASE_URL from DATA_DIR.
    """
    out: dict[str, Any] = {}
    for s in SETTINGS:
        raw = values.get(s.name)
        if raw is None:
            out[s.name] = s.default
            continue
        try:
            out[s.name] = s.parse(raw)
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"setting {PREFIX}{s.name}={raw!r} is not valid: {e}. {s.help}",
                details={"setting": s.name},
            ) from e
    data_dir = Path(out["DATA_DIR"]).expanduser().resolve()
    out["DATA_DIR"] = str(data_dir)
    if not out["DATABASE_URL"]:
        out["DATABASE_URL"] = f"sqlite:///{data_dir / 'appeal.db'}"
    return out


def from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings from ``APPEAL_VALIDATOR_*`` (and ``DATABASE_URL``), then ``overrides``."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if env.get("DATABASE_URL"):
        values["DATABASE_URL"] = env["DATABASE_URL"]
    for s in SETTINGS:
        if f"{PREFIX}{s.name}" in env:
            values[s.name] = env[f"{PREFIX}{s.name}"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return resolve(values)


def ensure_data_dir(settings: Mapping[str, Any]) -> Path:
    """Create DATA_DIR (and fail with a hint when it cannot be written)."""
    path = Path(settings["DATA_DIR"])
    try:
        # Private: the database holds reports, cases and webhook secrets, the folders
        # the uploads (0700; the database 0600, which SQLite's journal files inherit).
        if not path.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700, exist_ok=True)
        (path / "tmp").mkdir(mode=0o700, exist_ok=True)
        _private_sqlite_file(settings.get("DATABASE_URL") or "")
    except OSError as e:
        raise ConfigError(
            f"cannot create the data directory {path}: {e.strerror}. "
            f"Set {PREFIX}DATA_DIR to a writable folder.",
            details={"setting": "DATA_DIR"},
        ) from e
    return path


def _private_sqlite_file(url: str) -> None:
    """Create a SQLite database file 0600 before SQLAlchemy does (it would be 0644)."""
    if not url.startswith("sqlite:///") or url in ("sqlite://", "sqlite:///:memory:"):
        return
    db = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    if not str(db) or str(db) == ":memory:" or not db.parent.is_dir():
        return  # an in-memory database; a missing folder is the store's error to report
    fd = os.open(db, os.O_WRONLY | os.O_CREAT, 0o600)  # an empty file is an empty database
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)  # one made by an older version
    finally:
        os.close(fd)


def secret_key(settings: Mapping[str, Any]) -> str:
    """SECRET_KEY, or the one generated on first start and kept in DATA_DIR (mode 0600)."""
    if settings.get("SECRET_KEY"):
        return str(settings["SECRET_KEY"])
    path = ensure_data_dir(settings) / "secret_key"
    try:
        return path.read_text("ascii").strip()
    except FileNotFoundError:
        pass
    key = secrets.token_hex(32)
    tmp = path.with_name(f".secret_key.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    try:
        # link() fails if another process won the race: then everyone uses its key.
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text("ascii").strip()
    finally:
        os.unlink(tmp)
    return key
