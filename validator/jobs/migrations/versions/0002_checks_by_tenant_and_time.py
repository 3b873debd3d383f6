"""An index for a tenant's checks, newest first (GET /api/v1/checks).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

The list pages by (created_at, id) within one tenant; without this index PostgreSQL
sorts all of the tenant's checks for every page.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # if_not_exists: a database create_all made from newer models (then adopted) has it.
    op.create_index(
        "ix_checks_tenant_id_created_at",
        "checks",
        ["tenant_id", "created_at"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_checks_tenant_id_created_at", table_name="checks")
