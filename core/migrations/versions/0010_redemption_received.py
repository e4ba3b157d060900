"""Shipped and received: when a redemption was marked handed over (a physical reward: shipped),
and when its member confirmed receiving it. Redemptions fulfilled before take their last
change as the moment they were handed over.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-15 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fulfilled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('received_at', sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE redemptions SET fulfilled_at = updated_at WHERE status = 'fulfilled'"
    )


def downgrade() -> None:
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_column('received_at')
        batch_op.drop_column('fulfilled_at')
