"""Alembic's environment for the job store; run by ``validator.jobs.migrations``.

The connection comes from ``config.attributes["connection"]`` (``migrations.config``),
inside the caller's transaction; the models' metadata is the target of autogenerate.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from validator.jobs.tables import Base, UTCDateTime

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the job store's migrations run through validator.jobs.migrations.upgrade "
        "(or `appeal-validator db upgrade`), not the alembic command"
    )


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes the column type, never the models' own decorator: a revision
    must not change when ``tables.py`` does."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
