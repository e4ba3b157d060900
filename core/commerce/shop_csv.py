"""Orders from a CSV file: offline and point-of-sale sales, all or nothing.

The header names these columns, in any order::

    order_id,customer_phone,telegram_id,total,currency,category,placed_at

Each row has a ``customer_phone`` or a ``telegram_id`` (not both); ``category`` may be empty
(``[shop] default_category``); ``placed_at`` is empty or ISO 8601 (without an offset it is in
``[mall] timezone``). Every row is checked before anything is written: a malformed value, an
order id twice in the file, an order id the mall has with another content, a frozen member.
With any error nothing is imported and each error is listed with its line number (the header
is line 1). Otherwise every row is accepted as :meth:`core.commerce.shop.Shop.accept_order` accepts
an order, once per order id: importing the same file again changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from sqlalchemy import select

from core import validation
from core.commerce.shop_customers import linked_member
from core.commerce.shop_orders import ORDER_KIND, OrderIn, OrderLine, OrderOutcome, order_key
from core.db.models import Account, Operation
from core.errors import MallError
from core.points.idempotency import fingerprint
from core.reporting.audit import operator_or_member, write_entry

if TYPE_CHECKING:
    from core.commerce.shop import PreparedOrder, Shop

COLUMNS = (
    "order_id",
    "customer_phone",
    "telegram_id",
    "total",
    "currency",
    "category",
    "placed_at",
)
MAX_ROWS = 10_000


@dataclass(frozen=True)
class ImportProblem:
    """What is wrong on one line of the file (line 0: the file as a whole)."""

    line: int
    message: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did: nothing at all when ``problems`` is not empty."""

    rows: int
    credited: int
    parked: int
    problems: tuple[ImportProblem, ...]
    outcomes: tuple[OrderOutcome, ...] = ()
    known: frozenset[str] = frozenset()
    """Order ids the mall had before the import, with the same values: they changed nothing."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """What the import did, leaving out the orders the mall had before (they changed
        nothing): its audit entry, and the admin's summary."""
        new = [o for o in self.outcomes if o.order_id not in self.known]
        return {
            "rows": self.rows,
            "credited": sum(1 for o in new if o.status == "credited"),
            "parked": sum(1 for o in new if o.status == "parked"),
            "refunded": sum(1 for o in new if o.status == "refunded"),
            "known": len(self.outcomes) - len(new),
            "points": sum(o.points for o in new),
            "refused": len(self.problems),
        }


def _problem(line: int, exc: MallError | str) -> ImportProblem:
    if isinstance(exc, str):
        return ImportProblem(line, exc)
    field = exc.details.get("field")
    text = str(exc)
    return ImportProblem(line, f"{field}: {text}" if field and field not in text else text)


def _row_order(row: dict[str, str], shop: Shop) -> OrderIn:
    """One row as an order; a :class:`MallError` or ValueError says what is wrong."""
    phone = (row.get("customer_phone") or "").strip()
    telegram = (row.get("telegram_id") or "").strip()
    if bool(phone) == bool(telegram):
        raise ValueError("give a customer_phone or a telegram_id (one of them)")
    who: dict[str, object] = {"phone": phone}
    if telegram:
        if not telegram.isdigit():
            raise ValueError(f"telegram_id must be a number, got {telegram!r}")
        who = {"telegram_id": int(telegram)}
    total_text = (row.get("total") or "").strip()
    try:
        total = Decimal(total_text)
    except InvalidOperation:
        raise ValueError(f"total must be a decimal amount, got {total_text!r}") from None
    category = (row.get("category") or "").strip()
    lines = (OrderLine("csv", category, total),) if category else ()
    placed_text = (row.get("placed_at") or "").strip()
    placed: datetime | None = None
    if placed_text:
        try:
            placed = datetime.fromisoformat(placed_text)
        except ValueError:
            raise ValueError(f"placed_at must be ISO 8601, got {placed_text!r}") from None
        if placed.tzinfo is None:
            placed = placed.replace(tzinfo=shop.config.mall.timezone)
    return OrderIn(
        order_id=(row.get("order_id") or "").strip(),
        customer=who,
        total=total,
        currency=(row.get("currency") or "").strip(),
        lines=lines,
        placed_at=placed,
        source="csv",
    )


Rows = list[tuple[int, OrderIn, "PreparedOrder"]]


def _read(text: str, shop: Shop) -> tuple[Rows, list[ImportProblem], int]:
    """The rows that read well, the problems of the others, and how many rows there were."""
    problems: list[ImportProblem] = []
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        told = [f"missing columns: {', '.join(missing)}"] if missing else []
        told += [f"unknown columns: {', '.join(unknown)}"] if unknown else []
        told_all = "; ".join(told) + f" (expected: {','.join(COLUMNS)})"
        return [], [ImportProblem(1, told_all)], 0
    reader.fieldnames = header
    rows: list[tuple[int, OrderIn, PreparedOrder]] = []
    first_line: dict[str, int] = {}
    line, count = 1, 0
    for record in reader:
        line = reader.line_num
        count += 1
        if count > MAX_ROWS:
            return [], [ImportProblem(line, f"more than {MAX_ROWS} rows: split the file")], count
        if None in record or any(value is None for value in record.values()):
            problems.append(ImportProblem(line, f"expected {len(COLUMNS)} values"))
            continue
        try:
            order = _row_order(record, shop)
            prepared = shop.prepare(order)
        except MallError as exc:
            problems.append(_problem(line, exc))
            continue
        except ValueError as exc:
            problems.append(ImportProblem(line, str(exc)))
            continue
        if prepared.order_id in first_line:
            earlier = first_line[prepared.order_id]
            problems.append(
                ImportProblem(line, f"order {prepared.order_id} is on line {earlier} too")
            )
            continue
        first_line[prepared.order_id] = line
        rows.append((line, order, prepared))
    if not rows and not problems:
        problems.append(ImportProblem(line, "no orders in the file"))
    return rows, problems, count


async def _check_stored(shop: Shop, rows: Rows) -> tuple[list[ImportProblem], frozenset[str]]:
    """Rows that the mall would refuse (another content under a known id, a frozen member),
    and the ids of the orders it has already, as they are in the file."""
    problems: list[ImportProblem] = []
    known: set[str] = set()
    async with shop.db.read() as conn:
        for line, _, prepared in rows:
            stored = (
                await conn.execute(
                    select(Operation.fingerprint).where(
                        Operation.key == order_key(prepared.order_id)
                    )
                )
            ).scalar_one_or_none()
            if stored is not None:
                if stored != fingerprint(ORDER_KIND, prepared.request):
                    told = f"order {prepared.order_id} was imported before with other values"
                    problems.append(ImportProblem(line, told))
                else:
                    known.add(prepared.order_id)
                continue
            member_id = await linked_member(conn, prepared.customer)
            if member_id is not None:
                frozen = (
                    await conn.execute(select(Account.frozen).where(Account.id == member_id))
                ).scalar_one()
                if frozen:
                    problems.append(ImportProblem(line, "the customer's member account is frozen"))
    return problems, frozenset(known)


async def import_csv(
    shop: Shop, text: str, now: datetime, *, actor_id: int | None = None, filename: str = ""
) -> ImportReport:
    """Check every row, then accept each order in its own transaction (each at most once, by
    its id). With ``actor_id`` the ``shop.orders_imported`` entry of ``filename`` follows
    the orders: the import is not one transaction, so its entry cannot be in it; uploading
    the file again after a crash credits nothing twice and writes the entry then."""
    validation.instant(now)
    if actor_id is not None:
        operator_or_member(actor_id)
    if not isinstance(text, str):
        raise TypeError("import_csv takes the file's text")
    try:
        rows, problems, count = _read(text, shop)
    except csv.Error as exc:
        return ImportReport(0, 0, 0, (ImportProblem(0, f"not a CSV file: {exc}"),))
    known: frozenset[str] = frozenset()
    if not problems:
        problems, known = await _check_stored(shop, rows)
    if problems:
        return ImportReport(count, 0, 0, tuple(problems))
    outcomes: list[OrderOutcome] = []
    late: list[ImportProblem] = []
    for line, order, _ in rows:
        try:
            outcomes.append(await shop.accept_order(order, now))
        except MallError as exc:  # changed since the check (a member frozen meanwhile)
            late.append(_problem(line, exc))
    report = ImportReport(
        rows=count,
        credited=sum(1 for o in outcomes if o.status == "credited"),
        parked=sum(1 for o in outcomes if o.status == "parked"),
        problems=tuple(late),
        outcomes=tuple(outcomes),
        known=known,
    )
    if actor_id is not None and outcomes:
        async with shop.db.write() as conn:
            await write_entry(
                conn,
                actor_id=actor_id,
                action="shop.orders_imported",
                target=f"file:{filename[:58]}",
                now=now,
                before={},
                after=report.counts(),
            )
    return report
