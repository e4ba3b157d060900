"""The shop: API keys, customers and their links, orders, refunds and checkout holds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('shop_keys',
    sa.Column('key_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key_id', name=op.f('pk_shop_keys'))
    )
    op.create_table('shop_customers',
    sa.Column('customer_key', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=True),
    sa.Column('linked_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('telegram', 'phone', 'ref')", name=op.f('ck_shop_customers_kind_known')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_shop_customers_member_id_members')),
    sa.PrimaryKeyConstraint('customer_key', name=op.f('pk_shop_customers'))
    )
    op.create_index(op.f('ix_shop_customers_member_id'), 'shop_customers', ['member_id'], unique=False)
    op.create_table('shop_orders',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=True),
    sa.Column('customer_key', sa.String(length=80), nullable=True),
    sa.Column('member_id', sa.BigInteger(), nullable=True),
    sa.Column('total_minor', sa.BigInteger(), nullable=True),
    sa.Column('refunded_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('parts', sa.Text(), nullable=True),
    sa.Column('points', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('placed_at', sa.DateTime(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=True),
    sa.Column('parked_until', sa.DateTime(), nullable=True),
    sa.Column('credited_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('awaiting', 'parked', 'credited', 'refunded', 'expired')", name=op.f('ck_shop_orders_status_known')),
    sa.CheckConstraint('refunded_minor >= 0 AND (total_minor IS NULL OR (total_minor > 0 AND refunded_minor <= total_minor))', name=op.f('ck_shop_orders_refund_in_range')),
    sa.CheckConstraint('points >= 0', name=op.f('ck_shop_orders_points_not_negative')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_shop_orders_member_id_members')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_shop_orders'))
    )
    op.create_index('ix_shop_orders_customer', 'shop_orders', ['customer_key', 'status'], unique=False)
    op.create_index('ix_shop_orders_parked', 'shop_orders', ['status', 'parked_until'], unique=False)
    op.create_table('shop_refunds',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('refund_id', sa.String(length=64), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('points_taken', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('unrecovered', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('applied_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_shop_refunds_amount_positive')),
    sa.CheckConstraint("status IN ('pending', 'applied', 'netted', 'exceeded')", name=op.f('ck_shop_refunds_status_known')),
    sa.CheckConstraint('points_taken >= 0 AND unrecovered >= 0', name=op.f('ck_shop_refunds_points_not_negative')),
    sa.PrimaryKeyConstraint('order_id', 'refund_id', name=op.f('pk_shop_refunds'))
    )
    op.create_table('checkout_holds',
    sa.Column('hold_ref', sa.String(length=64), nullable=False),
    sa.Column('hold_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('value_minor', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hold_id'], ['holds.id'], name=op.f('fk_checkout_holds_hold_id_holds')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_checkout_holds_member_id_members')),
    sa.PrimaryKeyConstraint('hold_ref', name=op.f('pk_checkout_holds'))
    )
    op.create_index(op.f('ix_checkout_holds_member_id'), 'checkout_holds', ['member_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_checkout_holds_member_id'), table_name='checkout_holds')
    op.drop_table('checkout_holds')
    op.drop_table('shop_refunds')
    op.drop_index('ix_shop_orders_parked', table_name='shop_orders')
    op.drop_index('ix_shop_orders_customer', table_name='shop_orders')
    op.drop_table('shop_orders')
    op.drop_index(op.f('ix_shop_customers_member_id'), table_name='shop_customers')
    op.drop_table('shop_customers')
    op.drop_table('shop_keys')
