"""Indexes for the queries that scanned (issue 17): a member's pending holds (the balance
screen), check-ins by day and make-ups by purchase time (the daily report), redemptions by
status and time (the per-item report), and pending operations (`pointsmall check`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_holds_account_status', 'holds', ['account_id', 'status'], unique=False)
    op.create_index(
        'ix_operations_pending',
        'operations',
        ['key'],
        unique=False,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index('ix_checkins_day', 'checkins', ['day'], unique=False)
    op.create_index('ix_checkins_created_at', 'checkins', ['created_at'], unique=False)
    op.create_index(
        'ix_redemptions_status_created', 'redemptions', ['status', 'created_at'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_redemptions_status_created', table_name='redemptions')
    op.drop_index('ix_checkins_created_at', table_name='checkins')
    op.drop_index('ix_checkins_day', table_name='checkins')
    op.drop_index('ix_operations_pending', table_name='operations')
    op.drop_index('ix_holds_account_status', table_name='holds')
