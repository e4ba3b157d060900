"""One Redeem press, one core call (core/rewards/redeem_press.py), on both databases.

A press comes back with the redemption, with ``address_needed`` (a physical reward: the
question is open, nothing taken), or with a refusal and the item as the member sees it now;
whatever it comes to, no point moves that should not.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import (
    AddressNeeded,
    Frozen,
    InsufficientPoints,
    InvalidToken,
    LimitReached,
    MallError,
    NotAvailable,
    SoldOut,
    TierTooLow,
)
from core.mall import Mall
from core.rewards.catalog import Catalog, ItemSpec
from core.rewards.eligibility import ItemView
from core.rewards.redeem_press import ADDRESS_QUESTION, PressResult
from core.rewards.redemptions import OfferChanged
from tests.conftest import at
from tests.test_redemptions import ALICE, BOB, NOW, balance, item, join, redeem, snapshot


async def token(mall: Mall, member_id: int, item_id: int) -> str:
    """The token of the confirmation the member is shown at ``NOW``."""
    return (await mall.redemptions.offer(member_id, item_id, NOW)).token


def refused(press: PressResult, error: type[MallError], item_id: int) -> tuple[MallError, ItemView]:
    """Nothing redeemed: the refusal, with the item as the member sees it now."""
    assert press.redeemed is None
    assert isinstance(press.refusal, error), press.refusal
    assert press.card is not None
    assert press.card.item_id == item_id
    return press.refusal, press.card


async def test_a_press_redeems_once_and_a_second_press_replays(mall: Mall):
    await join(mall, ALICE, 400)
    tea = await item(mall, "tea", price_points=300)
    shown = await token(mall, ALICE, tea)

    first = await mall.redeem_press.press(ALICE, shown, NOW)
    again = await mall.redeem_press.press(ALICE, shown, NOW + timedelta(seconds=1))

    assert first.refusal is None
    assert first.redeemed is not None
    assert (first.redeemed.redemption.status, first.redeemed.balance) == ("completed", 100)
    assert again.redeemed is not None
    assert again.redeemed.replayed
    assert again.redeemed.redemption == first.redeemed.redemption
    assert await balance(mall, ALICE) == 100


async def test_a_physical_reward_asks_for_its_address_once_then_the_address_redeems(mall: Mall):
    await join(mall, ALICE, 400)
    tote = await item(mall, "tote", kind="physical", price_points=300, stock=2)
    shown = await token(mall, ALICE, tote)
    before = await snapshot(mall)

    asked = await mall.redeem_press.press(ALICE, shown, NOW)
    again = await mall.redeem_press.press(ALICE, shown, NOW)

    refusal, _ = refused(asked, AddressNeeded, tote)
    assert refusal.code == "address_needed"
    assert refusal.details == {"item_id": tote, "asked": True}
    assert asked.balance == 400
    refusal, _ = refused(again, AddressNeeded, tote)
    assert refusal.details["asked"] is False
    question = await mall.inputs.peek(ALICE, NOW)
    assert question is not None
    assert question.kind == ADDRESS_QUESTION
    assert dict(question.data) == {"token": shown, "item": tote}
    assert await snapshot(mall) == before  # nothing taken before the address

    done = await mall.redeem_press.press(ALICE, shown, NOW, address="1 Tea Street")

    assert done.redeemed is not None
    assert (done.redeemed.redemption.address, done.redeemed.balance) == ("1 Tea Street", 100)
    assert (await Catalog(mall.db, mall.config).get_item(tote)).stock == 1


async def test_a_forged_or_another_members_token_is_refused_and_changes_nothing(mall: Mall):
    await join(mall, ALICE, 400)
    await join(mall, BOB, 400)
    tea = await item(mall, "tea")
    tote = await item(mall, "tote", kind="physical")
    shown = await token(mall, ALICE, tea)
    forged = shown[:-4] + ("AAAA" if not shown.endswith("AAAA") else "BBBB")
    before = await snapshot(mall)

    for member_id, text in ((ALICE, forged), (BOB, shown), (ALICE, "garbage"), (ALICE, "")):
        with pytest.raises(InvalidToken):
            await mall.redeem_press.press(member_id, text, NOW)
    # A physical reward's token is checked before any question is asked.
    with pytest.raises(InvalidToken):
        await mall.redeem_press.press(BOB, await token(mall, ALICE, tote), NOW)

    assert await mall.inputs.peek(BOB, NOW) is None
    assert await snapshot(mall) == before


async def test_an_expired_or_outdated_confirmation_comes_back_with_the_item(mall: Mall):
    await join(mall, ALICE, 400)
    tea = await item(mall, "tea")
    days = mall.config.retention.confirm_token_days
    expired = await token(mall, ALICE, tea)
    late = NOW + timedelta(days=days, seconds=1)

    old = await mall.redeem_press.press(ALICE, expired, late)

    _, card = refused(old, OfferChanged, tea)
    assert card.blocked_reason is None  # shown again, redeemable
    changed = await token(mall, ALICE, tea)
    spec = ItemSpec(sku="tea", title="Tea", category="Drinks", kind="virtual", price_points=60)
    await Catalog(mall.db, mall.config).upsert_item(spec, NOW + timedelta(minutes=1))

    outdated = await mall.redeem_press.press(ALICE, changed, NOW + timedelta(minutes=2))

    _, card = refused(outdated, OfferChanged, tea)
    assert card.points == 60
    assert (outdated.balance, await balance(mall, ALICE)) == (400, 400)


@pytest.mark.parametrize("kind", ["virtual", "physical"])
async def test_an_item_sold_out_under_an_open_confirmation(mall: Mall, kind: str):
    await join(mall, ALICE, 400)
    await join(mall, BOB, 400)
    mug = await item(mall, "mug", kind=kind, stock=1)
    shown = await token(mall, ALICE, mug)
    await redeem(mall, BOB, mug, address="2 Bob Lane" if kind == "physical" else None)

    press = await mall.redeem_press.press(ALICE, shown, NOW)

    _, card = refused(press, SoldOut, mug)
    assert (card.blocked_reason, card.stock_left) == ("sold_out", 0)
    assert press.balance == 400
    assert await mall.inputs.peek(ALICE, NOW) is None  # no question for what cannot be had


@pytest.mark.parametrize("kind", ["virtual", "physical"])
async def test_a_member_below_the_tier(mall: Mall, kind: str):
    await join(mall, ALICE, 400)
    lounge = await item(mall, "lounge", kind=kind)
    shown = await token(mall, ALICE, lounge)
    # Gold only from the instant the confirmation was shown (not a change after it).
    spec = ItemSpec(
        sku="lounge", title="Lounge", category="Drinks", kind=kind, price_points=50, min_tier="Gold"
    )
    await Catalog(mall.db, mall.config).upsert_item(spec, NOW)

    press = await mall.redeem_press.press(ALICE, shown, NOW)

    refusal, card = refused(press, TierTooLow, lounge)
    assert refusal.details["required"] == "Gold"
    assert card.blocked_reason == "tier_too_low"
    assert await balance(mall, ALICE) == 400


@pytest.mark.parametrize("kind", ["virtual", "physical"])
async def test_points_spent_since_the_confirmation(mall: Mall, kind: str):
    await join(mall, ALICE, 400)
    lamp = await item(mall, "lamp", kind=kind, price_points=300)
    other = await item(mall, "other", price_points=300)
    shown = await token(mall, ALICE, lamp)
    await redeem(mall, ALICE, other)

    press = await mall.redeem_press.press(ALICE, shown, NOW)

    _, card = refused(press, InsufficientPoints, lamp)
    assert card.blocked_reason == "insufficient_points"
    assert press.balance == 100


@pytest.mark.parametrize("kind", ["virtual", "physical"])
async def test_a_limit_reached_since_the_confirmation(mall: Mall, kind: str):
    await join(mall, ALICE, 400)
    pin = await item(mall, "pin", kind=kind, limit_count=1, limit_period="ever")
    first, second = await token(mall, ALICE, pin), await token(mall, ALICE, pin)
    address = "1 Tea Street" if kind == "physical" else None
    await mall.redeem_press.press(ALICE, first, NOW, address=address)

    press = await mall.redeem_press.press(ALICE, second, NOW)

    _, card = refused(press, LimitReached, pin)
    assert card.used_in_period == 1
    assert press.balance == 350


@pytest.mark.parametrize("kind", ["virtual", "physical"])
async def test_an_item_whose_time_ended_is_not_available(mall: Mall, kind: str):
    await join(mall, ALICE, 400)
    late = at("2026-03-02 10:30")
    ticket = await item(mall, "ticket", kind=kind, ends_at=late)
    shown = await token(mall, ALICE, ticket)

    press = await mall.redeem_press.press(ALICE, shown, late)

    _, card = refused(press, NotAvailable, ticket)
    assert card.blocked_reason == "not_available"


async def test_a_frozen_member_is_refused_without_a_card(mall: Mall):
    await join(mall, ALICE, 400)
    tote = await item(mall, "tote", kind="physical")
    shown = await token(mall, ALICE, tote)
    await mall.members.freeze(ALICE, "checking")

    with pytest.raises(Frozen):
        await mall.redeem_press.press(ALICE, shown, NOW)
    assert await mall.inputs.peek(ALICE, NOW) is None
