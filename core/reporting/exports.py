"""CSV exports for admins: members, ledger entries and redemptions of a range of days.

Days are the mall's business days (``[mall] timezone``), ``start`` to ``end`` inclusive, at most
:data:`MAX_DAYS`. Members are those who joined in the range (with their state now); ledger
entries and redemptions those made in it. Times are written in the mall's time zone with their
offset (ISO 8601).

An export never holds its CSV in memory (issue 17): rows are written as they are read, in
batches of :data:`BATCH`, inside one read transaction (one consistent snapshot). On PostgreSQL
the rows are streamed from a server-side cursor; on SQLite, whose reads run on a synchronous
connection, they are read in pages by id. Ledger entries and redemptions start from the first
id of the range, found through the ``created_at`` index, so the database does not walk the
primary key from the first transfer ever to reach the range. Formatting and compression run
in a worker thread, batch by batch, so the event loop keeps serving members meanwhile.

For the bot (:meth:`Exports.export`) each CSV goes into gzip-compressed temporary files, parts
of at most ``part_limit`` compressed bytes (default :data:`PART_LIMIT`, under Telegram's 50 MB
upload limit for bots); each part is a CSV of its own, with the UTF-8 byte order mark that
spreadsheet programs want and the header row. For operators (:meth:`Exports.write_csv`, the
``pointsmall export`` command) one CSV goes into one file, compressed or not.

A text that a member or admin wrote (a name, a title, a reason) and that a spreadsheet would
take for a formula (it starts with ``= + - @``, a tab or a carriage return) is written with a
leading ``'``, the usual guard against CSV formula injection.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import repeat
from pathlib import Path
from typing import IO, Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, bindparam, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from core.config import Config
from core.db.database import Database
from core.db.models import Account, Item, Member, Redemption, Task, TaskCompletion, Transfer
from core.db.prepared import Prepared
from core.errors import InvalidInput
from core.points import rules
from core.points.accounts import SystemAccount

MAX_DAYS = 366
BATCH = 5000
"""Rows read (and written) at a time."""
PART_LIMIT = 45 * 1024 * 1024
"""Compressed bytes in one part at most: Telegram takes documents of up to 50 MB from bots."""
_BOM = "\ufeff".encode()
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LEVEL = 6  # zlib's default: 9 takes twice the time for a file some 3% smaller
_CHUNK = 64 * 1024
# What closing a gzip part adds: the last deflate block and the 8-byte trailer.
_GZIP_TRAILER = 8 + 16

Kind = Literal["members", "ledger", "redemptions", "tasks"]
KINDS: tuple[Kind, ...] = ("members", "ledger", "redemptions", "tasks")

MEMBER_COLUMNS = (
    "member_id",
    "display_name",
    "username",
    "language",
    "tier",
    "balance",
    "frozen",
    "frozen_reason",
    "joined_at",
    "invited_by",
)
LEDGER_COLUMNS = (
    "transfer_id",
    "created_at",
    "debit_account",
    "credit_account",
    "amount",
    "kind",
    "reference",
    "key",
)
REDEMPTION_COLUMNS = (
    "redemption_id",
    "created_at",
    "member_id",
    "item_id",
    "item_title",
    "status",
    "points",
    "cash_minor",
    "flash_sale_id",
    "updated_at",
)
TASK_COLUMNS = (
    "completion_id",
    "completed_at",
    "member_id",
    "task",
    "task_title",
    "task_kind",
    "period",
    "points",
    "capped",
    "prize_redemption_id",
    "revoked_at",
    "points_taken_back",
    "unrecovered",
)
COLUMNS: dict[Kind, tuple[str, ...]] = {
    "members": MEMBER_COLUMNS,
    "ledger": LEDGER_COLUMNS,
    "redemptions": REDEMPTION_COLUMNS,
    "tasks": TASK_COLUMNS,
}


@dataclass(frozen=True)
class Part:
    """One gzip-compressed CSV file: where it is, its data rows, its size in bytes."""

    path: Path
    rows: int
    size: int


@dataclass(frozen=True)
class ExportFile:
    """One CSV of an export (``members``, ``ledger``, ``redemptions``) in one or more parts."""

    kind: Kind
    parts: tuple[Part, ...]

    @property
    def rows(self) -> int:
        return sum(part.rows for part in self.parts)

    @property
    def rows_per_part(self) -> tuple[int, ...]:
        return tuple(part.rows for part in self.parts)

    def discard(self) -> None:
        """Delete the parts' temporary files (those already gone are no matter)."""
        for part in self.parts:
            part.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Export:
    """The CSVs of one range, as gzip parts in temporary files: :meth:`discard` them."""

    start: date
    end: date
    members: ExportFile
    ledger: ExportFile
    redemptions: ExportFile
    tasks: ExportFile

    @property
    def files(self) -> tuple[ExportFile, ...]:
        return (self.members, self.ledger, self.redemptions, self.tasks)

    def discard(self) -> None:
        for file in self.files:
            file.discard()


def check_range(start: date, end: date, max_days: int | None = MAX_DAYS) -> None:
    """Refuse a range that is not two dates in order, at most ``max_days`` days long."""
    for value, field in ((start, "start"), (end, "end")):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise InvalidInput(f"{field} must be a date", field=field)
    if end < start:
        raise InvalidInput("end is before start", field="end")
    if max_days is not None and (end - start).days + 1 > max_days:
        raise InvalidInput(f"at most {max_days} days at a time", field="end", max_days=max_days)


_BOOK_NAMES: dict[int, str] = {book.value: book.code for book in SystemAccount}


def account_name(account_id: int) -> str:
    """A member's account as their id, the mall's books by name (``issuance``)."""
    if account_id > 0:
        return str(account_id)
    name = _BOOK_NAMES.get(account_id)
    return name if name is not None else SystemAccount(account_id).code  # else: ValueError


class Exports:
    """CSV exports of one range of days."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def export(
        self,
        start: date,
        end: date,
        *,
        part_limit: int | None = None,
        directory: str | Path | None = None,
    ) -> Export:
        """Members who joined, ledger entries, redemptions and tasks completed from ``start`` to
        ``end``, each
        in gzip parts of at most ``part_limit`` bytes (:data:`PART_LIMIT`): temporary files in
        ``directory`` (the system's by default) that the caller deletes: ``discard()``."""
        check_range(start, end)
        files: list[ExportFile] = []
        sink: _Parts | None = None
        try:
            async with self.db.read() as conn:
                for kind in KINDS:
                    sink = _Parts(kind, part_limit or PART_LIMIT, directory)
                    try:
                        await self._copy(conn, kind, start, end, sink)
                    finally:
                        await asyncio.to_thread(sink.close)
                    files.append(sink.result)
                    sink = None
        except BaseException:
            if sink is not None:
                sink.result.discard()
            for file in files:
                file.discard()
            raise
        return Export(start, end, *files)

    async def write_csv(
        self,
        kind: Kind,
        start: date,
        end: date,
        out: IO[bytes],
        *,
        compress: bool = False,
        max_days: int | None = MAX_DAYS,
    ) -> int:
        """Write one CSV of the range to ``out`` (gzip-compressed if ``compress``), streamed as
        :meth:`export` does; return its number of data rows. The command line allows any
        number of days (``max_days=None``): it has no upload limit to keep under."""
        check_range(start, end, max_days)
        if kind not in KINDS:
            raise InvalidInput(f"no export {kind!r}", field="kind")
        sink = _Single(out, compress)
        async with self.db.read() as conn:
            try:
                await self._copy(conn, kind, start, end, sink)
            finally:
                await asyncio.to_thread(sink.close)
        return sink.rows

    async def _copy(
        self, conn: AsyncConnection, kind: Kind, start: date, end: date, sink: _Sink
    ) -> None:
        tz = self.config.mall.timezone
        lower = rules.start_of_day(start, tz)
        upper = rules.start_of_day(end + timedelta(days=1), tz)
        source = _SOURCES[kind](lower, upper)
        await asyncio.to_thread(sink.begin, COLUMNS[kind])
        query = source.query.where(*source.window)
        if source.indexed:
            # The range's first and last ids, through the created_at index; then the rows
            # between them in order of id (ids need not follow created_at: both bounds stay).
            first, last = (
                await conn.execute(
                    select(func.min(source.key), func.max(source.key)).where(*source.window)
                )
            ).one()
            if first is None:
                return
            query = query.where(source.key >= first, source.key <= last)
        # One batch is written (in a thread) while the next is read: two batches held at most.
        writing: asyncio.Future[None] | None = None
        try:
            async for batch in self._batches(conn, query, source.key, source.positional):
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(
                    asyncio.to_thread(sink.write, batch, source.cells, tz)
                )
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                # Failed or cancelled while a batch is being written: let the thread finish
                # before the caller closes the file under it.
                await asyncio.wait([writing])

    async def _batches(
        self,
        conn: AsyncConnection,
        query: Select[*tuple[Any, ...]],
        key: _Key,
        positional: bool = False,
    ) -> AsyncIterator[Sequence[Any]]:
        """The rows of ``query`` in order of ``key``, :data:`BATCH` at a time."""
        query = query.order_by(key)
        if not self.db.is_sqlite:  # a server-side cursor
            result = await conn.stream(query.execution_options(yield_per=BATCH))
            async for partition in result.partitions(BATCH):
                yield partition
            return
        if positional:
            # Cells by position take plain tuples: each page straight from sqlite3's cursor
            # (core.db.prepared), without SQLAlchemy's rows, built twice on the SQLite reader
            # (ThreadConnection buffers a result by freezing it).
            pages = (
                Prepared(query.limit(BATCH)),
                Prepared(query.where(key > bindparam("after")).limit(BATCH)),
            )
            params: dict[str, int] = {}
            while True:
                found = await pages[1 if params else 0].rows(conn, params)
                if found:
                    yield found
                if len(found) < BATCH:
                    return
                params = {"after": int(found[-1][0])}
        after: int | None = None
        while True:
            page = query.limit(BATCH)
            if after is not None:
                page = page.where(key > after)
            rows = (await conn.execute(page)).all()
            if rows:
                yield rows
            if len(rows) < BATCH:
                return
            after = int(rows[-1][0])


# --- What is read ------------------------------------------------------------------------------

_Key = InstrumentedAttribute[int]
_Cells = Callable[[Any, ZoneInfo], Sequence[object]]


@dataclass(frozen=True)
class _Source:
    query: Select[*tuple[Any, ...]]
    key: _Key
    window: tuple[Any, ...]
    indexed: bool
    """Whether ``window`` is on an indexed column (find the first id through it)."""
    cells: _Cells
    positional: bool = False
    """Whether ``cells`` takes a row's values by position only (a plain tuple will do)."""


def _members(lower: datetime, upper: datetime) -> _Source:
    return _Source(
        select(
            Member.id,
            Member.display_name,
            Member.username,
            Member.language,
            Member.tier,
            Account.balance,
            Account.frozen,
            Account.frozen_reason,
            Member.joined_at,
            Member.invited_by,
        )
        .join(Account, Account.id == Member.id)
        .where(Member.deleted_at.is_(None)),
        Member.id,
        (Member.joined_at >= lower, Member.joined_at < upper),
        False,
        _member_cells,
    )


def _member_cells(row: Any, tz: ZoneInfo) -> Sequence[object]:
    return (
        row.id,
        _text(row.display_name),
        _text(row.username or ""),
        row.language,
        _text(row.tier),
        row.balance,
        "yes" if row.frozen else "no",
        _text(row.frozen_reason or ""),
        _moment(row.joined_at, tz),
        row.invited_by or "",
    )


def _ledger(lower: datetime, upper: datetime) -> _Source:
    # created_at as the driver gives it (SQLite's text, PostgreSQL's naive UTC datetime):
    # ``_instant`` reads it, without the per-row work of UTCDateTime's processing.
    return _Source(
        select(
            Transfer.id,
            type_coerce(Transfer.created_at, String()),
            Transfer.debit_account_id,
            Transfer.credit_account_id,
            Transfer.amount,
            Transfer.code,
            Transfer.reference,
            Transfer.key,
        ),
        Transfer.id,
        (Transfer.created_at >= lower, Transfer.created_at < upper),
        True,
        _ledger_cells,
        positional=True,
    )


def _ledger_cells(row: Any, tz: ZoneInfo) -> Sequence[object]:
    # The export's hot loop (issue 17: seconds per million rows): cells by position, names and
    # the formula guard inline; each cell as ``_moment``, ``account_name``, ``_text`` make it.
    debit, credit, reference, key = row[2], row[3], row[6], row[7]
    return (
        row[0],
        _instant(row[1], tz),
        str(debit) if debit > 0 else _BOOK_NAMES.get(debit) or account_name(debit),
        str(credit) if credit > 0 else _BOOK_NAMES.get(credit) or account_name(credit),
        row[4],
        row[5],
        "'" + reference if reference.startswith(_FORMULA_START) else reference,
        "'" + key if key.startswith(_FORMULA_START) else key,
    )


def _redemptions(lower: datetime, upper: datetime) -> _Source:
    return _Source(
        select(
            Redemption.id,
            Redemption.created_at,
            Redemption.member_id,
            Redemption.item_id,
            Item.title,
            Redemption.status,
            Redemption.points,
            Redemption.cash_minor,
            Redemption.flash_sale_id,
            Redemption.updated_at,
        ).join(Item, Item.id == Redemption.item_id),
        Redemption.id,
        (Redemption.created_at >= lower, Redemption.created_at < upper),
        True,
        _redemption_cells,
    )


def _redemption_cells(row: Any, tz: ZoneInfo) -> Sequence[object]:
    return (
        row.id,
        _moment(row.created_at, tz),
        row.member_id,
        row.item_id,
        _text(row.title),
        row.status,
        row.points,
        row.cash_minor,
        row.flash_sale_id or "",
        _moment(row.updated_at, tz),
    )


def _tasks(lower: datetime, upper: datetime) -> _Source:
    return _Source(
        select(
            TaskCompletion.id,
            TaskCompletion.completed_at,
            TaskCompletion.member_id,
            Task.code,
            Task.title,
            Task.kind,
            TaskCompletion.period,
            TaskCompletion.points,
            TaskCompletion.capped,
            TaskCompletion.redemption_id,
            TaskCompletion.revoked_at,
            TaskCompletion.points_taken,
            TaskCompletion.unrecovered,
        ).join(Task, Task.id == TaskCompletion.task_id),
        TaskCompletion.id,
        (TaskCompletion.completed_at >= lower, TaskCompletion.completed_at < upper),
        False,
        _task_cells,
    )


def _task_cells(row: Any, tz: ZoneInfo) -> Sequence[object]:
    return (
        row.id,
        _moment(row.completed_at, tz),
        row.member_id,
        row.code,
        _text(row.title),
        row.kind,
        row.period,
        row.points,
        row.capped,
        row.redemption_id or "",
        "" if row.revoked_at is None else _moment(row.revoked_at, tz),
        row.points_taken,
        row.unrecovered,
    )


_SOURCES: dict[Kind, Callable[[datetime, datetime], _Source]] = {
    "members": _members,
    "ledger": _ledger,
    "redemptions": _redemptions,
    "tasks": _tasks,
}


def _moment(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat(timespec="seconds")


_from_iso = datetime.fromisoformat


def _instant(value: str | datetime, tz: ZoneInfo) -> str:
    """What :func:`_moment` makes of an instant as the driver gives it: SQLite's text of naive
    UTC (``2026-11-04 16:43:12.000000``), PostgreSQL's naive UTC datetime, or an aware one.
    Twice as fast: ``isoformat()`` without ``timespec`` and the microseconds cut off after."""
    if isinstance(value, str):
        at = _from_iso(value + "+00:00").astimezone(tz)
    elif value.tzinfo is None:
        at = value.replace(tzinfo=UTC).astimezone(tz)
    else:
        at = value.astimezone(tz)
    text = at.isoformat()
    return text[:19] + text[26:] if at.microsecond else text  # drop ".ffffff"


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


# --- Where it is written (in a worker thread) --------------------------------------------------


class _Lines:
    """What :func:`csv.writer` writes to: it collects the lines (one ``write`` a row)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.write = self.lines.append


class _Sink:
    rows = 0

    def __init__(self) -> None:
        self._lines = _Lines()
        self._csv = csv.writer(self._lines, lineterminator="\r\n")
        self.header = b""

    def encode(self, cells: Sequence[object]) -> bytes:
        self._csv.writerow(cells)
        return self._lines.lines.pop().encode()

    def texts(self, rows: Sequence[Any], cells: _Cells, tz: ZoneInfo) -> list[str]:
        """The CSV lines of ``rows``, one ``writerows`` for the batch."""
        self._csv.writerows(map(cells, rows, repeat(tz)))
        found = self._lines.lines[:]
        self._lines.lines.clear()
        return found

    def begin(self, columns: Sequence[str]) -> None:
        self.header = self.encode(columns)
        self.started()

    def write(self, rows: Sequence[Any], cells: _Cells, tz: ZoneInfo) -> None:
        for line in self.texts(rows, cells, tz):
            self.put(line.encode())
            self.rows += 1

    def started(self) -> None:
        raise NotImplementedError

    def put(self, line: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _Single(_Sink):
    """One CSV into ``out``, gzip-compressed or not, without a byte order mark."""

    def __init__(self, out: IO[bytes], compress: bool) -> None:
        super().__init__()
        self._gzip = (
            gzip.GzipFile(fileobj=out, mode="wb", compresslevel=_LEVEL, mtime=0)
            if compress
            else None
        )
        self._out: IO[bytes] = self._gzip if self._gzip is not None else out  # type: ignore[assignment]

    def started(self) -> None:
        self._out.write(self.header)

    def write(self, rows: Sequence[Any], cells: _Cells, tz: ZoneInfo) -> None:
        self._out.write("".join(self.texts(rows, cells, tz)).encode())
        self.rows += len(rows)

    def put(self, line: bytes) -> None:
        self._out.write(line)

    def close(self) -> None:
        if self._gzip is not None:
            self._gzip.close()  # the trailer; ``out`` stays open


class _Counted:
    """A file that counts the bytes written to it."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()


class _Parts(_Sink):
    """A CSV into gzip parts of at most ``limit`` bytes, each with the BOM and the header.

    zlib keeps what it compressed until it has a block's worth, so the bytes written so far
    say little; what is still inside is at most the deflate bound of the bytes not yet out.
    When that sum may pass the limit, a sync flush gives the exact size, and the next part is
    begun only when the line really would not fit.
    """

    def __init__(self, kind: Kind, limit: int, directory: str | Path | None) -> None:
        super().__init__()
        self.kind = kind
        self.limit = limit
        self.directory = directory
        self._done: list[Part] = []
        self._file: IO[bytes] | None = None
        self._path: Path | None = None
        self._counted: _Counted | None = None
        self._gzip: gzip.GzipFile | None = None
        self._pending = 0  # uncompressed bytes since zlib's last flush (buffered ones too)
        self._buffer: list[bytes] = []  # lines not yet given to zlib: one call per 64 KiB
        self._buffered = 0
        self._part_rows = 0

    @property
    def result(self) -> ExportFile:
        parts = list(self._done)
        if self._path is not None:
            parts.append(Part(self._path, self._part_rows, 0))
        return ExportFile(self.kind, tuple(parts))

    def started(self) -> None:
        self._open()

    def _open(self) -> None:
        handle, name = tempfile.mkstemp(
            prefix=f"pointsmall-{self.kind}-", suffix=".csv.gz", dir=self.directory
        )
        self._path = Path(name)
        self._file = os.fdopen(handle, "wb")
        self._counted = _Counted(self._file)
        self._gzip = gzip.GzipFile(fileobj=self._counted, mode="wb", compresslevel=_LEVEL, mtime=0)
        self._pending = 0
        self._part_rows = 0
        opening = _BOM + self.header
        if not self._fits(len(opening)):
            raise ValueError(f"a part of {self.limit} bytes cannot hold the header")
        self._put(opening)

    def put(self, line: bytes) -> None:
        if not self._fits(len(line)):
            if self._part_rows == 0:
                raise ValueError(f"a part of {self.limit} bytes cannot hold one row")
            self._finish()
            self._open()
            if not self._fits(len(line)):
                raise ValueError(f"a part of {self.limit} bytes cannot hold one row")
        self._put(line)
        self._part_rows += 1

    def _put(self, data: bytes) -> None:
        self._buffer.append(data)
        self._buffered += len(data)
        self._pending += len(data)
        if self._buffered >= _CHUNK:
            self._drain()

    def _drain(self) -> None:
        assert self._gzip is not None
        if self._buffer:
            self._gzip.write(b"".join(self._buffer))
            self._buffer.clear()
            self._buffered = 0

    def _fits(self, size: int) -> bool:
        assert self._gzip is not None
        assert self._counted is not None
        if self._counted.size + _bound(self._pending + size) + _GZIP_TRAILER <= self.limit:
            return True
        if self._pending:
            self._drain()
            self._gzip.flush()  # Z_SYNC_FLUSH: what is written is now all there is
            self._pending = 0
        return self._counted.size + _bound(size) + _GZIP_TRAILER <= self.limit

    def _finish(self) -> None:
        assert self._gzip is not None
        assert self._file is not None
        assert self._path is not None
        assert self._counted is not None
        self._drain()
        self._gzip.close()
        self._file.close()
        self._done.append(Part(self._path, self._part_rows, self._counted.size))
        self._gzip = self._file = self._path = self._counted = None

    def close(self) -> None:
        if self._gzip is not None:
            self._finish()


def _bound(size: int) -> int:
    """The most bytes deflate can make of ``size`` bytes (zlib's deflateBound, and a flush)."""
    return size + (size >> 12) + (size >> 14) + (size >> 25) + 13 + 5 + 6
