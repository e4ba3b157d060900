"""The ledger: accounts, transfers, lots, holds, idempotency; members, check-ins, orders.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 09:37:30.935001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a migration must not change when core.points.accounts does.
SYSTEM_ACCOUNTS = [
    (-1, "issuance"),
    (-2, "redemptions"),
    (-3, "expiry"),
    (-4, "escrow"),
    (-5, "adjustments"),
    (-6, "donations"),
    (-7, "box_pool"),
]


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=True),
    sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('frozen', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('frozen_reason', sa.String(length=500), nullable=True),
    sa.CheckConstraint("kind IN ('member', 'system')", name=op.f('ck_accounts_kind_known')),
    sa.CheckConstraint('balance >= 0', name=op.f('ck_accounts_balance_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('code', name=op.f('uq_accounts_code'))
    )
    op.create_table('operations',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'ok', 'rejected')", name=op.f('ck_operations_status_known')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_operations'))
    )
    op.create_table('members',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('display_name', sa.String(length=128), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=False),
    sa.Column('joined_at', sa.DateTime(), nullable=False),
    sa.Column('invited_by', sa.BigInteger(), nullable=True),
    sa.Column('tier', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['id'], ['accounts.id'], name=op.f('fk_members_id_accounts')),
    sa.ForeignKeyConstraint(['invited_by'], ['members.id'], name=op.f('fk_members_invited_by_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members'))
    )
    op.create_table('transfers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('debit_account_id', sa.BigInteger(), nullable=False),
    sa.Column('credit_account_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_transfers_amount_positive')),
    sa.CheckConstraint('debit_account_id <> credit_account_id', name=op.f('ck_transfers_distinct_accounts')),
    sa.ForeignKeyConstraint(['credit_account_id'], ['accounts.id'], name=op.f('fk_transfers_credit_account_id_accounts')),
    sa.ForeignKeyConstraint(['debit_account_id'], ['accounts.id'], name=op.f('fk_transfers_debit_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers')),
    sa.UniqueConstraint('key', name=op.f('uq_transfers_key'))
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index('ix_transfers_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_transfers_credit', ['credit_account_id', 'id'], unique=False)
        batch_op.create_index('ix_transfers_debit', ['debit_account_id', 'id'], unique=False)

    op.create_table('checkins',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('streak', sa.Integer(), nullable=False),
    sa.Column('reward', sa.BigInteger(), nullable=False),
    sa.Column('makeup', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('reward >= 0', name=op.f('ck_checkins_reward_not_negative')),
    sa.CheckConstraint('streak > 0', name=op.f('ck_checkins_streak_positive')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_checkins_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'day', name=op.f('pk_checkins'))
    )
    op.create_table('holds',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('destination_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('hold_transfer_id', sa.BigInteger(), nullable=False),
    sa.Column('settle_transfer_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'posted', 'voided')", name=op.f('ck_holds_status_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_holds_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_holds_account_id_accounts')),
    sa.ForeignKeyConstraint(['destination_id'], ['accounts.id'], name=op.f('fk_holds_destination_id_accounts')),
    sa.ForeignKeyConstraint(['hold_transfer_id'], ['transfers.id'], name=op.f('fk_holds_hold_transfer_id_transfers')),
    sa.ForeignKeyConstraint(['settle_transfer_id'], ['transfers.id'], name=op.f('fk_holds_settle_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds'))
    )
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.create_index('ix_holds_pending_expiry', ['status', 'expires_at'], unique=False)

    op.create_table('lots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('transfer_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('amount > 0', name=op.f('ck_lots_amount_positive')),
    sa.CheckConstraint('remaining >= 0 AND remaining <= amount', name=op.f('ck_lots_remaining_in_range')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_lots_account_id_accounts')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_lots_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lots'))
    )
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.create_index('ix_lots_open_by_account', ['account_id', 'expires_at', 'id'], unique=False, sqlite_where=sa.text('remaining > 0'), postgresql_where=sa.text('remaining > 0'))
        batch_op.create_index('ix_lots_open_by_expiry', ['expires_at'], unique=False, sqlite_where=sa.text('remaining > 0'), postgresql_where=sa.text('remaining > 0'))

    op.create_table('member_days',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('earned', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint('earned >= 0', name=op.f('ck_member_days_earned_not_negative')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_days_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'day', name=op.f('pk_member_days'))
    )
    op.create_table('orders',
    sa.Column('order_id', sa.String(length=128), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('refunded_minor', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_reversed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_unrecovered', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('amount_minor > 0', name=op.f('ck_orders_amount_positive')),
    sa.CheckConstraint('points >= 0', name=op.f('ck_orders_points_not_negative')),
    sa.CheckConstraint('points_reversed >= 0 AND points_unrecovered >= 0 AND points_reversed + points_unrecovered <= points', name=op.f('ck_orders_reversal_in_range')),
    sa.CheckConstraint('refunded_minor >= 0 AND refunded_minor <= amount_minor', name=op.f('ck_orders_refund_in_range')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_orders_member_id_members')),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_orders'))
    )
    op.create_table('lot_draws',
    sa.Column('transfer_id', sa.BigInteger(), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_lot_draws_amount_positive')),
    sa.ForeignKeyConstraint(['lot_id'], ['lots.id'], name=op.f('fk_lot_draws_lot_id_lots')),
    sa.ForeignKeyConstraint(['transfer_id'], ['transfers.id'], name=op.f('fk_lot_draws_transfer_id_transfers')),
    sa.PrimaryKeyConstraint('transfer_id', 'lot_id', name=op.f('pk_lot_draws'))
    )

    # The mall's own books; their balances are derived from the transfers, never stored.
    accounts = sa.table(
        "accounts",
        sa.column("id", sa.BigInteger),
        sa.column("kind", sa.String),
        sa.column("code", sa.String),
        sa.column("balance", sa.BigInteger),
        sa.column("frozen", sa.Boolean),
    )
    op.bulk_insert(
        accounts,
        [
            {"id": account_id, "kind": "system", "code": code, "balance": 0, "frozen": False}
            for account_id, code in SYSTEM_ACCOUNTS
        ],
    )


def downgrade() -> None:
    op.drop_table('lot_draws')
    op.drop_table('orders')
    op.drop_table('member_days')
    with op.batch_alter_table('lots', schema=None) as batch_op:
        batch_op.drop_index('ix_lots_open_by_expiry', sqlite_where=sa.text('remaining > 0'), postgresql_where=sa.text('remaining > 0'))
        batch_op.drop_index('ix_lots_open_by_account', sqlite_where=sa.text('remaining > 0'), postgresql_where=sa.text('remaining > 0'))

    op.drop_table('lots')
    with op.batch_alter_table('holds', schema=None) as batch_op:
        batch_op.drop_index('ix_holds_pending_expiry')

    op.drop_table('holds')
    op.drop_table('checkins')
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_debit')
        batch_op.drop_index('ix_transfers_credit')
        batch_op.drop_index('ix_transfers_created_at')

    op.drop_table('transfers')
    op.drop_table('members')
    op.drop_table('operations')
    op.drop_table('accounts')
