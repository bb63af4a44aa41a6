"""processed_messages: one B-tree per message key (SQLite: WITHOUT ROWID), no created_at index

Every chat message writes one row here; each index is one more B-tree page written per message. The
daily prune scans the table instead (it holds a couple of days of messages).

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

INDEX = "ix_processed_messages_created_at"


def _columns() -> list:
    return [sa.Column("key", sa.String(160), primary_key=True), sa.Column("state", sa.String(8), nullable=False),
            sa.Column("reply", sa.Text()), sa.Column("created_at", sa.DateTime(), nullable=False)]


def _recreate(**table_options) -> None:
    """SQLite cannot change a table's rowid: copy the rows into a new one (a few days of keys)."""
    op.create_table("processed_messages_new", *_columns(), **table_options)
    op.execute("INSERT INTO processed_messages_new (key, state, reply, created_at) "
               "SELECT key, state, reply, created_at FROM processed_messages")
    op.drop_table("processed_messages")
    op.rename_table("processed_messages_new", "processed_messages")


def upgrade() -> None:
    op.drop_index(INDEX, table_name="processed_messages")
    if op.get_bind().dialect.name == "sqlite":
        _recreate(sqlite_with_rowid=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _recreate()
    op.create_index(INDEX, "processed_messages", ["created_at"])
