"""Content in members' languages: item and box titles and descriptions, prize names and shelf
names, each a default text plus a JSON object of texts by language (``{"zh_Hans": "拿铁"}``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NONE = sa.text("'{}'")


def upgrade() -> None:
    for table in ('items', 'blind_boxes'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('titles', sa.JSON(), server_default=_NONE, nullable=False))
            batch_op.add_column(sa.Column('descriptions', sa.JSON(), server_default=_NONE, nullable=False))
    with op.batch_alter_table('box_prizes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('names', sa.JSON(), server_default=_NONE, nullable=False))
    op.create_table('shelves',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('names', sa.JSON(), server_default=_NONE, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_shelves'))
    )


def downgrade() -> None:
    op.drop_table('shelves')
    with op.batch_alter_table('box_prizes', schema=None) as batch_op:
        batch_op.drop_column('names')
    for table in ('blind_boxes', 'items'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('descriptions')
            batch_op.drop_column('titles')
