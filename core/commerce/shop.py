"""The mall meets the shop: orders and refunds that arrive by themselves, customers linked to
members, parked points, and points paying at the shop's checkout (issue 13).

The HTTP API, Shopify and WooCommerce receivers sit on top of this (in ``bot/``); ``core``
knows no HTTP. Each use case is one transaction:

- :meth:`Shop.accept_order` runs once per order id (the ids of every source share one space,
  as refunds name an order by its id alone): the same order again answers what the first
  delivery was answered, whatever happened since; the same id with another body is
  :class:`~core.errors.OrderConflict`. The source is recorded, not compared: the same order
  sent by the API and then in a CSV is one order. An order of a member earns points by the
  ``[earning]`` rules at once (see ``core.commerce.shop_orders``); one of a customer nobody linked
  yet is parked for ``[shop] park_days`` and credited when a member links (:meth:`link_phone`,
  :meth:`link_ref`, :meth:`use_link` of a link the shop showed (``core.commerce.shop_links``),
  :meth:`credit_parked` after a member joins with that Telegram id). Points are reckoned when
  credited: the tier, promotions and daily cap of that day.
- :meth:`Shop.refund` runs once per (order id, refund id). Points already spent are not taken
  from the future: a refund takes back what the member has, up to its share, and records the
  rest as ``unrecovered`` (per purchase in ``orders.points_unrecovered``, per refund in
  ``shop_refunds.unrecovered``) for the admin; the balance never goes below zero.
- Checkout holds are ledger holds (``core.commerce.shop_checkout``), so the holds timeout job
  releases one nobody captured within ``[shop] checkout_hold_minutes``.

A frozen member's order is refused (``frozen``), as an admin's purchase for them would be; a
frozen member's parked orders stay parked when they link.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.commerce.shop_checkout import CheckoutHold, ShopCheckout
from core.commerce.shop_csv import ImportReport, import_csv
from core.commerce.shop_customers import (
    Customer,
    customer,
    keys_of,
    kind_of,
    linked_member,
    live_member,
    lock_customer,
    phone_key,
    reference,
)
from core.commerce.shop_links import ShopLink, create_link, forget_links, use_link
from core.commerce.shop_orders import (
    ORDER_KIND,
    SOURCES,
    OrderIn,
    OrderLine,
    OrderOutcome,
    RefundOutcome,
    credit_order,
    currency,
    load_parts,
    lock_order,
    net_pending_refunds,
    once,
    order_key,
    refund_order,
    shop_id,
    split_by_category,
    to_minor,
)
from core.config import Config
from core.db.database import Database
from core.db.models import ShopCustomer, ShopOrder
from core.errors import InvalidInput, OrderConflict, RefTaken, UnknownMember
from core.points.ledger import lock_member

__all__ = [
    "CheckoutHold",
    "LinkResult",
    "OrderIn",
    "OrderLine",
    "OrderOutcome",
    "ParkedOrder",
    "RefundOutcome",
    "Shop",
    "ShopLink",
]


@dataclass(frozen=True)
class PreparedOrder:
    """An order checked and read: what :meth:`Shop.accept_order` runs and compares."""

    order_id: str
    customer: Customer
    total_minor: int
    parts: tuple[tuple[str, int], ...]
    request: Mapping[str, object]


@dataclass(frozen=True)
class LinkResult:
    """A member linked to a shop customer, and the parked orders that were credited at once."""

    member_id: int
    kind: Literal["telegram", "phone", "ref"]
    credited: tuple[OrderOutcome, ...]


@dataclass(frozen=True)
class ParkedOrder:
    """An order waiting for its customer to link (or that waited too long): for the admin.

    ``customer`` is ``telegram_id:42``, ``ref:<ref>`` or just ``phone`` (only its hash is kept).
    """

    order_id: str
    customer: str
    total_minor: int
    refunded_minor: int
    received_at: datetime
    parked_until: datetime


class Shop:
    """Orders, refunds, links and checkout holds from the shop."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config
        self.checkout = ShopCheckout(db, config)

    # --- Points at the checkout (core.commerce.shop_checkout) -------------------------------------

    async def hold_for_checkout(
        self, hold_ref: str, who: Mapping[str, object], points: int, now: datetime
    ) -> CheckoutHold:
        """Hold the member's points for a discount at the shop's checkout; once per hold id.

        :class:`~core.errors.UnknownCustomer` if no member is linked to the customer.
        """
        return await self.checkout.hold_for_checkout(hold_ref, who, points, now)

    async def capture(self, hold_ref: str, order_id: str, now: datetime) -> CheckoutHold:
        """Spend the held points on the shop's order (:class:`~core.errors.HoldNotPending` if
        the hold was released or timed out)."""
        return await self.checkout.capture(hold_ref, order_id, now)

    async def release(self, hold_ref: str, now: datetime) -> CheckoutHold:
        """Give the held points back (a hold the timeout released is answered as released)."""
        return await self.checkout.release(hold_ref, now)

    async def checkout_hold(self, hold_ref: str) -> CheckoutHold:
        """A checkout hold as it stands now."""
        return await self.checkout.checkout_hold(hold_ref)

    # --- Orders -------------------------------------------------------------------------------

    def prepare(self, order: OrderIn) -> PreparedOrder:
        """Check an order without writing anything (the CSV import checks every row first)."""
        if not isinstance(order, OrderIn):
            raise InvalidInput("not an order", field="order")
        order_id = shop_id(order.order_id, field="order_id")
        currency(order.currency, self.config)
        who = customer(order.customer, self.config.shop)
        total = to_minor(order.total, self.config, field="total")
        parts, lines = split_by_category(total, order.lines, self.config)
        if order.source not in SOURCES:
            raise InvalidInput(f"unknown source {order.source!r}", field="source")
        if order.placed_at is not None:
            validation.instant(order.placed_at, field="placed_at")
        request = {
            "order_id": order_id,
            "customer": who.key,
            "total_minor": total,
            "currency": order.currency,
            "lines": lines,
            "placed_at": order.placed_at.isoformat() if order.placed_at else None,
        }
        return PreparedOrder(order_id, who, total, tuple(parts), request)

    async def accept_order(self, order: OrderIn, now: datetime) -> OrderOutcome:
        """Credit the order to its customer's member, or park it until one links. Once per id."""
        validation.instant(now)
        prepared = self.prepare(order)
        order_id, who, total = prepared.order_id, prepared.customer, prepared.total_minor
        parts, request = list(prepared.parts), prepared.request

        async def work(conn: AsyncConnection) -> OrderOutcome:
            member_id = await lock_customer(conn, who, now)
            row = await lock_order(conn, order_id, now)
            if row.status != "awaiting":  # recorded under another key (cannot happen by the API)
                raise OrderConflict(f"order {order_id!r} was recorded before", order_id=order_id)
            refunded = await net_pending_refunds(conn, order_id, total, now)
            parked = member_id is None and refunded < total
            await conn.execute(
                update(ShopOrder)
                .where(ShopOrder.order_id == order_id)
                .values(
                    status="parked" if parked else "refunded",
                    source=order.source,
                    customer_key=who.key,
                    total_minor=total,
                    refunded_minor=refunded,
                    parts=json.dumps(parts),
                    placed_at=order.placed_at,
                    received_at=now,
                    parked_until=now + timedelta(days=self.config.shop.park_days)
                    if parked
                    else None,
                )
            )
            if member_id is None:
                return OrderOutcome(
                    order_id, "parked" if parked else "refunded", 0, None, total, refunded
                )
            return await credit_order(conn, self.config, order_id, member_id, parts, refunded, now)

        return await once(
            self.db, order_key(order_id), ORDER_KIND, request, OrderOutcome, work, now, order_id
        )

    async def refund(
        self, order_id: str, refund_id: str, amount: Any, now: datetime
    ) -> RefundOutcome:
        """Take back the points of that share of the order; once per (order id, refund id).

        ``amount`` is a decimal (or its text) in the mall's money. A refund of an order that has
        not come yet is kept and netted off when it comes.
        """
        validation.instant(now)
        shop_id(order_id, field="order_id")
        shop_id(refund_id, field="refund_id")
        amount_minor = to_minor(amount, self.config, field="amount")

        async def work(conn: AsyncConnection) -> RefundOutcome:
            row = await lock_order(conn, order_id, now)
            return await refund_order(conn, self.config, row, refund_id, amount_minor, now)

        return await once(
            self.db,
            f"shop-refund:{order_id}@{refund_id}",
            "shop_refund",
            {"order_id": order_id, "refund_id": refund_id, "amount_minor": amount_minor},
            RefundOutcome,
            work,
            now,
        )

    async def import_orders_csv(
        self, text: str, now: datetime, *, actor_id: int | None = None, filename: str = ""
    ) -> ImportReport:
        """Import orders from a CSV (see ``core.commerce.shop_csv``): every row is checked first;
        with any error nothing is imported and every error is listed with its line.

        With ``actor_id`` the ``shop.orders_imported`` audit entry naming ``filename`` is
        written by core right after the orders (one transaction per order, each at most once:
        see :func:`core.commerce.shop_csv.import_csv`)."""
        return await import_csv(self, text, now, actor_id=actor_id, filename=filename)

    async def expire_parked(self, now: datetime) -> list[ParkedOrder]:
        """Give up on parked orders past their time (a job calls this; report them to admins)."""
        validation.instant(now)

        async def work(conn: AsyncConnection) -> list[ParkedOrder]:
            rows = (
                await conn.execute(
                    update(ShopOrder)
                    .where(ShopOrder.status == "parked", ShopOrder.parked_until <= now)
                    .values(status="expired")
                    .returning(*ShopOrder.__table__.columns)
                )
            ).all()
            return sorted((_parked(row) for row in rows), key=lambda p: p.order_id)

        return await self.db.transact(work)

    async def parked_orders(self, limit: int = 50) -> tuple[ParkedOrder, ...]:
        """Orders waiting for their customer to link, the oldest first (for the admin)."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ShopOrder)
                    .where(ShopOrder.status == "parked")
                    .order_by(ShopOrder.received_at, ShopOrder.order_id)
                    .limit(limit)
                )
            ).all()
        return tuple(_parked(row) for row in rows)

    # --- Customers ----------------------------------------------------------------------------

    async def member_for(self, who: Mapping[str, object]) -> int | None:
        """The member a shop customer is linked to, if any."""
        key = customer(who, self.config.shop)
        async with self.db.read() as conn:
            return await linked_member(conn, key)

    async def link_phone(self, member_id: int, phone: str, now: datetime) -> LinkResult:
        """Link the member's phone, as Telegram verified it (a contact they shared themselves).

        Only its keyed hash is stored. A number another member linked before is theirs no
        more (Telegram says it is this member's now). Parked orders are credited at once.
        """
        validation.member_id(member_id)
        validation.instant(now)
        return await self._link(
            member_id, Customer("phone", phone_key(phone, self.config.shop)), now
        )

    async def link_ref(self, member_id: int, ref: str, now: datetime) -> LinkResult:
        """Link the shop's customer reference to the member: once; another member's is refused
        (:class:`~core.errors.RefTaken`). Parked orders are credited at once."""
        validation.member_id(member_id)
        validation.instant(now)
        return await self._link(member_id, Customer("ref", f"ref:{reference(ref)}"), now)

    async def create_link(self, ref: str, now: datetime) -> ShopLink:
        """A new link for the shop to show after checkout (``https://t.me/<bot>?start=s-<token>``)
        that links ``ref`` to the member who opens it within ``[shop] link_token_days``; see
        ``core.commerce.shop_links``. Every call makes another token."""
        return await create_link(self.db, self.config.shop, ref, now)

    async def forget_links(self, now: datetime) -> int:
        """Delete links long expired (``core.commerce.shop_links.forget_links``; a daily job)."""
        return await forget_links(self.db, now)

    async def use_link(self, member_id: int, token: str, now: datetime) -> LinkResult:
        """The member opened the shop's link (``token``: the ``/start`` payload without ``s-``):
        :meth:`link_ref` with its reference, once. ``link_unknown``, ``link_expired``,
        ``link_used`` (another member's), ``ref_taken``; the same member again is answered the
        same (see ``core.commerce.shop_links``)."""

        async def link(conn: AsyncConnection, ref: str) -> LinkResult:
            return await self._link_in(conn, member_id, Customer("ref", f"ref:{ref}"), now)

        return await use_link(self.db, member_id, token, now, link=link, result_type=LinkResult)

    async def credit_parked(self, member_id: int, now: datetime) -> list[OrderOutcome]:
        """Credit every parked order of the member's (Telegram id or links); call it after a
        member joins. Safe to repeat: an order is credited once."""
        validation.member_id(member_id)
        validation.instant(now)

        async def work(conn: AsyncConnection) -> list[OrderOutcome]:
            if await lock_customer(conn, Customer("telegram", f"tg:{member_id}"), now) is None:
                raise UnknownMember(f"no member {member_id}", member_id=member_id)
            return await self._credit_parked(conn, member_id, now)

        return await self.db.transact(work)

    async def _link(self, member_id: int, who: Customer, now: datetime) -> LinkResult:
        async def work(conn: AsyncConnection) -> LinkResult:
            return await self._link_in(conn, member_id, who, now)

        return await self.db.transact(work)

    async def _link_in(
        self, conn: AsyncConnection, member_id: int, who: Customer, now: datetime
    ) -> LinkResult:
        if await live_member(conn, member_id) is None:
            raise UnknownMember(f"no member {member_id}", member_id=member_id)
        before = await lock_customer(conn, who, now)
        if before is not None and before != member_id and who.kind == "ref":
            raise RefTaken(f"{who.key} is linked to another member", field="ref")
        if before != member_id:
            await conn.execute(
                update(ShopCustomer)
                .where(ShopCustomer.customer_key == who.key)
                .values(member_id=member_id, linked_at=now)
            )
        credited = await self._credit_parked(conn, member_id, now)
        return LinkResult(member_id, who.kind, tuple(credited))

    async def _credit_parked(
        self, conn: AsyncConnection, member_id: int, now: datetime
    ) -> list[OrderOutcome]:
        keys = await keys_of(conn, member_id)
        rows = (
            await conn.execute(
                select(ShopOrder)
                .where(
                    ShopOrder.customer_key.in_(keys),
                    ShopOrder.status == "parked",
                    ShopOrder.parked_until > now,
                )
                .order_by(ShopOrder.order_id)
                .with_for_update()
            )
        ).all()
        if not rows or (await lock_member(conn, member_id)).frozen:
            return []
        return [
            await credit_order(
                conn,
                self.config,
                row.order_id,
                member_id,
                load_parts(row),
                int(row.refunded_minor),
                now,
            )
            for row in rows
        ]


def _parked(row: Any) -> ParkedOrder:
    key = str(row.customer_key)
    kind = kind_of(key)
    shown = {"telegram": f"telegram_id:{key[3:]}", "phone": "phone", "ref": key}[kind]
    return ParkedOrder(
        order_id=row.order_id,
        customer=shown,
        total_minor=int(row.total_minor),
        refunded_minor=int(row.refunded_minor),
        received_at=row.received_at,
        parked_until=row.parked_until,
    )
