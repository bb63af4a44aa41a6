"""price alerts, their firings, cached chart media ids

Revision ID: 0007
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("threshold", sa.Numeric(16, 2), nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("fired_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_code"], ["products.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_subscriber_id", "alerts", ["subscriber_id"])
    op.create_index("ix_alerts_product_code", "alerts", ["product_code"])
    op.create_table(
        "alert_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("product_code", sa.String(length=32), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("price", sa.Numeric(16, 2), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["push_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id"),
    )
    op.create_index("ix_alert_firings_alert_id", "alert_firings", ["alert_id"])
    op.create_table(
        "chart_media",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("media_id", sa.String(length=256), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("chart_media")
    op.drop_index("ix_alert_firings_alert_id", table_name="alert_firings")
    op.drop_table("alert_firings")
    op.drop_index("ix_alerts_product_code", table_name="alerts")
    op.drop_index("ix_alerts_subscriber_id", table_name="alerts")
    op.drop_table("alerts")
