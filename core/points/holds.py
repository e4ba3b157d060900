"""Holds: points reserved while a redemption waits for a payment or an admin's approval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.errors import HoldNotPending, InvalidInput, UnknownHold
from core.points.accounts import SystemAccount
from core.points.idempotency import Outcome, run_once
from core.points.ledger import expired_hold_ids, place_hold, settle_hold

_CODE_CHARS = set("abcdefghijklmnopqrstuvwxyz_")


@dataclass(frozen=True)
class HoldResult:
    hold_id: int
    member_id: int
    amount: int
    status: str
    balance: int
    expires_at: datetime | None = None


class Holds:
    """Reserve, post and void points; release the holds nobody answered in time."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def hold(
        self,
        member_id: int,
        amount: int,
        *,
        key: str,
        code: str,
        reference: str,
        now: datetime,
        destination: SystemAccount = SystemAccount.REDEMPTIONS,
        wait: timedelta | None = None,
    ) -> HoldResult:
        """Move ``amount`` of the member's points to escrow until posted or voided.

        ``wait`` is how long the hold may stay pending before ``release_expired`` voids it.
        """
        validation.member_id(member_id)
        validation.amount(amount)
        validation.key(key)
        validation.reference(reference, field="reference")
        validation.instant(now)
        if not code or set(code) - _CODE_CHARS or len(code) > 32:
            raise InvalidInput(f"hold code must be 1-32 of a-z and _, got {code!r}", field="code")
        expires_at = now + (wait or timedelta(minutes=self.config.holds.timeout_minutes))

        async def work(conn: AsyncConnection) -> HoldResult:
            # place_hold's conditional debit is the member's lock, the first this takes.
            hold_id, balance = await place_hold(
                conn,
                member_id=member_id,
                destination=destination,
                amount=amount,
                code=code,
                reference=reference,
                key=key,
                now=now,
                expires_at=expires_at,
            )
            return HoldResult(hold_id, member_id, amount, "pending", balance, expires_at)

        outcome = await run_once(
            self.db,
            key=key,
            kind="hold",
            request={
                "member_id": member_id,
                "amount": amount,
                "code": code,
                "reference": reference,
                "destination": int(destination),
            },
            result_type=HoldResult,
            work=work,
            now=now,
        )
        return outcome.result

    async def post(self, hold_id: int, *, key: str, now: datetime) -> HoldResult:
        """Take the held points for good (the payment arrived, the admin approved)."""
        return await self._settle(hold_id, post=True, key=key, now=now)

    async def void(self, hold_id: int, *, key: str, now: datetime) -> HoldResult:
        """Give the held points back into the lots they came from."""
        return await self._settle(hold_id, post=False, key=key, now=now)

    async def _settle(self, hold_id: int, *, post: bool, key: str, now: datetime) -> HoldResult:
        return (await self._settle_once(hold_id, post=post, key=key, now=now)).result

    async def _settle_once(
        self, hold_id: int, *, post: bool, key: str, now: datetime
    ) -> Outcome[HoldResult]:
        validation.key(key)
        validation.instant(now)
        if isinstance(hold_id, bool) or not isinstance(hold_id, int) or hold_id <= 0:
            raise UnknownHold(f"no hold {hold_id!r}", hold_id=str(hold_id))

        async def work(conn: AsyncConnection) -> HoldResult:
            hold, balance = await settle_hold(conn, hold_id=hold_id, post=post, key=key, now=now)
            status = "posted" if post else "voided"
            return HoldResult(hold.hold_id, hold.member_id, hold.amount, status, balance)

        return await run_once(
            self.db,
            key=key,
            kind="hold_post" if post else "hold_void",
            request={"hold_id": hold_id},
            result_type=HoldResult,
            work=work,
            now=now,
        )

    async def release_expired(self, now: datetime, *, limit: int = 500) -> list[HoldResult]:
        """Void every pending hold past its timeout; safe to run from several processes."""
        validation.instant(now)
        released: list[HoldResult] = []
        while True:
            async with self.db.read() as conn:
                ids = await expired_hold_ids(conn, now, limit)
            for hold_id in ids:
                try:
                    outcome = await self._settle_once(
                        hold_id, post=False, key=f"timeout:{hold_id}", now=now
                    )
                except HoldNotPending:
                    continue  # answered meanwhile
                if not outcome.replayed:  # else another process released it and reports it
                    released.append(outcome.result)
            if len(ids) < limit:
                return released
