"""Roll-ups of closed business days: what the reports need of a day, written once it is over.

Why: ``/stats`` covers 30 days, and computing them live reads every transfer, check-in,
redemption and box draw of the window (26 s at a million members, issue 17). The ledger is
append-only, so a business day that has ended does not change: its figures are written once,
by the ``rollups`` job after midnight (and on start, which catches up every day missed), and
``core.reporting.reports`` reads them, computing live only the days not rolled up yet (today, and
yesterday until the job has run).

What a rolled-up day keeps (``core.db.models``):

- ``rollup_days``: one row per day rolled up, whose presence says the day's other rows are
  written; the day's check-ins, make-ups bought and active members.
- ``rollup_flows``: the day's transfers by pair of books (a system account's id, 0 for any
  member) and transfer code: how many, and how many points. ``DayFigures``' issued, redeemed,
  expired and donated are sums of these, decided as the live report decides them.
- ``rollup_redemptions``: redemptions made that day by item and by their status *now*. A
  redemption's status changes after its day (approved, paid, cancelled, refunded, shipped), so
  this is the one roll-up that is not frozen: the one place a status changes
  (``core.rewards.redemptions._apply_move``) calls :func:`restate_redemption`, which moves the count
  from the old status to the new one in the same transaction when the day is rolled up.
- ``rollup_box_draws``: the day's draws by prize: how many, points spent and won, how many by
  the guarantee. What an item prize is worth is the item's price *now* (as
  ``BlindBoxes.payout_report`` counts it), so it is applied when read, not stored.

Active members over several days are a count of distinct members that daily counts cannot
give (a member active on two days would count twice). No report asks for one: ``/stats`` shows
the busiest day's count, and the chart and the digest show each day's. So only the daily count
is kept; keeping each day's set of members instead would be a row per active member and day,
the size of the check-ins table again, for a figure nobody reads.

Exact, not approximate: the figures read through the roll-ups equal the live computation
(``tests/test_rollups.py`` checks it over random histories on both databases). A day is rolled
up once :data:`GRACE` has passed after its end, so that a use case that took its ``now`` just
before midnight has committed by then.

Run twice or from two processes at once, each day is written once: the day's ``rollup_days``
row goes in first (``ON CONFLICT DO NOTHING``), and a writer that finds it there writes nothing.
On PostgreSQL the writer locks the day's redemptions (``FOR SHARE``) before counting them: a
status change in flight either commits first and is counted in its new status, or waits for
the roll-up, then finds the day rolled up and restates it (READ COMMITTED: its next statement
sees the committed roll-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import (
    BoxDraw,
    CheckIn,
    Redemption,
    RollupBoxDraw,
    RollupDay,
    RollupFlow,
    RollupRedemption,
    Transfer,
)
from core.points import rules
from core.reporting.reports import (
    active_members_by_day,
    as_date,
    box_draws_between,
    checkins_by_day,
    redemptions_between,
)
from core.reporting.rollup_hours import forget, roll_flows, roll_hours

# How long after a day's end it is rolled up: time for a transaction that took its ``now``
# before midnight to commit. The job runs at ``[jobs] rollups_time``, later than this.
GRACE = timedelta(minutes=10)
# Days back a run reaches at most: a mall upgraded with years of history rolls up its last year
# (what ``/stats`` and the reports of a year ask), not every day since it opened; older days
# stay exact, computed live.
CATCH_UP_DAYS = 366


@dataclass(frozen=True)
class RollupRun:
    """What one run did: the days it wrote (others may have been written elsewhere), and the
    last closed day (None: no activity yet), the last day rolled up now; and how many hours of
    the open day it wrote (``core.reporting.rollup_hours``)."""

    days: tuple[date, ...]
    through: date | None
    hours: int = 0


class Rollups:
    """Writes the roll-ups of closed business days; see the module's docstring."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    def last_closed_day(self, now: datetime) -> date:
        """The last business day that may be rolled up at ``now``."""
        return rules.business_day(now - GRACE, self.config.mall.timezone) - timedelta(days=1)

    async def roll(self, now: datetime) -> RollupRun:
        """Roll up every closed day not rolled up yet, from the first day with activity (at
        most :data:`CATCH_UP_DAYS` back), each day in its own transaction (a long catch-up
        holds no lock for long); then the closed hours of the open day, and forget the hours
        of the days rolled up before the last."""
        validation.instant(now)
        last = self.last_closed_day(now)
        first = await self._first_unrolled()
        if first is not None:
            first = max(first, last - timedelta(days=CATCH_UP_DAYS - 1))
        written: list[date] = []
        day = first
        while day is not None and day <= last:
            if await self._roll_day(day, now):
                written.append(day)
            day += timedelta(days=1)
        hours = await roll_hours(self.db, self.config.mall.timezone, now - GRACE, now)
        await forget(self.db, last)
        return RollupRun(tuple(written), last if first is not None else None, hours)

    async def _first_unrolled(self) -> date | None:
        """The day after the last rolled up, or the first day with any activity (None: none)."""
        tz = self.config.mall.timezone
        async with self.db.read() as conn:
            latest = (await conn.execute(select(func.max(RollupDay.day)))).scalar_one()
            if latest is not None:
                return as_date(latest) + timedelta(days=1)
            firsts = [
                (await conn.execute(select(func.min(column)))).scalar_one()
                for column in (
                    Transfer.created_at,
                    CheckIn.created_at,
                    Redemption.created_at,
                    BoxDraw.created_at,
                )
            ]
        found = [instant for instant in firsts if instant is not None]
        return rules.business_day(min(found), tz) if found else None

    async def _roll_day(self, day: date, now: datetime) -> bool:
        """Write ``day``'s roll-ups; False if they were written already."""
        tz = self.config.mall.timezone
        bounds = [rules.start_of_day(day, tz), rules.start_of_day(day + timedelta(days=1), tz)]
        async with self.db.write() as conn:
            claim = _insert(conn, RollupDay).values(
                day=day, checkins=0, makeups=0, active_members=0, rolled_at=now
            )
            claimed = await conn.execute(claim.on_conflict_do_nothing(index_elements=["day"]))
            if not claimed.rowcount:
                return False
            checkins, makeups = (await checkins_by_day(conn, [day], bounds)).get(day, (0, 0))
            active = (await active_members_by_day(conn, [day], bounds)).get(day, 0)
            await conn.execute(
                update(RollupDay)
                .where(RollupDay.day == day)
                .values(checkins=checkins, makeups=makeups, active_members=active)
            )
            await roll_flows(conn, RollupFlow, {"day": day}, bounds[0], bounds[1])
            await _roll_redemptions(conn, day, bounds)
            await _roll_box_draws(conn, day, bounds)
        return True


async def restate_redemption(
    conn: AsyncConnection,
    tz: ZoneInfo,
    *,
    item_id: int,
    created_at: datetime,
    points: int,
    old: str,
    new: str,
) -> None:
    """A redemption made on a rolled-up day moved from status ``old`` to ``new``: move its
    count with it. Call in the transaction of the change, after the redemption's row is
    updated (see the module's docstring for why that order)."""
    if old == new:
        return
    day = rules.business_day(created_at, tz)
    rolled = await conn.execute(select(RollupDay.day).where(RollupDay.day == day))
    if rolled.first() is None:
        return
    taken = update(RollupRedemption).where(
        RollupRedemption.day == day,
        RollupRedemption.item_id == item_id,
        RollupRedemption.status == old,
    )
    taken = taken.values(
        redemptions=RollupRedemption.redemptions - 1, points=RollupRedemption.points - points
    )
    added = _insert(conn, RollupRedemption).values(
        day=day, item_id=item_id, status=new, redemptions=1, points=points
    )
    added = added.on_conflict_do_update(
        index_elements=["day", "item_id", "status"],
        set_={
            "redemptions": RollupRedemption.redemptions + 1,
            "points": RollupRedemption.points + added.excluded.points,
        },
    )
    # The two rows in the order of their status: two changes at once on PostgreSQL lock them
    # in one order, never each waiting for the other.
    for statement in (taken, added) if old < new else (added, taken):
        await conn.execute(statement)


def _insert(conn: AsyncConnection, table: type[RollupDay] | type[RollupRedemption]) -> Any:
    """INSERT with ON CONFLICT for the connection's database."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def _roll_redemptions(conn: AsyncConnection, day: date, bounds: list[datetime]) -> None:
    window = (Redemption.created_at >= bounds[0], Redemption.created_at < bounds[1])
    if conn.dialect.name == "postgresql":
        # A status change in flight commits before the count below, or waits for the roll-up.
        await conn.execute(select(Redemption.id).where(*window).with_for_update(read=True))
    rows = (await conn.execute(redemptions_between(bounds[0], bounds[1]))).all()
    if rows:
        await conn.execute(
            insert(RollupRedemption),
            [
                {
                    "day": day,
                    "item_id": int(row[0]),
                    "status": row[1],
                    "redemptions": int(row[2]),
                    "points": int(row[3]),
                }
                for row in rows
            ],
        )


async def _roll_box_draws(conn: AsyncConnection, day: date, bounds: list[datetime]) -> None:
    rows = (await conn.execute(box_draws_between(bounds[0], bounds[1]))).all()
    if rows:
        await conn.execute(
            insert(RollupBoxDraw),
            [
                {
                    "day": day,
                    "box_id": int(row[0]),
                    "prize_id": int(row[1]),
                    "draws": int(row[2]),
                    "spent": int(row[3]),
                    "paid": int(row[4]),
                    "guaranteed": int(row[5]),
                }
                for row in rows
            ],
        )
