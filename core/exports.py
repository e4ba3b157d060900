"""CSV exports for admins: members, ledger entries and redemptions of a range of days.

Days are the mall's business days (``[mall] timezone``), ``start`` to ``end`` inclusive, at most
:data:`MAX_DAYS`. Members are those who joined in the range (with their state now); ledger
entries and redemptions those made in it. Times are written in the mall's time zone with their
offset (ISO 8601). The rows are read in pages by id inside one read transaction (one consistent
snapshot, bounded memory per page) and written straight into the CSV text.

A text that a member or admin wrote (a name, a title, a reason) and that a spreadsheet would
take for a formula (it starts with ``= + - @``, a tab or a carriage return) is written with a
leading ``'``, the usual guard against CSV formula injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

from core import rules
from core.accounts import SystemAccount
from core.config import Config
from core.db.database import Database
from core.db.models import Account, Item, Member, Redemption, Transfer
from core.errors import InvalidInput

MAX_DAYS = 366
_Key = InstrumentedAttribute[int]
PAGE = 1000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

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


@dataclass(frozen=True)
class Export:
    """The three CSV documents of one range, and how many rows each holds."""

    start: date
    end: date
    members_csv: str
    members: int
    ledger_csv: str
    transfers: int
    redemptions_csv: str
    redemptions: int


def check_range(start: date, end: date) -> None:
    """Refuse a range that is not two dates in order, at most :data:`MAX_DAYS` days long."""
    for value, field in ((start, "start"), (end, "end")):
        if not isinstance(value, date) or isinstance(value, datetime):
            raise InvalidInput(f"{field} must be a date", field=field)
    if end < start:
        raise InvalidInput("end is before start", field="end")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at a time", field="end", max_days=MAX_DAYS)


def account_name(account_id: int) -> str:
    """A member's account as their id, the mall's books by name (``issuance``)."""
    if account_id > 0:
        return str(account_id)
    return SystemAccount(account_id).code


class Exports:
    """CSV exports of one range of days."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def export(self, start: date, end: date) -> Export:
        """Members who joined, ledger entries and redemptions from ``start`` to ``end``."""
        check_range(start, end)
        tz = self.config.mall.timezone
        lower = rules.start_of_day(start, tz)
        upper = rules.start_of_day(end + timedelta(days=1), tz)
        async with self.db.read() as conn:
            members = await _write(
                MEMBER_COLUMNS,
                _pages(
                    conn,
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
                    .where(
                        Member.joined_at >= lower,
                        Member.joined_at < upper,
                        Member.deleted_at.is_(None),
                    ),
                    Member.id,
                ),
                lambda row: (
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
                ),
            )
            ledger = await _write(
                LEDGER_COLUMNS,
                _pages(
                    conn,
                    select(
                        Transfer.id,
                        Transfer.created_at,
                        Transfer.debit_account_id,
                        Transfer.credit_account_id,
                        Transfer.amount,
                        Transfer.code,
                        Transfer.reference,
                        Transfer.key,
                    ).where(Transfer.created_at >= lower, Transfer.created_at < upper),
                    Transfer.id,
                ),
                lambda row: (
                    row.id,
                    _moment(row.created_at, tz),
                    account_name(row.debit_account_id),
                    account_name(row.credit_account_id),
                    row.amount,
                    row.code,
                    _text(row.reference),
                    _text(row.key),
                ),
            )
            redemptions = await _write(
                REDEMPTION_COLUMNS,
                _pages(
                    conn,
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
                    )
                    .join(Item, Item.id == Redemption.item_id)
                    .where(Redemption.created_at >= lower, Redemption.created_at < upper),
                    Redemption.id,
                ),
                lambda row: (
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
                ),
            )
        return Export(start, end, *members, *ledger, *redemptions)


async def _pages(
    conn: AsyncConnection, query: Select[*tuple[Any, ...]], key: _Key
) -> AsyncIterator[Any]:
    """The rows of ``query`` in order of ``key``, read :data:`PAGE` at a time."""
    after: int | None = None
    while True:
        page = query.order_by(key).limit(PAGE)
        if after is not None:
            page = page.where(key > after)
        rows = (await conn.execute(page)).all()
        for row in rows:
            yield row
        if len(rows) < PAGE:
            return
        after = int(rows[-1][0])


async def _write(
    columns: Iterable[str], rows: AsyncIterator[Any], cells: Callable[[Any], Iterable[object]]
) -> tuple[str, int]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    count = 0
    async for row in rows:
        writer.writerow(cells(row))
        count += 1
    return buffer.getvalue(), count


def _moment(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).isoformat(timespec="seconds")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value
