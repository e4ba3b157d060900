"""The engine and its transactions, with what each database needs to stay correct and fast.

SQLite: WAL, a busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction, so a
transaction that reads first cannot fail with "database is locked" when another writer commits.
Writes in this process also wait for each other here, so they wait in order instead of
polling SQLite's busy handler: the idempotent use cases (``transact``) run whole on one writer
thread with a synchronous connection, several queued ones committed together
(``core.db.writer``); a ``write()`` block waits for them, and they for it, on an asyncio lock.

PostgreSQL: asyncpg, READ COMMITTED; correctness comes from row locks taken in a fixed order
and conditional updates.

Failing clearly: a database that cannot be reached or opened is a :class:`DatabaseUnreachable`
with a one-line message naming the host and port (or the file), see :meth:`Database.explain`;
a SQLite file deleted or replaced under a running process is a :class:`StoreLost` on the next
transaction, and sets :attr:`Database.lost`, so that nothing is written into a file that no
longer exists (and a restart does not greet every member as new on an empty one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.db.writer import SqliteWriter, ThreadConnection

T = TypeVar("T")

log = logging.getLogger(__name__)

_WRITE = "pointsmall_write"
POSTGRES_PORT = 5432
# PostgreSQL refusals worth waiting out (SQLSTATE): connection failures (class 08), "the
# database system is starting up", "too many connections".
_TRANSIENT_STATES = ("08", "57P03", "53300")
# What SQLite says when a file cannot be used as the store at all.
_SQLITE_CANNOT_OPEN = (
    "unable to open database file",
    "file is not a database",
    "database disk image is malformed",
    "readonly database",
    "disk I/O error",
)


class DatabaseUnreachable(Exception):
    """The database cannot be reached or opened. ``str()`` is one line an operator can act on.

    ``transient`` says whether waiting may help (connection refused, unknown host, a server
    starting up) or not (no such database, a refused password, a file that is no database).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StoreLost(Exception):
    """The SQLite file this process opened was deleted or replaced under it (one line)."""


def sqlite_path(url: str | URL) -> Path | None:
    """The file of a ``sqlite`` URL (absolute); None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(os.path.abspath(database))


def describe(url: str | URL) -> str:
    """Where ``url`` points, without credentials: ``host:port/name`` or the file's path."""
    parsed = make_url(url) if isinstance(url, str) else url
    path = sqlite_path(parsed)
    if path is not None:
        return str(path)
    if parsed.get_backend_name() == "sqlite":
        return "an in-memory SQLite database"
    return f"{_host_port(parsed)}/{parsed.database or ''}"


def _host_port(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or POSTGRES_PORT}"


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
        # Use cases queued on or running on the writer thread; a ``write()`` block waits until
        # there are none, and new ones wait behind it (see :meth:`transact`).
        self._on_writer = 0
        self._writer_quiet: asyncio.Future[None] | None = None
        self._reader = reader
        self.path = sqlite_path(engine.url)
        """The SQLite file, absolute; None on PostgreSQL (and in-memory SQLite)."""
        self.lost = asyncio.Event()
        """Set once the SQLite file is found deleted or replaced: ``await db.lost.wait()``."""
        self.lost_reason: str | None = None
        """Why :attr:`lost` was set, in one line."""
        self._identity: tuple[int, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if self.path is not None:
            self._identity = _identity(self.path)
            for sync_engine in self.sync_engines:
                self._watch(sync_engine)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False, pool_size: int = 10) -> Database:
        """Build the engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if parsed.get_backend_name() == "sqlite":
            path = sqlite_path(parsed)
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise DatabaseUnreachable(
                        f"cannot create the directory {path.parent} for the database file"
                        f" ({exc.strerror or exc})"
                    ) from None
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
        self._guard()
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            await self._writer_idle()
            async with self.engine.connect() as conn:
                conn.sync_connection.info[_WRITE] = True  # type: ignore[union-attr]
                try:
                    async with conn.begin():
                        yield conn
                finally:
                    # A cancellation inside the driver discards the connection; touching it
                    # again would reconnect outside the greenlet (MissingGreenlet). Its info
                    # goes with it.
                    if not conn.invalidated:
                        conn.sync_connection.info.pop(_WRITE, None)  # type: ignore[union-attr]

    async def _writer_idle(self) -> None:
        """Wait until the writer thread has none of this process's use cases (the write lock is
        held, so no new ones are queued meanwhile): SQLite would make one of the two
        connections poll its busy handler for the other's transaction."""
        while self._on_writer:
            self._writer_quiet = asyncio.get_running_loop().create_future()
            await self._writer_quiet

    def _left_writer(self) -> None:
        self._on_writer -= 1
        quiet = self._writer_quiet
        if not self._on_writer and quiet is not None and not quiet.done():
            quiet.set_result(None)

    @property
    def writer(self) -> SqliteWriter | None:
        """SQLite's writer thread (None on PostgreSQL and in-memory SQLite)."""
        return self._writer

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
        hand-off per use case instead of several per statement, and the use cases queued
        together committed in one transaction, each in a savepoint of its own (group commit).
        """
        self._guard()
        if self._writer is None or self._write_lock is None:
            async with self.write() as conn:
                return await body(conn)
        lock = self._write_lock
        if lock.locked():  # behind the write() blocks that came first
            async with lock:
                pass
        # The writer runs this process's use cases one after another, several in one
        # transaction: they do not wait for each other here, only write() blocks wait for them.
        self._on_writer += 1
        return await self._writer.run(body, _mark_write, self._left_writer)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction with a consistent snapshot.

        On a SQLite file the statements run on a synchronous connection in the caller's
        thread: a screen's few indexed reads take less time than the thread hops aiosqlite
        makes for each statement (measured in docs/performance.md, "The member bot"). Each
        read gets a connection of its own, so reads that interleave do not share a snapshot.
        """
        self._guard()
        if self._reader is None:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        with self._reader.connect() as connection, connection.begin():
            yield cast(AsyncConnection, ThreadConnection(connection))

    # --- Failing clearly ---------------------------------------------------------------------

    async def ping(self) -> None:
        """Open a connection and read; :class:`DatabaseUnreachable` if that fails."""
        # SQLite reads a file's header only when the schema is first read.
        probe = "SELECT count(*) FROM sqlite_master" if self.is_sqlite else "SELECT 1"
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text(probe))
        except Exception as exc:
            problem = self.explain(exc)
            if problem is None:
                raise
            raise problem from None

    def explain(self, exc: BaseException) -> DatabaseUnreachable | None:
        """``exc`` as a one-line :class:`DatabaseUnreachable` if it says the database cannot be
        reached or opened; None for any other error (a bug to show with its traceback)."""
        url = self.engine.url
        for cause in _causes(exc):
            if isinstance(cause, DatabaseUnreachable):
                return cause
            if self.path is not None:
                if isinstance(cause, OSError) or (
                    isinstance(cause, sqlite3.DatabaseError)
                    and any(sign in str(cause) for sign in _SQLITE_CANNOT_OPEN)
                ):
                    return DatabaseUnreachable(
                        f"cannot open the database file {self.path} ({_first_line(cause)})"
                    )
                continue
            if self.is_sqlite:
                continue
            where = _host_port(url)
            if isinstance(cause, OSError):
                return DatabaseUnreachable(
                    f"cannot reach the database at {where} ({_network_reason(cause)})",
                    transient=True,
                )
            state = getattr(cause, "sqlstate", None)
            if not isinstance(state, str):
                continue
            reason = _first_line(cause)
            if state == "3D000":
                return DatabaseUnreachable(
                    f"the PostgreSQL server at {where} has no database {url.database!r}"
                    f" (create it with: createdb -h {url.host or 'localhost'}"
                    f" -p {url.port or POSTGRES_PORT}"
                    f" -U {url.username or 'postgres'} {url.database})"
                )
            if state.startswith("28"):
                return DatabaseUnreachable(
                    f"the PostgreSQL server at {where} refused user"
                    f" {url.username or '(default)'!r} ({reason})"
                )
            if state.startswith(_TRANSIENT_STATES):
                return DatabaseUnreachable(
                    f"cannot use the database at {where} yet ({reason})", transient=True
                )
        return None

    def check_store(self) -> None:
        """Raise :class:`StoreLost` (and set :attr:`lost`) if the SQLite file this database
        opened is gone or another file took its place; one ``stat`` call, nothing on
        PostgreSQL."""
        if self.path is None:
            return
        if self.lost_reason is not None:
            self._lose(self.lost_reason)
        identity = _identity(self.path)
        if self._identity is None:
            self._identity = identity  # first use of a new file
        elif identity is None:
            self._lose(
                f"the database file {self.path} was deleted while this process had it open;"
                " stopping before anything is written into a file that no longer exists"
            )
        elif identity != self._identity:
            self._lose(
                f"the database file {self.path} was replaced by another file while this process"
                " had it open; stopping (restart to use the new file)"
            )

    def _guard(self) -> None:
        """:meth:`check_store`, from a transaction on the loop that awaits :attr:`lost`."""
        if self.path is None:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.check_store()

    def _lose(self, reason: str) -> None:
        if self.lost_reason is None:
            self.lost_reason = reason
            log.error("%s", reason)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if _running_loop() is loop:
                self.lost.set()
            else:  # a writer or driver thread
                loop.call_soon_threadsafe(self.lost.set)
        raise StoreLost(reason)

    def _watch(self, sync_engine: Engine) -> None:
        """Never let a new connection create an empty file where the store used to be."""

        @event.listens_for(sync_engine, "do_connect")
        def _before_connect(*_args: Any) -> None:
            if self._identity is not None:
                self.check_store()

        @event.listens_for(sync_engine, "connect")
        def _after_connect(*_args: Any) -> None:
            if self._identity is None and self.path is not None:
                self._identity = _identity(self.path)

    async def dispose(self) -> None:
        if self._writer is not None:
            await asyncio.to_thread(self._writer.close)
        if self._reader is not None:
            self._reader.dispose()
        await self.engine.dispose()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc``, what the driver raised under it (``orig``), and its causes, nearest first."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        orig = getattr(current, "orig", None)
        pending += [orig if isinstance(orig, BaseException) else None]
        pending += [current.__cause__, current.__context__]
    return found


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _network_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return exc.strerror or _first_line(exc)


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
