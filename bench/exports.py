"""The /export of a month of ledger entries: time and peak memory, beside the raw driver.

Run from the repository root::

    .venv/bin/python bench/exports.py                           # SQLite and PostgreSQL
    .venv/bin/python bench/exports.py --backend sqlite --transfers 200000

For each backend it builds a fresh, migrated database holding ``--history`` transfers in the
months before the window and ``--transfers`` in the window (November 2026), then exports the
window in fresh child processes, so that each peak is its own (time and resident set from a
plain run, the tracemalloc peak from a second run under tracemalloc):

- ``mall``: ``mall.exports.export`` (issue 17): streamed into gzip parts under 45 MB;
- ``before``: the export as it was before issue 17, rebuilt here: pages of 1,000 by id from the
  first transfer ever, the whole CSV in a ``StringIO``, then ``getvalue()`` and ``encode()``;
- ``raw``: the raw driver's ``SELECT`` of the window, streamed (sqlite3's cursor, asyncpg's
  server-side cursor) to ``csv.writer`` into one gzip file: the floor.

Nothing here talks to anything but 127.0.0.1 (PostgreSQL) and a temporary directory (SQLite).
Progress goes to stderr; the table goes to stdout. Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import gzip
import io
import json
import os
import platform
import random
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from ledger import (  # noqa: E402  (bench/ledger.py: the shared helpers)
    ResidentSampler,
    Target,
    bench_config,
    drop_postgres,
    log,
    mib,
    recreate_postgres,
    sqlite_instant,
    table,
)
from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.db.database import Database  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.models import Transfer  # noqa: E402
from core.mall import Mall  # noqa: E402
from core.points import rules  # noqa: E402
from core.points.accounts import SystemAccount  # noqa: E402
from core.reporting import exports as core_exports  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/pointsmall_bench_exports"
FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
BOOKS = [account.value for account in SystemAccount]
MODES = ("mall", "before", "raw")
INSERT_BATCH = 10_000


# --- The database ----------------------------------------------------------------------------


async def seed(target: Target, history: int, transfers: int) -> None:
    """``history`` transfers over the 10 months before the window, then ``transfers`` in it,
    in order of time (ids follow time, as in a live mall)."""
    db = Database.from_url(target.url)
    tz = bench_config().mall.timezone
    start = rules.start_of_day(FIRST, tz)
    rng = random.Random(17)
    try:
        await upgrade(db)
        for count, begin, seconds in (
            (history, start - timedelta(days=300), 300 * 86_400),
            (transfers, start, 30 * 86_400),
        ):
            step = seconds / max(count, 1)
            for first in range(0, count, INSERT_BATCH):
                rows = []
                for n in range(first, min(count, first + INSERT_BATCH)):
                    debit, credit = rng.sample(BOOKS, 2)
                    rows.append(
                        {
                            "key": f"bench:{begin.date()}:{n}",
                            "debit_account_id": debit,
                            "credit_account_id": credit,
                            "amount": rng.randint(1, 500),
                            "code": rng.choice(["checkin", "redemption", "purchase"]),
                            "reference": f"order {rng.randrange(10**9)}",
                            "created_at": begin + timedelta(seconds=n * step),
                        }
                    )
                async with db.write() as conn:
                    await conn.execute(insert(Transfer), rows)
    finally:
        await db.dispose()


# --- One run, in a child process ---------------------------------------------------------------


@dataclass
class Run:
    mode: str
    rows: int
    seconds: float
    traced: int  # tracemalloc peak, bytes
    rss: int  # resident set: peak during the run minus just before, bytes
    size: int  # bytes written (compressed for mall and raw)
    parts: int
    cpu: float = 0.0  # CPU seconds of the process (every thread) during the run

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


async def run_mall(target: Target, out: Path) -> tuple[int, int, int]:
    db = Database.from_url(target.url)
    try:
        mall = Mall.build(db, bench_config())
        export = await mall.exports.export(FIRST, LAST, directory=out)
        try:
            size = sum(part.size for file in export.files for part in file.parts)
            return export.ledger.rows, size, len(export.ledger.parts)
        finally:
            export.discard()
    finally:
        await db.dispose()


async def run_before(target: Target, out: Path) -> tuple[int, int, int]:
    """The ledger part of the export before issue 17."""
    config = bench_config()
    tz = config.mall.timezone
    lower, upper = rules.start_of_day(FIRST, tz), rules.start_of_day(LAST + timedelta(days=1), tz)
    key = Transfer.id
    query = (
        select(
            Transfer.id,
            Transfer.created_at,
            Transfer.debit_account_id,
            Transfer.credit_account_id,
            Transfer.amount,
            Transfer.code,
            Transfer.reference,
            Transfer.key,
        )
        .where(Transfer.created_at >= lower, Transfer.created_at < upper)
        .order_by(key)
    )
    db = Database.from_url(target.url)
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(core_exports.LEDGER_COLUMNS)
        count = 0
        async with db.read() as conn:
            after: int | None = None
            while True:
                page = query.limit(1000)
                if after is not None:
                    page = page.where(key > after)
                rows = (await conn.execute(page)).all()
                for row in rows:
                    writer.writerow(_before_cells(row, tz))
                count += len(rows)
                if len(rows) < 1000:
                    break
                after = int(rows[-1][0])
        content = buffer.getvalue().encode("utf-8-sig")
        (out / "ledger.csv").write_bytes(content)
        return count, len(content), 1
    finally:
        await db.dispose()


def _before_cells(row: Any, tz: Any) -> tuple[object, ...]:
    """A ledger row's cells as the export made them before wt-exports cut its per-row work."""

    def guard(value: str) -> str:
        return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value

    def name(account_id: int) -> str:
        return str(account_id) if account_id > 0 else SystemAccount(account_id).code

    return (
        row.id,
        row.created_at.astimezone(tz).isoformat(timespec="seconds"),
        name(row.debit_account_id),
        name(row.credit_account_id),
        row.amount,
        row.code,
        guard(row.reference),
        guard(row.key),
    )


RAW_SQL = (
    "SELECT id, created_at, debit_account_id, credit_account_id, amount, code, reference, key"
    " FROM transfers WHERE created_at >= {p1} AND created_at < {p2} ORDER BY id"
)


async def run_raw(target: Target, out: Path) -> tuple[int, int, int]:
    tz = bench_config().mall.timezone
    lower = rules.start_of_day(FIRST, tz)
    upper = rules.start_of_day(LAST + timedelta(days=1), tz)
    path = out / "ledger.csv.gz"
    count = 0
    # The floor: blocking file writes in the loop, as a script would do it.
    with (
        open(path, "wb") as raw_file,  # noqa: ASYNC230
        gzip.GzipFile(fileobj=raw_file, mode="wb", compresslevel=6) as packed,
    ):
        text = io.TextIOWrapper(packed, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(core_exports.LEDGER_COLUMNS)
        if target.backend == "sqlite":
            conn = sqlite3.connect(target.raw)
            try:
                rows = conn.execute(
                    RAW_SQL.format(p1="?", p2="?"), (sqlite_instant(lower), sqlite_instant(upper))
                )
                for row in rows:
                    at = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
                    writer.writerow(_raw_cells(row, at, tz))
                    count += 1
            finally:
                conn.close()
        else:
            pg = await asyncpg.connect(target.raw)
            try:
                async with pg.transaction():
                    query = RAW_SQL.format(p1="$1", p2="$2")
                    bounds = (lower.astimezone(UTC).replace(tzinfo=None), upper.astimezone(UTC))
                    async for row in pg.cursor(
                        query, bounds[0], bounds[1].replace(tzinfo=None), prefetch=5000
                    ):
                        writer.writerow(_raw_cells(row, row[1].replace(tzinfo=UTC), tz))
                        count += 1
            finally:
                await pg.close()
        text.flush()
        text.detach()
    return count, path.stat().st_size, 1


def _raw_cells(row: Any, at: datetime, tz: Any) -> tuple[object, ...]:
    return (
        row[0],
        at.astimezone(tz).isoformat(timespec="seconds"),
        core_exports.account_name(row[2]),
        core_exports.account_name(row[3]),
        row[4],
        row[5],
        row[6],
        row[7],
    )


RUNNERS = {"mall": run_mall, "before": run_before, "raw": run_raw}


def child(mode: str, backend: str, url: str, raw: str, traced: str) -> None:
    """One run in this (fresh) process; prints what it took as one JSON line. With ``traced``
    "yes", under tracemalloc (which slows allocating code several times: no timing then)."""
    target = Target(backend, url, raw)
    with tempfile.TemporaryDirectory(prefix="pointsmall-bench-export-") as out:
        gc.collect()
        sampler = ResidentSampler()
        sampler.start()
        if traced == "yes":
            tracemalloc.start()
        started, cpu = time.perf_counter(), time.process_time()
        rows, size, parts = asyncio.run(RUNNERS[mode](target, Path(out)))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sampler.finish()
    run = Run(mode, rows, seconds, peak, sampler.peak - sampler.before, size, parts, cpu)
    print(json.dumps(run.__dict__))


def run_child(mode: str, target: Target, *, traced: bool) -> Run:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        target.backend,
        target.url,
        target.raw,
        "yes" if traced else "no",
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the export child failed: {shlex.join(command)}")
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


def measure(mode: str, target: Target) -> Run:
    """Time and RSS from a plain run; the tracemalloc peak from a second, traced one."""
    plain = run_child(mode, target, traced=False)
    traced = run_child(mode, target, traced=True)
    plain.traced = traced.traced
    return plain


# --- Main --------------------------------------------------------------------------------------


async def bench_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[Run]:
    if backend == "sqlite":
        path = tmp / "exports.db"
        target = Target("sqlite", f"sqlite+aiosqlite:///{path}", str(path))
    else:
        name = make_url(args.postgres_url).database or "pointsmall_bench_exports"
        target = await recreate_postgres(args.postgres_url, name)
    try:
        log(f"{backend}: seeding {args.history:,} + {args.transfers:,} transfers")
        await seed(target, args.history, args.transfers)
        runs = []
        for mode in MODES:
            log(f"{backend}: {mode}")
            runs.append(measure(mode, target))
        return runs
    finally:
        if backend == "postgres" and not args.keep:
            await drop_postgres(args.postgres_url, name)


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="pointsmall-bench-") as tmp:
        for backend in backends:
            runs = await bench_backend(backend, args, Path(tmp))
            raw = next(r for r in runs if r.mode == "raw")
            for run in runs:
                rows.append(
                    [
                        f"{backend} {run.mode}",
                        f"{run.rows:,}",
                        f"{run.seconds:.2f}",
                        f"{run.rate:,.0f}",
                        f"{run.seconds / raw.seconds:.2f}" if raw.seconds else "-",
                        f"{run.cpu / run.rows * 1e6:.1f}" if run.rows else "-",
                        mib(run.traced),
                        mib(run.rss),
                        mib(run.size),
                        str(run.parts),
                    ]
                )
            rows_seen = {r.rows for r in runs}
            print(f"{backend}: every run read the same rows: {len(rows_seen) == 1}")
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()},"
        f" Python {platform.python_version()}"
    )
    print(
        f"Export of {FIRST} to {LAST}: {args.transfers:,} ledger entries in the window,"
        f" {args.history:,} before it; each run in fresh child processes"
    )
    print(
        table(
            [
                "run",
                "rows",
                "seconds",
                "rows/s",
                "time/raw",
                "CPU us/row",
                "traced MiB",
                "RSS+ MiB",
                "file MiB",
                "parts",
            ],
            rows,
        )
    )
    print(
        "mall: mall.exports.export (streamed, gzip parts). before: the export before issue 17"
        " (the whole CSV in memory, uncompressed). raw: the raw driver streaming the window to"
        " a gzip csv. traced: tracemalloc peak (of a second, traced run). RSS+: resident set"
        " sampled every 5 ms, peak minus just before the run (start-up included: engine,"
        " imports). CPU us/row: the run's CPU time (every thread) per row. before: the cells as"
        " made before wt-exports (ORM types, enum names, isoformat(timespec=...))."
    )
    print()
    print("command: " + shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--transfers", type=int, default=100_000, help="in the window")
    parser.add_argument("--history", type=int, default=100_000, help="before the window")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="the server and the name of the database to (re)create",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.child:
        child(*arguments.child)
    else:
        asyncio.run(main(arguments))
