"""Daily check-in: one per business day, streaks, rewards by streak day, make-up days."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import rules, validation
from core.accounts import SystemAccount
from core.config import Config
from core.db.database import Database
from core.db.models import CheckIn, Member
from core.earning import earn
from core.errors import Frozen, MakeUpNotAllowed
from core.idempotency import run_once
from core.ledger import debit_member, lock_member, require_member
from core.referrals import ReferralReward, qualify


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


@dataclass(frozen=True)
class MakeUpResult:
    day: date
    price: int
    streak: int
    balance: int
    makeups_left: int


@dataclass(frozen=True)
class MonthCalendar:
    """A member's check-ins in the month of ``today``."""

    today: date
    checked_in: tuple[date, ...]
    made_up: tuple[date, ...]
    streak: int
    makeups_left: int
    makeup_price: int
    missed: tuple[date, ...]


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
            member = await lock_member(conn, member_id)
            if member.frozen:
                raise Frozen(f"member {member_id} is frozen", member_id=member_id)
            previous = await _streak_on(conn, member_id, day - timedelta(days=1))
            streak = previous + 1
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
                )
                granted, capped, balance = earned.granted, earned.capped, earned.balance
            await conn.execute(
                insert(CheckIn).values(
                    member_id=member_id,
                    day=day,
                    streak=streak,
                    reward=granted,
                    makeup=False,
                    created_at=now,
                )
            )
            referral = await qualify(conn, self.config, member_id, "checkin", now)
            if referral is not None:
                balance = referral.invitee_balance
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
        """Fill one missed day of the current month, for the configured price.

        The day counts for the streak (no reward of its own), and the streak of every day
        after it is recounted.
        """
        validation.member_id(member_id)
        validation.instant(now)
        settings = self.config.checkin
        today = rules.business_day(now, self.config.mall.timezone)
        if not isinstance(day, date) or isinstance(day, datetime):
            raise MakeUpNotAllowed("day must be a date", reason="not_a_date")
        if settings.makeup_per_month == 0:
            raise MakeUpNotAllowed("make-up check-ins are off", reason="disabled")
        if not (day < today and (day.year, day.month) == (today.year, today.month)):
            raise MakeUpNotAllowed(
                f"{day} is not a past day of this month", reason="not_this_month"
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
            used = await _makeups_in_month(conn, member_id, today)
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

    async def calendar(self, member_id: int, now: datetime) -> MonthCalendar:
        """This month's check-ins, the live streak, and what a make-up would cost."""
        validation.member_id(member_id)
        today = rules.business_day(now, self.config.mall.timezone)
        first = today.replace(day=1)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            # Days before joining were never the member's to miss.
            since = max(first, await _joined_on(conn, member_id, self.config))
            rows = (
                await conn.execute(
                    select(CheckIn.day, CheckIn.makeup)
                    .where(
                        CheckIn.member_id == member_id, CheckIn.day >= first, CheckIn.day <= today
                    )
                    .order_by(CheckIn.day)
                )
            ).all()
            streak = await _current_streak(conn, member_id, today)
            used = await _makeups_in_month(conn, member_id, today)
        days = {row.day for row in rows}
        missed = tuple(
            since + timedelta(days=n)
            for n in range((today - since).days)
            if since + timedelta(days=n) not in days
        )
        settings = self.config.checkin
        return MonthCalendar(
            today=today,
            checked_in=tuple(row.day for row in rows),
            made_up=tuple(row.day for row in rows if row.makeup),
            streak=streak,
            makeups_left=max(0, settings.makeup_per_month - used),
            makeup_price=settings.makeup_price,
            missed=missed,
        )


async def _joined_on(conn: AsyncConnection, member_id: int, config: Config) -> date:
    joined = (
        await conn.execute(select(Member.joined_at).where(Member.id == member_id))
    ).scalar_one()
    return rules.business_day(joined, config.mall.timezone)


_CHECKINS = cast(Table, CheckIn.__table__)
# Built once: every check-in runs it (see core.ledger on why).
_STREAK_ON = select(_CHECKINS.c.streak).where(
    _CHECKINS.c.member_id == bindparam("member_id"), _CHECKINS.c.day == bindparam("on_day")
)


async def _streak_on(conn: AsyncConnection, member_id: int, day: date) -> int:
    """The streak counted on ``day``, 0 if the member did not check in that day."""
    streak = (
        await conn.execute(_STREAK_ON, {"member_id": member_id, "on_day": day})
    ).scalar_one_or_none()
    return int(streak or 0)


async def _current_streak(conn: AsyncConnection, member_id: int, today: date) -> int:
    """The live streak: today's, else yesterday's (still alive until today ends), else 0."""
    return await _streak_on(conn, member_id, today) or await _streak_on(
        conn, member_id, today - timedelta(days=1)
    )


async def _makeups_in_month(conn: AsyncConnection, member_id: int, today: date) -> int:
    first = today.replace(day=1)
    count = (
        await conn.execute(
            select(func.count()).where(
                CheckIn.member_id == member_id,
                CheckIn.makeup.is_(True),
                CheckIn.day >= first,
                CheckIn.day <= today,
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
