"""Members open blind boxes, on both databases: true odds, the guarantee, verifiable draws."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, insert, select, update

from core.db.models import BoxDraw, BoxPrize, BoxStreak, CouponCode, Item, Redemption
from core.errors import (
    DailyCapReached,
    Frozen,
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    InvalidKey,
    KeyReused,
    NotAvailable,
    SoldOut,
    UnknownBox,
)
from core.games import box_draws
from core.games.blind_boxes import (
    MISMATCH,
    NOT_YET_REVEALED,
    VERIFIED,
    BlindBoxes,
    DrawResult,
    UnknownDraw,
)
from core.games.box_authoring import PrizeSpec
from core.games.box_odds import ALL_WON, ITEM_INACTIVE, ITEM_SOLD_OUT, NO_CODES
from core.games.box_seeds import SeedRotation
from core.mall import Mall
from core.rewards.catalog import ItemSpec
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE, BOB = 1001, 1002
NOW = at("2026-03-01 10:00")
RICH = make_config("[members]\nsignup_bonus = 100000")


def fixed_seeds() -> Callable[[], str]:
    """Server seeds known in advance (64 hex characters, like the real ones)."""
    counter = itertools.count(1)
    return lambda: hashlib.sha256(f"test seed {next(counter)}".encode()).hexdigest()


FIRST_SEED = hashlib.sha256(b"test seed 1").hexdigest()


def blind_boxes(mall: Mall) -> BlindBoxes:
    return BlindBoxes(mall.db, mall.config, seed_source=fixed_seeds())


@pytest.fixture
async def rich_mall(make_mall: MallFactory) -> Mall:
    """A mall whose members join with 100,000 points, enough for many boxes."""
    return await make_mall(RICH)


async def add_item(
    mall: Mall,
    sku: str,
    *,
    kind: str = "physical",
    price: int = 500,
    stock: int | None = None,
    codes: Sequence[str] = (),
) -> int:
    """An item in the catalog (and its coupon codes), written directly."""
    async with mall.db.write() as conn:
        item_id = (
            await conn.execute(
                insert(Item)
                .values(
                    sku=sku,
                    title=sku.replace("-", " ").title(),
                    category="gifts",
                    kind=kind,
                    price_points=price,
                    stock=stock,
                    created_at=NOW,
                    updated_at=NOW,
                )
                .returning(Item.id)
            )
        ).scalar_one()
        for code in codes:
            await conn.execute(insert(CouponCode).values(item_id=item_id, code=code))
    return int(item_id)


async def count(mall: Mall, model: type, *where: object) -> int:
    async with mall.db.read() as conn:
        return int(
            (await conn.execute(select(func.count()).select_from(model).where(*where))).scalar_one()
        )


async def stocks(mall: Mall, box_id: int) -> dict[str, int | None]:
    async with mall.db.read() as conn:
        rows = await conn.execute(
            select(BoxPrize.name, BoxPrize.stock).where(BoxPrize.box_id == box_id)
        )
        return {row.name: row.stock for row in rows}


async def balance(mall: Mall, member_id: int) -> int:
    return (await mall.statements.balance(member_id)).balance


async def books_clean(mall: Mall) -> tuple[int, int]:
    report = await mall.check()
    assert report.ok, report.violations
    return report.transfers, report.outstanding_points


# --- Odds and opening --------------------------------------------------------------------------


async def test_alice_sees_the_true_odds_the_published_seed_hash_and_her_counter(mall: Mall):
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    mug = await add_item(mall, "mug", price=400, stock=5)
    created = await boxes.create_box(
        "lucky",
        "Lucky box",
        100,
        [
            PrizeSpec("10 points", "points", 60, points=10),
            PrizeSpec("40 points", "points", 30, points=40),
            PrizeSpec("A mug", "item", 10, item_id=mug, rare=True),
        ],
        NOW,
        pity_after=10,
        daily_cap=500,
    )
    assert created.seed_hash == box_draws.seed_hash(FIRST_SEED)
    view = await boxes.describe(created.box_id, ALICE, NOW)
    assert [(p.name, p.probability, p.guaranteed_probability) for p in view.prizes] == [
        ("10 points", Decimal("0.6"), Decimal(0)),
        ("40 points", Decimal("0.3"), Decimal(0)),
        ("A mug", Decimal("0.1"), Decimal(1)),
    ]
    assert view.total_weight == 100
    assert view.prizes[2].item_title == "Mug"
    assert (view.seed_version, view.seed_hash) == (1, created.seed_hash)
    assert (view.draws, view.draws_until_guarantee, view.next_draw_guaranteed) == (0, 11, False)
    assert (view.daily_cap, view.spent_today, view.left_today) == (500, 0, 500)
    # The admin sees what the box pays per point spent: ordinary draws pay 58 points' worth,
    # and the guarantee adds a mug now and then.
    theory = box_draws.expected_value(
        100,
        [
            box_draws.Candidate(1, 60, value=10),
            box_draws.Candidate(2, 30, value=40),
            box_draws.Candidate(3, 10, rare=True, value=400),
        ],
        pity_after=10,
    )
    assert created.table.expected_value == theory
    assert Decimal("0.58") < theory < 1
    assert not created.table.pays_out_more_than_it_takes


async def test_opening_a_box_takes_the_price_and_pays_the_prize(rich_mall: Mall):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "coin-box",
        "Coin box",
        100,
        [
            PrizeSpec("5 points", "points", 1, points=5),
            PrizeSpec("500 points", "points", 1, points=500),
        ],
        NOW,
    )
    results = [
        await boxes.open(ALICE, box.box_id, f"open-{n}", at(f"2026-03-01 10:0{n}"))
        for n in range(4)
    ]
    won = sum(result.points_won for result in results)
    assert [result.draw_number for result in results] == [1, 2, 3, 4]
    assert {result.prize_name for result in results} <= {"5 points", "500 points"}
    assert results[-1].balance == 100_000 - 400 + won == await balance(mall, ALICE)
    assert all(result.seed_hash == box.seed_hash for result in results)
    report = await boxes.payout_report(box.box_id)
    assert (report.draws, report.points_spent, report.points_paid) == (4, 400, won)
    assert report.ratio == (Decimal(won) / 400).quantize(Decimal("0.0001"))
    assert report.pool_balance == 400 - won
    assert report.expected_value == Decimal("2.5250")  # (5 + 500) / 2 per 100 points
    assert report.pays_out_more_than_it_takes
    await books_clean(mall)


async def test_a_prize_that_runs_out_leaves_the_draw_and_the_odds_are_recomputed(rich_mall: Mall):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "gold-rush",
        "Gold rush",
        10,
        [
            PrizeSpec("Gold", "points", 999_999, points=1000, stock=1),
            PrizeSpec("Pebble", "points", 1, points=1),
        ],
        NOW,
    )
    first = await boxes.open(ALICE, box.box_id, "open-1", NOW)
    assert (first.prize_name, first.points_won) == ("Gold", 1000)
    view = await boxes.describe(box.box_id, ALICE, NOW)
    gold, pebble = view.prizes
    assert (gold.available, gold.stock, gold.probability) == (False, 0, Decimal(0))
    assert (pebble.available, pebble.probability) == (True, Decimal(1))
    assert view.total_weight == 1
    # The next draw is never a silent "no win": it is drawn among what is left.
    second = await boxes.open(ALICE, box.box_id, "open-2", NOW)
    assert second.prize_name == "Pebble"
    assert [(entry.prize_id, entry.weight) for entry in second.pool] == [(pebble.prize_id, 1)]
    # Restocked, Gold is back in the draw with its odds.
    table = await boxes.set_prizes(
        box.box_id,
        [
            PrizeSpec("Gold", "points", 999_999, points=1000, stock=2),
            PrizeSpec("Pebble", "points", 1, points=1),
        ],
        NOW,
    )
    assert table.prizes[0].probability == Decimal("0.999999")
    assert await stocks(mall, box.box_id) == {"Gold": 2, "Pebble": None}
    await books_clean(mall)


async def test_a_box_with_nothing_left_is_sold_out_and_takes_nothing(rich_mall: Mall):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "last-one", "Last one", 10, [PrizeSpec("Only", "points", 1, points=5, stock=1)], NOW
    )
    await boxes.open(ALICE, box.box_id, "open-1", NOW)
    before = await books_clean(mall)
    with pytest.raises(SoldOut):
        await boxes.open(ALICE, box.box_id, "open-2", NOW)
    assert (await boxes.describe(box.box_id, ALICE, NOW)).sold_out
    assert await books_clean(mall) == before
    assert await count(mall, BoxDraw) == 1


# --- The guarantee -----------------------------------------------------------------------------


async def test_after_ten_draws_without_a_rare_prize_the_eleventh_gives_one_and_persists(
    rich_mall: Mall,
):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "pity",
        "Pity box",
        10,
        [
            PrizeSpec("Common", "points", 1_000_000, points=1),
            PrizeSpec("Jackpot", "points", 1, points=5000, rare=True),
        ],
        NOW,
        pity_after=10,
    )
    draws = [await boxes.open(ALICE, box.box_id, f"a-{n}", NOW) for n in range(1, 12)]
    assert [d.prize_name for d in draws[:10]] == ["Common"] * 10
    assert [d.draws_until_guarantee for d in draws[:10]] == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    eleventh = draws[10]
    assert (eleventh.prize_name, eleventh.rare, eleventh.by_guarantee) == ("Jackpot", True, True)
    assert (eleventh.since_rare, eleventh.draws_until_guarantee) == (0, 11)
    assert [(entry.weight) for entry in eleventh.pool] == [1]  # drawn among the rare prizes only
    for n in range(12, 17):
        await boxes.open(ALICE, box.box_id, f"a-{n}", NOW)

    # The counter lives in the database, not in the service: a restarted bot knows it.
    restarted = BlindBoxes(mall.db, mall.config)
    view = await restarted.describe(box.box_id, ALICE, NOW)
    assert (view.draws, view.since_rare, view.draws_until_guarantee) == (16, 5, 6)
    later = [await restarted.open(ALICE, box.box_id, f"b-{n}", NOW) for n in range(6)]
    assert [d.by_guarantee for d in later] == [False, False, False, False, False, True]
    assert later[-1].prize_name == "Jackpot"
    report = await restarted.payout_report(box.box_id)
    assert report.by_guarantee == 2
    await books_clean(mall)


async def test_a_guarantee_with_no_rare_prize_left_is_an_ordinary_draw_that_says_so(
    rich_mall: Mall,
):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "no-rare-left",
        "No rare left",
        10,
        [
            PrizeSpec("Common", "points", 1_000_000, points=1),
            PrizeSpec("Jackpot", "points", 1, points=5000, rare=True, stock=0),
        ],
        NOW,
        pity_after=2,
    )
    first = await boxes.open(ALICE, box.box_id, "a-1", NOW)
    second = await boxes.open(ALICE, box.box_id, "a-2", NOW)
    view = await boxes.describe(box.box_id, ALICE, NOW)
    assert not view.guarantee_available
    assert not view.next_draw_guaranteed
    third = await boxes.open(ALICE, box.box_id, "a-3", NOW)
    assert (first.guarantee_missed, second.guarantee_missed, third.guarantee_missed) == (
        False,
        False,
        True,
    )
    assert (third.prize_name, third.by_guarantee, third.since_rare) == ("Common", False, 3)


async def test_a_prize_only_item_is_drawn_while_a_switched_off_one_is_out_and_says_why(
    rich_mall: Mall,
):
    """``listed = False`` keeps an item off the shelf, not out of the box; ``active = False``
    takes it out of both, and the table says why each weighted prize is out of the draw."""
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    prize_only = ItemSpec(
        sku="golden-mug",
        title="Golden mug",
        category="Perks",
        kind="physical",
        price_points=20_000,
        stock=3,
        listed=False,
    )
    mug = (await mall.catalog.upsert_item(prize_only, NOW)).item_id
    pin = await add_item(mall, "pin", stock=5)
    await mall.catalog.deactivate(pin, NOW)
    sold = await add_item(mall, "sold", stock=0)
    voucher = await add_item(mall, "voucher", kind="coupon")  # no codes
    box = await boxes.create_box(
        "lucky",
        "Lucky box",
        10,
        [
            PrizeSpec("Common", "points", 1_000_000, points=1),
            PrizeSpec("Mug", "item", 1, item_id=mug, rare=True),
            PrizeSpec("Pin", "item", 5, item_id=pin, rare=True),
            PrizeSpec("Sold", "item", 5, item_id=sold),
            PrizeSpec("Voucher", "coupon", 5, item_id=voucher),
            PrizeSpec("Gone", "points", 5, points=5, stock=0),
            PrizeSpec("Retired", "points", 0, points=5),
        ],
        NOW,
        pity_after=2,
    )
    table = await boxes.prize_table(box.box_id)
    assert [(p.name, p.available, p.out_reason) for p in table.prizes] == [
        ("Common", True, None),
        ("Mug", True, None),
        ("Pin", False, ITEM_INACTIVE),
        ("Sold", False, ITEM_SOLD_OUT),
        ("Voucher", False, NO_CODES),
        ("Gone", False, ALL_WON),
        ("Retired", False, "weight_zero"),
    ]
    assert (table.total_weight, table.rare_weight) == (1_000_001, 1)
    view = await boxes.describe(box.box_id, ALICE, NOW)
    assert view.guarantee_available

    # The guarantee gives the prize-only mug: a redemption the member never could have made.
    draws = [await boxes.open(ALICE, box.box_id, f"a-{n}", NOW) for n in range(3)]
    assert [d.prize_name for d in draws[:2]] == ["Common", "Common"]
    assert (draws[2].prize_name, draws[2].by_guarantee) == ("Mug", True)
    assert draws[2].redemption_id is not None
    assert (await mall.catalog.get_item(mug)).stock == 2
    assert (await mall.catalog.item_view(ALICE, mug, NOW)).blocked_reason == "not_available"
    with pytest.raises(NotAvailable):
        await mall.redemptions.offer(ALICE, mug, NOW)

    # Switched off, the mug leaves the draw too, and the guarantee is paused.
    await mall.catalog.deactivate(mug, NOW)
    view = await boxes.describe(box.box_id, ALICE, NOW)
    assert [(p.name, p.out_reason) for p in view.prizes if p.name == "Mug"] == [
        ("Mug", ITEM_INACTIVE)
    ]
    assert not view.guarantee_available
    await books_clean(mall)


# --- Concurrency -------------------------------------------------------------------------------


async def test_100_concurrent_draws_award_a_rare_prize_of_3_units_at_most_3_times(mall: Mall):
    boxes = blind_boxes(mall)
    members = range(2001, 2101)
    await asyncio.gather(*(mall.members.join(m, f"M{m}", "en", NOW) for m in members))
    box = await boxes.create_box(
        "rush",
        "Rush box",
        50,
        [
            PrizeSpec("Rare", "points", 50, points=200, stock=3, rare=True),
            PrizeSpec("Common", "points", 50, points=5),
        ],
        NOW,
    )
    results = await asyncio.gather(*(boxes.open(m, box.box_id, f"rush-{m}", NOW) for m in members))
    rare = [r for r in results if r.prize_name == "Rare"]
    assert len(results) == 100
    assert len(rare) == 3  # half the draws land on it; it runs out after three
    assert (await stocks(mall, box.box_id))["Rare"] == 0
    assert await count(mall, BoxDraw) == 100
    # Once it was gone, the draws were made among what was left, and each pool says so.
    assert all(len(r.pool) == 2 for r in rare)
    assert sum(len(r.pool) == 1 for r in results) > 0
    for r in results:
        assert box_draws.pick(r.value, [(e.prize_id, e.weight) for e in r.pool]) == r.prize_id
    report = await boxes.payout_report(box.box_id)
    assert report.points_spent == 100 * 50
    assert report.pool_balance == 5000 - report.points_paid
    assert report.points_paid == 3 * 200 + 97 * 5
    await books_clean(mall)


async def test_a_double_tapped_open_draws_once(mall: Mall):
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "tap", "Tap box", 30, [PrizeSpec("Points", "points", 1, points=10)], NOW
    )
    first, second = await asyncio.gather(
        boxes.open(ALICE, box.box_id, "tap-1", NOW), boxes.open(ALICE, box.box_id, "tap-1", NOW)
    )
    assert first.draw_id == second.draw_id
    assert sorted([first.replayed, second.replayed]) == [False, True]
    assert await balance(mall, ALICE) == 100 - 30 + 10
    assert await count(mall, BoxDraw) == 1
    # The same token for another box is someone else's button, not a replay.
    other = await boxes.create_box(
        "tap-2", "Tap box 2", 30, [PrizeSpec("Points", "points", 1, points=10)], NOW
    )
    with pytest.raises(KeyReused):
        await boxes.open(ALICE, other.box_id, "tap-1", NOW)


# --- Refusals ----------------------------------------------------------------------------------


async def test_the_daily_cap_stops_spending_on_a_box_until_the_next_business_day(mall: Mall):
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    box = await boxes.create_box(
        "capped", "Capped", 30, [PrizeSpec("Dust", "consolation", 1)], NOW, daily_cap=70
    )
    await boxes.open(ALICE, box.box_id, "c-1", at("2026-03-01 09:00"))
    second = await boxes.open(ALICE, box.box_id, "c-2", at("2026-03-01 23:00"))
    assert (second.points_won, second.spent_today) == (0, 60)
    before = await books_clean(mall)
    with pytest.raises(DailyCapReached) as capped:
        await boxes.open(ALICE, box.box_id, "c-3", at("2026-03-01 23:59:59"))
    assert capped.value.details == {"box_id": box.box_id, "daily_cap": 70, "spent_today": 60}
    assert await books_clean(mall) == before
    view = await boxes.describe(box.box_id, ALICE, at("2026-03-01 23:59:59"))
    assert (view.spent_today, view.left_today, view.draws) == (60, 10, 2)
    # Midnight in the mall's time zone (Asia/Shanghai) opens a new day.
    third = await boxes.open(ALICE, box.box_id, "c-4", at("2026-03-02 00:00"))
    assert third.spent_today == 30
    assert third.balance == 100 - 90


async def test_a_frozen_member_cannot_open_a_box(mall: Mall):
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box("frz", "Box", 10, [PrizeSpec("P", "points", 1, points=1)], NOW)
    await mall.members.freeze(ALICE, "reported for abuse")
    before = await books_clean(mall)
    with pytest.raises(Frozen):
        await boxes.open(ALICE, box.box_id, "f-1", NOW)
    assert await books_clean(mall) == before
    await mall.members.unfreeze(ALICE)
    assert (await boxes.open(ALICE, box.box_id, "f-2", NOW)).draw_number == 1


async def test_a_member_short_of_points_is_refused_and_nothing_is_written(mall: Mall):
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "dear",
        "Dear box",
        150,
        [PrizeSpec("Gold", "points", 1, points=500, stock=1, rare=True)],
        NOW,
        pity_after=3,
    )
    before = await books_clean(mall)
    with pytest.raises(InsufficientPoints) as refused:
        await boxes.open(ALICE, box.box_id, "d-1", NOW)
    assert refused.value.details == {"balance": 100, "needed": 150}
    # Retrying the same button is refused the same way, and still writes nothing.
    with pytest.raises(InsufficientPoints):
        await boxes.open(ALICE, box.box_id, "d-1", NOW)
    assert await books_clean(mall) == before
    assert await stocks(mall, box.box_id) == {"Gold": 1}
    assert await count(mall, BoxDraw) == 0
    assert await count(mall, BoxStreak) == 0
    assert (await boxes.describe(box.box_id, ALICE, NOW)).draws == 0


async def test_unknown_inactive_and_malformed_requests_are_refused(mall: Mall):
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "shut", "Shut", 10, [PrizeSpec("P", "points", 1, points=1)], NOW, active=False
    )
    before = await books_clean(mall)
    with pytest.raises(NotAvailable):
        await boxes.open(ALICE, box.box_id, "s-1", NOW)
    with pytest.raises(UnknownBox):
        await boxes.open(ALICE, 999, "s-2", NOW)
    with pytest.raises(UnknownBox):
        await boxes.describe(999, ALICE, NOW)
    with pytest.raises(InvalidKey):
        await boxes.open(ALICE, box.box_id, "has space", NOW)
    with pytest.raises(InvalidInput):
        await boxes.open(ALICE, 0, "s-3", NOW)
    with pytest.raises(UnknownDraw):
        await boxes.verify_draw(12345)
    assert await books_clean(mall) == before
    assert [summary.active for summary in await boxes.list_boxes()] == [False]


# --- Items and coupons -------------------------------------------------------------------------


async def test_item_and_coupon_prizes_are_delivered_like_redemptions(rich_mall: Mall):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    mug = await add_item(mall, "mug", price=400, stock=1)
    voucher = await add_item(mall, "coffee-voucher", kind="coupon", price=80, codes=["C-1"])
    box = await boxes.create_box(
        "goods",
        "Goods box",
        50,
        [
            PrizeSpec("Mug", "item", 1000, item_id=mug),
            PrizeSpec("Coffee", "coupon", 1000, item_id=voucher),
            PrizeSpec("Dust", "consolation", 1, points=1),
        ],
        NOW,
    )
    won = [await boxes.open(ALICE, box.box_id, f"g-{n}", NOW) for n in range(3)]
    by_name = {result.prize_name: result for result in won}
    assert set(by_name) == {"Mug", "Coffee", "Dust"}
    assert by_name["Coffee"].coupon_code == "C-1"
    mug_draw = by_name["Mug"]
    assert mug_draw.item_title == "Mug"
    async with mall.db.read() as conn:
        redemption = (
            await conn.execute(select(Redemption).where(Redemption.id == mug_draw.redemption_id))
        ).one()
        item_stock = (await conn.execute(select(Item.stock).where(Item.id == mug))).scalar_one()
    assert (redemption.status, redemption.points, redemption.member_id) == ("completed", 0, ALICE)
    assert item_stock == 0
    # The mug and the codes are gone: only the consolation is left in the draw.
    view = await boxes.describe(box.box_id, ALICE, NOW)
    assert [(p.name, p.available) for p in view.prizes] == [
        ("Mug", False),
        ("Coffee", False),
        ("Dust", True),
    ]
    report = await boxes.payout_report(box.box_id)
    assert (report.item_value, report.points_paid) == (400 + 80, 1)
    await books_clean(mall)


# --- Verifying ---------------------------------------------------------------------------------


async def test_a_past_draw_verifies_once_its_seed_is_revealed_and_a_tampered_one_does_not(
    rich_mall: Mall,
):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "proof",
        "Proof box",
        10,
        [
            PrizeSpec("Small", "points", 70, points=1),
            PrizeSpec("Medium", "points", 25, points=10),
            PrizeSpec("Large", "points", 5, points=100),
        ],
        NOW,
    )
    draws = [await boxes.open(ALICE, box.box_id, f"p-{n}", NOW) for n in range(6)]
    early = await boxes.verify_draw(draws[0].draw_id)
    assert (early.status, early.seed) == (NOT_YET_REVEALED, None)

    rotation = await boxes.rotate_seed(box.box_id, at("2026-03-02 00:00"))
    assert rotation.revealed_seed == FIRST_SEED
    assert (rotation.old_version, rotation.new_version) == (1, 2)
    assert box_draws.seed_hash(rotation.revealed_seed) == box.seed_hash == rotation.old_hash
    for draw in draws:
        checked = await boxes.verify_draw(draw.draw_id)
        assert checked.status == VERIFIED
        assert checked.recomputed_prize_id == draw.prize_id
        # Anyone can redo it with the result they were shown and the revealed seed.
        pool = [(entry.prize_id, entry.weight) for entry in draw.pool]
        assert draw.formula == box_draws.CLIENT_SEED_FORMULA
        assert draw.client_seed
        message = f"{draw.client_seed}:{draw.draw_number}"
        assert box_draws.verify(
            rotation.revealed_seed, draw.seed_hash, message, pool, draw.prize_id
        )
        for other in {p.prize_id for p in draws[0].pool} - {draw.prize_id}:
            assert not box_draws.verify(
                rotation.revealed_seed, draw.seed_hash, message, pool, other
            )

    # Draws after the rotation are signed by the new seed, published before them.
    after = await boxes.open(ALICE, box.box_id, "p-after", at("2026-03-02 00:01"))
    assert (after.seed_version, after.seed_hash) == (2, rotation.new_hash)
    assert (await boxes.verify_draw(after.draw_id)).status == NOT_YET_REVEALED

    # A record edited after the fact no longer verifies.
    target = draws[0]
    forged = next(p.prize_id for p in target.pool if p.prize_id != target.prize_id)
    async with mall.db.write() as conn:
        await conn.execute(
            update(BoxDraw).where(BoxDraw.id == target.draw_id).values(prize_id=forged)
        )
    tampered = await boxes.verify_draw(target.draw_id)
    assert (tampered.status, tampered.recomputed_prize_id) == (MISMATCH, target.prize_id)


async def test_draws_racing_a_seed_rotation_are_each_signed_by_a_seed_revealed_after_them(
    mall: Mall,
):
    boxes = blind_boxes(mall)
    members = range(3001, 3021)
    await asyncio.gather(*(mall.members.join(m, f"M{m}", "en", NOW) for m in members))
    box = await boxes.create_box(
        "race",
        "Race box",
        10,
        [PrizeSpec("A", "points", 3, points=1), PrizeSpec("B", "points", 1, points=20)],
        NOW,
    )
    opens = [boxes.open(m, box.box_id, f"race-{m}", NOW) for m in members]

    async def rotate_meanwhile() -> SeedRotation:
        await asyncio.sleep(0.05)  # lands somewhere among the draws, wherever that is
        return await boxes.rotate_seed(box.box_id, NOW)

    outcomes = await asyncio.gather(*opens[:10], rotate_meanwhile(), *opens[10:])
    rotation = outcomes[10]
    assert isinstance(rotation, SeedRotation)
    results = [r for r in outcomes if isinstance(r, DrawResult)]
    assert len(results) == 20
    final = await boxes.rotate_seed(box.box_id, NOW)
    assert (rotation.new_version, final.old_version) == (2, 2)
    assert {r.seed_version for r in results} <= {1, 2}
    for r in results:
        assert r.seed_hash == (rotation.old_hash if r.seed_version == 1 else rotation.new_hash)
        assert (await boxes.verify_draw(r.draw_id)).status == VERIFIED


# --- The admin's prize table -------------------------------------------------------------------

MUG = -1  # stands for the id of the test's (physical) mug


async def test_an_admin_edits_the_prize_table_and_sees_its_odds_and_expected_value(mall: Mall):
    boxes = blind_boxes(mall)
    mug = await add_item(mall, "mug", price=400, stock=5)
    voucher = await add_item(mall, "voucher", kind="coupon", price=50, codes=["V-1", "V-2"])
    box = await boxes.create_box(
        "edit", "Edit me", 100, [PrizeSpec("Old", "points", 1, points=10)], NOW
    )
    table = await boxes.set_prizes(
        box.box_id,
        [
            PrizeSpec("Voucher", "coupon", 3, item_id=voucher),
            PrizeSpec("Mug", "item", 1, item_id=mug, rare=True, stock=2),
        ],
        NOW,
    )
    # "Old" leaves the draw but keeps its row for the draws that won it.
    assert [(p.name, p.weight, p.probability) for p in table.prizes] == [
        ("Old", 0, Decimal(0)),
        ("Voucher", 3, Decimal("0.75")),
        ("Mug", 1, Decimal("0.25")),
    ]
    assert table.expected_value == Decimal("1.3750")  # (0.75 * 50 + 0.25 * 400) / 100
    assert table.pays_out_more_than_it_takes


@pytest.mark.parametrize(
    ("prizes", "field"),
    [
        ([PrizeSpec("Nothing", "points", 0, points=5)], "prizes"),
        ([], "prizes"),
        ([PrizeSpec("Minus", "points", -1, points=5)], "prizes[0].weight"),
        ([PrizeSpec("Odd", "diamonds", 1)], "prizes[0].kind"),
        ([PrizeSpec("Ghost", "item", 1, item_id=424242)], "prizes[0].item_id"),
        ([PrizeSpec("Mug as coupon", "coupon", 1, item_id=MUG)], "prizes[0].item_id"),
        ([PrizeSpec("No item", "item", 1)], "prizes[0].item_id"),
        ([PrizeSpec("A", "consolation", 1), PrizeSpec("a", "consolation", 1)], "prizes[1].name"),
        ([PrizeSpec("Bad stock", "points", 1, points=5, stock=-2)], "prizes[0].stock"),
    ],
)
async def test_a_bad_prize_table_is_refused_and_nothing_changes(
    mall: Mall, prizes: list[PrizeSpec], field: str
):
    boxes = blind_boxes(mall)
    mug = await add_item(mall, "mug", price=400)
    prizes = [replace(p, item_id=mug) if p.item_id == MUG else p for p in prizes]
    box = await boxes.create_box(
        "keep", "Keep me", 100, [PrizeSpec("Old", "points", 1, points=10, stock=4)], NOW
    )
    before = await boxes.prize_table(box.box_id)
    with pytest.raises(InvalidInput) as refused:
        await boxes.set_prizes(box.box_id, prizes, NOW)
    assert refused.value.code == "invalid_input"
    assert refused.value.details["field"] == field
    assert await boxes.prize_table(box.box_id) == before
    with pytest.raises(InvalidInput):
        await boxes.create_box("other", "Other", 100, prizes, NOW)
    with pytest.raises(InvalidInput) as taken:
        await boxes.create_box("keep", "Again", 100, [PrizeSpec("P", "points", 1, points=1)], NOW)
    assert taken.value.details == {"field": "sku", "reason": "taken"}
    assert len(await boxes.list_boxes()) == 1


# --- Invariants under random use ---------------------------------------------------------------

_examples = itertools.count(1)
_step = st.one_of(
    st.tuples(st.just("open"), st.integers(min_value=0, max_value=2)),
    st.tuples(st.just("restock"), st.integers(min_value=0, max_value=3)),
)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_step, min_size=1, max_size=20))
async def test_any_run_of_opens_and_restocks_keeps_the_books_and_the_stock_clean(
    mall: Mall, steps: list[tuple[str, int]]
):
    example = next(_examples)
    boxes = blind_boxes(mall)
    members = [example * 10 + n for n in range(3)]
    for member in members:
        await mall.members.join(member, f"M{member}", "en", NOW)
    voucher = await add_item(
        mall, f"voucher-{example}", kind="coupon", price=60, codes=[f"{example}-A", f"{example}-B"]
    )
    mug = await add_item(mall, f"mug-{example}", price=300, stock=1)

    def table(big_stock: int) -> list[PrizeSpec]:
        return [
            PrizeSpec("Small", "points", 50, points=5),
            PrizeSpec("Big", "points", 30, points=60, stock=big_stock),
            PrizeSpec("Voucher", "coupon", 15, item_id=voucher, rare=True),
            PrizeSpec("Mug", "item", 5, item_id=mug, rare=True, stock=3),
        ]

    box = await boxes.create_box(f"prop-{example}", "Property box", 20, table(1), NOW, pity_after=3)
    given_big = 1
    for n, (action, argument) in enumerate(steps):
        if action == "open":
            with contextlib.suppress(InsufficientPoints, SoldOut):
                await boxes.open(members[argument], box.box_id, f"x{example}-{n}", NOW)
        else:
            won_big = await count(
                mall,
                BoxDraw,
                BoxDraw.box_id == box.box_id,
                BoxDraw.prize_id == box.table.prizes[1].prize_id,
            )
            await boxes.set_prizes(box.box_id, table(argument), NOW)
            given_big = won_big + argument

    await books_clean(mall)
    assert all(stock is None or stock >= 0 for stock in (await stocks(mall, box.box_id)).values())
    won = Counter[str]()
    async with mall.db.read() as conn:
        for row in await conn.execute(
            select(BoxPrize.name, func.count())
            .join(BoxDraw, BoxDraw.prize_id == BoxPrize.id)
            .where(BoxPrize.box_id == box.box_id)
            .group_by(BoxPrize.name)
        ):
            won[row[0]] = int(row[1])
        streaks = {
            int(row.member_id): int(row.draws)
            for row in await conn.execute(
                select(BoxStreak.member_id, BoxStreak.draws).where(BoxStreak.box_id == box.box_id)
            )
        }
        item_stock = (await conn.execute(select(Item.stock).where(Item.id == mug))).scalar_one()
        guaranteed_but_common = (
            await conn.execute(
                select(func.count())
                .select_from(BoxDraw)
                .join(BoxPrize, BoxPrize.id == BoxDraw.prize_id)
                .where(BoxDraw.by_guarantee.is_(True), BoxPrize.rare.is_(False))
            )
        ).scalar_one()
    assert guaranteed_but_common == 0
    assert won["Big"] <= given_big
    assert won["Voucher"] <= 2
    assert won["Mug"] <= 1
    assert item_stock == 1 - won["Mug"]
    assert sum(streaks.values()) == sum(won.values())
    report = await boxes.payout_report(box.box_id)
    assert report.points_spent == 20 * sum(won.values())
    assert report.points_paid == 5 * won["Small"] + 60 * won["Big"]


async def test_an_admin_prices_closes_and_opens_a_box_and_the_log_says_who(rich_mall: Mall):
    mall = rich_mall
    boxes = blind_boxes(mall)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    box = await boxes.create_box(
        "edit-box", "Edit box", 100, [PrizeSpec("5 points", "points", 1, points=5)], NOW
    )
    priced = await boxes.edit_box(box.box_id, NOW, actor_id=7, price_points=150)
    assert (priced.price_points, priced.active) == (150, True)
    first = await boxes.open(ALICE, box.box_id, "open-1", NOW)
    assert first.balance == 100_000 - 150 + 5

    closed = await boxes.edit_box(box.box_id, NOW, actor_id=7, active=False)
    assert not closed.active
    with pytest.raises(NotAvailable):
        await boxes.open(ALICE, box.box_id, "open-2", NOW)
    same = await boxes.edit_box(box.box_id, NOW, actor_id=7, active=False, price_points=150)
    assert (same.active, same.price_points) == (False, 150)
    reopened = await boxes.edit_box(box.box_id, NOW, actor_id=8, active=True)
    assert reopened.active
    assert (await boxes.open(ALICE, box.box_id, "open-3", NOW)).draw_number == 2

    entries = [e for e in await mall.audit.latest(10) if e.action == "box.edit"]
    assert [(e.actor_id, e.before, e.after) for e in entries] == [
        (8, {"active": False}, {"active": True}),
        (7, {"active": True}, {"active": False}),
        (7, {"price_points": 100}, {"price_points": 150}),
    ]
    for bad in (
        lambda: boxes.edit_box(box.box_id, NOW, actor_id=7, price_points=0),
        lambda: boxes.edit_box(box.box_id, NOW, actor_id=0, active=True),
        lambda: boxes.edit_box(box.box_id, NOW, actor_id=7, active="yes"),  # type: ignore[arg-type]
    ):
        with pytest.raises((InvalidInput, InvalidAmount)):
            await bad()
    with pytest.raises(UnknownBox):
        await boxes.edit_box(999, NOW, actor_id=7, active=True)
    await books_clean(mall)
