"""Which process runs the scheduled jobs: the one holding a PostgreSQL advisory lock.

APScheduler 3 must not share a job store between schedulers, so with several bot processes
on one PostgreSQL only one runs the scheduler: the one that holds a session-level advisory
lock, taken on a connection of its own. If that process dies, PostgreSQL ends its session and
the lock goes with it; another process takes it at its next try. On SQLite there is one
process, and it leads.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.database import Database

log = logging.getLogger(__name__)

# The advisory lock's key ("PMJOBS" in ASCII); advisory locks are per database.
SCHEDULER_LOCK = 0x504D4A4F4253
_TRY = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")
_ALIVE = text("SELECT 1")


class Leader:
    """This process's claim to lead: :meth:`try_acquire`, then :meth:`still_held` now and then."""

    def __init__(self, db: Database, key: int = SCHEDULER_LOCK) -> None:
        self.db = db
        self.key = key
        self._conn: AsyncConnection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    async def try_acquire(self) -> bool:
        """Take the lead if nobody holds it; True if this process leads (now or already)."""
        if self._held:
            return await self.still_held()
        if self.db.is_sqlite:
            self._held = True
            return True
        try:
            if self._conn is None:
                conn = await self.db.engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            self._held = bool((await self._conn.execute(_TRY, {"key": self.key})).scalar_one())
        except Exception:
            log.exception("could not try the scheduler lock")
            await self._drop()
        return self._held

    async def still_held(self) -> bool:
        """Whether the lock's connection is alive (the lock lives as long as it does)."""
        if not self._held or self.db.is_sqlite:
            return self._held
        assert self._conn is not None
        try:
            await self._conn.execute(_ALIVE)
        except Exception:
            log.warning("the scheduler lock's connection is lost: no longer leading")
            await self._drop()
        return self._held

    async def release(self) -> None:
        """Give up the lead (on the way out); another process takes it at its next try."""
        if self._conn is not None and self._held:
            try:
                await self._conn.execute(_UNLOCK, {"key": self.key})
            except Exception:
                log.warning("could not unlock the scheduler lock; closing its connection")
        await self._drop()

    async def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                log.debug("closing the lock's connection failed", exc_info=True)
