"""What a member can read about their points: balance, what expires when, history, tier."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Account, Hold, Lot, Member, Transfer
from core.errors import InvalidInput, UnknownMember
from core.points import rules
from core.points.earning import earned_in_window
from core.points.ledger import require_member


@dataclass(frozen=True)
class Balance:
    member_id: int
    balance: int
    held: int
    frozen: bool
    frozen_reason: str | None


@dataclass(frozen=True)
class ExpiringPoints:
    """``amount`` points can be used through ``last_day`` and are gone the day after."""

    last_day: date
    amount: int


@dataclass(frozen=True)
class HistoryEntry:
    """One movement on the member's account; ``amount`` is negative when points left."""

    transfer_id: int
    at: datetime
    amount: int
    code: str
    reference: str


@dataclass(frozen=True)
class HistoryPage:
    entries: tuple[HistoryEntry, ...]
    page: int
    has_more: bool


@dataclass(frozen=True)
class TierStatus:
    tier: str
    multiplier: str
    validity_days: int
    earned_in_window: int
    window_days: int
    next_tier: str | None
    points_to_next: int | None


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


async def read_balance(conn: AsyncConnection, member_id: int) -> Balance:
    """The member's balance with the points they have waiting in escrow (a subquery)."""
    row = (await conn.execute(_BALANCE, {"member_id": member_id})).first()
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    return Balance(member_id, int(row.balance), int(row.held), row.frozen, row.frozen_reason)


class Statements:
    """Read-only views of a member's points."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def balance(self, member_id: int) -> Balance:
        """The member's balance, held points and freeze, in one prebuilt statement."""
        validation.member_id(member_id)
        async with self.db.read() as conn:
            return await read_balance(conn, member_id)

    async def expiring(
        self, member_id: int, now: datetime, *, days: int = 90
    ) -> tuple[ExpiringPoints, ...]:
        """Points that expire within ``days`` days, by last day of use, soonest first."""
        validation.member_id(member_id)
        validation.instant(now)
        tz = self.config.mall.timezone
        horizon = expiring_horizon(self.config, now, days)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            rows = (
                await conn.execute(
                    select(Lot.expires_at, Lot.remaining).where(
                        Lot.account_id == member_id,
                        Lot.remaining > 0,
                        Lot.expires_at > now,
                        Lot.expires_at <= horizon,
                    )
                )
            ).all()
        return expiring_by_day(rows, tz)

    async def history(self, member_id: int, *, page: int = 0, page_size: int = 10) -> HistoryPage:
        """The member's movements, newest first, ``page_size`` a page."""
        validation.member_id(member_id)
        if isinstance(page, bool) or not isinstance(page, int) or page < 0:
            raise InvalidInput(f"page must be a whole number >= 0, got {page!r}", field="page")
        if not isinstance(page_size, int) or not 1 <= page_size <= 100:
            raise InvalidInput("page_size must be 1-100", field="page_size")
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            rows = (
                await conn.execute(
                    select(
                        Transfer.id,
                        Transfer.created_at,
                        Transfer.amount,
                        Transfer.debit_account_id,
                        Transfer.code,
                        Transfer.reference,
                    )
                    .where(
                        or_(
                            Transfer.debit_account_id == member_id,
                            Transfer.credit_account_id == member_id,
                        )
                    )
                    .order_by(Transfer.id.desc())
                    .offset(page * page_size)
                    .limit(page_size + 1)
                )
            ).all()
        entries = tuple(
            HistoryEntry(
                int(row.id),
                row.created_at,
                -int(row.amount) if row.debit_account_id == member_id else int(row.amount),
                row.code,
                row.reference,
            )
            for row in rows[:page_size]
        )
        return HistoryPage(entries, page, len(rows) > page_size)

    async def tier(self, member_id: int, now: datetime) -> TierStatus:
        """The member's tier, what they earned in the window, and what the next tier needs."""
        validation.member_id(member_id)
        validation.instant(now)
        day = rules.business_day(now, self.config.mall.timezone)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            earned = await earned_in_window(conn, self.config, member_id, day)
        return tier_status(self.config, earned)


def expiring_horizon(config: Config, now: datetime, days: int) -> datetime:
    """The end of the last business day that counts as expiring within ``days`` days."""
    tz = config.mall.timezone
    return rules.start_of_day(rules.business_day(now, tz) + timedelta(days=days + 1), tz)


def expiring_by_day(
    rows: Iterable[tuple[datetime | None, int]], tz: ZoneInfo
) -> tuple[ExpiringPoints, ...]:
    """Open lots (``expires_at``, ``remaining``) summed by their last day of use, soonest first."""
    by_day: dict[date, int] = defaultdict(int)
    for expires_at, remaining in rows:
        assert expires_at is not None  # the queries select dated lots only
        by_day[rules.last_valid_day(expires_at, tz)] += int(remaining)
    return tuple(ExpiringPoints(day, by_day[day]) for day in sorted(by_day))


def tier_status(config: Config, earned: int) -> TierStatus:
    """The tier ``earned`` points in the window give, and what the next tier needs."""
    current = rules.tier_for(earned, config.tiers)
    upcoming = rules.next_tier(current, config.tiers)
    return TierStatus(
        tier=current.name,
        multiplier=str(current.multiplier),
        validity_days=current.validity_days,
        earned_in_window=earned,
        window_days=config.tiers.window_days,
        next_tier=upcoming.name if upcoming else None,
        points_to_next=upcoming.threshold - earned if upcoming else None,
    )
