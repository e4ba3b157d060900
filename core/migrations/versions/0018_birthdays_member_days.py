"""Birthdays (day and month a member told, and the last year they were paid) and member-day
rules (recurring promotions that multiply check-ins or shop orders on their day).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('birthdays',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('set_at', sa.DateTime(), nullable=False),
    sa.Column('paid_year', sa.Integer(), nullable=True),
    sa.CheckConstraint('month BETWEEN 1 AND 12', name=op.f('ck_birthdays_month_valid')),
    sa.CheckConstraint('day BETWEEN 1 AND 31', name=op.f('ck_birthdays_day_valid')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_birthdays_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_birthdays'))
    )
    op.create_index('ix_birthdays_month_day', 'birthdays', ['month', 'day'], unique=False)
    op.create_table('member_day_rules',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('names', sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('day_of_month', sa.Integer(), nullable=True),
    sa.Column('weekday', sa.Integer(), nullable=True),
    sa.Column('applies_to', sa.String(length=8), nullable=False),
    sa.Column('percent', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('percent > 100 AND percent <= 1000', name=op.f('ck_member_day_rules_percent_valid')),
    sa.CheckConstraint("applies_to IN ('checkin', 'shop')", name=op.f('ck_member_day_rules_applies_to_known')),
    sa.CheckConstraint('(day_of_month IS NULL) <> (weekday IS NULL)', name=op.f('ck_member_day_rules_one_rule')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_day_rules')),
    sa.UniqueConstraint('name', name=op.f('uq_member_day_rules_name'))
    )


def downgrade() -> None:
    op.drop_table('member_day_rules')
    op.drop_index('ix_birthdays_month_day', table_name='birthdays')
    op.drop_table('birthdays')
