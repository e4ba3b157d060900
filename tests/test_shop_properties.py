"""The shop's promises under random use: orders (some sent twice, some with another body),
refunds before and after their orders, links by phone and ref, members joining late, checkout
holds and time passing, in random order. Afterwards the ledger's invariants hold
(``core.points.invariants``), every answer to a repeated request is the first answer, and no order
was credited twice or refunded past its total."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.commerce.shop import OrderIn, OrderLine
from core.db.database import Database
from core.errors import (
    HoldNotPending,
    InsufficientPoints,
    KeyReused,
    OrderConflict,
    RefTaken,
    RefundExceedsOrder,
    UnknownCustomer,
    UnknownHold,
    UnknownMember,
)
from core.mall import Mall
from tests.conftest import at
from tests.support.configs import make_config
from tests.support.databases import PostgresDatabase, SqliteTemplate

CONFIG = make_config(
    """
[shop]
phone_hash_key = "a-test-key-that-is-long-enough-to-use"
park_days = 10

[earning]
daily_cap = 400

[earning.category_multipliers]
tea = 2
"""
)
ALICE, BOB, CAROL = 1001, 1002, 1003
MEMBERS = (ALICE, BOB, CAROL)
PHONES = ("+8613800138000", "+8613900139000")
REFS = ("c-1", "c-2")
CUSTOMERS: tuple[dict[str, object], ...] = (
    {"telegram_id": ALICE},
    {"telegram_id": CAROL},
    {"phone": PHONES[0]},
    {"phone": PHONES[1]},
    {"ref": REFS[0]},
    {"ref": REFS[1]},
)
ORDER_IDS = ("O-1", "O-2", "O-3")
START = at("2026-03-01 08:00")

cents = st.one_of(
    st.integers(min_value=1, max_value=99), st.integers(min_value=2_000, max_value=40_000)
)
orders = st.tuples(
    st.just("order"),
    st.sampled_from(ORDER_IDS),
    st.integers(0, len(CUSTOMERS) - 1),
    cents,
    st.booleans(),  # with two categories
)
refunds = st.tuples(
    st.just("refund"),
    st.sampled_from(ORDER_IDS),
    st.sampled_from(("R-1", "R-2", "R-3")),
    st.integers(min_value=1, max_value=15_000),
)
joins = st.tuples(st.just("join"), st.just(CAROL))
operations = st.lists(
    st.one_of(
        orders,
        orders,
        refunds,
        refunds,
        joins,
        joins,
        st.tuples(st.just("phone"), st.sampled_from(MEMBERS), st.sampled_from(PHONES)),
        st.tuples(st.just("ref"), st.sampled_from(MEMBERS), st.sampled_from(REFS)),
        st.tuples(st.just("hold"), st.integers(0, len(CUSTOMERS) - 1), st.integers(1, 300)),
        st.tuples(st.just("capture"), st.integers(1, 4)),
        st.tuples(st.just("later"), st.integers(1, 12)),
    ),
    min_size=8,
    max_size=30,
)


def money(minor: int) -> Decimal:
    return Decimal(minor) / 100


def make_order(order_id: str, customer: int, total: int, split: bool) -> OrderIn:
    lines: tuple[OrderLine, ...] = ()
    if split:
        lines = (
            OrderLine("T", "tea", money(total // 3 + 1)),
            OrderLine("B", "books", money(total - total // 3)),
        )
    return OrderIn(order_id, CUSTOMERS[customer], money(total), "CNY", lines)


async def play(mall: Mall, steps: list[tuple[Any, ...]]) -> None:
    now = START
    first_order: dict[str, tuple[tuple[Any, ...], Any]] = {}
    first_refund: dict[tuple[str, str], tuple[int, Any]] = {}
    holds = 0
    for member_id in (ALICE, BOB):  # Carol joins when the steps say so, if ever
        await mall.members.join(member_id, "M", "en", now)
    for step in steps:
        now += timedelta(minutes=7)
        kind = step[0]
        if kind == "order":
            _, order_id, customer, total, split = step
            body = (customer, total, split)
            try:
                outcome: Any = await mall.shop.accept_order(
                    make_order(order_id, customer, total, split), now
                )
            except OrderConflict:
                assert order_id in first_order
                assert first_order[order_id][0] != body
                continue
            if order_id in first_order:
                assert first_order[order_id] == (body, outcome)  # replayed, unchanged
            first_order[order_id] = (body, outcome)
        elif kind == "refund":
            _, order_id, refund_id, amount = step
            try:
                outcome = await mall.shop.refund(order_id, refund_id, money(amount), now)
            except (RefundExceedsOrder, KeyReused):
                continue
            seen = first_refund.setdefault((order_id, refund_id), (amount, outcome))
            assert seen == (amount, outcome)
        elif kind == "join":
            await mall.members.join(step[1], "M", "en", now)
            await mall.shop.credit_parked(step[1], now)
        elif kind in ("phone", "ref"):
            _, member_id, who = step
            link = mall.shop.link_phone if kind == "phone" else mall.shop.link_ref
            try:
                await link(member_id, who, now)
            except (UnknownMember, RefTaken):
                continue
        elif kind == "capture":
            try:
                await mall.shop.capture(f"H-{step[1]}", "paid", now)
            except (UnknownHold, HoldNotPending):
                continue
        elif kind == "hold":
            holds += 1
            try:
                await mall.shop.hold_for_checkout(f"H-{holds}", CUSTOMERS[step[1]], step[2], now)
            except (UnknownCustomer, InsufficientPoints):
                continue
        else:
            now += timedelta(days=step[1])
            await mall.expire(now)
            await mall.release_expired(now)
            await mall.shop.expire_parked(now)
    await check(mall)


async def check(mall: Mall) -> None:
    report = await mall.check()
    assert report.ok, report
    async with mall.db.read() as conn:
        orders = (await conn.execute(text("SELECT * FROM shop_orders"))).mappings().all()
        refunds = (await conn.execute(text("SELECT * FROM shop_refunds"))).mappings().all()
        purchases = (await conn.execute(text("SELECT * FROM orders"))).mappings().all()
        credits = (
            (
                await conn.execute(
                    text(
                        "SELECT reference, count(*) AS n, sum(amount) AS points FROM transfers"
                        " WHERE code = 'purchase' GROUP BY reference"
                    )
                )
            )
            .mappings()
            .all()
        )
    refunded: dict[str, int] = defaultdict(int)
    for refund in refunds:
        if refund["status"] in ("applied", "netted"):
            refunded[refund["order_id"]] += int(refund["amount_minor"])
    by_order: dict[str, list[Any]] = defaultdict(list)
    for purchase in purchases:
        by_order[purchase["order_id"].split(":")[0]].append(purchase)
    credited = {row["reference"]: (int(row["n"]), int(row["points"])) for row in credits}
    for order in orders:
        order_id = order["order_id"]
        parts = by_order.get(order_id, [])
        if order["status"] in ("awaiting", "parked", "expired"):
            assert parts == [], order
        if order["total_minor"] is not None:
            assert int(order["refunded_minor"]) <= int(order["total_minor"])
            assert refunded[order_id] == int(order["refunded_minor"])
        assert sum(int(p["points"]) for p in parts) == int(order["points"])
        for part in parts:
            # Credited once: one transfer per purchase, of exactly the points it earned.
            assert credited.get(part["order_id"], (0, 0)) == (
                (1, int(part["points"])) if part["points"] else (0, 0)
            )
            assert int(part["refunded_minor"]) <= int(part["amount_minor"])
    assert len(credits) == sum(1 for p in purchases if p["points"])


def forget(url: str) -> None:
    path = url.removeprefix("sqlite+aiosqlite:///")
    for suffix in ("", "-wal", "-shm"):
        Path(path + suffix).unlink(missing_ok=True)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_orders_refunds_and_links_keep_the_books(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
    else:
        postgres: PostgresDatabase = request.getfixturevalue("postgres_database")

    async def run(steps: list[tuple[Any, ...]]) -> None:
        if backend == "sqlite":
            url = template.copy_url(tmp_path)
        else:
            await postgres.empty()
            url = postgres.url
        db = Database.from_url(url)
        try:
            await play(Mall.build(db, CONFIG), steps)
        finally:
            await db.dispose()
        if backend == "sqlite":
            forget(url)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(operations)
    def property_(steps: list[tuple[Any, ...]]) -> None:
        asyncio.run(run(steps))

    property_()
