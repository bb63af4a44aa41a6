"""the database moves the market version; callback signatures remembered; message keys with the sender

Triggers on products, price_quotes and news_items bump market_version.version in the writing transaction,
whoever writes (the ORM, Core, psql, a data migration): the reply cache can never outlive a change.
callback_signatures: each signed query authorises one body (a captured URL cannot carry another message).

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MARKET_TABLES = ("products", "price_quotes", "news_items")
BUMP = "UPDATE market_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in MARKET_TABLES:
            for action in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER market_version_{table}_{action.lower()} AFTER {action} ON {table} "
                           f"BEGIN {BUMP}; END")
    else:
        op.execute("CREATE FUNCTION bump_market_version() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN {BUMP}; RETURN NULL; END $$")
        for table in MARKET_TABLES:
            op.execute(f"CREATE TRIGGER market_version_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                       f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_market_version()")
    op.create_table("callback_signatures",
                    sa.Column("signature", sa.String(200), primary_key=True),
                    sa.Column("body_sha256", sa.String(64), nullable=False),
                    sa.Column("created_at", sa.DateTime(), nullable=False))
    op.execute("DELETE FROM processed_messages")  # keys now name the sender: the old ones would never match


def downgrade() -> None:
    op.drop_table("callback_signatures")
    if op.get_bind().dialect.name == "sqlite":
        for table in MARKET_TABLES:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER market_version_{table}_{action}")
    else:
        for table in MARKET_TABLES:
            op.execute(f"DROP TRIGGER market_version_{table} ON {table}")
        op.execute("DROP FUNCTION bump_market_version()")
