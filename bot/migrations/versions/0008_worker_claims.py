"""push workers: an index of the queued ledger rows, in the order workers claim them

Revision ID: 0008
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_delivery_queued", "deliveries", ["run_id", "id"],
                    postgresql_where=sa.text("status = 'queued'"), sqlite_where=sa.text("status = 'queued'"))


def downgrade() -> None:
    op.drop_index("ix_delivery_queued", table_name="deliveries")
