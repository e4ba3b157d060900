"""The hot reads use their indexes, on both databases (issue 17).

Each query is captured as core builds and sends it (its SQL and parameters, from the engine),
then explained on the same database: SQLite's ``EXPLAIN QUERY PLAN``, PostgreSQL's ``EXPLAIN``
with ``enable_seqscan`` off, so that on these tiny tables the planner shows the index it would
choose over a scan once the table is large. The index's name must appear in the plan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

from sqlalchemy import event

from core.invariants import check_ledger
from core.ledger import pending_hold_total
from core.mall import Mall

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
