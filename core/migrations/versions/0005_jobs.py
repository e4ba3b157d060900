"""Scheduled jobs and the outbox: job runs, broadcasts, outbox rows, the shared send pace,
unreachable chats, expiry reminders sent and the tier each member was last told about.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('job_runs',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_job_runs'))
    )
    op.create_table('broadcasts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=96), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('audience', sa.String(length=96), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcasts')),
    sa.UniqueConstraint('key', name=op.f('uq_broadcasts_key'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('broadcast_id', sa.BigInteger(), nullable=True),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=True),
    sa.Column('slot_at', sa.DateTime(), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('error', sa.String(length=200), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'claimed', 'sending', 'sent', 'failed', 'unreachable', 'uncertain')", name=op.f('ck_outbox_status_known')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_attempts_not_negative')),
    sa.ForeignKeyConstraint(['broadcast_id'], ['broadcasts.id'], name=op.f('fk_outbox_broadcast_id_broadcasts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('key', name=op.f('uq_outbox_key'))
    )
    op.create_index('ix_outbox_status', 'outbox', ['status', 'id'], unique=False)
    op.create_index('ix_outbox_chat', 'outbox', ['chat_id', 'slot_at'], unique=False)
    op.create_index('ix_outbox_broadcast', 'outbox', ['broadcast_id', 'status'], unique=False)
    pace = op.create_table('sender_pace',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('next_slot', sa.DateTime(), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_sender_pace_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_pace'))
    )
    op.bulk_insert(pace, [{'id': 1, 'next_slot': datetime(2000, 1, 1, tzinfo=UTC).replace(tzinfo=None)}])
    op.create_table('unreachable_chats',
    sa.Column('chat_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('chat_id', name=op.f('pk_unreachable_chats'))
    )
    op.create_table('expiry_reminders',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.Column('lead_days', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_expiry_reminders_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'last_day', 'lead_days', name=op.f('pk_expiry_reminders'))
    )
    op.create_table('tier_notices',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('tier', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_tier_notices_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_tier_notices'))
    )
    # Members of a mall that existed before the tier job have been told nothing: their tier
    # today is where congratulations start, or the first run would congratulate everyone.
    op.execute(
        "INSERT INTO tier_notices (member_id, tier, updated_at)"
        " SELECT id, tier, joined_at FROM members WHERE deleted_at IS NULL"
    )


def downgrade() -> None:
    op.drop_table('tier_notices')
    op.drop_table('expiry_reminders')
    op.drop_table('unreachable_chats')
    op.drop_table('sender_pace')
    op.drop_index('ix_outbox_broadcast', table_name='outbox')
    op.drop_index('ix_outbox_chat', table_name='outbox')
    op.drop_index('ix_outbox_status', table_name='outbox')
    op.drop_table('outbox')
    op.drop_table('broadcasts')
    op.drop_table('job_runs')
