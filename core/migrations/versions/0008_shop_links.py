"""The shop's links: tokens of the links the shop shows after checkout, kept as their hashes;
and the indexes of the admin chat's latest orders and refunds.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shop_link_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('ref', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_by', sa.BigInteger(), nullable=True),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('(used_by IS NULL) = (used_at IS NULL)', name=op.f('ck_shop_link_tokens_used_together')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_shop_link_tokens_expires_after_created')),
    sa.ForeignKeyConstraint(['used_by'], ['members.id'], name=op.f('fk_shop_link_tokens_used_by_members')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_shop_link_tokens'))
    )
    op.create_index(op.f('ix_shop_link_tokens_used_by'), 'shop_link_tokens', ['used_by'], unique=False)
    op.create_index('ix_shop_orders_received_at', 'shop_orders', ['received_at'], unique=False)
    op.create_index('ix_shop_refunds_received_at', 'shop_refunds', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_shop_refunds_received_at', table_name='shop_refunds')
    op.drop_index('ix_shop_orders_received_at', table_name='shop_orders')
    op.drop_index(op.f('ix_shop_link_tokens_used_by'), table_name='shop_link_tokens')
    op.drop_table('shop_link_tokens')
