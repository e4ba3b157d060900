"""Roll-ups of closed business days (issue 17): a row per day rolled up with its check-ins,
make-ups and active members; its transfers by pair of books and code; its redemptions by item
and status; its box draws by prize. ``core.reporting.rollups`` writes them,
``core.reporting.reports`` reads them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rollup_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('checkins', sa.BigInteger(), nullable=False),
    sa.Column('makeups', sa.BigInteger(), nullable=False),
    sa.Column('active_members', sa.BigInteger(), nullable=False),
    sa.Column('rolled_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_rollup_days'))
    )
    op.create_table('rollup_flows',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('source', sa.BigInteger(), nullable=False),
    sa.Column('destination', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('transfers', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'source', 'destination', 'code', name=op.f('pk_rollup_flows'))
    )
    op.create_table('rollup_redemptions',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('redemptions', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('redemptions >= 0 AND points >= 0', name=op.f('ck_rollup_redemptions_counts_not_negative')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_rollup_redemptions_item_id_items')),
    sa.PrimaryKeyConstraint('day', 'item_id', 'status', name=op.f('pk_rollup_redemptions'))
    )
    op.create_table('rollup_box_draws',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('prize_id', sa.BigInteger(), nullable=False),
    sa.Column('box_id', sa.BigInteger(), nullable=False),
    sa.Column('draws', sa.BigInteger(), nullable=False),
    sa.Column('spent', sa.BigInteger(), nullable=False),
    sa.Column('paid', sa.BigInteger(), nullable=False),
    sa.Column('guaranteed', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['box_id'], ['blind_boxes.id'], name=op.f('fk_rollup_box_draws_box_id_blind_boxes')),
    sa.ForeignKeyConstraint(['prize_id'], ['box_prizes.id'], name=op.f('fk_rollup_box_draws_prize_id_box_prizes')),
    sa.PrimaryKeyConstraint('day', 'prize_id', name=op.f('pk_rollup_box_draws'))
    )


def downgrade() -> None:
    op.drop_table('rollup_box_draws')
    op.drop_table('rollup_redemptions')
    op.drop_table('rollup_flows')
    op.drop_table('rollup_days')
