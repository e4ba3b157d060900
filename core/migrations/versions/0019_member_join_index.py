"""Members by the time they joined (issue 17): the export of members who joined in a window
reads them through it instead of every member, page after page.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 14:20:00.000000
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_members_joined_at', 'members', ['joined_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_members_joined_at', table_name='members')
