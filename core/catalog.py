"""The catalog: rewards members can redeem, and whether a member may redeem one right now.

:func:`assess` is the one eligibility check of the mall. The listing shows its verdict
(``blocked_reason``) and the redemption refuses with the matching error, so the list never
promises what a redemption would refuse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import rules, validation
from core.audit import write_entry
from core.config import Config, TiersSettings, is_language_code
from core.db.database import Database
from core.db.models import Account, CouponCode, FlashSale, Item, Member, Redemption, Shelf
from core.earning import current_standing
from core.errors import (
    Frozen,
    InsufficientPoints,
    InvalidInput,
    InvalidState,
    LimitReached,
    NotAvailable,
    SoldOut,
    TierTooLow,
    UnknownItem,
    UnknownMember,
)
from core.inventory import free_codes

KINDS = ("physical", "coupon", "service", "virtual")
LIMIT_PERIODS = ("day", "week", "month", "ever")
# Redemptions that no longer count against a member's limit or the item's stock.
ENDED_STATUSES = ("cancelled", "rejected")
SKU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_PAGE_SIZE = 50

# Why a member cannot redeem an item now: stable codes, each the code of the error redeem raises.
NOT_AVAILABLE = "not_available"
FROZEN = "frozen"
TIER_TOO_LOW = "tier_too_low"
SOLD_OUT = "sold_out"
LIMIT_REACHED = "limit_reached"
INSUFFICIENT_POINTS = "insufficient_points"


@dataclass(frozen=True)
class ItemSpec:
    """What an admin (or the catalog file) says an item is; ``sku`` names it for good.

    ``active`` False switches the item off everywhere: off the shelf and out of every blind
    box's draw. ``listed`` False keeps it off the shelf only (no member can redeem it, it is in
    no listing) while a box can still give it as a prize: a prize-only item.

    ``stock`` is the number of units the item starts with (None: unlimited). Updating an item
    that already has a stock keeps the stock it has now: units come and go through
    redemptions and :meth:`Catalog.restock`, so loading the same file again never resets them.
    """

    sku: str
    title: str
    category: str
    kind: str
    price_points: int
    description: str = ""
    photo: str | None = None
    cash_minor: int = 0
    stock: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    min_tier: str | None = None
    limit_count: int | None = None
    limit_period: str | None = None
    approval_threshold: int | None = None
    active: bool = True
    listed: bool = True
    titles: Mapping[str, str] = dataclass_field(default_factory=dict)
    descriptions: Mapping[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class ItemRecord:
    """An item as stored. ``free_codes`` is the size of a coupon item's pool (else None).
    ``titles`` and ``descriptions`` hold the texts by language (``{"zh_Hans": "拿铁"}``) that
    members read instead of ``title`` and ``description``."""

    item_id: int
    sku: str
    title: str
    description: str
    photo: str | None
    category: str
    kind: str
    price_points: int
    cash_minor: int
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
class ItemRecordPage:
    """A page of every item, on the shelf or not, as stored (for admins)."""

    items: tuple[ItemRecord, ...]
    page: int
    has_more: bool


@dataclass(frozen=True)
class ItemEdit:
    """An item before and after an admin's edit."""

    before: ItemRecord
    after: ItemRecord


# What an admin may change on an item (stock moves through restock and redemptions).
EDITABLE = (
    "title",
    "description",
    "photo",
    "category",
    "price_points",
    "cash_minor",
    "starts_at",
    "ends_at",
    "min_tier",
    "limit_count",
    "limit_period",
    "approval_threshold",
    "active",
    "listed",
    "titles",
    "descriptions",
)


@dataclass(frozen=True)
class UpsertResult:
    """``status`` is ``created``, ``updated`` or ``unchanged``."""

    item_id: int
    sku: str
    status: str


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
class ItemView:
    """An item as one member sees it at one instant.

    ``sale`` is the first-come flash sale it is offered under now (draws are entered through
    ``core.flash_sales``); ``points`` is what it costs now (the sale price while ``sale`` runs,
    else ``price_points``).
    ``stock_left`` counts units (free codes for coupons); None is unlimited. ``blocked_reason``
    is None when the member may redeem it now, else one of ``not_available``, ``frozen``,
    ``tier_too_low``, ``sold_out``, ``limit_reached``, ``insufficient_points``.
    """

    item_id: int
    sku: str
    title: str
    description: str
    photo: str | None
    category: str
    kind: str
    price_points: int
    cash_minor: int
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
class ItemPage:
    items: tuple[ItemView, ...]
    page: int
    has_more: bool
    category: str | None


@dataclass(frozen=True)
class Category:
    """A category (a shelf) with the number of items available in it now. ``name`` is how
    items name it; ``names`` is what members read by language (``{"zh_Hans": "饮品"}``)."""

    name: str
    items: int
    names: Mapping[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class MemberState:
    """What eligibility needs to know of a member (read, or from their lock)."""

    member_id: int
    balance: int
    frozen: bool
    tier: str


async def items_by_sku(conn: AsyncConnection, skus: list[str]) -> dict[str, tuple[int, str]]:
    """(id, kind) of each of ``skus`` the catalog has (a catalog file's references)."""
    if not skus:
        return {}
    rows = await conn.execute(select(Item.sku, Item.id, Item.kind).where(Item.sku.in_(skus)))
    return {str(row.sku): (int(row.id), str(row.kind)) for row in rows}


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


async def units_left(conn: AsyncConnection, item: ItemRecord, sale: SaleTerms | None) -> int | None:
    """Units a redemption could still take: stock, free codes and the sale's quantity."""
    counts: list[int] = []
    if item.stock is not None:
        counts.append(item.stock)
    if item.kind == "coupon":
        counts.append(await free_codes(conn, item.item_id))
    if sale is not None:
        counts.append(sale.remaining)
    return min(counts) if counts else None


async def used_in_period(
    conn: AsyncConnection, config: Config, member_id: int, item: ItemRecord, now: datetime
) -> int:
    """The member's redemptions of the item that count against its limit this period."""
    if item.limit_count is None:
        return 0
    query = select(func.count()).where(
        Redemption.member_id == member_id,
        Redemption.item_id == item.item_id,
        Redemption.status.not_in(ENDED_STATUSES),
    )
    start = period_start(item.limit_period, now, config.mall.timezone)
    if start is not None:
        query = query.where(Redemption.created_at >= start)
    return int((await conn.execute(query)).scalar_one())


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


def _record(row: Row[Any]) -> ItemRecord:
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


async def load_item(conn: AsyncConnection, item_id: int) -> ItemRecord:
    """The item with this id, or :class:`UnknownItem`."""
    row = (await conn.execute(select(Item).where(Item.id == item_id))).first()
    if row is None:
        raise UnknownItem(f"no item {item_id}", item_id=item_id)
    return _record(row)


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


async def read_member(conn: AsyncConnection, member_id: int) -> MemberState:
    """A member's balance, freeze and tier, without a lock (for views)."""
    row = (
        await conn.execute(
            select(Account.balance, Account.frozen, Member.tier)
            .join(Member, Member.id == Account.id)
            .where(Account.id == member_id)
        )
    ).first()
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    return MemberState(member_id, int(row.balance), bool(row.frozen), row.tier)


def _active_now(now: datetime) -> tuple[Any, ...]:
    return (
        Item.active.is_(True),
        Item.listed.is_(True),
        or_(Item.starts_at.is_(None), Item.starts_at <= now),
        or_(Item.ends_at.is_(None), Item.ends_at > now),
    )


async def shelf_names(conn: AsyncConnection, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """The shelves' names by language, for those of ``names`` that have any."""
    if not names:
        return {}
    rows = await conn.execute(select(Shelf.name, Shelf.names).where(Shelf.name.in_(names)))
    return {row.name: dict(row.names or {}) for row in rows}


# --- Writing items ---------------------------------------------------------------------------


def _bad_int(value: object, *, low: int, none_ok: bool, high: int = validation.MAX_AMOUNT) -> bool:
    if value is None:
        return not none_ok
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    return not low <= value <= high


def _text_problem(value: object, max_length: int, *, allow_empty: bool = False) -> str | None:
    if not isinstance(value, str):
        return "must be text"
    cleaned = value.strip()
    if not cleaned and not allow_empty:
        return "must not be empty"
    if len(cleaned) > max_length:
        return f"must be at most {max_length} characters"
    if any(ord(c) < 32 and c not in "\n\t" for c in cleaned):
        return "must not contain control characters"
    return None


def texts_problems(
    name: str, texts: object, max_length: int, *, allow_empty: bool = False
) -> list[tuple[str, str]]:
    """What is wrong with ``texts``, a text by language, as (``name.language``, problem)."""
    if not isinstance(texts, Mapping):
        return [(name, 'must be a table of texts by language, such as { zh_Hans = "..." }')]
    problems: list[tuple[str, str]] = []
    for language, value in texts.items():
        where = f"{name}.{language}"
        if not is_language_code(language):
            message = "not a language code as the bot names it, such as 'en' or 'zh_Hans'"
            problems.append((where, message))
            continue
        problem = _text_problem(value, max_length, allow_empty=allow_empty)
        if problem:
            problems.append((where, problem))
    return problems


def clean_texts(texts: Mapping[str, str]) -> dict[str, str]:
    """``texts`` as stored: each stripped, empty ones left out (they read the default)."""
    return {language: value.strip() for language, value in texts.items() if value.strip()}


def item_problems(spec: ItemSpec, tiers: TiersSettings) -> list[tuple[str, str]]:
    """Everything wrong with ``spec``, as (field, what is wrong); empty when it is fine."""
    problems: list[tuple[str, str]] = []
    if not isinstance(spec.sku, str) or not SKU_PATTERN.fullmatch(spec.sku):
        problems.append(("sku", "must be 1-64 of A-Z a-z 0-9 _ . - starting with a letter/digit"))
    for field, value, limit, empty_ok in (
        ("title", spec.title, 200, False),
        ("category", spec.category, 64, False),
        ("description", spec.description, 4000, True),
    ):
        problem = _text_problem(value, limit, allow_empty=empty_ok)
        if problem:
            problems.append((field, problem))
    for name, texts, limit, empty_ok in (
        ("titles", spec.titles, 200, False),
        ("descriptions", spec.descriptions, 4000, True),
    ):
        problems += texts_problems(name, texts, limit, allow_empty=empty_ok)
    if spec.photo is not None and _text_problem(spec.photo, 500):
        problems.append(("photo", "must be a URL or file id of at most 500 characters"))
    if spec.kind not in KINDS:
        problems.append(("kind", f"must be one of {', '.join(KINDS)}"))
    if _bad_int(spec.price_points, low=0, none_ok=False):
        problems.append(("price", "must be a whole number of points >= 0"))
    if _bad_int(spec.cash_minor, low=0, none_ok=False):
        problems.append(("cash", "must be a whole number of minor currency units >= 0"))
    elif spec.price_points == 0 and spec.cash_minor == 0:
        problems.append(("price", "an item cannot be free: set a points price or a cash part"))
    if _bad_int(spec.stock, low=0, none_ok=True):
        problems.append(("stock", "must be a whole number >= 0 (leave it out for unlimited)"))
    for field, moment in (("starts", spec.starts_at), ("ends", spec.ends_at)):
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            problems.append((field, "must be a date-time with a time zone"))
    if (
        isinstance(spec.starts_at, datetime)
        and isinstance(spec.ends_at, datetime)
        and spec.starts_at.tzinfo is not None
        and spec.ends_at.tzinfo is not None
        and spec.ends_at <= spec.starts_at
    ):
        problems.append(("ends", "must be after starts"))
    if spec.min_tier is not None and tier_rank(spec.min_tier, tiers) == len(tiers.levels):
        names = ", ".join(level.name for level in tiers.levels)
        problems.append(("min_tier", f"must be one of the configured tiers ({names})"))
    if (spec.limit_count is None) != (spec.limit_period is None):
        problems.append(("limit", "needs both a count and a period"))
    if spec.limit_count is not None and _bad_int(
        spec.limit_count, low=1, none_ok=False, high=2**31 - 1
    ):
        problems.append(("limit.count", "must be a whole number >= 1"))
    if spec.limit_period is not None and spec.limit_period not in LIMIT_PERIODS:
        problems.append(("limit.per", f"must be one of {', '.join(LIMIT_PERIODS)}"))
    if spec.approval_threshold is not None:
        if _bad_int(spec.approval_threshold, low=1, none_ok=False):
            problems.append(("approval_threshold", "must be a whole number of points >= 1"))
        elif isinstance(spec.cash_minor, int) and spec.cash_minor > 0:
            # One wait per redemption: the hold either waits for the admin or for the payment.
            problems.append(("approval_threshold", "cannot be combined with a cash part"))
    if not isinstance(spec.active, bool):
        problems.append(("active", "must be true or false"))
    if not isinstance(spec.listed, bool):
        problems.append(("listed", "must be true or false"))
    return problems


def check_item(spec: ItemSpec, tiers: TiersSettings) -> None:
    """Refuse a malformed spec with :class:`InvalidInput` naming every problem."""
    problems = item_problems(spec, tiers)
    if problems:
        text = "; ".join(f"{field}: {message}" for field, message in problems)
        raise InvalidInput(f"item {spec.sku!r}: {text}", field=problems[0][0], problems=text)


_SPEC_COLUMNS = {
    "title": "title",
    "description": "description",
    "photo": "photo",
    "category": "category",
    "kind": "kind",
    "price_points": "price_points",
    "cash_minor": "cash_minor",
    "active": "active",
    "listed": "listed",
    "starts_at": "starts_at",
    "ends_at": "ends_at",
    "min_tier": "min_tier",
    "limit_count": "limit_count",
    "limit_period": "limit_period",
    "approval_threshold": "approval_threshold",
    "titles": "titles",
    "descriptions": "descriptions",
}


def spec_of(item: ItemRecord) -> ItemSpec:
    """What an admin would have to say to describe ``item`` as it is."""
    return ItemSpec(
        sku=item.sku,
        title=item.title,
        category=item.category,
        kind=item.kind,
        price_points=item.price_points,
        description=item.description,
        photo=item.photo,
        cash_minor=item.cash_minor,
        stock=item.stock,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        min_tier=item.min_tier,
        limit_count=item.limit_count,
        limit_period=item.limit_period,
        approval_threshold=item.approval_threshold,
        active=item.active,
        listed=item.listed,
        titles=item.titles,
        descriptions=item.descriptions,
    )


def item_terms(item: ItemRecord) -> dict[str, Any]:
    """The item's editable terms as plain JSON values (instants as ISO text), for the audit log."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name in EDITABLE
        for value in (getattr(item, name),)
    }


def _clean(spec: ItemSpec) -> dict[str, Any]:
    values: dict[str, Any] = {column: getattr(spec, name) for name, column in _SPEC_COLUMNS.items()}
    for name in ("title", "description", "category"):
        values[name] = values[name].strip()
    for name in ("titles", "descriptions"):
        values[name] = clean_texts(values[name])
    return values


async def upsert_item_row(conn: AsyncConnection, spec: ItemSpec, now: datetime) -> UpsertResult:
    """Insert the item, or update it in place if anything differs (``updated_at`` moves then).

    The caller validated ``spec``. Changing an item's terms invalidates confirmations shown
    before the change (see ``core.redemptions``), so an unchanged item is left untouched.
    """
    values = _clean(spec)
    row = (await conn.execute(select(Item).where(Item.sku == spec.sku))).first()
    if row is None:
        item_id = (
            await conn.execute(
                insert(Item)
                .values(sku=spec.sku, stock=spec.stock, created_at=now, updated_at=now, **values)
                .returning(Item.id)
            )
        ).scalar_one()
        return UpsertResult(int(item_id), spec.sku, "created")
    current = _record(row)
    changed = {
        column: value for column, value in values.items() if getattr(current, column) != value
    }
    # Stock is set on creation only; switching between limited and unlimited is a term.
    if (spec.stock is None) != (current.stock is None):
        changed["stock"] = spec.stock
    if not changed:
        return UpsertResult(current.item_id, spec.sku, "unchanged")
    await conn.execute(
        update(Item).where(Item.id == current.item_id).values(updated_at=now, **changed)
    )
    return UpsertResult(current.item_id, spec.sku, "updated")


def clean_codes(codes: Iterable[object]) -> list[str]:
    """Coupon codes as given, stripped and without repeats; refuses a malformed one."""
    seen: dict[str, None] = {}
    for code in codes:
        if not isinstance(code, str) or not re.fullmatch(r"[!-~]{1,128}", code.strip()):
            raise InvalidInput(
                f"coupon code {code!r} must be 1-128 printable characters without spaces",
                field="codes",
            )
        seen.setdefault(code.strip(), None)
    return list(seen)


async def insert_codes(conn: AsyncConnection, item_id: int, codes: Sequence[str]) -> int:
    """Add the codes the item's pool does not have yet; returns how many were added."""
    if not codes:
        return 0
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    added = 0
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        statement = (
            dialect_insert(CouponCode)
            .values([{"item_id": item_id, "code": code} for code in chunk])
            .on_conflict_do_nothing(index_elements=[CouponCode.item_id, CouponCode.code])
            .returning(CouponCode.id)
        )
        added += len((await conn.execute(statement)).all())
    return added


def _positive_id(value: object, error: type[Exception], what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise error(f"no {what} {value!r}", **{f"{what}_id": str(value)})
    return value


def item_id_of(value: object) -> int:
    """An item id as given by a caller: a positive integer, or :class:`UnknownItem`."""
    return _positive_id(value, UnknownItem, "item")


def page_args(page: object, page_size: object) -> tuple[int, int]:
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise InvalidInput(f"page must be a whole number >= 0, got {page!r}", field="page")
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= MAX_PAGE_SIZE
    ):
        raise InvalidInput(f"page_size must be 1-{MAX_PAGE_SIZE}", field="page_size")
    return page, page_size


class Catalog:
    """The mall's rewards: kept by admins (or the catalog file), browsed by members."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def upsert_item(self, spec: ItemSpec, now: datetime) -> UpsertResult:
        """Create the item named by ``spec.sku``, or bring it up to date with ``spec``."""
        check_item(spec, self.config.tiers)
        validation.instant(now)
        async with self.db.write() as conn:
            return await upsert_item_row(conn, spec, now)

    async def create_item(self, spec: ItemSpec, now: datetime, *, actor_id: int) -> ItemRecord:
        """Add a new item for an admin, written to the audit log with it; never overwrites one.

        Unlike :meth:`upsert_item`, a sku already taken is refused (``invalid_input``, reason
        ``taken``): an admin adding an item must not silently change another.
        """
        check_item(spec, self.config.tiers)
        validation.instant(now)
        validation.member_id(actor_id)
        taken = InvalidInput(
            f"an item {spec.sku!r} exists", field="sku", reason="taken", sku=spec.sku
        )
        try:
            async with self.db.write() as conn:
                found = (await conn.execute(select(Item.id).where(Item.sku == spec.sku))).first()
                if found is not None:
                    raise taken
                result = await upsert_item_row(conn, spec, now)
                item = await self._with_codes(conn, await load_item(conn, result.item_id))
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="item.create",
                    target=f"item:{item.item_id}",
                    now=now,
                    before={},
                    after={"sku": item.sku, "stock": item.stock, **item_terms(item)},
                )
                return item
        except IntegrityError:  # another admin took the sku meanwhile (PostgreSQL)
            raise taken from None

    async def edit_item(
        self, item_id: int, changes: Mapping[str, Any], now: datetime, *, actor_id: int
    ) -> ItemEdit:
        """Change some of an item's terms (names in :data:`EDITABLE`), audited with them.

        The item as a whole must still be valid afterwards (a window ending after it starts, no
        approval threshold beside a cash part...); confirmations shown before stop working.
        """
        item_id = item_id_of(item_id)
        validation.instant(now)
        validation.member_id(actor_id)
        unknown = sorted(set(changes) - set(EDITABLE))
        if not changes or unknown:
            raise InvalidInput(
                f"changes must name some of {', '.join(EDITABLE)}, got {unknown or 'none'}",
                field="changes",
            )
        async with self.db.write() as conn:
            await conn.execute(select(Item.id).where(Item.id == item_id).with_for_update())
            before = await load_item(conn, item_id)
            spec = replace(spec_of(before), **changes)
            check_item(spec, self.config.tiers)
            await upsert_item_row(conn, spec, now)
            after = await self._with_codes(conn, await load_item(conn, item_id))
            old, new = item_terms(before), item_terms(after)
            await write_entry(
                conn,
                actor_id=actor_id,
                action="item.edit",
                target=f"item:{item_id}",
                now=now,
                before={name: old[name] for name in changes},
                after={name: new[name] for name in changes},
            )
            return ItemEdit(await self._with_codes(conn, before), after)

    async def all_items(self, page: int = 0, page_size: int = 10) -> ItemRecordPage:
        """Every item, on the shelf or not, oldest first (coupons with their free codes)."""
        page, page_size = page_args(page, page_size)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(Item).order_by(Item.id).offset(page * page_size).limit(page_size + 1)
                )
            ).all()
            items = [await self._with_codes(conn, _record(row)) for row in rows[:page_size]]
        return ItemRecordPage(tuple(items), page, len(rows) > page_size)

    async def get_item(self, item_id: int) -> ItemRecord:
        item_id = item_id_of(item_id)
        async with self.db.read() as conn:
            return await self._with_codes(conn, await load_item(conn, item_id))

    async def get_item_by_sku(self, sku: str) -> ItemRecord:
        if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
            raise UnknownItem(f"no item {sku!r}", sku=str(sku)[:64])
        async with self.db.read() as conn:
            item_id = (
                await conn.execute(select(Item.id).where(Item.sku == sku))
            ).scalar_one_or_none()
            if item_id is None:
                raise UnknownItem(f"no item {sku!r}", sku=sku)
            return await self._with_codes(conn, await load_item(conn, int(item_id)))

    async def _with_codes(self, conn: AsyncConnection, item: ItemRecord) -> ItemRecord:
        if item.kind != "coupon":
            return item
        return replace(item, free_codes=await free_codes(conn, item.item_id))

    async def deactivate(
        self, item_id: int, now: datetime, *, actor_id: int | None = None
    ) -> ItemRecord:
        """Switch the item off: off the shelf and out of every box's draw (``active`` false);
        confirmations already shown for it stop working.

        With ``actor_id`` (an admin), the audit log records it in the same transaction, unless
        the item was already off the shelf (nothing changed, nothing to record).
        """
        item_id = item_id_of(item_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        async with self.db.write() as conn:
            item = await load_item(conn, item_id)
            if item.active:
                await conn.execute(
                    update(Item).where(Item.id == item_id).values(active=False, updated_at=now)
                )
                if actor_id is not None:
                    await write_entry(
                        conn,
                        actor_id=actor_id,
                        action="item.deactivate",
                        target=f"item:{item_id}",
                        now=now,
                        before={"active": True},
                        after={"active": False},
                    )
            return await self._with_codes(conn, await load_item(conn, item_id))

    async def restock(
        self, item_id: int, quantity: int, now: datetime, *, actor_id: int | None = None
    ) -> ItemRecord:
        """Add ``quantity`` units to a limited item's stock (audited as :meth:`deactivate`)."""
        item_id = item_id_of(item_id)
        validation.amount(quantity, field="quantity")
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        async with self.db.write() as conn:
            result = await conn.execute(
                update(Item)
                .where(Item.id == item_id, Item.stock.is_not(None))
                .values(stock=Item.stock + quantity)
            )
            if not result.rowcount:
                await load_item(conn, item_id)  # unknown item
                raise InvalidState(
                    f"item {item_id} has unlimited stock", item_id=item_id, reason="unlimited"
                )
            item = await load_item(conn, item_id)
            if actor_id is not None:
                assert item.stock is not None  # limited: the update matched
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="item.restock",
                    target=f"item:{item_id}",
                    now=now,
                    before={"stock": item.stock - quantity},
                    after={"stock": item.stock},
                )
            return item

    async def load_codes(
        self,
        item_id: int,
        codes: Iterable[str],
        *,
        actor_id: int | None = None,
        now: datetime | None = None,
    ) -> int:
        """Add codes to a coupon item's pool, skipping those it has; returns how many were new.

        With ``actor_id`` (the admin who uploaded them, at ``now``) the ``item.codes`` audit
        entry, the pool's free codes before and after, is written in the same transaction as
        the codes.
        """
        item_id = item_id_of(item_id)
        cleaned = clean_codes(codes)
        if actor_id is not None:
            validation.member_id(actor_id)
            validation.instant(now)
        async with self.db.write() as conn:
            item = await load_item(conn, item_id)
            if item.kind != "coupon":
                raise InvalidState(
                    f"item {item_id} is not a coupon", item_id=item_id, reason="not_a_coupon"
                )
            before = await free_codes(conn, item_id) if actor_id is not None else 0
            added = await insert_codes(conn, item_id, cleaned)
            if actor_id is not None and now is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="item.codes",
                    target=f"item:{item_id}",
                    now=now,
                    before={"codes": before},
                    after={"codes": await free_codes(conn, item_id)},
                )
            return added

    async def categories(self, now: datetime) -> tuple[Category, ...]:
        """Categories with items available now, by name."""
        validation.instant(now)
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(Item.category, func.count())
                .where(*_active_now(now))
                .group_by(Item.category)
                .order_by(Item.category)
            )
            found = [(name, int(count)) for name, count in rows]
            names = await shelf_names(conn, [name for name, _ in found])
            return tuple(Category(name, count, names.get(name, {})) for name, count in found)

    async def shelves(self) -> tuple[Category, ...]:
        """Every shelf, by name: those items name (on the shelf or not) and those with names in
        other languages; ``count`` is the number of items naming it, any state."""
        async with self.db.read() as conn:
            counted = {
                str(name): int(count)
                for name, count in await conn.execute(
                    select(Item.category, func.count()).group_by(Item.category)
                )
            }
            named = {
                str(row.name): dict(row.names or {})
                for row in await conn.execute(select(Shelf.name, Shelf.names))
            }
        return tuple(
            Category(name, counted.get(name, 0), named.get(name, {}))
            for name in sorted(counted.keys() | named.keys())
        )

    async def set_shelf_names(
        self, name: str, names: Mapping[str, str], now: datetime, *, actor_id: int
    ) -> Category:
        """Set the shelf's names in other languages (the whole table; empty texts are left out,
        so they read the shelf's own name); audited with the admin who did it, in the same
        transaction. The same names change nothing and write no entry."""
        validation.instant(now)
        validation.member_id(actor_id)
        problem = _text_problem(name, 64)
        if problem:
            raise InvalidInput(f"name {problem}", field="name")
        name = name.strip()
        problems = texts_problems("names", names, 64, allow_empty=True)
        if problems:
            where, message = problems[0]
            raise InvalidInput(f"{where} {message}", field=where)
        cleaned = clean_texts(names)
        try:
            count = await self._set_shelf_names(name, cleaned, now, actor_id)
        except IntegrityError:
            # Another admin named the shelf first (its row was inserted meanwhile): again.
            count = await self._set_shelf_names(name, cleaned, now, actor_id)
        return Category(name, count, cleaned)

    async def _set_shelf_names(
        self, name: str, cleaned: dict[str, str], now: datetime, actor_id: int
    ) -> int:
        async with self.db.write() as conn:
            row = (
                await conn.execute(select(Shelf.names).where(Shelf.name == name).with_for_update())
            ).first()
            before = dict(row.names or {}) if row is not None else {}
            if cleaned != before:
                if row is None:
                    await conn.execute(insert(Shelf).values(name=name, names=cleaned))
                else:
                    await conn.execute(
                        update(Shelf).where(Shelf.name == name).values(names=cleaned)
                    )
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="shelf.names",
                    target=f"shelf:{name}",
                    now=now,
                    before={"names": before},
                    after={"names": cleaned},
                )
            return int(
                (await conn.execute(select(func.count()).where(Item.category == name))).scalar_one()
            )

    async def list_items(
        self,
        member_id: int,
        now: datetime,
        category: str | None = None,
        page: int = 0,
        page_size: int = 8,
    ) -> ItemPage:
        """Items available now (of one category, or all), oldest first, as the member sees them."""
        validation.member_id(member_id)
        validation.instant(now)
        page, page_size = page_args(page, page_size)
        if category is not None and _text_problem(category, 64):
            raise InvalidInput("category must be 1-64 characters", field="category")
        async with self.db.read() as conn:
            member = await read_member(conn, member_id)
            query = select(Item).where(*_active_now(now))
            if category is not None:
                query = query.where(Item.category == category.strip())
            rows = (
                await conn.execute(
                    query.order_by(Item.id).offset(page * page_size).limit(page_size + 1)
                )
            ).all()
            items = [_record(row) for row in rows[:page_size]]
            sales = await running_sales(conn, [item.item_id for item in items], now)
            views = [
                await assess(conn, self.config, member, item, sales.get(item.item_id), now)
                for item in items
            ]
        return ItemPage(tuple(views), page, len(rows) > page_size, category)

    async def item_view(self, member_id: int, item_id: int, now: datetime) -> ItemView:
        """One item as the member sees it now (under its running first-come sale, if any)."""
        validation.member_id(member_id)
        item_id = item_id_of(item_id)
        validation.instant(now)
        async with self.db.read() as conn:
            member = await read_member(conn, member_id)
            item = await load_item(conn, item_id)
            sale = (await running_sales(conn, [item_id], now)).get(item_id)
            return await assess(conn, self.config, member, item, sale, now)


# --- Offers: what many members can get now, picked once --------------------------------------

# Redemptions within this many days make an item popular: offers put the most redeemed first.
POPULAR_DAYS = 30


@dataclass(frozen=True)
class OfferedItem:
    """An item offered to a member in a message: what it costs now (a sale's price if one runs)."""

    item_id: int
    title: str
    points: int
    cash_minor: int
    titles: Mapping[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class Affordable:
    """What a member's ``balance`` gets them now: ``offers``, most wanted first, and whether
    there are ``more`` items they could redeem than offered."""

    balance: int
    offers: tuple[OfferedItem, ...]
    more: bool


@dataclass(frozen=True)
class _Candidate:
    item: ItemRecord
    sale: SaleTerms | None
    points: int
    left: int | None


@dataclass(frozen=True)
class OfferShelf:
    """The items on the shelf at ``now`` with units left and a price in points, most redeemed in
    the last :data:`POPULAR_DAYS` days first, then cheapest: read once (a handful of queries
    whatever the catalog's size), then :meth:`affordable` picks for a batch of members with a
    few more, not one listing per member.

    The verdict is :func:`blocked_reason`'s, as the shelves show it, with the member's stored
    tier (the tiers job refreshes it each night); the card a member opens checks again.
    Items that cost no points (cash only) are not offered: they spend none.
    """

    now: datetime
    candidates: tuple[_Candidate, ...]

    @classmethod
    async def read(cls, conn: AsyncConnection, now: datetime) -> OfferShelf:
        validation.instant(now)
        items = [
            _record(row)
            for row in await conn.execute(select(Item).where(*_active_now(now)).order_by(Item.id))
        ]
        if not items:
            return cls(now, ())
        ids = [item.item_id for item in items]
        sales = await running_sales(conn, ids, now)
        coupons = [item.item_id for item in items if item.kind == "coupon"]
        codes: dict[int, int] = {}
        if coupons:
            free = await conn.execute(
                select(CouponCode.item_id, func.count())
                .where(CouponCode.item_id.in_(coupons), CouponCode.taken_at.is_(None))
                .group_by(CouponCode.item_id)
            )
            codes = {int(item_id): int(count) for item_id, count in free}
        redeemed = await conn.execute(
            select(Redemption.item_id, func.count())
            .where(
                Redemption.created_at >= now - timedelta(days=POPULAR_DAYS),
                Redemption.status.not_in(ENDED_STATUSES),
            )
            .group_by(Redemption.item_id)
        )
        popular = {int(item_id): int(count) for item_id, count in redeemed}
        candidates = []
        for item in items:
            sale = sales.get(item.item_id)
            counts = [] if item.stock is None else [item.stock]
            if item.kind == "coupon":
                counts.append(codes.get(item.item_id, 0))
            if sale is not None:
                counts.append(sale.remaining)
            left = min(counts) if counts else None
            points = sale.sale_price if sale is not None else item.price_points
            if (left is None or left > 0) and points > 0:
                candidates.append(_Candidate(item, sale, points, left))
        candidates.sort(key=lambda c: (-popular.get(c.item.item_id, 0), c.points, c.item.item_id))
        return cls(now, tuple(candidates))

    async def affordable(
        self, conn: AsyncConnection, config: Config, member_ids: Sequence[int], count: int
    ) -> dict[int, Affordable]:
        """Up to ``count`` offers for each member (by id) that nothing keeps them from redeeming."""
        if not member_ids:
            return {}
        rows = await conn.execute(
            select(Account.id, Account.balance, Account.frozen, Member.tier)
            .join(Member, Member.id == Account.id)
            .where(Account.id.in_(list(member_ids)))
        )
        members = [MemberState(int(r[0]), int(r[1]), bool(r[2]), r[3]) for r in rows]
        used = await self._used(conn, config, list(member_ids))
        result: dict[int, Affordable] = {}
        for member in members:
            found: list[OfferedItem] = []
            for candidate in self.candidates:
                item = candidate.item
                reason = blocked_reason(
                    item=item,
                    sale=candidate.sale,
                    member=member,
                    points=candidate.points,
                    used=used.get((member.member_id, item.item_id), 0),
                    left=candidate.left,
                    now=self.now,
                    tiers=config.tiers,
                )
                if reason is None:
                    found.append(
                        OfferedItem(
                            item.item_id,
                            item.title,
                            candidate.points,
                            item.cash_minor,
                            item.titles,
                        )
                    )
                    if len(found) > count:
                        break
            result[member.member_id] = Affordable(
                member.balance, tuple(found[:count]), len(found) > count
            )
        return result

    async def _used(
        self, conn: AsyncConnection, config: Config, member_ids: list[int]
    ) -> dict[tuple[int, int], int]:
        """Redemptions counting against limited items' limits: one query per period start."""
        by_start: dict[datetime | None, list[int]] = {}
        for candidate in self.candidates:
            item = candidate.item
            if item.limit_count is not None:
                start = period_start(item.limit_period, self.now, config.mall.timezone)
                by_start.setdefault(start, []).append(item.item_id)
        used: dict[tuple[int, int], int] = {}
        for start, item_ids in by_start.items():
            query = (
                select(Redemption.member_id, Redemption.item_id, func.count())
                .where(
                    Redemption.member_id.in_(member_ids),
                    Redemption.item_id.in_(item_ids),
                    Redemption.status.not_in(ENDED_STATUSES),
                )
                .group_by(Redemption.member_id, Redemption.item_id)
            )
            if start is not None:
                query = query.where(Redemption.created_at >= start)
            for member_id, item_id, count in await conn.execute(query):
                used[(int(member_id), int(item_id))] = int(count)
        return used
