"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 14:11:00.269455
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('news_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('url', sa.String(length=1024), nullable=False),
    sa.Column('image_url', sa.String(length=1024), nullable=True),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('url')
    )
    with op.batch_alter_table('news_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_news_items_published_at'), ['published_at'], unique=False)

    op.create_table('processed_messages',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('state', sa.String(length=8), nullable=False),
    sa.Column('reply', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('processed_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_messages_created_at'), ['created_at'], unique=False)

    op.create_table('products',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('name_zh', sa.String(length=64), nullable=False),
    sa.Column('short_en', sa.String(length=64), nullable=False),
    sa.Column('aliases', sa.JSON(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('group', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('products', sa.JSON(), nullable=False),
    sa.Column('daily_summary', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('channel', 'external_id', name='uq_subscriber_channel_external')
    )
    op.create_table('price_quotes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_code', sa.String(length=32), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('low', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('high', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['product_code'], ['products.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('product_code', 'date', 'source', name='uq_quote_product_date_source')
    )
    with op.batch_alter_table('price_quotes', schema=None) as batch_op:
        batch_op.create_index('ix_quote_product_date', ['product_code', 'date'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('price_quotes', schema=None) as batch_op:
        batch_op.drop_index('ix_quote_product_date')

    op.drop_table('price_quotes')
    op.drop_table('subscribers')
    op.drop_table('products')
    with op.batch_alter_table('processed_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_messages_created_at'))

    op.drop_table('processed_messages')
    with op.batch_alter_table('news_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_news_items_published_at'))

    op.drop_table('news_items')
