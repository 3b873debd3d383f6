"""Share links of the form's checks (issue 12, history and sharing).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

One row per link: the sha256 of its token (never the token), when it ends, and when
its owner revoked it. Deleting a check deletes its links (the store does it; the
foreign key cascades too).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_not_exists: a database create_all made from newer models (then adopted) has it.
    op.create_table(
        "check_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["checks.id"],
            name=op.f("check_shares_check_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("check_shares_pkey")),
        sa.UniqueConstraint("token_hash", name=op.f("check_shares_token_hash_key")),
        if_not_exists=True,
    )
    op.create_index(
        op.f("ix_check_shares_check_id"), "check_shares", ["check_id"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_check_shares_check_id"), table_name="check_shares")
    op.drop_table("check_shares")
