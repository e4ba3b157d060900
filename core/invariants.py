"""An fsck for points: every rule the ledger promises, checked against what is stored.

Each check is one aggregate query, so it runs on a live database of any size without loading
rows into memory; a violation lists up to a few offending ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text

from core.accounts import SystemAccount
from core.db.database import Database

_SAMPLE = 5

# Each check: a name, what it promises, and a query that returns the offending rows.
_CHECKS: tuple[tuple[str, str, str], ...] = (
    (
        "books_balance",
        "all balances (members' stored, the mall's derived) sum to zero",
        """
        SELECT total FROM (
            SELECT (SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE kind = 'member')
                 + (SELECT COALESCE(SUM(amount), 0) FROM transfers t
                    JOIN accounts a ON a.id = t.credit_account_id WHERE a.kind = 'system')
                 - (SELECT COALESCE(SUM(amount), 0) FROM transfers t
                    JOIN accounts a ON a.id = t.debit_account_id WHERE a.kind = 'system')
                 AS total
        ) AS s WHERE total <> 0
        """,
    ),
    (
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
    ),
    (
        "member_balance_matches_lots",
        "each member's balance equals what is left of their lots",
        """
        SELECT a.id, a.balance, COALESCE(l.total, 0) AS lots
        FROM accounts a
        LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM lots
                   GROUP BY account_id) l ON l.account_id = a.id
        WHERE a.kind = 'member' AND a.balance <> COALESCE(l.total, 0)
        """,
    ),
    (
        "no_negative_balance",
        "no member's balance is negative",
        "SELECT id, balance FROM accounts WHERE balance < 0",
    ),
    (
        "lots_in_range",
        "no lot has less than nothing left, or more than it held",
        "SELECT id, amount, remaining FROM lots WHERE remaining < 0 OR remaining > amount",
    ),
    (
        "system_accounts_unused_balance",
        "the mall's own books keep no stored balance (it is derived)",
        "SELECT id, balance FROM accounts WHERE kind = 'system' AND balance <> 0",
    ),
    (
        "escrow_matches_pending_holds",
        "points in escrow equal the pending holds",
        f"""
        SELECT escrow, pending FROM (
            SELECT (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE credit_account_id = {int(SystemAccount.ESCROW)})
                 - (SELECT COALESCE(SUM(amount), 0) FROM transfers
                    WHERE debit_account_id = {int(SystemAccount.ESCROW)}) AS escrow,
                   (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE status = 'pending')
                   AS pending
        ) AS s WHERE escrow <> pending
        """,
    ),
    (
        "settled_holds_have_transfers",
        "a posted or voided hold has its settling transfer; a pending one has none",
        """
        SELECT id, status FROM holds
        WHERE (status = 'pending') <> (settle_transfer_id IS NULL)
        """,
    ),
    (
        "draws_match_debits",
        "each debit that drew on lots drew exactly its amount",
        """
        SELECT t.id, t.amount, SUM(d.amount) AS drawn
        FROM transfers t JOIN lot_draws d ON d.transfer_id = t.id
        GROUP BY t.id, t.amount HAVING SUM(d.amount) <> t.amount
        """,
    ),
    (
        "no_pending_operations",
        "no use case was left half done",
        "SELECT key FROM operations WHERE status = 'pending'",
    ),
    (
        "no_system_system_transfers_outside_holds",
        "transfers between two of the mall's books only settle holds",
        """
        SELECT t.id FROM transfers t
        JOIN accounts d ON d.id = t.debit_account_id
        JOIN accounts c ON c.id = t.credit_account_id
        WHERE d.kind = 'system' AND c.kind = 'system'
          AND t.debit_account_id <> """
        + str(int(SystemAccount.ESCROW)),
    ),
    (
        "ended_payments_refunded",
        "a paid redemption that was cancelled or rejected has its Stars refund recorded",
        """
        SELECT r.id, r.payment_charge_id FROM redemptions r
        LEFT JOIN star_refunds s ON s.charge_id = r.payment_charge_id
        WHERE r.status IN ('cancelled', 'rejected') AND r.payment_charge_id IS NOT NULL
          AND s.charge_id IS NULL
        """,
    ),
    (
        "refunded_payments_keep_no_goods",
        "a payment given back completes no redemption that still stands",
        """
        SELECT s.charge_id, r.id, r.status FROM star_refunds s
        JOIN redemptions r ON r.payment_charge_id = s.charge_id
        WHERE r.status NOT IN ('cancelled', 'rejected')
        """,
    ),
)


@dataclass(frozen=True)
class Violation:
    check: str
    promise: str
    samples: tuple[tuple[object, ...], ...]


@dataclass(frozen=True)
class LedgerReport:
    """What ``pointsmall check`` found."""

    checks: tuple[str, ...]
    violations: tuple[Violation, ...]
    members: int
    transfers: int
    outstanding_points: int

    @property
    def ok(self) -> bool:
        return not self.violations


def _plain(value: object) -> object:
    """PostgreSQL sums are NUMERIC: show whole numbers as the integers they are."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


async def check_ledger(db: Database) -> LedgerReport:
    """Run every check in one consistent read."""
    violations: list[Violation] = []
    async with db.read() as conn:
        for name, promise, sql in _CHECKS:
            rows = (await conn.execute(text(sql))).fetchmany(_SAMPLE)
            if rows:
                samples = tuple(tuple(_plain(value) for value in row) for row in rows)
                violations.append(Violation(name, promise, samples))
        members, transfers, outstanding = (
            await conn.execute(
                text(
                    "SELECT (SELECT COUNT(*) FROM members), (SELECT COUNT(*) FROM transfers),"
                    " (SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE kind = 'member')"
                )
            )
        ).one()
    return LedgerReport(
        checks=tuple(name for name, _, _ in _CHECKS),
        violations=tuple(violations),
        members=int(members),
        transfers=int(transfers),
        outstanding_points=int(outstanding),
    )
