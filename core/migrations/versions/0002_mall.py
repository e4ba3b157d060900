"""The mall: catalog, coupon pools, redemptions, flash sales, blind boxes, referrals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:49:42.145404
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('blind_boxes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('price_points', sa.BigInteger(), nullable=False),
    sa.Column('pity_after', sa.Integer(), nullable=True),
    sa.Column('daily_cap', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('seed_version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('daily_cap IS NULL OR daily_cap > 0', name=op.f('ck_blind_boxes_daily_cap_positive')),
    sa.CheckConstraint('pity_after IS NULL OR pity_after > 0', name=op.f('ck_blind_boxes_pity_positive')),
    sa.CheckConstraint('price_points > 0', name=op.f('ck_blind_boxes_price_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blind_boxes')),
    sa.UniqueConstraint('sku', name=op.f('uq_blind_boxes_sku'))
    )
    op.create_table('items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('sku', sa.String(length=64), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('photo', sa.String(length=500), nullable=True),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('price_points', sa.BigInteger(), nullable=False),
    sa.Column('cash_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('stock', sa.BigInteger(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=True),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('min_tier', sa.String(length=64), nullable=True),
    sa.Column('limit_count', sa.Integer(), nullable=True),
    sa.Column('limit_period', sa.String(length=8), nullable=True),
    sa.Column('approval_threshold', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('physical', 'coupon', 'service', 'virtual')", name=op.f('ck_items_kind_known')),
    sa.CheckConstraint("limit_period IS NULL OR limit_period IN ('day', 'week', 'month', 'ever')", name=op.f('ck_items_limit_period_known')),
    sa.CheckConstraint('limit_count IS NULL OR limit_count > 0', name=op.f('ck_items_limit_count_positive')),
    sa.CheckConstraint('price_points > 0 OR cash_minor > 0', name=op.f('ck_items_price_not_free')),
    sa.CheckConstraint('price_points >= 0 AND cash_minor >= 0', name=op.f('ck_items_price_not_negative')),
    sa.CheckConstraint('stock IS NULL OR stock >= 0', name=op.f('ck_items_stock_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items')),
    sa.UniqueConstraint('sku', name=op.f('uq_items_sku'))
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index('ix_items_category', ['category', 'id'], unique=False)

    op.create_table('box_prizes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('box_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=True),
    sa.Column('item_id', sa.BigInteger(), nullable=True),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('stock', sa.BigInteger(), nullable=True),
    sa.Column('rare', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.CheckConstraint("kind IN ('points', 'item', 'coupon', 'consolation')", name=op.f('ck_box_prizes_kind_known')),
    sa.CheckConstraint('points IS NULL OR points > 0', name=op.f('ck_box_prizes_points_positive')),
    sa.CheckConstraint('stock IS NULL OR stock >= 0', name=op.f('ck_box_prizes_stock_not_negative')),
    sa.CheckConstraint('weight >= 0', name=op.f('ck_box_prizes_weight_not_negative')),
    sa.ForeignKeyConstraint(['box_id'], ['blind_boxes.id'], name=op.f('fk_box_prizes_box_id_blind_boxes')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_box_prizes_item_id_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_box_prizes'))
    )
    with op.batch_alter_table('box_prizes', schema=None) as batch_op:
        batch_op.create_index('uq_box_prizes_box_name', ['box_id', 'name'], unique=True)

    op.create_table('box_seeds',
    sa.Column('box_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('seed_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revealed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['box_id'], ['blind_boxes.id'], name=op.f('fk_box_seeds_box_id_blind_boxes')),
    sa.PrimaryKeyConstraint('box_id', 'version', name=op.f('pk_box_seeds'))
    )
    op.create_table('flash_sales',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('sale_price', sa.BigInteger(), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('entry_ends_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("mode IN ('first_come', 'draw')", name=op.f('ck_flash_sales_mode_known')),
    sa.CheckConstraint("status IN ('scheduled', 'drawn', 'cancelled')", name=op.f('ck_flash_sales_status_known')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_flash_sales_window_ordered')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_flash_sales_quantity_positive')),
    sa.CheckConstraint('remaining >= 0 AND remaining <= quantity', name=op.f('ck_flash_sales_remaining_in_range')),
    sa.CheckConstraint('sale_price > 0', name=op.f('ck_flash_sales_price_positive')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_flash_sales_item_id_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_flash_sales'))
    )
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.create_index('ix_flash_sales_window', ['starts_at', 'ends_at'], unique=False)

    op.create_table('box_streaks',
    sa.Column('box_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('draws', sa.Integer(), server_default='0', nullable=False),
    sa.Column('since_rare', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['box_id'], ['blind_boxes.id'], name=op.f('fk_box_streaks_box_id_blind_boxes')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_box_streaks_member_id_members')),
    sa.PrimaryKeyConstraint('box_id', 'member_id', name=op.f('pk_box_streaks'))
    )
    op.create_table('coupon_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('taken_at', sa.DateTime(), nullable=True),
    sa.Column('taken_by', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_coupon_codes_item_id_items')),
    sa.ForeignKeyConstraint(['taken_by'], ['members.id'], name=op.f('fk_coupon_codes_taken_by_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_coupon_codes'))
    )
    with op.batch_alter_table('coupon_codes', schema=None) as batch_op:
        batch_op.create_index('ix_coupon_codes_free', ['item_id', 'id'], unique=False, sqlite_where=sa.text('taken_at IS NULL'), postgresql_where=sa.text('taken_at IS NULL'))
        batch_op.create_index('uq_coupon_codes_item_code', ['item_id', 'code'], unique=True)

    op.create_table('invite_codes',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_invite_codes_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_invite_codes')),
    sa.UniqueConstraint('code', name=op.f('uq_invite_codes_code'))
    )
    op.create_table('referrals',
    sa.Column('invitee_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('referrer_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('rewarded_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'rewarded', 'capped')", name=op.f('ck_referrals_status_known')),
    sa.CheckConstraint('invitee_id <> referrer_id', name=op.f('ck_referrals_not_self')),
    sa.ForeignKeyConstraint(['invitee_id'], ['members.id'], name=op.f('fk_referrals_invitee_id_members')),
    sa.ForeignKeyConstraint(['referrer_id'], ['members.id'], name=op.f('fk_referrals_referrer_id_members')),
    sa.PrimaryKeyConstraint('invitee_id', name=op.f('pk_referrals'))
    )
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_referrer', ['referrer_id', 'created_at'], unique=False)

    op.create_table('flash_sale_entries',
    sa.Column('sale_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('hold_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('entered', 'won', 'lost')", name=op.f('ck_flash_sale_entries_status_known')),
    sa.ForeignKeyConstraint(['hold_id'], ['holds.id'], name=op.f('fk_flash_sale_entries_hold_id_holds')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_flash_sale_entries_member_id_members')),
    sa.ForeignKeyConstraint(['sale_id'], ['flash_sales.id'], name=op.f('fk_flash_sale_entries_sale_id_flash_sales')),
    sa.PrimaryKeyConstraint('sale_id', 'member_id', name=op.f('pk_flash_sale_entries'))
    )
    op.create_table('redemptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('flash_sale_id', sa.BigInteger(), nullable=True),
    sa.Column('confirm_token', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('cash_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('hold_id', sa.BigInteger(), nullable=True),
    sa.Column('transfer_id', sa.BigInteger(), nullable=True),
    sa.Column('coupon_code_id', sa.BigInteger(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('payment_charge_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('completed', 'awaiting_approval', 'awaiting_payment', 'fulfilled', 'cancelled', 'rejected')", name=op.f('ck_redemptions_status_known')),
    sa.CheckConstraint('points >= 0 AND cash_minor >= 0', name=op.f('ck_redemptions_price_not_negative')),
    sa.ForeignKeyConstraint(['coupon_code_id'], ['coupon_codes.id'], name=op.f('fk_redemptions_coupon_code_id_coupon_codes')),
    sa.ForeignKeyConstraint(['flash_sale_id'], ['flash_sales.id'], name=op.f('fk_redemptions_flash_sale_id_flash_sales')),
    sa.ForeignKeyConstraint(['hold_id'], ['holds.id'], name=op.f('fk_redemptions_hold_id_holds')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_redemptions_item_id_items')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_redemptions_member_id_members')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_redemptions_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('confirm_token', name=op.f('uq_redemptions_confirm_token'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_member', ['member_id', 'item_id', 'created_at'], unique=False)
        batch_op.create_index('ix_redemptions_status', ['status', 'id'], unique=False)

    op.create_table('box_draws',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('box_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('draw_number', sa.Integer(), nullable=False),
    sa.Column('seed_version', sa.Integer(), nullable=False),
    sa.Column('prize_id', sa.BigInteger(), nullable=False),
    sa.Column('price_points', sa.BigInteger(), nullable=False),
    sa.Column('points_won', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('by_guarantee', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('coupon_code_id', sa.BigInteger(), nullable=True),
    sa.Column('redemption_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['box_id'], ['blind_boxes.id'], name=op.f('fk_box_draws_box_id_blind_boxes')),
    sa.ForeignKeyConstraint(['coupon_code_id'], ['coupon_codes.id'], name=op.f('fk_box_draws_coupon_code_id_coupon_codes')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_box_draws_member_id_members')),
    sa.ForeignKeyConstraint(['prize_id'], ['box_prizes.id'], name=op.f('fk_box_draws_prize_id_box_prizes')),
    sa.ForeignKeyConstraint(['redemption_id'], ['redemptions.id'], name=op.f('fk_box_draws_redemption_id_redemptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_box_draws'))
    )
    with op.batch_alter_table('box_draws', schema=None) as batch_op:
        batch_op.create_index('ix_box_draws_created_at', ['created_at'], unique=False)
        batch_op.create_index('uq_box_draws_member_number', ['box_id', 'member_id', 'draw_number'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('box_draws', schema=None) as batch_op:
        batch_op.drop_index('uq_box_draws_member_number')
        batch_op.drop_index('ix_box_draws_created_at')

    op.drop_table('box_draws')
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_status')
        batch_op.drop_index('ix_redemptions_member')

    op.drop_table('redemptions')
    op.drop_table('flash_sale_entries')
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.drop_index('ix_referrals_referrer')

    op.drop_table('referrals')
    op.drop_table('invite_codes')
    with op.batch_alter_table('coupon_codes', schema=None) as batch_op:
        batch_op.drop_index('uq_coupon_codes_item_code')
        batch_op.drop_index('ix_coupon_codes_free', sqlite_where=sa.text('taken_at IS NULL'), postgresql_where=sa.text('taken_at IS NULL'))

    op.drop_table('coupon_codes')
    op.drop_table('box_streaks')
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.drop_index('ix_flash_sales_window')

    op.drop_table('flash_sales')
    op.drop_table('box_seeds')
    with op.batch_alter_table('box_prizes', schema=None) as batch_op:
        batch_op.drop_index('uq_box_prizes_box_name')

    op.drop_table('box_prizes')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_category')

    op.drop_table('items')
    op.drop_table('blind_boxes')
