"""Moving points: double-entry transfers, lots consumed earliest expiry first, and holds.

These functions run inside a caller's write transaction (one use case, one transaction) and
take row locks in one fixed order: the member's account, then their lots, then anything else.
Balances change only through conditional updates that the database checks, never by writing
back a value computed in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, cast

from sqlalchemy import ColumnElement, Table, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.models import Account, Hold, Lot, Member, Transfer
from core.db.prepared import Prepared
from core.errors import Frozen, HoldNotPending, InsufficientPoints, UnknownHold, UnknownMember
from core.points.accounts import SystemAccount


@dataclass(frozen=True)
class MemberLock:
    """A member's account row, locked for the rest of the transaction."""

    member_id: int
    balance: int
    frozen: bool
    tier: str


# The statements every use case runs, built once and run at the driver (core.db.prepared):
# building one per call costs several times more than executing it (docs/performance.md).
# Parameters never share a column's name.
_ACCOUNTS = cast(Table, Account.__table__)
_MEMBERS = cast(Table, Member.__table__)
_TRANSFERS = cast(Table, Transfer.__table__)
_LOTS = cast(Table, Lot.__table__)
_HOLDS = cast(Table, Hold.__table__)
_LOCK_MEMBER = Prepared(
    select(_ACCOUNTS.c.balance, _ACCOUNTS.c.frozen, _MEMBERS.c.tier)
    .join(_MEMBERS, _MEMBERS.c.id == _ACCOUNTS.c.id)
    .where(_ACCOUNTS.c.id == bindparam("member_id"))
    .with_for_update(of=_ACCOUNTS)
)
_INSERT_TRANSFER = Prepared(insert(_TRANSFERS).returning(_TRANSFERS.c.id))
_INSERT_LOT = Prepared(insert(_LOTS))
_ADD_TO_BALANCE = Prepared(
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("member_id"))
    .values(balance=_ACCOUNTS.c.balance + bindparam("delta"))
    .returning(_ACCOUNTS.c.balance)
)
_TAKE = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("member_id"), _ACCOUNTS.c.balance >= bindparam("delta"))
    .values(balance=_ACCOUNTS.c.balance - bindparam("delta"))
    .returning(_ACCOUNTS.c.balance)
)
_TAKE_FROM_BALANCE = Prepared(_TAKE)
_SPEND_FROM_BALANCE = Prepared(_TAKE.where(_ACCOUNTS.c.frozen.is_(False)))
_ACCOUNT_STATE = Prepared(
    select(_ACCOUNTS.c.balance, _ACCOUNTS.c.frozen).where(_ACCOUNTS.c.id == bindparam("member_id"))
)
_MEMBER_EXISTS = Prepared(select(_MEMBERS.c.id).where(_MEMBERS.c.id == bindparam("member_id")))


async def lock_member(conn: AsyncConnection, member_id: int) -> MemberLock:
    """Lock the member's account (the first lock any use case takes) and read it."""
    row = await _LOCK_MEMBER.first(conn, {"member_id": member_id})
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    balance, frozen, tier = row
    return MemberLock(member_id, balance, frozen, tier)


class LockedRead:
    """The member's lock, and what the use case reads about them next, in as few round trips
    as the database allows.

    ``columns`` are scalar subqueries and ``EXISTS`` tests on ``:member_id`` (and parameters
    of their own). On SQLite they ride on the lock read itself: the writer holds the database
    for the whole transaction, so every read sees the latest rows. On PostgreSQL they are one
    read right after the lock: folded into a ``SELECT ... FOR UPDATE`` that had to wait for
    the lock, they would read the rows as they were before the wait (READ COMMITTED takes the
    statement's snapshot when it starts), and miss what the previous holder just wrote.
    """

    def __init__(self, *columns: ColumnElement[Any]) -> None:
        self._together = Prepared(
            select(_ACCOUNTS.c.balance, _ACCOUNTS.c.frozen, _MEMBERS.c.tier, *columns)
            .join(_MEMBERS, _MEMBERS.c.id == _ACCOUNTS.c.id)
            .where(_ACCOUNTS.c.id == bindparam("member_id"))
            .with_for_update(of=_ACCOUNTS)
        )
        self._after = Prepared(select(*columns))

    async def lock(
        self, conn: AsyncConnection, member_id: int, **params: Any
    ) -> tuple[MemberLock, Sequence[Any]]:
        """Lock the member; their account and the values of ``columns``, in order."""
        values = {"member_id": member_id, **params}
        if conn.dialect.name != "sqlite":
            member = await lock_member(conn, member_id)
            row = await self._after.first(conn, values)
            assert row is not None  # a SELECT without FROM has one row
            return member, row
        row = await self._together.first(conn, values)
        if row is None:
            raise UnknownMember(f"no member {member_id}", member_id=member_id)
        return MemberLock(member_id, row[0], row[1], row[2]), row[3:]


async def current_balance(conn: AsyncConnection, member_id: int) -> int:
    """The member's balance as this transaction sees it."""
    row = await _ACCOUNT_STATE.first(conn, {"member_id": member_id})
    assert row is not None, f"no account {member_id}"
    return int(row[0])


async def require_member(conn: AsyncConnection, member_id: int) -> None:
    """Refuse a member id nobody joined with (for reads, which lock nothing)."""
    if await _MEMBER_EXISTS.first(conn, {"member_id": member_id}) is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)


async def _insert_transfer(
    conn: AsyncConnection,
    *,
    key: str,
    debit: int,
    credit: int,
    amount: int,
    code: str,
    reference: str,
    now: datetime,
) -> int:
    transfer_id = await _INSERT_TRANSFER.scalar(
        conn,
        {
            "key": key,
            "debit_account_id": int(debit),
            "credit_account_id": int(credit),
            "amount": amount,
            "code": code,
            "reference": reference,
            "created_at": now,
        },
    )
    return int(transfer_id)


async def credit_member(
    conn: AsyncConnection,
    *,
    member_id: int,
    source: SystemAccount,
    amount: int,
    code: str,
    reference: str,
    key: str,
    now: datetime,
    expires_at: datetime | None,
) -> int:
    """Credit ``amount`` to the member from one of the mall's books, as a new lot.

    Returns the member's balance after. The caller has locked the member and checked that they
    may earn (frozen members do not).
    """
    transfer_id, balance = await _pay_member(
        conn,
        member_id=member_id,
        source=source,
        amount=amount,
        code=code,
        reference=reference,
        key=key,
        now=now,
    )
    await _INSERT_LOT.run(
        conn,
        {
            "account_id": member_id,
            "transfer_id": transfer_id,
            "amount": amount,
            "remaining": amount,
            "expires_at": expires_at,
        },
    )
    return balance


async def _pay_member(
    conn: AsyncConnection,
    *,
    member_id: int,
    source: SystemAccount,
    amount: int,
    code: str,
    reference: str,
    key: str,
    now: datetime,
) -> tuple[int, int]:
    """The transfer from one of the mall's books to the member, and the balance it raises:
    (transfer id, balance after). What a credit and a restored debit share; each then says
    which lots the points go to."""
    transfer_id = await _insert_transfer(
        conn,
        key=key,
        debit=source,
        credit=member_id,
        amount=amount,
        code=code,
        reference=reference,
        now=now,
    )
    balance = await _ADD_TO_BALANCE.scalar(conn, {"member_id": member_id, "delta": amount})
    return transfer_id, int(balance)


# Take ``amount`` from the member's open lots, earliest expiry first (lots that never expire
# last), recording each lot's share so a reversal can put it back where it came from.
_DRAW_LOTS = Prepared(
    text(
        """
    INSERT INTO lot_draws (transfer_id, lot_id, amount)
    SELECT :transfer_id, id,
           CASE WHEN running <= :amount THEN remaining ELSE remaining - (running - :amount) END
    FROM (
        SELECT id, remaining,
               SUM(remaining) OVER (
                   ORDER BY expires_at IS NULL, expires_at, id ROWS UNBOUNDED PRECEDING
               ) AS running
        FROM lots
        WHERE account_id = :member_id AND remaining > 0
    ) AS ordered
    WHERE running - remaining < :amount
    """
    )
)
_APPLY_DRAWS = Prepared(
    text(
        """
    UPDATE lots SET remaining = lots.remaining - lot_draws.amount
    FROM lot_draws
    WHERE lot_draws.transfer_id = :transfer_id AND lot_draws.lot_id = lots.id
    """
    )
)
_RESTORE_DRAWS = Prepared(
    text(
        """
    UPDATE lots SET remaining = lots.remaining + lot_draws.amount
    FROM lot_draws
    WHERE lot_draws.transfer_id = :transfer_id AND lot_draws.lot_id = lots.id
    """
    )
)


async def debit_member(
    conn: AsyncConnection,
    *,
    member_id: int,
    destination: SystemAccount,
    amount: int,
    code: str,
    reference: str,
    key: str,
    now: datetime,
    require_active: bool = True,
) -> tuple[int, int]:
    """Take ``amount`` from the member's balance and lots; returns (transfer id, balance after).

    The balance is decremented by a conditional update, so two spends can never both take the
    last points. ``require_active`` refuses a frozen member (spending); reversals pass False.
    """
    statement = _SPEND_FROM_BALANCE if require_active else _TAKE_FROM_BALANCE
    balance = await statement.scalar(conn, {"member_id": member_id, "delta": amount})
    if balance is None:
        await _explain_refused_debit(conn, member_id, amount, require_active)
    transfer_id = await _insert_transfer(
        conn,
        key=key,
        debit=member_id,
        credit=destination,
        amount=amount,
        code=code,
        reference=reference,
        now=now,
    )
    params = {"transfer_id": transfer_id, "amount": amount, "member_id": member_id}
    await _DRAW_LOTS.run(conn, params)
    await _APPLY_DRAWS.run(conn, {"transfer_id": transfer_id})
    return transfer_id, int(balance)


async def _explain_refused_debit(
    conn: AsyncConnection, member_id: int, amount: int, require_active: bool
) -> NoReturn:
    row = await _ACCOUNT_STATE.first(conn, {"member_id": member_id})
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    balance, frozen = row
    if require_active and frozen:
        raise Frozen(f"member {member_id} is frozen", member_id=member_id)
    raise InsufficientPoints(
        f"member {member_id} has {balance} points, needs {amount}",
        balance=int(balance),
        needed=amount,
    )


async def restore_debit(
    conn: AsyncConnection,
    *,
    member_id: int,
    original_transfer_id: int,
    source: SystemAccount,
    amount: int,
    code: str,
    reference: str,
    key: str,
    now: datetime,
) -> tuple[int, int]:
    """Give back a whole earlier debit into the lots it came from, with their original expiry.

    A restored lot whose expiry has passed is expired by the next expiry run, as it would have
    been. Returns (transfer id, balance after).
    """
    transfer_id, balance = await _pay_member(
        conn,
        member_id=member_id,
        source=source,
        amount=amount,
        code=code,
        reference=reference,
        key=key,
        now=now,
    )
    await _RESTORE_DRAWS.run(conn, {"transfer_id": original_transfer_id})
    return transfer_id, balance


_INSERT_HOLD = Prepared(insert(_HOLDS).returning(_HOLDS.c.id))
# The hold's owner locked (their account, the first lock) and the hold read, in one statement.
# The hold's status read here may be stale on PostgreSQL if the lock had to wait (see
# LockedRead); _SETTLE_HOLD's condition is what decides.
_LOCK_HOLD_OWNER = Prepared(
    select(
        _ACCOUNTS.c.id,
        _ACCOUNTS.c.balance,
        _HOLDS.c.status,
        _HOLDS.c.destination_id,
        _HOLDS.c.amount,
        _HOLDS.c.hold_transfer_id,
        _HOLDS.c.code,
        _HOLDS.c.reference,
    )
    .join(_HOLDS, _HOLDS.c.account_id == _ACCOUNTS.c.id)
    .where(_HOLDS.c.id == bindparam("hold_id"))
    .with_for_update(of=_ACCOUNTS)
)
_SETTLE_HOLD = Prepared(
    update(_HOLDS)
    .where(_HOLDS.c.id == bindparam("hold_id"), _HOLDS.c.status == "pending")
    .values(status=bindparam("settled"), settle_transfer_id=bindparam("settle_id"))
)


@dataclass(frozen=True)
class HoldRow:
    hold_id: int
    member_id: int
    destination: SystemAccount
    amount: int
    hold_transfer_id: int
    code: str
    reference: str


async def place_hold(
    conn: AsyncConnection,
    *,
    member_id: int,
    destination: SystemAccount,
    amount: int,
    code: str,
    reference: str,
    key: str,
    now: datetime,
    expires_at: datetime,
) -> tuple[int, int]:
    """Reserve points: move them to escrow until the hold is posted or voided.

    Returns (hold id, balance after). Held points leave the member's balance and lots at once,
    so they cannot be spent twice or expire while they wait.
    """
    transfer_id, balance = await debit_member(
        conn,
        member_id=member_id,
        destination=SystemAccount.ESCROW,
        amount=amount,
        code="hold",
        reference=reference,
        key=f"{key}#hold",
        now=now,
    )
    hold_id = await _INSERT_HOLD.scalar(
        conn,
        {
            "account_id": member_id,
            "destination_id": int(destination),
            "amount": amount,
            "status": "pending",
            "code": code,
            "reference": reference,
            "created_at": now,
            "expires_at": expires_at,
            "hold_transfer_id": transfer_id,
        },
    )
    return int(hold_id), balance


async def settle_hold(
    conn: AsyncConnection, *, hold_id: int, post: bool, key: str, now: datetime
) -> tuple[HoldRow, int]:
    """Post a pending hold to its destination, or void it back into the member's lots.

    Returns the hold and the member's balance after. Refuses a hold that is not pending, so a
    hold is settled exactly once however often it is asked. The refusal may come after this
    wrote the settling transfer (another request settled the hold while this one waited for
    the member's lock): it must end the use case, whose rollback takes the transfer back, as
    every caller lets it.
    """
    row = await _LOCK_HOLD_OWNER.first(conn, {"hold_id": hold_id})
    if row is None:
        raise UnknownHold(f"no hold {hold_id}", hold_id=hold_id)
    member_id, balance, status, destination, amount, hold_transfer_id, code, reference = row
    if status != "pending":
        raise HoldNotPending(f"hold {hold_id} is already settled", hold_id=hold_id)
    hold = HoldRow(
        hold_id,
        member_id,
        SystemAccount(destination),
        int(amount),
        int(hold_transfer_id),
        code,
        reference,
    )
    if post:
        settle_id = await _insert_transfer(
            conn,
            key=f"{key}#post",
            debit=SystemAccount.ESCROW,
            credit=hold.destination,
            amount=hold.amount,
            code=hold.code,
            reference=hold.reference,
            now=now,
        )
    else:
        settle_id, balance = await restore_debit(
            conn,
            member_id=member_id,
            original_transfer_id=hold.hold_transfer_id,
            source=SystemAccount.ESCROW,
            amount=hold.amount,
            code="hold_void",
            reference=hold.reference,
            key=f"{key}#void",
            now=now,
        )
    settled = "posted" if post else "voided"
    if not await _SETTLE_HOLD.run(
        conn, {"hold_id": hold_id, "settled": settled, "settle_id": settle_id}
    ):
        # Settled by another request while this one waited for the lock (PostgreSQL): the
        # caller's transaction or savepoint rolls back the transfer made above.
        raise HoldNotPending(f"hold {hold_id} is already settled", hold_id=hold_id)
    return hold, int(balance)


async def pending_hold_total(conn: AsyncConnection, member_id: int) -> int:
    """Points of the member's that wait in escrow."""
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(Hold.amount), 0)).where(
                Hold.account_id == member_id, Hold.status == "pending"
            )
        )
    ).scalar_one()
    return int(total)


async def expired_hold_ids(conn: AsyncConnection, now: datetime, limit: int) -> list[int]:
    """Pending holds whose wait has timed out, oldest first."""
    rows = await conn.execute(
        select(Hold.id)
        .where(Hold.status == "pending", Hold.expires_at <= now)
        .order_by(Hold.expires_at, Hold.id)
        .limit(limit)
    )
    return [int(r) for r in rows.scalars()]
