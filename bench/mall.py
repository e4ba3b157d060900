"""Mall operations: redemptions racing for a few units, and blind-box draws, beside the raw driver.

Run from the repository root::

    .venv/bin/python bench/mall.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/mall.py --backend sqlite --rounds 1 --ops 300     # a quick look

For each backend it builds two fresh, migrated databases with the same members, items and box:
one driven through the mall (``core``), one through the raw driver (sqlite3 / asyncpg) issuing
the statements the mall issues, one transaction per use case (read with
``Database.from_url(url, echo=True)``). It measures, in each of ``--rounds`` rounds on a fresh
item of ``--units`` units:

- the sell-out: ``--concurrency`` workers, each member showing the item (``offer``) and
  redeeming it (``redeem``: a completed redemption, stock taken), until the item is sold out
  (every worker stops at its first ``sold_out``); exactly ``--units`` must succeed;
- ``--extra`` late taps: members press Redeem on a confirmation shown before the sell-out;
  every one must be refused ``sold_out`` (by ``redeem``, which records the refusal);
- ``--extra`` new offers: members open the item after the sell-out; every one must be refused
  ``sold_out`` (by ``offer``, a read);

then, as a control, as many redemptions spread over one item per worker (no hot row), and
``--ops`` blind-box draws by random members (points prizes, and a rare points jackpot with
its own stock), each member with a client seed set beforehand, the same on both sides, so that
both draw the same prizes. ``mall.check()`` must pass on both databases afterwards.

On SQLite the mall's writer thread commits the use cases queued together in one transaction
(group commit), so a raw baseline committing once per use case is not the strongest: a third
database is driven by the raw driver batching its commits the same way. For each operation the
mall's mean batch (use cases per commit) is read from the writer's counters (``batches``,
``jobs``) around its run; the raw driver then runs the same operations on its own database with
each use case in a savepoint of a transaction committed every that many use cases (rounded),
the commit of the last, partial batch timed with the run. The sell-out batches per round like
the rest: each round's run starts and ends with no transaction open, and the stock is taken by
a conditional update, so exactly ``--units`` still succeed; the batched side's reads (offers)
go to a connection of their own and see what is committed, as the mall's do, so its worker may
be told ``sold_out`` by ``redeem`` rather than by ``offer``, as the mall's workers are. A new
offer is a read: the writer commits nothing for it and it has no batched figure. Issue 14's
aim (>= 0.5 of raw) is judged on SQLite against the batched raw driver, the stronger baseline
(against one transaction per use case where that came out faster in a run; the other ratio is
printed beside it); on PostgreSQL, which has no group commit,
against one transaction per use case. Every side's correctness lines must hold.

Nothing here talks to anything but 127.0.0.1 (PostgreSQL) and a temporary directory (SQLite).
Progress goes to stderr; the tables go to stdout. Speed is reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shlex
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for _path in (str(ROOT), str(BENCH)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from ledger import (  # noqa: E402  (bench/ledger.py: the shared helpers)
    AIM,
    APPLY,
    CLAIM,
    CREDIT,
    DEBIT,
    FINISH,
    FIRST_MEMBER,
    LOCK,
    LOT,
    T0,
    TRANSFER,
    Measurement,
    PostgresTx,
    RawPostgres,
    RawSqlite,
    RawTx,
    SqliteTx,
    Target,
    _mean_batch,
    _pg,
    _writer_counts,
    closed_loop,
    counting,
    drop_postgres,
    log,
    member_of,
    prepare,
    ratio,
    recreate_postgres,
    server_version,
    table,
    verdict,
)
from ledger import DRAW as LOT_DRAW  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from core.config import Config, parse_config  # noqa: E402
from core.db.database import Database  # noqa: E402
from core.db.models import ClientSeed  # noqa: E402
from core.errors import SoldOut  # noqa: E402
from core.games import box_draws  # noqa: E402
from core.games.blind_boxes import BlindBoxes  # noqa: E402
from core.games.box_authoring import PrizeSpec  # noqa: E402
from core.games.box_odds import PrizeRow  # noqa: E402
from core.mall import Mall  # noqa: E402
from core.points import rules  # noqa: E402
from core.points.accounts import SystemAccount  # noqa: E402
from core.points.idempotency import fingerprint  # noqa: E402
from core.rewards.catalog import ItemSpec  # noqa: E402
from core.rewards.eligibility import SOLD_OUT, ItemRecord, MemberState, blocked_reason  # noqa: E402
from core.rewards.redemptions import issue_token, read_token  # noqa: E402

# The mall's default rules on the Asia/Shanghai calendar; members join with 1,000 points, enough
# for every redemption and draw a member makes here.
CONFIG_TOML = """
[mall]
timezone = "Asia/Shanghai"

[members]
signup_bonus = 1000
"""

NOW = T0  # every measured operation happens at this instant (10:00 in Shanghai)
SETUP_AT = T0 - timedelta(hours=1)  # items and the box are set up before it
ITEM_PRICE = 50
BOX_PRICE = 10
PITY_AFTER = 10
JACKPOT_STOCK = 25
BOX_SEED = "5eed" * 16  # the box's server seed: the same on both databases, so the same draws
PRIZES = [
    PrizeSpec("5 points", "points", 60, points=5),
    PrizeSpec("20 points", "points", 38, points=20),
    PrizeSpec("Jackpot", "points", 2, points=200, stock=JACKPOT_STOCK, rare=True),
]
# the operations row core.rewards.redemptions keeps its token key in
SECRET_KEY = "secret:confirm-tokens"
WARM_REDEMPTIONS = 50
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/pointsmall_bench_mall"

# What one attempt got.
OK, SOLD_AT_OFFER, SOLD_AT_REDEEM = "ok", "sold_out (offer)", "sold_out (redeem)"


def bench_config() -> Config:
    return parse_config(CONFIG_TOML, environ={}, source="bench/mall.py")


def millis(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def read_json(value: Any) -> dict[str, str]:
    """A JSON column's texts by language, as either raw driver reads it back."""
    return dict(json.loads(value) if isinstance(value, str) else value or {})


def read_instant(value: Any) -> datetime:
    """An instant as the raw driver reads it back: SQLite's text, or asyncpg's naive UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# --- The two sides ----------------------------------------------------------------------------


class Side:
    """The use cases one side (the mall, or the raw driver) runs; the measured attempts are
    built from ``offer`` and ``redeem``."""

    def __init__(self, members: int, draw_members: Sequence[int]) -> None:
        self.members = members
        self.draw_members = draw_members
        self.prizes: Counter[str] = Counter()

    async def offer(self, member: int, item_id: int) -> str | None:
        """The confirm token of the item's confirmation; None when the item is sold out."""
        raise NotImplementedError

    async def redeem(self, member: int, token: str) -> str:
        """Redeem with the token: OK or SOLD_AT_REDEEM."""
        raise NotImplementedError

    async def draw(self, index: int) -> None:
        raise NotImplementedError

    async def attempt(self, index: int, item_id: int) -> str:
        """A member shows the item and redeems it."""
        member = member_of(index, self.members)
        token = await self.offer(member, item_id)
        if token is None:
            return SOLD_AT_OFFER
        return await self.redeem(member, token)


class Ours(Side):
    """Through the mall."""

    def __init__(self, mall: Mall, members: int, box_id: int, draw_members: Sequence[int]) -> None:
        super().__init__(members, draw_members)
        self.mall = mall
        self.box_id = box_id

    async def offer(self, member: int, item_id: int) -> str | None:
        try:
            return (await self.mall.redemptions.offer(member, item_id, NOW)).token
        except SoldOut:
            return None

    async def redeem(self, member: int, token: str) -> str:
        try:
            result = await self.mall.redemptions.redeem(member, token, NOW)
        except SoldOut:
            return SOLD_AT_REDEEM
        assert result.redemption.status == "completed", result
        assert not result.replayed
        return OK

    async def draw(self, index: int) -> None:
        member = self.draw_members[index]
        result = await self.mall.boxes.open(member, self.box_id, f"draw-{index}", NOW)
        self.prizes[result.prize_name] += 1


# The statements the mall issues for these use cases (echo=True), for the raw driver, with ``?``
# placeholders (renumbered for asyncpg by bench/ledger.py's _pg). CLAIM, FINISH, LOCK, TRANSFER,
# DEBIT, CREDIT, LOT, LOT_DRAW, APPLY and WINDOW are bench/ledger.py's.
ITEM = (
    "SELECT id, sku, title, description, titles, descriptions, photo, category, kind,"
    " price_points, cash_minor, stock, active, listed, starts_at, ends_at, min_tier, limit_count,"
    " limit_period, approval_threshold, created_at, updated_at FROM items WHERE id = ?"
)
ITEM_FIELDS = (
    "item_id", "sku", "title", "description", "titles", "descriptions", "photo", "category",
    "kind", "price_points", "cash_minor", "stock", "active", "listed", "starts_at", "ends_at",
    "min_tier", "limit_count", "limit_period", "approval_threshold", "created_at", "updated_at",
)  # fmt: skip
REJECT = "UPDATE operations SET status = ?, error_code = ?, result = ? WHERE key = ?"
TAKE_STOCK = "UPDATE items SET stock = stock - ? WHERE id = ? AND stock IS NOT NULL AND stock >= ?"
UNLIMITED = "SELECT id FROM items WHERE id = ? AND stock IS NULL"
REDEMPTION = (
    "INSERT INTO redemptions (member_id, item_id, flash_sale_id, confirm_token, status, points,"
    " cash_minor, hold_id, transfer_id, coupon_code_id, address, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
# What a redemption reads with the member's lock (core.rewards.redemptions._REDEEM_READ).
REDEEM_READS = (
    "EXISTS (SELECT 1 FROM referrals WHERE invitee_id = ? AND status = 'pending'),"
    " (EXISTS (SELECT 1 FROM tasks WHERE kind = 'challenge' AND metric = 'redeem' AND active)"
    " OR EXISTS (SELECT 1 FROM tasks WHERE kind = 'challenge' AND metric = 'spend' AND active))"
)
BOX = (
    "SELECT sku, title, description, price_points, pity_after, daily_cap, active, titles,"
    " descriptions FROM blind_boxes WHERE id = ?"
)
PRIZE_ROWS = (
    "SELECT box_prizes.id, box_prizes.name, box_prizes.kind, box_prizes.points,"
    " box_prizes.item_id, box_prizes.weight, box_prizes.stock, box_prizes.rare, items.title,"
    " items.price_points, items.stock AS item_stock, items.active,"
    " EXISTS (SELECT * FROM coupon_codes WHERE coupon_codes.item_id = box_prizes.item_id"
    " AND coupon_codes.taken_at IS NULL) AS has_code, box_prizes.names, items.titles"
    " FROM box_prizes LEFT OUTER JOIN items ON items.id = box_prizes.item_id"
    " WHERE box_prizes.box_id = ? ORDER BY box_prizes.id"
)
# What a draw reads with the member's lock (core.games.blind_boxes._DRAW_READ): spent on the box
# today, the member's counters on it, their client seed, the tier window, a spend challenge.
DRAW_READS = (
    "(SELECT COALESCE(SUM(price_points), 0) FROM box_draws"
    " WHERE box_id = ? AND member_id = ? AND created_at >= ? AND created_at < ?),"
    " (SELECT draws FROM box_streaks WHERE box_id = ? AND member_id = ?),"
    " (SELECT since_rare FROM box_streaks WHERE box_id = ? AND member_id = ?),"
    " (SELECT client_seed FROM client_seeds WHERE member_id = ?),"
    " (SELECT COALESCE(SUM(earned), 0) FROM member_days"
    " WHERE member_id = ? AND day >= ? AND day <= ?),"
    " EXISTS (SELECT 1 FROM tasks WHERE kind = 'challenge' AND metric = 'spend' AND active)"
)
SEED = (
    "SELECT version, seed, seed_hash, created_at FROM box_seeds"
    " WHERE box_id = ? AND revealed_at IS NULL ORDER BY version DESC LIMIT ?"
)
PUT_CLIENT_SEED = (
    "INSERT INTO client_seeds (member_id, client_seed, chosen, updated_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (member_id) DO UPDATE SET client_seed = excluded.client_seed,"
    " chosen = excluded.chosen, updated_at = excluded.updated_at"
)
TAKE_PRIZE = "UPDATE box_prizes SET stock = stock - 1 WHERE id = ? AND stock >= 1"
COUNT_DRAW = (
    "INSERT INTO box_streaks (box_id, member_id, draws, since_rare) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (box_id, member_id) DO UPDATE SET draws = box_streaks.draws + excluded.draws,"
    " since_rare = excluded.since_rare RETURNING draws"
)
BOX_DRAW = (
    "INSERT INTO box_draws (box_id, member_id, draw_number, seed_version, formula, client_seed,"
    " prize_id, price_points, points_won, by_guarantee, coupon_code_id, redemption_id,"
    " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


async def fetch_all(tx: RawTx, sql: str, *args: Any) -> list[Any]:
    """Every row of a query, on either raw driver (ledger's RawTx fetches one)."""
    if isinstance(tx, SqliteTx):
        tx.counter[0] += 1
        return tx.conn.execute(sql, args).fetchall()
    assert isinstance(tx, PostgresTx)
    tx.counter[0] += 1
    return list(await tx.conn.fetch(_pg(sql), *args))


async def rowcount(tx: RawTx, sql: str, *args: Any) -> int:
    """The rows an UPDATE changed, on either raw driver."""
    if isinstance(tx, SqliteTx):
        tx.counter[0] += 1
        return int(tx.conn.execute(sql, args).rowcount)
    assert isinstance(tx, PostgresTx)
    tx.counter[0] += 1
    status = await tx.conn.execute(_pg(sql), *args)
    return int(status.rsplit(" ", 1)[-1])


class Driver(Protocol):
    """bench/ledger.py's raw driver, with read transactions."""

    counter: list[int]
    lock_suffix: str
    share_suffix: str

    def instant(self, value: datetime) -> Any: ...

    def day(self, value: date) -> Any: ...

    def transaction(self) -> Any: ...

    def read(self) -> Any: ...

    async def locked_read(
        self, tx: RawTx, member: int, reads: str, *args: Any
    ) -> Sequence[Any]: ...

    async def close(self) -> None: ...


class SqliteDriver(RawSqlite):
    share_suffix = ""

    def __init__(
        self, path: str, config: Config, members: int, *, reads_apart: bool = False
    ) -> None:
        super().__init__(path, config, members)
        # Batched (``batch`` > 1), a write transaction stays open between use cases: reads then
        # go to a connection of their own, as the mall's do (they see what is committed).
        self.reader = self.conn
        if reads_apart:
            self.reader = sqlite3.connect(path, isolation_level=None, timeout=30)
            self.reader.execute("PRAGMA busy_timeout=30000")
            self.reader.execute("PRAGMA foreign_keys=ON")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[RawTx]:
        """A read transaction as the mall opens one on SQLite: BEGIN (deferred) ... COMMIT."""
        self.counter[0] += 2
        self.reader.execute("BEGIN")
        try:
            yield SqliteTx(self.reader, self.counter)
        finally:
            self.reader.execute("COMMIT")

    async def close(self) -> None:
        await super().close()
        if self.reader is not self.conn:
            self.reader.close()


class PostgresDriver(RawPostgres):
    share_suffix = " FOR SHARE"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[RawTx]:
        self.counter[0] += 2  # BEGIN, COMMIT
        async with self.pool.acquire() as conn, conn.transaction():
            yield PostgresTx(conn, self.counter)


class _LostTheLastUnit(Exception):
    """The conditional stock update found no unit left (a race at the end of the sell-out)."""


class RawSide(Side):
    """The raw driver doing what the mall does, statement for statement, one transaction per
    use case; the same pure functions (tokens, eligibility, the draw, lot expiry) decide."""

    def __init__(
        self,
        driver: Driver,
        config: Config,
        members: int,
        box_id: int,
        key: bytes,
        draw_members: Sequence[int],
    ) -> None:
        super().__init__(members, draw_members)
        self.d = driver
        self.config = config
        self.box_id = box_id
        self.key = key

    @staticmethod
    def _item(row: Sequence[Any]) -> ItemRecord:
        values = dict(zip(ITEM_FIELDS, row, strict=True))
        for name in ("starts_at", "ends_at"):
            if values[name] is not None:
                values[name] = read_instant(values[name])
        values["created_at"] = read_instant(values["created_at"])
        values["updated_at"] = read_instant(values["updated_at"])
        values["active"] = bool(values["active"])
        values["listed"] = bool(values["listed"])
        for name in ("titles", "descriptions"):
            values[name] = read_json(values[name])
        return ItemRecord(**values)

    def _blocked(self, item: ItemRecord, balance: int, frozen: Any, tier: str, member: int) -> Any:
        state = MemberState(member, int(balance), bool(frozen), tier)
        return blocked_reason(
            item=item,
            sale=None,
            member=state,
            points=item.price_points,
            used=0,  # no limit on the benchmark's items: the mall issues no query for it
            left=item.stock,
            now=NOW,
            tiers=self.config.tiers,
        )

    async def _claim(self, tx: RawTx, key: str, kind: str, digest: str) -> None:
        claimed = await tx.one(CLAIM, key, kind, digest, "pending", self.d.instant(NOW))
        if claimed is None:
            raise RuntimeError(f"key {key} replayed in the benchmark")

    async def offer(self, member: int, item_id: int) -> str | None:
        async with self.d.read() as tx:
            balance, frozen, tier = await tx.one(LOCK, member)  # read_member: no lock
            item = self._item(await tx.one(ITEM, item_id))
        reason = self._blocked(item, balance, frozen, tier, member)
        if reason == SOLD_OUT:
            return None
        if reason is not None:
            raise RuntimeError(f"offer refused in the benchmark: {reason}")
        return issue_token(self.key, member, item_id, None, NOW)

    async def redeem(self, member: int, token: str) -> str:
        claims = read_token(self.key, member, token)
        key = f"redeem:{token}"
        digest = fingerprint("redeem", {"member_id": member, "token": token, "address": None})
        sold_out = json.dumps({"item_id": claims.item_id})
        try:
            async with self.d.transaction() as tx:
                await self._claim(tx, key, "redeem", digest)
                item = self._item(await tx.one(ITEM, claims.item_id))
                if item.kind == "physical":  # an address is needed
                    raise RuntimeError("the benchmark's items are virtual")
                if millis(item.updated_at) > millis(claims.issued_at):
                    raise RuntimeError("the item changed during the benchmark")
                if item.stock is not None and item.stock <= 0:  # refused before any lock
                    await tx.run(REJECT, "rejected", "sold_out", sold_out, key)
                    return SOLD_AT_REDEEM
                balance, frozen, tier, invited, challenges = await self.d.locked_read(
                    tx, member, REDEEM_READS, member, member
                )
                if invited or challenges:
                    raise RuntimeError("the benchmark's members have no invites, no challenges")
                reason = self._blocked(item, balance, frozen, tier, member)
                if reason is not None:
                    raise RuntimeError(f"redemption refused in the benchmark: {reason}")
                points = item.price_points
                row = await tx.one(DEBIT, points, member, points)
                if row is None:
                    raise RuntimeError("insufficient points in the benchmark")
                balance = int(row[0])
                (transfer_id,) = await tx.one(
                    TRANSFER,
                    key,
                    member,
                    int(SystemAccount.REDEMPTIONS),
                    points,
                    "redemption",
                    item.sku,
                    self.d.instant(NOW),
                )
                await tx.run(LOT_DRAW, transfer_id, points, points, member, points)
                await tx.run(APPLY, transfer_id)
                if not await rowcount(tx, TAKE_STOCK, 1, item.item_id, 1):  # the hot row, last
                    await tx.one(UNLIMITED, item.item_id)
                    raise _LostTheLastUnit
                at = self.d.instant(NOW)
                (redemption_id,) = await tx.one(
                    REDEMPTION,
                    member,
                    item.item_id,
                    None,
                    token,
                    "completed",
                    points,
                    0,
                    None,
                    transfer_id,
                    None,
                    None,
                    at,
                    at,
                )
                # core.rewards.redemptions answers with what it wrote, as the view would read it
                # back.
                result = {
                    "redemption": {
                        "redemption_id": redemption_id,
                        "member_id": member,
                        "item_id": item.item_id,
                        "sku": item.sku,
                        "title": item.title,
                        "kind": item.kind,
                        "status": "completed",
                        "points": points,
                        "cash_minor": 0,
                        "flash_sale_id": None,
                        "coupon_code": None,
                        "address": None,
                        "note": None,
                        "payment_charge_id": None,
                        "wait_ends_at": None,
                        "created_at": NOW.isoformat(),
                        "updated_at": NOW.isoformat(),
                        "fulfilled_at": None,
                        "received_at": None,
                        "delivered_at": None,
                        "paid_stars": None,
                        "titles": dict(item.titles),
                    },
                    "balance": balance,
                    "replayed": False,
                }
                await tx.run(FINISH, "ok", None, json.dumps(result), key)
            return OK
        except _LostTheLastUnit:
            # The mall rolls back to its savepoint; without one, the raw side starts over.
            async with self.d.transaction() as tx:
                await self._claim(tx, key, "redeem", digest)
                await tx.run(REJECT, "rejected", "sold_out", sold_out, key)
            return SOLD_AT_REDEEM

    async def draw(self, index: int) -> None:
        member = self.draw_members[index]
        box_id, config, d = self.box_id, self.config, self.d
        key = f"box:draw-{index}"
        digest = fingerprint("box_open", {"member_id": member, "box_id": box_id})
        tz = config.mall.timezone
        today = rules.business_day(NOW, tz)
        async with d.transaction() as tx:
            await self._claim(tx, key, "box_open", digest)
            _sku, _title, _text, price, pity_after, _cap, active, *_texts = await tx.one(
                BOX, box_id
            )
            prizes = self._prizes(await fetch_all(tx, PRIZE_ROWS, box_id))
            if not active or not any(p.available for p in prizes):
                raise RuntimeError("the benchmark's box closed or ran out")
            start = d.instant(rules.start_of_day(today, tz))
            end = d.instant(rules.start_of_day(today + timedelta(days=1), tz))
            first = today - timedelta(days=config.tiers.window_days - 1)
            window = (member, d.day(first), d.day(today))
            (
                _balance,
                frozen,
                _tier,
                spent,
                draws,
                since_rare,
                client_seed,
                earned,
                challenges,
            ) = await d.locked_read(
                tx,
                member,
                DRAW_READS,
                *(box_id, member, start, end, box_id, member, box_id, member, member),
                *window,
                member,
            )
            if frozen or challenges:
                raise RuntimeError("frozen member, or a challenge, in the benchmark")
            draw_number, since_rare = int(draws or 0) + 1, int(since_rare or 0)
            reference = f"box:{box_id}:{draw_number}"
            row = await tx.one(DEBIT, price, member, price)
            if row is None:
                raise RuntimeError("insufficient points in the benchmark")
            (transfer_id,) = await tx.one(
                TRANSFER,
                key,
                member,
                int(SystemAccount.BOX_POOL),
                price,
                "box_draw",
                reference,
                d.instant(NOW),
            )
            await tx.run(LOT_DRAW, transfer_id, price, price, member, price)
            await tx.run(APPLY, transfer_id)
            version, seed, seed_hash, _created = await tx.one(SEED + d.share_suffix, box_id, 1)
            if client_seed is None:
                client_seed = box_draws.new_client_seed()
                await tx.run(PUT_CLIENT_SEED, member, client_seed, False, d.instant(NOW))
            message = box_draws.draw_message(
                box_draws.CLIENT_SEED_FORMULA,
                member_id=member,
                draw_number=draw_number,
                client_seed=client_seed,
            )
            value = box_draws.hmac_value(seed, message)
            gone: set[int] = set()
            while True:  # core.games.blind_boxes._draw: a prize just used up leaves, draw again
                if gone:
                    prizes = self._prizes(await fetch_all(tx, PRIZE_ROWS, box_id))
                live = [p for p in prizes if p.available and p.prize_id not in gone]
                choice = box_draws.choose(
                    value, [p.candidate() for p in live], since_rare, pity_after
                )
                prize = next(p for p in live if p.prize_id == choice.prize_id)
                if prize.kind != "points":
                    raise RuntimeError("the benchmark's box has points prizes only")
                if prize.stock is None or await rowcount(tx, TAKE_PRIZE, prize.prize_id):
                    break
                gone.add(prize.prize_id)
            points_won = prize.points or 0
            tier = rules.tier_for(int(earned), config.tiers)
            expires_at = rules.lot_expiry(today, tier, config.expiry, tz)
            (prize_transfer,) = await tx.one(
                TRANSFER,
                f"{key}#prize",
                int(SystemAccount.BOX_POOL),
                member,
                points_won,
                "box_prize",
                reference,
                d.instant(NOW),
            )
            (balance,) = await tx.one(CREDIT, points_won, member)
            await tx.run(LOT, member, prize_transfer, points_won, points_won, d.instant(expires_at))
            since_rare = 0 if prize.rare else since_rare + 1
            (counted,) = await tx.one(COUNT_DRAW, box_id, member, 1, since_rare)
            assert counted == draw_number
            (draw_id,) = await tx.one(
                BOX_DRAW,
                box_id,
                member,
                draw_number,
                version,
                box_draws.CLIENT_SEED_FORMULA,
                client_seed,
                prize.prize_id,
                price,
                points_won,
                choice.by_guarantee,
                None,
                None,
                d.instant(NOW),
            )
            result = {
                "draw_id": draw_id,
                "box_id": box_id,
                "member_id": member,
                "draw_number": draw_number,
                "seed_version": version,
                "seed_hash": seed_hash,
                "value": value,
                "pool": [{"prize_id": p, "weight": w} for p, w in choice.pool],
                "prize_id": prize.prize_id,
                "prize_name": prize.name,
                "prize_kind": prize.kind,
                "rare": prize.rare,
                "points_won": points_won,
                "item_id": None,
                "item_title": None,
                "coupon_code": None,
                "redemption_id": None,
                "by_guarantee": choice.by_guarantee,
                "guarantee_missed": choice.guarantee_missed,
                "price_points": price,
                "balance": int(balance),
                "since_rare": since_rare,
                "draws_until_guarantee": box_draws.draws_until_guarantee(since_rare, pity_after),
                "spent_today": int(spent) + price,
                "formula": box_draws.CLIENT_SEED_FORMULA,
                "client_seed": client_seed,
                "prize_names": {},
                "item_titles": {},
                "replayed": False,
            }
            await tx.run(FINISH, "ok", None, json.dumps(result), key)
        self.prizes[prize.name] += 1

    @staticmethod
    def _prizes(rows: Sequence[Sequence[Any]]) -> list[PrizeRow]:
        """The prize rows as core.games.box_odds reads them, so availability is decided the same."""
        return [
            PrizeRow(
                prize_id=int(r[0]),
                name=r[1],
                kind=r[2],
                points=None if r[3] is None else int(r[3]),
                item_id=None if r[4] is None else int(r[4]),
                weight=int(r[5]),
                stock=None if r[6] is None else int(r[6]),
                rare=bool(r[7]),
                item_title=r[8],
                item_price=None if r[9] is None else int(r[9]),
                item_stock=None if r[10] is None else int(r[10]),
                item_active=bool(r[11]),
                has_code=bool(r[12]),
            )
            for r in rows
        ]


# --- Setup ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shelf:
    """What the benchmark sells: one item per round, a warm-up item, the box; the token key."""

    rush: tuple[int, ...]
    spread: tuple[int, ...]
    warm: int
    box: int
    key: bytes


async def stock_shelf(target: Target, config: Config, args: argparse.Namespace) -> Shelf:
    """Create the items and the box through the mall (not measured); the same on both sides."""
    db = Database.from_url(target.url)
    try:
        mall = Mall.build(db, config)

        async def item(sku: str, title: str, stock: int) -> int:
            spec = ItemSpec(
                sku=sku,
                title=title,
                category="Gifts",
                kind="virtual",
                price_points=ITEM_PRICE,
                stock=stock,
            )
            return (await mall.catalog.upsert_item(spec, SETUP_AT)).item_id

        rush = [
            await item(f"rush-{n}", f"Limited gift {n}", args.units)
            for n in range(1, args.rounds + 1)
        ]
        spread = [
            await item(f"spread-{n}", f"Everyday gift {n}", args.units * args.rounds)
            for n in range(1, args.concurrency + 1)
        ]
        warm = await item("warm-up", "Warm-up gift", WARM_REDEMPTIONS + 10)
        boxes = BlindBoxes(db, config, seed_source=lambda: BOX_SEED)
        box = await boxes.create_box(
            "bench-box", "Bench box", BOX_PRICE, PRIZES, SETUP_AT, pity_after=PITY_AFTER
        )
        # Every member has set a client seed, the same on both sides, so that both draw the
        # same prizes (a seed the mall made would be random) and make the same statements.
        async with db.engine.begin() as conn:
            await conn.execute(
                insert(ClientSeed),
                [
                    {
                        "member_id": member,
                        "client_seed": f"bench-{member}",
                        "chosen": True,
                        "updated_at": SETUP_AT,
                    }
                    for member in range(FIRST_MEMBER, FIRST_MEMBER + args.members)
                ],
            )
        await mall.redemptions.offer(FIRST_MEMBER, warm, SETUP_AT)  # creates the token key
        async with db.read() as conn:
            stored = (
                await conn.execute(
                    text("SELECT result FROM operations WHERE key = :k"), {"k": SECRET_KEY}
                )
            ).scalar_one()
        key = bytes.fromhex(json.loads(stored))
        return Shelf(tuple(rush), tuple(spread), warm, box.box_id, key)
    finally:
        await db.dispose()


# --- Measuring --------------------------------------------------------------------------------


def merged(runs: Sequence[Measurement]) -> Measurement:
    """Several runs of one kind as one: operations, seconds and CPU add up."""
    return Measurement(
        ops=sum(r.ops for r in runs),
        seconds=sum(r.seconds for r in runs),
        latencies=[x for r in runs for x in r.latencies],
        cpu=sum(r.cpu for r in runs),
    )


@dataclass
class SellOut:
    """One sell-out: the successful attempts (timed), and how the stopped workers were refused."""

    ok: Measurement
    refused: list[str]


async def sell_out(side: Side, item_id: int, start: int, concurrency: int, units: int) -> SellOut:
    """``concurrency`` workers attempt (offer, redeem) for members ``start``, ``start + 1``, ...
    until each has been refused ``sold_out`` once."""
    next_index = start
    latencies: list[float] = []
    refused: list[str] = []
    limit = start + units + 10 * concurrency + 10

    async def worker() -> None:
        nonlocal next_index
        while True:
            index = next_index
            next_index += 1
            if index >= limit:
                raise RuntimeError(f"item {item_id} never sold out ({units} units)")
            began = time.perf_counter()
            outcome = await side.attempt(index, item_id)
            if outcome != OK:
                refused.append(outcome)
                return
            latencies.append(time.perf_counter() - began)

    cpu = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - began
    ok = Measurement(len(latencies), seconds, latencies, time.process_time() - cpu)
    return SellOut(ok, refused)


KINDS = ("redeem", "spread", "late", "offer", "draw")
LABELS = {
    "redeem": "redeem until sold out",
    "spread": "redeem, no hot row",
    "late": "sold out: late Redeem tap",
    "offer": "sold out: new offer",
    "draw": "blind-box draw",
}
# The mall's round trips minus the raw side's, per use case: its SAVEPOINT/RELEASE pair around
# the work of a write use case (a read use case has none).
SAVEPOINT_PAIRS = {"redeem": 1, "spread": 1, "late": 1, "offer": 0, "draw": 1}


@dataclass
class SideResult:
    measured: dict[str, Measurement] = field(default_factory=dict)
    round_trips: dict[str, int] = field(default_factory=dict)
    successes: list[int] = field(default_factory=list)  # per round
    refused: Counter[str] = field(default_factory=Counter)  # every sold-out answer, by where
    stock_left: list[int] = field(default_factory=list)  # per rush item, after the run
    redemptions: list[int] = field(default_factory=list)  # completed, per rush item
    draws: int = 0
    prizes: Counter[str] = field(default_factory=Counter)
    clean: bool = False
    # The mall's only: use cases per commit of SQLite's writer over each kind's measured runs
    # (None: no writer, or nothing written, as for an offer).
    batch: dict[str, float | None] = field(default_factory=dict)


@dataclass
class BackendResult:
    backend: str
    version: str
    sides: dict[str, SideResult]


async def round_trips(db: Database | None, driver: Driver | None, op: Any) -> int:
    """Round trips of one operation: SQLAlchemy's events for the mall, the counter for raw."""
    if db is not None:
        async with counting(db) as counter:
            await op()
        return counter[0]
    assert driver is not None
    before = driver.counter[0]
    await op()
    return driver.counter[0] - before


T = TypeVar("T")
BATCHED = "raw batched"  # SQLite's third side: the raw driver committing as the mall's writer did


async def measure(
    ours_target: Target,
    raw_target: Target,
    args: argparse.Namespace,
    config: Config,
    batched_target: Target | None = None,
) -> dict[str, SideResult]:
    members, concurrency = args.members, args.concurrency
    shelf = await stock_shelf(ours_target, config, args)
    raw_shelf = await stock_shelf(raw_target, config, args)
    assert replace(shelf, key=b"") == replace(raw_shelf, key=b""), "the same ids on both sides"
    batched_shelf = None
    if batched_target is not None:
        batched_shelf = await stock_shelf(batched_target, config, args)
        assert replace(shelf, key=b"") == replace(batched_shelf, key=b""), "the same ids"
    warm_draws = max(1, min(100, args.ops // 10))
    rng = random.Random(20261123)
    draw_members = [FIRST_MEMBER + rng.randrange(members) for _ in range(warm_draws + args.ops + 1)]

    db = Database.from_url(ours_target.url, pool_size=concurrency)
    ours = Ours(Mall.build(db, config), members, shelf.box, draw_members)
    driver: Driver
    if raw_target.backend == "sqlite":
        driver = SqliteDriver(raw_target.raw, config, members)
        raw_concurrency = 1  # sqlite3 is synchronous: one thread, one writer
    else:
        pool_owner = await PostgresDriver.open(raw_target.raw, concurrency, config, members)
        assert isinstance(pool_owner, PostgresDriver)
        driver = pool_owner
        raw_concurrency = concurrency
    raw = RawSide(driver, config, members, shelf.box, raw_shelf.key, draw_members)
    sides: dict[str, tuple[Side, int]] = {
        "mall": (ours, concurrency),
        "raw": (raw, raw_concurrency),
    }
    drivers: dict[str, Driver] = {"raw": driver}
    batched_driver: SqliteDriver | None = None
    if batched_target is not None and batched_shelf is not None:
        batched_driver = SqliteDriver(batched_target.raw, config, members, reads_apart=True)
        drivers[BATCHED] = batched_driver
        sides[BATCHED] = (
            RawSide(batched_driver, config, members, shelf.box, batched_shelf.key, draw_members),
            1,
        )
    results = {name: SideResult() for name in sides}
    runs: dict[str, dict[str, list[Measurement]]] = {
        name: {kind: [] for kind in KINDS} for name in sides
    }
    # The mall's writer over each kind's measured runs: [transactions, use cases].
    writer_totals = {kind: [0, 0] for kind in KINDS}
    last_batch: dict[str, float | None] = {}  # the mall's mean batch in its last run of a kind

    async def run_kind(name: str, kind: str, work: Awaitable[T]) -> T:
        """One measured run (``work``, not started yet) of ``kind`` by side ``name``. The
        mall's: its writer's counters read around it. The batched raw side's: in batches of the
        mall's mean batch in its run of the same kind just before (rounded), the commit of the
        last batch timed with the run (the mall answers nobody before its commit)."""
        if name == "mall":
            before = _writer_counts(db)
            out = await work
            after = _writer_counts(db)
            last_batch[kind] = _mean_batch(before, after)
            if before is not None and after is not None:
                writer_totals[kind][0] += after[0] - before[0]
                writer_totals[kind][1] += after[1] - before[1]
            return out
        if name != BATCHED or batched_driver is None:
            return await work
        batch = last_batch.get(kind)
        batched_driver.batch = max(1, round(batch)) if batch is not None else 1
        try:
            out = await work
            cpu, began = time.process_time(), time.perf_counter()
            batched_driver.flush()
            measured = out.ok if isinstance(out, SellOut) else out
            assert isinstance(measured, Measurement)
            measured.seconds += time.perf_counter() - began
            measured.cpu += time.process_time() - cpu
        finally:
            batched_driver.flush()
            batched_driver.batch = 1
        return out

    backend = ours_target.backend
    # Members by index (member_of): each round's sell-out, late taps and new offers get members
    # of their own; the warm-up ones come after all rounds.
    stride = args.units + concurrency + 10 + 2 * args.extra + 1
    warm_start = stride * args.rounds
    try:
        for name, (side, workers) in sides.items():
            log(f"{backend}: warming up ({name})")

            async def warm_redeem(index: int, side: Side = side) -> None:
                assert await side.attempt(index, shelf.warm) == OK

            await closed_loop(warm_redeem, warm_start, WARM_REDEMPTIONS, workers)
            await closed_loop(side.draw, 0, warm_draws, workers)

        late_tokens: dict[str, dict[int, str]] = {name: {} for name in sides}
        for number, item_id in enumerate(shelf.rush):
            base = number * stride
            late_start = base + args.units + concurrency + 10
            offer_start = late_start + args.extra + 1
            for name, (side, workers) in sides.items():
                tokens = late_tokens[name]
                # Confirmations shown before the sell-out, tapped after it (one spare for the
                # round-trip count).
                for index in range(late_start, late_start + args.extra + 1):
                    token = await side.offer(member_of(index, members), item_id)
                    assert token is not None
                    tokens[index] = token
                log(f"{backend}: round {number + 1}: selling out {args.units} units ({name})")
                run = await run_kind(
                    name, "redeem", sell_out(side, item_id, base, workers, args.units)
                )
                runs[name]["redeem"].append(run.ok)
                results[name].successes.append(run.ok.ops)
                results[name].refused.update(run.refused)

                refused = results[name].refused

                async def late_tap(
                    index: int, side: Side = side, tokens: Any = tokens, refused: Any = refused
                ) -> None:
                    outcome = await side.redeem(member_of(index, members), tokens[index])
                    refused[outcome] += 1
                    assert outcome == SOLD_AT_REDEEM, outcome

                async def new_offer(
                    index: int, side: Side = side, item_id: int = item_id, refused: Any = refused
                ) -> None:
                    token = await side.offer(member_of(index, members), item_id)
                    assert token is None, "an offer after the sell-out"
                    refused[SOLD_AT_OFFER] += 1

                log(f"{backend}: round {number + 1}: {args.extra} late taps, new offers ({name})")
                runs[name]["late"].append(
                    await run_kind(
                        name, "late", closed_loop(late_tap, late_start, args.extra, workers)
                    )
                )
                runs[name]["offer"].append(
                    await run_kind(
                        name,
                        "offer",
                        closed_loop(new_offer, offer_start, args.extra, workers),
                    )
                )

        # The control: as many redemptions as the sell-outs made, spread over one item per
        # worker with stock to spare, so that no row is hot.
        spread = args.units * args.rounds
        spread_start = warm_start + WARM_REDEMPTIONS + 2
        for name, (side, workers) in sides.items():
            log(f"{backend}: {spread} redemptions over {len(shelf.spread)} items ({name})")

            async def spread_redeem(index: int, side: Side = side) -> None:
                item_id = shelf.spread[index % len(shelf.spread)]
                assert await side.attempt(index, item_id) == OK

            runs[name]["spread"].append(
                await run_kind(
                    name,
                    "spread",
                    closed_loop(spread_redeem, spread_start, spread, workers),
                )
            )

        for name, (side, workers) in sides.items():
            log(f"{backend}: {args.ops} blind-box draws ({name})")
            side.prizes.clear()
            runs[name]["draw"].append(
                await run_kind(name, "draw", closed_loop(side.draw, warm_draws, args.ops, workers))
            )
            results[name].prizes = Counter(side.prizes)

        # Round trips of one more operation of each kind (the batched side's, one use case per
        # transaction as the raw side's: the probe is one use case).
        last = shelf.rush[-1]
        spare = (args.rounds - 1) * stride + args.units + concurrency + 10 + args.extra
        probe = warm_start + WARM_REDEMPTIONS
        for name, (side, _workers) in sides.items():
            engine = db if side is ours else None
            raw_driver = drivers.get(name)
            trips = results[name].round_trips

            async def redeem_probe(side: Side = side) -> None:
                assert await side.attempt(probe, shelf.warm) == OK

            async def late_probe(side: Side = side, name: str = name) -> None:
                member = member_of(spare, members)
                assert await side.redeem(member, late_tokens[name][spare]) == SOLD_AT_REDEEM

            async def offer_probe(side: Side = side) -> None:
                assert await side.offer(member_of(probe + 1, members), last) is None

            async def draw_probe(side: Side = side) -> None:
                await side.draw(warm_draws + args.ops)

            for kind, op in (
                ("redeem", redeem_probe),
                ("spread", redeem_probe),  # the same use case, on another item
                ("late", late_probe),
                ("offer", offer_probe),
                ("draw", draw_probe),
            ):
                trips[kind] = await round_trips(engine, raw_driver, op)
        for kind in KINDS:
            mine, theirs = results["mall"].round_trips[kind], results["raw"].round_trips[kind]
            if mine - theirs != 2 * SAVEPOINT_PAIRS[kind]:
                log(
                    f"WARNING: {LABELS[kind]}: the mall made {mine} round trips, the raw baseline"
                    f" {theirs}: update the baseline to mirror the core"
                )
            if BATCHED in results and results[BATCHED].round_trips[kind] != theirs:
                log(f"WARNING: {LABELS[kind]}: the batched raw side's round trips differ")
        for name in sides:
            results[name].measured = {kind: merged(runs[name][kind]) for kind in KINDS}
        results["mall"].batch = {
            kind: (jobs / batches if batches else None)
            for kind, (batches, jobs) in writer_totals.items()
        }
    finally:
        for each in drivers.values():
            await each.close()
        await db.dispose()

    targets = {"mall": ours_target, "raw": raw_target}
    if batched_target is not None:
        targets[BATCHED] = batched_target
    for name, target in targets.items():
        await verify(target, config, shelf, results[name])
        if not results[name].clean:
            log(f"{target.backend} {name}: ledger check FAILED")
    return results


async def verify(target: Target, config: Config, shelf: Shelf, result: SideResult) -> None:
    """What the database says after the run: stock, redemptions, draws, and mall.check()."""
    db = Database.from_url(target.url)
    try:
        async with db.read() as conn:
            for item_id in shelf.rush:
                stock = (
                    await conn.execute(
                        text("SELECT stock FROM items WHERE id = :i"), {"i": item_id}
                    )
                ).scalar_one()
                done = (
                    await conn.execute(
                        text(
                            "SELECT COUNT(*) FROM redemptions"
                            " WHERE item_id = :i AND status = 'completed'"
                        ),
                        {"i": item_id},
                    )
                ).scalar_one()
                result.stock_left.append(int(stock))
                result.redemptions.append(int(done))
            result.draws = int(
                (await conn.execute(text("SELECT COUNT(*) FROM box_draws"))).scalar_one()
            )
        report = await Mall.build(db, config).check()
        result.clean = report.ok
        if not report.ok:
            log(f"{target.backend}: {report.violations}")
    finally:
        await db.dispose()


async def bench_backend(
    backend: str, args: argparse.Namespace, config: Config, workdir: Path
) -> BackendResult:
    if backend == "sqlite":
        ours_path, raw_path = workdir / "mall.db", workdir / "raw.db"
        ours = Target("sqlite", f"sqlite+aiosqlite:///{ours_path}", str(ours_path))
        raw = Target("sqlite", f"sqlite+aiosqlite:///{raw_path}", str(raw_path))
        batched_path = workdir / "raw-batched.db"
        batched = Target("sqlite", f"sqlite+aiosqlite:///{batched_path}", str(batched_path))
        version = sqlite3.sqlite_version
    else:
        batched = None  # PostgreSQL has no group commit: one transaction per use case
        name = make_url(args.postgres_url).database or "pointsmall_bench_mall"
        ours = await recreate_postgres(args.postgres_url, name)
        raw = await recreate_postgres(args.postgres_url, f"{name}_raw")
        version = await server_version(ours)
    every = [ours, raw] if batched is None else [ours, raw, batched]
    log(f"{backend}: migrating and joining {args.members:,} members ({len(every)} databases)")
    for target in every:
        await prepare(target, config, args.members)
    try:
        sides = await measure(ours, raw, args, config, batched)
    finally:
        if backend == "postgres" and not args.keep:
            for target in (ours, raw):
                await drop_postgres(args.postgres_url, make_url(target.url).database or "")
    return BackendResult(backend, version, sides)


# --- Report -----------------------------------------------------------------------------------


def rows_of(result: BackendResult) -> list[list[str]]:
    mall = result.sides["mall"]
    batched = result.sides.get(BATCHED)
    rows = []
    for kind in KINDS:
        ours, raw = mall.measured[kind], result.sides["raw"].measured[kind]
        batch = mall.batch.get(kind)
        them = batched.measured[kind] if batched is not None and batch is not None else None
        rows.append(
            [
                f"{result.backend} {LABELS[kind]}",
                f"{ours.rate:,.0f}",
                f"{raw.rate:,.0f}",
                ratio(ours.rate, raw.rate),
                "-" if batch is None else f"{batch:.1f}",
                "-" if them is None else f"{them.rate:,.0f}",
                "-" if them is None else ratio(ours.rate, them.rate),
                f"{ours.percentile_ms(0.5):.1f}",
                f"{raw.percentile_ms(0.5):.1f}",
                f"{ours.percentile_ms(0.99):.1f}",
                f"{raw.percentile_ms(0.99):.1f}",
                f"{ours.cpu_ms:.2f}",
                f"{raw.cpu_ms:.2f}",
                "-" if them is None else f"{them.cpu_ms:.2f}",
                f"{mall.round_trips[kind]}/{result.sides['raw'].round_trips[kind]}",
            ]
        )
    return rows


def print_table(rows: list[list[str]]) -> None:
    print(
        "Throughput and latency: the mall beside the raw driver issuing the same statements, one"
        " transaction per use case, and (SQLite) beside the raw driver committing as many use"
        " cases at once as the mall's writer did (raw batched)"
    )
    header = [
        "operation",
        "ops/s",
        "raw ops/s",
        "ours/raw",
        "mean batch",
        "raw batched ops/s",
        "ours/raw batched",
        "p50 ms",
        "raw p50",
        "p99 ms",
        "raw p99",
        "CPU ms/op",
        "raw CPU",
        "raw batched CPU",
        "round trips",
    ]
    print(table(header, rows))


def aim_lines(result: BackendResult) -> list[str]:
    """Issue 14's aim for each operation, judged against the stronger raw baseline of the run:
    on SQLite the raw driver batched as the mall's writer batched (unless it came out slower
    than one transaction per use case), with the figure per use case stated beside it."""
    mall, raw = result.sides["mall"], result.sides["raw"]
    batched = result.sides.get(BATCHED)
    lines = []
    for kind in KINDS:
        ours = mall.measured[kind].rate
        per_case = ours / raw.measured[kind].rate if raw.measured[kind].rate else 0.0
        label = f"{result.backend} {LABELS[kind]}"
        batch = mall.batch.get(kind)
        if batched is None or batch is None:
            why = (
                "PostgreSQL has no group commit"
                if batched is None
                else "a read: the writer commits nothing, so no batched baseline"
            )
            lines.append(
                f"{label}: {per_case:.2f} of raw per use case: {verdict(per_case)} ({why})"
            )
            continue
        rate = batched.measured[kind].rate
        against = ours / rate if rate else 0.0
        if rate >= raw.measured[kind].rate:
            lines.append(
                f"{label}: {against:.2f} of raw batched ({batch:.1f} use cases per commit):"
                f" {verdict(against)}; {per_case:.2f} of raw per use case: {verdict(per_case)}"
            )
        else:
            lines.append(
                f"{label}: {per_case:.2f} of raw per use case, the faster raw in this run:"
                f" {verdict(per_case)}; {against:.2f} of raw batched ({batch:.1f} use cases per"
                f" commit): {verdict(against)}"
            )
    return lines


def check_lines(result: BackendResult, args: argparse.Namespace) -> list[str]:
    lines = []
    for name, side in result.sides.items():
        exact = all(n == args.units for n in side.successes) and all(
            n == args.units for n in side.redemptions
        )
        refused = ", ".join(f"{count} {where}" for where, count in sorted(side.refused.items()))
        prizes = ", ".join(f"{prize} {count}" for prize, count in sorted(side.prizes.items()))
        lines.append(
            f"{result.backend} {name}: successes per round {side.successes} (completed"
            f" redemptions in the database {side.redemptions}; {'exactly' if exact else 'NOT'}"
            f" {args.units} each), stock left {side.stock_left}; sold-out answers: {refused};"
            f" {side.draws:,} draws in the database (measured ones won: {prizes});"
            f" mall.check(): {'clean' if side.clean else 'VIOLATIONS'}"
        )
    return lines


def all_good(result: BackendResult, args: argparse.Namespace) -> bool:
    for side in result.sides.values():
        if not side.clean or any(n != args.units for n in side.successes + side.redemptions):
            return False
        if any(s != 0 for s in side.stock_left):
            return False
    return True


async def main(args: argparse.Namespace) -> int:
    config = bench_config()
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    results: list[BackendResult] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pointsmall-bench-mall-") as tmp:
        for backend in backends:
            results.append(await bench_backend(backend, args, config, Path(tmp)))
    versions = {r.backend: r.version for r in results}
    print()
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.system()} {platform.machine()},"
        f" Python {platform.python_version()}"
        + (f", SQLite {versions['sqlite']}" if "sqlite" in versions else "")
        + (f", PostgreSQL {versions['postgres']}" if "postgres" in versions else "")
    )
    print(
        f"{args.members:,} members with 1,000 points each. {args.rounds} rounds, each on a fresh"
        f" item of {args.units} units at {ITEM_PRICE} points: a sell-out, then {args.extra} late"
        f" taps and {args.extra} new offers; then {args.units * args.rounds:,} redemptions over"
        f" {args.concurrency} items; {args.ops:,} draws of a {BOX_PRICE}-point box"
        f" (5 and 20 points, a 200-point jackpot of {JACKPOT_STOCK} with weight 2 of 100,"
        f" guarantee after {PITY_AFTER}) by random members, each with a client seed set before."
        f" Mall: {args.concurrency} concurrent"
        f" asyncio workers. Raw: sqlite3 in one thread (SQLite has one writer), asyncpg with"
        f" {args.concurrency} workers on a pool of {args.concurrency}."
    )
    print()
    print_table([row for r in results for row in rows_of(r)])
    print(
        "redeem until sold out: successful redemptions (offer + redeem, each its own"
        " transactions) per second of the sell-out, which ends when every worker has been told"
        " sold_out; latency of the successful attempts. No hot row: the same number of"
        f" redemptions spread over {args.concurrency} items with stock to spare (the control)."
        " Late Redeem tap: redeem with a"
        " confirmation shown before the sell-out, refused sold_out (the refusal is recorded)."
        " New offer: offer after the sell-out, refused sold_out (a read). ops/s of those two:"
        " sold-out answers per second. Round trips: statements plus BEGIN/COMMIT of one"
        " operation, mall/raw."
    )
    if any(BATCHED in r.sides for r in results):
        print(
            "mean batch: use cases per commit of the mall's SQLite writer (group commit) over"
            " the measured runs, from its counters. Raw batched: the raw driver on a database"
            " of its own doing the same operations, each use case in a savepoint of a"
            " transaction committed every (the mall's mean batch in the same run, rounded) use"
            " cases, the last commit timed; its reads on a connection of their own, as the"
            " mall's. '-': not measured (a read commits nothing; PostgreSQL has no group"
            " commit)."
        )
    print()
    print(
        f"Issue 14's aim, the mall at >= {AIM} of raw: on SQLite judged against raw batched,"
        " the stronger baseline (or raw per use case where that came out faster in the run),"
        " the other ratio stated beside it; a new offer (a read) and PostgreSQL against raw"
        " per use case."
    )
    for result in results:
        for line in aim_lines(result):
            print(f"  {line}")
    print()
    print("Correctness")
    for result in results:
        for line in check_lines(result, args):
            print(f"  {line}")
    print()
    print(f"wall time: {time.perf_counter() - began:.0f} s")
    print("command: " + shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv])))
    return 0 if all(all_good(r, args) for r in results) else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--members", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ops", type=int, default=2_000, help="measured blind-box draws")
    parser.add_argument("--units", type=int, default=100, help="units of each round's item")
    parser.add_argument("--rounds", type=int, default=5, help="sell-outs, each on a fresh item")
    parser.add_argument(
        "--extra",
        type=int,
        default=100,
        help="late taps, and new offers, after each sell-out (all must be refused sold_out)",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="the server and the name of the database to (re)create; NAME_raw is created too",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    args = parser.parse_args(argv)
    if min(args.members, args.concurrency, args.ops, args.units, args.rounds, args.extra) < 1:
        parser.error("every count must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
