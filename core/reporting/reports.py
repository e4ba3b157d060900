"""Figures for admins and the scheduled jobs: the liability, daily flows, redemptions by item,
and the members whose points are about to expire.

Everything here only reads. Days are the mall's business days (``[mall] timezone``): a day's
figures cover the instants from its midnight to the next, converted to UTC in Python, because
SQLite has no time zones; rows are bucketed in SQL with those instants as bounds (a binary
search written as CASEs), so a month of a large mall is three aggregate queries, not rows
shipped to Python.

Days that are over are read from their roll-ups (``core.reporting.rollups``) once the ``rollups``
job has written them; only the days not rolled up yet (today, and yesterday until the job has run)
are computed live. The figures are the same either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Select,
    SQLColumnExpression,
    and_,
    case,
    distinct,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import (
    Account,
    BoxDraw,
    BoxPrize,
    CheckIn,
    Hold,
    Item,
    Lot,
    Member,
    Redemption,
    RollupBoxDraw,
    RollupDay,
    RollupFlow,
    RollupRedemption,
    Transfer,
)
from core.errors import InvalidInput
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.statements import ExpiringPoints
from core.reporting.rollup_hours import (
    MEMBER_BOOK,
    OpenDay,
    covered,
    hour_flows,
    open_day_active,
    open_day_checkins,
)

# Most days one ``daily`` call covers; longer ranges are asked in parts.
MAX_DAYS = 366
# Days bucketed per query, which keeps each statement (and its CASE of day bounds) small.
_CHUNK_DAYS = 31
_REDEEMED = ("completed", "fulfilled")
_AWAITING = ("awaiting_approval", "awaiting_payment")
_ISSUING_BOOKS = (SystemAccount.ISSUANCE, SystemAccount.ADJUSTMENTS, SystemAccount.BOX_POOL)


@dataclass(frozen=True)
class Liability:
    """Points the mall owes its members at ``as_of``, and what they are worth.

    ``outstanding`` = ``member_balances`` (spendable, including ``awaiting_expiry``: lots past
    their date that the expiry job has not swept yet, still spendable until it runs) + ``held``
    (points in escrow for pending holds, which go back to the member if the hold is voided).
    ``value_minor`` = ``outstanding`` x ``point_value_minor``, in minor units of ``currency``.
    """

    as_of: datetime
    member_balances: int
    held: int
    outstanding: int
    awaiting_expiry: int
    point_value_minor: int
    value_minor: int
    currency: str


@dataclass(frozen=True)
class DayFigures:
    """One business day of the mall.

    - ``issued``: points credited to members by the mall (issuance, adjustments, box prizes).
    - ``redeemed``: points that reached the redemptions book (direct spends and posted holds),
      less what it gave back (a cancelled redemption); it can be negative on a quiet day.
    - ``expired``, ``donated``: points moved to the expiry and donations books.
    - ``checkins``: members who checked in for the day; ``makeups``: make-up check-ins bought
      that day (for an earlier day).
    - ``active_members``: members with a check-in or any movement of their own that day (the
      expiry job's sweep is not the member's doing and does not count).
    """

    day: date
    issued: int
    redeemed: int
    expired: int
    donated: int
    checkins: int
    makeups: int
    active_members: int


@dataclass(frozen=True)
class IssuedByCause:
    """Points the mall credited to members on one business day for one cause (the transfer
    code: ``checkin``, ``purchase``, ``birthday``, ``member_day``...)."""

    day: date
    code: str
    points: int


@dataclass(frozen=True)
class ItemRedemptions:
    """Redemptions of one item made in the period: done, and still waiting (approval, payment)."""

    item_id: int
    title: str
    redeemed: int
    points: int
    awaiting: int
    awaiting_points: int


@dataclass(frozen=True)
class BoxPayout:
    """What a box took and paid in the period, as ``BlindBoxes.payout_report`` counts it.

    ``item_value`` counts each item or coupon prize drawn at its item's current points price;
    ``ratio`` is (points paid + item value) per point spent, None when nothing was spent.
    """

    box_id: int
    draws: int
    points_spent: int
    points_paid: int
    item_value: int
    by_guarantee: int
    ratio: Decimal | None


@dataclass(frozen=True)
class ExpiringMember:
    """A member to remind: ``amount`` points expire within the window asked.

    The soonest of them, ``soonest_amount`` points, can be used through ``last_day``; ``lots``
    are all of them by last day of use, soonest first (one entry a day, as the member's own
    statement shows them).
    """

    member_id: int
    language: str
    amount: int
    last_day: date
    soonest_amount: int
    lots: tuple[ExpiringPoints, ...]


class Reports:
    """Read-only reports; every method is one consistent read (or a stream of short ones).

    ``rollups`` False computes every day live, ignoring the roll-ups (what the tests and the
    bench compare the roll-ups with).
    """

    def __init__(self, db: Database, config: Config, *, rollups: bool = True) -> None:
        self.db = db
        self.config = config
        self.rollups = rollups

    async def liability(self, now: datetime) -> Liability:
        """The points outstanding now, and their value at ``[mall] point_value_minor``."""
        validation.instant(now)
        balances = (
            select(func.coalesce(func.sum(Account.balance), 0))
            .where(Account.kind == "member")
            .scalar_subquery()
        )
        held = (
            select(func.coalesce(func.sum(Hold.amount), 0))
            .where(Hold.status == "pending")
            .scalar_subquery()
        )
        overdue = (
            select(func.coalesce(func.sum(Lot.remaining), 0))
            .where(Lot.remaining > 0, Lot.expires_at <= now)
            .scalar_subquery()
        )
        async with self.db.read() as conn:
            row = (await conn.execute(select(balances, held, overdue))).one()
        member_balances, pending, awaiting = (int(value) for value in row)
        outstanding = member_balances + pending
        mall = self.config.mall
        return Liability(
            as_of=now,
            member_balances=member_balances,
            held=pending,
            outstanding=outstanding,
            awaiting_expiry=awaiting,
            point_value_minor=mall.point_value_minor,
            value_minor=outstanding * mall.point_value_minor,
            currency=mall.currency,
        )

    async def daily(self, start: date, end: date) -> tuple[DayFigures, ...]:
        """Figures for each business day from ``start`` to ``end`` inclusive, quiet days too."""
        _require_window(start, end, longest=MAX_DAYS)
        figures: list[DayFigures] = []
        tz = self.config.mall.timezone
        async with self.db.read() as conn:
            rolled = await _rolled_days(conn, start, end) if self.rollups else {}
            figures.extend(rolled.values())
            opened = await covered(conn, start, end, rolled, tz) if self.rollups else {}
            for open_day in opened.values():
                figures.append(await _open_day(conn, open_day))
            for first, last in _live_runs(start, end, {*rolled, *opened}, _CHUNK_DAYS):
                figures.extend(await self._days(conn, first, last))
        return tuple(sorted(figures, key=lambda figure: figure.day))

    async def _days(self, conn: AsyncConnection, first: date, last: date) -> list[DayFigures]:
        tz = self.config.mall.timezone
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        bounds = [rules.start_of_day(day, tz) for day in [*days, last + timedelta(days=1)]]
        flows = await _flows(conn, days, bounds)
        checkins = await checkins_by_day(conn, days, bounds)
        active = await active_members_by_day(conn, days, bounds)
        zero = (0, 0, 0, 0)
        return [
            DayFigures(
                day,
                *flows.get(day, zero),
                *checkins.get(day, (0, 0)),
                active.get(day, 0),
            )
            for day in days
        ]

    async def issued_by_cause(self, start: date, end: date) -> tuple[IssuedByCause, ...]:
        """Points issued to members each business day from ``start`` to ``end``, by cause
        (the transfer's code), days in order and the biggest cause first; quiet days have none.

        Closed days come from their roll-ups (points by pair of books and code), the others
        from the ledger.
        """
        _require_window(start, end, longest=MAX_DAYS)
        tz = self.config.mall.timezone
        books = [int(book) for book in _ISSUING_BOOKS]
        found: list[IssuedByCause] = []
        async with self.db.read() as conn:
            rolled = await _rolled_day_set(conn, start, end) if self.rollups else set()
            if rolled:
                rows = await conn.execute(
                    select(RollupFlow.day, RollupFlow.code, func.sum(RollupFlow.amount))
                    .where(
                        RollupFlow.day.in_(sorted(rolled)),
                        RollupFlow.source.in_(books),
                        RollupFlow.destination == MEMBER_BOOK,
                    )
                    .group_by(RollupFlow.day, RollupFlow.code)
                )
                found += [
                    IssuedByCause(as_date(day), code, int(points)) for day, code, points in rows
                ]
            opened = await covered(conn, start, end, rolled, tz) if self.rollups else {}
            for open_day in opened.values():
                by_code: dict[str, int] = {}
                for source, destination, code, points in await hour_flows(conn, open_day):
                    if source in books and destination == MEMBER_BOOK:
                        by_code[code] = by_code.get(code, 0) + int(points)
                rest = [open_day.until, open_day.end]
                for _day, code, points in await _issued_by_day(conn, [open_day.day], rest):
                    by_code[code] = by_code.get(code, 0) + int(points)
                found += [IssuedByCause(open_day.day, c, p) for c, p in by_code.items()]
            for first, last in _live_runs(start, end, {*rolled, *opened}, _CHUNK_DAYS):
                days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
                bounds = [rules.start_of_day(day, tz) for day in [*days, last + timedelta(days=1)]]
                found += [
                    IssuedByCause(as_date(day), code, int(points))
                    for day, code, points in await _issued_by_day(conn, days, bounds)
                ]
        return tuple(sorted(found, key=lambda row: (row.day, -row.points, row.code)))

    async def redemptions_per_item(self, start: date, end: date) -> tuple[ItemRedemptions, ...]:
        """Redemptions made from ``start`` to ``end`` (business days), most redeemed first."""
        _require_window(start, end)
        wanted = (*_REDEEMED, *_AWAITING)
        rolled = (
            select(
                RollupRedemption.item_id,
                RollupRedemption.status,
                func.sum(RollupRedemption.redemptions),
                func.sum(RollupRedemption.points),
            )
            .where(
                RollupRedemption.day >= start,
                RollupRedemption.day <= end,
                RollupRedemption.status.in_(wanted),
            )
            .group_by(RollupRedemption.item_id, RollupRedemption.status)
        )

        def live(lower: datetime, upper: datetime) -> Executable:
            return redemptions_between(lower, upper).where(Redemption.status.in_(wanted))

        counts: dict[tuple[int, str], list[int]] = {}
        async with self.db.read() as conn:
            rows = await self._rolled_then_live(conn, start, end, rolled, live)
            for item_id, status, count, points in rows:
                figures = counts.setdefault((int(item_id), status), [0, 0])
                figures[0] += int(count)
                figures[1] += int(points)
            ids = sorted({item_id for item_id, _status in counts})
            titles = {
                int(item_id): title
                for item_id, title in await conn.execute(
                    select(Item.id, Item.title).where(Item.id.in_(ids))
                )
            }
        items = []
        for item_id in ids:
            done = [counts.get((item_id, status), [0, 0]) for status in _REDEEMED]
            waiting = [counts.get((item_id, status), [0, 0]) for status in _AWAITING]
            item = ItemRedemptions(
                item_id,
                titles[item_id],
                redeemed=sum(c[0] for c in done),
                points=sum(c[1] for c in done),
                awaiting=sum(c[0] for c in waiting),
                awaiting_points=sum(c[1] for c in waiting),
            )
            if item.redeemed or item.awaiting:
                items.append(item)
        return tuple(
            sorted(
                items, key=lambda item: (-item.redeemed, -item.points, -item.awaiting, item.item_id)
            )
        )

    async def box_payouts(self, start: date, end: date) -> tuple[BoxPayout, ...]:
        """What each box that was drawn from ``start`` to ``end`` (business days) took and
        paid, by box id; the figures of ``BlindBoxes.payout_report`` for that window."""
        _require_window(start, end)
        rolled = (
            select(
                RollupBoxDraw.box_id,
                RollupBoxDraw.prize_id,
                func.sum(RollupBoxDraw.draws),
                func.sum(RollupBoxDraw.spent),
                func.sum(RollupBoxDraw.paid),
                func.sum(RollupBoxDraw.guaranteed),
            )
            .where(RollupBoxDraw.day >= start, RollupBoxDraw.day <= end)
            .group_by(RollupBoxDraw.box_id, RollupBoxDraw.prize_id)
        )
        by_prize: dict[tuple[int, int], list[int]] = {}
        async with self.db.read() as conn:
            rows = await self._rolled_then_live(conn, start, end, rolled, box_draws_between)
            for box_id, prize_id, *figures in rows:
                into = by_prize.setdefault((int(box_id), int(prize_id)), [0, 0, 0, 0])
                for n, value in enumerate(figures):
                    into[n] += int(value)
            prize_ids = sorted({prize_id for _box, prize_id in by_prize})
            # An item or coupon prize is worth its item's price now, as the payout report says.
            worth = {
                int(prize_id): int(price or 0)
                for prize_id, kind, price in await conn.execute(
                    select(BoxPrize.id, BoxPrize.kind, Item.price_points)
                    .outerjoin(Item, Item.id == BoxPrize.item_id)
                    .where(BoxPrize.id.in_(prize_ids))
                )
                if kind in ("item", "coupon")
            }
        boxes: dict[int, list[int]] = {}
        for (box_id, prize_id), (draws, spent, paid, guaranteed) in by_prize.items():
            box = boxes.setdefault(box_id, [0, 0, 0, 0, 0])
            box[0] += draws
            box[1] += spent
            box[2] += paid
            box[3] += draws * worth.get(prize_id, 0)
            box[4] += guaranteed
        return tuple(
            BoxPayout(
                box_id,
                draws,
                spent,
                paid,
                item_value,
                guaranteed,
                _ratio(paid + item_value, spent),
            )
            for box_id, (draws, spent, paid, item_value, guaranteed) in sorted(boxes.items())
        )

    async def _rolled_then_live(
        self,
        conn: AsyncConnection,
        start: date,
        end: date,
        rolled_rows: Executable,
        live_rows: Callable[[datetime, datetime], Executable],
    ) -> list[Any]:
        """The rows of a report from ``start`` to ``end``: ``rolled_rows`` (which reads the
        roll-ups of the window) if any of its days is rolled up, and ``live_rows(lower, upper)``
        for each run of the other days, from the start of its first day to the start of the
        day after its last (at most ``MAX_DAYS`` a run). The caller sums them up."""
        tz = self.config.mall.timezone
        rolled = await _rolled_day_set(conn, start, end) if self.rollups else set()
        rows: list[Any] = []
        if rolled:
            rows += await conn.execute(rolled_rows)
        for first, last in _live_runs(start, end, rolled, MAX_DAYS):
            lower = rules.start_of_day(first, tz)
            upper = rules.start_of_day(last + timedelta(days=1), tz)
            rows += await conn.execute(live_rows(lower, upper))
        return rows

    async def expiring_members(self, now: datetime, within_days: int) -> tuple[ExpiringMember, ...]:
        """Every member to remind, at once; for a large mall use :meth:`expiring_members_iter`."""
        return tuple([member async for member in self.expiring_members_iter(now, within_days)])

    async def expiring_members_iter(
        self, now: datetime, within_days: int, *, batch: int = 1000
    ) -> AsyncIterator[ExpiringMember]:
        """Members (not frozen) with points whose last day of use is within ``within_days``
        days from today (0: today), by member id, read ``batch`` members at a time.

        The window is the one a member's own statement shows (``Statements.expiring``).
        """
        validation.instant(now)
        if isinstance(within_days, bool) or not isinstance(within_days, int):
            raise InvalidInput("within_days must be a whole number", field="within_days")
        if not 0 <= within_days <= 3650:
            raise InvalidInput("within_days must be 0-3650", field="within_days")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidInput("batch must be a whole number >= 1", field="batch")
        tz = self.config.mall.timezone
        horizon = rules.start_of_day(
            rules.business_day(now, tz) + timedelta(days=within_days + 1), tz
        )
        window = and_(Lot.remaining > 0, Lot.expires_at > now, Lot.expires_at <= horizon)
        after = 0
        while True:
            # A short read per batch: no snapshot is held open while the caller sends messages.
            async with self.db.read() as conn:
                ids = (
                    (
                        await conn.execute(
                            select(Lot.account_id)
                            .join(Account, Account.id == Lot.account_id)
                            .where(window, Lot.account_id > after, Account.frozen.is_(False))
                            .group_by(Lot.account_id)
                            .order_by(Lot.account_id)
                            .limit(batch)
                        )
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    return
                rows = (
                    await conn.execute(
                        select(
                            Lot.account_id,
                            Member.language,
                            Lot.expires_at,
                            func.sum(Lot.remaining),
                        )
                        .join(Member, Member.id == Lot.account_id)
                        .where(window, Lot.account_id.in_(ids))
                        .group_by(Lot.account_id, Member.language, Lot.expires_at)
                        .order_by(Lot.account_id, Lot.expires_at)
                    )
                ).all()
            languages: dict[int, str] = {}
            by_member: dict[int, dict[date, int]] = {}
            for member_id, language, expires_at, remaining in rows:
                assert expires_at is not None  # the window selects dated lots only
                day = rules.last_valid_day(expires_at, tz)
                languages[int(member_id)] = language
                days = by_member.setdefault(int(member_id), {})
                days[day] = days.get(day, 0) + int(remaining)
            for member_id in sorted(by_member):
                lots = tuple(
                    ExpiringPoints(day, amount)
                    for day, amount in sorted(by_member[member_id].items())
                )
                yield ExpiringMember(
                    member_id=member_id,
                    language=languages[member_id],
                    amount=sum(lot.amount for lot in lots),
                    last_day=lots[0].last_day,
                    soonest_amount=lots[0].amount,
                    lots=lots,
                )
            if len(ids) < batch:
                return
            after = int(ids[-1])


def redemptions_between(lower: datetime, upper: datetime) -> Select[int, str, int, int]:
    """Redemptions made from ``lower`` to ``upper``: item, status, how many and their points,
    by item and status (what a day's roll-up keeps, ``RollupRedemption``)."""
    return (
        select(Redemption.item_id, Redemption.status, func.count(), func.sum(Redemption.points))
        .where(Redemption.created_at >= lower, Redemption.created_at < upper)
        .group_by(Redemption.item_id, Redemption.status)
    )


def box_draws_between(lower: datetime, upper: datetime) -> Select[int, int, int, int, int, Any]:
    """Box draws from ``lower`` to ``upper``: box, prize, draws, points spent, points paid
    and draws by the guarantee, by box and prize (what a day's roll-up keeps,
    ``RollupBoxDraw``)."""
    return (
        select(
            BoxDraw.box_id,
            BoxDraw.prize_id,
            func.count(),
            func.sum(BoxDraw.price_points),
            func.sum(BoxDraw.points_won),
            func.sum(case((BoxDraw.by_guarantee.is_(True), 1), else_=0)),
        )
        .where(BoxDraw.created_at >= lower, BoxDraw.created_at < upper)
        .group_by(BoxDraw.box_id, BoxDraw.prize_id)
    )


def _require_day(value: object, field: str) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidInput(f"{field} must be a date", field=field)


def _require_window(start: date, end: date, *, longest: int | None = None) -> None:
    """``start`` and ``end`` are days, in order, and (with ``longest``) that many at most."""
    _require_day(start, "start")
    _require_day(end, "end")
    if end < start:
        raise InvalidInput("end is before start", field="end")
    if longest is not None and (end - start).days + 1 > longest:
        raise InvalidInput(f"at most {longest} days at a time", field="end")


def _bucket(
    instant: SQLColumnExpression[datetime], days: list[date], bounds: list[datetime]
) -> Any:
    """The business day an instant falls on, as SQL: ``days[i]`` if it is in ``bounds[i:i+2]``.

    A binary search written as nested CASEs: about log2(len(days)) comparisons a row, on both
    databases, and right across daylight-saving changes. The caller keeps rows within
    ``bounds[0] <= instant < bounds[-1]``.
    """
    if len(days) == 1:
        return literal(days[0], Date)
    middle = len(days) // 2
    return case(
        (
            instant < bounds[middle],
            _bucket(instant, days[:middle], bounds[: middle + 1]),
        ),
        else_=_bucket(instant, days[middle:], bounds[middle:]),
    )


def _in_range(
    instant: SQLColumnExpression[datetime], bounds: list[datetime]
) -> ColumnElement[bool]:
    return and_(instant >= bounds[0], instant < bounds[-1])


async def _flows(
    conn: AsyncConnection, days: list[date], bounds: list[datetime]
) -> dict[date, tuple[int, int, int, int]]:
    """Issued, redeemed (net), expired and donated points by day.

    The database sums the day's amounts by pair of books (0 standing for any member), which
    is one addition a row; which pairs make which figure is decided here, on a few rows.
    """
    member = 0
    moved = (
        select(
            _bucket(Transfer.created_at, days, bounds).label("day"),
            case((Transfer.debit_account_id < 0, Transfer.debit_account_id), else_=member).label(
                "source"
            ),
            case((Transfer.credit_account_id < 0, Transfer.credit_account_id), else_=member).label(
                "destination"
            ),
            Transfer.amount.label("amount"),
        )
        .where(_in_range(Transfer.created_at, bounds))
        .subquery()
    )
    by_pair = await conn.execute(
        select(moved.c.day, moved.c.source, moved.c.destination, func.sum(moved.c.amount)).group_by(
            moved.c.day, moved.c.source, moved.c.destination
        )
    )
    flows: dict[date, list[int]] = {}
    for day, source, destination, amount in by_pair:
        _add_flow(flows.setdefault(day, [0, 0, 0, 0]), source, destination, int(amount))
    return {day: (f[0], f[1], f[2], f[3]) for day, f in flows.items()}


async def _issued_by_day(
    conn: AsyncConnection, days: list[date], bounds: list[datetime]
) -> list[Any]:
    """Points the mall's issuing books credited to members, by day and code: day, code, points."""
    moved = (
        select(
            _bucket(Transfer.created_at, days, bounds).label("day"),
            Transfer.code.label("code"),
            Transfer.amount.label("amount"),
        )
        .where(
            _in_range(Transfer.created_at, bounds),
            Transfer.credit_account_id > 0,
            # "+ 0" keeps ix_transfers_debit out: the issuing books' every transfer ever, where
            # the window is a range of ix_transfers_created_at (4.7 s against 0.12 s for half a
            # day of a million members on SQLite).
            (Transfer.debit_account_id + 0).in_([int(book) for book in _ISSUING_BOOKS]),
        )
        .subquery()
    )
    rows = await conn.execute(
        select(moved.c.day, moved.c.code, func.sum(moved.c.amount)).group_by(
            moved.c.day, moved.c.code
        )
    )
    return list(rows.all())


async def _open_day(conn: AsyncConnection, open_day: OpenDay) -> DayFigures:
    """A day not rolled up whose first hours are: those hours' figures, the rest live."""
    figures = [0, 0, 0, 0]
    for source, destination, _code, points in await hour_flows(conn, open_day):
        _add_flow(figures, int(source), int(destination), int(points))
    rest = await _flows(conn, [open_day.day], [open_day.until, open_day.end])
    for n, points in enumerate(rest.get(open_day.day, (0, 0, 0, 0))):
        figures[n] += points
    checkins, makeups = await open_day_checkins(conn, open_day)
    active = await open_day_active(conn, open_day)
    issued, redeemed, expired, donated = figures
    return DayFigures(open_day.day, issued, redeemed, expired, donated, checkins, makeups, active)


def _add_flow(figures: list[int], source: int, destination: int, points: int) -> None:
    """Count ``points`` moved from book ``source`` to ``destination`` (``MEMBER_BOOK``: any
    member) into a day's issued, redeemed, expired and donated."""
    member = MEMBER_BOOK
    if destination == member and source in _ISSUING_BOOKS:
        figures[0] += points
    elif destination == SystemAccount.REDEMPTIONS and source in (member, SystemAccount.ESCROW):
        figures[1] += points  # a direct spend, or a hold posted
    elif source == SystemAccount.REDEMPTIONS and destination == member:
        figures[1] -= points  # given back: a cancelled redemption
    elif source == member and destination == SystemAccount.EXPIRY:
        figures[2] += points
    elif source == member and destination == SystemAccount.DONATIONS:
        figures[3] += points


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    """As ``BlindBoxes.payout_report`` rounds its ratios."""
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


async def _rolled_day_set(conn: AsyncConnection, start: date, end: date) -> set[date]:
    rows = await conn.execute(
        select(RollupDay.day).where(RollupDay.day >= start, RollupDay.day <= end)
    )
    return {as_date(day) for day in rows.scalars()}


async def _rolled_days(conn: AsyncConnection, start: date, end: date) -> dict[date, DayFigures]:
    """The figures of the days from ``start`` to ``end`` that are rolled up, by day."""
    days = (
        await conn.execute(
            select(
                RollupDay.day, RollupDay.checkins, RollupDay.makeups, RollupDay.active_members
            ).where(RollupDay.day >= start, RollupDay.day <= end)
        )
    ).all()
    if not days:
        return {}
    flows: dict[date, list[int]] = {}
    for day, source, destination, amount in await conn.execute(
        select(
            RollupFlow.day, RollupFlow.source, RollupFlow.destination, func.sum(RollupFlow.amount)
        )
        .where(RollupFlow.day >= start, RollupFlow.day <= end)
        .group_by(RollupFlow.day, RollupFlow.source, RollupFlow.destination)
    ):
        _add_flow(flows.setdefault(as_date(day), [0, 0, 0, 0]), source, destination, int(amount))
    figures = {}
    for day, checkins, makeups, active in days:
        day = as_date(day)
        issued, redeemed, expired, donated = flows.get(day, [0, 0, 0, 0])
        figures[day] = DayFigures(
            day, issued, redeemed, expired, donated, int(checkins), int(makeups), int(active)
        )
    return figures


def _live_runs(
    start: date, end: date, rolled: Collection[date], longest: int
) -> list[tuple[date, date]]:
    """The runs of consecutive days from ``start`` to ``end`` not in ``rolled``, none longer
    than ``longest`` days: what is left to compute live."""
    runs: list[tuple[date, date]] = []
    day = start
    while day <= end:
        if day in rolled:
            day += timedelta(days=1)
            continue
        first = day
        while (
            day + timedelta(days=1) <= end
            and day + timedelta(days=1) not in rolled
            and (day - first).days + 1 < longest
        ):
            day += timedelta(days=1)
        runs.append((first, day))
        day += timedelta(days=1)
    return runs


def as_date(value: object) -> date:
    """A DATE column's value (SQLite's driver may hand back text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def checkins_by_day(
    conn: AsyncConnection, days: list[date], bounds: list[datetime]
) -> dict[date, tuple[int, int]]:
    """Check-ins for each day, and make-ups bought on each day (for whichever day they fill).

    One pass over the check-ins: a check-in counts on its day, a make-up on the day it was
    bought.
    """
    counted = (
        select(
            case(
                (CheckIn.makeup.is_(True), _bucket(CheckIn.created_at, days, bounds)),
                else_=CheckIn.day,
            ).label("day"),
            CheckIn.makeup.label("makeup"),
        )
        .where(
            or_(
                and_(CheckIn.makeup.is_(False), CheckIn.day >= days[0], CheckIn.day <= days[-1]),
                and_(CheckIn.makeup.is_(True), _in_range(CheckIn.created_at, bounds)),
            )
        )
        .subquery()
    )
    counts: dict[date, list[int]] = {}
    for day, makeup, count in await conn.execute(
        select(counted.c.day, counted.c.makeup, func.count()).group_by(
            counted.c.day, counted.c.makeup
        )
    ):
        counts.setdefault(day, [0, 0])[1 if makeup else 0] = int(count)
    return {day: (c[0], c[1]) for day, c in counts.items()}


async def active_members_by_day(
    conn: AsyncConnection, days: list[date], bounds: list[datetime]
) -> dict[date, int]:
    """Distinct members per day with a check-in or a movement of their own."""
    day = _bucket(Transfer.created_at, days, bounds)
    own = and_(_in_range(Transfer.created_at, bounds), Transfer.code != "expiry")
    seen = union_all(
        # One pass over the period's transfers: a member is on one side of nearly every one,
        select(
            day.label("day"),
            case(
                (Transfer.debit_account_id > 0, Transfer.debit_account_id),
                else_=Transfer.credit_account_id,
            ).label("member_id"),
        ).where(own, (Transfer.debit_account_id > 0) | (Transfer.credit_account_id > 0)),
        # and the other side of a transfer between two members, should there be one.
        select(day.label("day"), Transfer.credit_account_id.label("member_id")).where(
            own, Transfer.debit_account_id > 0, Transfer.credit_account_id > 0
        ),
        select(CheckIn.day.label("day"), CheckIn.member_id.label("member_id")).where(
            CheckIn.makeup.is_(False), CheckIn.day >= days[0], CheckIn.day <= days[-1]
        ),
    ).subquery()
    rows = await conn.execute(
        select(seen.c.day, func.count(distinct(seen.c.member_id))).group_by(seen.c.day)
    )
    return {row[0]: int(row[1]) for row in rows}
