"""Roll-ups of today's closed hours (issue 17): a row per hour rolled up with its check-ins and
make-ups; its transfers by pair of books and code; the members active in the rolled-up hours of
the open day. ``ix_checkins_day`` also orders a day's check-ins by time, for the part of today
not rolled up yet.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rollup_hours',
    sa.Column('hour', sa.DateTime(), nullable=False),
    sa.Column('ends', sa.DateTime(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('checkins', sa.BigInteger(), nullable=False),
    sa.Column('makeups', sa.BigInteger(), nullable=False),
    sa.Column('rolled_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('hour', name=op.f('pk_rollup_hours'))
    )
    op.create_index('ix_rollup_hours_day', 'rollup_hours', ['day', 'hour'], unique=False)
    op.create_table('rollup_hour_flows',
    sa.Column('hour', sa.DateTime(), nullable=False),
    sa.Column('source', sa.BigInteger(), nullable=False),
    sa.Column('destination', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('transfers', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('hour', 'source', 'destination', 'code', name=op.f('pk_rollup_hour_flows'))
    )
    op.create_table('rollup_day_members',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('day', 'member_id', name=op.f('pk_rollup_day_members'))
    )
    op.drop_index('ix_checkins_day', table_name='checkins')
    op.create_index('ix_checkins_day', 'checkins', ['day', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_checkins_day', table_name='checkins')
    op.create_index('ix_checkins_day', 'checkins', ['day'], unique=False)
    op.drop_table('rollup_day_members')
    op.drop_table('rollup_hour_flows')
    op.drop_index('ix_rollup_hours_day', table_name='rollup_hours')
    op.drop_table('rollup_hours')
