"""Points from purchases: earning by the rules, taking them back on a refund, looking one up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Order
from core.db.prepared import Prepared
from core.errors import AlreadyRefunded, Frozen, KeyReused, UnknownOrder
from core.growth.referrals import ReferralReward, pending_referral, qualify
from core.growth.task_rewards import advance_each, any_challenge_on
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.earning import (
    EARNED_IN_WINDOW,
    add_earned,
    earn,
    refresh_tier,
    standing_of,
    window_bounds,
)
from core.points.idempotency import run_once
from core.points.ledger import LockedRead, current_balance, debit_member, lock_member
from core.reporting.audit import write_entry


@dataclass(frozen=True)
class PurchaseResult:
    """Points an order earned, and how they were reckoned."""

    order_id: str
    points: int
    capped: int
    base_points: Decimal
    category_multiplier: Decimal
    tier_multiplier: Decimal
    promotion: str | None
    promotion_multiplier: Decimal
    balance: int
    tier: str
    referral: ReferralReward | None = None
    """The invite this purchase qualified (``[referrals] qualify_on = "purchase"``), if any."""


@dataclass(frozen=True)
class RefundResult:
    """What a refund took back; ``unrecovered`` is what the member had already spent."""

    order_id: str
    refund_id: str
    amount_minor: int
    points_taken: int
    unrecovered: int
    balance: int


@dataclass(frozen=True)
class OrderView:
    """A purchase as recorded, and how much of it is still there to reverse."""

    order_id: str
    member_id: int
    amount_minor: int
    category: str
    points: int
    refunded_minor: int
    points_reversed: int
    points_unrecovered: int
    created_at: datetime

    @property
    def refundable_minor(self) -> int:
        return self.amount_minor - self.refunded_minor

    @property
    def points_at_stake(self) -> int:
        """Points a full reversal of what is left would take back (at most)."""
        return self.points - self.points_reversed - self.points_unrecovered


def _refund_key(order_id: str, refund_id: str) -> str:
    # Both ids may contain ':'; '@' never occurs in a reference, so no two refunds share a key.
    return f"refund:{order_id}@{refund_id}"


# Built once and run at the driver: every purchase runs them (see core.db.prepared on why).
_ORDERS = cast(Table, Order.__table__)
_INSERT_ORDER = Prepared(insert(_ORDERS))
# A purchase's reads, folded into the member's lock: whether the order was recorded before,
# the points earned in the tier window, and whether a pending invite or a shop challenge could
# apply at all.
_PURCHASE_READ = LockedRead(
    select(_ORDERS.c.order_id).where(_ORDERS.c.order_id == bindparam("order_id")).exists(),
    EARNED_IN_WINDOW.scalar_subquery(),
    pending_referral(bindparam("member_id")).exists(),
    any_challenge_on("shop"),
)


async def credit_purchase(
    conn: AsyncConnection,
    config: Config,
    member_id: int,
    order_id: str,
    amount_minor: int,
    category: str,
    now: datetime,
) -> PurchaseResult:
    """Record a purchase and credit what it earns, inside the caller's transaction.

    :meth:`Purchases.record_purchase` runs it once per order id; the shop (``core.commerce.shop``)
    runs it inside its own use cases. An order id recorded before is refused (:class:`KeyReused`).
    A purchase may qualify the member's invite (``core.growth.referrals.qualify``).
    """
    day = rules.business_day(now, config.mall.timezone)
    member, (recorded, earned_in_window, invited, challenges) = await _PURCHASE_READ.lock(
        conn, member_id, order_id=order_id, **window_bounds(config, day)
    )
    if recorded:
        raise KeyReused(f"order {order_id!r} was recorded before", key=f"purchase:{order_id}")
    standing = standing_of(config, int(earned_in_window))
    reckoned = rules.purchase_points(amount_minor, category, standing.tier, now, config.earning)
    granted, capped, balance, tier_name = 0, 0, member.balance, standing.tier.name
    if reckoned.points:
        earned = await earn(
            conn,
            config,
            member,
            amount=reckoned.points,
            code="purchase",
            reference=order_id,
            key=f"purchase:{order_id}",
            now=now,
            standing=standing,
        )
        granted, capped = earned.granted, earned.capped
        balance, tier_name = earned.balance, earned.tier
    elif member.frozen:
        raise Frozen(f"member {member_id} is frozen", member_id=member_id)
    await _INSERT_ORDER.run(
        conn,
        {
            "order_id": order_id,
            "member_id": member_id,
            "amount_minor": amount_minor,
            "category": category,
            "points": granted,
            "refunded_minor": 0,
            "points_reversed": 0,
            "points_unrecovered": 0,
            "created_at": now,
        },
    )
    referral = await qualify(conn, config, member_id, "purchase", now) if invited else None
    if referral is not None:
        balance = referral.invitee_balance
    if challenges and await advance_each(conn, config, member_id, ("shop",), now):
        balance = await current_balance(conn, member_id)
    return PurchaseResult(
        order_id=order_id,
        points=granted,
        capped=capped,
        base_points=reckoned.base,
        category_multiplier=reckoned.category_multiplier,
        tier_multiplier=reckoned.tier_multiplier,
        promotion=reckoned.promotion,
        promotion_multiplier=reckoned.promotion_multiplier,
        balance=balance,
        tier=tier_name,
        referral=referral,
    )


async def reverse_purchase(
    conn: AsyncConnection,
    config: Config,
    order_id: str,
    refund_id: str,
    amount_minor: int | None,
    now: datetime,
) -> RefundResult:
    """Take back what the refunded part of the order earned, inside the caller's transaction
    (see :meth:`Purchases.refund_purchase`)."""
    member_id = (
        await conn.execute(select(Order.member_id).where(Order.order_id == order_id))
    ).scalar_one_or_none()
    if member_id is None:
        raise UnknownOrder(f"no order {order_id!r}", order_id=order_id)
    member = await lock_member(conn, member_id)
    order = (await conn.execute(select(Order).where(Order.order_id == order_id))).one()
    left = order.amount_minor - order.refunded_minor
    refund = left if amount_minor is None else amount_minor
    if refund <= 0 or refund > left:
        raise AlreadyRefunded(
            f"order {order_id!r} has {left} left to refund, asked {refund}",
            order_id=order_id,
            refundable_minor=left,
        )
    refunded = order.refunded_minor + refund
    # Proportional and cumulative, so partial refunds never round their way past
    # the order's points, and a full refund takes back exactly what it earned.
    target = order.points * refunded // order.amount_minor
    due = target - order.points_reversed - order.points_unrecovered
    taken = min(due, member.balance)
    balance = member.balance
    if taken > 0:
        _, balance = await debit_member(
            conn,
            member_id=member_id,
            destination=SystemAccount.ISSUANCE,
            amount=taken,
            code="purchase_refund",
            reference=order_id,
            key=_refund_key(order_id, refund_id),
            now=now,
            require_active=False,
        )
        day = rules.business_day(order.created_at, config.mall.timezone)
        await add_earned(conn, member_id, day, -taken)
        today = rules.business_day(now, config.mall.timezone)
        await refresh_tier(conn, config, member_id, member.tier, today)
    await conn.execute(
        update(Order)
        .where(Order.order_id == order_id)
        .values(
            refunded_minor=refunded,
            points_reversed=order.points_reversed + taken,
            points_unrecovered=order.points_unrecovered + due - taken,
        )
    )
    return RefundResult(order_id, refund_id, refund, taken, due - taken, balance)


class Purchases:
    """Orders paid with money, recorded by the shop (or an admin) for a member."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def record_purchase(
        self,
        member_id: int,
        order_id: str,
        amount_minor: int,
        category: str,
        now: datetime,
        *,
        actor_id: int | None = None,
    ) -> PurchaseResult:
        """Credit the points the order earns; the order id makes it happen at most once.

        With ``actor_id`` (an admin recording it by hand) the ``points.purchase`` audit entry
        is written in the same transaction as the credit; a replay writes none.
        """
        validation.member_id(member_id)
        validation.reference(order_id, field="order_id")
        validation.amount(amount_minor, field="amount_minor")
        validation.reference(category, field="category")
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)

        async def work(conn: AsyncConnection) -> PurchaseResult:
            # The member's lock is the first any use case takes; credit_purchase takes it again.
            before = (await lock_member(conn, member_id)).balance if actor_id is not None else 0
            result = await credit_purchase(
                conn, self.config, member_id, order_id, amount_minor, category, now
            )
            if actor_id is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="points.purchase",
                    target=f"member:{member_id}",
                    now=now,
                    before={"balance": before},
                    after={"balance": result.balance, "order": order_id, "points": result.points},
                )
            return result

        outcome = await run_once(
            self.db,
            key=f"purchase:{order_id}",
            kind="purchase",
            request={
                "member_id": member_id,
                "order_id": order_id,
                "amount_minor": amount_minor,
                "category": category,
            },
            result_type=PurchaseResult,
            work=work,
            now=now,
        )
        return outcome.result

    async def refund_purchase(
        self,
        order_id: str,
        now: datetime,
        *,
        refund_id: str = "full",
        amount_minor: int | None = None,
        actor_id: int | None = None,
    ) -> RefundResult:
        """Take back what the refunded part of the order earned, no more than the member has.

        ``amount_minor`` None refunds what is left of the order. Each ``refund_id`` happens at
        most once; partial refunds add up to the whole order's points, never more. With
        ``actor_id`` (an admin reversing it by hand) the ``points.reverse`` audit entry is
        written in the same transaction as the reversal; a replay writes none.
        """
        validation.reference(order_id, field="order_id")
        validation.reference(refund_id, field="refund_id")
        validation.instant(now)
        if amount_minor is not None:
            validation.amount(amount_minor, field="amount_minor")
        if actor_id is not None:
            validation.member_id(actor_id)

        async def work(conn: AsyncConnection) -> RefundResult:
            result = await reverse_purchase(
                conn, self.config, order_id, refund_id, amount_minor, now
            )
            if actor_id is not None:
                member_id = (
                    await conn.execute(select(Order.member_id).where(Order.order_id == order_id))
                ).scalar_one()
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="points.reverse",
                    target=f"member:{member_id}",
                    now=now,
                    before={"balance": result.balance + result.points_taken},
                    after={
                        "balance": result.balance,
                        "order": order_id,
                        "points": -result.points_taken,
                    },
                )
            return result

        outcome = await run_once(
            self.db,
            key=_refund_key(order_id, refund_id),
            kind="refund",
            request={"order_id": order_id, "refund_id": refund_id, "amount_minor": amount_minor},
            result_type=RefundResult,
            work=work,
            now=now,
        )
        return outcome.result

    async def order(self, order_id: str) -> OrderView:
        """A recorded purchase (to show an admin before it is reversed)."""
        validation.reference(order_id, field="order_id")
        async with self.db.read() as conn:
            order = (await conn.execute(select(Order).where(Order.order_id == order_id))).first()
        if order is None:
            raise UnknownOrder(f"no order {order_id!r}", order_id=order_id)
        return OrderView(
            order_id=order.order_id,
            member_id=int(order.member_id),
            amount_minor=int(order.amount_minor),
            category=order.category,
            points=int(order.points),
            refunded_minor=int(order.refunded_minor),
            points_reversed=int(order.points_reversed),
            points_unrecovered=int(order.points_unrecovered),
            created_at=order.created_at,
        )
