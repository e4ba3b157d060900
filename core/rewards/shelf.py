"""What members see on the shelves: the categories, the items as each member sees them, and the
offers a message makes to many members at once.

Only reads live here; each item's verdict is the one eligibility check's
(``core.rewards.eligibility``), so a card never promises what a redemption would refuse. Editing the
items and naming the shelves is the admin's side, ``core.rewards.catalog``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Account, CouponCode, Item, Member, Redemption, Shelf
from core.errors import InvalidInput
from core.rewards.eligibility import (
    ENDED_STATUSES,
    ItemRecord,
    ItemView,
    MemberState,
    SaleTerms,
    assess,
    blocked_reason,
    fewest_units,
    item_id_of,
    item_record,
    on_shelf_now,
    period_start,
    read_member,
    running_sales,
    view_item,
)


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


async def shelf_names(conn: AsyncConnection, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """The shelves' names by language, for those of ``names`` that have any."""
    if not names:
        return {}
    rows = await conn.execute(select(Shelf.name, Shelf.names).where(Shelf.name.in_(names)))
    return {row.name: dict(row.names or {}) for row in rows}


class MemberShelf:
    """The members' reads of the catalog (``core.rewards.catalog.Catalog`` adds the admin's
    editing)."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def categories(self, now: datetime) -> tuple[Category, ...]:
        """Categories with items available now, by name."""
        validation.instant(now)
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(Item.category, func.count())
                .where(*on_shelf_now(now))
                .group_by(Item.category)
                .order_by(Item.category)
            )
            found = [(name, int(count)) for name, count in rows]
            names = await shelf_names(conn, [name for name, _ in found])
            return tuple(Category(name, count, names.get(name, {})) for name, count in found)

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
        page, page_size = validation.page_args(page, page_size)
        if category is not None and validation.text_problem(category, 64):
            raise InvalidInput("category must be 1-64 characters", field="category")
        async with self.db.read() as conn:
            member = await read_member(conn, member_id)
            query = select(Item).where(*on_shelf_now(now))
            if category is not None:
                query = query.where(Item.category == category.strip())
            rows = (
                await conn.execute(
                    query.order_by(Item.id).offset(page * page_size).limit(page_size + 1)
                )
            ).all()
            items = [item_record(row) for row in rows[:page_size]]
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
            _, view = await view_item(conn, self.config, member_id, item_id, now)
        return view


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
            item_record(row)
            for row in await conn.execute(select(Item).where(*on_shelf_now(now)).order_by(Item.id))
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
            left = fewest_units(item, codes.get(item.item_id, 0), sale)
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
