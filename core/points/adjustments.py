"""Admins correcting a member's points by hand.

A grant moves points from the mall's adjustments book (``SystemAccount.ADJUSTMENTS``) to the
member as a new lot, expiring as points earned today would at the member's tier; a deduction
moves them back, consuming lots earliest expiry first like any debit, and is refused
(:class:`~core.errors.InsufficientPoints`) rather than driving the balance below zero. Points
held for a waiting redemption are not part of the balance and cannot be deducted.

Neither counts as earning: no daily cap, no tier window. Both work on a frozen member: freezing
stops the member earning and spending, not the mall's books being corrected (clawing back
points from a frozen account is what an admin most often needs to do).

Each runs once per ``key`` (the bot puts a fresh nonce in every Confirm button, so a double tap
grants once), and writes its audit entry (``points.grant`` / ``points.deduct``) in the same
transaction, so there is never a grant without its entry or an entry without its grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Member, Transfer
from core.errors import UnknownMember
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.earning import current_standing
from core.points.idempotency import marked, run_once
from core.points.ledger import MemberLock, credit_member, debit_member, lock_member
from core.reporting.audit import write_entry

AdjustmentKind = Literal["grant", "deduct"]
MAX_REASON = 200  # it is kept as the transfer's reference too (200 characters)
GRANT_CODE = "admin_grant"
DEDUCT_CODE = "admin_deduct"


@dataclass(frozen=True)
class Adjustment:
    """A grant or deduction as done: ``amount`` is positive either way.

    ``replayed`` marks a repeated request (a double tap) that moved nothing this time.
    """

    kind: AdjustmentKind
    member_id: int
    actor_id: int
    amount: int
    reason: str
    balance_before: int
    balance: int
    transfer_id: int
    expires_at: datetime | None
    replayed: bool = False


class Adjustments:
    """Grants and deductions by admins."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def grant(
        self, actor_id: int, member_id: int, amount: int, reason: str, key: str, now: datetime
    ) -> Adjustment:
        """Give the member ``amount`` points from the adjustments book, once per ``key``."""
        return await self._adjust("grant", actor_id, member_id, amount, reason, key, now)

    async def deduct(
        self, actor_id: int, member_id: int, amount: int, reason: str, key: str, now: datetime
    ) -> Adjustment:
        """Take ``amount`` points back into the adjustments book, never more than the balance."""
        return await self._adjust("deduct", actor_id, member_id, amount, reason, key, now)

    async def _adjust(
        self,
        kind: AdjustmentKind,
        actor_id: int,
        member_id: int,
        amount: int,
        reason: str,
        key: str,
        now: datetime,
    ) -> Adjustment:
        validation.member_id(actor_id)
        validation.member_id(member_id)
        validation.amount(amount)
        why = validation.text(reason, field="reason", max_length=MAX_REASON)
        validation.key(key)
        validation.instant(now)
        op_key = f"adjustment:{key}"

        async def work(conn: AsyncConnection) -> Adjustment:
            member = await lock_member(conn, member_id)
            await _refuse_erased(conn, member_id)
            if kind == "grant":
                balance, expires_at = await self._credit(conn, member, amount, why, op_key, now)
                transfer_id = await _last_transfer_id(conn, op_key)
            else:
                expires_at = None
                transfer_id, balance = await debit_member(
                    conn,
                    member_id=member_id,
                    destination=SystemAccount.ADJUSTMENTS,
                    amount=amount,
                    code=DEDUCT_CODE,
                    reference=why,
                    key=op_key,
                    now=now,
                    require_active=False,
                )
            await write_entry(
                conn,
                actor_id=actor_id,
                action=f"points.{kind}",
                target=f"member:{member_id}",
                now=now,
                before={"balance": member.balance},
                after={"balance": balance, "reason": why},
            )
            return Adjustment(
                kind=kind,
                member_id=member_id,
                actor_id=actor_id,
                amount=amount,
                reason=why,
                balance_before=member.balance,
                balance=balance,
                transfer_id=transfer_id,
                expires_at=expires_at,
            )

        outcome = await run_once(
            self.db,
            key=op_key,
            kind=f"adjustment_{kind}",
            request={
                "actor_id": actor_id,
                "member_id": member_id,
                "amount": amount,
                "reason": why,
            },
            result_type=Adjustment,
            work=work,
            now=now,
        )
        return marked(outcome)

    async def _credit(
        self,
        conn: AsyncConnection,
        member: MemberLock,
        amount: int,
        reason: str,
        key: str,
        now: datetime,
    ) -> tuple[int, datetime]:
        """Credit a lot that expires as points earned today at the member's tier would."""
        tz = self.config.mall.timezone
        day = rules.business_day(now, tz)
        standing = await current_standing(conn, self.config, member.member_id, day)
        expires_at = rules.lot_expiry(day, standing.tier, self.config.expiry, tz)
        balance = await credit_member(
            conn,
            member_id=member.member_id,
            source=SystemAccount.ADJUSTMENTS,
            amount=amount,
            code=GRANT_CODE,
            reference=reason,
            key=key,
            now=now,
            expires_at=expires_at,
        )
        return balance, expires_at


async def _refuse_erased(conn: AsyncConnection, member_id: int) -> None:
    """An erased account keeps its row for the books, but nobody can give it points."""
    deleted_at = (
        await conn.execute(select(Member.deleted_at).where(Member.id == member_id))
    ).scalar_one()
    if deleted_at is not None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)


async def _last_transfer_id(conn: AsyncConnection, key: str) -> int:
    """The id of the transfer this use case just wrote under ``key``."""
    found = (await conn.execute(select(Transfer.id).where(Transfer.key == key))).scalar_one()
    return int(found)
