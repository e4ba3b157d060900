"""The inbox's waiting updates get partial indexes of their own (issue 14, the flash-sale burst).

The take walked every waiting update of the bot through indexes that also held every handled
one kept for the retention, and PostgreSQL, its statistics behind a burst, compared each
waiting update with every other (seconds per take at a few thousand waiting). Now the take
walks ``(bot_id, id)`` of waiting updates only, and asks each chat for its first waiting update
by ``(bot_id, chat_key, update_id)`` of waiting updates only. The full indexes they replace
served nothing else, and each was one more index to write on every update of a row.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WAITING = "status = 'new'"


def upgrade() -> None:
    op.create_index(
        'ix_inbox_updates_waiting',
        'inbox_updates',
        ['bot_id', 'id'],
        unique=False,
        sqlite_where=sa.text(_WAITING),
        postgresql_where=sa.text(_WAITING),
    )
    op.create_index(
        'ix_inbox_updates_chat_waiting',
        'inbox_updates',
        ['bot_id', 'chat_key', 'update_id'],
        unique=False,
        sqlite_where=sa.text(_WAITING),
        postgresql_where=sa.text(_WAITING),
    )
    op.drop_index('ix_inbox_updates_chat', table_name='inbox_updates')
    op.drop_index('ix_inbox_updates_status', table_name='inbox_updates')


def downgrade() -> None:
    op.create_index('ix_inbox_updates_status', 'inbox_updates', ['status', 'id'], unique=False)
    op.create_index(
        'ix_inbox_updates_chat',
        'inbox_updates',
        ['bot_id', 'chat_key', 'status', 'update_id'],
        unique=False,
    )
    op.drop_index('ix_inbox_updates_chat_waiting', table_name='inbox_updates')
    op.drop_index('ix_inbox_updates_waiting', table_name='inbox_updates')
