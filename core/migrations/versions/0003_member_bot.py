"""The member bot: usernames, the announcements choice, questions awaiting an answer, erasures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 10:12:05.381224
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('erasures',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_erasures'))
    )
    op.create_table('pending_inputs',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_pending_inputs_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_pending_inputs'))
    )
    # Plain ALTER TABLE, not batch mode: on SQLite a batch would copy and drop ``members``,
    # which the foreign keys that point at it forbid once members exist.
    op.add_column('members', sa.Column('username', sa.String(length=32), nullable=True))
    op.add_column('members', sa.Column('announcements', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('members', sa.Column('deleted_at', sa.DateTime(), nullable=True))
    op.create_index(op.f('ix_members_username'), 'members', ['username'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_members_username'), table_name='members')
    op.drop_column('members', 'deleted_at')
    op.drop_column('members', 'announcements')
    op.drop_column('members', 'username')
    op.drop_table('pending_inputs')
    op.drop_table('erasures')
