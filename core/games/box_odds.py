"""A box and its prize table as read: which prizes are in the draw, why one is out, and the
true odds and expected value that follow.

Members' box screens, the draw itself, the admin's table editor and the catalog file's check
all read a table through :func:`odds_table`, so the odds a member is shown are the odds the
draw uses and what an admin previews is what saving does. The math is ``core.games.box_draws``'s
(pure); this module reads the rows it needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import cast

from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.models import BlindBox, BoxPrize, CouponCode, Item
from core.db.prepared import Prepared
from core.errors import InvalidInput, UnknownBox
from core.games import box_draws

PROBABILITY_PLACES = Decimal("0.000001")

# Why a prize is out of the draw: stable codes, in the order they are checked.
WEIGHT_ZERO = "weight_zero"  # weight 0: taken out of the draw (or left out of the table)
ALL_WON = "all_won"  # the prize's own stock is used up
NO_ITEM = "no_item"  # an item or coupon prize without its item
ITEM_INACTIVE = "item_inactive"  # its item is switched off (active false)
NO_CODES = "no_codes"  # its coupon item has no free code left
ITEM_SOLD_OUT = "item_sold_out"  # its item's stock is used up
OUT_REASONS = (WEIGHT_ZERO, ALL_WON, NO_ITEM, ITEM_INACTIVE, NO_CODES, ITEM_SOLD_OUT)


@dataclass(frozen=True)
class PrizeOdds:
    """A prize as members see it: its true chance now, ordinary and on a guaranteed draw.

    ``probability`` is ``weight / total_weight`` of the box rounded to 6 places (exact: those
    two numbers); 0 when the prize is out of the draw (``available`` False), and then
    ``out_reason`` says why (one of :data:`OUT_REASONS`; None while it is in the draw).
    """

    prize_id: int
    name: str
    kind: str
    points: int | None
    item_id: int | None
    item_title: str | None
    value: int
    weight: int
    stock: int | None
    rare: bool
    available: bool
    probability: Decimal
    guaranteed_probability: Decimal
    out_reason: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    """The prize's name by language (``{"zh_Hans": "..."}``), read instead of ``name``."""
    item_titles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PrizeTable:
    """A box's prizes with their current odds, and its expected value for admins.

    ``expected_value`` is points paid out (items and coupons at their points price) per point
    spent, in the long run, guarantee included; above 1 the box costs the mall.
    """

    box_id: int
    price_points: int
    pity_after: int | None
    total_weight: int
    rare_weight: int
    prizes: tuple[PrizeOdds, ...]
    expected_value: Decimal
    pays_out_more_than_it_takes: bool


@dataclass(frozen=True)
class BoxSummary:
    box_id: int
    sku: str
    title: str
    price_points: int
    active: bool
    titles: Mapping[str, str] = field(default_factory=dict)


async def prize_table_in(conn: AsyncConnection, box_id: int) -> PrizeTable:
    """The box's prize table as :meth:`BlindBoxes.prize_table` gives it, read on ``conn``
    (inside the caller's transaction: the catalog file checks what it just wrote)."""
    return odds_table(await read_box(conn, box_id_of(box_id)), await prize_rows(conn, box_id))


def box_id_of(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"box id must be a positive integer, got {value!r}", field="box_id")
    return value


def bounded(value: object, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer {low}-{high}, got {value!r}", field=field)
    return value


@dataclass(frozen=True)
class BoxTerms:
    box_id: int
    sku: str
    title: str
    description: str
    price_points: int
    pity_after: int | None
    daily_cap: int | None
    active: bool
    titles: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)


# Every draw and box screen reads the box and its prize table: built once and run at the
# driver (see core.db.prepared on why).
_BOXES = cast(Table, BlindBox.__table__)
_PRIZES = cast(Table, BoxPrize.__table__)
_ITEMS = cast(Table, Item.__table__)
_CODES = cast(Table, CouponCode.__table__)
_BOX = Prepared(
    select(
        _BOXES.c.sku,
        _BOXES.c.title,
        _BOXES.c.description,
        _BOXES.c.price_points,
        _BOXES.c.pity_after,
        _BOXES.c.daily_cap,
        _BOXES.c.active,
        _BOXES.c.titles,
        _BOXES.c.descriptions,
    ).where(_BOXES.c.id == bindparam("box_id"))
)
_PRIZE_ROWS = Prepared(
    select(
        _PRIZES.c.id,
        _PRIZES.c.name,
        _PRIZES.c.kind,
        _PRIZES.c.points,
        _PRIZES.c.item_id,
        _PRIZES.c.weight,
        _PRIZES.c.stock,
        _PRIZES.c.rare,
        _ITEMS.c.title,
        _ITEMS.c.price_points,
        _ITEMS.c.stock.label("item_stock"),
        _ITEMS.c.active,
        exists()
        .where(_CODES.c.item_id == _PRIZES.c.item_id, _CODES.c.taken_at.is_(None))
        .label("has_code"),
        _PRIZES.c.names,
        _ITEMS.c.titles,
    )
    .select_from(_PRIZES.outerjoin(_ITEMS, _ITEMS.c.id == _PRIZES.c.item_id))
    .where(_PRIZES.c.box_id == bindparam("box_id"))
    .order_by(_PRIZES.c.id)
)


async def read_box(conn: AsyncConnection, box_id: int) -> BoxTerms:
    row = await _BOX.named(conn, {"box_id": box_id})
    if row is None:
        raise UnknownBox(f"no box {box_id}", box_id=box_id)
    return BoxTerms(
        box_id,
        row.sku,
        row.title,
        row.description,
        int(row.price_points),
        None if row.pity_after is None else int(row.pity_after),
        None if row.daily_cap is None else int(row.daily_cap),
        bool(row.active),
        dict(row.titles or {}),
        dict(row.descriptions or {}),
    )


@dataclass(frozen=True)
class PrizeRow:
    """A prize row with what decides whether it is in the draw."""

    prize_id: int
    name: str
    kind: str
    points: int | None
    item_id: int | None
    weight: int
    stock: int | None
    rare: bool
    item_title: str | None
    item_price: int | None
    item_stock: int | None
    item_active: bool
    has_code: bool
    names: Mapping[str, str] = field(default_factory=dict)
    item_titles: Mapping[str, str] = field(default_factory=dict)

    @property
    def out_reason(self) -> str | None:
        """Why the prize is out of the draw (see :data:`OUT_REASONS`), None if it is in it."""
        if self.weight <= 0:
            return WEIGHT_ZERO
        if self.stock is not None and self.stock <= 0:
            return ALL_WON
        if self.kind in ("item", "coupon"):
            if self.item_id is None:
                return NO_ITEM
            # Only active counts: an item that is not listed (prize only) is still given.
            if not self.item_active:
                return ITEM_INACTIVE
            if self.kind == "coupon":
                return None if self.has_code else NO_CODES
            if self.item_stock is not None and self.item_stock <= 0:
                return ITEM_SOLD_OUT
        return None

    @property
    def available(self) -> bool:
        """In the draw: weighted, not used up, and its item (if any) can still be given."""
        return self.out_reason is None

    @property
    def value(self) -> int:
        """What the prize pays out, in points (items and coupons at their price)."""
        if self.kind in ("item", "coupon"):
            return self.item_price or 0
        return self.points or 0

    def candidate(self) -> box_draws.Candidate:
        return box_draws.Candidate(self.prize_id, self.weight, self.rare, self.value)


async def prize_rows(conn: AsyncConnection, box_id: int) -> list[PrizeRow]:
    rows = await _PRIZE_ROWS.rows(conn, {"box_id": box_id})
    return [
        PrizeRow(
            prize_id=int(prize_id),
            name=name,
            kind=kind,
            points=None if points is None else int(points),
            item_id=None if item_id is None else int(item_id),
            weight=int(weight),
            stock=None if stock is None else int(stock),
            rare=bool(rare),
            item_title=item_title,
            item_price=None if item_price is None else int(item_price),
            item_stock=None if item_stock is None else int(item_stock),
            item_active=bool(item_active),
            has_code=bool(has_code),
            names=dict(names or {}),
            item_titles=dict(item_titles or {}),
        )
        for (
            prize_id,
            name,
            kind,
            points,
            item_id,
            weight,
            stock,
            rare,
            item_title,
            item_price,
            item_stock,
            item_active,
            has_code,
            names,
            item_titles,
        ) in rows
    ]


def _probability(weight: int, total: int) -> Decimal:
    if total <= 0:
        return Decimal(0).quantize(PROBABILITY_PLACES)
    chance = Fraction(weight, total)
    return (Decimal(chance.numerator) / Decimal(chance.denominator)).quantize(PROBABILITY_PLACES)


def odds_table(box: BoxTerms, rows: Sequence[PrizeRow]) -> PrizeTable:
    live = [row for row in rows if row.available]
    total = sum(row.weight for row in live)
    rare_total = sum(row.weight for row in live if row.rare)
    ev = box_draws.expected_value(
        box.price_points, [row.candidate() for row in live], box.pity_after
    )
    prizes = tuple(
        PrizeOdds(
            prize_id=row.prize_id,
            name=row.name,
            kind=row.kind,
            points=row.points,
            item_id=row.item_id,
            item_title=row.item_title,
            value=row.value,
            weight=row.weight,
            stock=row.stock,
            rare=row.rare,
            available=row.available,
            probability=_probability(row.weight if row.available else 0, total),
            guaranteed_probability=_probability(
                row.weight if row.available and row.rare else 0, rare_total
            ),
            out_reason=row.out_reason,
            names=row.names,
            item_titles=row.item_titles,
        )
        for row in rows
    )
    return PrizeTable(
        box_id=box.box_id,
        price_points=box.price_points,
        pity_after=box.pity_after,
        total_weight=total,
        rare_weight=rare_total,
        prizes=prizes,
        expected_value=ev,
        pays_out_more_than_it_takes=ev > 1,
    )
