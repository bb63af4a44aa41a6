"""ingest: source status, quarantined quotes, a quote series includes its unit

Revision ID: 0002
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quarantined_quotes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('low', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('high', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.Column('sentence', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('quarantined_quotes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_quotes_status'), ['status'], unique=False)

    op.create_table('source_status',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('last_run', sa.DateTime(), nullable=True),
    sa.Column('last_success', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.Column('runs', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('items_seen', sa.Integer(), nullable=False),
    sa.Column('quotes_new', sa.Integer(), nullable=False),
    sa.Column('quotes_quarantined', sa.Integer(), nullable=False),
    sa.Column('news_new', sa.Integer(), nullable=False),
    sa.Column('etag', sa.String(length=256), nullable=True),
    sa.Column('last_modified', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('price_quotes', schema=None) as batch_op:
        batch_op.drop_constraint('uq_quote_product_date_source', type_='unique')
        batch_op.create_unique_constraint('uq_quote_product_date_source_unit', ['product_code', 'date', 'source', 'unit'])


def downgrade() -> None:
    with op.batch_alter_table('price_quotes', schema=None) as batch_op:
        batch_op.drop_constraint('uq_quote_product_date_source_unit', type_='unique')
        batch_op.create_unique_constraint('uq_quote_product_date_source', ['product_code', 'date', 'source'])
    op.drop_table('source_status')
    with op.batch_alter_table('quarantined_quotes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_quotes_status'))

    op.drop_table('quarantined_quotes')
