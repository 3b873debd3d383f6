"""The state of each video's H.264 preview (issue 12: made by a worker, not the web).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

One row per (check, video): who makes it (the task id, a compare-and-set), when it was
queued and started, and why it failed. Deleting a check deletes its rows (the store
does it; the foreign key cascades too).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_not_exists: a database create_all made from newer models (then adopted) has it.
    op.create_table(
        "check_previews",
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("video_index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["checks.id"],
            name=op.f("check_previews_check_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("check_id", "video_index", name=op.f("check_previews_pkey")),
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_table("check_previews")
