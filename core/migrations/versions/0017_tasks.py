"""Tasks: ways to earn by joining a chat, answering a quiz or survey, or reaching a challenge's
target; each completion once per task, member and period, and the polls sent for quizzes.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 13:17:00.051421
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('tasks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('titles', sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('descriptions', sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('reward_points', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('reward_item_id', sa.BigInteger(), nullable=True),
    sa.Column('repeat', sa.String(length=8), server_default='once', nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=True),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('min_tier', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('chat', sa.String(length=100), nullable=True),
    sa.Column('chat_link', sa.String(length=200), nullable=True),
    sa.Column('keep_hours', sa.Integer(), nullable=True),
    sa.Column('poll', sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('metric', sa.String(length=16), nullable=True),
    sa.Column('target', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('channel', 'quiz', 'survey', 'challenge')", name=op.f('ck_tasks_kind_known')),
    sa.CheckConstraint("metric IS NULL OR metric IN ('checkins', 'spend', 'redeem', 'invites', 'shop')", name=op.f('ck_tasks_metric_known')),
    sa.CheckConstraint("repeat IN ('once', 'day', 'week', 'month')", name=op.f('ck_tasks_repeat_known')),
    sa.CheckConstraint('reward_points > 0 OR reward_item_id IS NOT NULL', name=op.f('ck_tasks_reward_something')),
    sa.CheckConstraint('reward_points >= 0', name=op.f('ck_tasks_reward_not_negative')),
    sa.CheckConstraint('target IS NULL OR target > 0', name=op.f('ck_tasks_target_positive')),
    sa.ForeignKeyConstraint(['reward_item_id'], ['items.id'], name=op.f('fk_tasks_reward_item_id_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tasks')),
    sa.UniqueConstraint('code', name=op.f('uq_tasks_code'))
    )
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_kind', ['kind', 'metric'], unique=False)

    op.create_table('task_polls',
    sa.Column('poll_id', sa.String(length=64), nullable=False),
    sa.Column('task_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.Column('correct', sa.Boolean(), nullable=True),
    sa.Column('answered_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_task_polls_member_id_members')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_polls_task_id_tasks')),
    sa.PrimaryKeyConstraint('poll_id', name=op.f('pk_task_polls'))
    )
    with op.batch_alter_table('task_polls', schema=None) as batch_op:
        batch_op.create_index('uq_task_polls_period', ['task_id', 'member_id', 'period'], unique=True)

    op.create_table('task_completions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('task_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('period', sa.String(length=16), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=False),
    sa.Column('points', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('capped', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('redemption_id', sa.BigInteger(), nullable=True),
    sa.Column('prize_missing', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('watch_until', sa.DateTime(), nullable=True),
    sa.Column('watch_checked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('points_taken', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('unrecovered', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('notified_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('points >= 0 AND points_taken >= 0 AND unrecovered >= 0', name=op.f('ck_task_completions_points_not_negative')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_task_completions_member_id_members')),
    sa.ForeignKeyConstraint(['redemption_id'], ['redemptions.id'], name=op.f('fk_task_completions_redemption_id_redemptions')),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], name=op.f('fk_task_completions_task_id_tasks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_task_completions'))
    )
    with op.batch_alter_table('task_completions', schema=None) as batch_op:
        batch_op.create_index('ix_task_completions_completed', ['completed_at'], unique=False)
        batch_op.create_index('ix_task_completions_member', ['member_id', 'completed_at'], unique=False)
        batch_op.create_index('ix_task_completions_unnotified', ['notified_at', 'id'], unique=False)
        batch_op.create_index('ix_task_completions_watch', ['watch_until'], unique=False)
        batch_op.create_index('uq_task_completions_period', ['task_id', 'member_id', 'period'], unique=True)



def downgrade() -> None:
    with op.batch_alter_table('task_completions', schema=None) as batch_op:
        batch_op.drop_index('uq_task_completions_period')
        batch_op.drop_index('ix_task_completions_watch')
        batch_op.drop_index('ix_task_completions_unnotified')
        batch_op.drop_index('ix_task_completions_member')
        batch_op.drop_index('ix_task_completions_completed')

    op.drop_table('task_completions')
    with op.batch_alter_table('task_polls', schema=None) as batch_op:
        batch_op.drop_index('uq_task_polls_period')

    op.drop_table('task_polls')
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_kind')

    op.drop_table('tasks')
