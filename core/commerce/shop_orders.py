"""Orders and refunds from the shop, inside a caller's transaction (``core.commerce.shop`` runs
them).

An order's total is split by earning category in proportion to its lines' amounts (a line's
``amount`` is the whole line, all units); each share is one purchase of ``core.commerce.purchases``
(so the ``[earning]`` rules apply as to any purchase): part 1 under the order's own id, part n under
``<order id>:n``. An order without lines is one purchase in ``[shop] default_category``.

Refunds are money, not points: a refund of a credited order is split over its parts in
proportion to what is left of each, and each part gives back its share of the points it earned
(:func:`core.commerce.purchases.reverse_purchase`): never more than the member has, the rest
recorded as ``unrecovered`` for the admin. A refund that comes before its order is kept
(``pending``) and netted off when the order comes; a refund of a parked order lowers what it will
credit. Their sum never exceeds the order's total (:class:`~core.errors.RefundExceedsOrder`).

Locks, in this order: the customer's row, the shop order's row, then the member (and lots).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import Row, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.commerce.purchases import credit_purchase, reverse_purchase
from core.config import Config
from core.db.database import Database
from core.db.models import Order, ShopOrder, ShopRefund, Transfer
from core.errors import (
    InvalidAmount,
    InvalidInput,
    InvalidKey,
    KeyReused,
    OrderConflict,
    RefundExceedsOrder,
    WrongCurrency,
)
from core.growth.member_days import MemberDayBonus, pay_bonus
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.earning import add_earned
from core.points.idempotency import run_once
from core.points.ledger import debit_member, lock_member

Source = Literal["api", "shopify", "woocommerce", "csv"]
OrderStatus = Literal["credited", "parked", "refunded"]
RefundStatus = Literal["applied", "pending", "netted"]

R = TypeVar("R")

SOURCES: tuple[Source, ...] = ("api", "shopify", "woocommerce", "csv")
MAX_ID = 64
_ORDERS = cast(Table, ShopOrder.__table__)
_SHOP_ID = re.compile(rf"[A-Za-z0-9_\-.]{{1,{MAX_ID}}}")


@dataclass(frozen=True)
class OrderLine:
    """One line of an order: ``amount`` is the whole line (every unit), in the mall's money."""

    sku: str
    category: str
    amount: Decimal
    quantity: int = 1


@dataclass(frozen=True)
class OrderIn:
    """An order as the shop sends it. ``customer``: ``{"telegram_id": 42}``,
    ``{"phone": "+8613800138000"}`` or ``{"ref": "shop-customer-7"}``."""

    order_id: str
    customer: Mapping[str, object]
    total: Decimal
    currency: str
    lines: tuple[OrderLine, ...] = ()
    placed_at: datetime | None = None
    source: Source = "api"


@dataclass(frozen=True)
class OrderOutcome:
    """What became of an order. ``points``: what the member got for it (0 while parked);
    ``refunded_minor``: refunds that came before it and were netted off."""

    order_id: str
    status: OrderStatus
    points: int
    telegram_id: int | None
    total_minor: int
    refunded_minor: int = 0
    referral_points: int = 0
    """The invite bonus this order paid the member (their first purchase qualified it)."""
    member_day: MemberDayBonus | None = None
    """What a member day on the day the order was placed added (``core.growth.member_days``)."""


@dataclass(frozen=True)
class RefundOutcome:
    """What a refund did: ``applied`` (``points_taken`` back; ``unrecovered`` had been spent),
    ``pending`` (its order has not come yet) or ``netted`` (the order is not credited yet: it
    will credit that much less)."""

    order_id: str
    refund_id: str
    amount_minor: int
    status: RefundStatus
    points_taken: int
    unrecovered: int
    telegram_id: int | None


# --- Reading what the shop sends ----------------------------------------------------------------


def shop_id(value: object, *, field: str) -> str:
    """An order, refund or hold id from the shop: 1-64 of ``A-Za-z0-9_-.`` (no ``:``, which
    names an order's further parts: ``A-1001:2``)."""
    if not isinstance(value, str) or not _SHOP_ID.fullmatch(value):
        raise InvalidKey(f"malformed {field} {value!r}: 1-{MAX_ID} of A-Za-z0-9_-.", field=field)
    return value


def to_minor(value: object, config: Config, *, field: str, allow_zero: bool = False) -> int:
    """A decimal amount of the mall's money (a Decimal or its text) in minor units, exactly."""
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise InvalidAmount(f"{field} must be a decimal amount, got {value!r}", field=field)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidAmount(
            f"{field} must be a decimal amount, got {value!r}", field=field
        ) from None
    if not number.is_finite():
        raise InvalidAmount(f"{field} must be a finite amount", field=field)
    minor = number * config.earning.minor_per_unit
    if minor != minor.to_integral_value():
        raise InvalidAmount(
            f"{field} has more decimals than the currency, got {value}", field=field
        )
    return validation.amount(int(minor), field=field, allow_zero=allow_zero)


def currency(value: object, config: Config) -> None:
    if value != config.mall.currency:
        raise WrongCurrency(
            f"amounts must be in {config.mall.currency}, got {value!r}",
            expected=config.mall.currency,
            got=str(value)[:8],
        )


def split_by_category(
    total_minor: int, lines: Sequence[OrderLine], config: Config
) -> tuple[list[tuple[str, int]], list[list[object]]]:
    """The total split by category (sorted), and the lines as plain values for the fingerprint."""
    if not lines:
        return [(config.shop.default_category, total_minor)], []
    by_category: dict[str, int] = {}
    plain: list[list[object]] = []
    for n, line in enumerate(lines):
        if not isinstance(line, OrderLine):
            raise InvalidInput(f"lines[{n}] is not an order line", field="lines")
        sku = validation.text(line.sku, field=f"lines[{n}].sku", max_length=64)
        category = validation.reference(line.category, field=f"lines[{n}].category")
        if len(category) > 64:
            raise InvalidInput(f"lines[{n}].category is over 64 characters", field="lines")
        amount = to_minor(line.amount, config, field=f"lines[{n}].amount", allow_zero=True)
        quantity = line.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity < 10**6:
            raise InvalidInput(f"lines[{n}].quantity must be a positive integer", field="lines")
        by_category[category] = by_category.get(category, 0) + amount
        plain.append([sku, category, amount, quantity])
    weights = sorted(by_category.items())
    if sum(w for _, w in weights) == 0:
        raise InvalidAmount("the lines' amounts add up to zero", field="lines")
    shares = allocate(total_minor, [w for _, w in weights])
    parts = [(category, share) for (category, _), share in zip(weights, shares, strict=True)]
    return parts, plain


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split ``amount`` in proportion to ``weights`` (largest remainder; ties to the first).

    When ``amount`` is at most ``sum(weights)`` no share exceeds its weight, so splitting a
    refund by what is left of each part never asks a part for more than it has.
    """
    whole = sum(weights)
    if whole <= 0:
        return [0 for _ in weights]
    shares = [amount * w // whole for w in weights]
    rest = amount - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % whole), i))
    for i in by_remainder[:rest]:
        shares[i] += 1
    return shares


ORDER_KIND = "shop_order"


def order_key(order_id: str) -> str:
    """The idempotency key an order runs under."""
    return f"shop-order:{order_id}"


def part_id(order_id: str, index: int) -> str:
    """The purchase id of an order's part (1-based): the order id itself for the first."""
    return order_id if index == 1 else f"{order_id}:{index}"


def load_parts(row: Row[Any]) -> list[tuple[str, int]]:
    return [(str(c), int(a)) for c, a in json.loads(row.parts or "[]")]


# --- Running a use case once -------------------------------------------------------------------


async def once(
    db: Database,
    key: str,
    kind: str,
    request: Mapping[str, object],
    result_type: type[R],
    work: Callable[[AsyncConnection], Awaitable[R]],
    now: datetime,
    order_id: str | None = None,
) -> R:
    """:func:`core.points.idempotency.run_once`, with an order's reused id an
    :class:`OrderConflict`."""
    try:
        outcome = await run_once(
            db,
            key=key,
            kind=kind,
            request=request,
            result_type=result_type,
            work=work,
            now=now,
        )
    except KeyReused as exc:
        if order_id is None or isinstance(exc, OrderConflict):
            raise
        raise OrderConflict(
            f"order {order_id!r} was sent before with another body", order_id=order_id
        ) from None
    return outcome.result


# --- The order's row ----------------------------------------------------------------------------


async def lock_order(conn: AsyncConnection, order_id: str, now: datetime) -> Row[Any]:
    """The shop order's row, locked; created as ``awaiting`` if nothing came for it before."""
    upsert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        upsert(_ORDERS)
        .values(order_id=order_id, status="awaiting", created_at=now)
        .on_conflict_do_nothing(index_elements=[_ORDERS.c.order_id])
    )
    return (
        await conn.execute(
            select(ShopOrder).where(ShopOrder.order_id == order_id).with_for_update()
        )
    ).one()


async def net_pending_refunds(
    conn: AsyncConnection, order_id: str, total_minor: int, now: datetime
) -> int:
    """Net off refunds that came before the order, in the order they came; returns their sum.

    One that would take the sum past the total is set aside as ``exceeded``.
    """
    pending = (
        await conn.execute(
            select(ShopRefund.refund_id, ShopRefund.amount_minor)
            .where(ShopRefund.order_id == order_id, ShopRefund.status == "pending")
            .order_by(ShopRefund.received_at, ShopRefund.refund_id)
        )
    ).all()
    refunded = 0
    for refund in pending:
        fits = refunded + int(refund.amount_minor) <= total_minor
        if fits:
            refunded += int(refund.amount_minor)
        await conn.execute(
            update(ShopRefund)
            .where(ShopRefund.order_id == order_id, ShopRefund.refund_id == refund.refund_id)
            .values(status="netted" if fits else "exceeded", applied_at=now)
        )
    return refunded


async def credit_order(
    conn: AsyncConnection,
    config: Config,
    order_id: str,
    member_id: int,
    parts: Sequence[tuple[str, int]],
    refunded_minor: int,
    now: datetime,
) -> OrderOutcome:
    """Credit what is left of the order (its total less the refunds netted off) to the member."""
    total = sum(amount for _, amount in parts)
    netted = allocate(refunded_minor, [amount for _, amount in parts])
    points = referral_points = 0
    for index, ((category, amount), off) in enumerate(zip(parts, netted, strict=True), start=1):
        if amount - off > 0:
            result = await credit_purchase(
                conn, config, member_id, part_id(order_id, index), amount - off, category, now
            )
            points += result.points
            if result.referral is not None:
                referral_points += result.referral.invitee_points
    status: OrderStatus = "refunded" if refunded_minor >= total else "credited"
    bonus = None
    if points > 0:
        # The day the shop says the order was placed (a parked order is credited days later).
        placed = (
            await conn.execute(select(ShopOrder.placed_at).where(ShopOrder.order_id == order_id))
        ).scalar_one_or_none()
        bonus = await pay_bonus(
            conn,
            config,
            await lock_member(conn, member_id),
            applies_to="shop",
            base=points,
            cause_key=order_key(order_id),
            reference=f"shop-order:{order_id}",
            now=now,
            day=rules.business_day(placed or now, config.mall.timezone),
        )
    await conn.execute(
        update(ShopOrder)
        .where(ShopOrder.order_id == order_id)
        .values(status=status, member_id=member_id, points=points, credited_at=now)
    )
    return OrderOutcome(
        order_id, status, points, member_id, total, refunded_minor, referral_points, bonus
    )


async def refund_order(
    conn: AsyncConnection,
    config: Config,
    order: Row[Any],
    refund_id: str,
    amount_minor: int,
    now: datetime,
) -> RefundOutcome:
    """Apply a refund to a shop order whose row the caller locked."""
    order_id = str(order.order_id)
    status: RefundStatus
    taken = unrecovered = 0
    member_id = None if order.member_id is None else int(order.member_id)
    if order.status == "awaiting":
        status = "pending"
    else:
        total, refunded = int(order.total_minor), int(order.refunded_minor)
        if refunded + amount_minor > total:
            raise RefundExceedsOrder(
                f"order {order_id!r} has {total - refunded} left to refund, asked {amount_minor}",
                order_id=order_id,
                refundable_minor=total - refunded,
            )
        values: dict[str, object] = {"refunded_minor": refunded + amount_minor}
        if order.status == "credited":
            status = "applied"
            taken, unrecovered = await _reverse_parts(
                conn, config, order, refund_id, amount_minor, now
            )
            bonus_taken, bonus_unrecovered = await _reverse_member_day(
                conn, config, order, refund_id, amount_minor, now
            )
            taken += bonus_taken
            unrecovered += bonus_unrecovered
        else:  # parked, refunded before it was credited, or expired: only the books change
            status = "netted"
            if order.status == "parked" and refunded + amount_minor == total:
                values["status"] = "refunded"
        await conn.execute(update(ShopOrder).where(ShopOrder.order_id == order_id).values(**values))
    await conn.execute(
        insert(ShopRefund).values(
            order_id=order_id,
            refund_id=refund_id,
            amount_minor=amount_minor,
            status=status,
            points_taken=taken,
            unrecovered=unrecovered,
            received_at=now,
            applied_at=None if status == "pending" else now,
        )
    )
    return RefundOutcome(order_id, refund_id, amount_minor, status, taken, unrecovered, member_id)


async def _reverse_member_day(
    conn: AsyncConnection,
    config: Config,
    order: Row[Any],
    refund_id: str,
    amount_minor: int,
    now: datetime,
) -> tuple[int, int]:
    """Take back the refund's share of a member day's extra on the order: (taken, unrecovered).

    The share is cumulative over the order's total, so partial refunds add up to the whole
    extra; what the member already spent is unrecovered, reported once and not asked again.
    """
    order_id = str(order.order_id)
    bonus = (
        await conn.execute(
            select(Transfer.amount, Transfer.created_at).where(
                Transfer.key == f"member-day:{order_key(order_id)}"
            )
        )
    ).first()
    total, before = int(order.total_minor), int(order.refunded_minor)
    if bonus is None or total <= 0:
        return 0, 0
    extra = int(bonus.amount)
    due = extra * (before + amount_minor) // total - extra * before // total
    if due <= 0:
        return 0, 0
    member_id = int(order.member_id)
    member = await lock_member(conn, member_id)
    taken = min(due, member.balance)
    if taken > 0:
        await debit_member(
            conn,
            member_id=member_id,
            destination=SystemAccount.ISSUANCE,
            amount=taken,
            code="member_day_refund",
            reference=order_id,
            key=f"member-day-refund:shop.{refund_id}:{order_id}",
            now=now,
            require_active=False,
        )
        earned_on = rules.business_day(bonus.created_at, config.mall.timezone)
        await add_earned(conn, member_id, earned_on, -taken)
    return taken, due - taken


async def _reverse_parts(
    conn: AsyncConnection,
    config: Config,
    order: Row[Any],
    refund_id: str,
    amount_minor: int,
    now: datetime,
) -> tuple[int, int]:
    """Split the refund over the order's purchases by what is left of each; (taken, unrecovered)."""
    order_id = str(order.order_id)
    ids = [part_id(order_id, n) for n in range(1, len(load_parts(order)) + 1)]
    rows = (
        await conn.execute(
            select(Order.order_id, Order.amount_minor, Order.refunded_minor).where(
                Order.order_id.in_(ids)
            )
        )
    ).all()
    left = {str(r.order_id): int(r.amount_minor) - int(r.refunded_minor) for r in rows}
    present = [i for i in ids if left.get(i, 0) > 0]
    if present:
        await lock_member(conn, int(order.member_id))
    shares = allocate(amount_minor, [left[i] for i in present])
    taken = unrecovered = 0
    for purchase_id, share in zip(present, shares, strict=True):
        if share > 0:
            # "shop." keeps these reversals' keys apart from refunds an admin records by hand.
            result = await reverse_purchase(
                conn, config, purchase_id, f"shop.{refund_id}", share, now
            )
            taken += result.points_taken
            unrecovered += result.unrecovered
    return taken, unrecovered
