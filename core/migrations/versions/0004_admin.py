"""Admins: the audit log, claim codes (batches, codes, wrong attempts, locks) and risk flags,
and an index on redemptions.created_at for risk control's hourly count.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('before', sa.Text(), nullable=False),
    sa.Column('after', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_table('claim_batches',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('count > 0', name=op.f('ck_claim_batches_count_positive')),
    sa.CheckConstraint('points > 0', name=op.f('ck_claim_batches_points_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_batches')),
    sa.UniqueConstraint('key', name=op.f('uq_claim_batches_key'))
    )
    op.create_table('claim_codes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('batch_id', sa.BigInteger(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('claimed_by', sa.BigInteger(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['claim_batches.id'], name=op.f('fk_claim_codes_batch_id_claim_batches')),
    sa.ForeignKeyConstraint(['claimed_by'], ['members.id'], name=op.f('fk_claim_codes_claimed_by_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_claim_codes_code_hash'))
    )
    op.create_index('ix_claim_codes_batch', 'claim_codes', ['batch_id', 'claimed_by'], unique=False)
    op.create_table('claim_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_claim_attempts_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_attempts'))
    )
    op.create_index('ix_claim_attempts_member', 'claim_attempts', ['member_id', 'at'], unique=False)
    op.create_index('ix_claim_attempts_at', 'claim_attempts', ['at'], unique=False)
    op.create_table('claim_locks',
    sa.Column('member_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('until', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_claim_locks_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_claim_locks'))
    )
    op.create_table('risk_flags',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('rule', sa.String(length=24), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('measure', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('first_at', sa.DateTime(), nullable=False),
    sa.Column('last_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('closed_by', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'cleared', 'frozen')", name=op.f('ck_risk_flags_status_known')),
    sa.CheckConstraint('score >= 0', name=op.f('ck_risk_flags_score_not_negative')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_risk_flags_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_flags'))
    )
    op.create_index('uq_risk_flags_open', 'risk_flags', ['member_id', 'rule'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    op.create_index('ix_risk_flags_status', 'risk_flags', ['status', 'member_id'], unique=False)
    op.create_index('ix_redemptions_created', 'redemptions', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_redemptions_created', table_name='redemptions')
    op.drop_index('ix_risk_flags_status', table_name='risk_flags')
    op.drop_index('uq_risk_flags_open', table_name='risk_flags', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
    op.drop_table('risk_flags')
    op.drop_table('claim_locks')
    op.drop_index('ix_claim_attempts_at', table_name='claim_attempts')
    op.drop_index('ix_claim_attempts_member', table_name='claim_attempts')
    op.drop_table('claim_attempts')
    op.drop_index('ix_claim_codes_batch', table_name='claim_codes')
    op.drop_table('claim_codes')
    op.drop_table('claim_batches')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
