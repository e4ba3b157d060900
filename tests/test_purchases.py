"""Bob shops with money and earns points; refunds take them back, never more than he has."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.errors import AlreadyRefunded, Frozen, KeyReused, UnknownMember, UnknownOrder
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

BOB = 2002


async def test_an_order_earns_once_however_often_the_shop_sends_it(mall: Mall):
    await mall.members.join(BOB, "Bob", "zh-hans", at("2026-03-01 08:00"))
    first = await mall.purchases.record_purchase(BOB, "A-1", 25_000, "food", at("2026-03-01 10:00"))
    again = await mall.purchases.record_purchase(BOB, "A-1", 25_000, "food", at("2026-03-01 11:00"))
    assert first.points == 250
    assert again == first
    assert (await mall.statements.balance(BOB)).balance == 100 + 250


async def test_the_same_order_id_with_another_amount_is_refused(mall: Mall):
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.purchases.record_purchase(BOB, "A-1", 25_000, "food", at("2026-03-01 10:00"))
    with pytest.raises(KeyReused):
        await mall.purchases.record_purchase(BOB, "A-1", 99_000, "food", at("2026-03-01 10:01"))
    assert (await mall.statements.balance(BOB)).balance == 350


async def test_a_refund_takes_back_what_the_order_earned(mall: Mall):
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.purchases.record_purchase(BOB, "A-1", 25_000, "food", at("2026-03-01 10:00"))
    refund = await mall.purchases.refund_purchase("A-1", at("2026-03-02 10:00"))
    assert (refund.points_taken, refund.unrecovered, refund.balance) == (250, 0, 100)
    assert await mall.purchases.refund_purchase("A-1", at("2026-03-02 10:05")) == refund
    with pytest.raises(AlreadyRefunded):
        await mall.purchases.refund_purchase("A-1", at("2026-03-02 11:00"), refund_id="second")


async def test_partial_refunds_add_up_to_the_order_and_no_more(mall: Mall):
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.purchases.record_purchase(BOB, "A-2", 10_000, "food", at("2026-03-01 10:00"))
    now = at("2026-03-02 10:00")
    parts = [
        await mall.purchases.refund_purchase("A-2", now, refund_id=f"r{n}", amount_minor=3_333)
        for n in range(3)
    ]
    last = await mall.purchases.refund_purchase("A-2", now, refund_id="r3")
    taken = sum(part.points_taken for part in parts) + last.points_taken
    assert taken == 100
    assert last.amount_minor == 1
    assert (await mall.statements.balance(BOB)).balance == 100


async def test_a_refund_after_spending_says_what_could_not_be_recovered(mall: Mall):
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.purchases.record_purchase(BOB, "A-3", 50_000, "food", at("2026-03-01 10:00"))
    hold = await mall.holds.hold(
        BOB, 520, key="spend-1", code="redeem", reference="item-9", now=at("2026-03-01 11:00")
    )
    await mall.holds.post(hold.hold_id, key="spend-1-post", now=at("2026-03-01 11:01"))
    refund = await mall.purchases.refund_purchase("A-3", at("2026-03-03 10:00"))
    assert (refund.points_taken, refund.unrecovered, refund.balance) == (80, 420, 0)
    assert (await mall.check()).ok


async def test_tier_and_promotion_multiply_and_the_tier_follows_earnings(make_mall: MallFactory):
    mall = await make_mall(
        make_config(
            """
[earning]
category_multipliers = { electronics = 2 }

[[earning.promotions]]
name = "Double weekend"
multiplier = 2
starts = 2026-03-07T00:00:00
ends = 2026-03-09T00:00:00
"""
        )
    )
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    big = await mall.purchases.record_purchase(
        BOB, "B-1", 60_000, "electronics", at("2026-03-02 10:00")
    )
    assert (big.points, big.tier) == (1200, "Silver")  # 600 x2 category; now Silver
    weekend = await mall.purchases.record_purchase(
        BOB, "B-2", 10_000, "food", at("2026-03-07 10:00")
    )
    assert weekend.tier_multiplier == Decimal("1.2")
    assert weekend.promotion == "Double weekend"
    assert weekend.points == 240  # 100 x1.2 Silver x2 weekend
    tier = await mall.statements.tier(BOB, at("2026-03-07 12:00"))
    assert (tier.tier, tier.earned_in_window, tier.next_tier) == ("Silver", 1440, "Gold")
    assert tier.points_to_next == 5000 - 1440


async def test_refunding_the_big_order_drops_the_tier_back(mall: Mall):
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.purchases.record_purchase(BOB, "C-1", 150_000, "food", at("2026-03-01 10:00"))
    assert (await mall.members.profile(BOB)).tier == "Silver"
    await mall.purchases.refund_purchase("C-1", at("2026-03-02 10:00"))
    assert (await mall.members.profile(BOB)).tier == "Member"
    assert (await mall.statements.tier(BOB, at("2026-03-02 11:00"))).earned_in_window == 0


async def test_tier_counts_only_the_rolling_window(make_mall: MallFactory):
    mall = await make_mall(make_config("[tiers]\nwindow_days = 30"))
    await mall.members.join(BOB, "Bob", "en", at("2026-01-01 08:00"))
    await mall.purchases.record_purchase(BOB, "D-1", 150_000, "food", at("2026-01-01 10:00"))
    assert (await mall.statements.tier(BOB, at("2026-01-30 10:00"))).tier == "Silver"
    assert (await mall.statements.tier(BOB, at("2026-01-31 10:00"))).tier == "Member"


async def test_a_frozen_member_earns_nothing_and_the_refusal_sticks(mall: Mall):
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.members.freeze(BOB, "chargeback under review")
    with pytest.raises(Frozen):
        await mall.purchases.record_purchase(BOB, "F-1", 10_000, "food", at("2026-03-01 10:00"))
    await mall.members.unfreeze(BOB)
    # The same order retried keeps failing the same way: its outcome is recorded.
    with pytest.raises(Frozen):
        await mall.purchases.record_purchase(BOB, "F-1", 10_000, "food", at("2026-03-01 10:05"))
    assert (await mall.statements.balance(BOB)).balance == 100


async def test_unknown_member_and_unknown_order(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.purchases.record_purchase(7, "G-1", 100, "food", at("2026-03-01 10:00"))
    with pytest.raises(UnknownOrder):
        await mall.purchases.refund_purchase("nope", at("2026-03-01 10:00"))
