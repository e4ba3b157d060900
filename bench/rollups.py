"""The work behind ``/stats``, live and from the roll-ups of closed days, side by side.

Run from the repository root::

    .venv/bin/python bench/rollups.py --backend sqlite --members 10000
    .venv/bin/python bench/rollups.py --backend both --members 100000

For each backend it builds a fresh, migrated database of ``--members`` members (joined by bulk
insert, as ``bench/ledger.py`` does) with 30 days of activity before today and half of today,
written by bulk insert in the shapes the use cases write: each day 10% of members check in,
2% buy, 1% redeem an item, 0.5% open a blind box. The rows are for the reports only: balances
and lots are not kept (``mall.check()`` is not the point here, and is not run).

Then it measures, median of ``--repeat`` runs, what ``/stats`` asks of core for its 30 days
(``reports.daily``, ``reports.issued_by_cause``, ``reports.redemptions_per_item``,
``reports.box_payouts``, ``reports.liability``):

- ``live``: ``Reports(rollups=False)``: every day computed from the ledger's rows;
- ``roll-ups``: ``mall.reports`` after ``mall.rollups.roll`` at 12:00 (the hourly job, timed
  once too): the 30 closed days read from their roll-ups, today's hours to 11:00 from theirs
  (11:00 to 12:00 ended less than ten minutes ago), and that last hour of activity computed
  live: an hour's rows, what the job running at :30 leaves live on average.

A correctness line says whether both gave the same figures. Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: the shared helpers)
    FIRST_MEMBER,
    Target,
    bench_config,
    drop_postgres,
    log,
    prepare,
    recreate_postgres,
    table,
)
from sqlalchemy import delete, func, insert, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.db.database import Database  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.models import (  # noqa: E402
    BoxDraw,
    CheckIn,
    Member,
    Redemption,
    RollupBoxDraw,
    RollupDay,
    RollupDayMember,
    RollupFlow,
    RollupHour,
    RollupHourFlow,
    RollupRedemption,
    Transfer,
)
from core.games.box_authoring import PrizeSpec  # noqa: E402
from core.mall import Mall  # noqa: E402
from core.points import rules  # noqa: E402
from core.points.accounts import SystemAccount  # noqa: E402
from core.reporting.reports import Reports  # noqa: E402
from core.rewards.catalog import Catalog, ItemSpec  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/pointsmall_bench_rollups"
DAYS = 30
TODAY = date(2026, 3, 31)
FIRST = TODAY - timedelta(days=DAYS)
SHARES = {"checkin": 0.10, "purchase": 0.02, "redeem": 0.01, "box": 0.005}
BATCH = 5_000
ROLLUP_TABLES = (
    RollupFlow,
    RollupRedemption,
    RollupBoxDraw,
    RollupDay,
    RollupHourFlow,
    RollupHour,
    RollupDayMember,
)


async def seed(target: Target, members: int) -> tuple[int, int]:
    """Members, an item, a box, then 30 days and half of today of activity; (rows, rows today)."""
    config = bench_config()
    await prepare(target, config, members)
    tz = config.mall.timezone
    db = Database.from_url(target.url)
    rng = random.Random(17)
    try:
        mall = Mall.build(db, config)
        setup = rules.start_of_day(FIRST, tz) - timedelta(hours=1)
        spec = ItemSpec("coffee", "Coffee", "Drinks", "virtual", 30)
        item = (await Catalog(db, config).upsert_item(spec, setup)).item_id
        box = await mall.boxes.create_box(
            "lucky",
            "Lucky box",
            20,
            [PrizeSpec("5 points", "points", 3, points=5), PrizeSpec("40", "points", 1, points=40)],
            setup,
        )
        prizes = [prize.prize_id for prize in (await mall.boxes.prize_table(box.box_id)).prizes]
        total = today = 0
        draws: dict[int, int] = {}
        for number in range(DAYS + 1):
            day = FIRST + timedelta(days=number)
            start = rules.start_of_day(day, tz)
            # Today is half over: its activity fills its first twelve hours.
            seconds = 43_200 if day == TODAY else 86_400
            rows: dict[str, list[dict[str, Any]]] = {
                "transfers": [],
                "checkins": [],
                "redemptions": [],
                "draws": [],
            }
            for kind, share in SHARES.items():
                for member_id in rng.sample(
                    range(FIRST_MEMBER, FIRST_MEMBER + members), k=int(members * share)
                ):
                    at = start + timedelta(seconds=rng.randrange(seconds))
                    key = f"{kind}:{member_id}:{day}"
                    _activity(
                        rows, kind, member_id, at, key, day, item, box.box_id, prizes, draws, rng
                    )
            async with db.write() as conn:
                for name, model in (
                    ("transfers", Transfer),
                    ("checkins", CheckIn),
                    ("redemptions", Redemption),
                    ("draws", BoxDraw),
                ):
                    for first in range(0, len(rows[name]), BATCH):
                        await conn.execute(insert(model), rows[name][first : first + BATCH])
            written = sum(len(r) for r in rows.values())
            total += written
            if day == TODAY:
                today = written
        return total, today
    finally:
        await db.dispose()


def _activity(
    rows: dict[str, list[dict[str, Any]]],
    kind: str,
    member_id: int,
    at: datetime,
    key: str,
    day: date,
    item: int,
    box: int,
    prizes: list[int],
    draws: dict[int, int],
    rng: random.Random,
) -> None:
    def transfer(source: int, destination: int, amount: int, code: str, suffix: str = "") -> None:
        rows["transfers"].append(
            {
                "key": key + suffix,
                "debit_account_id": source,
                "credit_account_id": destination,
                "amount": amount,
                "code": code,
                "reference": key,
                "created_at": at,
            }
        )

    issuance, redemptions = int(SystemAccount.ISSUANCE), int(SystemAccount.REDEMPTIONS)
    if kind == "checkin":
        transfer(issuance, member_id, 10, "checkin")
        rows["checkins"].append(
            {
                "member_id": member_id,
                "day": day,
                "streak": 1,
                "reward": 10,
                "makeup": False,
                "created_at": at,
            }
        )
    elif kind == "purchase":
        transfer(issuance, member_id, rng.randint(5, 300), "purchase")
    elif kind == "redeem":
        transfer(member_id, redemptions, 30, "redemption")
        status = rng.choice(("completed", "completed", "fulfilled", "awaiting_approval"))
        rows["redemptions"].append(
            {
                "member_id": member_id,
                "item_id": item,
                "confirm_token": key,
                "status": status,
                "points": 30,
                "created_at": at,
                "updated_at": at,
            }
        )
    else:
        pool = int(SystemAccount.BOX_POOL)
        transfer(member_id, pool, 20, "box_price")
        prize = rng.choice(prizes)
        won = 5 if prize == prizes[0] else 40
        transfer(pool, member_id, won, "box_prize", "#prize")
        draws[member_id] = draws.get(member_id, 0) + 1
        rows["draws"].append(
            {
                "box_id": box,
                "member_id": member_id,
                "draw_number": draws[member_id],
                "seed_version": 1,
                "prize_id": prize,
                "price_points": 20,
                "points_won": won,
                "created_at": at,
            }
        )


async def stats_work(reports: Reports, now: datetime) -> tuple[Any, ...]:
    """What ``/stats`` asks of core for its 30 days (the chart, top items, boxes, liability,
    and the points issued by cause: birthday gifts and member-day extras)."""
    return (
        await reports.daily(TODAY - timedelta(days=29), TODAY),
        await reports.issued_by_cause(TODAY - timedelta(days=29), TODAY),
        await reports.redemptions_per_item(TODAY - timedelta(days=29), TODAY),
        await reports.box_payouts(TODAY - timedelta(days=29), TODAY),
        (await reports.liability(now)).outstanding,
    )


async def timed(run: Callable[[], Awaitable[Any]], repeat: int) -> tuple[float, Any]:
    seconds, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = await run()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds), result


async def reuse(target: Target) -> tuple[int, int]:
    """Bring a store seeded by an earlier run up to date, forget its roll-ups (the run writes
    them anew), and count its rows as :func:`seed` would have: (rows, rows today)."""
    db = Database.from_url(target.url)
    try:
        await upgrade(db)
        tz = bench_config().mall.timezone
        since = rules.start_of_day(TODAY, tz)
        async with db.write() as conn:
            for model in ROLLUP_TABLES:
                await conn.execute(delete(model))
            total = today = 0
            for model in (Transfer, CheckIn, Redemption, BoxDraw):
                total += (await conn.execute(select(func.count()).select_from(model))).scalar_one()
                today += (
                    await conn.execute(select(func.count()).where(model.created_at >= since))
                ).scalar_one()
        # The sign-up bonuses are not activity: seed() does not count them.
        return total - (await _members(target)), today
    finally:
        await db.dispose()


async def _members(target: Target) -> int:
    db = Database.from_url(target.url)
    try:
        async with db.read() as conn:
            return int((await conn.execute(select(func.count()).select_from(Member))).scalar_one())
    finally:
        await db.dispose()


async def bench_backend(backend: str, args: argparse.Namespace, tmp: Path) -> list[list[str]]:
    reused = False
    if backend == "sqlite":
        path = Path(args.sqlite_file) if args.sqlite_file else tmp / "rollups.db"
        reused = path.exists()
        target = Target("sqlite", f"sqlite+aiosqlite:///{path}", str(path))
    else:
        name = make_url(args.postgres_url).database or "pointsmall_bench_rollups"
        target = await recreate_postgres(args.postgres_url, name)
    try:
        if reused:
            log(f"{backend}: reusing {target.raw}, seeded earlier")
            rows, today = await reuse(target)
        else:
            log(f"{backend}: seeding {args.members:,} members and {DAYS} days of activity")
            rows, today = await seed(target, args.members)
        config = bench_config()
        now = rules.start_of_day(TODAY, config.mall.timezone) + timedelta(hours=12)
        db = Database.from_url(target.url)
        try:
            mall = Mall.build(db, config)
            live = Reports(db, config, rollups=False)
            log(f"{backend}: live")
            live_seconds, live_figures = await timed(lambda: stats_work(live, now), args.repeat)
            log(f"{backend}: the roll-up job")
            began = time.perf_counter()
            run = await mall.rollups.roll(now)
            job_seconds = time.perf_counter() - began
            log(f"{backend}: from roll-ups")
            rolled_seconds, rolled_figures = await timed(
                lambda: stats_work(mall.reports, now), args.repeat
            )
        finally:
            await db.dispose()
        same = live_figures == rolled_figures
        print(
            f"{backend}: roll-ups equal live: {same}; days rolled up: {len(run.days)},"
            f" hours: {run.hours}"
        )
        return [
            [
                backend,
                f"{args.members:,}",
                f"{rows:,}",
                f"{today:,}",
                f"{live_seconds:.3f}",
                f"{rolled_seconds:.3f}",
                f"{live_seconds / rolled_seconds:.1f}" if rolled_seconds else "-",
                f"{job_seconds:.2f}",
            ]
        ]
    finally:
        if backend == "postgres" and not args.keep:
            await drop_postgres(args.postgres_url, name)


async def main(args: argparse.Namespace) -> None:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    rows: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="pointsmall-bench-") as tmp:
        for backend in backends:
            rows += await bench_backend(backend, args, Path(tmp))
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()},"
        f" Python {platform.python_version()}"
    )
    print(
        f"/stats for {TODAY - timedelta(days=29)} to {TODAY} (today half over), median of"
        f" {args.repeat}; seconds"
    )
    print(
        table(
            [
                "backend",
                "members",
                "rows seeded",
                "of them today",
                "live",
                "roll-ups",
                "live/roll-ups",
                "roll-up job",
            ],
            rows,
        )
    )
    print(
        "live: every day from the ledger's rows. roll-ups: closed days from their roll-ups,"
        " today's hours to 11:00 from theirs, 11:00-12:00 live. roll-up job: mall.rollups.roll"
        " writing the 31 closed days and today's 11 closed hours once."
    )
    print()
    print("command: " + shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the median shown")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="the server and the name of the database to (re)create",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument(
        "--sqlite-file",
        help="the SQLite store to seed and keep, or, if it exists, to reuse as it was seeded"
        " (for the same --members); its roll-ups are written anew",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
