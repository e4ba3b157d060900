"""The migrations build exactly the schema the models describe, and can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from core.db.database import Database
from core.db.migrate import alembic_config, current_revision, head_revision, upgrade
from core.db.models import Base


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_a_migrated_database_matches_the_models(database_url: str):
    db = Database.from_url(database_url)
    try:
        assert await current_revision(db) == head_revision()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await db.dispose()


async def test_downgrade_to_nothing_and_back(database_url: str):
    db = Database.from_url(database_url)

    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "base")

    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(downgrade)
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revision()
    finally:
        await db.dispose()
