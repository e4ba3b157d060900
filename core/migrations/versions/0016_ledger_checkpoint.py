"""The ledger's checkpoint (an incremental `pointsmall check`) and an index that lets retention
find each kind's idempotency records past their window (issue 17).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ledger_checkpoint',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('transfer_id', sa.BigInteger(), nullable=False),
    sa.Column('transfers', sa.BigInteger(), nullable=False),
    sa.Column('written_at', sa.DateTime(), nullable=False),
    sa.Column('mode', sa.String(length=12), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_ledger_checkpoint_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_checkpoint'))
    )
    op.create_table('checkpoint_balances',
    sa.Column('account_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('net', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_checkpoint_balances'))
    )
    op.create_index('ix_operations_kind_created', 'operations', ['kind', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_operations_kind_created', table_name='operations')
    op.drop_table('checkpoint_balances')
    op.drop_table('ledger_checkpoint')
