"""What the admin reads about the shop: the latest orders and refunds, and what refunds could not
take back (issue 13, the admin chat).

Everything here only reads, one query or one snapshot per call. An order is listed from when it
was received (an order id that only refunds named so far is not an order yet: its refunds are
listed as ``pending``). A refund's ``unrecovered`` points are those it should have taken back
but the member had already spent: the admin must see them, so :meth:`ShopViews.summary` adds
them up over every refund, not only the ones listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.commerce.shop_customers import kind_of
from core.config import Config
from core.db.database import Database
from core.db.models import Member, ShopKey, ShopOrder, ShopRefund
from core.errors import InvalidInput

MAX_LIMIT = 100


@dataclass(frozen=True)
class MemberName:
    """Who a member is, as an admin screen names them (``name`` is None once they erased)."""

    member_id: int
    name: str | None
    username: str | None


@dataclass(frozen=True)
class OrderRow:
    """An order as the admin lists it.

    ``status``: ``credited``, ``parked``, ``refunded`` (in full before it was credited) or
    ``expired`` (parked too long). ``points``: what it credited (0 unless credited).
    ``customer``: ``telegram_id:42``, ``ref:<ref>`` or ``phone`` (only a hash is kept);
    ``member``: the member it was credited to, None while nobody is linked.
    """

    order_id: str
    status: str
    source: str
    total_minor: int
    refunded_minor: int
    points: int
    customer: str
    member: MemberName | None
    received_at: datetime
    parked_until: datetime | None


@dataclass(frozen=True)
class RefundRow:
    """A refund as the admin lists it: ``applied`` (``points_taken`` back, ``unrecovered`` had
    been spent), ``pending`` (its order has not come), ``netted`` (before the order was
    credited) or ``exceeded`` (it came first and was more than the order: nothing done)."""

    order_id: str
    refund_id: str
    amount_minor: int
    status: str
    points_taken: int
    unrecovered: int
    member: MemberName | None
    received_at: datetime


@dataclass(frozen=True)
class ShopSummary:
    """Counts for the shop section: orders by status, and every point refunds left behind."""

    orders: int
    credited: int
    parked: int
    refunded: int
    expired: int
    refunds: int
    unrecovered_points: int
    refunds_unrecovered: int
    active_keys: int


def _limit(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}", field="limit")
    return value


def shown_customer(key: str | None) -> str:
    """A customer key as the admin may read it: never the phone's hash."""
    if not key:
        return "?"
    kind = kind_of(key)
    if kind == "telegram":
        return f"telegram_id:{key[3:]}"
    return "phone" if kind == "phone" else key


def _member(row: Any) -> MemberName | None:
    if row.member_id is None:
        return None
    erased = row.deleted_at is not None
    return MemberName(
        int(row.member_id),
        None if erased else row.display_name,
        None if erased else row.username,
    )


class ShopViews:
    """Read-only views of the shop's orders and refunds for the admin chat."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def recent_orders(self, limit: int = 15) -> tuple[OrderRow, ...]:
        """The orders received last, the newest first."""
        _limit(limit)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        ShopOrder,
                        Member.display_name,
                        Member.username,
                        Member.deleted_at,
                    )
                    .outerjoin(Member, Member.id == ShopOrder.member_id)
                    .where(ShopOrder.status != "awaiting")
                    .order_by(ShopOrder.received_at.desc(), ShopOrder.order_id.desc())
                    .limit(limit)
                )
            ).all()
        return tuple(
            OrderRow(
                order_id=row.order_id,
                status=row.status,
                source=row.source or "?",
                total_minor=int(row.total_minor or 0),
                refunded_minor=int(row.refunded_minor),
                points=int(row.points),
                customer=shown_customer(row.customer_key),
                member=_member(row),
                received_at=row.received_at,
                parked_until=row.parked_until,
            )
            for row in rows
        )

    async def recent_refunds(self, limit: int = 15) -> tuple[RefundRow, ...]:
        """The refunds received last, the newest first, with the member of their order."""
        _limit(limit)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        ShopRefund,
                        ShopOrder.member_id,
                        Member.display_name,
                        Member.username,
                        Member.deleted_at,
                    )
                    .join(ShopOrder, ShopOrder.order_id == ShopRefund.order_id)
                    .outerjoin(Member, Member.id == ShopOrder.member_id)
                    .order_by(
                        ShopRefund.received_at.desc(),
                        ShopRefund.order_id.desc(),
                        ShopRefund.refund_id.desc(),
                    )
                    .limit(limit)
                )
            ).all()
        return tuple(
            RefundRow(
                order_id=row.order_id,
                refund_id=row.refund_id,
                amount_minor=int(row.amount_minor),
                status=row.status,
                points_taken=int(row.points_taken),
                unrecovered=int(row.unrecovered),
                member=_member(row),
                received_at=row.received_at,
            )
            for row in rows
        )

    async def summary(self) -> ShopSummary:
        """Orders by status, refunds, the points refunds could not take back, live API keys."""
        async with self.db.read() as conn:
            return await _summary(conn)


async def _summary(conn: AsyncConnection) -> ShopSummary:
    by_status = {
        str(status): int(count)
        for status, count in (
            await conn.execute(select(ShopOrder.status, func.count()).group_by(ShopOrder.status))
        ).all()
    }
    refunds = (
        await conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(ShopRefund.unrecovered), 0),
                func.coalesce(func.sum(case((ShopRefund.unrecovered > 0, 1), else_=0)), 0),
            )
        )
    ).one()
    active_keys = (
        await conn.execute(
            select(func.count()).select_from(ShopKey).where(ShopKey.revoked_at.is_(None))
        )
    ).scalar_one()
    return ShopSummary(
        orders=sum(n for status, n in by_status.items() if status != "awaiting"),
        credited=by_status.get("credited", 0),
        parked=by_status.get("parked", 0),
        refunded=by_status.get("refunded", 0),
        expired=by_status.get("expired", 0),
        refunds=int(refunds[0]),
        unrecovered_points=int(refunds[1]),
        refunds_unrecovered=int(refunds[2]),
        active_keys=int(active_keys),
    )
