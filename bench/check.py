"""``pointsmall check``: the whole scan beside the incremental check after a day's activity.

Run from the repository root::

    .venv/bin/python bench/check.py                                  # SQLite and PostgreSQL
    .venv/bin/python bench/check.py --backend sqlite --members 100000 --days 30

For each backend it builds a fresh, migrated store by set-based SQL that writes the rows the
use cases write (accounts and members with their sign-up bonus and its lot; each day 10% of
members check in, a transfer and a lot, and 1% spend, a transfer drawing on their oldest lot),
``--days`` days of it. A full check then writes the checkpoint, and one more day of activity
follows. Then, ``--repeat`` times each, side by side:

- ``full, rebuilt`` (the baseline): ``check --full`` with no checkpoint, every query over the
  whole ledger and the checkpoint built anew, as ``--full`` did before it verified one;
- ``full``: ``check --full``, the checkpoint verified against the transfers up to it, the
  balances through it and the transfers after it, every other query over the whole ledger
  (then the checkpoint moved on);
- ``incremental``: ``check``, the day after the checkpoint against it (and the checkpoint
  moved on).

The checkpoint is put back to where it was before the day ahead of each run, outside the
timing, so both start from the same state.

Every run must come out clean. Nothing here talks to anything but 127.0.0.1 (PostgreSQL) and a
temporary directory (SQLite). Progress goes to stderr; the table to stdout. Speed is reported,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: the shared helpers)
    DEFAULT_POSTGRES_URL,
    FIRST_MEMBER,
    Target,
    drop_postgres,
    log,
    recreate_postgres,
    table,
)
from sqlalchemy import bindparam, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: E402

from core.db.database import Database  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.types import UTCDateTime  # noqa: E402
from core.points.invariants import LedgerReport, check_ledger  # noqa: E402

START = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
BONUS, CHECKIN, SPEND = 100, 10, 5
ISSUANCE, REDEMPTIONS = -1, -2

# Members 1..n by a recursive count: both databases read it.
_NUMBERS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)"
_SEED = [
    f"""{_NUMBERS}
    INSERT INTO accounts (id, kind, balance, frozen)
    SELECT {FIRST_MEMBER} + i, 'member', {BONUS}, false FROM n""",
    f"""{_NUMBERS}
    INSERT INTO members (id, display_name, language, joined_at, tier, announcements)
    SELECT {FIRST_MEMBER} + i, 'Member', 'en', :at, 'Member', true FROM n""",
    f"""INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code, reference,
                            created_at)
    SELECT 'join:' || id, {ISSUANCE}, id, {BONUS}, 'signup_bonus', 'join', :at FROM members""",
    """INSERT INTO lots (account_id, transfer_id, amount, remaining, expires_at)
    SELECT credit_account_id, id, amount, amount, NULL FROM transfers
    WHERE code = 'signup_bonus'""",
]
# One day: every tenth member checks in, every hundredth spends from their sign-up lot.
_DAY = [
    f"""INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code, reference,
                            created_at)
    SELECT 'checkin:' || id || ':' || :day, {ISSUANCE}, id, {CHECKIN}, 'checkin', :day, :at
    FROM members WHERE (id + :d) % 10 = 0""",
    """INSERT INTO lots (account_id, transfer_id, amount, remaining, expires_at)
    SELECT credit_account_id, id, amount, amount, NULL FROM transfers
    WHERE id > :before AND code = 'checkin'""",
    f"""UPDATE accounts SET balance = balance + {CHECKIN}
    WHERE kind = 'member' AND (id + :d) % 10 = 0""",
    f"""INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code, reference,
                            created_at)
    SELECT 'spend:' || id || ':' || :day, id, {REDEMPTIONS}, {SPEND}, 'redemption', :day, :at
    FROM members WHERE (id + :d) % 100 = 1""",
    """INSERT INTO lot_draws (transfer_id, lot_id, amount)
    SELECT t.id, l.id, t.amount FROM transfers t
    JOIN transfers s ON s.key = 'join:' || t.debit_account_id
    JOIN lots l ON l.transfer_id = s.id
    WHERE t.id > :before AND t.code = 'redemption'""",
    """UPDATE lots SET remaining = remaining - (
        SELECT SUM(d.amount) FROM lot_draws d WHERE d.lot_id = lots.id AND d.transfer_id > :before)
    WHERE id IN (SELECT lot_id FROM lot_draws WHERE transfer_id > :before)""",
    f"""UPDATE accounts SET balance = balance - {SPEND}
    WHERE kind = 'member' AND (id + :d) % 100 = 1""",
]


def _statement(sql: str) -> object:
    statement = text(sql)
    if ":at" in sql:
        statement = statement.bindparams(bindparam("at", type_=UTCDateTime))
    return statement


async def _run(conn: AsyncConnection, sqls: Sequence[str], params: dict[str, object]) -> None:
    for sql in sqls:
        used = {k: v for k, v in params.items() if f":{k}" in sql}
        await conn.execute(_statement(sql), used)  # type: ignore[call-overload]


async def seed(db: Database, members: int, days: int) -> None:
    """The store: members with their bonus, then ``days`` days of activity."""
    await upgrade(db)
    async with db.write() as conn:
        await _run(conn, _SEED, {"count": members, "at": START})
    for d in range(days):
        await a_day(db, d)
    await analyze(db)


async def analyze(db: Database) -> None:
    """PostgreSQL's statistics, as autovacuum keeps them on a live store (bulk loads outrun
    it); SQLite stores run without ``ANALYZE``, so its planner is left as they have it."""
    if not db.is_sqlite:
        async with db.write() as conn:
            await conn.execute(text("ANALYZE"))


async def a_day(db: Database, d: int) -> None:
    at = START + timedelta(days=d, hours=1)
    async with db.write() as conn:
        before = (await conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM transfers"))).scalar()
        params = {"d": d, "day": at.date().isoformat(), "at": at, "before": before}
        await _run(conn, _DAY, params)


async def _save_checkpoint(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS bench_saved_balances"))
        await conn.execute(text("DROP TABLE IF EXISTS bench_saved_checkpoint"))
        await conn.execute(
            text("CREATE TABLE bench_saved_balances AS SELECT * FROM checkpoint_balances")
        )
        await conn.execute(
            text("CREATE TABLE bench_saved_checkpoint AS SELECT * FROM ledger_checkpoint")
        )


async def _restore_checkpoint(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("DELETE FROM checkpoint_balances"))
        await conn.execute(text("DELETE FROM ledger_checkpoint"))
        await conn.execute(
            text("INSERT INTO checkpoint_balances SELECT * FROM bench_saved_balances")
        )
        await conn.execute(
            text("INSERT INTO ledger_checkpoint SELECT * FROM bench_saved_checkpoint")
        )


async def _forget_checkpoint(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(text("DELETE FROM checkpoint_balances"))
        await conn.execute(text("DELETE FROM ledger_checkpoint"))


async def _timed(db: Database, full: bool) -> tuple[float, LedgerReport]:
    started = time.perf_counter()
    report = await check_ledger(db, full=full)
    return time.perf_counter() - started, report


async def bench_backend(target: Target, args: argparse.Namespace) -> tuple[list[str], bool]:
    db = Database.from_url(target.url)
    try:
        log(f"{target.backend}: seeding {args.members:,} members, {args.days} days")
        await seed(db, args.members, args.days)
        log(f"{target.backend}: first full check (writes the checkpoint)")
        first_seconds, first = await _timed(db, full=True)
        await _save_checkpoint(db)
        log(f"{target.backend}: a day's activity after the checkpoint")
        await a_day(db, args.days)
        await analyze(db)
        full: list[float] = []
        rebuilt: list[float] = []
        incremental: list[float] = []
        clean = first.ok
        report = first
        tail = 0
        for _ in range(args.repeat):
            await _forget_checkpoint(db)
            seconds, rebuilt_report = await _timed(db, full=True)
            rebuilt.append(seconds)
            clean = clean and rebuilt_report.ok
            await _restore_checkpoint(db)
            seconds, full_report = await _timed(db, full=True)
            full.append(seconds)
            clean = clean and full_report.ok and not full_report.stale_checkpoint
            await _restore_checkpoint(db)
            seconds, report = await _timed(db, full=False)
            incremental.append(seconds)
            clean = clean and report.ok and report.since == first.checkpoint
            tail = report.transfers - first.transfers
        full_s, inc_s = statistics.median(full), statistics.median(incremental)
        rebuilt_s = statistics.median(rebuilt)
        row = [
            target.backend,
            f"{args.members:,}",
            f"{report.transfers:,}",
            f"{tail:,}",
            f"{first_seconds:.3f}",
            f"{rebuilt_s:.3f}",
            f"{full_s:.3f}",
            f"{inc_s:.3f}",
            f"{full_s / inc_s:.1f}x" if inc_s else "-",
        ]
        return row, clean
    finally:
        await db.dispose()


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows: list[list[str]] = []
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pointsmall-bench-") as tmp:
        for backend in backends:
            name = f"{make_url(args.postgres_url).database or 'pointsmall_bench'}_check"
            if backend == "sqlite":
                path = Path(tmp) / "check.db"
                target = Target("sqlite", f"sqlite+aiosqlite:///{path}", str(path))
            else:
                target = await recreate_postgres(args.postgres_url, name)
            try:
                row, clean = await bench_backend(target, args)
            finally:
                if backend == "postgres" and not args.keep:
                    await drop_postgres(args.postgres_url, name)
            rows.append(row)
            verdicts.append(f"{backend}: every check {'clean' if clean else 'NOT CLEAN'}")
    print()
    print(
        f"machine: {platform.system()} {platform.machine()}, Python {platform.python_version()};"
        f" {args.days} days of activity (10% check in, 1% spend a day), then one more day after"
        f" the checkpoint; median of {args.repeat}"
    )
    print()
    header = [
        "backend",
        "members",
        "transfers",
        "tail",
        "first full s",
        "full, rebuilt s",
        "full s",
        "incremental s",
        "full/incr",
    ]
    print(table(header, rows))
    print(
        "first full: the check that built the checkpoint (before the day). full, rebuilt: check"
        " --full with no checkpoint to verify: every query over the whole ledger, then the"
        " checkpoint built anew (what --full did before it verified the checkpoint: the"
        " baseline). full: check --full (checkpoint verified against the transfers up to it,"
        " balances through it and the tail, checkpoint moved on); incremental: check (the day's"
        " transfers against the checkpoint, checkpoint moved on)."
    )
    for verdict in verdicts:
        print(verdict)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
