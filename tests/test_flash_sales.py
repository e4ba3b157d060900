"""Flash sales, first come and by draw, on both databases."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.db.models import FlashSale
from core.errors import (
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    InvalidState,
    NotAvailable,
    PrizeOnly,
    SoldOut,
    UnknownSale,
)
from core.mall import Mall
from core.rewards.catalog import Catalog, ItemSpec
from core.rewards.flash_sales import FlashSales
from core.rewards.redemptions import Redemptions
from tests.conftest import at

START, END = at("2026-03-06 20:00"), at("2026-03-06 22:00")
ENTRIES_CLOSE = at("2026-03-06 20:30")


async def add_item(mall: Mall, sku: str = "mug", **terms: object) -> int:
    values: dict[str, object] = {
        "sku": sku,
        "title": "Mug",
        "category": "Goods",
        "kind": "virtual",
        "price_points": 80,
        **terms,
    }
    catalog = Catalog(mall.db, mall.config)
    return (await catalog.upsert_item(ItemSpec(**values), at("2026-03-01 07:00"))).item_id  # type: ignore[arg-type]


async def join_all(mall: Mall, members: range) -> None:
    await asyncio.gather(
        *(mall.members.join(m, f"M{m}", "en", at("2026-03-01 08:00")) for m in members)
    )


async def balance(mall: Mall, member_id: int) -> int:
    return (await mall.statements.balance(member_id)).balance


async def test_a_first_come_sale_sells_exactly_its_quantity_under_a_rush(mall: Mall):
    members = range(7000, 7040)
    await join_all(mall, members)
    mug = await add_item(mall, stock=100)
    sales = FlashSales(mall.db, mall.config)
    sale = await sales.create_sale(mug, 30, 5, START, END, "first_come", now=at("2026-03-05 09:00"))
    assert (sale.phase, sale.remaining) == ("upcoming", 5)
    catalog, redemptions = Catalog(mall.db, mall.config), Redemptions(mall.db, mall.config)
    with pytest.raises(NotAvailable):  # not open yet
        await redemptions.offer(7000, mug, at("2026-03-06 19:59"), flash_sale_id=sale.sale_id)
    opened = at("2026-03-06 20:00")
    view = await catalog.item_view(7000, mug, opened)
    assert view.points == 30
    assert view.sale is not None
    assert (view.sale.sale_id, view.sale.seconds_left) == (sale.sale_id, 7200)
    offers = await asyncio.gather(
        *(redemptions.offer(m, mug, opened, flash_sale_id=sale.sale_id) for m in members)
    )

    async def attempt(member_id: int, token: str) -> str:
        try:
            await redemptions.redeem(member_id, token, opened + timedelta(seconds=5))
        except SoldOut:
            return "sold_out"
        return "completed"

    outcomes = await asyncio.gather(
        *(attempt(m, o.token) for m, o in zip(members, offers, strict=True))
    )
    assert (outcomes.count("completed"), outcomes.count("sold_out")) == (5, 35)
    assert (await catalog.get_item(mug)).stock == 95
    after = await sales.get_sale(sale.sale_id, opened + timedelta(minutes=1))
    assert (after.remaining, after.phase) == (0, "sold_out")
    # With the sale sold out the item is back at its regular price.
    view = await catalog.item_view(7000, mug, opened + timedelta(minutes=1))
    assert (view.points, view.sale) == (80, None)
    spent = sum([100 - await balance(mall, m) for m in members])
    assert spent == 5 * 30
    with pytest.raises(NotAvailable):  # over
        await redemptions.offer(7000, mug, END, flash_sale_id=sale.sale_id)
    assert (await mall.check()).ok


async def test_a_draw_picks_exactly_its_quantity_and_gives_the_rest_their_points_back(
    mall: Mall,
):
    members = range(8000, 8008)
    await join_all(mall, members)
    await mall.members.join(8100, "Poor", "en", at("2026-03-01 08:00"))
    mug = await add_item(mall, kind="physical", stock=10)
    sales = FlashSales(mall.db, mall.config)
    sale = await sales.create_sale(
        mug, 60, 3, START, END, "draw", ENTRIES_CLOSE, now=at("2026-03-05 09:00")
    )
    with pytest.raises(NotAvailable):
        await sales.enter(sale.sale_id, 8000, at("2026-03-06 19:00"))
    entered_at = at("2026-03-06 20:05")
    for member_id in members:
        entry = await sales.enter(sale.sale_id, member_id, entered_at)
        assert (entry.points, entry.balance) == (60, 40)
    again = await sales.enter(sale.sale_id, 8000, entered_at + timedelta(minutes=1))
    assert again.already_entered
    assert again.hold_id
    # Poor has 50 of their points held elsewhere: the sale price is out of reach.
    await mall.holds.hold(8100, 50, key="other", code="other", reference="x", now=entered_at)
    with pytest.raises(InsufficientPoints):
        await sales.enter(sale.sale_id, 8100, entered_at)
    view = await sales.get_sale(sale.sale_id, entered_at)
    assert (view.phase, view.entrants, view.seconds_left) == ("entry", 8, 25 * 60)
    with pytest.raises(NotAvailable):  # the draw waits for the entries to close
        await sales.draw(sale.sale_id, at("2026-03-06 20:29"), random.Random(7))
    with pytest.raises(NotAvailable):
        await sales.enter(sale.sale_id, 8100, ENTRIES_CLOSE)
    assert await sales.due_draws(ENTRIES_CLOSE) == (sale.sale_id,)

    result = await sales.draw(sale.sale_id, ENTRIES_CLOSE, random.Random(7))
    # Commit-reveal: the lowest tickets win, whatever the rng (issue 15).
    checks = {m: await sales.verify_draw(sale.sale_id, m) for m in members}
    expected = sorted(members, key=lambda m: (checks[m].ticket, m))
    assert [w.member_id for w in result.winners] == expected[:3]
    assert result.losers == tuple(sorted(expected[3:]))
    for winner in result.winners:
        assert await balance(mall, winner.member_id) == 40
        assert (await mall.statements.balance(winner.member_id)).held == 0
    for loser in result.losers:
        assert await balance(mall, loser) == 100
    redemptions = Redemptions(mall.db, mall.config)
    won = await redemptions.get(result.winners[0].redemption_id)
    assert (won.status, won.points, won.flash_sale_id) == ("completed", 60, sale.sale_id)
    assert (await Catalog(mall.db, mall.config).get_item(mug)).stock == 7
    drawn = await sales.get_sale(sale.sale_id, ENTRIES_CLOSE)
    assert (drawn.status, drawn.remaining) == ("drawn", 0)
    assert await sales.due_draws(END) == ()

    before = await mall.check()
    twice = await sales.draw(sale.sale_id, END, random.Random(99))
    assert twice.replayed
    assert (twice.winners, twice.losers) == (result.winners, result.losers)
    after = await mall.check()
    assert after.ok
    assert after.transfers == before.transfers


async def test_a_draw_never_gives_more_than_the_item_has(mall: Mall):
    members = range(8200, 8204)
    await join_all(mall, members)
    mug = await add_item(mall, stock=2)
    sales = FlashSales(mall.db, mall.config)
    sale = await sales.create_sale(
        mug, 10, 5, START, END, "draw", ENTRIES_CLOSE, now=at("2026-03-05 09:00")
    )
    for member_id in members:
        await sales.enter(sale.sale_id, member_id, START)
    result = await sales.draw(sale.sale_id, END, random.Random(1))
    assert (len(result.winners), len(result.losers)) == (2, 2)
    assert (await Catalog(mall.db, mall.config).get_item(mug)).stock == 0
    assert (await sales.get_sale(sale.sale_id, END)).remaining == 3
    assert (await mall.check()).ok


async def test_sales_are_listed_with_their_phase(mall: Mall):
    mug = await add_item(mall)
    sales = FlashSales(mall.db, mall.config)
    created = at("2026-03-05 09:00")
    over = await sales.create_sale(
        mug, 10, 1, at("2026-03-04 10:00"), at("2026-03-04 12:00"), "first_come", now=created
    )
    upcoming = await sales.create_sale(mug, 10, 1, START, END, "first_come", now=created)
    draw = await sales.create_sale(
        mug, 10, 1, at("2026-03-05 08:00"), END, "draw", at("2026-03-05 10:00"), now=created
    )
    listed = await sales.current_and_upcoming(at("2026-03-05 11:00"))
    assert [(s.sale_id, s.phase) for s in listed] == [
        (draw.sale_id, "awaiting_draw"),
        (upcoming.sale_id, "upcoming"),
    ]
    assert over.sale_id not in {s.sale_id for s in listed}
    redemptions = Redemptions(mall.db, mall.config)
    await mall.members.join(7000, "M", "en", created)
    with pytest.raises(InvalidState):  # a draw is entered, not bought
        await redemptions.offer(7000, mug, at("2026-03-05 09:30"), flash_sale_id=draw.sale_id)
    with pytest.raises(InvalidState):  # and a first-come sale is bought, not entered
        await sales.enter(upcoming.sale_id, 7000, START)
    other = await add_item(mall, sku="cup")
    with pytest.raises(UnknownSale):  # a sale of another item
        await redemptions.offer(7000, other, START, flash_sale_id=upcoming.sale_id)


async def test_a_malformed_sale_is_refused_and_nothing_is_written(mall: Mall):
    mug = await add_item(mall)
    beans = await add_item(mall, sku="beans", cash_minor=500)
    sales = FlashSales(mall.db, mall.config)
    now = at("2026-03-05 09:00")
    cases = [
        (InvalidAmount, lambda: sales.create_sale(mug, 10, -1, START, END, "first_come", now=now)),
        (InvalidAmount, lambda: sales.create_sale(mug, 0, 1, START, END, "first_come", now=now)),
        (InvalidInput, lambda: sales.create_sale(mug, 10, 1, END, START, "first_come", now=now)),
        (InvalidInput, lambda: sales.create_sale(mug, 10, 1, START, END, "auction", now=now)),
        (InvalidInput, lambda: sales.create_sale(mug, 10, 1, START, END, "draw", now=now)),
        (
            InvalidInput,
            lambda: sales.create_sale(
                mug, 10, 1, START, END, "draw", END + timedelta(days=1), now=now
            ),
        ),
        (InvalidInput, lambda: sales.create_sale(beans, 10, 1, START, END, "first_come", now=now)),
        (UnknownSale, lambda: sales.enter(999, 7000, START)),
        (UnknownSale, lambda: sales.draw(-1, START, random.Random(1))),
    ]
    for error, call in cases:
        with pytest.raises(error):
            await call()
    async with mall.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(FlashSale))).scalar() == 0


async def test_a_prize_only_item_is_not_put_on_sale(mall: Mall):
    """An item kept for blind boxes only (``listed`` false) is off the shelf: no member could
    buy it at the sale price, so scheduling the sale is refused, in either mode."""
    prize = await add_item(mall, sku="prize", listed=False)
    sales = FlashSales(mall.db, mall.config)
    now = at("2026-03-05 09:00")
    with pytest.raises(PrizeOnly) as refused:
        await sales.create_sale(prize, 30, 5, START, END, "first_come", now=now)
    assert refused.value.code == "prize_only"
    assert refused.value.details == {"item_id": prize}
    with pytest.raises(PrizeOnly):
        await sales.create_sale(prize, 30, 5, START, END, "draw", ENTRIES_CLOSE, now=now)
    async with mall.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(FlashSale))).scalar() == 0

    # Back on the shelf, the same item may go on sale.
    await Catalog(mall.db, mall.config).edit_item(prize, {"listed": True}, now, actor_id=1)
    sale = await sales.create_sale(prize, 30, 5, START, END, "first_come", now=now)
    assert sale.item_id == prize
