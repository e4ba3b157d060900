"""One press of a card's Redeem, one core call (core/rewards/offer_press.py), on both databases.

A press comes back with the offer (its confirm token, at the running sale's price), or without
one: the sale the card showed is over, or the item is blocked; always with the item as the
member sees it now and their balance. Nothing moves.
"""

from __future__ import annotations

from datetime import timedelta

from core.mall import Mall
from tests.test_redemptions import ALICE, NOW, item, join, snapshot


async def test_a_press_offers_the_item_with_the_card_and_the_balance(mall: Mall):
    await join(mall, ALICE, 400)
    tea = await item(mall, "tea", price_points=300)
    before = await snapshot(mall)

    pressed = await mall.offer_press.press(ALICE, tea, 0, NOW)

    assert pressed.offer is not None
    assert not pressed.sale_over
    assert (pressed.card.item_id, pressed.card.blocked_reason) == (tea, None)
    assert pressed.balance == 400
    assert (pressed.offer.points, pressed.offer.balance_after) == (300, 100)
    assert pressed.offer.flash_sale_id is None
    redeemed = await mall.redemptions.redeem(ALICE, pressed.offer.token, NOW)
    assert redeemed.balance == 100
    assert before != await snapshot(mall)


async def test_a_blocked_item_comes_back_without_an_offer(mall: Mall):
    await join(mall, ALICE, 100)
    tea = await item(mall, "tea", price_points=300)
    before = await snapshot(mall)

    pressed = await mall.offer_press.press(ALICE, tea, 0, NOW)

    assert pressed.offer is None
    assert not pressed.sale_over
    assert pressed.card.blocked_reason == "insufficient_points"
    assert pressed.balance == 100
    assert await snapshot(mall) == before


async def test_a_running_sale_is_offered_at_its_price_and_one_over_is_said(mall: Mall):
    await join(mall, ALICE, 400)
    tea = await item(mall, "tea", price_points=300)
    sale = await mall.flash_sales.create_sale(
        tea, 200, 5, NOW - timedelta(hours=1), NOW + timedelta(hours=1), "first_come", now=NOW
    )

    shown = await mall.offer_press.press(ALICE, tea, sale.sale_id, NOW)
    plain = await mall.offer_press.press(ALICE, tea, 0, NOW)
    later = NOW + timedelta(hours=2)
    over = await mall.offer_press.press(ALICE, tea, sale.sale_id, later)

    assert shown.offer is not None
    assert (shown.offer.points, shown.offer.flash_sale_id) == (200, sale.sale_id)
    # A card shown without a sale is offered under the one running now, as before.
    assert plain.offer is not None
    assert plain.offer.flash_sale_id == sale.sale_id
    assert over.offer is None
    assert over.sale_over
    assert over.card.sale is None
    assert over.card.points == 300
