"""One process leads the scheduled jobs; when it goes, another takes over."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.db.database import Database
from core.operations.leader import Leader


async def test_of_two_processes_only_one_leads_until_it_lets_go(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one process, which always leads")
    first_db, second_db = Database.from_url(database_url), Database.from_url(database_url)
    first, second = Leader(first_db), Leader(second_db)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert await first.try_acquire()  # asking again keeps the lead
        assert await first.still_held()

        await first.release()

        assert not first.held
        assert await second.try_acquire()
        assert not await first.try_acquire()
    finally:
        await first.release()
        await second.release()
        await first_db.dispose()
        await second_db.dispose()


async def test_a_leader_whose_process_dies_hands_over(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one process, which always leads")
    first_db, second_db = Database.from_url(database_url), Database.from_url(database_url)
    first, second = Leader(first_db), Leader(second_db)
    try:
        assert await first.try_acquire()
        assert first._conn is not None
        pid = (await first._conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        # The process dies: PostgreSQL ends its session, unlocking nothing explicitly. The
        # session ends a moment after it is told to: wait for it (up to 10 s), or a loaded
        # machine finds the lock still held.
        async with second_db.engine.connect() as conn:
            ended = await conn.execute(
                text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid}
            )
            assert ended.scalar_one()

        assert await second.try_acquire()
        assert not await first.still_held()
    finally:
        await second.release()
        await second_db.dispose()
        await first_db.dispose()


async def test_on_sqlite_the_one_process_leads(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL elects a leader")
    db = Database.from_url(database_url)
    try:
        leader = Leader(db)
        assert await leader.try_acquire()
        assert await leader.still_held()
    finally:
        await db.dispose()
