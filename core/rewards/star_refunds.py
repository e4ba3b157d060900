"""Payments in Telegram Stars the mall keeps no goods for, and their refunds.

A payment buys a redemption (``Redemptions.confirm_payment``). When the mall ends up keeping
nothing for it, the Stars go back to the member, and a ``star_refunds`` row, keyed by
Telegram's charge id, says so from the moment the mall knows:

- a payment that arrived after its redemption had ended (timed out, cancelled): ``late``,
  recorded by :meth:`StarRefunds.payment_unmatched`;
- a paid redemption cancelled or rejected by an admin: ``cancelled`` / ``rejected``, recorded
  by the move itself (``core.rewards.redemptions``), in the transaction that gives the points back,
  so the ledger and the payment record never disagree.

The refund itself is a Bot API call (``refundStarPayment``), made by the bot right after the
event and again by a job while Telegram refuses it: ``refund_due`` → ``refunded``, once per
charge id whatever repeats (:meth:`StarRefunds.mark_refunded` is idempotent, and enqueues the
member's notice in the same transaction, keyed by the charge id).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Member, Redemption, StarRefund
from core.errors import InvalidInput, MallError
from core.operations.outbox import Envelope, enqueue
from core.points.ledger import lock_member

DUE, REFUNDED = "refund_due", "refunded"
LATE = "late"
# Telegram refused a refund: tried again after 1, 2, 4 ... minutes, at most this far apart.
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=6)
_ERROR_MAX = 200


class UnknownRefund(MallError):
    """No refund is recorded for this charge id."""

    code = "unknown_refund"


@dataclass(frozen=True)
class RefundView:
    """A payment to give back, and where its refund stands."""

    charge_id: str
    member_id: int
    redemption_id: int | None
    stars: int
    reason: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime
    refunded_at: datetime | None

    @property
    def refunded(self) -> bool:
        return self.status == REFUNDED


@dataclass(frozen=True)
class Marked:
    """What :meth:`StarRefunds.mark_refunded` did: ``replayed`` if it was refunded before."""

    refund: RefundView
    replayed: bool = False


# Renders the member's notice of a refund, in a language, to an outbox payload (the bot's).
RefundWording = Callable[[str, RefundView], str]


def stars_for(config: Config, cash_minor: int) -> int:
    """The Stars a cash part costs (``[payments] minor_per_star``), rounded up; at least one."""
    return max(1, math.ceil(cash_minor / config.payments.minor_per_star))


def _view(row: Any) -> RefundView:
    return RefundView(
        charge_id=row.charge_id,
        member_id=int(row.member_id),
        redemption_id=None if row.redemption_id is None else int(row.redemption_id),
        stars=int(row.stars),
        reason=row.reason,
        status=row.status,
        attempts=int(row.attempts),
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        refunded_at=row.refunded_at,
    )


async def _read(conn: AsyncConnection, charge_id: str) -> RefundView | None:
    row = (await conn.execute(select(StarRefund).where(StarRefund.charge_id == charge_id))).first()
    return None if row is None else _view(row)


async def _require(conn: AsyncConnection, charge_id: str) -> RefundView:
    found = await _read(conn, charge_id)
    if found is None:
        raise UnknownRefund(f"no refund for charge {charge_id}", charge_id=charge_id)
    return found


async def record_due(
    conn: AsyncConnection,
    *,
    charge_id: str,
    member_id: int,
    redemption_id: int | None,
    stars: int,
    reason: str,
    now: datetime,
) -> RefundView:
    """Record in the caller's transaction that the payment ``charge_id`` is to be given back;
    the refund already recorded for it if there is one (one refund per charge)."""
    found = await _read(conn, charge_id)
    if found is not None:
        return found
    await conn.execute(
        insert(StarRefund).values(
            charge_id=charge_id,
            member_id=member_id,
            redemption_id=redemption_id,
            stars=max(1, stars),
            reason=reason,
            status=DUE,
            attempts=0,
            # The turn that made it due refunds at once; the job is the fallback, not a rival.
            next_attempt_at=now + FIRST_RETRY,
            created_at=now,
        )
    )
    found = await _read(conn, charge_id)
    assert found is not None
    return found


def _charge(charge_id: object) -> str:
    return validation.text(charge_id, field="charge_id", max_length=128)


class StarRefunds:
    """Refunds of Stars payments: recorded when due, marked once Telegram made them."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def record_unrefunded(self, now: datetime) -> int:
        """Record the refund of every paid redemption that was cancelled or rejected without
        one: those ended before refunds existed (a store upgraded to migration 0011), whose
        Stars were never given back. Safe to repeat; the bot runs it on start and ``pointsmall
        migrate`` after upgrading, and the refunds job makes the refunds. A charge someone
        refunded by hand meanwhile is answered "already refunded" by Telegram: marked made."""
        validation.instant(now)
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    select(
                        Redemption.id,
                        Redemption.member_id,
                        Redemption.status,
                        Redemption.payment_charge_id,
                        Redemption.paid_stars,
                        Redemption.cash_minor,
                    )
                    .outerjoin(StarRefund, StarRefund.charge_id == Redemption.payment_charge_id)
                    .where(
                        Redemption.status.in_(("cancelled", "rejected")),
                        Redemption.payment_charge_id.is_not(None),
                        StarRefund.charge_id.is_(None),
                    )
                )
            ).all()
            for row in rows:
                await record_due(
                    conn,
                    charge_id=str(row.payment_charge_id),
                    member_id=int(row.member_id),
                    redemption_id=int(row.id),
                    stars=int(row.paid_stars or stars_for(self.config, int(row.cash_minor))),
                    reason=row.status,
                    now=now,
                )
        return len(rows)

    async def payment_unmatched(
        self, member_id: int, redemption_id: int, charge_id: str, stars: int, now: datetime
    ) -> RefundView | None:
        """A payment of ``member_id`` for ``redemption_id`` that did not complete it (it had
        ended, or another payment had completed it): record its refund, once per charge.

        None when the redemption was completed by this very payment (a repeated delivery of
        it). A redemption still waiting is ended here, as its timeout would: the caller asks
        only after ``confirm_payment`` refused.
        """
        validation.member_id(member_id)
        charge = _charge(charge_id)
        validation.instant(now)
        if isinstance(stars, bool) or not isinstance(stars, int) or stars <= 0:
            raise InvalidInput("stars must be a positive whole number", field="stars")
        async with self.db.write() as conn:
            found = await _read(conn, charge)
            if found is not None:
                return found
            await lock_member(conn, member_id)
            row = (
                await conn.execute(
                    select(
                        Redemption.member_id, Redemption.status, Redemption.payment_charge_id
                    ).where(Redemption.id == redemption_id)
                )
            ).first()
            if row is not None and row.payment_charge_id == charge:
                return None
            theirs = row is not None and int(row.member_id) == member_id
            if (
                theirs
                and row is not None
                and row.status in ("awaiting_approval", "awaiting_payment")
            ):
                # the two modules use each other
                from core.rewards.redemptions import cancel_waiting

                await cancel_waiting(conn, self.config, redemption_id, now)
            return await record_due(
                conn,
                charge_id=charge,
                member_id=member_id,
                redemption_id=redemption_id if theirs else None,
                stars=stars,
                reason=LATE,
                now=now,
            )

    async def get(self, charge_id: str) -> RefundView:
        charge = _charge(charge_id)
        async with self.db.read() as conn:
            return await _require(conn, charge)

    async def for_redemption(self, redemption_id: int) -> tuple[RefundView, ...]:
        """The refunds of a redemption's payments, oldest first."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(StarRefund)
                    .where(StarRefund.redemption_id == redemption_id)
                    .order_by(StarRefund.created_at, StarRefund.charge_id)
                )
            ).all()
        return tuple(_view(row) for row in rows)

    async def due(self, now: datetime, limit: int = 100) -> tuple[RefundView, ...]:
        """Refunds still to make whose next try is due at ``now``, oldest first."""
        validation.instant(now)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(StarRefund)
                    .where(StarRefund.status == DUE, StarRefund.next_attempt_at <= now)
                    .order_by(StarRefund.next_attempt_at, StarRefund.charge_id)
                    .limit(limit)
                )
            ).all()
        return tuple(_view(row) for row in rows)

    async def mark_refunded(
        self, charge_id: str, now: datetime, tell: RefundWording | None = None
    ) -> Marked:
        """Telegram made the refund: ``refunded``, and (with ``tell``) the member's notice in
        the outbox, in their language, in the same transaction. Once: again, ``replayed``."""
        charge = _charge(charge_id)
        validation.instant(now)
        async with self.db.write() as conn:
            found = await _require(conn, charge)
            if found.refunded:
                return Marked(found, replayed=True)
            changed = await conn.execute(
                update(StarRefund)
                .where(StarRefund.charge_id == charge, StarRefund.status == DUE)
                .values(status=REFUNDED, refunded_at=now, last_error=None)
            )
            if not changed.rowcount:
                # Another writer marked it between our read and this update (PostgreSQL has no
                # single writer: the turn that refunded and the refunds job can both get here).
                made = await _read(conn, charge)
                assert made is not None
                assert made.refunded
                return Marked(made, replayed=True)
            refund = await _read(conn, charge)
            assert refund is not None
            if tell is not None:
                language = (
                    await conn.execute(select(Member.language).where(Member.id == refund.member_id))
                ).scalar_one()
                payload = tell(language, refund)
                envelope = Envelope(f"star-refunded:{charge}", refund.member_id, payload)
                await enqueue(conn, [envelope], now=now)
            return Marked(refund)

    async def mark_failed(self, charge_id: str, error: str, now: datetime) -> RefundView:
        """Telegram refused the refund for now: count it, keep why, try again later (1, 2, 4
        ... minutes, up to 6 hours apart). A refund made meanwhile stays made."""
        charge = _charge(charge_id)
        validation.instant(now)
        async with self.db.write() as conn:
            found = await _require(conn, charge)
            if found.refunded:
                return found
            wait = min(FIRST_RETRY * 2 ** min(found.attempts, 20), LAST_RETRY)
            await conn.execute(
                update(StarRefund)
                .where(StarRefund.charge_id == charge, StarRefund.status == DUE)
                .values(
                    attempts=StarRefund.attempts + 1,
                    last_error=error[:_ERROR_MAX],
                    next_attempt_at=now + wait,
                )
            )
            refund = await _read(conn, charge)
            assert refund is not None
            return refund
