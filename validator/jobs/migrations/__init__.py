"""The job store's schema history: Alembic migrations, applied when a ``Store`` opens.

Alembic is configured here, in code (no ``alembic.ini``): the scripts are this package's
``env.py`` and ``versions/``, shipped with the library. ``upgrade(engine)`` brings a
database to the newest revision:

* a database at the newest revision costs two small queries (its ``alembic_version``);
* an empty one gets every revision, from ``BASELINE`` (the schema as ``create_all`` made
  it in 0.2.0) on;
* one that ``create_all`` made before migrations existed (the tables, no
  ``alembic_version``) is adopted: stamped at ``BASELINE``, then upgraded. Its rows stay.

One process migrates at a time (the web, workers and ``appeal-validator db upgrade`` may
start together): PostgreSQL takes a transaction-scoped advisory lock, SQLite an
immediate transaction, and both re-read the revision once they hold it (threads of one
process take a lock first: Alembic's ``context`` and ``op`` are process globals). PostgreSQL and
SQLite both run the whole upgrade in that one transaction; on SQLite, foreign keys are
off meanwhile and checked before the commit (SQLite's own recipe for schema changes,
https://www.sqlite.org/lang_altertable.html#otheralter), and ``render_as_batch`` makes
Alembic rebuild a table where SQLite cannot ALTER it.

A change to the models in ``tables.py`` needs a revision in ``versions/`` (next number,
``down_revision`` the previous one): tests/test_store_migrations.py fails while the
migrated schema and the models differ. Constraints are named as PostgreSQL names them
(``tables.Base``), so a revision can drop one by name; on an adopted SQLite database
they are unnamed (create_all named none there), so a revision that drops one passes
``naming_convention=Base.metadata.naming_convention`` to ``op.batch_alter_table``,
which names the reflected ones the same way.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from validator.errors import ConfigError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
BASELINE = "0001"  # the schema as create_all made it before migrations existed
# The tables create_all made at BASELINE: all of them mean "adopt", some of them an error.
BASELINE_TABLES = frozenset({"tenants", "api_keys", "checks", "webhook_deliveries"})
# Any fixed 63-bit number: the advisory lock that serializes PostgreSQL migrations.
PG_LOCK_KEY = zlib.crc32(b"appeal-validator job store migrations")
# Alembic's ``context`` and ``op`` are module-level proxies: one migration per process.
_IN_PROCESS = threading.Lock()


@dataclass(frozen=True)
class State:
    """Where a database stands: ``revision`` None with ``unversioned`` tables is a
    pre-migrations database, None without them an empty one."""

    revision: str | None
    head: str
    unversioned: bool

    @property
    def at_head(self) -> bool:
        return self.revision == self.head


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for this package; ``env.py`` uses ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision this version of the code knows."""
    found = scripts().get_current_head()
    assert found is not None, "validator/jobs/migrations/versions holds no revision"
    return found


def _revision(conn: Connection) -> str | None:
    heads = MigrationContext.configure(conn).get_current_heads()
    if len(heads) > 1:
        raise ConfigError(
            f"the job store is at several revisions at once ({heads}); "
            "merge them with Alembic before starting"
        )
    return heads[0] if heads else None


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) & BASELINE_TABLES


def state(engine: Engine) -> State:
    """The database's revision, without changing anything."""
    with engine.connect() as conn:
        revision = _revision(conn)
        unversioned = revision is None and bool(_tables(conn))
    return State(revision, head(), unversioned)


def known(revision: str) -> bool:
    """Whether this version of the code has ``revision`` (a newer one may have migrated)."""
    try:
        return scripts().get_revision(revision) is not None
    except CommandError:
        return False


def _known(revision: str | None) -> None:
    if revision is not None and not known(revision):
        raise ConfigError(
            f"the job store's schema is at revision {revision!r}, which appeal-validator "
            f"does not know (its newest is {head()!r}): a newer version migrated it. Run "
            "that version, or restore the database from before it.",
            details={"setting": "DATABASE_URL", "revision": revision},
        )


@contextmanager
def _exclusive(conn: Connection) -> Iterator[None]:
    """One transaction that only one process at a time holds; committed on success."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        # PRAGMA foreign_keys is a no-op inside a transaction: set it before BEGIN.
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # waits out other writers (busy_timeout)
            try:
                yield
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise ConfigError(f"the migration broke foreign keys: {broken[:5]}")
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.commit()
        return
    with conn.begin():
        if dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
        yield


def upgrade(engine: Engine) -> tuple[State, State]:
    """Bring the database to the newest revision (adopting a pre-migrations one); returns
    the states before and after."""
    before = state(engine)
    _known(before.revision)
    if before.at_head:
        return before, before
    with _IN_PROCESS, engine.connect() as conn, _exclusive(conn):
        current = _revision(conn)  # another process may have migrated meanwhile
        _known(current)
        cfg = config(conn)
        if current is None:
            tables = _tables(conn)
            if tables and tables != BASELINE_TABLES:
                missing = ", ".join(sorted(BASELINE_TABLES - tables))
                raise ConfigError(
                    f"the job store has some of its tables but not {missing}: it is "
                    "not a database appeal-validator made. Point DATABASE_URL at an "
                    "empty database or at the service's own.",
                    details={"setting": "DATABASE_URL"},
                )
            if tables:
                log.warning("job store: adopting the tables made before migrations")
                command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
    after = state(engine)
    if after.revision != before.revision:
        log.info("job store: migrated %s -> %s", before.revision or "(empty)", after.revision)
    return before, after
