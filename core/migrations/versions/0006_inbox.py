"""The inbox: every update stored before Telegram is told it arrived.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('inbox_updates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_key', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('handled_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('new', 'done', 'failed')", name=op.f('ck_inbox_updates_status_known')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_inbox_updates_attempts_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_updates'))
    )
    op.create_index('uq_inbox_updates_bot_update', 'inbox_updates', ['bot_id', 'update_id'], unique=True)
    op.create_index('ix_inbox_updates_status', 'inbox_updates', ['status', 'id'], unique=False)
    op.create_index('ix_inbox_updates_chat', 'inbox_updates', ['bot_id', 'chat_key', 'status', 'update_id'], unique=False)
    op.create_index('ix_inbox_updates_handled', 'inbox_updates', ['handled_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inbox_updates_handled', table_name='inbox_updates')
    op.drop_index('ix_inbox_updates_chat', table_name='inbox_updates')
    op.drop_index('ix_inbox_updates_status', table_name='inbox_updates')
    op.drop_index('uq_inbox_updates_bot_update', table_name='inbox_updates')
    op.drop_table('inbox_updates')
