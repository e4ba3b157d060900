"""The balance screen in one read transaction, with prebuilt statements.

The balance screen shows balance, holds, tier and what expires. :class:`~core.points.statements.
Statements` answers each of those on its own (a transaction, a membership check and a freshly
built statement per question), which cost the balance screen three transactions and six
statements: a quarter of the bot's CPU per ``/balance`` update in issue 14's profile. Here the
same answers come from one transaction: the balance with its held points (one statement,
``statements.read_balance``, which the main menu's ``Statements.balance`` uses too), the tier
window's earnings and the expiring lots, all built once at import. The results are the same
dataclasses, built by the same functions, so both ways read alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Lot
from core.points import rules
from core.points.earning import earned_in_window
from core.points.statements import (
    Balance,
    ExpiringPoints,
    TierStatus,
    expiring_by_day,
    expiring_horizon,
    read_balance,
    tier_status,
)

# How far ahead the balance screen looks for expiring points (Statements.expiring's default).
EXPIRY_DAYS = 90

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
    """The balance screen in one read (the main menu's balance is ``Statements.balance``)."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def overview(self, member_id: int, now: datetime) -> BalanceOverview:
        """Balance, tier and expiring points as of ``now``, from one snapshot."""
        validation.member_id(member_id)
        validation.instant(now)
        config = self.config
        day = rules.business_day(now, config.mall.timezone)
        horizon = expiring_horizon(config, now, EXPIRY_DAYS)
        async with self.db.read() as conn:
            balance = await read_balance(conn, member_id)
            earned = await earned_in_window(conn, config, member_id, day)
            lots = (
                await conn.execute(
                    _EXPIRING, {"member_id": member_id, "now": now, "horizon": horizon}
                )
            ).all()
        return BalanceOverview(
            balance, tier_status(config, earned), expiring_by_day(lots, config.mall.timezone)
        )
