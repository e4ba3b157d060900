"""Daily check-in: one per business day, streaks, rewards by streak day, make-up days.

A missed day can be made up (bought, for ``[checkin] makeup_price``) for
``makeup_window_days`` after it, whatever month it is in; ``makeup_per_month`` counts make-ups
in the month they are bought. Streaks are counted over days, never months: filling a day
renumbers the unbroken run after it, across month ends too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import CheckIn, Member
from core.db.prepared import Prepared
from core.errors import Frozen, InvalidInput, MakeUpNotAllowed
from core.growth.member_days import MemberDayBonus, any_rule_for, pay_bonus
from core.growth.referrals import ReferralReward, pending_referral, qualify
from core.growth.task_rewards import TaskReward, advance, advance_each, any_challenge_on
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.earning import EARNED_IN_WINDOW, earn, standing_of, window_bounds
from core.points.idempotency import run_once
from core.points.ledger import (
    LockedRead,
    current_balance,
    debit_member,
    lock_member,
    require_member,
)


@dataclass(frozen=True)
class CheckInResult:
    """A day's check-in. ``already_checked_in`` marks a repeat that changed nothing."""

    day: date
    streak: int
    reward: int
    capped: int
    balance: int
    next_milestone_streak: int | None
    next_milestone_reward: int | None
    next_open_at: datetime
    already_checked_in: bool = False
    # This check-in qualified the member's invite: what it paid them and their referrer.
    referral: ReferralReward | None = None
    # Challenges this check-in completed, paid with it (their points are in ``balance``).
    tasks: tuple[TaskReward, ...] = ()
    # A member day multiplied the reward: the extra, paid as its own transfer.
    member_day: MemberDayBonus | None = None


@dataclass(frozen=True)
class MakeUpResult:
    day: date
    price: int
    streak: int
    balance: int
    makeups_left: int


@dataclass(frozen=True)
class MonthCalendar:
    """A member's check-ins in one month (``month``, its first day), seen on ``today``.

    ``checked_in``, ``made_up`` and ``missed`` are days of ``month``; ``missed`` are the days
    since the member joined, before today, with no check-in. ``open_for_makeup`` are the missed
    days a make-up could fill now, in any month of the window, oldest first (buying one also
    takes ``makeups_left``, which is this month's, above 0). The calendar pages from
    ``earliest_month`` (where the window or the member's joining begins) to today's month.
    """

    today: date
    checked_in: tuple[date, ...]
    made_up: tuple[date, ...]
    streak: int
    makeups_left: int
    makeup_price: int
    missed: tuple[date, ...]
    month: date
    earliest_month: date
    open_for_makeup: tuple[date, ...]

    @property
    def previous_month(self) -> date | None:
        """The first day of the month before, if the calendar pages back to it."""
        previous = (self.month - timedelta(days=1)).replace(day=1)
        return previous if previous >= self.earliest_month else None

    @property
    def next_month(self) -> date | None:
        """The first day of the month after, unless this is today's month."""
        following = _next_month(self.month)
        return following if following <= self.today else None


class CheckIns:
    """The check-in rules of DESIGN's member features, on the mall's own calendar."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def check_in(self, member_id: int, now: datetime) -> CheckInResult:
        """Check the member in for today, once however often or concurrently it is asked."""
        validation.member_id(member_id)
        validation.instant(now)
        day = rules.business_day(now, self.config.mall.timezone)

        async def work(conn: AsyncConnection) -> CheckInResult:
            (
                member,
                (previous, earned_in_window, invited, bonus_days, challenges),
            ) = await _CHECK_IN_READ.lock(
                conn,
                member_id,
                yesterday=day - timedelta(days=1),
                **window_bounds(self.config, day),
            )
            if member.frozen:
                raise Frozen(f"member {member_id} is frozen", member_id=member_id)
            streak = int(previous or 0) + 1
            reward = rules.checkin_reward(streak, self.config.checkin)
            granted, capped, balance = 0, 0, member.balance
            if reward:
                earned = await earn(
                    conn,
                    self.config,
                    member,
                    amount=reward,
                    code="checkin",
                    reference=day.isoformat(),
                    key=f"checkin:{member_id}:{day.isoformat()}",
                    now=now,
                    standing=standing_of(self.config, int(earned_in_window)),
                )
                granted, capped, balance = earned.granted, earned.capped, earned.balance
            bonus = None
            if bonus_days:
                bonus = await pay_bonus(
                    conn,
                    self.config,
                    replace(member, balance=balance),
                    applies_to="checkin",
                    base=reward,
                    cause_key=f"checkin:{member_id}:{day.isoformat()}",
                    reference=f"checkin:{day.isoformat()}",
                    now=now,
                )
            if bonus is not None:
                balance = bonus.balance
            await _INSERT_CHECKIN.run(
                conn,
                {
                    "member_id": member_id,
                    "day": day,
                    "streak": streak,
                    "reward": granted,
                    "makeup": False,
                    "created_at": now,
                },
            )
            referral = None
            if invited:
                referral = await qualify(conn, self.config, member_id, "checkin", now)
            if referral is not None:
                balance = referral.invitee_balance
            tasks: tuple[TaskReward, ...] = ()
            if challenges:
                tasks = await advance(conn, self.config, member_id, "checkins", now, notified=True)
            if tasks:
                balance = tasks[-1].balance
            milestone = rules.next_milestone(streak, self.config.checkin)
            return CheckInResult(
                day=day,
                streak=streak,
                reward=granted,
                capped=capped,
                balance=balance,
                next_milestone_streak=milestone.streak if milestone else None,
                next_milestone_reward=milestone.reward if milestone else None,
                next_open_at=rules.start_of_day(day + timedelta(days=1), self.config.mall.timezone),
                referral=referral,
                tasks=tasks,
                member_day=bonus,
            )

        outcome = await run_once(
            self.db,
            key=f"checkin:{member_id}:{day.isoformat()}",
            kind="checkin",
            request={"member_id": member_id, "day": day},
            result_type=CheckInResult,
            work=work,
            now=now,
            # A refusal (frozen) must not outlive the freeze: the key is the day itself.
            record_rejection=False,
        )
        if outcome.replayed:
            return replace(outcome.result, already_checked_in=True)
        return outcome.result

    async def make_up(self, member_id: int, day: date, now: datetime) -> MakeUpResult:
        """Fill one missed day of the look-back window, for the configured price.

        Any day from ``makeup_window_days`` before today to yesterday may be filled, whatever
        month it is in: a day missed on 31 March can be made up on 1 April. The day counts for
        the streak (no reward of its own), and the streak of every day after it is recounted,
        across the month end too.

        ``makeup_per_month`` counts the make-ups *bought* in a month of the mall's calendar,
        not the month of the day they fill: making up 31 March on 1 April uses one of April's.
        So a member has one allowance at a time (the calendar shows the same "left" on every
        page), reaching back into last month never reopens last month's allowance, and the
        daily report, which counts a make-up on the day it was bought, agrees.
        """
        validation.member_id(member_id)
        validation.instant(now)
        settings = self.config.checkin
        today = rules.business_day(now, self.config.mall.timezone)
        if not isinstance(day, date) or isinstance(day, datetime):
            raise MakeUpNotAllowed("day must be a date", reason="not_a_date")
        if settings.makeup_per_month == 0:
            raise MakeUpNotAllowed("make-up check-ins are off", reason="disabled")
        if not today - timedelta(days=settings.makeup_window_days) <= day < today:
            raise MakeUpNotAllowed(
                f"{day} is not one of the {settings.makeup_window_days} days before {today}",
                reason="outside_window",
            )

        async def work(conn: AsyncConnection) -> MakeUpResult:
            member = await lock_member(conn, member_id)
            if member.frozen:
                raise Frozen(f"member {member_id} is frozen", member_id=member_id)
            if day < await _joined_on(conn, member_id, self.config):
                raise MakeUpNotAllowed(
                    f"{day} is before the member joined", reason="before_joining"
                )
            if await _streak_on(conn, member_id, day):
                raise MakeUpNotAllowed(f"{day} is already checked in", reason="checked_in")
            used = await _makeups_bought_in_month(conn, member_id, today, self.config)
            if used >= settings.makeup_per_month:
                raise MakeUpNotAllowed("no make-ups left this month", reason="limit")
            balance = member.balance
            if settings.makeup_price:
                _, balance = await debit_member(
                    conn,
                    member_id=member_id,
                    destination=SystemAccount.REDEMPTIONS,
                    amount=settings.makeup_price,
                    code="makeup_checkin",
                    reference=day.isoformat(),
                    key=f"makeup:{member_id}:{day.isoformat()}",
                    now=now,
                )
            previous = await _streak_on(conn, member_id, day - timedelta(days=1))
            await conn.execute(
                insert(CheckIn).values(
                    member_id=member_id,
                    day=day,
                    streak=previous + 1,
                    reward=0,
                    makeup=True,
                    created_at=now,
                )
            )
            await _recount_streaks_after(conn, member_id, day, previous + 1)
            # A filled day counts toward check-in challenges, its price toward spending ones.
            if await advance_each(conn, self.config, member_id, ("checkins", "spend"), now):
                balance = await current_balance(conn, member_id)
            return MakeUpResult(
                day=day,
                price=settings.makeup_price,
                streak=await _current_streak(conn, member_id, today),
                balance=balance,
                makeups_left=settings.makeup_per_month - used - 1,
            )

        outcome = await run_once(
            self.db,
            key=f"makeup:{member_id}:{day.isoformat()}",
            kind="makeup",
            request={"member_id": member_id, "day": day},
            result_type=MakeUpResult,
            work=work,
            now=now,
            record_rejection=False,
        )
        return outcome.result

    async def calendar(
        self, member_id: int, now: datetime, month: date | None = None
    ) -> MonthCalendar:
        """A month's check-ins (this month's, or those of the month ``month`` falls in), the
        live streak, and what a make-up would cost and could fill.

        Months before ``earliest_month`` or after this one are refused (``InvalidInput``,
        reason ``month_out_of_range``): the calendar pages as far back as a make-up reaches.
        """
        validation.member_id(member_id)
        settings = self.config.checkin
        today = rules.business_day(now, self.config.mall.timezone)
        this_month = today.replace(day=1)
        if month is not None and (not isinstance(month, date) or isinstance(month, datetime)):
            raise InvalidInput("month must be a date", field="month")
        shown = this_month if month is None else month.replace(day=1)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            # Days before joining were never the member's to miss.
            joined = await _joined_on(conn, member_id, self.config)
            window_start = max(today - timedelta(days=settings.makeup_window_days), joined)
            earliest = min(window_start, today).replace(day=1)
            if not earliest <= shown <= this_month:
                raise InvalidInput(
                    f"{shown:%Y-%m} is outside {earliest:%Y-%m} to {this_month:%Y-%m}",
                    field="month",
                    reason="month_out_of_range",
                )
            rows = (
                await conn.execute(
                    select(CheckIn.day, CheckIn.makeup)
                    .where(
                        CheckIn.member_id == member_id,
                        CheckIn.day >= min(shown, window_start),
                        CheckIn.day <= today,
                    )
                    .order_by(CheckIn.day)
                )
            ).all()
            streak = await _current_streak(conn, member_id, today)
            used = await _makeups_bought_in_month(conn, member_id, today, self.config)
        days = {row.day for row in rows}
        in_month = [row for row in rows if shown <= row.day < _next_month(shown)]
        return MonthCalendar(
            today=today,
            checked_in=tuple(row.day for row in in_month),
            made_up=tuple(row.day for row in in_month if row.makeup),
            streak=streak,
            makeups_left=max(0, settings.makeup_per_month - used),
            makeup_price=settings.makeup_price,
            missed=_days_without(days, max(shown, joined), min(_next_month(shown), today)),
            month=shown,
            earliest_month=earliest,
            open_for_makeup=_days_without(days, window_start, today),
        )


def _next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _days_without(days: set[date], start: date, end: date) -> tuple[date, ...]:
    """The days from ``start`` up to (not including) ``end`` that are not in ``days``."""
    span = (end - start).days
    return tuple(
        start + timedelta(days=n) for n in range(span) if start + timedelta(days=n) not in days
    )


async def _joined_on(conn: AsyncConnection, member_id: int, config: Config) -> date:
    joined = (
        await conn.execute(select(Member.joined_at).where(Member.id == member_id))
    ).scalar_one()
    return rules.business_day(joined, config.mall.timezone)


_CHECKINS = cast(Table, CheckIn.__table__)
# Built once and run at the driver: every check-in runs them (see core.db.prepared on why).
_STREAK_ON = Prepared(
    select(_CHECKINS.c.streak).where(
        _CHECKINS.c.member_id == bindparam("member_id"), _CHECKINS.c.day == bindparam("on_day")
    )
)
_INSERT_CHECKIN = Prepared(insert(_CHECKINS))
# A check-in's reads, folded into the member's lock: yesterday's streak, the points earned in
# the tier window, and whether a pending invite, a member day or a challenge could apply at
# all (most check-ins have none of the three, and skip their reads).
_CHECK_IN_READ = LockedRead(
    select(_CHECKINS.c.streak)
    .where(
        _CHECKINS.c.member_id == bindparam("member_id"), _CHECKINS.c.day == bindparam("yesterday")
    )
    .scalar_subquery(),
    EARNED_IN_WINDOW.scalar_subquery(),
    pending_referral(bindparam("member_id")).exists(),
    any_rule_for("checkin"),
    any_challenge_on("checkins"),
)


async def _streak_on(conn: AsyncConnection, member_id: int, day: date) -> int:
    """The streak counted on ``day``, 0 if the member did not check in that day."""
    streak = await _STREAK_ON.scalar(conn, {"member_id": member_id, "on_day": day})
    return int(streak or 0)


async def _current_streak(conn: AsyncConnection, member_id: int, today: date) -> int:
    """The live streak: today's, else yesterday's (still alive until today ends), else 0."""
    return await _streak_on(conn, member_id, today) or await _streak_on(
        conn, member_id, today - timedelta(days=1)
    )


async def _makeups_bought_in_month(
    conn: AsyncConnection, member_id: int, today: date, config: Config
) -> int:
    """Make-ups the member bought in ``today``'s month of the mall's calendar, whatever days
    they filled (a make-up row's ``created_at`` is when it was bought)."""
    first = today.replace(day=1)
    tz = config.mall.timezone
    count = (
        await conn.execute(
            select(func.count()).where(
                CheckIn.member_id == member_id,
                CheckIn.makeup.is_(True),
                CheckIn.created_at >= rules.start_of_day(first, tz),
                CheckIn.created_at < rules.start_of_day(_next_month(first), tz),
            )
        )
    ).scalar_one()
    return int(count)


async def _recount_streaks_after(
    conn: AsyncConnection, member_id: int, day: date, streak: int
) -> None:
    """After a day was filled in, renumber the unbroken run of days that follows it."""
    following = (
        await conn.execute(
            select(CheckIn.day)
            .where(CheckIn.member_id == member_id, CheckIn.day > day)
            .order_by(CheckIn.day)
        )
    ).scalars()
    expected = day + timedelta(days=1)
    for next_day in following:
        if next_day != expected:
            break
        streak += 1
        await conn.execute(
            update(CheckIn)
            .where(CheckIn.member_id == member_id, CheckIn.day == next_day)
            .values(streak=streak)
        )
        expected += timedelta(days=1)
