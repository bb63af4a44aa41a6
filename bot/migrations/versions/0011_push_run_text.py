"""push_runs.text: the text a broadcast sends, so a `rebot worker` can deliver it (push.delivery: workers)

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("push_runs") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("push_runs") as batch:
        batch.drop_column("text")
