"""The service's settings, typed and declared once: name, default, parser and help.

``serve``, ``keys``, the app factory and the job runner all read them from here, as
the attributes of one frozen ``Settings`` (``settings.data_dir``, ``settings.max_upload_mb``).
Each setting comes from the environment variable ``APPEAL_VALIDATOR_<NAME>``
(``DATABASE_URL`` also without the prefix, the usual name on PaaS hosts), from
``create_app(test_config)`` or from a CLI flag, in increasing order of precedence;
``from_env`` is the one loader that reads them in that order. A bad value fails at
start-up with a ``ConfigError`` that names the variable.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


def _positive(kind: Callable[[Any], Any], *, zero_ok: bool = False) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):  # bool is an int in Python; never a count
            raise ValueError(f"expected a number, got {value!r}")
        out = kind(value)
        if out < 0 or (out == 0 and not zero_ok):
            floor = "0 or more" if zero_ok else "greater than 0"
            raise ValueError(f"must be {floor}, got {value!r}")
        return out

    return parse


def _count(value: Any) -> int:
    """A whole number >= 0 (0: no limit)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    out = int(value)
    if out < 0:
        raise ValueError(f"must be 0 or more, got {value!r}")
    return out


def _optional_str(value: Any) -> str | None:
    return str(value) if value else None  # an empty variable is an unset one


@dataclass(frozen=True, slots=True)
class Settings:
    """The service's settings (Datasette's ``Setting(name, default, help)``, typed).

    Field ``data_dir`` is the variable ``APPEAL_VALIDATOR_DATA_DIR``, and so on; each
    field's metadata holds its parser (which also validates) and its help. Every value
    is parsed and checked on construction (``dataclasses.replace`` too), so a
    ``Settings`` is always valid: ``data_dir`` absolute, ``database_url`` filled in.
    """

    data_dir: Path = field(
        default=Path("./data"),
        metadata={"parse": Path, "help": "Folder for uploads, derived files, the SQLite file."},
    )
    database_url: str = field(
        default="",  # derived from data_dir
        metadata={
            "parse": str,
            "help": "SQLAlchemy URL of the job store; default sqlite:///<DATA_DIR>/appeal.db. "
            "Also read from DATABASE_URL.",
        },
    )
    max_upload_mb: int = field(
        # Phone originals are large: 500 MB is about 4 minutes of 1080p (issue 12), so a
        # 15-minute unboxing in 1080p or a few minutes of 4K needs 4 GB.
        default=4096,
        metadata={
            "parse": _positive(int),
            "help": "Largest accepted video (each video of a case); bigger gets 413.",
        },
    )
    upload_chunk_mb: int = field(
        # The form sends 8 MiB chunks (app.js): a chunk lost to a dropped connection costs
        # seconds on a phone's uplink; twice that is accepted from other clients.
        default=16,
        metadata={
            "parse": _positive(int),
            "help": "Largest chunk of a resumable upload (one PATCH body); bigger gets 413.",
        },
    )
    upload_max_open: int = field(
        default=8,
        metadata={
            "parse": _positive(int),
            "help": "Resumable uploads one browser session may have open (not yet turned "
            "into a check) at once; at the limit its upload idle longest makes way for a "
            "new one, and when all are receiving bytes one more gets 429.",
        },
    )
    upload_max_open_total: int = field(
        # A new browser session is free to make, so the per-session limit alone bounds
        # nothing: this and the next bound every session's open uploads together.
        default=200,
        metadata={
            "parse": _positive(int),
            "help": "Resumable uploads open at once on the whole service (every session "
            "together); one more gets 503 until some finish or expire.",
        },
    )
    upload_max_total_mb: int = field(
        # 200 phone originals of about 500 MB (issue 12's 4 minutes of 1080p).
        default=100_000,
        metadata={
            "parse": _positive(int),
            "help": "MiB the open resumable uploads may declare together (their "
            "Upload-Length); one that would pass it gets 503. Creation also needs that "
            "much free disk for what every open upload may still send.",
        },
    )
    upload_max_age_s: float = field(
        # Twice the untouched expiry: a merchant on a bad network finishes within a day.
        default=172800.0,
        metadata={
            "parse": _positive(float),
            "help": "A resumable upload older than this is gone however often it is "
            "touched (a byte a day would otherwise hold its length for ever).",
        },
    )
    upload_expiry_s: float = field(
        default=86400.0,
        metadata={
            "parse": _positive(float),
            "help": "A resumable upload no chunk has added a byte to for this long is gone "
            "(its part removed by the next request that creates one and by the workers' "
            "hourly sweep).",
        },
    )
    workers: int = field(
        default=1,
        metadata={
            "parse": _positive(int),
            "help": "Analyses run at once by the worker serve starts (CPU-bound: about one "
            "per core).",
        },
    )
    analysis_threads: int = field(
        default=0,
        metadata={
            "parse": _count,
            "help": "Threads per analysis, of FFmpeg's decoder and of OpenCV each. 0: "
            "automatic, one when a worker runs as many analyses at once as the machine has "
            "cores, else their own choice (one per core, the shortest wait for a lone "
            "check). Set 1 when several workers share one machine's cores: on busy cores more "
            "threads only add work, about 10% of a check's CPU (benchmarks/bench_cpu.py).",
        },
    )
    job_timeout_s: float = field(
        default=3600.0,
        metadata={
            "parse": _positive(float),
            "help": "Wall-time limit of one analysis (Celery's soft time limit; the hard one "
            "is 30 s later); past it the job fails with job_timeout.",
        },
    )
    job_lease_s: float = field(
        default=60.0,
        metadata={
            "parse": _positive(float),
            "help": "How often each worker looks for lost jobs: a running job whose process "
            "is gone, a job queued this long while no message waits in the broker.",
        },
    )
    job_max_attempts: int = field(
        default=3,
        metadata={
            "parse": _positive(int),
            "help": "A job whose process died this many times fails (job_crashed, job_abandoned).",
        },
    )
    tenant_max_running: int = field(
        default=0,
        metadata={
            "parse": _count,
            "help": "Jobs of one tenant (API key owner) running at once, across all workers; "
            "0: no limit. Jobs start round-robin by tenant either way: one tenant's many "
            "uploads never hold another's check behind them.",
        },
    )
    worker_max_memory_mb: int = field(
        # Address space (RLIMIT_AS), not resident memory: a 1080p check peaks at about
        # 1.0 GB of it (200 MB resident), an 8K one at 1.4 GB (600 MB), measured on 2
        # cores; decoder threads and malloc arenas reserve more on larger machines.
        default=4096,
        metadata={
            "parse": _count,
            "help": "Memory (address space, MB) one analysis process of a worker may use; "
            "an analysis past it fails with job_out_of_memory and the worker goes on. "
            "0: no limit.",
        },
    )
    poll_s: float = field(
        default=0.5,
        metadata={
            "parse": _positive(float),
            "help": "How often the workers look for due webhooks.",
        },
    )
    secret_key: str | None = field(
        default=None,
        metadata={
            "parse": _optional_str,
            "help": "Signs the form's session cookie (CSRF). Default: generated once, kept "
            "in <DATA_DIR>/secret_key.",
        },
    )
    run_pool: bool = field(
        default=True,
        metadata={
            "parse": _bool,
            "help": "serve starts a Celery worker process beside the web process (WORKERS "
            "analyses at once). Off when workers run elsewhere (appeal-validator worker).",
        },
    )
    broker_url: str | None = field(
        default=None,
        metadata={
            "parse": _optional_str,
            "help": "Redis URL of the Celery broker, when scaled out (docs/scale-out.md). "
            "Default: an SQLite broker in DATA_DIR (broker.db), for workers on this machine.",
        },
    )
    queue: str = field(
        default="appeal-validator",
        metadata={"parse": str, "help": "Celery queue the jobs are sent to."},
    )
    webhook_max_attempts: int = field(
        default=6,
        metadata={"parse": _positive(int), "help": "Deliveries tried per webhook event."},
    )
    webhook_backoff_s: float = field(
        default=5.0,
        metadata={
            "parse": _positive(float),
            "help": "Wait before the first retry; doubles after each failed attempt.",
        },
    )
    webhook_timeout_s: float = field(
        default=10.0,
        metadata={
            "parse": _positive(float),
            "help": "Timeout of each step of a webhook request (connecting, one read); "
            "WEBHOOK_DEADLINE_S bounds the whole attempt.",
        },
    )
    webhook_deadline_s: float = field(
        default=30.0,
        metadata={
            "parse": _positive(float),
            "help": "Overall limit of one webhook attempt (connect, TLS, request, answer); "
            "past it the attempt fails as a timeout and is retried. A receiver that sends "
            "a byte every few seconds never trips WEBHOOK_TIMEOUT_S, but trips this.",
        },
    )
    webhook_pool_size: int = field(
        default=4,
        metadata={
            "parse": _positive(int),
            "help": "Webhook attempts each worker process makes at once, at most one per "
            "tenant: a slow receiver delays only its own tenant's webhooks.",
        },
    )
    failed_keys_per_min: int = field(
        default=20,
        metadata={
            "parse": _positive(int),
            "help": "Unknown or revoked API keys a client address may send per minute; past "
            "it every API request from that address gets 429 with Retry-After until the "
            "minute has passed (a good key never counts).",
        },
    )
    form_posts_per_min: int = field(
        default=20,
        metadata={
            "parse": _positive(int),
            "help": "Posts to the upload form (uploads, deletes) a client address may make "
            "per minute; past it 429 with Retry-After.",
        },
    )
    share_ttl_h: float = field(
        default=168.0,
        metadata={
            "parse": _positive(float),
            "help": "Hours a share link of a form check stays open (default a week, about "
            "the platform's time to answer an appeal); its owner can revoke it sooner. The "
            "link serves the report, pictures, JSON, PDF and the original video(s).",
        },
    )
    trusted_proxies: int = field(
        default=0,
        metadata={
            "parse": _positive(int, zero_ok=True),
            "help": "Reverse proxies in front of the service: the client address for the "
            "rate limits is then taken from that many X-Forwarded-For entries. 0 (the "
            "default): the connection's address; a client could forge the header.",
        },
    )
    webhook_allow_private: bool = field(
        default=False,
        metadata={
            "parse": _bool,
            "help": "Allow callback URLs that resolve to loopback or private addresses "
            "(tests, intranets). Off by default against server-side request forgery.",
        },
    )

    recording_chunk_s: float = field(
        default=1.0,
        metadata={
            "parse": _positive(float),
            "help": "The chunk interval the record page asks MediaRecorder for; the witness "
            "lists pauses in arrival longer than twice it.",
        },
    )
    recording_max_chunks: int = field(
        # An hour of one-second chunks: an unboxing lasts minutes (policy max 30 min).
        default=3600,
        metadata={
            "parse": _positive(int),
            "help": "Chunks one recording may have; a chunk number past it gets 400 "
            "chunk_out_of_range.",
        },
    )
    recording_max_chunk_mb: int = field(
        # A second of 4K VP9 from a phone is 2-5 MB; a chunk is read into memory once.
        default=16,
        metadata={
            "parse": _positive(int),
            "help": "Largest chunk of a recording (MB); bigger gets 413 chunk_too_large. "
            "The whole recording is bounded by MAX_UPLOAD_MB.",
        },
    )
    recording_max_open: int = field(
        default=20,
        metadata={
            "parse": _positive(int),
            "help": "Open recording sessions per tenant (per browser session on the form); "
            "one more gets 429 too_many_recordings. A session unused for a day is removed.",
        },
    )
    witness_key_file: Path | None = field(
        default=None,
        metadata={
            "parse": lambda v: Path(v) if v else None,
            "help": "PEM file of the Ed25519 key that signs recordings' witness records. "
            "Default: generated once, kept in <DATA_DIR>/witness_key.pem (mode 0600).",
        },
    )

    def __post_init__(self) -> None:
        for s in SETTINGS:
            raw = getattr(self, s.attr)
            if raw is None:
                continue  # an unset optional setting (the others have a default)
            try:
                object.__setattr__(self, s.attr, s.parse(raw))  # frozen: only here
            except (TypeError, ValueError) as e:
                raise ConfigError(
                    f"setting {s.env}={raw!r} is not valid: {e}. {s.help}",
                    details={"setting": s.name},
                ) from e
        # The derived defaults: an absolute DATA_DIR (workers may start elsewhere), and
        # the SQLite job store inside it.
        object.__setattr__(self, "data_dir", self.data_dir.expanduser().resolve())
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'appeal.db'}")

    def as_config(self) -> dict[str, Any]:
        """The settings by name (``DATA_DIR``), as Flask's ``app.config`` holds them."""
        return {s.name: getattr(self, s.attr) for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Setting:
    """One field of ``Settings`` as the docs and the environment name it."""

    attr: str  # data_dir
    name: str  # DATA_DIR (test_config's and the CLI's key)
    env: str  # APPEAL_VALIDATOR_DATA_DIR
    default: Any
    parse: Callable[[Any], Any]
    help: str


SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, f.name.upper(), PREFIX + f.name.upper(), f.default, **f.metadata)
    for f in dataclasses.fields(Settings)
)


def resolve(values: Mapping[str, Any]) -> Settings:
    """``Settings`` from ``values`` by name (``DATA_DIR``; unknown keys, such as Flask's,
    and None are ignored: the default stays)."""
    return Settings(**{s.attr: values[s.name] for s in SETTINGS if values.get(s.name) is not None})


def from_env(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """The loader: ``APPEAL_VALIDATOR_*`` (and ``DATABASE_URL``), then ``overrides`` by
    name (``create_app``'s test_config, CLI flags; None is no override)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if env.get("DATABASE_URL"):
        values["DATABASE_URL"] = env["DATABASE_URL"]
    for s in SETTINGS:
        if s.env in env:
            values[s.name] = env[s.env]
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return resolve(values)


def ensure_data_dir(settings: Settings) -> Path:
    """Create DATA_DIR (and fail with a hint when it cannot be written)."""
    path = settings.data_dir
    try:
        # Private: the database holds reports, cases and webhook secrets, the folders
        # the uploads (0700; the database 0600, which SQLite's journal files inherit).
        if not path.is_dir():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700, exist_ok=True)
        (path / "tmp").mkdir(mode=0o700, exist_ok=True)
        _private_sqlite_file(settings.database_url)
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


def secret_key(settings: Settings) -> str:
    """SECRET_KEY, or the one generated on first start and kept in DATA_DIR (mode 0600)."""
    if settings.secret_key:
        return settings.secret_key
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
