"""Roll-ups of the closed hours of the open business day, so that ``/stats`` computes live only
the time since the last closed hour.

Why: closed days are rolled up (``core.reporting.rollups``), but today was still computed from the
ledger whole: half a day of a million members is 255,000 rows and 0.9 s of the 1.3 s behind
``/stats`` (issue 17). The ``rollups`` job runs every hour; each run also rolls up the hours of
the open day that have ended (:data:`core.reporting.rollups.GRACE` after their end, as for days),
each in its own transaction, and ``core.reporting.reports`` reads them, computing live only from the
end of the rolled-up hours to the end of the day.

An hour is one of the business day's own hours: from its midnight in ``[mall] timezone``, an
hour at a time, the last one cut at the next midnight. So an hour never straddles two business
days, whatever the offset (+05:45 too) or a daylight-saving change (a day of 23 or 25 hours).

What an hour keeps (``core.db.models``): its check-ins for the day and make-ups bought
(``rollup_hours``); its transfers by pair of books and code (``rollup_hour_flows``, as
``rollup_flows`` has a day's). Redemptions per item and box payouts are not rolled up by the
hour: today's part of them reads a few thousand rows by their time index (8 ms and 4 ms at a
million members), and a redemption's status changes after the fact, which a roll-up would
have to follow.

Distinct active members cannot be summed from hours (a member active in two hours would count
twice). A rolled-up hour writes the members active in it to ``rollup_day_members`` (day,
member: a member once a day), and the day's count is that set's size plus the members of the
time not rolled up who are not in it, in one statement (one snapshot on PostgreSQL too). The
set is written by the job, never by a use case: the write path pays nothing for it. It holds
the open day's members only; a day's set goes once the day is rolled up (a day later, so a
report that read the day as open a moment before never finds its set gone).

Exact, not approximate: the reports through the hours equal the live computation
(``tests/test_rollups.py``, a roll-up made mid-hour and across midnight, both databases). The
hours a report uses are the run of rolled-up hours from the day's midnight with no gap; any
other hour is computed live. Run twice or from two processes, an hour is written once: its
``rollup_hours`` row goes in first (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    distinct,
    exists,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.database import Database
from core.db.models import (
    CheckIn,
    RollupDayMember,
    RollupFlow,
    RollupHour,
    RollupHourFlow,
    Transfer,
)
from core.points import rules

HOUR = timedelta(hours=1)
# Any member, as one side of a pair of books (system accounts have negative ids).
MEMBER_BOOK = 0
# From ``lower`` (None: any time before) to ``upper``.
Span = tuple[datetime | None, datetime]


@dataclass(frozen=True)
class OpenDay:
    """A business day not rolled up whose ``hours`` (their starts) are, from its midnight to
    ``until`` with no gap; from ``until`` to ``end`` it is computed live."""

    day: date
    start: datetime
    until: datetime
    end: datetime
    hours: tuple[datetime, ...]


def hours_of(day: date, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The business day's hours, (start, end) in UTC: 23, 24 or 25 of them."""
    # In UTC: adding an hour to a local time would add a wall-clock hour across a change.
    start = rules.start_of_day(day, tz).astimezone(UTC)
    end = rules.start_of_day(day + timedelta(days=1), tz).astimezone(UTC)
    hours = []
    while start < end:
        hours.append((start, min(start + HOUR, end)))
        start += HOUR
    return hours


async def roll_flows(
    conn: AsyncConnection,
    table: type[RollupFlow] | type[RollupHourFlow],
    key: dict[str, object],
    lower: datetime,
    upper: datetime,
) -> None:
    """Write the transfers from ``lower`` to ``upper`` by pair of books into ``table``, each
    row with ``key`` (its day or its hour)."""
    rows = await flows_by_pair(conn, lower, upper)
    if rows:
        await conn.execute(
            insert(table),
            [
                {
                    **key,
                    "source": int(row[0]),
                    "destination": int(row[1]),
                    "code": row[2],
                    "transfers": int(row[3]),
                    "amount": int(row[4]),
                }
                for row in rows
            ],
        )


async def flows_by_pair(conn: AsyncConnection, lower: datetime, upper: datetime) -> list[Any]:
    """Transfers from ``lower`` to ``upper`` by pair of books (``MEMBER_BOOK``: any member) and
    code: source, destination, code, how many, points."""
    source = case(
        (Transfer.debit_account_id < 0, Transfer.debit_account_id), else_=MEMBER_BOOK
    ).label("source")
    destination = case(
        (Transfer.credit_account_id < 0, Transfer.credit_account_id), else_=MEMBER_BOOK
    ).label("destination")
    rows = await conn.execute(
        select(source, destination, Transfer.code, func.count(), func.sum(Transfer.amount))
        .where(Transfer.created_at >= lower, Transfer.created_at < upper)
        .group_by(source, destination, Transfer.code)
    )
    return list(rows.all())


async def roll_hours(db: Database, tz: ZoneInfo, cutoff: datetime, now: datetime) -> int:
    """Roll up the hours of the open day (the business day of ``cutoff``) that ended by
    ``cutoff`` and are not rolled up yet, in order; how many were written here."""
    day = rules.business_day(cutoff, tz)
    async with db.read() as conn:
        done = set(
            (await conn.execute(select(RollupHour.hour).where(RollupHour.day == day))).scalars()
        )
    written = 0
    for start, end in hours_of(day, tz):
        if end > cutoff:
            break
        if start not in done and await _roll_hour(db, day, start, end, now):
            written += 1
    return written


async def forget(db: Database, before: date) -> None:
    """Drop the hours and members of days before ``before`` (days rolled up a day ago)."""
    old = select(RollupHour.hour).where(RollupHour.day < before)
    async with db.write() as conn:
        await conn.execute(delete(RollupHourFlow).where(RollupHourFlow.hour.in_(old)))
        await conn.execute(delete(RollupHour).where(RollupHour.day < before))
        await conn.execute(delete(RollupDayMember).where(RollupDayMember.day < before))


async def _roll_hour(
    db: Database, day: date, start: datetime, end: datetime, now: datetime
) -> bool:
    """Write the hour from ``start`` to ``end`` of ``day``; False if it was written already."""
    async with db.write() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        claim = dialect.insert(RollupHour).values(
            hour=start, ends=end, day=day, checkins=0, makeups=0, rolled_at=now
        )
        claimed = await conn.execute(claim.on_conflict_do_nothing(index_elements=["hour"]))
        if not claimed.rowcount:
            return False
        checkins, makeups = await _checkins(conn, day, [(start, end)])
        await conn.execute(
            update(RollupHour)
            .where(RollupHour.hour == start)
            .values(checkins=checkins, makeups=makeups)
        )
        await roll_flows(conn, RollupHourFlow, {"hour": start}, start, end)
        seen = _members_seen(day, [(start, end)]).subquery()
        members = (await conn.execute(select(seen.c.member_id))).scalars().all()
        if members:
            added = dialect.insert(RollupDayMember).on_conflict_do_nothing(
                index_elements=["day", "member_id"]
            )
            await conn.execute(added, [{"day": day, "member_id": int(m)} for m in members])
    return True


async def covered(
    conn: AsyncConnection, start: date, end: date, skip: Collection[date], tz: ZoneInfo
) -> dict[date, OpenDay]:
    """The days from ``start`` to ``end``, but those in ``skip`` (rolled up whole), with hours
    rolled up from their midnight."""
    rows = await conn.execute(
        select(RollupHour.day, RollupHour.hour, RollupHour.ends)
        .where(RollupHour.day >= start, RollupHour.day <= end)
        .order_by(RollupHour.day, RollupHour.hour)
    )
    by_day: dict[date, list[tuple[datetime, datetime]]] = {}
    for day, hour, ends in rows:
        day = day if isinstance(day, date) else date.fromisoformat(str(day))
        by_day.setdefault(day, []).append((hour, ends))
    found = {}
    for day, hours in by_day.items():
        if day in skip:
            continue
        midnight = rules.start_of_day(day, tz)
        cursor, used = midnight, []
        for hour, ends in hours:
            if hour != cursor:
                break
            used.append(hour)
            cursor = ends
        if used:
            end_of_day = rules.start_of_day(day + timedelta(days=1), tz)
            found[day] = OpenDay(day, midnight, cursor, end_of_day, tuple(used))
    return found


async def hour_flows(conn: AsyncConnection, open_day: OpenDay) -> list[Any]:
    """The rolled-up hours' points by pair of books and code: source, destination, code, points."""
    rows = await conn.execute(
        select(
            RollupHourFlow.source,
            RollupHourFlow.destination,
            RollupHourFlow.code,
            func.sum(RollupHourFlow.amount),
        )
        .where(RollupHourFlow.hour.in_(open_day.hours))
        .group_by(RollupHourFlow.source, RollupHourFlow.destination, RollupHourFlow.code)
    )
    return list(rows.all())


async def open_day_checkins(conn: AsyncConnection, open_day: OpenDay) -> tuple[int, int]:
    """The day's check-ins and make-ups bought: the rolled-up hours' and the rest's."""
    rolled = (
        await conn.execute(
            select(
                func.coalesce(func.sum(RollupHour.checkins), 0),
                func.coalesce(func.sum(RollupHour.makeups), 0),
            ).where(RollupHour.hour.in_(open_day.hours))
        )
    ).one()
    checkins, makeups = await _checkins(conn, open_day.day, _rest(open_day))
    return int(rolled[0]) + checkins, int(rolled[1]) + makeups


async def open_day_active(conn: AsyncConnection, open_day: OpenDay) -> int:
    """The day's distinct active members: those of the rolled-up hours and the others of the
    rest of the day, counted in one statement."""
    day = open_day.day
    rest = _members_seen(day, _rest(open_day)).subquery()
    known = exists().where(
        RollupDayMember.day == day, RollupDayMember.member_id == rest.c.member_id
    )
    rolled = select(func.count()).where(RollupDayMember.day == day).scalar_subquery()
    new = select(func.count(distinct(rest.c.member_id))).where(~known).scalar_subquery()
    return int((await conn.execute(select(rolled + new))).scalar_one())


def _rest(open_day: OpenDay) -> list[Span]:
    """What of the day's check-ins the rolled-up hours do not hold: from ``until`` to the day's
    end, and a check-in for the day stamped outside it (a changed time zone) wherever it is."""
    return [(open_day.until, open_day.end), (None, open_day.start)]


def _within(column: Any, spans: Sequence[Span]) -> ColumnElement[bool]:
    return or_(
        *(
            column < upper if lower is None else and_(column >= lower, column < upper)
            for lower, upper in spans
        )
    )


async def _checkins(conn: AsyncConnection, day: date, spans: Sequence[Span]) -> tuple[int, int]:
    """Check-ins for ``day`` stamped within ``spans`` and make-ups bought within the first
    span (the one within the day)."""
    lower, upper = spans[0]
    assert lower is not None  # the first span is within the day
    rows = await conn.execute(
        select(CheckIn.makeup, func.count())
        .where(
            or_(
                and_(
                    CheckIn.makeup.is_(False),
                    CheckIn.day == day,
                    _within(CheckIn.created_at, spans),
                ),
                and_(
                    CheckIn.makeup.is_(True),
                    CheckIn.created_at >= lower,
                    CheckIn.created_at < upper,
                ),
            )
        )
        .group_by(CheckIn.makeup)
    )
    counts = {bool(makeup): int(count) for makeup, count in rows}
    return counts.get(False, 0), counts.get(True, 0)


def _members_seen(day: date, spans: Sequence[Span]) -> Any:
    """Members active on ``day`` within ``spans`` (the first within the day): a check-in for the
    day, or a movement of their own (the expiry job's sweep is not theirs)."""
    lower, upper = spans[0]
    assert lower is not None  # the first span is within the day
    own = and_(Transfer.created_at >= lower, Transfer.created_at < upper, Transfer.code != "expiry")
    return union(
        select(
            case(
                (Transfer.debit_account_id > 0, Transfer.debit_account_id),
                else_=Transfer.credit_account_id,
            ).label("member_id")
        ).where(own, (Transfer.debit_account_id > 0) | (Transfer.credit_account_id > 0)),
        select(Transfer.credit_account_id.label("member_id")).where(
            own, Transfer.debit_account_id > 0, Transfer.credit_account_id > 0
        ),
        select(CheckIn.member_id.label("member_id")).where(
            CheckIn.makeup.is_(False), CheckIn.day == day, _within(CheckIn.created_at, spans)
        ),
    )
