"""The member's hot reads, one read transaction and prebuilt statements each.

Every main menu shows the balance, and the balance screen shows balance, holds, tier and what
expires. :class:`~core.statements.Statements` answers each of those on its own (a transaction,
a membership check and a freshly built statement per question), which cost the balance screen
three transactions and six statements: a quarter of the bot's CPU per ``/balance`` update in
issue 14's profile. Here the same answers come from one transaction: the balance with its held
points in one statement (the held sum a scalar subquery), the tier window's earnings and the
expiring lots after it, all built once at import. The results are the same dataclasses, built
by the same functions, so both ways read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core import rules, validation
from core.config import Config
from core.db.database import Database
from core.db.models import Account, Hold, Lot, Member
from core.earning import earned_in_window
from core.errors import UnknownMember
from core.statements import (
    Balance,
    ExpiringPoints,
    TierStatus,
    expiring_by_day,
    expiring_horizon,
    tier_status,
)

# How far ahead the balance screen looks for expiring points (Statements.expiring's default).
EXPIRY_DAYS = 90

_HELD = (
    select(func.coalesce(func.sum(Hold.amount), 0))
    .where(Hold.account_id == bindparam("member_id"), Hold.status == "pending")
    .scalar_subquery()
)
_BALANCE = (
    select(Account.balance, Account.frozen, Account.frozen_reason, _HELD.label("held"))
    .join(Member, Member.id == Account.id)
    .where(Account.id == bindparam("member_id"))
)
_EXPIRING = select(Lot.expires_at, Lot.remaining).where(
    Lot.account_id == bindparam("member_id"),
    Lot.remaining > 0,
    Lot.expires_at > bindparam("now"),
    Lot.expires_at <= bindparam("horizon"),
)


@dataclass(frozen=True)
class BalanceOverview:
    """What the balance screen shows: ``expiring`` within :data:`EXPIRY_DAYS`, soonest first."""

    balance: Balance
    tier: TierStatus
    expiring: tuple[ExpiringPoints, ...]


class BalanceReads:
    """The main menu's balance and the balance screen, each in one read."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def balance(self, member_id: int) -> Balance:
        """The member's balance, held points and freeze, in one statement."""
        validation.member_id(member_id)
        async with self.db.read() as conn:
            return await _balance(conn, member_id)

    async def overview(self, member_id: int, now: datetime) -> BalanceOverview:
        """Balance, tier and expiring points as of ``now``, from one snapshot."""
        validation.member_id(member_id)
        validation.instant(now)
        config = self.config
        day = rules.business_day(now, config.mall.timezone)
        horizon = expiring_horizon(config, now, EXPIRY_DAYS)
        async with self.db.read() as conn:
            balance = await _balance(conn, member_id)
            earned = await earned_in_window(conn, config, member_id, day)
            lots = (
                await conn.execute(
                    _EXPIRING, {"member_id": member_id, "now": now, "horizon": horizon}
                )
            ).all()
        return BalanceOverview(
            balance, tier_status(config, earned), expiring_by_day(lots, config.mall.timezone)
        )


async def _balance(conn: AsyncConnection, member_id: int) -> Balance:
    row: Row[tuple[int, bool, str | None, int]] | None = (
        await conn.execute(_BALANCE, {"member_id": member_id})
    ).first()
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    return Balance(member_id, int(row.balance), int(row.held), row.frozen, row.frozen_reason)
