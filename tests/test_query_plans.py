"""The hot reads use their indexes, on both databases (issue 17).

Each query is captured as core builds and sends it (its SQL and parameters, from the engine),
then explained on the same database: SQLite's ``EXPLAIN QUERY PLAN``, PostgreSQL's ``EXPLAIN``
with ``enable_seqscan`` off, so that on these tiny tables the planner shows the index it would
choose over a scan once the table is large. The index's name must appear in the plan.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event

from core.mall import Mall
from core.operations.inbox import Inbox, Received
from core.operations.retention import Retention
from core.points.invariants import check_ledger
from core.points.ledger import pending_hold_total

Captured = list[tuple[str, Any]]


@asynccontextmanager
async def captured(mall: Mall) -> AsyncIterator[Captured]:
    """Every statement the mall's engines send while the block runs."""
    seen: Captured = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        seen.append((statement, parameters))

    engines = mall.db.sync_engines
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def plan(mall: Mall, statement: str, parameters: Any) -> str:
    """The plan of one captured statement, as one text."""
    async with mall.db.engine.connect() as conn:
        if mall.db.is_sqlite:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        await conn.exec_driver_sql("SET enable_seqscan = off")
        rows = await conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)


async def plans_of(
    mall: Mall, run: Callable[[], Awaitable[object]], table: str
) -> list[tuple[str, str]]:
    """(statement, plan) of each statement ``run`` sends that reads ``table``."""
    async with captured(mall) as seen:
        await run()
    chosen = [
        (s, p) for s, p in seen if f" {table}" in s and s.lstrip().upper().startswith("SELECT")
    ]
    assert chosen, f"no statement on {table} was sent"
    return [(statement, await plan(mall, statement, params)) for statement, params in chosen]


def assert_uses(found: list[tuple[str, str]], *indexes: str) -> None:
    """Each statement's plan names one of ``indexes``."""
    for statement, text in found:
        assert any(index in text for index in indexes), (
            f"none of {indexes} used by\n{statement}\nplan:\n{text}"
        )


async def test_the_balance_screen_sums_one_members_pending_holds_by_index(mall: Mall):
    async def held() -> None:
        async with mall.db.read() as conn:
            await pending_hold_total(conn, 1001)

    assert_uses(await plans_of(mall, held, "holds"), "ix_holds_account_status")


async def test_the_daily_report_finds_check_ins_by_day_and_make_ups_by_purchase(mall: Mall):
    found = await plans_of(
        mall, lambda: mall.reports.daily(date(2026, 3, 1), date(2026, 3, 7)), "checkins"
    )
    assert len(found) == 2  # the check-in counts, and the active members
    assert_uses(found, "ix_checkins_day")
    counts = [text for statement, text in found if "UNION ALL" not in statement]
    assert len(counts) == 1
    assert "ix_checkins_created_at" in counts[0]


async def test_redemptions_per_item_read_the_window_by_status_and_time(mall: Mall):
    found = await plans_of(
        mall,
        lambda: mall.reports.redemptions_per_item(date(2026, 3, 1), date(2026, 3, 7)),
        "redemptions",
    )
    # Either bounds the window: SQLite (no statistics) prefers the equality on status, so without
    # (status, created_at) it read every redemption in those states; PostgreSQL takes the range.
    assert_uses(found, "ix_redemptions_status_created", "ix_redemptions_created")
    if mall.db.is_sqlite:
        assert_uses(found, "ix_redemptions_status_created")


async def test_the_ledger_check_finds_pending_operations_by_a_partial_index(mall: Mall):
    found = await plans_of(mall, lambda: check_ledger(mall.db), "operations")
    pending = [(s, p) for s, p in found if "status = 'pending'" in s]
    assert len(pending) == 1
    assert_uses(pending, "ix_operations_pending")


async def _a_day_checked(mall: Mall) -> None:
    """Two members, a check that writes the checkpoint, then a day after it."""
    for member_id in (1001, 1002):
        await mall.members.join(member_id, "M", "en", datetime(2026, 3, 1, 1, tzinfo=UTC))
    assert (await check_ledger(mall.db, full=True)).checkpoint is not None
    for member_id in (1001, 1002):
        await mall.checkins.check_in(member_id, datetime(2026, 3, 2, 1, tzinfo=UTC))


def _reads_beyond_the_tail(plan_text: str) -> list[str]:
    """The plan's reads of ``transfers`` that are not bounded by its id (the tail's range):
    a scan, or an index range of account ids (which holds most of the ledger)."""
    lines = [line.strip() for line in plan_text.splitlines()]
    wrong = []
    for i, line in enumerate(lines):
        if line.startswith(("SCAN transfers", "SEARCH transfers", "SCAN t ", "SEARCH t ")):
            if "rowid>" not in line and "id>?" not in line:
                wrong.append(line)
        elif " on transfers" in line:  # PostgreSQL: the condition is on a line of its own
            condition = next((c for c in lines[i + 1 :] if "Cond:" in c), "")
            if "Seq Scan" in line or "id >" not in condition.replace("account_id >", ""):
                wrong.append(f"{line} / {condition}")
    return wrong


async def test_the_incremental_check_reads_only_the_transfers_after_the_checkpoint(mall: Mall):
    await _a_day_checked(mall)
    async with captured(mall) as seen:
        await check_ledger(mall.db, full=False)
    # The checks, and the checkpoint's count, its new totals and their verification as written.
    reads = ("SELECT", "WITH", "INSERT INTO checkpoint_balances")
    tail = [
        (s, params)
        for s, params in seen
        if "FROM transfers" in s and "MAX(id)" not in s and s.lstrip().startswith(reads)
    ]
    assert len(tail) == 11
    for statement, params in tail:
        plan_text = await plan(mall, statement, params)
        assert "transfers" in plan_text or "SEARCH t " in plan_text
        assert not _reads_beyond_the_tail(plan_text), f"{statement}\nplan:\n{plan_text}"


async def test_the_system_to_system_rule_looks_up_no_account_per_transfer(mall: Mall):
    await _a_day_checked(mall)
    found = await plans_of(mall, lambda: check_ledger(mall.db, full=True), "transfers")
    rule = [(s, p) for s, p in found if "debit_account_id < 0 AND credit_account_id < 0" in s]
    assert len(rule) == 1
    for _, plan_text in rule:
        assert "accounts" not in plan_text.replace("_account_id", "")


async def test_retention_finds_each_kinds_old_records_by_kind_and_time(mall: Mall):
    async with captured(mall) as seen:
        await Retention(mall.db, mall.config).prune(datetime(2026, 3, 1, tzinfo=UTC))
    deletes = [(s, p) for s, p in seen if s.lstrip().startswith("DELETE FROM operations")]
    assert len(deletes) == 5  # one batch of each pruned kind, none to delete
    for statement, params in deletes:
        assert "ix_operations_kind_created" in await plan(mall, statement, params), statement


async def test_the_members_export_reads_the_window_by_joining_time(mall: Mall):
    async def export() -> None:
        await mall.exports.write_csv("members", date(2026, 3, 1), date(2026, 3, 7), io.BytesIO())

    assert_uses(await plans_of(mall, export, "members"), "ix_members_joined_at")


async def test_the_inbox_take_walks_only_waiting_updates_and_asks_each_chat_by_index(mall: Mall):
    """Issue 14's burst: the take reads waiting updates in arrival order and finds each one's
    chat's first waiting update by a probe, never by comparing waiting updates pairwise."""
    inbox = Inbox(mall.db, bot_id=1, lease=timedelta(seconds=30))
    now = datetime(2026, 3, 1, tzinfo=UTC)
    await inbox.accept([Received(n, n % 3, "{}") for n in range(1, 7)], now)

    found = await plans_of(mall, lambda: inbox.take("w", now, limit=2), "inbox_updates")

    assert len(found) == 1
    assert_uses(found, "ix_inbox_updates_waiting")
    assert_uses(found, "ix_inbox_updates_chat_waiting")
