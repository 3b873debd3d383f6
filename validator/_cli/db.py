"""``appeal-validator db``: the job store's schema (Alembic migrations) for operators.

The service and workers upgrade the store themselves when they start; ``db upgrade``
does it ahead of them (before a deploy), ``db current`` says where a database stands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from validator.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from validator.jobs.migrations import State

T = TypeVar("T")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "db",
        help="upgrade the job store's schema or show its revision",
        description="The job store's schema, migrated with Alembic: DATABASE_URL "
        "(PostgreSQL) or the SQLite file in APPEAL_VALIDATOR_DATA_DIR. serve and worker "
        "upgrade it when they start; run `db upgrade` before starting a new version on "
        "several machines. See docs/scale-out.md.",
    )
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", parser_class=type(p))
    dsub.required = True
    up = dsub.add_parser(
        "upgrade",
        help="migrate the store to the newest revision (creates or adopts its tables)",
        description="Migrate the job store to the newest revision: an empty database gets "
        "its tables, one made before migrations existed is adopted (its rows kept).",
    )
    up.set_defaults(func=upgrade)
    cur = dsub.add_parser(
        "current",
        help="show the store's revision; exit 0 at the newest, 1 when an upgrade is due",
        description="Print the job store's revision and the newest one. Exit 0 when the "
        "store is at the newest revision, 1 when `db upgrade` has something to do.",
    )
    cur.set_defaults(func=current)
    for q in (up, cur):
        q.add_argument("--data-dir", help="data directory (APPEAL_VALIDATOR_DATA_DIR)")


def _url(args: argparse.Namespace, *, create: bool) -> str:
    from validator.jobs import settings

    cfg = settings.from_env(overrides={"DATA_DIR": args.data_dir})
    if create:
        settings.ensure_data_dir(cfg)
    return cfg.database_url


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for another database or an in-memory one)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _run(url: str, action: Callable[[Engine], T]) -> T:
    from sqlalchemy.exc import OperationalError

    from validator.jobs.store import make_engine

    engine = make_engine(url)
    try:
        return action(engine)
    except OperationalError as e:
        raise ConfigError(
            f"cannot use the job store at {_shown(url)}: {e.orig or e}",
            details={"setting": "DATABASE_URL"},
        ) from e
    finally:
        engine.dispose()


def _describe(st: State) -> str:
    from validator.jobs import migrations

    if st.revision is None and st.unversioned:
        return "none (tables made before migrations; `db upgrade` adopts them)"
    if st.revision is None:
        return "none (empty database)"
    if not migrations.known(st.revision):
        return f"{st.revision} (newer than this version of appeal-validator)"
    return st.revision


def upgrade(args: argparse.Namespace) -> int:
    from validator.jobs import migrations

    url = _url(args, create=True)
    before, after = _run(url, migrations.upgrade)
    print(f"job store: {_shown(url)}")
    if before.revision == after.revision:
        print(f"already at the newest revision: {after.revision}")
    else:
        print(f"upgraded: {_describe(before)} -> {after.revision}")
    return 0


def current(args: argparse.Namespace) -> int:
    from validator.jobs import migrations

    url = _url(args, create=False)
    print(f"job store: {_shown(url)}")
    path = _sqlite_file(url)
    if path is not None and not path.exists():  # asking must not create the file
        print(f"current: none (no database at {path} yet)")
        print(f"newest:  {migrations.head()}")
        return 1
    st = _run(url, migrations.state)
    print(f"current: {_describe(st)}")
    print(f"newest:  {st.head}")
    return 0 if st.at_head else 1
