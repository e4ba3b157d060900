"""SQLite's single writer: a thread of its own that runs the write use cases, in batches.

Through async SQLAlchemy and aiosqlite every statement crosses threads several times; the
profile in docs/performance.md puts that at about ten times the cost of the statement itself.
Here a use case crosses once: its coroutine runs on this thread's event loop, against a
synchronous connection, and every ``await conn.execute(...)`` returns at once. SQLite takes
one writer at a time anyway, so nothing is lost by running them one after another here.

Group commit (DESIGN.md, "Throughput comes from the write path"): callers queue their use
cases; the writer takes whatever is queued (up to :data:`BATCH`), runs each in a savepoint of
one ``BEGIN IMMEDIATE`` transaction and commits once. A use case that raises has its savepoint
rolled back and its caller gets the exception; the others are not touched. Nobody is told
"done" before the commit: if it fails, every caller of the batch gets the error and nothing of
the batch is written. A lone use case does not wait for company: the writer wakes as soon as
something is queued, and what arrives while it works makes the next batch. One wake of the
writer per batch, one wake of the caller's loop per batch to hand the results back.

Use cases are written once, against ``AsyncConnection``; :class:`ThreadConnection` offers
the part of it they use (``execute``, ``begin_nested``, ``dialect``, ``sync_connection``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, NestedTransaction, create_engine
from sqlalchemy.engine import URL, Result
from sqlalchemy.ext.asyncio import AsyncConnection

T = TypeVar("T")

BATCH = 64
"""At most this many use cases in one transaction (a bound on what one commit can undo)."""

# The savepoint each use case of a batch runs in. Use cases nest their own inside it
# (``core.points.idempotency``'s, SQLAlchemy's ``begin_nested``); SQLite and PostgreSQL both allow a
# name to be reused by a nested savepoint, and ROLLBACK TO names the innermost.
_SAVEPOINT = "SAVEPOINT pointsmall_batch"
_ROLLBACK_TO = "ROLLBACK TO SAVEPOINT pointsmall_batch"
_RELEASE = "RELEASE SAVEPOINT pointsmall_batch"


class _Job:
    """One queued use case: its body, and where and how to answer its caller."""

    __slots__ = ("body", "finished", "future", "loop")

    def __init__(
        self,
        body: Callable[[AsyncConnection], Awaitable[Any]],
        future: asyncio.Future[Any],
        loop: asyncio.AbstractEventLoop,
        finished: Callable[[], None] | None,
    ) -> None:
        self.body = body
        self.future = future
        self.loop = loop
        self.finished = finished


# A job's outcome: (job, True, result) or (job, False, exception).
_Outcome = tuple[_Job, bool, Any]


class WriterClosed(RuntimeError):
    """The database was disposed of while a use case was still queued for its writer."""


class SqliteWriter:
    """One thread, one connection; the queued use cases committed a batch at a time."""

    def __init__(self, url: URL, configure: Callable[[Engine], None]) -> None:
        self._engine = create_engine(url.set(drivername="sqlite"), connect_args={"timeout": 30})
        configure(self._engine)
        self._connection: Connection | None = None
        self._facade: ThreadConnection | None = None
        self._mark_write: Callable[[Any], None] | None = None
        self._queue: deque[_Job] = deque()
        self._mutex = threading.Lock()  # the queue and whether the writer must be woken
        self._idle = True  # nothing scheduled on the writer: the next caller wakes it
        self._closed = False
        self.batches = 0
        """Transactions committed or tried (with :attr:`jobs`, the mean batch: benches)."""
        self.jobs = 0
        """Use cases run."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="pointsmall-sqlite-writer", daemon=True
        )
        self._thread.start()

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def queued(self) -> int:
        """Use cases waiting for the writer (not counting the batch it runs)."""
        return len(self._queue)

    async def run(
        self,
        body: Callable[[AsyncConnection], Awaitable[T]],
        mark_write: Callable[[Any], None],
        finished: Callable[[], None] | None = None,
    ) -> T:
        """Run ``body`` in a write transaction on the writer thread; its result once committed.

        ``body`` runs in a savepoint of the batch's transaction: if it raises, what it wrote is
        rolled back and the exception is raised here. ``finished`` is called on this loop once
        the writer is done with the use case, whether it ran or, its caller cancelled while
        it waited, never will (a caller cancelled while it runs is told ``CancelledError``
        and the use case goes on, as before group commit).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = _Job(body, future, loop, finished)
        with self._mutex:
            if self._closed:
                if finished is not None:
                    finished()
                raise WriterClosed("the database is closed")
            self._mark_write = mark_write
            self._queue.append(job)
            wake = self._idle
            self._idle = False
        if wake:
            self._loop.call_soon_threadsafe(self._wake)
        return await future

    # --- On the writer thread -----------------------------------------------------------------

    def _wake(self) -> None:
        self._loop.create_task(self._drain())

    async def _drain(self) -> None:
        """Batch after batch, until the queue is empty; then the next caller wakes us."""
        while True:
            with self._mutex:
                if not self._queue:
                    self._idle = True
                    return
                count = min(len(self._queue), BATCH)
                jobs = [self._queue.popleft() for _ in range(count)]
            try:
                outcomes = await self._batch(jobs)
            except BaseException as exc:
                # BEGIN refused (a database locked for longer than the busy timeout, a file
                # lost), a savepoint refused: nothing of the batch is written; its callers are
                # told why and the writer goes on with the next.
                self._reset()
                outcomes = [(job, False, exc) for job in jobs]
            _answer(outcomes)

    def _reset(self) -> None:
        """No transaction left open on the connection, whatever state a failure left it in."""
        connection = self._connection
        if connection is None:
            return
        with contextlib.suppress(Exception):
            connection.rollback()
        with contextlib.suppress(Exception):
            _rollback_driver(connection)

    def _connect(self) -> tuple[Connection, ThreadConnection]:
        if self._connection is None or self._facade is None:  # sqlite3 connections: per thread
            self._connection = self._engine.connect()
            if self._mark_write is not None:
                self._mark_write(self._connection)
            self._facade = ThreadConnection(self._connection)
        return self._connection, self._facade

    async def _batch(self, jobs: list[_Job]) -> list[_Outcome]:
        """Run ``jobs`` in one transaction; each one's outcome, known only after the commit."""
        outcomes: list[_Outcome] = []
        live: list[_Job] = []
        for job in jobs:
            if job.future.cancelled():  # its caller gave up before it started: it never runs
                outcomes.append((job, False, None))
            else:
                live.append(job)
        if not live:
            return outcomes
        self.batches += 1
        self.jobs += len(live)
        connection, facade = self._connect()
        transaction = connection.begin()
        try:
            return await self._run(connection, facade, transaction, live, outcomes)
        except BaseException:
            _rollback(connection, transaction)
            raise

    async def _run(
        self,
        connection: Connection,
        facade: ThreadConnection,
        transaction: Any,
        live: list[_Job],
        outcomes: list[_Outcome],
    ) -> list[_Outcome]:
        """The batch's use cases in ``transaction``, then its commit."""
        alone = len(live) == 1  # no savepoint: if it raises, the transaction is rolled back
        done: list[_Outcome] = []
        for index, job in enumerate(live):
            if not alone and job.future.cancelled():
                outcomes.append((job, False, None))
                continue
            if not alone:
                _driver(connection, _SAVEPOINT)
            try:
                result = await job.body(cast(AsyncConnection, facade))
            except BaseException as exc:
                if alone:
                    _rollback(connection, transaction)
                    return [*outcomes, (job, False, exc)]
                try:
                    _forget_nested(connection)
                    _driver(connection, _ROLLBACK_TO)
                    _driver(connection, _RELEASE)
                except BaseException as broken:
                    # The transaction itself is gone (SQLite rolls back the whole of it on some
                    # errors): nothing of the batch so far is written. Those before this one get
                    # that error; those after go back to the head of the queue for another try.
                    _rollback(connection, transaction)
                    failed = [(ran, False, broken) for ran, _ok, _value in done]
                    with self._mutex:
                        self._queue.extendleft(reversed(live[index + 1 :]))
                    return [*outcomes, *failed, (job, False, exc)]
                done.append((job, False, exc))
                continue
            if not alone:
                _driver(connection, _RELEASE)
            done.append((job, True, result))
        try:
            transaction.commit()
        except BaseException as exc:
            _rollback(connection, transaction)
            return [*outcomes, *((job, False, exc) for job, _ok, _value in done)]
        return [*outcomes, *done]

    def close(self) -> None:
        """Close the connection on its own thread and stop the thread; fail what is queued."""

        async def close() -> None:
            if self._connection is not None:
                self._connection.close()
            self._engine.dispose()

        with self._mutex:
            self._closed = True
            left = list(self._queue)
            self._queue.clear()
        _answer([(job, False, WriterClosed("the database was closed")) for job in left])
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()


def _driver(connection: Connection, sql: str) -> None:
    """A statement with no parameters and no rows, at the driver; through SQLAlchemy when
    something watches the connection's statements (the benches' round-trip counts)."""
    dispatch = connection.dispatch
    if connection._echo or dispatch.before_cursor_execute or dispatch.after_cursor_execute:
        connection.exec_driver_sql(sql)
        return
    try:
        connection.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    except BaseException as error:
        connection._handle_dbapi_exception(error, sql, (), None, None)


def _forget_nested(connection: Connection) -> None:
    """Roll back the savepoints SQLAlchemy still holds open for a use case that raised."""
    nested = connection.get_nested_transaction()
    while nested is not None and nested.is_active:
        nested.rollback()
        nested = connection.get_nested_transaction()


def _rollback(connection: Connection, transaction: Any) -> None:
    """Roll the batch's transaction back, also when SQLAlchemy already let go of it (a
    failed COMMIT leaves SQLite's transaction open: a deferred constraint, a busy database)."""
    with contextlib.suppress(Exception):  # the connection is gone: nothing left to undo
        transaction.rollback()  # also closes one that a failed COMMIT left inactive
    with contextlib.suppress(Exception):  # the connection is gone: SQLite rolled back
        _rollback_driver(connection)


def _rollback_driver(connection: Connection) -> None:
    if connection.invalidated:
        return
    driver: Any = connection.connection.driver_connection
    if driver.in_transaction:
        driver.rollback()


def _answer(outcomes: list[_Outcome]) -> None:
    """Hand the outcomes back: one wake of each caller's loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_resolve, answers)


def _resolve(outcomes: list[_Outcome]) -> None:
    """On the caller's loop: each caller's result or exception."""
    for job, ok, value in outcomes:
        future = job.future
        if not future.done():
            if ok:
                future.set_result(value)
            elif value is None or isinstance(value, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(value)
        if job.finished is not None:
            job.finished()


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
