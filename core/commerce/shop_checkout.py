"""Points paying at the shop's checkout: a ledger hold per checkout, by the shop's hold id.

The shop holds a member's points for a discount (worth ``points x [mall] point_value_minor``),
then captures them with its order or releases them. Each is a hold of ``core.points.ledger`` (to the
redemptions book), so the holds timeout job (:meth:`core.mall.Mall.release_expired`) gives back
one nobody captured within ``[shop] checkout_hold_minutes``; a release after that answers
``released``, a capture :class:`~core.errors.HoldNotPending`. All three run once per hold id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.commerce.shop_customers import customer, linked_member
from core.commerce.shop_orders import once, shop_id
from core.config import Config
from core.db.database import Database
from core.db.models import CheckoutHold as CheckoutHoldRow
from core.db.models import Hold
from core.errors import HoldNotPending, UnknownCustomer, UnknownHold
from core.points.accounts import SystemAccount
from core.points.ledger import lock_member, place_hold, settle_hold

HoldStatus = Literal["held", "captured", "released"]


@dataclass(frozen=True)
class CheckoutHold:
    """Points held at the shop's checkout: ``value_minor`` is what they are worth there."""

    hold_ref: str
    telegram_id: int
    points: int
    value_minor: int
    expires_at: datetime
    status: HoldStatus
    order_id: str | None = None


class ShopCheckout:
    """Hold, capture and release points for the shop's checkout."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def hold_for_checkout(
        self, hold_ref: str, who: Mapping[str, object], points: int, now: datetime
    ) -> CheckoutHold:
        """Hold the member's points for a discount at the shop's checkout; once per ``hold_ref``.

        :class:`~core.errors.UnknownCustomer` if no member is linked to the customer.
        """
        ref = shop_id(hold_ref, field="hold_id")
        validation.amount(points, field="points")
        validation.instant(now)
        key = customer(who, self.config.shop)
        async with self.db.read() as conn:
            member_id = await linked_member(conn, key)
        if member_id is None:
            raise UnknownCustomer("no member is linked to that customer", field="customer")
        expires_at = now + timedelta(minutes=self.config.shop.checkout_hold_minutes)
        value = points * self.config.mall.point_value_minor

        async def work(conn: AsyncConnection) -> CheckoutHold:
            await lock_member(conn, member_id)
            hold_id, _ = await place_hold(
                conn,
                member_id=member_id,
                destination=SystemAccount.REDEMPTIONS,
                amount=points,
                code="checkout",
                reference=f"checkout:{ref}",
                key=f"checkout:{ref}",
                now=now,
                expires_at=expires_at,
            )
            await conn.execute(
                insert(CheckoutHoldRow).values(
                    hold_ref=ref,
                    hold_id=hold_id,
                    member_id=member_id,
                    points=points,
                    value_minor=value,
                    created_at=now,
                )
            )
            return CheckoutHold(ref, member_id, points, value, expires_at, "held")

        request = {"hold_ref": ref, "member_id": member_id, "points": points}
        return await once(
            self.db, f"checkout:{ref}", "checkout_hold", request, CheckoutHold, work, now
        )

    async def capture(self, hold_ref: str, order_id: str, now: datetime) -> CheckoutHold:
        """Spend the held points on the shop's order; once per ``hold_ref``.

        :class:`~core.errors.HoldNotPending` if the hold was released (or timed out).
        """
        ref = shop_id(hold_ref, field="hold_id")
        shop_id(order_id, field="order_id")
        validation.instant(now)

        async def work(conn: AsyncConnection) -> CheckoutHold:
            row, status = await self._lock_hold(conn, ref)
            if status != "pending":
                raise HoldNotPending(f"checkout hold {ref!r} is {status}", hold_id=ref)
            await settle_hold(
                conn, hold_id=int(row.hold_id), post=True, key=f"checkout-capture:{ref}", now=now
            )
            await conn.execute(
                update(CheckoutHoldRow)
                .where(CheckoutHoldRow.hold_ref == ref)
                .values(order_id=order_id)
            )
            return _checkout(row, "captured", order_id)

        request = {"hold_ref": ref, "order_id": order_id}
        return await once(
            self.db, f"checkout-capture:{ref}", "checkout_capture", request, CheckoutHold, work, now
        )

    async def release(self, hold_ref: str, now: datetime) -> CheckoutHold:
        """Give the held points back (a hold the timeout released already is released)."""
        ref = shop_id(hold_ref, field="hold_id")
        validation.instant(now)

        async def work(conn: AsyncConnection) -> CheckoutHold:
            row, status = await self._lock_hold(conn, ref)
            if status == "posted":
                raise HoldNotPending(f"checkout hold {ref!r} was captured", hold_id=ref)
            if status == "pending":
                await settle_hold(
                    conn,
                    hold_id=int(row.hold_id),
                    post=False,
                    key=f"checkout-release:{ref}",
                    now=now,
                )
            return _checkout(row, "released", None)

        return await once(
            self.db,
            f"checkout-release:{ref}",
            "checkout_release",
            {"hold_ref": ref},
            CheckoutHold,
            work,
            now,
        )

    async def checkout_hold(self, hold_ref: str) -> CheckoutHold:
        """A checkout hold as it stands now (released when it timed out)."""
        ref = shop_id(hold_ref, field="hold_id")
        async with self.db.read() as conn:
            found = (
                await conn.execute(
                    select(CheckoutHoldRow, Hold.status, Hold.expires_at)
                    .join(Hold, Hold.id == CheckoutHoldRow.hold_id)
                    .where(CheckoutHoldRow.hold_ref == ref)
                )
            ).first()
        if found is None:
            raise UnknownHold(f"no checkout hold {ref!r}", hold_id=ref)
        status: HoldStatus = {"pending": "held", "posted": "captured"}.get(found.status, "released")  # type: ignore[assignment]
        return _checkout(found, status, found.order_id)

    async def _lock_hold(self, conn: AsyncConnection, ref: str) -> tuple[Any, str]:
        """The checkout hold with its ledger hold's expiry, and the hold's status once the
        member is locked (the timeout job locks the member too before it voids a hold)."""
        row = (
            await conn.execute(
                select(CheckoutHoldRow, Hold.expires_at)
                .join(Hold, Hold.id == CheckoutHoldRow.hold_id)
                .where(CheckoutHoldRow.hold_ref == ref)
            )
        ).first()
        if row is None:
            raise UnknownHold(f"no checkout hold {ref!r}", hold_id=ref)
        await lock_member(conn, int(row.member_id))
        status = (
            await conn.execute(select(Hold.status).where(Hold.id == row.hold_id))
        ).scalar_one()
        return row, str(status)


def _checkout(row: Any, status: HoldStatus, order_id: str | None) -> CheckoutHold:
    return CheckoutHold(
        hold_ref=row.hold_ref,
        telegram_id=int(row.member_id),
        points=int(row.points),
        value_minor=int(row.value_minor),
        expires_at=row.expires_at,
        status=status,
        order_id=order_id,
    )
