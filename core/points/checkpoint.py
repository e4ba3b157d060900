"""The ledger's checkpoint: every account's credits minus debits up to one transfer id.

Transfers are append-only, so what a clean ``pointsmall check`` verified up to a transfer id
never needs reading again: the next check takes each account's total from the checkpoint and
adds only the transfers after it (``core.points.invariants``). A checkpoint is written only after a
check found nothing wrong, and it is verified as it is written: its totals plus the transfers
after it must give every touched member's stored balance, and all totals must sum to zero.

The id a checkpoint stops at is a *horizon*: every transfer up to it was committed when it was
taken. SQLite has one writer, so the largest committed id is one. PostgreSQL hands out ids
before transactions commit (id 100 may commit after 101), so the horizon is read under a
``SHARE`` lock on ``transfers``, which waits for the writers in flight and holds new ones off
for the few milliseconds of one ``MAX(id)``; a transfer that commits later has a larger id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.database import Database
from core.db.models import LedgerCheckpoint

# Each account's movements in a range of transfer ids: credits in, debits out.
_MOVES = """
    SELECT account_id, SUM(delta) AS delta FROM (
        SELECT credit_account_id AS account_id, amount AS delta FROM transfers
        WHERE id > :since AND id <= :upto
        UNION ALL
        SELECT debit_account_id, -amount FROM transfers WHERE id > :since AND id <= :upto
    ) AS moves GROUP BY account_id
"""
_TOUCHED = """
    SELECT credit_account_id AS id FROM transfers
    WHERE id > :since AND id <= :upto AND +credit_account_id > 0
    UNION
    SELECT debit_account_id FROM transfers
    WHERE id > :since AND id <= :upto AND +debit_account_id > 0
"""
# A checkpoint built anew (into an empty table), and one moved on. SQLite reads
# ``INSERT ... SELECT ... ON CONFLICT`` only with a WHERE in the SELECT.
_BUILD = f"""
    INSERT INTO checkpoint_balances (account_id, net)
    SELECT account_id, delta FROM ({_MOVES}) AS m
"""
_ADD_MOVES = f"""
    INSERT INTO checkpoint_balances (account_id, net)
    SELECT account_id, delta FROM ({_MOVES}) AS m WHERE true
    ON CONFLICT (account_id) DO UPDATE SET net = checkpoint_balances.net + excluded.net
"""
# Written, then verified: a member the new range touched has their stored balance, less what
# later transfers moved (they are not in the checkpoint), as total.
_MISMATCHED = f"""
    SELECT a.id, a.balance, c.net + COALESCE(later.delta, 0) AS derived
    FROM accounts a
    JOIN checkpoint_balances c ON c.account_id = a.id
    LEFT JOIN (
        SELECT account_id, SUM(delta) AS delta FROM (
            SELECT credit_account_id AS account_id, amount AS delta FROM transfers
            WHERE id > :upto
            UNION ALL
            SELECT debit_account_id, -amount FROM transfers WHERE id > :upto
        ) AS moves GROUP BY account_id
    ) later ON later.account_id = a.id
    WHERE a.id IN ({_TOUCHED}) AND a.kind = 'member'
      AND a.balance <> c.net + COALESCE(later.delta, 0)
"""
_UNBALANCED = """
    SELECT total FROM (SELECT COALESCE(SUM(net), 0) AS total FROM checkpoint_balances) AS s
    WHERE total <> 0
"""


@dataclass(frozen=True)
class Checkpoint:
    """Where the last clean check got to."""

    transfer_id: int
    transfers: int
    written_at: datetime
    mode: str


class CheckpointRefused(Exception):
    """The checkpoint did not agree with the stored balances as it was written: not kept."""

    def __init__(self, samples: tuple[tuple[object, ...], ...]) -> None:
        super().__init__(f"checkpoint disagrees with the stored balances: {samples}")
        self.samples = samples


async def horizon(db: Database) -> int:
    """The largest transfer id below which no transfer can still commit."""
    if db.is_sqlite:
        async with db.read() as conn:
            return int(
                (
                    await conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM transfers"))
                ).scalar_one()
            )
    async with db.write() as conn:
        await conn.execute(text("LOCK TABLE transfers IN SHARE MODE"))
        return int(
            (await conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM transfers"))).scalar_one()
        )


@asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[AsyncConnection]:
    """One consistent read: every query of the check sees the same committed state."""
    if db.is_sqlite:
        async with db.read() as conn:
            yield conn
        return
    async with db.engine.connect() as conn:
        repeatable = await conn.execution_options(isolation_level="REPEATABLE READ")
        async with repeatable.begin():
            yield repeatable


async def read(conn: AsyncConnection) -> Checkpoint | None:
    row = (
        await conn.execute(
            select(
                LedgerCheckpoint.transfer_id,
                LedgerCheckpoint.transfers,
                LedgerCheckpoint.written_at,
                LedgerCheckpoint.mode,
            ).where(LedgerCheckpoint.id == 1)
        )
    ).first()
    if row is None:
        return None
    return Checkpoint(int(row.transfer_id), int(row.transfers), row.written_at, row.mode)


async def write(
    db: Database, *, since: Checkpoint | None, upto: int, now: datetime, full_scan: bool = False
) -> bool:
    """Move the checkpoint from ``since`` (None: build it anew from the first transfer) to
    transfer ``upto``, verified; False if another check moved it meanwhile.

    Raises :class:`CheckpointRefused` (and keeps the old checkpoint) if the written totals
    disagree with the stored balances.
    """
    start = 0 if since is None else since.transfer_id
    params = {"since": start, "upto": upto}
    async with db.write() as conn:
        counted = int(
            (
                await conn.execute(
                    text("SELECT COUNT(*) FROM transfers WHERE id > :since AND id <= :upto"),
                    params,
                )
            ).scalar_one()
        )
        if since is None:
            values = {"transfer_id": upto, "transfers": counted, "written_at": now, "mode": "built"}
            await _upsert_row(conn, values)
            await conn.execute(text("DELETE FROM checkpoint_balances"))
        else:
            moved = await conn.execute(
                update(LedgerCheckpoint)
                .where(LedgerCheckpoint.id == 1, LedgerCheckpoint.transfer_id == start)
                .values(
                    transfer_id=upto,
                    transfers=since.transfers + counted,
                    written_at=now,
                    mode="full" if full_scan else "incremental",
                )
            )
            if not moved.rowcount:
                return False
        await conn.execute(text(_BUILD if since is None else _ADD_MOVES), params)
        wrong = (await conn.execute(text(_MISMATCHED), params)).fetchmany(5)
        unbalanced = (await conn.execute(text(_UNBALANCED))).fetchmany(1)
        if wrong or unbalanced:
            # Leaving the block by an exception rolls the whole write back.
            raise CheckpointRefused(tuple(tuple(r) for r in [*wrong, *unbalanced]))
    return True


async def _upsert_row(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """The one checkpoint row, written whoever wrote it first (and locked until commit)."""
    insert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    statement = insert(LedgerCheckpoint).values(id=1, **values)
    await conn.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))
