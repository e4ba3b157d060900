"""Stars refunds: the Stars a redemption's payment brought, and a refund record for every
payment the mall keeps no goods for (refund_due, then refunded), keyed by Telegram's charge id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-16 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paid_stars', sa.BigInteger(), nullable=True))
    op.create_table('star_refunds',
    sa.Column('charge_id', sa.String(length=128), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('redemption_id', sa.BigInteger(), nullable=True),
    sa.Column('stars', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('refunded_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('refund_due', 'refunded')", name=op.f('ck_star_refunds_status_known')),
    sa.CheckConstraint("reason IN ('late', 'cancelled', 'rejected')", name=op.f('ck_star_refunds_reason_known')),
    sa.CheckConstraint('stars > 0', name=op.f('ck_star_refunds_stars_positive')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_star_refunds_attempts_not_negative')),
    sa.CheckConstraint("(status = 'refunded') = (refunded_at IS NOT NULL)", name=op.f('ck_star_refunds_refunded_when_refunded')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_star_refunds_member_id_members')),
    sa.ForeignKeyConstraint(['redemption_id'], ['redemptions.id'], name=op.f('fk_star_refunds_redemption_id_redemptions')),
    sa.PrimaryKeyConstraint('charge_id', name=op.f('pk_star_refunds'))
    )
    op.create_index('ix_star_refunds_due', 'star_refunds', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_star_refunds_redemption_id'), 'star_refunds', ['redemption_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_star_refunds_redemption_id'), table_name='star_refunds')
    op.drop_index('ix_star_refunds_due', table_name='star_refunds')
    op.drop_table('star_refunds')
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_column('paid_stars')
