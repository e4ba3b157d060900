"""Donating points to the mall's cause (``[donations]``), and what has been given so far."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Transfer
from core.errors import DonationsClosed, Frozen
from core.points.accounts import SystemAccount
from core.points.idempotency import run_once
from core.points.ledger import debit_member, lock_member, require_member


@dataclass(frozen=True)
class DonationResult:
    """A donation made: the member's balance and their own total given after it."""

    member_id: int
    amount: int
    balance: int
    member_total: int
    cause: str


@dataclass(frozen=True)
class DonationTotals:
    """The cause, what all members gave to it (and how many of them), and the member's part."""

    cause: str
    description: str
    enabled: bool
    cause_total: int
    donors: int
    member_id: int
    member_total: int


class Donations:
    """Members give points to the configured cause; the points go to the donations book."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def donate(self, member_id: int, amount: int, key: str, now: datetime) -> DonationResult:
        """Give ``amount`` points to the cause, once per ``key`` (the Donate button's token).

        Refused: ``donations_closed`` when the mall has donations off, ``frozen``, and
        ``insufficient_points``; a refused key is refused again on retry.
        """
        validation.member_id(member_id)
        validation.amount(amount)
        validation.key(key)
        validation.instant(now)
        settings = self.config.donations
        if not settings.enabled:
            raise DonationsClosed("donations are closed")
        transfer_key = f"donation:{key}"
        validation.key(transfer_key)

        async def work(conn: AsyncConnection) -> DonationResult:
            member = await lock_member(conn, member_id)
            if member.frozen:
                raise Frozen(f"member {member_id} is frozen", member_id=member_id)
            _, balance = await debit_member(
                conn,
                member_id=member_id,
                destination=SystemAccount.DONATIONS,
                amount=amount,
                code="donation",
                reference=key,
                key=transfer_key,
                now=now,
            )
            given = await _given_by(conn, member_id)
            return DonationResult(member_id, amount, balance, given, settings.cause)

        outcome = await run_once(
            self.db,
            key=transfer_key,
            kind="donation",
            request={"member_id": member_id, "amount": amount},
            result_type=DonationResult,
            work=work,
            now=now,
        )
        return outcome.result

    async def totals(self, member_id: int) -> DonationTotals:
        """The cause's running total from every member, and the member's own (for the screen)."""
        validation.member_id(member_id)
        settings = self.config.donations
        book = int(SystemAccount.DONATIONS)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            given_in, donors = (
                await conn.execute(
                    select(
                        func.coalesce(func.sum(Transfer.amount), 0),
                        func.count(distinct(Transfer.debit_account_id)),
                    ).where(Transfer.credit_account_id == book)
                )
            ).one()
            # The book's balance is derived, like every system account's: in minus out.
            given_back = (
                await conn.execute(
                    select(func.coalesce(func.sum(Transfer.amount), 0)).where(
                        Transfer.debit_account_id == book
                    )
                )
            ).scalar_one()
            mine = await _given_by(conn, member_id)
        return DonationTotals(
            cause=settings.cause,
            description=settings.description,
            enabled=settings.enabled,
            cause_total=int(given_in) - int(given_back),
            donors=int(donors),
            member_id=member_id,
            member_total=mine,
        )


async def _given_by(conn: AsyncConnection, member_id: int) -> int:
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(Transfer.amount), 0)).where(
                Transfer.debit_account_id == member_id,
                Transfer.credit_account_id == int(SystemAccount.DONATIONS),
            )
        )
    ).scalar_one()
    return int(total)
