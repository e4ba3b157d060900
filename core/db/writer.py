"""SQLite's single writer: a thread of its own that runs each write use case whole.

Through async SQLAlchemy and aiosqlite every statement crosses threads several times; the
profile in docs/performance.md puts that at about ten times the cost of the statement itself.
Here a use case crosses once: its coroutine runs on this thread's event loop, against a
synchronous connection, and every ``await conn.execute(...)`` returns at once. SQLite takes
one writer at a time anyway, so nothing is lost by running them one after another here.

Use cases are written once, against ``AsyncConnection``; :class:`ThreadConnection` offers
the part of it they use (``execute``, ``begin_nested``, ``dialect``, ``sync_connection``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, NestedTransaction, create_engine
from sqlalchemy.engine import URL, Result
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")


class SqliteWriter:
    """One thread, one connection, one write transaction at a time."""

    def __init__(self, url: URL, configure: Callable[[Engine], None]) -> None:
        self._engine = create_engine(url.set(drivername="sqlite"), connect_args={"timeout": 30})
        configure(self._engine)
        self._connection: Connection | None = None
        self._busy: asyncio.Lock | None = None  # made on the writer's loop, which it belongs to
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="pointsmall-sqlite-writer", daemon=True
        )
        self._thread.start()

    @property
    def engine(self) -> Engine:
        return self._engine

    async def run(
        self, body: Callable[[AsyncConnection], Awaitable[T]], mark_write: Callable[[Any], None]
    ) -> T:
        """Run ``body`` in one write transaction on the writer thread; commit unless it raises."""
        future = asyncio.run_coroutine_threadsafe(self._transact(body, mark_write), self._loop)
        return await asyncio.wrap_future(future)

    async def _transact(
        self, body: Callable[[AsyncConnection], Awaitable[T]], mark_write: Callable[[Any], None]
    ) -> T:
        if self._busy is None:
            self._busy = asyncio.Lock()
        # One transaction at a time on the one connection, even if a caller that was cancelled
        # left its use case running here while the next one arrives.
        async with self._busy:
            if self._connection is None:  # sqlite3 connections belong to their thread
                self._connection = self._engine.connect()
                mark_write(self._connection)
            with self._connection.begin():
                return await body(cast(AsyncConnection, ThreadConnection(self._connection)))

    def close(self) -> None:
        """Close the connection on its own thread and stop the thread."""

        async def close() -> None:
            if self._connection is not None:
                self._connection.close()
            self._engine.dispose()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()


class ThreadConnection:
    """The face of ``AsyncConnection`` the use cases see, over a sync connection."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self.sync_connection = connection  # as AsyncConnection names it (core.db.prepared)
        self.dialect = connection.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Result[Any]:
        result = self._connection.execute(statement, parameters)
        if result.returns_rows:
            # Buffered, as AsyncConnection's are: later statements may change the rows read.
            return result.freeze()()
        return result

    def begin_nested(self) -> _Savepoint:
        return _Savepoint(self._connection.begin_nested())


class _Savepoint:
    """``await conn.begin_nested()`` and ``async with conn.begin_nested():``, as for async."""

    def __init__(self, transaction: NestedTransaction) -> None:
        self._transaction = transaction

    def __await__(self) -> Generator[Any, None, _Savepoint]:
        return self._started().__await__()

    async def _started(self) -> _Savepoint:
        return self

    async def commit(self) -> None:
        self._transaction.commit()

    async def rollback(self) -> None:
        self._transaction.rollback()

    async def __aenter__(self) -> _Savepoint:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._transaction.is_active:
            return
        if exc_type is None:
            self._transaction.commit()
        else:
            self._transaction.rollback()
