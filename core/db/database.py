"""The engine and its transactions, with what each database needs to stay correct and fast.

SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction, so a
transaction that reads first cannot fail with "database is locked" when another writer commits.
Writes in this process also queue on an asyncio lock, so they wait in order instead of
polling SQLite's busy handler, and the idempotent use cases (``transact``) run whole on one
writer thread with a synchronous connection (``core.db.writer``).

PostgreSQL: asyncpg, READ COMMITTED; correctness comes from row locks taken in a fixed order
and conditional updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.db.writer import SqliteWriter, ThreadConnection

T = TypeVar("T")

_WRITE = "pointsmall_write"


class Database:
    """One engine and how to open read and write transactions on it."""

    def __init__(
        self, engine: AsyncEngine, writer: SqliteWriter | None = None, reader: Engine | None = None
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.is_sqlite = self.dialect == "sqlite"
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = writer
        self._reader = reader

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False, pool_size: int = 10) -> Database:
        """Build the engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
        engine = create_async_engine(parsed, **kwargs)
        writer = reader = None
        if parsed.get_backend_name() == "sqlite":
            _configure_sqlite(engine.sync_engine)
            if parsed.database and parsed.database != ":memory:":
                writer = SqliteWriter(parsed, _configure_sqlite)
                reader = create_engine(
                    parsed.set(drivername="sqlite"), connect_args={"timeout": 30}
                )
                _configure_sqlite(reader)
        return cls(engine, writer, reader)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn:
            conn.sync_connection.info[_WRITE] = True  # type: ignore[union-attr]
            try:
                async with conn.begin():
                    yield conn
            finally:
                conn.sync_connection.info.pop(_WRITE, None)  # type: ignore[union-attr]

    @property
    def sync_engines(self) -> list[Engine]:
        """Every engine behind this database (for instrumentation: counting statements)."""
        engines = [self.engine.sync_engine]
        if self._writer is not None:
            engines.append(self._writer.engine)
        if self._reader is not None:
            engines.append(self._reader)
        return engines

    async def transact(self, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run ``body`` in one write transaction: committed if it returns, rolled back if not.

        On SQLite the whole of ``body`` runs on the writer thread (see ``core.db.writer``): one
        hand-off per use case instead of several per statement.
        """
        if self._writer is None or self._write_lock is None:
            async with self.write() as conn:
                return await body(conn)
        async with self._write_lock:
            return await self._writer.run(body, _mark_write)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction with a consistent snapshot.

        On a SQLite file the statements run on a synchronous connection in the caller's
        thread: a screen's few indexed reads take less time than the thread hops aiosqlite
        makes for each statement (measured in docs/performance.md, "The member bot"). Each
        read gets a connection of its own, so reads that interleave do not share a snapshot.
        """
        if self._reader is None:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._reader.connect() as connection, connection.begin():
            yield cast(AsyncConnection, ThreadConnection(connection))

    async def dispose(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        if self._reader is not None:
            self._reader.dispose()
        await self.engine.dispose()


def _mark_write(connection: Connection) -> None:
    connection.info[_WRITE] = True


def _configure_sqlite(sync_engine: Engine) -> None:

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see "begin").
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.info.get(_WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")
