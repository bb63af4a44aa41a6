"""admin_users: failed_logins and locked_until dropped (unused since sign-in failures are counted per address,
admin_sign_in_failures, migration 0012)

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admin_users") as table:
        table.drop_column("failed_logins")
        table.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("admin_users") as table:
        table.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("locked_until", sa.DateTime(), nullable=True))
