"""What can run out: item stock and coupon codes, taken by conditional updates.

Two members can never take the last unit or the same code: each take is one UPDATE whose
condition the database checks, never a read followed by a write in Python. Call these after
the member's account is locked (the item is the hot row: its lock comes last).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.models import CouponCode, Item, Redemption
from core.db.prepared import Prepared
from core.db.types import UTCDateTime

# Every redemption takes stock: built once and run at the driver (see core.db.prepared on why).
_ITEMS = cast(Table, Item.__table__)
_TAKE_STOCK = Prepared(
    update(_ITEMS)
    .where(
        _ITEMS.c.id == bindparam("item"),
        _ITEMS.c.stock.is_not(None),
        _ITEMS.c.stock >= bindparam("units"),
    )
    .values(stock=_ITEMS.c.stock - bindparam("units"))
)
_UNLIMITED = Prepared(
    select(_ITEMS.c.id).where(_ITEMS.c.id == bindparam("item"), _ITEMS.c.stock.is_(None))
)


async def take_stock(conn: AsyncConnection, item_id: int, quantity: int = 1) -> bool:
    """Take ``quantity`` units; False when not enough are left. Unlimited items always give."""
    if await _TAKE_STOCK.run(conn, {"item": item_id, "units": quantity}):
        return True
    return await _UNLIMITED.first(conn, {"item": item_id}) is not None


async def return_stock(conn: AsyncConnection, item_id: int, quantity: int = 1) -> None:
    """Put units back (a cancelled or rejected redemption); unlimited items ignore it."""
    await conn.execute(
        update(Item)
        .where(Item.id == item_id, Item.stock.is_not(None))
        .values(stock=Item.stock + quantity)
    )


@dataclass(frozen=True)
class TakenCode:
    code_id: int
    code: str


_TAKE_CODE = {
    # PostgreSQL: skip codes another transaction is taking instead of queueing behind it.
    "postgresql": text(
        """
        UPDATE coupon_codes SET taken_at = :now, taken_by = :member_id
        WHERE id = (
            SELECT id FROM coupon_codes WHERE item_id = :item_id AND taken_at IS NULL
            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
        ) AND taken_at IS NULL
        RETURNING id, code
        """
    ),
    # SQLite serializes writers: the first free code is free until this transaction ends.
    "sqlite": text(
        """
        UPDATE coupon_codes SET taken_at = :now, taken_by = :member_id
        WHERE id = (
            SELECT id FROM coupon_codes WHERE item_id = :item_id AND taken_at IS NULL
            ORDER BY id LIMIT 1
        ) AND taken_at IS NULL
        RETURNING id, code
        """
    ),
}
# Instants bind through the column's type, so raw SQL stores them exactly like the models do.
_TAKE_CODE = {
    dialect: statement.bindparams(bindparam("now", type_=UTCDateTime))
    for dialect, statement in _TAKE_CODE.items()
}


_TAKE_CODE_PREPARED = {dialect: Prepared(statement) for dialect, statement in _TAKE_CODE.items()}


async def take_coupon_code(
    conn: AsyncConnection, item_id: int, member_id: int, now: datetime
) -> TakenCode | None:
    """Give the member the next free code of the item's pool; None when the pool is empty."""
    params = {"now": now, "member_id": member_id, "item_id": item_id}
    row = await _TAKE_CODE_PREPARED[conn.dialect.name].first(conn, params)
    return TakenCode(int(row[0]), str(row[1])) if row else None


async def release_coupon_code(conn: AsyncConnection, code_id: int) -> None:
    """Return a code to the pool (its redemption was cancelled before the member saw it)."""
    await conn.execute(
        update(CouponCode).where(CouponCode.id == code_id).values(taken_at=None, taken_by=None)
    )


async def free_codes(conn: AsyncConnection, item_id: int) -> int:
    """Codes left in the item's pool."""
    return int(await _FREE_CODES.scalar(conn, {"item_id": item_id}))


_CODES = cast(Table, CouponCode.__table__)
_FREE_CODES = Prepared(
    select(func.count())
    .select_from(_CODES)
    .where(_CODES.c.item_id == bindparam("item_id"), _CODES.c.taken_at.is_(None))
)


async def record_given_item(
    conn: AsyncConnection, member_id: int, item_id: int, token: str, now: datetime
) -> int:
    """An item given away (a box's prize, a task's reward), its unit taken, is fulfilled like
    any redemption: a completed one for 0 points, under ``token``. Returns its id."""
    redemption_id = (
        await conn.execute(
            insert(Redemption)
            .values(
                member_id=member_id,
                item_id=item_id,
                confirm_token=token,
                status="completed",
                points=0,
                cash_minor=0,
                created_at=now,
                updated_at=now,
            )
            .returning(Redemption.id)
        )
    ).scalar_one()
    return int(redemption_id)
