"""An fsck for points: every rule the ledger promises, checked against what is stored.

Each check is one aggregate query, so it runs on a live database of any size without loading
rows into memory; a violation lists up to a few offending ids.

Transfers are append-only, so a clean check leaves a checkpoint (``core.points.checkpoint``): every
account's total up to a transfer id. The next check can go on from there, reading only the
transfers after it (the *tail*) and each member's stored balance; the whole scan stays
available (``pointsmall check --full``), and finds what changed before the checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.database import Database
from core.points import checkpoint
from core.points.accounts import SystemAccount

_SAMPLE = 5

ESCROW = int(SystemAccount.ESCROW)

# The transfers after the checkpoint (``:since``), summed by account: credits in, debits out.
_TAIL = """
    tail AS (
        SELECT account_id, SUM(delta) AS delta FROM (
            SELECT credit_account_id AS account_id, amount AS delta FROM transfers
            WHERE id > :since
            UNION ALL
            SELECT debit_account_id, -amount FROM transfers WHERE id > :since
        ) AS moves GROUP BY account_id
    )
"""
# The members the transfers after the checkpoint moved points of (the mall's books are < 0).
# A unary ``+`` keeps a side's index out of it: the tail is found by the primary key, not by
# a range of account ids that holds most of the ledger.
_TOUCHED = """
    touched AS (
        SELECT credit_account_id AS id FROM transfers WHERE id > :since AND +credit_account_id > 0
        UNION
        SELECT debit_account_id FROM transfers WHERE id > :since AND +debit_account_id > 0
    )
"""


@dataclass(frozen=True)
class _Check:
    """A promise, and the queries that return the rows breaking it.

    ``full`` reads everything; ``tail`` reads the checkpoint and the transfers after it
    (``:since``). A check that reads no transfers runs the same query both ways.
    """

    name: str
    promise: str
    full: str
    tail: str | None = None


# The mall's books have negative ids and members positive ones (``system_accounts_negative``
# holds it), so a transfer's side is known from its id: no lookup of the account per transfer.
_CHECKS: tuple[_Check, ...] = (
    _Check(
        "system_accounts_negative",
        "the mall's books, and only they, have negative ids",
        "SELECT id, kind FROM accounts WHERE (kind = 'system') <> (id < 0)",
    ),
    _Check(
        "books_balance",
        "all balances (members' stored, the mall's derived) sum to zero",
        """
        SELECT total FROM (
            SELECT (SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE kind = 'member')
                 + (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE credit_account_id < 0)
                 - (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE debit_account_id < 0)
                 AS total
        ) AS s WHERE total <> 0
        """,
        """
        SELECT total FROM (
            SELECT (SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE kind = 'member')
                 + (SELECT COALESCE(SUM(net), 0) FROM checkpoint_balances WHERE account_id < 0)
                 + (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE id > :since AND +credit_account_id < 0)
                 - (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE id > :since AND +debit_account_id < 0)
                 AS total
        ) AS s WHERE total <> 0
        """,
    ),
    _Check(
        "member_balance_matches_transfers",
        "each member's stored balance equals their credits minus their debits",
        """
        SELECT a.id, a.balance,
               COALESCE(c.total, 0) - COALESCE(d.total, 0) AS derived
        FROM accounts a
        LEFT JOIN (SELECT credit_account_id AS id, SUM(amount) AS total FROM transfers
                   GROUP BY credit_account_id) c ON c.id = a.id
        LEFT JOIN (SELECT debit_account_id AS id, SUM(amount) AS total FROM transfers
                   GROUP BY debit_account_id) d ON d.id = a.id
        WHERE a.kind = 'member' AND a.balance <> COALESCE(c.total, 0) - COALESCE(d.total, 0)
        """,
        f"""
        WITH {_TAIL}
        SELECT a.id, a.balance, COALESCE(c.net, 0) + COALESCE(tail.delta, 0) AS derived
        FROM accounts a
        LEFT JOIN checkpoint_balances c ON c.account_id = a.id
        LEFT JOIN tail ON tail.account_id = a.id
        WHERE a.kind = 'member' AND a.balance <> COALESCE(c.net, 0) + COALESCE(tail.delta, 0)
        """,
    ),
    _Check(
        "member_balance_matches_lots",
        "each member's balance equals what is left of their lots",
        """
        SELECT a.id, a.balance, COALESCE(l.total, 0) AS lots
        FROM accounts a
        LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM lots
                   GROUP BY account_id) l ON l.account_id = a.id
        WHERE a.kind = 'member' AND a.balance <> COALESCE(l.total, 0)
        """,
        # Lots change only with a transfer of their member's: those the tail touched, each
        # summed through the index of open lots.
        f"""
        WITH {_TOUCHED}
        SELECT id, balance, lots FROM (
            SELECT a.id, a.balance,
                   (SELECT COALESCE(SUM(remaining), 0) FROM lots
                    WHERE lots.account_id = a.id AND remaining > 0) AS lots
            FROM accounts a JOIN touched ON touched.id = a.id
            WHERE a.kind = 'member'
        ) AS s WHERE balance <> lots
        """,
    ),
    _Check(
        "no_negative_balance",
        "no member's balance is negative",
        "SELECT id, balance FROM accounts WHERE balance < 0",
    ),
    _Check(
        "lots_in_range",
        "no lot has less than nothing left, or more than it held",
        "SELECT id, amount, remaining FROM lots WHERE remaining < 0 OR remaining > amount",
        f"""
        WITH {_TOUCHED}
        SELECT id, amount, remaining FROM lots
        WHERE id IN (SELECT lot_id FROM lot_draws WHERE transfer_id > :since)
          AND (remaining < 0 OR remaining > amount)
        UNION
        SELECT id, amount, remaining FROM lots
        WHERE remaining > 0 AND account_id IN (SELECT id FROM touched) AND remaining > amount
        """,
    ),
    _Check(
        "system_accounts_unused_balance",
        "the mall's own books keep no stored balance (it is derived)",
        "SELECT id, balance FROM accounts WHERE kind = 'system' AND balance <> 0",
    ),
    _Check(
        "escrow_matches_pending_holds",
        "points in escrow equal the pending holds",
        f"""
        SELECT escrow, pending FROM (
            SELECT (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE credit_account_id = {ESCROW})
                 - (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE debit_account_id = {ESCROW}) AS escrow,
                   (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 'pending')
                   AS pending
        ) AS s WHERE escrow <> pending
        """,
        f"""
        SELECT escrow, pending FROM (
            SELECT (SELECT COALESCE(SUM(net), 0) FROM checkpoint_balances
                    WHERE account_id = {ESCROW})
                 + (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE credit_account_id = {ESCROW} AND id > :since)
                 - (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE debit_account_id = {ESCROW} AND id > :since) AS escrow,
                   (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 'pending')
                   AS pending
        ) AS s WHERE escrow <> pending
        """,
    ),
    _Check(
        "settled_holds_have_transfers",
        "a posted or voided hold has its settling transfer; a pending one has none",
        """
        SELECT id, status FROM holds
        WHERE (status = 'pending') <> (settle_transfer_id IS NULL)
        """,
    ),
    _Check(
        "draws_match_debits",
        "each debit that drew on lots drew exactly its amount",
        """
        SELECT t.id, t.amount, SUM(d.amount) AS drawn
        FROM transfers t JOIN lot_draws d ON d.transfer_id = t.id
        GROUP BY t.id, t.amount HAVING SUM(d.amount) <> t.amount
        """,
        """
        SELECT t.id, t.amount, SUM(d.amount) AS drawn
        FROM transfers t JOIN lot_draws d ON d.transfer_id = t.id
        WHERE t.id > :since AND d.transfer_id > :since
        GROUP BY t.id, t.amount HAVING SUM(d.amount) <> t.amount
        """,
    ),
    _Check(
        "no_pending_operations",
        "no use case was left half done",
        "SELECT key FROM operations WHERE status = 'pending'",
    ),
    _Check(
        "no_system_system_transfers_outside_holds",
        "transfers between two of the mall's books only settle holds",
        f"""
        SELECT id FROM transfers
        WHERE debit_account_id < 0 AND credit_account_id < 0 AND debit_account_id <> {ESCROW}
        """,
        f"""
        SELECT id FROM transfers
        WHERE id > :since
          AND +debit_account_id < 0 AND +credit_account_id < 0 AND debit_account_id <> {ESCROW}
        """,
    ),
    _Check(
        "ended_payments_refunded",
        "a paid redemption that was cancelled or rejected has its Stars refund recorded",
        """
        SELECT r.id, r.payment_charge_id FROM redemptions r
        LEFT JOIN star_refunds s ON s.charge_id = r.payment_charge_id
        WHERE r.status IN ('cancelled', 'rejected') AND r.payment_charge_id IS NOT NULL
          AND s.charge_id IS NULL
        """,
    ),
    _Check(
        "refunded_payments_keep_no_goods",
        "a payment given back completes no redemption that still stands",
        """
        SELECT s.charge_id, r.id, r.status FROM star_refunds s
        JOIN redemptions r ON r.payment_charge_id = s.charge_id
        WHERE r.status NOT IN ('cancelled', 'rejected')
        """,
    ),
)
# A full scan's balance check when there is a checkpoint (``:cp``) goes in two steps. First,
# the checkpoint against the transfers up to it: one pass over them summing each account's
# credits and debits (each side its own aggregate, which PostgreSQL runs in parallel), less the
# checkpoint's total; an account whose difference is not zero says the checkpoint is stale.
# Then, when it is sound, each member's whole total is the checkpoint's plus the transfers
# after it: the incremental balance check gives exactly the full one's rows, reading the tail
# only. A stale checkpoint sends the check back to the whole scan.
_CHECKPOINT_DISAGREES = """
    SELECT account_id FROM (
        SELECT credit_account_id AS account_id, SUM(amount) AS off FROM transfers
        WHERE id <= :cp GROUP BY credit_account_id
        UNION ALL
        SELECT debit_account_id, -SUM(amount) FROM transfers
        WHERE id <= :cp GROUP BY debit_account_id
        UNION ALL
        SELECT account_id, -net FROM checkpoint_balances
    ) AS sides GROUP BY account_id HAVING SUM(off) <> 0
"""
_BALANCE_CHECK = "member_balance_matches_transfers"

# What a checkpoint that disagreed as it was written is reported as.
CHECKPOINT_CHECK = "checkpoint_matches_balances"
_CHECKPOINT_PROMISE = "the checkpoint's totals plus later transfers give the stored balances"


@dataclass(frozen=True)
class Violation:
    check: str
    promise: str
    samples: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class LedgerReport:
    """What ``pointsmall check`` found.

    ``since``: the checkpoint's transfer id the check went on from (None: it read the whole
    ledger). ``checkpoint``: the transfer id of the checkpoint written after a clean check
    (None: none was, because something failed or another check moved it meanwhile).
    ``stale_checkpoint``: a full check found the checkpoint disagreeing with the transfers
    before it (edited by hand?); it is built anew when the ledger itself is clean.
    """

    checks: tuple[str, ...]
    violations: tuple[Violation, ...]
    members: int
    transfers: int
    outstanding_points: int
    since: int | None = None
    checkpoint: int | None = None
    stale_checkpoint: bool = False

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def full(self) -> bool:
        return self.since is None


def _plain(value: object) -> object:
    """PostgreSQL sums are NUMERIC: show whole numbers as the integers they are."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _samples(rows: Sequence[Sequence[object]]) -> tuple[tuple[object, ...], ...]:
    return tuple(tuple(_plain(value) for value in row) for row in rows)


async def check_ledger(
    db: Database, *, full: bool = True, now: datetime | None = None
) -> LedgerReport:
    """Run every check in one consistent read; when all hold, write a checkpoint.

    ``full=False`` goes on from the last checkpoint (a whole scan when there is none): the
    transfers after it are checked against its totals, and every check that reads no
    transfers runs as in a full scan. A row changed *before* the checkpoint is found by a full
    check only; ``pointsmall check --full`` is that.
    """
    upto = await checkpoint.horizon(db)
    violations: list[Violation] = []
    async with checkpoint.snapshot(db) as conn:
        found = await checkpoint.read(conn)
        start = None if full else found
        stale = False
        params = {} if start is None else {"since": start.transfer_id}
        for check in _CHECKS:
            if full and found is not None and check.name == _BALANCE_CHECK:
                rows, stale = await _balances_and_checkpoint(conn, check, found.transfer_id)
            else:
                sql = check.full if start is None else (check.tail or check.full)
                rows = list((await conn.execute(text(sql), params)).fetchmany(_SAMPLE))
            if rows:
                violations.append(Violation(check.name, check.promise, _samples(rows)))
        members, outstanding = (
            await conn.execute(
                text(
                    "SELECT (SELECT COUNT(*) FROM members),"
                    " (SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE kind = 'member')"
                )
            )
        ).one()
        if start is None:
            counted = "SELECT COUNT(*) FROM transfers"
        else:
            counted = f"SELECT {start.transfers} + COUNT(*) FROM transfers WHERE id > :since"
        transfers = (await conn.execute(text(counted), params)).scalar_one()
    # After a full scan, a checkpoint that agrees with the transfers is moved on; one that does
    # not (or none) is built anew from them.
    base = None if found is None or stale else found
    written = None
    if not violations and (base is None or upto > base.transfer_id):
        try:
            moved = await checkpoint.write(
                db, since=base, upto=upto, now=now or datetime.now(UTC), full_scan=full
            )
        except checkpoint.CheckpointRefused as refused:
            violations.append(
                Violation(CHECKPOINT_CHECK, _CHECKPOINT_PROMISE, _samples(refused.samples))
            )
        else:
            written = upto if moved else None
    names = tuple(check.name for check in _CHECKS)
    if any(v.check == CHECKPOINT_CHECK for v in violations):
        names += (CHECKPOINT_CHECK,)
    return LedgerReport(
        checks=names,
        violations=tuple(violations),
        members=int(members),
        transfers=int(transfers),
        outstanding_points=int(outstanding),
        since=None if start is None else start.transfer_id,
        checkpoint=written,
        stale_checkpoint=stale,
    )


async def _balances_and_checkpoint(
    conn: AsyncConnection, check: _Check, checkpoint_id: int
) -> tuple[list[Sequence[object]], bool]:
    """The full balance check's offending rows, and whether the checkpoint disagrees."""
    stale = (
        await conn.execute(text(_CHECKPOINT_DISAGREES), {"cp": checkpoint_id})
    ).first() is not None
    if stale:
        sql, params = check.full, {}
    else:
        sql, params = check.tail or check.full, {"since": checkpoint_id}
    return list((await conn.execute(text(sql), params)).fetchmany(_SAMPLE)), stale
