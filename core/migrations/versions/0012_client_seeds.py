"""Client seeds: each member's seed mixed into their box draws, and on every draw the formula
its HMAC used (1: "member_id:draw_number", the draws so far; 2: "client_seed:nonce"). Flash-sale
draws commit to a seed (its hash published when scheduled) and record each entrant's client seed.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('client_seeds',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('client_seed', sa.String(length=64), nullable=False),
    sa.Column('chosen', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_client_seeds_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_client_seeds'))
    )
    with op.batch_alter_table('box_draws', schema=None) as batch_op:
        batch_op.add_column(sa.Column('formula', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('client_seed', sa.String(length=64), nullable=True))
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draw_seed', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('draw_seed_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('flash_sale_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_seed', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('flash_sale_entries', schema=None) as batch_op:
        batch_op.drop_column('client_seed')
    with op.batch_alter_table('flash_sales', schema=None) as batch_op:
        batch_op.drop_column('draw_seed_hash')
        batch_op.drop_column('draw_seed')
    with op.batch_alter_table('box_draws', schema=None) as batch_op:
        batch_op.drop_column('client_seed')
        batch_op.drop_column('formula')
    op.drop_table('client_seeds')
