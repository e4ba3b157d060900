"""Paying a task's reward, and the challenges that count what the ledger already knows.

A completion is one row per task, member and period (``ever``, a business day, an ISO week or a
month), unique in the database, and its points carry the key ``task:<task>:<member>:<period>``:
whatever the order or repetition of the updates that lead to it, a reward is paid at most once.
Challenges are advanced inside the transaction of the use case that moves them (a check-in, a
spend, a redemption, a qualified invite, a shop order), after the member's lock, so the check-in
that reaches the target pays the reward in the same commit, exactly once under double taps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Exists, Row, and_, bindparam, case, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.config import Config
from core.db.models import (
    CheckIn,
    Item,
    Order,
    Redemption,
    Referral,
    Task,
    TaskCompletion,
    Transfer,
)
from core.errors import Frozen, TierTooLow
from core.points import rules
from core.points.earning import earn
from core.points.ledger import current_balance, lock_member
from core.rewards.eligibility import member_rank, tier_rank
from core.rewards.inventory import record_given_item, take_stock

METRICS: tuple[str, ...] = ("checkins", "spend", "redeem", "invites", "shop")
REPEATS: tuple[str, ...] = ("once", "day", "week", "month")
KINDS: tuple[str, ...] = ("channel", "quiz", "survey", "challenge")

# What a member spends points on (debits from their account), and what gives spent points back.
SPENDING = (
    "redemption",
    "hold",
    "box_draw",
    "flash_sale",
    "donation",
    "checkout",
    "makeup_checkin",
)
GIVEN_BACK = ("hold_void", "redemption_refund")


# Every check-in, spend, redemption, invite and order asks this: built once (see ledger.py).
def _challenges_on(metric: Any) -> ColumnElement[bool]:
    return and_(Task.kind == "challenge", Task.metric == metric, Task.active)


_OPEN_CHALLENGES = select(Task).where(_challenges_on(bindparam("metric")))


def any_challenge_on(metric: str) -> Exists:
    """Whether any active challenge counts ``metric``: false means :func:`advance` has
    nothing to do (use cases fold it into their lock read)."""
    return select(Task.id).where(_challenges_on(metric)).exists()


@dataclass(frozen=True)
class TaskReward:
    """What completing a task paid: points (and what the daily cap kept), a prize item."""

    completion_id: int
    task_id: int
    code: str
    title: str
    titles: dict[str, str]
    period: str
    points: int
    capped: int
    balance: int
    item_title: str | None = None
    item_titles: dict[str, str] = field(default_factory=dict)
    prize_missing: bool = False


def period_of(repeat: str, day: date) -> str:
    """The period a business day falls in for a task that repeats so."""
    if repeat == "day":
        return day.isoformat()
    if repeat == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if repeat == "month":
        return f"{day.year}-{day.month:02d}"
    return "ever"


def period_days(repeat: str, day: date) -> tuple[date, date] | None:
    """The first day and the day after the last of ``day``'s period; None for ``once``."""
    if repeat == "day":
        return day, day + timedelta(days=1)
    if repeat == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=7)
    if repeat == "month":
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first, following
    return None


@dataclass(frozen=True)
class Window:
    """Where a challenge counts: business days ``[first, end)`` and instants ``[start, stop)``."""

    first: date | None
    end: date | None
    start: datetime
    stop: datetime | None


def counting_window(task: Any, day: date, config: Config) -> Window:
    """The part of ``day``'s period inside the task's own window (from its creation if it has no
    start: activity from before a challenge existed does not count toward it)."""
    tz = config.mall.timezone
    start: datetime = task.starts_at or task.created_at
    stop: datetime | None = task.ends_at
    days = period_days(task.repeat, day)
    if days is not None:
        start = max(start, rules.start_of_day(days[0], tz))
        period_stop = rules.start_of_day(days[1], tz)
        stop = period_stop if stop is None else min(stop, period_stop)
    first = rules.business_day(start, tz)
    end = None if stop is None else rules.business_day(stop - timedelta(microseconds=1), tz)
    return Window(first, None if end is None else end + timedelta(days=1), start, stop)


async def measure(conn: AsyncConnection, metric: str, member_id: int, window: Window) -> int:
    """How far the member got on ``metric`` inside ``window``."""
    if metric == "checkins":
        where = [CheckIn.member_id == member_id]
        if window.first is not None:
            where.append(CheckIn.day >= window.first)
        if window.end is not None:
            where.append(CheckIn.day < window.end)
        query: Any = select(func.count()).select_from(CheckIn).where(*where)
    elif metric == "spend":
        # Debits count; points given back (a void, a refund) count against them.
        signed = case(
            (Transfer.debit_account_id == member_id, Transfer.amount), else_=-Transfer.amount
        )
        spent = func.coalesce(func.sum(signed), 0)
        query = select(spent).where(
            or_(
                and_(Transfer.debit_account_id == member_id, Transfer.code.in_(SPENDING)),
                and_(Transfer.credit_account_id == member_id, Transfer.code.in_(GIVEN_BACK)),
            ),
            *_instants(Transfer.created_at, window),
        )
    elif metric == "redeem":
        query = (
            select(func.count())
            .select_from(Redemption)
            .where(
                Redemption.member_id == member_id,
                Redemption.status.not_in(("cancelled", "rejected")),
                # Prizes (a box's item, a task's) are won, not redeemed.
                or_(Redemption.points > 0, Redemption.cash_minor > 0),
                *_instants(Redemption.created_at, window),
            )
        )
    elif metric == "invites":
        query = (
            select(func.count())
            .select_from(Referral)
            .where(
                Referral.referrer_id == member_id,
                Referral.status.in_(("rewarded", "capped")),
                *_instants(Referral.rewarded_at, window),
            )
        )
    else:  # shop: what the member paid for orders, less what was refunded
        query = select(func.coalesce(func.sum(Order.amount_minor - Order.refunded_minor), 0)).where(
            Order.member_id == member_id, *_instants(Order.created_at, window)
        )
    return int((await conn.execute(query)).scalar_one())


def _instants(column: Any, window: Window) -> list[Any]:
    clauses = [column >= window.start]
    if window.stop is not None:
        clauses.append(column < window.stop)
    return clauses


def is_open(task: Any, now: datetime) -> bool:
    """Switched on and inside its window."""
    started = task.starts_at is None or task.starts_at <= now
    not_ended = task.ends_at is None or now < task.ends_at
    return bool(task.active) and started and not_ended


def tier_allows(task: Any, tier: str, config: Config) -> bool:
    if task.min_tier is None:
        return True
    return member_rank(tier, config.tiers) >= tier_rank(task.min_tier, config.tiers)


async def completion_of(
    conn: AsyncConnection, task_id: int, member_id: int, period: str
) -> Row[Any] | None:
    return (
        await conn.execute(
            select(TaskCompletion).where(
                TaskCompletion.task_id == task_id,
                TaskCompletion.member_id == member_id,
                TaskCompletion.period == period,
            )
        )
    ).first()


async def reward_of(conn: AsyncConnection, task: Any, completion: Row[Any]) -> TaskReward:
    """The reward an earlier completion paid, as it was paid (for a repeated request, or the
    job's message), with the member's balance as this transaction sees it."""
    item = await _item(conn, task.reward_item_id)
    balance = await current_balance(conn, int(completion.member_id))
    return TaskReward(
        completion_id=int(completion.id),
        task_id=int(task.id),
        code=str(task.code),
        title=str(task.title),
        titles=dict(task.titles or {}),
        period=str(completion.period),
        points=int(completion.points),
        capped=int(completion.capped),
        balance=balance,
        item_title=None if item is None else str(item.title),
        item_titles={} if item is None else dict(item.titles or {}),
        prize_missing=bool(completion.prize_missing),
    )


async def _item(conn: AsyncConnection, item_id: int | None) -> Any:
    if item_id is None:
        return None
    return (
        await conn.execute(select(Item.id, Item.title, Item.titles).where(Item.id == item_id))
    ).first()


async def pay(
    conn: AsyncConnection,
    config: Config,
    task: Any,
    member_id: int,
    period: str,
    now: datetime,
    *,
    notified: bool,
    watch_until: datetime | None = None,
) -> TaskReward:
    """Record the completion and pay its reward, in the caller's transaction.

    The caller has checked that there is no completion for the period yet (under the member's
    lock); the unique index makes a second one impossible anyway. A prize item that has run out
    is recorded as missing: the points (if any) are still paid.
    """
    member = await lock_member(conn, member_id)
    if member.frozen:
        raise Frozen(f"member {member_id} is frozen", member_id=member_id)
    if not tier_allows(task, member.tier, config):
        raise TierTooLow(f"task {task.code!r} needs tier {task.min_tier}", required=task.min_tier)
    points = capped = 0
    balance = member.balance
    if task.reward_points:
        earned = await earn(
            conn,
            config,
            member,
            amount=int(task.reward_points),
            code="task",
            reference=str(task.code),
            key=f"task:{task.id}:{member_id}:{period}",
            now=now,
        )
        points, capped, balance = earned.granted, earned.capped, earned.balance
    item = await _item(conn, task.reward_item_id)
    redemption_id: int | None = None
    missing = False
    if item is not None:
        if await take_stock(conn, int(item.id)):
            redemption_id = await record_given_item(
                conn, member_id, int(item.id), f"task-{task.id}-{member_id}-{period}", now
            )
        else:
            missing = True
    completion_id = (
        await conn.execute(
            insert(TaskCompletion)
            .values(
                task_id=int(task.id),
                member_id=member_id,
                period=period,
                completed_at=now,
                points=points,
                capped=capped,
                redemption_id=redemption_id,
                prize_missing=missing,
                watch_until=watch_until,
                notified_at=now if notified else None,
            )
            .returning(TaskCompletion.id)
        )
    ).scalar_one()
    return TaskReward(
        completion_id=int(completion_id),
        task_id=int(task.id),
        code=str(task.code),
        title=str(task.title),
        titles=dict(task.titles or {}),
        period=period,
        points=points,
        capped=capped,
        balance=balance,
        item_title=None if item is None else str(item.title),
        item_titles={} if item is None else dict(item.titles or {}),
        prize_missing=missing,
    )


async def advance(
    conn: AsyncConnection,
    config: Config,
    member_id: int,
    metric: str,
    now: datetime,
    *,
    notified: bool = False,
) -> tuple[TaskReward, ...]:
    """Pay every open challenge on ``metric`` the member has just reached, in this transaction.

    Called by the use case that moved the metric, after its own writes. ``notified`` says the
    caller's answer tells the member (a check-in's); otherwise the tasks job does. A frozen member
    or one below a challenge's tier completes nothing (their progress still counts later).
    """
    tasks = (await conn.execute(_OPEN_CHALLENGES, {"metric": metric})).all()
    open_tasks = [task for task in tasks if is_open(task, now)]
    if not open_tasks:
        return ()
    member = await lock_member(conn, member_id)
    if member.frozen:
        return ()
    day = rules.business_day(now, config.mall.timezone)
    paid: list[TaskReward] = []
    for task in open_tasks:
        if not tier_allows(task, member.tier, config):
            continue
        period = period_of(task.repeat, day)
        if await completion_of(conn, int(task.id), member_id, period) is not None:
            continue
        reached = await measure(conn, metric, member_id, counting_window(task, day, config))
        if reached >= int(task.target or 0):
            paid.append(await pay(conn, config, task, member_id, period, now, notified=notified))
    return tuple(paid)


async def advance_each(
    conn: AsyncConnection, config: Config, member_id: int, metrics: tuple[str, ...], now: datetime
) -> tuple[TaskReward, ...]:
    """:func:`advance` on several metrics (a spend that is also a redemption); the tasks job
    tells the member of what it paid."""
    paid: list[TaskReward] = []
    for metric in metrics:
        paid.extend(await advance(conn, config, member_id, metric, now))
    return tuple(paid)
