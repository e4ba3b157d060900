"""Ledger throughput and expiry, measured beside the raw database driver doing the same work.

Run from the repository root::

    .venv/bin/python bench/ledger.py                     # SQLite and PostgreSQL
    .venv/bin/python bench/ledger.py --backend sqlite --ops 1000 --expiry-lots 100000

For each backend it builds two fresh, migrated databases with the same members: one driven
through the mall (``core``), one through the raw driver (sqlite3 / asyncpg) issuing the same
statements the mall issues, one transaction per operation (and, on SQLite, where the mall's
writer committed several use cases at once, also in batches of the same mean size). It measures
check-ins, purchase credits and spends (a hold, then its post: two use cases, two transactions,
one timed spend), then loads lots that are past their expiry and times ``mall.expire`` (and the
raw driver running the same batched SQL) in a child process of its own, so that its peak memory
is its own.

Nothing here talks to anything but 127.0.0.1 (PostgreSQL) and a temporary directory (SQLite).
Progress goes to stderr; the tables go to stdout. Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import resource
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # type: ignore[import-untyped]  # noqa: E402
from sqlalchemy import event, insert, literal, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.config import Config, Tier, parse_config  # noqa: E402
from core.db.database import Database  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.db.models import Account, Lot, Member, Operation, Transfer  # noqa: E402
from core.db.types import UTCDateTime  # noqa: E402
from core.mall import Mall  # noqa: E402
from core.points import rules  # noqa: E402
from core.points.accounts import SystemAccount  # noqa: E402
from core.points.idempotency import fingerprint  # noqa: E402

# The mall's default rules (100 points on joining, 10 a day, 50 on day 7, 1 point per 1.00),
# on the Asia/Shanghai calendar. No daily cap: the default.
CONFIG_TOML = """
[mall]
timezone = "Asia/Shanghai"
"""

# Everything happens on the mall's calendar around this instant (10:00 in Shanghai).
T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
JOINED = T0 - timedelta(days=1)
FIRST_MEMBER = 1_000_001  # member ids are FIRST_MEMBER .. FIRST_MEMBER + members - 1
SPEND_AMOUNT = 5
PURCHASE_MINOR = 12_345  # 123.45 CNY: 123 points
LOT_DAYS = 30  # loaded expiry lots expire over the 30 days before T0

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/pointsmall_bench"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bench_config() -> Config:
    return parse_config(CONFIG_TOML, environ={}, source="bench/ledger.py")


def member_of(index: int, members: int) -> int:
    return FIRST_MEMBER + index % members


# --- Measurement ------------------------------------------------------------------------------


@dataclass
class Measurement:
    """A closed-loop run: ``ops`` operations by ``concurrency`` workers in ``seconds``."""

    ops: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    cpu: float = 0.0  # CPU seconds this process (all its threads) spent in the run
    statements: int = 0  # round trips per operation, counted on one extra operation

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.ops * 1000 if self.ops else 0.0

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        rank = max(1, math.ceil(q * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1] * 1000


Op = Callable[[int], Awaitable[None]]


async def closed_loop(op: Op, start: int, count: int, concurrency: int) -> Measurement:
    """Run ``op(start) .. op(start + count - 1)`` on ``concurrency`` workers; time each one."""
    next_index = start
    end = start + count
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal next_index
        while next_index < end:
            index = next_index
            next_index += 1
            began = time.perf_counter()
            await op(index)
            latencies.append(time.perf_counter() - began)

    cpu = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    return Measurement(count, seconds, latencies, time.process_time() - cpu)


# --- Databases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One database to benchmark on: its SQLAlchemy URL and what the raw driver connects to."""

    backend: str  # "sqlite" or "postgres"
    url: str  # sqlite+aiosqlite:///... or postgresql+asyncpg://...
    raw: str  # a file path (sqlite3) or a DSN (asyncpg)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def recreate_postgres(server_url: str, name: str, template: str | None = None) -> Target:
    """Drop and create the database ``name`` on the server of ``server_url``."""
    admin = asyncpg_dsn(make_url(server_url).set(database="postgres").render_as_string(False))
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        else:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = make_url(server_url).set(drivername="postgresql+asyncpg", database=name)
    sa_url = url.render_as_string(hide_password=False)
    return Target("postgres", sa_url, asyncpg_dsn(sa_url))


async def drop_postgres(server_url: str, name: str) -> None:
    admin = asyncpg_dsn(make_url(server_url).set(database="postgres").render_as_string(False))
    conn = await asyncpg.connect(admin, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def prepare(target: Target, config: Config, members: int) -> None:
    """Migrate, then join ``members`` members with their sign-up bonus, by bulk inserts.

    What ``mall.members.join`` would leave: account, member, the bonus transfer and its lot, and
    the operation record; setup is not measured.
    """
    db = Database.from_url(target.url)
    try:
        await upgrade(db)
        tier = config.tiers.levels[0]
        bonus = config.members.signup_bonus
        tz = config.mall.timezone
        expires = rules.lot_expiry(rules.business_day(JOINED, tz), tier, config.expiry, tz)
        ids = [FIRST_MEMBER + n for n in range(members)]
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(Account), [{"id": i, "kind": "member", "balance": bonus} for i in ids]
            )
            await conn.execute(
                insert(Member),
                [
                    {
                        "id": i,
                        "display_name": f"Member {i}",
                        "language": "en",
                        "joined_at": JOINED,
                        "invited_by": None,
                        "tier": tier.name,
                    }
                    for i in ids
                ],
            )
            await conn.execute(
                insert(Transfer),
                [
                    {
                        "key": f"join:{i}",
                        "debit_account_id": int(SystemAccount.ISSUANCE),
                        "credit_account_id": i,
                        "amount": bonus,
                        "code": "signup_bonus",
                        "reference": str(i),
                        "created_at": JOINED,
                    }
                    for i in ids
                ],
            )
            await conn.execute(
                insert(Lot).from_select(
                    ["account_id", "transfer_id", "amount", "remaining", "expires_at"],
                    select(
                        Transfer.credit_account_id,
                        Transfer.id,
                        Transfer.amount,
                        Transfer.amount,
                        literal(expires, UTCDateTime),
                    ).where(Transfer.code == "signup_bonus"),
                )
            )
            await conn.execute(
                insert(Operation),
                [
                    {
                        "key": f"join:{i}",
                        "kind": "join",
                        "fingerprint": fingerprint("join", {"member_id": i}),
                        "status": "ok",
                        "result": json.dumps(
                            {
                                "member_id": i,
                                "is_new": True,
                                "bonus": bonus,
                                "balance": bonus,
                                "invited_by": None,
                            }
                        ),
                        "created_at": JOINED,
                    }
                    for i in ids
                ],
            )
    finally:
        await db.dispose()


# --- The mall's side --------------------------------------------------------------------------


class Ours:
    """The three measured operations, through the mall."""

    def __init__(self, mall: Mall, members: int) -> None:
        self.mall = mall
        self.members = members

    async def checkin(self, index: int) -> None:
        member = member_of(index, self.members)
        now = T0 + timedelta(days=index // self.members)
        result = await self.mall.checkins.check_in(member, now)
        assert not result.already_checked_in, "each benchmark check-in must be a first"

    async def purchase(self, index: int) -> None:
        member = member_of(index, self.members)
        await self.mall.purchases.record_purchase(
            member, f"order-{index}", PURCHASE_MINOR, "grocery", T0 + timedelta(hours=1)
        )

    async def spend(self, index: int) -> None:
        member = member_of(index, self.members)
        now = T0 + timedelta(hours=2)
        held = await self.mall.holds.hold(
            member,
            SPEND_AMOUNT,
            key=f"spend-{index}",
            code="redeem",
            reference=f"item-{index % 100}",
            now=now,
        )
        await self.mall.holds.post(held.hold_id, key=f"spend-{index}-post", now=now)


@asynccontextmanager
async def counting(db: Database) -> AsyncIterator[list[int]]:
    """Count the round trips the engine makes: statements, and BEGIN/COMMIT where they are."""
    counter = [0]

    def on_statement(*_args: Any) -> None:
        counter[0] += 1

    def on_begin(*_args: Any) -> None:
        # SQLite: the begin hook itself executes BEGIN IMMEDIATE (counted as a statement);
        # asyncpg: BEGIN is its own round trip.
        if not db.is_sqlite:
            counter[0] += 1

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", on_statement),
        ("begin", on_begin),
        ("commit", on_statement),
        ("rollback", on_statement),
    ]
    # On SQLite the writer thread's engine runs the use cases: count on every engine.
    for engine in db.sync_engines:
        for name, hook in hooks:
            event.listen(engine, name, hook)
    try:
        yield counter
    finally:
        for engine in db.sync_engines:
            for name, hook in hooks:
                event.remove(engine, name, hook)


# --- The raw driver's side --------------------------------------------------------------------

# The statements the mall issues (read with echo=True), written for the raw driver with ``?``
# placeholders; PostgreSQL gets them renumbered to $1, $2, ... and the lock gets FOR UPDATE.
CLAIM = (
    "INSERT INTO operations (key, kind, fingerprint, status, created_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO NOTHING RETURNING key"
)
FINISH = "UPDATE operations SET status = ?, error_code = ?, result = ? WHERE key = ?"
LOCK = (
    "SELECT a.balance, a.frozen, m.tier FROM accounts a JOIN members m ON m.id = a.id"
    " WHERE a.id = ?"
)
# What a check-in and a purchase read with the member's lock (core.points.ledger.LockedRead): on
# SQLite in the lock read itself, on PostgreSQL in one read right after it.
CHECKIN_READS = (
    "(SELECT streak FROM checkins WHERE member_id = ? AND day = ?),"
    " (SELECT COALESCE(SUM(earned), 0) FROM member_days"
    " WHERE member_id = ? AND day >= ? AND day <= ?),"
    " EXISTS (SELECT 1 FROM referrals WHERE invitee_id = ? AND status = 'pending'),"
    " EXISTS (SELECT 1 FROM member_day_rules WHERE active AND applies_to = 'checkin'),"
    " EXISTS (SELECT 1 FROM tasks WHERE kind = 'challenge' AND metric = 'checkins' AND active)"
)
PURCHASE_READS = (
    "EXISTS (SELECT 1 FROM orders WHERE order_id = ?),"
    " (SELECT COALESCE(SUM(earned), 0) FROM member_days"
    " WHERE member_id = ? AND day >= ? AND day <= ?),"
    " EXISTS (SELECT 1 FROM referrals WHERE invitee_id = ? AND status = 'pending'),"
    " EXISTS (SELECT 1 FROM tasks WHERE kind = 'challenge' AND metric = 'shop' AND active)"
)
TRANSFER = (
    "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code, reference,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
CREDIT = "UPDATE accounts SET balance = balance + ? WHERE id = ? RETURNING balance"
DEBIT = (
    "UPDATE accounts SET balance = balance - ? WHERE id = ? AND balance >= ? AND NOT frozen"
    " RETURNING balance"
)
LOT = (
    "INSERT INTO lots (account_id, transfer_id, amount, remaining, expires_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
EARNED = (
    "INSERT INTO member_days (member_id, day, earned) VALUES (?, ?, ?)"
    " ON CONFLICT (member_id, day) DO UPDATE SET earned = member_days.earned + excluded.earned"
)
WINDOW = (
    "SELECT COALESCE(SUM(earned), 0) FROM member_days WHERE member_id = ? AND day >= ? AND day <= ?"
)
SET_TIER = "UPDATE members SET tier = ? WHERE id = ?"
CHECKIN = (
    "INSERT INTO checkins (member_id, day, streak, reward, makeup, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
ORDER = (
    "INSERT INTO orders (order_id, member_id, amount_minor, category, points, refunded_minor,"
    " points_reversed, points_unrecovered, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
DRAW = """
    INSERT INTO lot_draws (transfer_id, lot_id, amount)
    SELECT ?, id, CASE WHEN running <= ? THEN remaining ELSE remaining - (running - ?) END
    FROM (
        SELECT id, remaining,
               SUM(remaining) OVER (
                   ORDER BY expires_at IS NULL, expires_at, id ROWS UNBOUNDED PRECEDING
               ) AS running
        FROM lots
        WHERE account_id = ? AND remaining > 0
    ) AS ordered
    WHERE running - remaining < ?
"""
APPLY = (
    "UPDATE lots SET remaining = lots.remaining - lot_draws.amount FROM lot_draws"
    " WHERE lot_draws.transfer_id = ? AND lot_draws.lot_id = lots.id"
)
HOLD = (
    "INSERT INTO holds (account_id, destination_id, amount, status, code, reference,"
    " created_at, expires_at, hold_transfer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
LOCK_HOLDER = (
    "SELECT a.id, a.balance, h.status, h.destination_id, h.amount, h.hold_transfer_id, h.code,"
    " h.reference FROM accounts a JOIN holds h ON h.account_id = a.id WHERE h.id = ?"
)
SETTLE = "UPDATE holds SET status = ?, settle_transfer_id = ? WHERE id = ? AND status = 'pending'"


def numbered(sql: str) -> str:
    """``?`` placeholders to asyncpg's ``$1, $2, ...`` (no ``?`` appears in these literals)."""
    parts = sql.split("?")
    out = [parts[0]]
    for n, part in enumerate(parts[1:], start=1):
        out.append(f"${n}{part}")
    return "".join(out)


def sqlite_instant(value: datetime) -> str:
    """An instant the way SQLAlchemy stores it in SQLite: naive UTC text with microseconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class RawTx:
    """One transaction of the raw driver: ``one`` fetches a row, ``run`` executes."""

    async def one(self, sql: str, *args: Any) -> Any:
        raise NotImplementedError

    async def run(self, sql: str, *args: Any) -> None:
        raise NotImplementedError


class SqliteTx(RawTx):
    def __init__(self, conn: sqlite3.Connection, counter: list[int]) -> None:
        self.conn = conn
        self.counter = counter

    async def one(self, sql: str, *args: Any) -> Any:
        self.counter[0] += 1
        return self.conn.execute(sql, args).fetchone()

    async def run(self, sql: str, *args: Any) -> None:
        self.counter[0] += 1
        self.conn.execute(sql, args)


class PostgresTx(RawTx):
    def __init__(self, conn: Any, counter: list[int]) -> None:
        self.conn = conn
        self.counter = counter

    async def one(self, sql: str, *args: Any) -> Any:
        self.counter[0] += 1
        return await self.conn.fetchrow(_pg(sql), *args)

    async def run(self, sql: str, *args: Any) -> None:
        self.counter[0] += 1
        await self.conn.execute(_pg(sql), *args)


_PG_SQL: dict[str, str] = {}


def _pg(sql: str) -> str:
    converted = _PG_SQL.get(sql)
    if converted is None:
        converted = _PG_SQL[sql] = numbered(sql)
    return converted


class Raw:
    """The raw driver doing what the mall does, one transaction per use case."""

    lock_suffix = ""

    def __init__(self, config: Config, members: int) -> None:
        self.config = config
        self.members = members
        self.counter = [0]

    def instant(self, value: datetime) -> Any:
        raise NotImplementedError

    def day(self, value: date) -> Any:
        raise NotImplementedError

    def transaction(self) -> Any:  # an async context manager yielding a RawTx
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    # The three measured operations, with the same rules (core.points.rules: pure functions).

    async def checkin(self, index: int) -> None:
        member = member_of(index, self.members)
        now = T0 + timedelta(days=index // self.members)
        tz = self.config.mall.timezone
        day = rules.business_day(now, tz)
        key = f"checkin:{member}:{day.isoformat()}"
        digest = fingerprint("checkin", {"member_id": member, "day": day})
        async with self.transaction() as tx:
            await self._claim(tx, key, "checkin", digest, now)
            first = day - timedelta(days=self.config.tiers.window_days - 1)
            reads = (self.day(day - timedelta(days=1)), member, self.day(first), self.day(day))
            balance, frozen, tier_name, previous, earned, *flags = await self.locked_read(
                tx, member, CHECKIN_READS, member, *reads, member, member
            )
            if frozen or any(flags):
                raise RuntimeError("frozen member, invite, member day or challenge in the bench")
            streak = (previous or 0) + 1
            reward = rules.checkin_reward(streak, self.config.checkin)
            standing = rules.tier_for(int(earned), self.config.tiers), int(earned)
            balance, tier_name = await self._earn(
                tx, member, tier_name, reward, "checkin", day.isoformat(), key, now, standing
            )
            await tx.run(CHECKIN, member, self.day(day), streak, reward, False, self.instant(now))
            milestone = rules.next_milestone(streak, self.config.checkin)
            result = {
                "day": day.isoformat(),
                "streak": streak,
                "reward": reward,
                "capped": 0,
                "balance": balance,
                "next_milestone_streak": milestone.streak if milestone else None,
                "next_milestone_reward": milestone.reward if milestone else None,
                "next_open_at": rules.start_of_day(day + timedelta(days=1), tz).isoformat(),
                "already_checked_in": False,
            }
            await tx.run(FINISH, "ok", None, json.dumps(result), key)

    async def purchase(self, index: int) -> None:
        member = member_of(index, self.members)
        order_id = f"order-{index}"
        now = T0 + timedelta(hours=1)
        key = f"purchase:{order_id}"
        request = {
            "member_id": member,
            "order_id": order_id,
            "amount_minor": PURCHASE_MINOR,
            "category": "grocery",
        }
        digest = fingerprint("purchase", request)
        async with self.transaction() as tx:
            await self._claim(tx, key, "purchase", digest, now)
            day = rules.business_day(now, self.config.mall.timezone)
            first = day - timedelta(days=self.config.tiers.window_days - 1)
            balance, frozen, tier_name, recorded, earned, *flags = await self.locked_read(
                tx,
                member,
                PURCHASE_READS,
                order_id,
                member,
                self.day(first),
                self.day(day),
                member,
                member,
            )
            if frozen or recorded or any(flags):
                raise RuntimeError(
                    "frozen member, repeated order, invite or challenge in the bench"
                )
            standing = rules.tier_for(int(earned), self.config.tiers), int(earned)
            reckoned = rules.purchase_points(
                PURCHASE_MINOR, "grocery", standing[0], now, self.config.earning
            )
            balance, tier_name = await self._earn(
                tx, member, tier_name, reckoned.points, "purchase", order_id, key, now, standing
            )
            await tx.run(
                ORDER,
                order_id,
                member,
                PURCHASE_MINOR,
                "grocery",
                reckoned.points,
                0,
                0,
                0,
                self.instant(now),
            )
            result = {
                "order_id": order_id,
                "points": reckoned.points,
                "capped": 0,
                "base_points": str(reckoned.base),
                "category_multiplier": str(reckoned.category_multiplier),
                "tier_multiplier": str(reckoned.tier_multiplier),
                "promotion": reckoned.promotion,
                "promotion_multiplier": str(reckoned.promotion_multiplier),
                "balance": balance,
                "tier": tier_name,
            }
            await tx.run(FINISH, "ok", None, json.dumps(result), key)

    async def spend(self, index: int) -> None:
        member = member_of(index, self.members)
        now = T0 + timedelta(hours=2)
        key = f"spend-{index}"
        reference = f"item-{index % 100}"
        destination = int(SystemAccount.REDEMPTIONS)
        expires_at = now + timedelta(minutes=self.config.holds.timeout_minutes)
        request = {
            "member_id": member,
            "amount": SPEND_AMOUNT,
            "code": "redeem",
            "reference": reference,
            "destination": destination,
        }
        async with self.transaction() as tx:
            await self._claim(tx, key, "hold", fingerprint("hold", request), now)
            row = await tx.one(DEBIT, SPEND_AMOUNT, member, SPEND_AMOUNT)  # the member's lock
            if row is None:
                raise RuntimeError("insufficient points in the benchmark")
            balance = row[0]
            (transfer_id,) = await tx.one(
                TRANSFER,
                f"{key}#hold",
                member,
                int(SystemAccount.ESCROW),
                SPEND_AMOUNT,
                "hold",
                reference,
                self.instant(now),
            )
            await tx.run(DRAW, transfer_id, SPEND_AMOUNT, SPEND_AMOUNT, member, SPEND_AMOUNT)
            await tx.run(APPLY, transfer_id)
            (hold_id,) = await tx.one(
                HOLD,
                member,
                destination,
                SPEND_AMOUNT,
                "pending",
                "redeem",
                reference,
                self.instant(now),
                self.instant(expires_at),
                transfer_id,
            )
            result = {
                "hold_id": hold_id,
                "member_id": member,
                "amount": SPEND_AMOUNT,
                "status": "pending",
                "balance": balance,
                "expires_at": expires_at.isoformat(),
            }
            await tx.run(FINISH, "ok", None, json.dumps(result), key)
        post_key = f"spend-{index}-post"
        digest = fingerprint("hold_post", {"hold_id": hold_id})
        async with self.transaction() as tx:
            await self._claim(tx, post_key, "hold_post", digest, now)
            held = await tx.one(LOCK_HOLDER + self.lock_suffix, hold_id)
            owner, balance, status, dest, amount, _hold_transfer, code, ref = held
            if status != "pending":
                raise RuntimeError("hold already settled in the benchmark")
            (settle_id,) = await tx.one(
                TRANSFER,
                f"{post_key}#post",
                int(SystemAccount.ESCROW),
                dest,
                amount,
                code,
                ref,
                self.instant(now),
            )
            await tx.run(SETTLE, "posted", settle_id, hold_id)
            result = {
                "hold_id": hold_id,
                "member_id": owner,
                "amount": amount,
                "status": "posted",
                "balance": balance,
                "expires_at": None,
            }
            await tx.run(FINISH, "ok", None, json.dumps(result), post_key)

    async def locked_read(self, tx: RawTx, member: int, reads: str, *args: Any) -> Sequence[Any]:
        """core.points.ledger.LockedRead: the member's lock with ``reads`` (whose parameters are
        ``args`` but the last, the member), in one statement on SQLite, two on PostgreSQL."""
        if not self.lock_suffix:  # SQLite: the writer holds the database, one statement
            sql = (
                f"SELECT a.balance, a.frozen, m.tier, {reads}"
                " FROM accounts a JOIN members m ON m.id = a.id WHERE a.id = ?"
            )
            return tuple(await tx.one(sql, *args))
        locked = await tx.one(LOCK + self.lock_suffix, member)
        return (*locked, *(await tx.one(f"SELECT {reads}", *args[:-1])))

    async def _claim(self, tx: RawTx, key: str, kind: str, digest: str, now: datetime) -> None:
        claimed = await tx.one(CLAIM, key, kind, digest, "pending", self.instant(now))
        if claimed is None:
            raise RuntimeError(f"key {key} replayed in the benchmark")

    async def _earn(
        self,
        tx: RawTx,
        member: int,
        tier_name: str,
        amount: int,
        code: str,
        reference: str,
        key: str,
        now: datetime,
        standing: tuple[Tier, int] | None = None,
    ) -> tuple[int, str]:
        """core.points.earning.earn: the standing (tier by the window), credit_member, add_earned,
        and the tier that follows, in the order the mall issues them."""
        tz = self.config.mall.timezone
        day = rules.business_day(now, tz)
        tier, earned = standing or await self._standing(tx, member, day)
        expires_at = rules.lot_expiry(day, tier, self.config.expiry, tz)
        (transfer_id,) = await tx.one(
            TRANSFER,
            key,
            int(SystemAccount.ISSUANCE),
            member,
            amount,
            code,
            reference,
            self.instant(now),
        )
        (balance,) = await tx.one(CREDIT, amount, member)
        await tx.run(LOT, member, transfer_id, amount, amount, self.instant(expires_at))
        await tx.run(EARNED, member, self.day(day), amount)
        new_tier = rules.tier_for(earned + amount, self.config.tiers).name
        if new_tier != tier_name:
            await tx.run(SET_TIER, new_tier, member)
        return int(balance), new_tier

    async def _standing(self, tx: RawTx, member: int, day: date) -> tuple[Tier, int]:
        """core.points.earning.current_standing: the tier the points earned in the window give."""
        first = day - timedelta(days=self.config.tiers.window_days - 1)
        (earned,) = await tx.one(WINDOW, member, self.day(first), self.day(day))
        return rules.tier_for(int(earned), self.config.tiers), int(earned)


class RawSqlite(Raw):
    """sqlite3 on one connection in this thread, with the mall's pragmas; SQLite has one writer."""

    def __init__(self, path: str, config: Config, members: int) -> None:
        super().__init__(config, members)
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
        ):
            self.conn.execute(pragma)
        self.batch = 1  # use cases per transaction (see ``_batched``)
        self.in_batch = 0

    def instant(self, value: datetime) -> Any:
        return sqlite_instant(value)

    def day(self, value: date) -> Any:
        return value.isoformat()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[RawTx]:
        if self.batch > 1:
            async with self._batched() as tx:
                yield tx
            return
        self.counter[0] += 2  # BEGIN IMMEDIATE, COMMIT
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield SqliteTx(self.conn, self.counter)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @asynccontextmanager
    async def _batched(self) -> AsyncIterator[RawTx]:
        """As the mall's group commit does it: each use case in a savepoint of a transaction
        that is committed every ``batch`` use cases."""
        if not self.in_batch:
            self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("SAVEPOINT batch")
        try:
            yield SqliteTx(self.conn, self.counter)
        except BaseException:
            self.conn.execute("ROLLBACK TO SAVEPOINT batch")
            self.conn.execute("RELEASE SAVEPOINT batch")
            self._one_more()
            raise
        self.conn.execute("RELEASE SAVEPOINT batch")
        self._one_more()

    def _one_more(self) -> None:
        self.in_batch += 1
        if self.in_batch >= self.batch:
            self.flush()

    def flush(self) -> None:
        """Commit the batch under way, if any."""
        if self.in_batch:
            self.conn.execute("COMMIT")
            self.in_batch = 0

    async def close(self) -> None:
        self.flush()
        self.conn.close()


class RawPostgres(Raw):
    """asyncpg with a pool as large as the concurrency; statements are prepared and cached."""

    lock_suffix = " FOR UPDATE OF a"

    def __init__(self, pool: Any, config: Config, members: int) -> None:
        super().__init__(config, members)
        self.pool = pool

    @classmethod
    async def open(cls, dsn: str, concurrency: int, config: Config, members: int) -> RawPostgres:
        pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
        return cls(pool, config, members)

    def instant(self, value: datetime) -> Any:
        return value.astimezone(UTC).replace(tzinfo=None)

    def day(self, value: date) -> Any:
        return value

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[RawTx]:
        self.counter[0] += 2  # BEGIN, COMMIT
        async with self.pool.acquire() as conn, conn.transaction():
            yield PostgresTx(conn, self.counter)

    async def close(self) -> None:
        await self.pool.close()


# --- Throughput -------------------------------------------------------------------------------

KINDS = ("checkin", "purchase", "spend")
LABELS = {
    "checkin": "check-in",
    "purchase": "purchase credit",
    "spend": "spend (hold+post)",
}


@dataclass
class KindResult:
    ours: Measurement
    raw: Measurement
    # SQLite's group commit: the mall's mean use cases per transaction in the measured run,
    # and the raw driver batching its transactions the same way (None: not measured).
    batch: float | None = None
    raw_batched: Measurement | None = None


async def measure_throughput(
    ours_target: Target, raw_target: Target, args: argparse.Namespace, config: Config
) -> tuple[dict[str, KindResult], dict[str, bool]]:
    members = args.members
    warmup = max(1, min(200, args.ops // 10))
    db = Database.from_url(ours_target.url, pool_size=args.concurrency)
    ours = Ours(Mall.build(db, config), members)
    raw: Raw
    if raw_target.backend == "sqlite":
        raw = RawSqlite(raw_target.raw, config, members)
        raw_concurrency = 1  # sqlite3 is synchronous: one thread, one writer
    else:
        raw = await RawPostgres.open(raw_target.raw, args.concurrency, config, members)
        raw_concurrency = args.concurrency
    results: dict[str, KindResult] = {}
    extra_start = warmup + args.ops + 1  # the raw driver's batched run: after the counted op
    try:
        for kind in KINDS:
            ours_op: Op = getattr(ours, kind)
            raw_op: Op = getattr(raw, kind)
            # Warm both up (statement caches, pools), unmeasured; then alternate measured runs.
            await closed_loop(ours_op, 0, warmup, args.concurrency)
            await closed_loop(raw_op, 0, warmup, raw_concurrency)
            log(f"{ours_target.backend}: {LABELS[kind]}: mall, {args.ops} ops")
            batches = _writer_counts(db)
            mine = await closed_loop(ours_op, warmup, args.ops, args.concurrency)
            batch = _mean_batch(batches, _writer_counts(db))
            log(f"{ours_target.backend}: {LABELS[kind]}: raw driver, {args.ops} ops")
            theirs = await closed_loop(raw_op, warmup, args.ops, raw_concurrency)
            raw_batched = None
            if isinstance(raw, RawSqlite) and batch is not None and batch > 1:
                # The mall committed several use cases at once: the raw driver does too, with
                # the same mean batch, on operations of its own (after the counted one below).
                log(f"sqlite: {LABELS[kind]}: raw driver, batches of {batch:.1f}, {args.ops} ops")
                raw.batch = max(1, round(batch))
                raw_batched = await closed_loop(raw_op, extra_start, args.ops, raw_concurrency)
                raw.flush()
                raw.batch = 1
            # Round trips of one more operation each.
            extra = warmup + args.ops
            async with counting(db) as counter:
                await ours_op(extra)
            mine.statements = counter[0]
            before = raw.counter[0]
            await raw_op(extra)
            theirs.statements = raw.counter[0] - before
            # The raw side issues the mall's statements minus SAVEPOINT/RELEASE (one pair per
            # use case that keeps its refusals: not a check-in's); anything else means the core
            # changed and the baseline must follow.
            pairs = {"checkin": 0, "purchase": 1, "spend": 2}[kind]
            if mine.statements - theirs.statements != 2 * pairs:
                log(
                    f"WARNING: {LABELS[kind]}: the mall made {mine.statements} round trips, the"
                    f" raw baseline {theirs.statements}: update the baseline to mirror the core"
                )
            results[kind] = KindResult(mine, theirs, batch, raw_batched)
    finally:
        await raw.close()
        await db.dispose()
    clean = {}
    for label, target in (("mall", ours_target), ("raw", raw_target)):
        check_db = Database.from_url(target.url)
        try:
            report = await Mall.build(check_db, config).check()
        finally:
            await check_db.dispose()
        clean[label] = report.ok
        if not report.ok:
            log(f"{target.backend} {label}: ledger check FAILED: {report.violations}")
    return results, clean


def _writer_counts(db: Database) -> tuple[int, int] | None:
    """SQLite's writer thread: (transactions, use cases) so far; None where there is none."""
    writer = getattr(db, "writer", None)
    if writer is None or not hasattr(writer, "batches"):
        return None
    return writer.batches, writer.jobs


def _mean_batch(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[0] == before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])


# --- Expiry -----------------------------------------------------------------------------------

EXPIRY_CANDIDATES = (
    "SELECT account_id FROM lots WHERE remaining > 0 AND account_id > ? AND expires_at <= ?"
    " GROUP BY account_id ORDER BY account_id LIMIT ?"
)


def _in(ids: Sequence[int]) -> str:
    return "(" + ", ".join("?" * len(ids)) + ")"


def expiry_statements(ids: Sequence[int]) -> dict[str, str]:
    """core.points.expiry's statements for one batch, with the id list expanded the way SQLAlchemy
    does."""
    where = f"account_id IN {_in(ids)} AND remaining > 0 AND expires_at <= ?"
    return {
        "lock": f"SELECT id FROM accounts WHERE id IN {_in(ids)} ORDER BY id FOR UPDATE",
        "total": f"SELECT COUNT(*), COALESCE(SUM(remaining), 0) FROM lots WHERE {where}",
        "transfers": (
            "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code,"
            " reference, created_at) SELECT 'expiry:' || CAST(account_id AS VARCHAR(20)) || ':'"
            f" || ?, account_id, ?, SUM(remaining), 'expiry', ?, ? FROM lots WHERE {where}"
            " GROUP BY account_id"
        ),
        "balances": (
            "UPDATE accounts SET balance = balance - COALESCE((SELECT SUM(remaining) FROM lots"
            " WHERE lots.account_id = accounts.id AND remaining > 0 AND expires_at <= ?), 0)"
            f" WHERE id IN {_in(ids)}"
        ),
        "lots": f"UPDATE lots SET remaining = 0 WHERE {where}",
    }


def raw_expire_sqlite(path: str, now: datetime, batch: int = 2000) -> tuple[int, int, int]:
    """core.points.expiry.expire_lots, statement for statement, through sqlite3."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    at, stamp, run = sqlite_instant(now), now.isoformat(), uuid.uuid4().hex
    expiry = int(SystemAccount.EXPIRY)
    members = lots = points = 0
    after = 0
    try:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            ids = [r[0] for r in conn.execute(EXPIRY_CANDIDATES, (after, at, batch))]
            if not ids:
                conn.execute("COMMIT")
                break
            sql = expiry_statements(ids)
            count, total = conn.execute(sql["total"], (*ids, at)).fetchone()
            conn.execute(sql["transfers"], (run, expiry, stamp, at, *ids, at))
            conn.execute(sql["balances"], (at, *ids))
            conn.execute(sql["lots"], (*ids, at))
            conn.execute("COMMIT")
            members, lots, points, after = members + len(ids), lots + count, points + total, ids[-1]
    finally:
        conn.close()
    return members, lots, points


async def raw_expire_postgres(dsn: str, now: datetime, batch: int = 2000) -> tuple[int, int, int]:
    """core.points.expiry.expire_lots, statement for statement, through asyncpg."""
    conn = await asyncpg.connect(dsn)
    at, stamp, run = now.astimezone(UTC).replace(tzinfo=None), now.isoformat(), uuid.uuid4().hex
    expiry = int(SystemAccount.EXPIRY)
    members = lots = points = 0
    after = 0
    try:
        while True:
            async with conn.transaction():
                rows = await conn.fetch(_pg(EXPIRY_CANDIDATES), after, at, batch)
                ids = [r[0] for r in rows]
                if not ids:
                    break
                sql = {k: numbered(v) for k, v in expiry_statements(ids).items()}
                await conn.execute(sql["lock"], *ids)
                row = await conn.fetchrow(sql["total"], *ids, at)
                count, total = int(row[0]), int(row[1])
                await conn.execute(sql["transfers"], run, expiry, stamp, at, *ids, at)
                await conn.execute(sql["balances"], at, *ids)
                await conn.execute(sql["lots"], *ids, at)
            members, lots, points, after = members + len(ids), lots + count, points + total, ids[-1]
    finally:
        await conn.close()
    return members, lots, points


async def _warm_connection(target: Target) -> None:
    """Open and close one connection, so that driver set-up is not counted as expiry memory."""
    if target.backend == "sqlite":
        sqlite3.connect(target.raw).execute("SELECT 1").close()
    else:
        conn = await asyncpg.connect(target.raw)
        await conn.close()


def resident_now() -> int:
    """The resident set of this process now, in bytes (Linux); else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class ResidentSampler(threading.Thread):
    """Samples the resident set every few milliseconds until ``finish``; keeps the peak."""

    def __init__(self, interval: float = 0.005) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.before = resident_now()
        self.peak = self.before
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.peak = max(self.peak, resident_now())

    def finish(self) -> None:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, resident_now())


def expiry_child(mode: str, backend: str, url: str, raw: str, now_text: str) -> None:
    """Run one expiry in this (fresh) process and print what it took as one JSON line."""
    now = datetime.fromisoformat(now_text)
    target = Target(backend, url, raw)

    async def run() -> dict[str, Any]:
        db = Database.from_url(url) if mode == "mall" else None
        try:
            if db is not None:
                async with db.read() as conn:  # the engine, its pool and one connection
                    await conn.execute(select(literal(1)))
            else:
                await _warm_connection(target)
            gc.collect()
            maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB
            sampler = ResidentSampler()
            sampler.start()
            tracemalloc.start()
            began = time.perf_counter()
            if db is not None:
                report = await Mall.build(db, bench_config()).expire(now)
                done = (report.members, report.lots, report.points)
            elif backend == "sqlite":
                done = raw_expire_sqlite(raw, now)
            else:
                done = await raw_expire_postgres(raw, now)
            seconds = time.perf_counter() - began
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            sampler.finish()
            maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        finally:
            if db is not None:
                await db.dispose()
        return {
            "members": done[0],
            "lots": done[1],
            "points": done[2],
            "seconds": seconds,
            "traced_peak": peak,
            "rss_growth": max(0, sampler.peak - sampler.before),
            "maxrss_growth": maxrss_after - maxrss_before,
            "rss_peak": maxrss_after,
        }

    print(json.dumps(asyncio.run(run())), flush=True)


@dataclass
class ExpiryRun:
    members: int
    lots: int
    points: int
    seconds: float
    traced_peak: int
    rss_growth: int  # sampled resident set: peak during the run minus just before
    maxrss_growth: int  # how much the run raised getrusage's ru_maxrss
    rss_peak: int  # ru_maxrss after the run

    @property
    def rate(self) -> float:
        return self.lots / self.seconds if self.seconds else 0.0


def run_expiry_child(mode: str, target: Target, now: datetime) -> ExpiryRun:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--expiry-child",
        mode,
        target.backend,
        target.url,
        target.raw,
        now.isoformat(),
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the expiry child failed: {shlex.join(command)}")
    return ExpiryRun(**json.loads(done.stdout.strip().splitlines()[-1]))


async def load_expired_lots(target: Target, count: int, members: int, tag: str) -> None:
    """Bulk-load ``count`` lots past their expiry, one issuance transfer each, spread over the
    members, and raise the members' balances to match (set-based SQL; not measured)."""
    before_expiry = sqlite_instant(T0) if target.backend == "sqlite" else None
    earned_at = T0 - timedelta(days=400)
    if target.backend == "sqlite":
        conn = sqlite3.connect(target.raw, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            (last,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM transfers").fetchone()
            conn.execute(
                "WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq"
                " WHERE n + 1 < ?)"
                " INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code,"
                " reference, created_at)"
                " SELECT 'bench-lot:' || ? || ':' || n, ?, ? + n % ?, 1 + n % 5, 'purchase',"
                " 'bench-lot', ? FROM seq",
                (
                    count,
                    tag,
                    int(SystemAccount.ISSUANCE),
                    FIRST_MEMBER,
                    members,
                    sqlite_instant(earned_at),
                ),
            )
            conn.execute(
                "INSERT INTO lots (account_id, transfer_id, amount, remaining, expires_at)"
                " SELECT credit_account_id, id, amount, amount,"
                " datetime(?, '-' || (id % ?) || ' days') || '.000000'"
                " FROM transfers WHERE id > ?",
                (before_expiry, LOT_DAYS, last),
            )
            conn.execute(
                "UPDATE accounts SET balance = balance + (SELECT COALESCE(SUM(amount), 0)"
                " FROM transfers WHERE credit_account_id = accounts.id AND id > ?)"
                " WHERE kind = 'member'",
                (last,),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(target.raw)
    try:
        async with pg.transaction():
            # Setup only: skip the per-row foreign-key triggers (every id below exists by
            # construction); the constraints, indexes and CHECKs still apply.
            await pg.execute("SET LOCAL session_replication_role = replica")
            last = await pg.fetchval("SELECT COALESCE(MAX(id), 0) FROM transfers")
            await pg.execute(
                "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code,"
                " reference, created_at)"
                " SELECT 'bench-lot:' || $1 || ':' || n, $2, $3 + n % $4, 1 + n % 5, 'purchase',"
                " 'bench-lot', $5 FROM generate_series(0, $6 - 1) AS n",
                tag,
                int(SystemAccount.ISSUANCE),
                FIRST_MEMBER,
                members,
                earned_at.astimezone(UTC).replace(tzinfo=None),
                count,
            )
            await pg.execute(
                "INSERT INTO lots (account_id, transfer_id, amount, remaining, expires_at)"
                " SELECT credit_account_id, id, amount, amount,"
                " $1::timestamp - (id % $2) * interval '1 day' FROM transfers WHERE id > $3",
                T0.astimezone(UTC).replace(tzinfo=None),
                LOT_DAYS,
                last,
            )
            await pg.execute(
                "UPDATE accounts AS a SET balance = a.balance + s.total"
                " FROM (SELECT credit_account_id AS id, SUM(amount) AS total FROM transfers"
                " WHERE id > $1 GROUP BY credit_account_id) AS s WHERE a.id = s.id",
                last,
            )
        await pg.execute("ANALYZE")  # what autovacuum would do after a load this size
    finally:
        await pg.close()


@dataclass
class ExpiryResult:
    lots: int
    ours: ExpiryRun
    raw: ExpiryRun


def copy_sqlite(source: Target, name: str) -> Target:
    """A copy of a SQLite database beside it, made with the backup API (consistent in WAL)."""
    path = Path(source.raw).with_name(f"{name}.db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    src, dst = sqlite3.connect(source.raw), sqlite3.connect(path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return Target("sqlite", f"sqlite+aiosqlite:///{path}", str(path))


async def clone(source: Target, name: str) -> Target:
    """A copy of ``source`` (file backup / CREATE DATABASE ... TEMPLATE), replacing ``name``."""
    if source.backend == "sqlite":
        return copy_sqlite(source, name)
    template = make_url(source.url).database
    return await recreate_postgres(source.url, name, template=template)


async def measure_expiry(
    ours_target: Target, args: argparse.Namespace, config: Config
) -> tuple[list[ExpiryResult], dict[str, bool], Target | None]:
    """Load expired lots into the mall's database, copy it, and expire one copy through the
    mall and the other through the raw driver: both expire exactly the same rows."""
    sizes = [max(1, args.expiry_lots // 10), args.expiry_lots]
    results = []
    copy: Target | None = None
    copy_name = "expiry"
    if ours_target.backend == "postgres":
        copy_name = f"{make_url(ours_target.url).database}_expiry"
    for run, count in enumerate(sizes):
        now = T0 + timedelta(days=5 + run)  # a later instant each run: a new expiry stamp
        log(f"{ours_target.backend}: loading {count:,} expired lots")
        await load_expired_lots(ours_target, count, args.members, f"r{run}")
        log(f"{ours_target.backend}: copying the database for the raw driver")
        copy = await clone(ours_target, copy_name)
        done: dict[str, ExpiryRun] = {}
        for mode, target in (("mall", ours_target), ("raw", copy)):
            log(f"{target.backend}: expiring {count:,} lots ({mode}, child process)")
            done[mode] = run_expiry_child(mode, target, now)
            if done[mode].lots != count:
                log(f"{target.backend} {mode}: expired {done[mode].lots} lots, loaded {count}")
        results.append(ExpiryResult(count, done["mall"], done["raw"]))
    clean = {}
    assert copy is not None
    for label, target in (("mall", ours_target), ("raw", copy)):
        log(f"{target.backend}: ledger check ({label})")
        check_db = Database.from_url(target.url)
        try:
            report = await Mall.build(check_db, config).check()
        finally:
            await check_db.dispose()
        clean[label] = report.ok
        if not report.ok:
            log(f"{target.backend} {label}: ledger check FAILED: {report.violations}")
    return results, clean, copy


# --- Report -----------------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_throughput(rows: list[list[str]]) -> None:
    """The throughput table both benchmarks print: the mall beside the raw driver."""
    print(
        "Throughput and latency: the mall beside the raw driver issuing the same statements,"
        " one transaction per use case"
    )
    print(
        table(
            [
                "operation",
                "ops/s",
                "raw ops/s",
                "ours/raw",
                "p50 ms",
                "raw p50",
                "p99 ms",
                "raw p99",
                "CPU ms/op",
                "raw CPU",
                "round trips",
            ],
            rows,
        )
    )


def ratio(ours: float, raw: float) -> str:
    return f"{ours / raw:.2f}" if raw else "-"


def mib(value: int) -> str:
    return f"{value / 2**20:.1f}"


def throughput_rows(backend: str, results: dict[str, KindResult]) -> list[list[str]]:
    rows = []
    for kind in KINDS:
        r = results[kind]
        rows.append(
            [
                f"{backend} {LABELS[kind]}",
                f"{r.ours.rate:,.0f}",
                f"{r.raw.rate:,.0f}",
                ratio(r.ours.rate, r.raw.rate),
                f"{r.ours.percentile_ms(0.5):.1f}",
                f"{r.raw.percentile_ms(0.5):.1f}",
                f"{r.ours.percentile_ms(0.99):.1f}",
                f"{r.raw.percentile_ms(0.99):.1f}",
                f"{r.ours.cpu_ms:.2f}",
                f"{r.raw.cpu_ms:.2f}",
                f"{r.ours.statements}/{r.raw.statements}",
            ]
        )
    return rows


def batched_rows(backend: str, results: dict[str, KindResult]) -> list[list[str]]:
    """The mall beside the raw driver committing as many use cases at once as it did."""
    rows = []
    for kind in KINDS:
        r = results[kind]
        if r.raw_batched is None or r.batch is None:
            continue
        rows.append(
            [
                f"{backend} {LABELS[kind]}",
                f"{r.batch:.1f}",
                f"{r.ours.rate:,.0f}",
                f"{r.raw_batched.rate:,.0f}",
                ratio(r.ours.rate, r.raw_batched.rate),
                f"{r.ours.cpu_ms:.2f}",
                f"{r.raw_batched.cpu_ms:.2f}",
            ]
        )
    return rows


AIM = 0.5
"""Issue 14's aim: the mall at half the raw driver's rate or better."""


def aim_lines(backend: str, results: dict[str, KindResult]) -> list[str]:
    """Issue 14's aim for each operation, judged against the stronger raw baseline of the run:
    on SQLite the raw driver batching its commits as the mall's writer did (unless it came out
    slower than one transaction per use case); the ratio per use case stated beside it."""
    lines = []
    for kind in KINDS:
        r = results[kind]
        per_case = r.ours.rate / r.raw.rate if r.raw.rate else 0.0
        label = f"{backend} {LABELS[kind]}"
        if r.raw_batched is None or r.batch is None or r.raw_batched.rate < r.raw.rate:
            why = "no group commit" if r.raw_batched is None else "batched raw was slower"
            lines.append(
                f"{label}: {per_case:.2f} of raw per use case: {verdict(per_case)} ({why})"
            )
            continue
        against = r.ours.rate / r.raw_batched.rate if r.raw_batched.rate else 0.0
        lines.append(
            f"{label}: {against:.2f} of raw batched ({r.batch:.1f} use cases per commit):"
            f" {verdict(against)}; {per_case:.2f} of raw per use case: {verdict(per_case)}"
        )
    return lines


def verdict(value: float) -> str:
    """Issue 14's aim against a ratio: "met" or "not met" (bench/mall.py says it the same way)."""
    return "met" if value >= AIM else "not met"


def expiry_rows(backend: str, results: list[ExpiryResult]) -> list[list[str]]:
    rows = []
    for r in results:
        rows.append(
            [
                f"{backend} {r.lots:,} lots",
                f"{r.ours.seconds:.1f}",
                f"{r.raw.seconds:.1f}",
                f"{r.ours.rate:,.0f}",
                f"{r.raw.rate:,.0f}",
                ratio(r.ours.rate, r.raw.rate),
                mib(r.ours.traced_peak),
                mib(r.raw.traced_peak),
                mib(r.ours.rss_growth),
                mib(r.raw.rss_growth),
                mib(r.ours.maxrss_growth),
                mib(r.raw.maxrss_growth),
            ]
        )
    return rows


def memory_line(backend: str, results: list[ExpiryResult]) -> str:
    """The mall's expiry memory at each size, side by side."""
    parts = [
        f"{r.lots:,} lots: traced peak {mib(r.ours.traced_peak)} MiB,"
        f" RSS +{mib(r.ours.rss_growth)} MiB, ru_maxrss +{mib(r.ours.maxrss_growth)} MiB"
        f" (process peak {mib(r.ours.rss_peak)} MiB)"
        for r in results
    ]
    return f"{backend}: " + "  |  ".join(parts)


async def server_version(target: Target) -> str:
    conn = await asyncpg.connect(target.raw)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def bench_backend(
    backend: str, args: argparse.Namespace, config: Config, workdir: Path
) -> tuple[dict[str, KindResult], dict[str, bool], list[ExpiryResult], dict[str, bool], str]:
    if backend == "sqlite":
        ours_path, raw_path = workdir / "mall.db", workdir / "raw.db"
        ours = Target("sqlite", f"sqlite+aiosqlite:///{ours_path}", str(ours_path))
        raw = Target("sqlite", f"sqlite+aiosqlite:///{raw_path}", str(raw_path))
        version = sqlite3.sqlite_version
    else:
        name = make_url(args.postgres_url).database or "pointsmall_bench"
        ours = await recreate_postgres(args.postgres_url, name)
        raw = await recreate_postgres(args.postgres_url, f"{name}_raw")
        version = await server_version(ours)
    log(f"{backend}: migrating and joining {args.members:,} members (twice: mall, raw)")
    await prepare(ours, config, args.members)
    await prepare(raw, config, args.members)
    results, clean = await measure_throughput(ours, raw, args, config)
    expiry: list[ExpiryResult] = []
    expiry_clean: dict[str, bool] = {}
    copy: Target | None = None
    if not args.skip_expiry:
        expiry, expiry_clean, copy = await measure_expiry(ours, args, config)
    if backend == "postgres" and not args.keep:
        for target in (ours, raw, copy):
            if target is not None:
                await drop_postgres(args.postgres_url, make_url(target.url).database or "")
    return results, clean, expiry, expiry_clean, version


async def main(args: argparse.Namespace) -> None:
    config = bench_config()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    throughput: list[list[str]] = []
    batched: list[list[str]] = []
    aims: list[str] = []
    expiry: list[list[str]] = []
    checks: list[str] = []
    memory: list[str] = []
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="pointsmall-bench-") as tmp:
        for backend in backends:
            results, clean, exp, exp_clean, version = await bench_backend(
                backend, args, config, Path(tmp)
            )
            versions[backend] = version
            throughput += throughput_rows(backend, results)
            batched += batched_rows(backend, results)
            aims += aim_lines(backend, results)
            expiry += expiry_rows(backend, exp)
            if exp:
                memory.append(memory_line(backend, exp))
            words = {True: "clean", False: "VIOLATIONS"}
            checks.append(
                f"{backend}: after the operations: mall {words[clean['mall']]},"
                f" raw {words[clean['raw']]}"
                + (
                    f"; after expiry: mall {words[exp_clean['mall']]},"
                    f" raw {words[exp_clean['raw']]}"
                    if exp_clean
                    else ""
                )
            )

    warmup = max(1, min(200, args.ops // 10))
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()},"
        f" Python {platform.python_version()}"
        + (f", SQLite {versions['sqlite']}" if "sqlite" in versions else "")
        + (f", PostgreSQL {versions['postgres']}" if "postgres" in versions else "")
    )
    print(
        f"{args.members:,} members; {args.ops:,} measured operations of each kind after"
        f" {warmup} unmeasured warm-up ones. Mall: {args.concurrency} concurrent asyncio"
        f" workers. Raw: sqlite3 in one thread (SQLite has one writer), asyncpg with"
        f" {args.concurrency} workers on a pool of {args.concurrency}."
    )
    print()
    print_throughput(throughput)
    print(
        "ours/raw: the mall's rate as a fraction of the raw driver's. CPU ms/op: CPU time of"
        " this process (all threads) per operation. Round trips: statements plus BEGIN/COMMIT"
        " of one operation, mall/raw. A spend is a hold and its post: two use cases."
    )
    if batched:
        print()
        print(
            "SQLite's writer commits the use cases queued together in one transaction (group"
            " commit). The same run beside the raw driver committing as many at once, each in a"
            " savepoint: the stronger baseline, which issue 14's aim is judged against:"
        )
        print(
            table(
                [
                    "operation",
                    "mean batch",
                    "ops/s",
                    "raw batched ops/s",
                    "ours/raw batched",
                    "CPU ms/op",
                    "raw batched CPU",
                ],
                batched,
            )
        )
    print()
    print(
        f"Issue 14's aim: the mall at >= {AIM} of the raw driver, against the stronger raw"
        " baseline of this run:"
    )
    for line in aims:
        print(f"  {line}")
    if expiry:
        print()
        print(
            f"Expiry: mall.expire(now) beside the raw driver running the same batched SQL;"
            f" {args.members:,} members, each run in a fresh child process"
        )
        print(
            table(
                [
                    "run",
                    "seconds",
                    "raw s",
                    "lots/s",
                    "raw lots/s",
                    "ours/raw",
                    "traced MiB",
                    "raw traced",
                    "RSS+ MiB",
                    "raw RSS+",
                    "maxrss+ MiB",
                    "raw maxrss+",
                ],
                expiry,
            )
        )
        print(
            "traced: tracemalloc peak during the run. RSS+: resident set sampled every 5 ms,"
            " peak during the run minus just before it. maxrss+: how much the run raised"
            " getrusage's ru_maxrss (0: it never went above the peak start-up reached)."
            " The raw baseline expires a copy of the mall's database (same rows)."
        )
        print("Memory of mall.expire, 1/10 of the lots beside all of them:")
        for line in memory:
            print(f"  {line}")
    print()
    print("Ledger check (mall.check())")
    for line in checks:
        print(f"  {line}")
    print()
    print("command: " + shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--ops", type=int, default=1_000, help="measured operations of each kind (default 1000)"
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="the server and the name of the database to (re)create; NAME_raw is created too",
    )
    parser.add_argument("--expiry-lots", type=int, default=1_000_000)
    parser.add_argument("--skip-expiry", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    parser.add_argument("--expiry-child", nargs=5, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.expiry_child:
        expiry_child(*arguments.expiry_child)
    else:
        asyncio.run(main(arguments))
