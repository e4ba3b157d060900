"""Crediting earned points: the daily cap, lot expiry by tier, and the tier that follows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.config import Config, Tier
from core.db.models import Member, MemberDay
from core.db.prepared import Prepared
from core.errors import Frozen
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.ledger import MemberLock, credit_member


@dataclass(frozen=True)
class Earned:
    """What a credit did: granted and capped points, the balance and tier after."""

    granted: int
    capped: int
    balance: int
    tier: str
    expires_at: datetime | None


async def earn(
    conn: AsyncConnection,
    config: Config,
    member: MemberLock,
    *,
    amount: int,
    code: str,
    reference: str,
    key: str,
    now: datetime,
    counts_as_earning: bool = True,
    standing: Standing | None = None,
) -> Earned:
    """Credit points the member earned, within the daily cap, expiring by their tier.

    ``counts_as_earning=False`` (a sign-up bonus) skips the cap and does not count toward the
    tier window. A frozen member earns nothing: the request is refused. ``standing`` is the
    member's tier as the caller already read it (see :func:`current_standing`), to save a query.
    """
    if member.frozen:
        raise Frozen(f"member {member.member_id} is frozen", member_id=member.member_id)
    tz = config.mall.timezone
    day = rules.business_day(now, tz)
    grant = amount
    cap = config.earning.daily_cap
    if counts_as_earning and cap:
        earned_today = await _earned_on(conn, member.member_id, day)
        grant = max(0, min(amount, cap - earned_today))
    now_standing = standing or await current_standing(conn, config, member.member_id, day)
    balance = member.balance
    expires_at: datetime | None = None
    if grant > 0:
        expires_at = rules.lot_expiry(day, now_standing.tier, config.expiry, tz)
        balance = await credit_member(
            conn,
            member_id=member.member_id,
            source=SystemAccount.ISSUANCE,
            amount=grant,
            code=code,
            reference=reference,
            key=key,
            now=now,
            expires_at=expires_at,
        )
    earned = now_standing.earned_in_window
    if counts_as_earning and grant > 0:
        await add_earned(conn, member.member_id, day, grant)
        earned += grant
    tier_name = await refresh_tier(
        conn, config, member.member_id, member.tier, day, known_earned=earned
    )
    return Earned(grant, amount - grant, balance, tier_name, expires_at)


@dataclass(frozen=True)
class Standing:
    """The member's tier as their points earned in the window give it today."""

    tier: Tier
    earned_in_window: int


async def current_standing(
    conn: AsyncConnection, config: Config, member_id: int, day: date
) -> Standing:
    """The tier the rolling window gives on ``day``: a tier lapses when its earnings age out,
    whatever the member row last recorded."""
    return standing_of(config, await earned_in_window(conn, config, member_id, day))


def standing_of(config: Config, earned_in_window: int) -> Standing:
    """The standing that ``earned_in_window`` points in the window give."""
    return Standing(rules.tier_for(earned_in_window, config.tiers), earned_in_window)


# Built once and run at the driver: they run in every earning (see core.db.prepared on why).
_DAYS = cast(Table, MemberDay.__table__)
_MEMBERS = cast(Table, Member.__table__)
_EARNED_ON = Prepared(
    select(_DAYS.c.earned).where(
        _DAYS.c.member_id == bindparam("member_id"), _DAYS.c.day == bindparam("on_day")
    )
)
# What :func:`earned_in_window` reads; use cases fold it into their lock read (LockedRead)
# with the parameters :func:`window_bounds` gives.
EARNED_IN_WINDOW = select(func.coalesce(func.sum(_DAYS.c.earned), 0)).where(
    _DAYS.c.member_id == bindparam("member_id"),
    _DAYS.c.day >= bindparam("first_day"),
    _DAYS.c.day <= bindparam("last_day"),
)
_EARNED_BETWEEN = Prepared(EARNED_IN_WINDOW)
_SET_TIER = Prepared(
    update(_MEMBERS)
    .where(_MEMBERS.c.id == bindparam("member_id"))
    .values(tier=bindparam("new_tier"))
)


def _add_earned_statement(insert: Callable[[Table], Any]) -> Any:
    statement = insert(_DAYS)
    return statement.on_conflict_do_update(
        index_elements=[_DAYS.c.member_id, _DAYS.c.day],
        set_={"earned": _DAYS.c.earned + statement.excluded.earned},
    )


_ADD_EARNED = {
    "postgresql": Prepared(_add_earned_statement(postgresql.insert)),
    "sqlite": Prepared(_add_earned_statement(sqlite.insert)),
}


async def _earned_on(conn: AsyncConnection, member_id: int, day: date) -> int:
    earned = await _EARNED_ON.scalar(conn, {"member_id": member_id, "on_day": day})
    return int(earned or 0)


async def add_earned(conn: AsyncConnection, member_id: int, day: date, delta: int) -> None:
    """Count ``delta`` points (negative for a reversal) as earned by the member on ``day``."""
    if delta >= 0:
        await _ADD_EARNED[conn.dialect.name].run(
            conn, {"member_id": member_id, "day": day, "earned": delta}
        )
    else:
        # A reversal lowers what counted, never below zero.
        await conn.execute(
            update(MemberDay)
            .where(MemberDay.member_id == member_id, MemberDay.day == day)
            .values(
                earned=func.max(MemberDay.earned + delta, 0)
                if conn.dialect.name == "sqlite"
                else func.greatest(MemberDay.earned + delta, 0)
            )
        )


async def earned_in_window(conn: AsyncConnection, config: Config, member_id: int, day: date) -> int:
    """Points the member earned in the tier window that ends on ``day`` (inclusive)."""
    total = await _EARNED_BETWEEN.scalar(
        conn, {"member_id": member_id, **window_bounds(config, day)}
    )
    return int(total)


def window_bounds(config: Config, day: date) -> dict[str, date]:
    """The parameters of :data:`EARNED_IN_WINDOW` for the tier window that ends on ``day``."""
    return {"first_day": day - timedelta(days=config.tiers.window_days - 1), "last_day": day}


async def refresh_tier(
    conn: AsyncConnection,
    config: Config,
    member_id: int,
    current: str,
    day: date,
    *,
    known_earned: int | None = None,
) -> str:
    """Move the member to the tier their earned points in the window give; returns its name.

    ``known_earned`` (points earned in the window) saves the query when the caller knows it.
    """
    earned = known_earned
    if earned is None:
        earned = await earned_in_window(conn, config, member_id, day)
    tier = rules.tier_for(earned, config.tiers).name
    if tier != current:
        await _SET_TIER.run(conn, {"member_id": member_id, "new_tier": tier})
    return tier
