"""Test databases: a migrated SQLite template copied per test, and one PostgreSQL database per
test session, emptied between tests. Both are migrated with the real Alembic migrations.

PostgreSQL comes from ``POINTSMALL_TEST_POSTGRES_URL``. Without it (or unreachable), its tests
skip, unless ``POINTSMALL_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from core.db.database import Database
from core.db.migrate import upgrade

POSTGRES_URL = os.environ.get("POINTSMALL_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("POINTSMALL_REQUIRE_POSTGRES") == "1"

T = TypeVar("T")

# Everything a test may write, emptied between tests (system accounts stay).
MEMBER_TABLES = (
    "task_polls",
    "task_completions",
    "tasks",
    "rollup_day_members",
    "rollup_hour_flows",
    "rollup_hours",
    "rollup_box_draws",
    "rollup_redemptions",
    "rollup_flows",
    "rollup_days",
    "birthdays",
    "member_day_rules",
    "checkpoint_balances",
    "ledger_checkpoint",
    "checkout_holds",
    "shop_refunds",
    "shop_orders",
    "shop_link_tokens",
    "shop_customers",
    "shop_keys",
    "inbox_updates",
    "audit_log",
    "risk_flags",
    "claim_locks",
    "claim_attempts",
    "claim_codes",
    "claim_batches",
    "outbox",
    "broadcasts",
    "sender_pace",
    "unreachable_chats",
    "expiry_reminders",
    "tier_notices",
    "job_runs",
    "pending_inputs",
    "erasures",
    "client_seeds",
    "box_draws",
    "box_streaks",
    "box_prizes",
    "box_seeds",
    "blind_boxes",
    "flash_sale_entries",
    "star_refunds",
    "redemptions",
    "coupon_codes",
    "flash_sales",
    "items",
    "shelves",
    "referrals",
    "invite_codes",
    "lot_draws",
    "lots",
    "holds",
    "transfers",
    "checkins",
    "member_days",
    "orders",
    "members",
    "operations",
)


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end from sync code, even where an event loop is running.

    Session fixtures are first requested from inside async tests; their setup runs on a loop
    of its own in a worker thread.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class SqliteTemplate:
    """A migrated database file; each test gets a copy, which is faster than migrating."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        run_blocking(self._migrate())

    async def _migrate(self) -> None:
        db = Database.from_url(f"sqlite+aiosqlite:///{self.path}")
        await upgrade(db)
        await db.dispose()

    def copy_url(self, directory: Path) -> str:
        target = directory / f"mall-{uuid.uuid4().hex[:8]}.db"
        shutil.copyfile(self.path, target)
        return f"sqlite+aiosqlite:///{target}"


class PostgresDatabase:
    """A database of its own for this test session, created, migrated, and dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"pointsmall_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)
        run_blocking(self._create())

    async def _create(self) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(self.admin_url), timeout=10)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()
        db = Database.from_url(self.url)
        await upgrade(db)
        await db.dispose()

    async def empty(self) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(self.url))
        try:
            await conn.execute(f"TRUNCATE {', '.join(MEMBER_TABLES)} RESTART IDENTITY CASCADE")
            await conn.execute("DELETE FROM accounts WHERE kind = 'member'")
        finally:
            await conn.close()

    def drop(self) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(_asyncpg_dsn(self.admin_url))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            finally:
                await conn.close()

        run_blocking(run())


def postgres_unavailable_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    if not POSTGRES_URL:
        return "POINTSMALL_TEST_POSTGRES_URL is not set"

    async def probe() -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
        await conn.close()

    try:
        run_blocking(probe())
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc}"
    return None
