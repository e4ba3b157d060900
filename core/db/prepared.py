"""The write path's hot statements, compiled once per dialect and run at the driver.

Why: executing a prebuilt Core statement still costs SQLAlchemy a cache-key lookup, an
execution context, parameter processing and a result object on every call. Measured on the
2-core machine (issue 14): a one-row locked read costs 31 us of CPU through ``execute`` on the
SQLite writer's connection against 2 us through sqlite3, and 153 us through ``AsyncConnection``
on asyncpg against 41 us through asyncpg's prepared statement. A check-in runs about fifteen.

What stays as it was:

- Each statement is still written once, as a Core construct, beside the code that runs it.
  It is compiled by SQLAlchemy's compiler for the connection's dialect, exactly as
  ``conn.execute`` would compile it (the same column keys), and its values go through the same
  bind and result processors (dates, UTC instants, booleans). The SQL text and the values that
  reach the driver are the same.
- Errors go through SQLAlchemy's own handling: an ``IntegrityError`` is an ``IntegrityError``,
  a lost connection is invalidated.
- On asyncpg the statement is prepared and cached by SQLAlchemy's adapter, in the transaction
  the adapter began: the two paths share both.

When ``conn.execute`` runs it instead: whenever something listens to the statements a
connection sends (``before_cursor_execute``: the query-plan tests, the benches' round-trip
counts) or echo is on, so that what they see is what runs; when the statement needs what only
an execution context does (Python-side column defaults, expanding ``IN`` parameters); and on
connections this does not know (aiosqlite's, used outside the writer thread).
"""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import CursorResult, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import greenlet_spawn

from core.db.writer import ThreadConnection

Row = Sequence[Any]
Params = Mapping[str, Any]
_STATUS_COUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


class Prepared:
    """One statement, compiled on first use for each dialect and set of parameter names."""

    __slots__ = ("_compiled", "statement")

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[type[Dialect], tuple[str, ...]], _Compiled | None] = {}

    async def rows(self, conn: AsyncConnection, params: Params | None = None) -> list[Row]:
        """Every row, each a tuple in the statement's column order."""
        return (await self._execute(conn, params or {}))[0]

    async def first(self, conn: AsyncConnection, params: Params | None = None) -> Row | None:
        """The first row, or None."""
        rows = (await self._execute(conn, params or {}))[0]
        return rows[0] if rows else None

    async def named(self, conn: AsyncConnection, params: Params | None = None) -> Any | None:
        """The first row with its columns as attributes (``row.status``), or None."""
        rows, _count, compiled = await self._run(conn, params or {})
        if not rows:
            return None
        return compiled.named(rows[0]) if compiled is not None else rows[0]

    async def scalar(self, conn: AsyncConnection, params: Params | None = None) -> Any:
        """The first column of the first row, or None when there is no row."""
        rows = (await self._execute(conn, params or {}))[0]
        return rows[0][0] if rows else None

    async def run(self, conn: AsyncConnection, params: Params | None = None) -> int:
        """Execute; the number of rows it changed (or returned)."""
        return (await self._execute(conn, params or {}))[1]

    async def _execute(self, conn: AsyncConnection, params: Params) -> tuple[list[Row], int]:
        rows, count, _compiled = await self._run(conn, params)
        return rows, count

    async def _run(
        self, conn: AsyncConnection, params: Params
    ) -> tuple[list[Row], int, _Compiled | None]:
        """Rows, row count, and the compiled form when the driver ran it (None: SQLAlchemy
        did, and its rows are SQLAlchemy's)."""
        sync: Connection = conn.sync_connection  # type: ignore[assignment]
        compiled = None if _observed(sync) else self._compiled_for(sync.dialect, params)
        if compiled is not None:
            if isinstance(conn, ThreadConnection):
                return (*compiled.run_sqlite(sync, params), compiled)
            if compiled.asyncpg:
                return (*await compiled.run_asyncpg(sync, params), compiled)
        result = await conn.execute(self.statement, dict(params))
        if isinstance(result, CursorResult) and not result.returns_rows:
            return [], result.rowcount, None
        rows: list[Row] = list(result.all())  # buffered, as on the driver
        return rows, len(rows), None

    def _compiled_for(self, dialect: Dialect, params: Params) -> _Compiled | None:
        key = (type(dialect), tuple(params))
        try:
            return self._compiled[key]
        except KeyError:
            pass
        compiled = _Compiled.build(self.statement, dialect, sorted(params))
        self._compiled[key] = compiled
        return compiled


def _observed(sync: Connection) -> bool:
    """Whether anything watches this connection's statements (then SQLAlchemy runs them)."""
    dispatch = sync.dispatch
    return bool(sync._echo or dispatch.before_cursor_execute or dispatch.after_cursor_execute)


class _Compiled:
    """A statement's SQL for one dialect, its positional parameters and value converters."""

    __slots__ = (
        "_named",
        "asyncpg",
        "binds",
        "dialect",
        "keys",
        "processors",
        "result_types",
        "sql",
    )

    def __init__(
        self,
        sql: str,
        binds: list[tuple[str, Any, Callable[[Any], Any] | None]],
        result_types: list[Any],
        keys: list[str],
        dialect: Dialect,
    ) -> None:
        self.sql = sql
        self.binds = binds
        self.result_types = result_types
        self.keys = keys
        self._named: Callable[..., Any] | None = None
        self.processors: list[tuple[int, Callable[[Any], Any]]] | None = None
        self.dialect = dialect
        self.asyncpg = dialect.driver == "asyncpg"

    @classmethod
    def build(cls, statement: Executable, dialect: Dialect, keys: list[str]) -> _Compiled | None:
        """Compile as ``Connection.execute`` would; None if only an execution context can run it."""
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        assert isinstance(compiled, SQLCompiler)
        if (
            not compiled.positional
            or compiled.insert_prefetch
            or compiled.update_prefetch
            or compiled.literal_execute_params
            or compiled.post_compile_params
            or compiled.schema_translate_map
        ):
            return None
        if dialect.driver not in ("pysqlite", "asyncpg"):
            return None
        defaults = compiled.construct_params(_check=False, escape_names=False)
        processors: Mapping[str, Any] = compiled._bind_processors
        binds = [
            (name, defaults.get(name), processors.get(name)) for name in compiled.positiontup or ()
        ]
        result_types = [column.type for column in compiled._result_columns]
        keys = [column.keyname for column in compiled._result_columns]
        return cls(compiled.string, binds, result_types, keys, dialect)

    def named(self, row: Row) -> Any:
        """``row`` with its columns as attributes, as SQLAlchemy's rows have them."""
        if self._named is None:
            self._named = namedtuple("PreparedRow", self.keys, rename=True)  # type: ignore[misc]
        return self._named(*row)

    def values(self, params: Params) -> list[Any]:
        """The positional values for the driver, converted as SQLAlchemy converts them."""
        out = []
        for name, default, process in self.binds:
            value = params.get(name, default)
            out.append(process(value) if process is not None and value is not None else value)
        return out

    def _converted(self, rows: list[Any], coltypes: Sequence[Any]) -> list[Row]:
        if self.processors is None:
            found = []
            for index, type_ in enumerate(self.result_types):
                coltype = coltypes[index] if index < len(coltypes) else None
                process = type_._cached_result_processor(self.dialect, coltype)
                if process is not None:
                    found.append((index, process))
            self.processors = found
        if not self.processors:
            return rows
        converted: list[Row] = []
        for row in rows:
            values = list(row)
            for index, process in self.processors:
                values[index] = process(values[index])
            converted.append(tuple(values))
        return converted

    def run_sqlite(self, sync: Connection, params: Params) -> tuple[list[Row], int]:
        values = self.values(params)
        try:
            cursor = sync.connection.driver_connection.execute(self.sql, values)  # type: ignore[union-attr]
            rows = cursor.fetchall()
            count = cursor.rowcount
            description = cursor.description
        except BaseException as error:
            sync._handle_dbapi_exception(error, self.sql, values, None, None)
        if description is None:
            return [], count
        return self._converted(rows, [None] * len(description)), len(rows)

    async def run_asyncpg(self, sync: Connection, params: Params) -> tuple[list[Row], int]:
        values = self.values(params)
        adapted: Any = sync.connection.dbapi_connection
        dialect: Any = self.dialect
        try:
            try:
                async with adapted._execute_mutex:
                    if adapted._transaction is None:
                        await adapted._start_transaction()
                    prepared, attributes = await adapted._prepare(
                        self.sql, dialect._invalidate_schema_cache_asof
                    )
                    rows = await prepared.fetch(*values)
                    status = prepared.get_statusmsg()
            except Exception as error:
                adapted._handle_exception(error)  # raises it as the adapter's DBAPI error
        except BaseException as error:
            dbapi = dialect.dbapi
            if isinstance(error, (dbapi.InvalidCachedStatementError, dbapi.InternalServerError)):
                dialect._invalidate_schema_cache()
            await greenlet_spawn(sync._handle_dbapi_exception, error, self.sql, values, None, None)
            raise  # unreachable: the handler raises
        if not attributes:
            found = _STATUS_COUNT.match(status or "")
            return [], int(found.group(1)) if found else -1
        converted = self._converted(rows, [attribute.type.oid for attribute in attributes])
        return converted, len(converted)
