"""The catalog as members browse it and admins keep it, on both databases."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.db.models import Item
from core.errors import (
    InvalidInput,
    InvalidState,
    LimitReached,
    MallError,
    NotAvailable,
    TierTooLow,
    UnknownItem,
    UnknownMember,
)
from core.mall import Mall
from core.rewards.catalog import Catalog, ItemSpec
from core.rewards.eligibility import period_start
from core.rewards.redemptions import Redemptions
from tests.conftest import at

ALICE = 1001
NOW = at("2026-03-02 10:00")  # a Monday
SHANGHAI = ZoneInfo("Asia/Shanghai")


def spec(sku: str = "tea", **terms: object) -> ItemSpec:
    values: dict[str, object] = {
        "sku": sku,
        "title": sku.replace("-", " ").title(),
        "category": "Drinks",
        "kind": "virtual",
        "price_points": 50,
        **terms,
    }
    return ItemSpec(**values)  # type: ignore[arg-type]


async def add(mall: Mall, sku: str, **terms: object) -> int:
    catalog = Catalog(mall.db, mall.config)
    return (await catalog.upsert_item(spec(sku, **terms), at("2026-03-01 07:00"))).item_id


async def redeem(mall: Mall, member_id: int, item_id: int, now: datetime = NOW):
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(member_id, item_id, now)
    return await redemptions.redeem(member_id, offer.token, now, address="Counter")


async def test_the_list_says_why_alice_cannot_redeem_an_item(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))  # 100 points
    tea = await add(mall, "tea")
    await add(mall, "cake", price_points=150)
    await add(mall, "mug", kind="physical", stock=0)
    await add(mall, "lounge", min_tier="Gold")
    badge = await add(mall, "badge", price_points=10, limit_count=1, limit_period="ever")
    await add(mall, "voucher", kind="coupon")  # no codes loaded: an empty pool
    await add(mall, "spring-menu", starts_at=at("2026-04-01 00:00"))  # not yet
    await add(mall, "retired", active=False)
    await redeem(mall, ALICE, badge)
    catalog = Catalog(mall.db, mall.config)
    page = await catalog.list_items(ALICE, NOW, page_size=20)
    seen = {view.sku: (view.affordable, view.blocked_reason) for view in page.items}
    assert seen == {
        "tea": (True, None),
        "cake": (False, "insufficient_points"),
        "mug": (True, "sold_out"),
        "lounge": (True, "tier_too_low"),
        "badge": (True, "limit_reached"),
        "voucher": (True, "sold_out"),
    }
    views = {view.sku: view for view in page.items}
    assert views["mug"].stock_left == 0
    assert views["voucher"].stock_left == 0
    assert views["tea"].stock_left is None
    assert views["badge"].used_in_period == 1
    # What the list promises, the redemption keeps; what it refuses, the redemption refuses.
    redemptions = Redemptions(mall.db, mall.config)
    for view in page.items:
        if view.blocked_reason is None:
            assert (await redeem(mall, ALICE, view.item_id)).redemption.status == "completed"
        else:
            with pytest.raises(MallError) as refused:
                await redemptions.offer(ALICE, view.item_id, NOW)
            assert refused.value.code == view.blocked_reason
    await mall.members.freeze(ALICE, "checking")
    frozen = await catalog.list_items(ALICE, NOW, page_size=20)
    assert {view.blocked_reason for view in frozen.items} == {"frozen"}
    assert (await catalog.item_view(ALICE, tea, NOW)).blocked_reason == "frozen"


async def test_categories_and_pages(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    for n in range(5):
        await add(mall, f"drink-{n}")
    for n in range(4):
        await add(mall, f"book-{n}", category="Books")
    await add(mall, "old-book", category="Books", ends_at=at("2026-03-01 00:00"))
    await add(mall, "hidden", category="Secrets", active=False)
    catalog = Catalog(mall.db, mall.config)
    categories = await catalog.categories(NOW)
    assert [(c.name, c.items) for c in categories] == [("Books", 4), ("Drinks", 5)]
    first = await catalog.list_items(ALICE, NOW, category="Drinks", page=0, page_size=3)
    second = await catalog.list_items(ALICE, NOW, category="Drinks", page=1, page_size=3)
    assert [v.sku for v in first.items] == ["drink-0", "drink-1", "drink-2"]
    assert first.has_more
    assert [v.sku for v in second.items] == ["drink-3", "drink-4"]
    assert not second.has_more
    everything = await catalog.list_items(ALICE, NOW)
    assert len(everything.items) == 8
    assert everything.has_more
    with pytest.raises(UnknownMember):
        await catalog.list_items(4242, NOW)
    with pytest.raises(InvalidInput):
        await catalog.list_items(ALICE, NOW, page=-1)


async def test_a_gold_only_item_waits_for_alice_to_reach_gold(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    lounge = await add(mall, "lounge", min_tier="Gold", price_points=1000)
    with pytest.raises(TierTooLow) as refused:
        await redeem(mall, ALICE, lounge)
    assert refused.value.details["required"] == "Gold"
    # 5,000 points earned in the window make her Gold.
    await mall.purchases.record_purchase(ALICE, "big-order", 500_000, "books", NOW)
    assert (await mall.members.profile(ALICE)).tier == "Gold"
    assert (await redeem(mall, ALICE, lounge)).redemption.status == "completed"


async def test_a_gold_tier_that_lapsed_no_longer_opens_the_gold_lounge(mall: Mall):
    """Alice was Gold a year and a half ago and has earned nothing since: the window makes her
    a Member today, though her stored tier still says Gold until she next earns."""
    await mall.members.join(ALICE, "Alice", "en", at("2025-01-01 08:00"))
    await mall.purchases.record_purchase(
        ALICE, "old-order", 500_000, "books", at("2025-01-01 09:00")
    )
    assert (await mall.members.profile(ALICE)).tier == "Gold"
    lounge = await add(mall, "lounge", min_tier="Gold", price_points=1000)
    with pytest.raises(TierTooLow):
        await redeem(mall, ALICE, lounge)
    listed = await Catalog(mall.db, mall.config).item_view(ALICE, lounge, NOW)
    assert listed.blocked_reason == "tier_too_low"


async def test_an_item_outside_its_window_cannot_be_redeemed(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    cocoa = await add(
        mall, "cocoa", starts_at=at("2026-03-10 00:00"), ends_at=at("2026-03-20 00:00")
    )
    catalog, redemptions = Catalog(mall.db, mall.config), Redemptions(mall.db, mall.config)
    before = at("2026-03-09 23:59:59")
    assert (await catalog.list_items(ALICE, before)).items == ()
    with pytest.raises(NotAvailable):
        await redemptions.offer(ALICE, cocoa, before)
    # A confirmation shown in the window does not outlive it.
    token = (await redemptions.offer(ALICE, cocoa, at("2026-03-19 23:59"))).token
    with pytest.raises(NotAvailable):
        await redemptions.redeem(ALICE, token, at("2026-03-20 00:00"))
    assert (await redeem(mall, ALICE, cocoa, at("2026-03-10 00:00"))).balance == 50


async def test_a_prize_only_item_is_on_no_shelf_and_cannot_be_redeemed(mall: Mall):
    """``listed = False``: a box may give it (tests/test_blind_boxes.py), no member may buy it."""
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await add(mall, "tea")
    mug = await add(mall, "mug", category="Perks", kind="physical", stock=3, listed=False)
    catalog = Catalog(mall.db, mall.config)
    assert [view.sku for view in (await catalog.list_items(ALICE, NOW)).items] == ["tea"]
    assert (await catalog.list_items(ALICE, NOW, category="Perks")).items == ()
    assert [category.name for category in await catalog.categories(NOW)] == ["Drinks"]
    assert (await catalog.item_view(ALICE, mug, NOW)).blocked_reason == "not_available"
    with pytest.raises(NotAvailable):
        await redeem(mall, ALICE, mug)
    record = await catalog.get_item(mug)
    assert (record.active, record.listed) == (True, False)
    # Listing it puts it on the shelf; an admin's edit is audited like any other term.
    edited = await catalog.edit_item(mug, {"listed": True}, NOW, actor_id=ALICE)
    assert (edited.before.listed, edited.after.listed) == (False, True)
    assert [view.sku for view in (await catalog.list_items(ALICE, NOW)).items] == ["tea", "mug"]
    with pytest.raises(InvalidInput) as refused:
        await catalog.upsert_item(spec("cup", listed="no"), NOW)
    assert refused.value.details["field"] == "listed"


async def test_one_tote_bag_per_month_on_the_malls_calendar(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.purchases.record_purchase(ALICE, "o-1", 100_000, "books", NOW)
    tote = await add(
        mall,
        "tote",
        kind="physical",
        price_points=100,
        stock=10,
        limit_count=1,
        limit_period="month",
    )
    first = await redeem(mall, ALICE, tote, at("2026-03-02 10:00"))
    with pytest.raises(LimitReached) as refused:
        await redeem(mall, ALICE, tote, at("2026-03-31 23:59"))
    assert refused.value.details == {"item_id": tote, "limit": 1, "per": "month"}
    # Cancelled redemptions do not count.
    await Redemptions(mall.db, mall.config).cancel(first.redemption.redemption_id, NOW)
    await redeem(mall, ALICE, tote, at("2026-03-31 23:59"))
    # April starts at midnight in Shanghai.
    assert (await redeem(mall, ALICE, tote, at("2026-04-01 00:00"))).redemption.status == (
        "completed"
    )


def test_limit_periods_start_on_the_malls_calendar():
    sunday_night = at("2026-03-08 23:30")
    assert period_start("day", sunday_night, SHANGHAI) == at("2026-03-08 00:00")
    assert period_start("week", sunday_night, SHANGHAI) == at("2026-03-02 00:00")
    assert period_start("week", at("2026-03-09 00:00"), SHANGHAI) == at("2026-03-09 00:00")
    assert period_start("month", sunday_night, SHANGHAI) == at("2026-03-01 00:00")
    assert period_start("ever", sunday_night, SHANGHAI) is None


async def test_admins_keep_the_catalog(mall: Mall):
    catalog = Catalog(mall.db, mall.config)
    t0 = at("2026-03-01 07:00")
    created = await catalog.upsert_item(spec("tea", stock=5), t0)
    assert created.status == "created"
    assert (await catalog.upsert_item(spec("tea", stock=5), t0)).status == "unchanged"
    # Stock is set on creation: a later upsert keeps what is on the shelf.
    assert (await catalog.upsert_item(spec("tea", stock=9), t0)).status == "unchanged"
    changed = await catalog.upsert_item(
        spec("tea", stock=5, price_points=60), at("2026-03-01 08:00")
    )
    assert changed.status == "updated"
    record = await catalog.get_item_by_sku("tea")
    assert (record.price_points, record.stock, record.updated_at) == (60, 5, at("2026-03-01 08:00"))
    assert (await catalog.restock(created.item_id, 3, NOW)).stock == 8
    assert not (await catalog.deactivate(created.item_id, NOW)).active
    unlimited = await catalog.upsert_item(spec("water"), t0)
    with pytest.raises(InvalidState):
        await catalog.restock(unlimited.item_id, 3, NOW)
    with pytest.raises(InvalidState):
        await catalog.load_codes(unlimited.item_id, ["X-1"])
    with pytest.raises(UnknownItem):
        await catalog.get_item(999)
    with pytest.raises(UnknownItem):
        await catalog.get_item_by_sku("nope")
    coupon = await catalog.upsert_item(spec("latte", kind="coupon"), t0)
    assert await catalog.load_codes(coupon.item_id, ["L-1", " L-2 ", "L-1"]) == 2
    assert await catalog.load_codes(coupon.item_id, ["L-2", "L-3"]) == 1
    with pytest.raises(InvalidInput):
        await catalog.load_codes(coupon.item_id, ["L-4", "has space"])
    assert (await catalog.get_item(coupon.item_id)).free_codes == 3


MALFORMED = [
    ({"sku": "no spaces please"}, "sku"),
    ({"title": "  "}, "title"),
    ({"kind": "gift"}, "kind"),
    ({"price_points": -1}, "price"),
    ({"price_points": 0}, "price"),
    ({"stock": -2}, "stock"),
    ({"min_tier": "Platinum"}, "min_tier"),
    ({"limit_count": 1}, "limit"),
    ({"limit_count": 0, "limit_period": "day"}, "limit.count"),
    ({"limit_count": 1, "limit_period": "year"}, "limit.per"),
    ({"cash_minor": 100, "approval_threshold": 10}, "approval_threshold"),
    ({"starts_at": at("2026-03-05 00:00"), "ends_at": at("2026-03-04 00:00")}, "ends"),
    ({"starts_at": datetime(2026, 3, 5)}, "starts"),
]


async def test_a_malformed_item_is_refused_and_nothing_is_written(mall: Mall):
    catalog = Catalog(mall.db, mall.config)
    for terms, field in MALFORMED:
        with pytest.raises(InvalidInput) as refused:
            await catalog.upsert_item(spec(**{"sku": "tea", **terms}), NOW)
        assert refused.value.details["field"] == field, terms
    async with mall.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(Item))).scalar() == 0
