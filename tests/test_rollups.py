"""Roll-ups of closed days (``core.reporting.rollups``): the reports read through them give exactly
what the live computation gives, over random histories of the real use cases on both databases;
each day is written once, however many writers run; and their reads use their keys."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.db.database import Database
from core.db.models import RollupDay, RollupDayMember, RollupHour, RollupRedemption
from core.errors import MallError
from core.games.box_authoring import PrizeSpec
from core.mall import Mall
from core.points import rules
from core.points.rules import start_of_day
from core.reporting.reports import Reports
from core.reporting.rollup_hours import hours_of
from core.reporting.rollups import CATCH_UP_DAYS, GRACE
from core.rewards.catalog import Catalog, ItemSpec
from tests.conftest import MallFactory, at
from tests.support.configs import make_config
from tests.support.databases import PostgresDatabase, SqliteTemplate
from tests.test_query_plans import assert_uses, plans_of

MEMBERS = (1001, 1002, 1003, 1004)
FIRST_DAY = date(2026, 3, 2)
KINDS = ("checkin", "purchase", "coffee", "lamp", "approve", "reject", "cancel", "box", "makeup")


def moment(day: date, minute_of_day: int) -> datetime:
    """An instant of the mall's ``day`` (Asia/Shanghai), ``minute_of_day`` minutes in."""
    return at(f"{day.isoformat()} 00:00") + timedelta(minutes=minute_of_day)


class History:
    """A small mall to play a random history on: two items (one needs approval) and a box."""

    def __init__(self, mall: Mall) -> None:
        self.mall = mall
        self.live = Reports(mall.db, mall.config, rollups=False)
        self.redemptions: list[int] = []
        self.keys = 0

    async def open(self) -> None:
        when = moment(FIRST_DAY - timedelta(days=1), 60)
        catalog = Catalog(self.mall.db, self.mall.config)
        coffee = ItemSpec("coffee", "Coffee", "Drinks", "virtual", 30)
        lamp = ItemSpec("lamp", "Lamp", "Home", "virtual", 40, approval_threshold=1)
        self.coffee = (await catalog.upsert_item(coffee, when)).item_id
        self.lamp = (await catalog.upsert_item(lamp, when)).item_id
        box = await self.mall.boxes.create_box(
            "lucky",
            "Lucky box",
            20,
            [
                PrizeSpec("5 points", "points", 5, points=5),
                PrizeSpec("40 points", "points", 2, points=40),
                PrizeSpec("A coffee", "item", 1, item_id=self.coffee, rare=True),
            ],
            when,
            pity_after=4,
        )
        self.box = box.box_id
        for member_id in MEMBERS:
            await self.mall.members.join(member_id, f"M{member_id}", "en", when)

    def key(self, prefix: str) -> str:
        self.keys += 1
        return f"{prefix}-{self.keys}"

    async def act(self, kind: str, member_id: int, pick: int, now: datetime) -> None:
        mall = self.mall
        try:
            if kind == "checkin":
                await mall.checkins.check_in(member_id, now)
            elif kind == "purchase":
                order = self.key("order")
                await mall.purchases.record_purchase(member_id, order, 500 + pick * 700, "x", now)
            elif kind in ("coffee", "lamp"):
                item = self.coffee if kind == "coffee" else self.lamp
                offer = await mall.redemptions.offer(member_id, item, now)
                done = await mall.redemptions.redeem(member_id, offer.token, now)
                self.redemptions.append(done.redemption.redemption_id)
            elif kind in ("approve", "reject", "cancel") and self.redemptions:
                redemption = self.redemptions[pick % len(self.redemptions)]
                if kind == "approve":
                    await mall.redemptions.approve(redemption, now)
                elif kind == "reject":
                    await mall.redemptions.reject(redemption, now)
                else:
                    await mall.redemptions.cancel(redemption, now)
            elif kind == "box":
                await mall.boxes.open(member_id, self.box, self.key("box"), now)
            elif kind == "makeup":
                day = now.date() - timedelta(days=1 + pick % 3)
                await mall.checkins.make_up(member_id, day, now)
        except MallError:
            pass  # not enough points, nothing to make up, a redemption already ended: history

    async def assert_same(self, first: date, last: date) -> None:
        """The reports through the roll-ups equal the live ones, and /stats' box figures
        equal the box's own payout report."""
        reports = self.mall.reports
        assert await reports.daily(first, last) == await self.live.daily(first, last)
        assert await reports.redemptions_per_item(
            first, last
        ) == await self.live.redemptions_per_item(first, last)
        assert await reports.issued_by_cause(first, last) == await self.live.issued_by_cause(
            first, last
        )
        payouts = await reports.box_payouts(first, last)
        assert payouts == await self.live.box_payouts(first, last)
        since = start_of_day(first, self.mall.config.mall.timezone)
        report = await self.mall.boxes.payout_report(self.box, since=since)
        (payout,) = payouts or [None]
        assert (report.draws, report.ratio) == (
            (payout.draws, payout.ratio) if payout else (0, None)
        )


action = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(MEMBERS),
    st.integers(0, 24 * 60 - 1),  # the minute of the day
    st.integers(0, 7),
)
# Each day: the minutes the roll-up job runs at (mid-hour; before 00:10 only the hours of the
# day that ended), and what members do.
day_plan = st.tuples(
    st.lists(st.integers(0, 24 * 60 - 1), max_size=3, unique=True),
    st.lists(action, max_size=10),
)


async def roll_and_compare(history: History, now: datetime, first: date, last: date) -> None:
    """The job at ``now``, then the reports through the roll-ups against the live ones."""
    run = await history.mall.rollups.roll(now)
    business_day = rules.business_day(now - GRACE, history.mall.config.mall.timezone)
    assert run.through == business_day - timedelta(days=1)
    await history.assert_same(first, last)


async def play(mall: Mall, plan: list[tuple[list[int], list[Any]]]) -> None:
    history = History(mall)
    await history.open()
    first, last = FIRST_DAY - timedelta(days=2), FIRST_DAY + timedelta(days=len(plan))
    for number, (rolls, actions) in enumerate(plan):
        day = FIRST_DAY + timedelta(days=number)
        # A roll-up and an action at the same minute: the roll-up first.
        events = [(minute, 0, None) for minute in rolls]
        events += [(a[2], 1, a) for a in actions]
        for minute, _order, act in sorted(events, key=lambda e: (e[0], e[1])):
            if act is None:
                await roll_and_compare(history, moment(day, minute), first, last)
            else:
                kind, member_id, _minute, pick = act
                await history.act(kind, member_id, pick, moment(day, minute))
        await history.assert_same(first, last)
    # Across midnight: the hours of the day that ended (to 23:00), then the day itself; then
    # more activity today, rolled up to 11:00 mid-hour, and more after (approvals reach back).
    today = FIRST_DAY + timedelta(days=len(plan))
    await roll_and_compare(history, moment(today, 5), first, last)
    await roll_and_compare(history, moment(today, 20), first, last)
    for n, kind in enumerate(KINDS):
        await history.act(kind, MEMBERS[n % len(MEMBERS)], n, moment(today, 600 + n))
    await roll_and_compare(history, moment(today, 675), first, last)
    for n, kind in enumerate(KINDS):
        await history.act(kind, MEMBERS[(n + 1) % len(MEMBERS)], n + 1, moment(today, 680 + n))
    await history.assert_same(first, last)
    assert (await mall.check()).ok


def test_the_reports_through_roll_ups_equal_the_live_ones(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")

        async def new_url() -> str:
            return template.copy_url(tmp_path)
    else:
        postgres: PostgresDatabase = request.getfixturevalue("postgres_database")

        async def new_url() -> str:
            await postgres.empty()
            return postgres.url

    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.lists(day_plan, min_size=1, max_size=4))
    def check(plan: list[tuple[list[int], list[Any]]]) -> None:
        async def run() -> None:
            db = Database.from_url(await new_url(), pool_size=5)
            try:
                await play(Mall.build(db, make_config()), plan)
            finally:
                await db.dispose()

        asyncio.run(run())

    check()


async def test_a_day_is_rolled_up_once_by_writers_at_once_and_again(make_mall: MallFactory):
    mall = await make_mall()
    history = History(mall)
    await history.open()
    for n, member_id in enumerate(MEMBERS):
        await history.act("checkin", member_id, 0, moment(FIRST_DAY, 60 + n))
        await history.act("coffee", member_id, 0, moment(FIRST_DAY, 120 + n))
    # Ten minutes after midnight the day is not closed yet: late commits may still land.
    early = await mall.rollups.roll(moment(FIRST_DAY + timedelta(days=1), 5))
    assert early.days == (FIRST_DAY - timedelta(days=1),)
    second = mall.rollups.roll(moment(FIRST_DAY + timedelta(days=1), 20))
    runs = await asyncio.gather(
        second, mall.rollups.roll(moment(FIRST_DAY + timedelta(days=1), 20))
    )
    assert sorted(day for run in runs for day in run.days) == [FIRST_DAY]
    again = await mall.rollups.roll(moment(FIRST_DAY + timedelta(days=3), 20))
    assert again.days == (FIRST_DAY + timedelta(days=1), FIRST_DAY + timedelta(days=2))
    async with mall.db.read() as conn:
        days = (await conn.execute(select(func.count()).select_from(RollupDay))).scalar_one()
        stored = (
            await conn.execute(
                select(RollupDay.checkins, RollupDay.active_members).where(
                    RollupDay.day == FIRST_DAY
                )
            )
        ).one()
    assert days == 4
    assert tuple(stored) == (4, 4)
    await history.assert_same(FIRST_DAY - timedelta(days=1), FIRST_DAY + timedelta(days=3))


async def test_a_redemption_approved_after_its_day_moves_in_the_roll_up(make_mall: MallFactory):
    mall = await make_mall()
    history = History(mall)
    await history.open()
    await history.act("lamp", MEMBERS[0], 0, moment(FIRST_DAY, 60))
    await mall.rollups.roll(moment(FIRST_DAY + timedelta(days=1), 30))
    (item,) = await mall.reports.redemptions_per_item(FIRST_DAY, FIRST_DAY)
    assert (item.redeemed, item.awaiting, item.awaiting_points) == (0, 1, 40)
    await history.act("approve", MEMBERS[0], 0, moment(FIRST_DAY + timedelta(days=1), 60))
    (item,) = await mall.reports.redemptions_per_item(FIRST_DAY, FIRST_DAY)
    assert (item.redeemed, item.points, item.awaiting) == (1, 40, 0)
    async with mall.db.read() as conn:
        rows = (
            await conn.execute(
                select(RollupRedemption.status, RollupRedemption.redemptions).order_by(
                    RollupRedemption.status
                )
            )
        ).all()
    assert [tuple(row) for row in rows] == [("awaiting_approval", 0), ("completed", 1)]
    await history.assert_same(FIRST_DAY, FIRST_DAY + timedelta(days=1))


async def test_the_reports_read_rolled_up_days_by_their_keys(mall: Mall):
    history = History(mall)
    await history.open()
    await mall.rollups.roll(moment(FIRST_DAY + timedelta(days=1), 30))
    first, last = FIRST_DAY - timedelta(days=29), FIRST_DAY
    keys = {
        "rollup_days": ("pk_rollup_days", "sqlite_autoindex_rollup_days_1"),
        "rollup_flows": ("pk_rollup_flows", "sqlite_autoindex_rollup_flows_1"),
        "rollup_redemptions": ("pk_rollup_redemptions", "sqlite_autoindex_rollup_redemptions_1"),
        "rollup_box_draws": ("pk_rollup_box_draws", "sqlite_autoindex_rollup_box_draws_1"),
    }
    reads = {
        "rollup_days": lambda: mall.reports.daily(first, last),
        "rollup_flows": lambda: mall.reports.daily(first, last),
        "rollup_redemptions": lambda: mall.reports.redemptions_per_item(first, last),
        "rollup_box_draws": lambda: mall.reports.box_payouts(first, last),
    }
    for table, read in reads.items():
        assert_uses(await plans_of(mall, read, table), *keys[table])


async def test_the_rollups_job_catches_up_at_start_then_runs_every_hour(mall: Mall):
    from bot.jobs import JobScheduler, job_specs
    from core.operations.jobs import Jobs
    from tests.test_jobs import Words

    history = History(mall)
    await history.open()
    await history.act("checkin", MEMBERS[0], 0, moment(FIRST_DAY, 60))
    tz = mall.config.mall.timezone
    (spec,) = [s for s in job_specs(Jobs(mall, Words()), mall.config) if s.name == "rollups"]
    assert spec.trigger.get_next_fire_time(None, moment(FIRST_DAY, 60)) == moment(FIRST_DAY, 90)
    assert spec.trigger.get_next_fire_time(None, moment(FIRST_DAY, 23 * 60 + 31)) == moment(
        FIRST_DAY + timedelta(days=1), 30
    )
    started = moment(FIRST_DAY + timedelta(days=2), 9 * 60)
    scheduler = JobScheduler(mall.job_runs, [spec], clock=lambda: started, tz=tz)
    # Down for two nights: the start rolls up every day that ended.
    assert await scheduler.catch_up(started) == ["rollups"]
    again = await mall.rollups.roll(started)
    assert (again.days, again.hours) == ((), 0)  # nothing left to write
    async with mall.db.read() as conn:
        rolled = (await conn.execute(select(RollupDay.day).order_by(RollupDay.day))).scalars()
        assert [str(day) for day in rolled] == ["2026-03-01", "2026-03-02", "2026-03-03"]
        # And today's hours that ended by 08:50: 00:00 to 08:00.
        hours = (await conn.execute(select(func.count()).select_from(RollupHour))).scalar_one()
    assert hours == 8
    assert spec.missed(started, moment(FIRST_DAY + timedelta(days=2), 10 * 60 + 30))
    assert await scheduler.run("rollups", moment(FIRST_DAY + timedelta(days=2), 10 * 60 + 30))
    async with mall.db.read() as conn:
        hours = (await conn.execute(select(func.count()).select_from(RollupHour))).scalar_one()
    assert hours == 10
    assert await scheduler.run("rollups", moment(FIRST_DAY + timedelta(days=3), 30))
    async with mall.db.read() as conn:
        latest = (await conn.execute(select(func.max(RollupDay.day)))).scalar_one()
    assert str(latest) == "2026-03-04"


async def test_box_payouts_of_days_not_rolled_up_read_draws_by_time(mall: Mall):
    first, last = FIRST_DAY - timedelta(days=29), FIRST_DAY
    found = await plans_of(mall, lambda: mall.reports.box_payouts(first, last), "box_draws")
    assert_uses(found, "ix_box_draws_created_at")


async def test_a_first_run_rolls_up_the_last_year_and_older_days_stay_live(mall: Mall):
    history = History(mall)
    await history.open()
    await history.act("coffee", MEMBERS[0], 0, moment(FIRST_DAY, 60))
    later = FIRST_DAY + timedelta(days=400)
    run = await mall.rollups.roll(moment(later, 30))
    assert len(run.days) == CATCH_UP_DAYS
    assert run.days[0] == later - timedelta(days=CATCH_UP_DAYS)
    await history.assert_same(FIRST_DAY - timedelta(days=1), FIRST_DAY + timedelta(days=40))


def test_a_business_days_hours_start_at_its_midnight_whatever_the_offset():
    kathmandu, new_york = ZoneInfo("Asia/Kathmandu"), ZoneInfo("America/New_York")
    hours = hours_of(date(2026, 3, 2), kathmandu)  # +05:45
    assert len(hours) == 24
    assert hours[0][0] == datetime(2026, 3, 1, 18, 15, tzinfo=UTC)
    assert hours[-1][1] == datetime(2026, 3, 2, 18, 15, tzinfo=UTC)
    assert len(hours_of(date(2026, 3, 8), new_york)) == 23  # clocks go forward
    assert len(hours_of(date(2026, 11, 1), new_york)) == 25  # and back
    for day, tz in ((date(2026, 3, 8), new_york), (date(2026, 11, 1), new_york)):
        hours = hours_of(day, tz)
        assert hours[0][0] == start_of_day(day, tz)
        assert hours[-1][1] == start_of_day(day + timedelta(days=1), tz)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(hours))


async def test_an_hour_is_rolled_up_once_by_writers_at_once(make_mall: MallFactory):
    mall = await make_mall()
    history = History(mall)
    await history.open()
    for n, member_id in enumerate(MEMBERS):
        await history.act("checkin", member_id, 0, moment(FIRST_DAY, 60 + n))
        await history.act("coffee", member_id, 0, moment(FIRST_DAY, 70 + n))
        await history.act("purchase", member_id, n, moment(FIRST_DAY, 130 + n))
    now = moment(FIRST_DAY, 3 * 60 + 15)
    runs = await asyncio.gather(mall.rollups.roll(now), mall.rollups.roll(now))
    assert sum(run.hours for run in runs) == 3
    async with mall.db.read() as conn:
        stored = (
            await conn.execute(select(RollupHour.checkins).order_by(RollupHour.hour))
        ).scalars()
        assert list(stored) == [0, 4, 0]
        members = (
            await conn.execute(select(func.count()).select_from(RollupDayMember))
        ).scalar_one()
    assert members == len(MEMBERS)
    await history.assert_same(FIRST_DAY - timedelta(days=1), FIRST_DAY)
    # Two days on, the day's hours and members are gone: the day is rolled up.
    await mall.rollups.roll(moment(FIRST_DAY + timedelta(days=2), 30))
    async with mall.db.read() as conn:
        left = (await conn.execute(select(func.count()).select_from(RollupHour))).scalar_one()
        members = (
            await conn.execute(select(func.count()).select_from(RollupDayMember))
        ).scalar_one()
    assert (left, members) <= (24, 0)
    await history.assert_same(FIRST_DAY - timedelta(days=1), FIRST_DAY + timedelta(days=2))


async def test_the_open_days_rest_reads_by_time_and_its_members_by_key(mall: Mall):
    history = History(mall)
    await history.open()
    await history.act("checkin", MEMBERS[0], 0, moment(FIRST_DAY, 60))
    await mall.rollups.roll(moment(FIRST_DAY, 3 * 60 + 15))
    read = lambda: mall.reports.daily(FIRST_DAY, FIRST_DAY)  # noqa: E731
    assert_uses(await plans_of(mall, read, "transfers"), "ix_transfers_created_at")
    assert_uses(await plans_of(mall, read, "checkins"), "ix_checkins_day")
    assert_uses(
        await plans_of(mall, read, "rollup_day_members"),
        "pk_rollup_day_members",
        "sqlite_autoindex_rollup_day_members_1",
    )


async def test_hours_across_a_daylight_saving_change_equal_the_live_figures(
    make_mall: MallFactory,
):
    tz = ZoneInfo("America/New_York")
    mall = await make_mall(make_config('[mall]\ntimezone = "America/New_York"'))
    history = History(mall)
    await history.open()
    day = date(2026, 3, 8)  # 23 hours: the clocks go forward at 02:00

    def when(minutes: int) -> datetime:
        return start_of_day(day, tz).astimezone(UTC) + timedelta(minutes=minutes)

    kinds = ("checkin", "purchase", "coffee", "box", "checkin", "lamp", "purchase")
    for n, kind in enumerate(kinds):
        await history.act(kind, MEMBERS[n % len(MEMBERS)], n, when(20 + n * 190))
        if n % 2:  # mid-hour, 95 minutes on
            run = await mall.rollups.roll(when(115 + n * 190))
            assert run.hours
            await history.assert_same(day - timedelta(days=1), day + timedelta(days=1))
    # 00:05 and 00:20 the next day (23 hours on): the day's last hours, then the day.
    for minutes in (23 * 60 + 5, 23 * 60 + 20):
        await mall.rollups.roll(when(minutes))
        await history.assert_same(day - timedelta(days=1), day + timedelta(days=1))
    async with mall.db.read() as conn:
        rolled = await conn.execute(select(RollupDay.day).where(RollupDay.day == day))
        assert rolled.first() is not None
