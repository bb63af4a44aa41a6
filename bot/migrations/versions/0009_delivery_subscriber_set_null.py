"""deliveries keep their history when a subscriber is removed (subscriber_id set to NULL)

Revision ID: 0009
Revises: 0007
"""
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME = "fk_deliveries_subscriber_id_subscribers"
# SQLite's constraint has no name: a naming convention names it when batch mode reflects the table.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _replace(old: str, ondelete: str | None) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("deliveries", naming_convention=NAMING, recreate="always") as batch:
            batch.drop_constraint(NAME, type_="foreignkey")
            batch.create_foreign_key(NAME, "subscribers", ["subscriber_id"], ["id"], ondelete=ondelete)
    else:
        op.drop_constraint(old, "deliveries", type_="foreignkey")
        op.create_foreign_key(NAME, "deliveries", "subscribers", ["subscriber_id"], ["id"], ondelete=ondelete)


def upgrade() -> None:
    _replace("deliveries_subscriber_id_fkey", "SET NULL")


def downgrade() -> None:
    _replace(NAME, None)
