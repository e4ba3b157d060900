"""Whether a member may redeem an item now: the one eligibility check of the mall.

Every feature that lets a member spend on an item (the shelf's cards, a redemption, a flash
sale's purchase or entry, the offers in a reminder) asks :func:`assess` or
:func:`blocked_reason`, so a listing never promises what a redemption would refuse: the
listing shows the verdict (``blocked_reason``) and the redemption raises the matching error
(:func:`refuse_if_blocked`). The reads the verdict needs (an item, its running sale, the
member's balance, freeze and tier) live here with it; editing items is ``core.rewards.catalog``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from core.config import Config, TiersSettings
from core.db.models import Account, FlashSale, Item, Member, Redemption
from core.db.prepared import Prepared
from core.errors import (
    Frozen,
    InsufficientPoints,
    LimitReached,
    NotAvailable,
    SoldOut,
    TierTooLow,
    UnknownItem,
    UnknownMember,
)
from core.points import rules
from core.points.earning import current_standing
from core.rewards.inventory import free_codes

# Redemptions that no longer count against a member's limit or the item's stock.
ENDED_STATUSES = ("cancelled", "rejected")

# Why a member cannot redeem an item now: stable codes, each the code of the error redeem raises.
NOT_AVAILABLE = "not_available"
FROZEN = "frozen"
TIER_TOO_LOW = "tier_too_low"
SOLD_OUT = "sold_out"
LIMIT_REACHED = "limit_reached"
INSUFFICIENT_POINTS = "insufficient_points"


@dataclass(frozen=True)
class ItemBasics:
    """What every reading of an item has: its id, texts, kind and regular prices."""

    item_id: int
    sku: str
    title: str
    description: str
    photo: str | None
    category: str
    kind: str
    price_points: int
    cash_minor: int


@dataclass(frozen=True)
class ItemRecord(ItemBasics):
    """An item as stored. ``free_codes`` is the size of a coupon item's pool (else None).
    ``titles`` and ``descriptions`` hold the texts by language (``{"zh_Hans": "拿铁"}``) that
    members read instead of ``title`` and ``description``."""

    stock: int | None
    active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    min_tier: str | None
    limit_count: int | None
    limit_period: str | None
    approval_threshold: int | None
    created_at: datetime
    updated_at: datetime
    free_codes: int | None = None
    listed: bool = True
    titles: Mapping[str, str] = dataclass_field(default_factory=dict)
    descriptions: Mapping[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class SaleTerms:
    """A flash sale's row: the price, quantity and windows it sells under."""

    sale_id: int
    item_id: int
    sale_price: int
    quantity: int
    remaining: int
    mode: str
    starts_at: datetime
    ends_at: datetime
    entry_ends_at: datetime | None
    status: str

    def open_at(self, now: datetime) -> bool:
        """Whether members may buy (first come) or enter (draw) at ``now``."""
        closes = self.entry_ends_at if self.mode == "draw" else self.ends_at
        assert closes is not None  # a draw sale always has its entry window
        return self.status == "scheduled" and self.starts_at <= now < closes


@dataclass(frozen=True)
class RunningSale:
    """The flash sale an item is offered under now: its price, what is left, time left."""

    sale_id: int
    sale_price: int
    remaining: int
    ends_at: datetime
    seconds_left: int


@dataclass(frozen=True)
class ItemView(ItemBasics):
    """An item as one member sees it at one instant.

    ``sale`` is the first-come flash sale it is offered under now (draws are entered through
    ``core.rewards.flash_sales``); ``points`` is what it costs now (the sale price while ``sale``
    runs, else ``price_points``).
    ``stock_left`` counts units (free codes for coupons); None is unlimited. ``blocked_reason``
    is None when the member may redeem it now, else one of ``not_available``, ``frozen``,
    ``tier_too_low``, ``sold_out``, ``limit_reached``, ``insufficient_points``.
    """

    points: int
    stock_left: int | None
    min_tier: str | None
    limit_count: int | None
    limit_period: str | None
    used_in_period: int
    approval_threshold: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    sale: RunningSale | None
    affordable: bool
    blocked_reason: str | None
    titles: Mapping[str, str] = dataclass_field(default_factory=dict)
    descriptions: Mapping[str, str] = dataclass_field(default_factory=dict)

    @property
    def needs_approval(self) -> bool:
        return self.approval_threshold is not None and self.points >= self.approval_threshold


@dataclass(frozen=True)
class MemberState:
    """What eligibility needs to know of a member (read, or from their lock)."""

    member_id: int
    balance: int
    frozen: bool
    tier: str


# --- The one eligibility check ---------------------------------------------------------------


def tier_rank(name: str | None, tiers: TiersSettings) -> int:
    """A tier's place on the ladder; a name no longer configured ranks above every tier."""
    for index, level in enumerate(tiers.levels):
        if level.name == name:
            return index
    return len(tiers.levels)


def member_rank(name: str, tiers: TiersSettings) -> int:
    """A member's place on the ladder; an unknown tier counts as the lowest (as earning does)."""
    rank = tier_rank(name, tiers)
    return 0 if rank == len(tiers.levels) else rank


def in_window(item: ItemRecord, now: datetime) -> bool:
    """Whether the item is on the shelf at ``now``: switched on, listed (not a prize-only item)
    and inside its active window."""
    started = item.starts_at is None or item.starts_at <= now
    not_ended = item.ends_at is None or now < item.ends_at
    return item.active and item.listed and started and not_ended


def period_start(period: str | None, now: datetime, tz: ZoneInfo) -> datetime | None:
    """When the current limit period began on the mall's calendar (None: since ever)."""
    if period is None or period == "ever":
        return None
    today = rules.business_day(now, tz)
    if period == "day":
        first = today
    elif period == "week":
        first = today - timedelta(days=today.weekday())  # weeks start on Monday
    else:
        first = today.replace(day=1)
    return rules.start_of_day(first, tz)


def blocked_reason(
    *,
    item: ItemRecord,
    sale: SaleTerms | None,
    member: MemberState,
    points: int,
    used: int,
    left: int | None,
    now: datetime,
    tiers: TiersSettings,
) -> str | None:
    """Why ``member`` cannot redeem ``item`` (under ``sale``) now, or None if they can.

    The first reason that applies wins, in the order a member would want to hear them.
    """
    if not in_window(item, now) or (sale is not None and not sale.open_at(now)):
        return NOT_AVAILABLE
    if member.frozen:
        return FROZEN
    if item.min_tier is not None and member_rank(member.tier, tiers) < tier_rank(
        item.min_tier, tiers
    ):
        return TIER_TOO_LOW
    if left is not None and left <= 0:
        return SOLD_OUT
    if item.limit_count is not None and used >= item.limit_count:
        return LIMIT_REACHED
    if member.balance < points:
        return INSUFFICIENT_POINTS
    return None


def refuse_if_blocked(view: ItemView, member: MemberState) -> None:
    """Raise the error that matches the view's ``blocked_reason``, if it has one."""
    reason = view.blocked_reason
    if reason is None:
        return
    item_id = view.item_id
    if reason == NOT_AVAILABLE:
        raise NotAvailable(f"item {item_id} is not available now", item_id=item_id)
    if reason == FROZEN:
        raise Frozen(f"member {member.member_id} is frozen", member_id=member.member_id)
    if reason == TIER_TOO_LOW:
        raise TierTooLow(
            f"item {item_id} needs tier {view.min_tier}", item_id=item_id, required=view.min_tier
        )
    if reason == SOLD_OUT:
        raise SoldOut(f"item {item_id} is sold out", item_id=item_id)
    if reason == LIMIT_REACHED:
        raise LimitReached(
            f"item {item_id}: {view.limit_count} per {view.limit_period} reached",
            item_id=item_id,
            limit=view.limit_count,
            per=view.limit_period,
        )
    raise InsufficientPoints(
        f"member {member.member_id} has {member.balance} points, needs {view.points}",
        balance=member.balance,
        needed=view.points,
    )


def fewest_units(item: ItemRecord, codes: int, sale: SaleTerms | None) -> int | None:
    """Units a redemption could still take given the coupon pool's ``codes`` free codes: the
    fewest of stock, free codes (coupons only) and the sale's quantity (None: unlimited)."""
    counts = [] if item.stock is None else [item.stock]
    if item.kind == "coupon":
        counts.append(codes)
    if sale is not None:
        counts.append(sale.remaining)
    return min(counts) if counts else None


async def units_left(conn: AsyncConnection, item: ItemRecord, sale: SaleTerms | None) -> int | None:
    """Units a redemption could still take: stock, free codes and the sale's quantity."""
    codes = await free_codes(conn, item.item_id) if item.kind == "coupon" else 0
    return fewest_units(item, codes, sale)


async def used_in_period(
    conn: AsyncConnection, config: Config, member_id: int, item: ItemRecord, now: datetime
) -> int:
    """The member's redemptions of the item that count against its limit this period."""
    if item.limit_count is None:
        return 0
    params: dict[str, Any] = {"member_id": member_id, "item_id": item.item_id}
    start = period_start(item.limit_period, now, config.mall.timezone)
    if start is None:
        return int(await _USED_EVER.scalar(conn, params))
    return int(await _USED_SINCE.scalar(conn, {**params, "since": start}))


_REDEMPTIONS = cast(Table, Redemption.__table__)
# NOT IN would need an expanding parameter, which only SQLAlchemy's execution runs.
_USED = select(func.count()).where(
    _REDEMPTIONS.c.member_id == bindparam("member_id"),
    _REDEMPTIONS.c.item_id == bindparam("item_id"),
    *(_REDEMPTIONS.c.status != ended for ended in ENDED_STATUSES),
)
_USED_EVER = Prepared(_USED)
_USED_SINCE = Prepared(_USED.where(_REDEMPTIONS.c.created_at >= bindparam("since")))


async def assess(
    conn: AsyncConnection,
    config: Config,
    member: MemberState,
    item: ItemRecord,
    sale: SaleTerms | None,
    now: datetime,
) -> ItemView:
    """The item as ``member`` sees it at ``now``, with whether they may redeem it (and why not).

    Called by the listing without locks, and by the redemption after the member's lock, where
    its verdict is final for everything but stock, which the conditional updates settle.
    """
    if item.min_tier is not None:
        # The tier the window gives today: a stored tier lags until the member next earns.
        day = rules.business_day(now, config.mall.timezone)
        standing = await current_standing(conn, config, member.member_id, day)
        member = replace(member, tier=standing.tier.name)
    left = await units_left(conn, item, sale)
    used = await used_in_period(conn, config, member.member_id, item, now)
    points = sale.sale_price if sale is not None else item.price_points
    reason = blocked_reason(
        item=item,
        sale=sale,
        member=member,
        points=points,
        used=used,
        left=left,
        now=now,
        tiers=config.tiers,
    )
    running = None
    if sale is not None:
        closes = sale.ends_at if sale.mode == "first_come" else sale.entry_ends_at
        assert closes is not None
        seconds = max(0, int((closes - now).total_seconds()))
        running = RunningSale(sale.sale_id, sale.sale_price, sale.remaining, closes, seconds)
    return ItemView(
        item_id=item.item_id,
        sku=item.sku,
        title=item.title,
        description=item.description,
        photo=item.photo,
        category=item.category,
        kind=item.kind,
        price_points=item.price_points,
        cash_minor=item.cash_minor,
        points=points,
        stock_left=left,
        min_tier=item.min_tier,
        limit_count=item.limit_count,
        limit_period=item.limit_period,
        used_in_period=used,
        approval_threshold=item.approval_threshold,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        sale=running,
        affordable=member.balance >= points,
        blocked_reason=reason,
        titles=item.titles,
        descriptions=item.descriptions,
    )


# --- Reading rows --------------------------------------------------------------------------


def item_record(row: Row[Any]) -> ItemRecord:
    return ItemRecord(
        item_id=int(row.id),
        sku=row.sku,
        title=row.title,
        description=row.description,
        photo=row.photo,
        category=row.category,
        kind=row.kind,
        price_points=int(row.price_points),
        cash_minor=int(row.cash_minor),
        stock=None if row.stock is None else int(row.stock),
        active=bool(row.active),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        min_tier=row.min_tier,
        limit_count=row.limit_count,
        limit_period=row.limit_period,
        approval_threshold=None if row.approval_threshold is None else int(row.approval_threshold),
        created_at=row.created_at,
        updated_at=row.updated_at,
        listed=bool(row.listed),
        titles=dict(row.titles or {}),
        descriptions=dict(row.descriptions or {}),
    )


# Every offer, redemption and Redeem press reads its item, its member and its sale: built once
# and run at the driver (see core.db.prepared on why).
_ITEMS = cast(Table, Item.__table__)
_SALES = cast(Table, FlashSale.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_MEMBERS = cast(Table, Member.__table__)
_ITEM = Prepared(select(_ITEMS).where(_ITEMS.c.id == bindparam("item_id")))
_SALE = Prepared(select(_SALES).where(_SALES.c.id == bindparam("sale_id")))
_MEMBER_STATE = Prepared(
    select(_ACCOUNTS.c.balance, _ACCOUNTS.c.frozen, _MEMBERS.c.tier)
    .join(_MEMBERS, _MEMBERS.c.id == _ACCOUNTS.c.id)
    .where(_ACCOUNTS.c.id == bindparam("member_id"))
)


async def load_item(conn: AsyncConnection, item_id: int) -> ItemRecord:
    """The item with this id, or :class:`UnknownItem`."""
    row = await _ITEM.named(conn, {"item_id": item_id})
    if row is None:
        raise UnknownItem(f"no item {item_id}", item_id=item_id)
    return item_record(row)


async def find_sale(conn: AsyncConnection, sale_id: int) -> SaleTerms | None:
    """The flash sale with this id, or None."""
    row = await _SALE.named(conn, {"sale_id": sale_id})
    return None if row is None else sale_terms(row)


def sale_terms(row: Row[Any]) -> SaleTerms:
    return SaleTerms(
        sale_id=int(row.id),
        item_id=int(row.item_id),
        sale_price=int(row.sale_price),
        quantity=int(row.quantity),
        remaining=int(row.remaining),
        mode=row.mode,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        entry_ends_at=row.entry_ends_at,
        status=row.status,
    )


async def running_sales(
    conn: AsyncConnection, item_ids: Sequence[int], now: datetime
) -> dict[int, SaleTerms]:
    """Per item, the cheapest first-come sale open at ``now`` with units left."""
    if not item_ids:
        return {}
    rows = await conn.execute(
        select(FlashSale)
        .where(
            FlashSale.item_id.in_(item_ids),
            FlashSale.mode == "first_come",
            FlashSale.status == "scheduled",
            FlashSale.starts_at <= now,
            FlashSale.ends_at > now,
            FlashSale.remaining > 0,
        )
        .order_by(FlashSale.sale_price.desc(), FlashSale.id.desc())
    )
    # Cheapest last, so it is the one that stays in the dict.
    return {int(row.item_id): sale_terms(row) for row in rows}


async def view_item(
    conn: AsyncConnection, config: Config, member_id: int, item_id: int, now: datetime
) -> tuple[MemberState, ItemView]:
    """The member, and one item as they see it at ``now`` under its running first-come sale if
    any, read without locks (the card, and the press that confirms what the card showed)."""
    member = await read_member(conn, member_id)
    item = await load_item(conn, item_id)
    sale = (await running_sales(conn, [item_id], now)).get(item_id)
    return member, await assess(conn, config, member, item, sale, now)


async def read_member(conn: AsyncConnection, member_id: int) -> MemberState:
    """A member's balance, freeze and tier, without a lock (for views)."""
    row = await _MEMBER_STATE.first(conn, {"member_id": member_id})
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    balance, frozen, tier = row
    return MemberState(member_id, int(balance), bool(frozen), tier)


def on_shelf_now(now: datetime) -> tuple[Any, ...]:
    """The SQL conditions of :func:`in_window`: the items on the shelf at ``now``."""
    return (
        Item.active.is_(True),
        Item.listed.is_(True),
        or_(Item.starts_at.is_(None), Item.starts_at <= now),
        or_(Item.ends_at.is_(None), Item.ends_at > now),
    )


def item_id_of(value: object) -> int:
    """An item id as given by a caller: a positive integer, or :class:`UnknownItem`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise UnknownItem(f"no item {value!r}", item_id=str(value))
    return value
