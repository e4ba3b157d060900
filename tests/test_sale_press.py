"""One press of a first-come sale's Buy, one core call (core/rewards/sale_press.py), on both
databases.

A press comes back with the sale as seen now and the offer (its confirm token, at the sale's
price), or without one: the sale takes no purchase now (its phase says why), or the member's
points fall short (with their balance); any other refusal is raised as ``Redemptions.offer``
raises it. It is one read transaction, and nothing moves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from core.errors import Frozen, UnknownSale
from core.mall import Mall
from core.rewards.flash_sales import SaleView
from tests.test_redemptions import ALICE, BOB, NOW, item, join, snapshot

HOUR = timedelta(hours=1)


async def first_come(mall: Mall, price: int = 200, quantity: int = 5, **when: Any) -> SaleView:
    tea = await item(mall, "tea", price_points=300)
    starts, ends = when.get("starts", NOW - HOUR), when.get("ends", NOW + HOUR)
    return await mall.flash_sales.create_sale(
        tea, price, quantity, starts, ends, "first_come", now=starts - HOUR
    )


async def test_a_press_offers_one_unit_at_the_sale_price(mall: Mall):
    await join(mall, ALICE, 400)
    sale = await first_come(mall)
    await mall.redemptions.issuing_key(NOW)  # made once by the first offer ever, then kept
    before = await snapshot(mall)

    pressed = await mall.sale_press.buy(ALICE, sale.sale_id, NOW)

    assert (pressed.sale.sale_id, pressed.sale.phase, pressed.sale.remaining) == (
        sale.sale_id,
        "open",
        5,
    )
    assert not pressed.short
    assert pressed.balance == 400
    assert pressed.offer is not None
    assert (pressed.offer.points, pressed.offer.balance_after) == (200, 200)
    assert pressed.offer.flash_sale_id == sale.sale_id
    assert pressed.offer.item.item_id == sale.item_id
    assert await snapshot(mall) == before
    redeemed = await mall.redemptions.redeem(ALICE, pressed.offer.token, NOW)
    assert redeemed.balance == 200
    assert (await mall.flash_sales.get_sale(sale.sale_id, NOW)).remaining == 4


async def test_short_of_points_comes_back_with_the_balance_and_no_offer(mall: Mall):
    await join(mall, ALICE, 150)
    sale = await first_come(mall)
    before = await snapshot(mall)

    pressed = await mall.sale_press.buy(ALICE, sale.sale_id, NOW)

    assert pressed.offer is None
    assert pressed.short
    assert pressed.balance == 150
    assert pressed.sale.phase == "open"
    assert await snapshot(mall) == before


@pytest.mark.parametrize(
    ("at", "phase"),
    [(NOW - 2 * HOUR, "upcoming"), (NOW, "open"), (NOW + 2 * HOUR, "ended")],
)
async def test_a_sale_outside_its_window_comes_back_with_its_phase(mall: Mall, at, phase):
    await join(mall, ALICE, 400)
    sale = await first_come(mall)

    pressed = await mall.sale_press.buy(ALICE, sale.sale_id, at)

    assert pressed.sale.phase == phase
    assert (pressed.offer is not None) == (phase == "open")
    assert not pressed.short


async def test_a_sold_out_or_cancelled_sale_comes_back_without_an_offer(mall: Mall):
    await join(mall, ALICE, 400)
    await join(mall, BOB, 400)
    sale = await first_come(mall, quantity=1)
    bought = await mall.sale_press.buy(BOB, sale.sale_id, NOW)
    assert bought.offer is not None
    await mall.redemptions.redeem(BOB, bought.offer.token, NOW)

    sold_out = await mall.sale_press.buy(ALICE, sale.sale_id, NOW)
    await mall.flash_sales.cancel_sale(sale.sale_id, NOW, actor_id=1)
    cancelled = await mall.sale_press.buy(ALICE, sale.sale_id, NOW)

    assert (sold_out.offer, sold_out.short, sold_out.sale.phase) == (None, False, "sold_out")
    assert (cancelled.offer, cancelled.short, cancelled.sale.phase) == (None, False, "cancelled")


async def test_a_draw_sale_comes_back_without_an_offer(mall: Mall):
    await join(mall, ALICE, 400)
    tea = await item(mall, "tea", price_points=300)
    draw = await mall.flash_sales.create_sale(
        tea, 200, 2, NOW - HOUR, NOW + 2 * HOUR, "draw", NOW + HOUR, now=NOW - 2 * HOUR
    )

    pressed = await mall.sale_press.buy(ALICE, draw.sale_id, NOW)

    assert (pressed.sale.mode, pressed.sale.phase) == ("draw", "entry")
    assert (pressed.offer, pressed.short) == (None, False)


async def test_other_refusals_and_unknown_sales_are_raised(mall: Mall):
    await join(mall, ALICE, 400)
    sale = await first_come(mall)
    await mall.members.freeze(ALICE, "checking")

    with pytest.raises(Frozen):
        await mall.sale_press.buy(ALICE, sale.sale_id, NOW)
    with pytest.raises(UnknownSale):
        await mall.sale_press.buy(ALICE, sale.sale_id + 1, NOW)
    with pytest.raises(UnknownSale):
        await mall.sale_press.buy(ALICE, 0, NOW)


@asynccontextmanager
async def counted(mall: Mall) -> AsyncIterator[dict[str, int]]:
    """Read transactions, write transactions and statements sent while the block runs."""
    seen = {"reads": 0, "writes": 0, "statements": 0}
    db = mall.db
    read, transact = db.read, db.transact

    def counting_read() -> Any:
        seen["reads"] += 1
        return read()

    async def counting_transact(body: Callable[..., Any]) -> Any:
        seen["writes"] += 1
        return await transact(body)

    def record(*_args: Any) -> None:
        seen["statements"] += 1

    engines = db.sync_engines
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    db.read, db.transact = counting_read, counting_transact  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del db.read, db.transact
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


@pytest.mark.parametrize("outcome", ["offer", "short", "sold_out"])
async def test_a_press_is_one_read(mall: Mall, outcome: str):
    await join(mall, ALICE, 150 if outcome == "short" else 400)
    await join(mall, BOB, 400)
    sale = await first_come(mall, quantity=1 if outcome == "sold_out" else 5)
    # The first offer ever made creates the token key, kept from then on.
    warm = await mall.sale_press.buy(BOB, sale.sale_id, NOW)
    assert warm.offer is not None
    if outcome == "sold_out":
        await mall.redemptions.redeem(BOB, warm.offer.token, NOW)

    async with counted(mall) as seen:
        pressed = await mall.sale_press.buy(ALICE, sale.sale_id, NOW)

    assert (pressed.offer is not None, pressed.short) == (outcome == "offer", outcome == "short")
    assert (seen["reads"], seen["writes"]) == (1, 0)
    assert seen["statements"] >= 1
