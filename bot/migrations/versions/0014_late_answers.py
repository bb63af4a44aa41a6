"""late answers: answers sent through the API after their callback's budget, kept until sent (or the window closes)

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("late_answers",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("channel", sa.String(16), nullable=False),
                    sa.Column("user_id", sa.String(128), nullable=False),
                    sa.Column("text", sa.Text(), nullable=False),
                    sa.Column("media_id", sa.String(128), nullable=False),
                    sa.Column("status", sa.String(8), nullable=False),
                    sa.Column("attempts", sa.Integer(), nullable=False),
                    sa.Column("next_at", sa.DateTime(), nullable=False),
                    sa.Column("received_at", sa.DateTime(), nullable=False),
                    sa.Column("error", sa.String(255), nullable=False),
                    sa.Column("created_at", sa.DateTime(), nullable=False))
    op.create_index("ix_late_answer_due", "late_answers", ["status", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_late_answer_due", "late_answers")
    op.drop_table("late_answers")
