"""Members redeeming rewards: one atomic step, once per confirmation, on both databases."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import func, select

from core.config import parse_config
from core.config_errors import ConfigError
from core.db.models import Item, Operation, Redemption
from core.errors import (
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    InvalidState,
    InvalidToken,
    KeyReused,
    MallError,
    SoldOut,
    UnknownItem,
    UnknownRedemption,
)
from core.mall import Mall
from core.rewards.catalog import Catalog, ItemSpec
from core.rewards.redemptions import OfferChanged, Redemptions, RedemptionView
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE, BOB = 1001, 1002
NOW = at("2026-03-02 10:00")


async def join(mall: Mall, member_id: int, points: int = 100, when: str = "2026-03-01 08:00"):
    """A member with ``points`` points: the sign-up bonus and, above it, a purchase."""
    await mall.members.join(member_id, f"M{member_id}", "en", at(when))
    if points > 100:
        order = f"o-{member_id}-{points}"
        await mall.purchases.record_purchase(member_id, order, (points - 100) * 100, "x", at(when))


async def item(mall: Mall, sku: str, when: str = "2026-03-01 07:00", **terms: object) -> int:
    spec = ItemSpec(
        **{
            "sku": sku,
            "title": sku.replace("-", " ").title(),
            "category": "Drinks",
            "kind": "virtual",
            "price_points": 50,
            **terms,
        }  # type: ignore[arg-type]
    )
    return (await Catalog(mall.db, mall.config).upsert_item(spec, at(when))).item_id


async def balance(mall: Mall, member_id: int) -> int:
    return (await mall.statements.balance(member_id)).balance


async def stock(mall: Mall, item_id: int) -> int | None:
    return (await Catalog(mall.db, mall.config).get_item(item_id)).stock


async def snapshot(mall: Mall) -> tuple[int, int, int, int]:
    """What a refused request must leave as it was: books, redemptions, operations."""
    report = await mall.check()
    assert report.ok, report.violations
    async with mall.db.read() as conn:
        redemptions = (await conn.execute(select(func.count()).select_from(Redemption))).scalar()
        operations = (await conn.execute(select(func.count()).select_from(Operation))).scalar()
    return report.transfers, report.outstanding_points, int(redemptions or 0), int(operations or 0)


async def redeem(
    mall: Mall, member_id: int, item_id: int, address: str | None = None, now: datetime = NOW
):
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(member_id, item_id, now)
    return await redemptions.redeem(member_id, offer.token, now, address=address)


async def test_alice_redeems_a_coffee_coupon_and_gets_a_code(mall: Mall):
    await join(mall, ALICE, 400)
    coffee = await item(mall, "coffee", kind="coupon", price_points=300)
    assert await Catalog(mall.db, mall.config).load_codes(coffee, ["C-1", "C-2", "C-1"]) == 2
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(ALICE, coffee, NOW)
    assert (offer.points, offer.balance_after, offer.needs_address) == (300, 100, False)
    assert len(offer.token) <= 40
    done = await redemptions.redeem(ALICE, offer.token, NOW)
    assert done.redemption.status == "completed"
    assert done.redemption.coupon_code == "C-1"
    assert done.balance == 100
    history = await mall.statements.history(ALICE)
    assert (history.entries[0].code, history.entries[0].amount) == ("redemption", -300)
    assert (await Catalog(mall.db, mall.config).get_item(coffee)).free_codes == 1
    assert (await mall.check()).ok


async def test_the_last_unit_200_members_20_units(mall: Mall):
    members = range(5000, 5200)
    await asyncio.gather(
        *(mall.members.join(m, "M", "en", at("2026-03-01 08:00")) for m in members)
    )
    mug = await item(mall, "mug", kind="physical", stock=20)
    redemptions = Redemptions(mall.db, mall.config)
    offers = await asyncio.gather(*(redemptions.offer(m, mug, NOW) for m in members))

    async def attempt(member_id: int, token: str) -> str:
        try:
            await redemptions.redeem(member_id, token, NOW, address="Counter")
        except SoldOut:
            return "sold_out"
        return "completed"

    outcomes = await asyncio.gather(
        *(attempt(m, o.token) for m, o in zip(members, offers, strict=True))
    )
    assert outcomes.count("completed") == 20
    assert outcomes.count("sold_out") == 180
    assert await stock(mall, mug) == 0
    assert (await mall.check()).ok
    report = await mall.check()
    assert report.outstanding_points == 200 * 100 - 20 * 50


async def test_a_double_tapped_redeem_redeems_once(mall: Mall):
    await join(mall, ALICE)
    tea = await item(mall, "tea", stock=5)
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(ALICE, tea, NOW)
    first, second = await asyncio.gather(
        redemptions.redeem(ALICE, offer.token, NOW), redemptions.redeem(ALICE, offer.token, NOW)
    )
    assert first.redemption == second.redemption
    assert sorted([first.replayed, second.replayed]) == [False, True]
    third = await redemptions.redeem(ALICE, offer.token, NOW + timedelta(minutes=1))
    assert third.replayed
    assert third.redemption == first.redemption
    assert await balance(mall, ALICE) == 50
    assert await stock(mall, tea) == 4
    # A new confirmation is a new redemption.
    again = await redeem(mall, ALICE, tea)
    assert again.redemption.redemption_id != first.redemption.redemption_id


async def test_bob_cannot_use_alices_token_nor_anyone_a_made_up_one(mall: Mall):
    await join(mall, ALICE)
    await join(mall, BOB)
    tea = await item(mall, "tea")
    cake = await item(mall, "cake")
    redemptions = Redemptions(mall.db, mall.config)
    with pytest.raises(InvalidToken):  # no token was ever issued in this mall
        await redemptions.redeem(BOB, "1.0.AAAAAAAAAAAAAAAAAAAAAAAAAAAA", NOW)
    token = (await redemptions.offer(ALICE, tea, NOW)).token
    before = await snapshot(mall)
    item_part, sale_part, body = token.split(".")
    forged = [
        f"{cake}.{sale_part}.{body}",  # Alice's token pointed at another item
        f"{item_part}.7.{body}",  # ... or at a sale
        f"{item_part}.{sale_part}.{body[:-1]}{'A' if body[-1] != 'A' else 'B'}",
        "not a token",
        "",
        None,
        token + "x",
    ]
    with pytest.raises(InvalidToken):
        await redemptions.redeem(BOB, token, NOW)
    for bad in forged:
        with pytest.raises(InvalidToken):
            await redemptions.redeem(ALICE, bad, NOW)  # type: ignore[arg-type]
    assert await snapshot(mall) == before
    # Alice's own token still works after all that.
    assert (await redemptions.redeem(ALICE, token, NOW)).redemption.status == "completed"


async def test_bad_input_gets_a_mall_error_and_writes_nothing(mall: Mall):
    await join(mall, ALICE)
    tea = await item(mall, "tea", stock=3)
    lamp = await item(mall, "lamp", kind="physical", price_points=10)
    catalog, redemptions = Catalog(mall.db, mall.config), Redemptions(mall.db, mall.config)
    token = (await redemptions.offer(ALICE, lamp, NOW)).token
    await redemptions.redeem(ALICE, token, NOW, address="12 Tea Street")
    before = await snapshot(mall)
    cases = [
        (UnknownItem, lambda: redemptions.offer(ALICE, 999_999, NOW)),
        (UnknownItem, lambda: redemptions.offer(ALICE, -1, NOW)),
        (InvalidAmount, lambda: catalog.restock(tea, -5, NOW)),
        (InvalidAmount, lambda: catalog.restock(tea, 0, NOW)),
        # the same token again with other content is no replay
        (KeyReused, lambda: redemptions.redeem(ALICE, token, NOW, address="Elsewhere")),
        (InvalidInput, lambda: redemptions.redeem(ALICE, token, NOW, address="")),
        (UnknownRedemption, lambda: redemptions.approve(424242, NOW)),
        (UnknownRedemption, lambda: redemptions.cancel(-3, NOW)),
    ]
    for error, call in cases:
        with pytest.raises(error):
            await call()
    # A physical reward needs an address.
    lamp_token = (await redemptions.offer(ALICE, lamp, NOW)).token
    with pytest.raises(InvalidInput) as no_address:
        await redemptions.redeem(ALICE, lamp_token, NOW)
    assert no_address.value.details["field"] == "address"
    assert await snapshot(mall) == before
    assert await stock(mall, tea) == 3


async def test_a_price_change_after_the_confirmation_voids_it(mall: Mall):
    await join(mall, ALICE)
    tea = await item(mall, "tea")
    redemptions = Redemptions(mall.db, mall.config)
    token = (await redemptions.offer(ALICE, tea, NOW)).token
    # The admin raises the price a minute after Alice was shown the old one.
    await item(mall, "tea", when="2026-03-02 10:01", price_points=90)
    with pytest.raises(OfferChanged):
        await redemptions.redeem(ALICE, token, NOW)
    assert await balance(mall, ALICE) == 100
    later = at("2026-03-02 10:02")
    fresh = await redemptions.offer(ALICE, tea, later)
    assert fresh.points == 90
    assert (await redemptions.redeem(ALICE, fresh.token, later)).balance == 10


async def test_approval_takes_the_held_points_and_rejection_gives_them_back(mall: Mall):
    await join(mall, ALICE, 2000)
    watch = await item(
        mall, "watch", kind="physical", price_points=800, stock=2, approval_threshold=500
    )
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(ALICE, watch, NOW)
    assert offer.needs_approval
    assert not offer.needs_payment
    waiting = await redemptions.redeem(ALICE, offer.token, NOW, address="1 Clock Lane")
    assert waiting.redemption.status == "awaiting_approval"
    assert waiting.redemption.wait_ends_at == NOW + timedelta(hours=72)
    held = await mall.statements.balance(ALICE)
    assert (held.balance, held.held) == (1200, 800)
    assert await stock(mall, watch) == 1  # reserved while it waits
    pending = await redemptions.pending_approvals()
    assert [r.redemption_id for r in pending.entries] == [waiting.redemption.redemption_id]

    approved = await redemptions.approve(waiting.redemption.redemption_id, NOW)
    assert (approved.redemption.status, approved.balance) == ("completed", 1200)
    assert (await mall.statements.balance(ALICE)).held == 0
    assert (await redemptions.approve(waiting.redemption.redemption_id, NOW)).replayed
    with pytest.raises(InvalidState):
        await redemptions.fail_payment(waiting.redemption.redemption_id, NOW)

    second = await redeem(mall, ALICE, watch, address="1 Clock Lane")
    assert await stock(mall, watch) == 0
    rejected = await redemptions.reject(second.redemption.redemption_id, NOW, note="Out of straps")
    assert (rejected.redemption.status, rejected.redemption.note) == ("rejected", "Out of straps")
    assert rejected.balance == 1200
    assert await stock(mall, watch) == 1
    assert (await redemptions.pending_approvals()).entries == ()
    with pytest.raises(InvalidState):
        await redemptions.approve(second.redemption.redemption_id, NOW)
    assert (await mall.check()).ok


async def test_a_reject_from_the_approval_queue_cannot_undo_an_approval(mall: Mall):
    """Two admins answer the same redemption: the approval stands, the reject is refused."""
    await join(mall, ALICE, 2000)
    watch = await item(
        mall, "watch", kind="physical", price_points=800, stock=3, approval_threshold=500
    )
    redemptions = Redemptions(mall.db, mall.config)
    waiting = await redeem(mall, ALICE, watch, address="1 Clock Lane")
    target = waiting.redemption.redemption_id
    await redemptions.approve(target, NOW)
    before = await snapshot(mall)

    with pytest.raises(InvalidState) as refused:
        await redemptions.reject(target, NOW, note="Too late", only_awaiting_approval=True)
    assert refused.value.details["status"] == "completed"
    assert await snapshot(mall) == before
    kept = await redemptions.get(target)
    assert (kept.status, kept.note) == ("completed", None)
    assert (await balance(mall, ALICE), await stock(mall, watch)) == (1200, 2)
    assert (await mall.statements.balance(ALICE)).held == 0

    # Still waiting: the queue's reject works and gives the held points back.
    second = await redeem(mall, ALICE, watch, address="1 Clock Lane")
    rejected = await redemptions.reject(
        second.redemption.redemption_id, NOW, note="Out of straps", only_awaiting_approval=True
    )
    assert (rejected.redemption.status, rejected.balance) == ("rejected", 1200)
    assert await stock(mall, watch) == 2
    assert (await mall.check()).ok


async def test_the_queues_reject_leaves_a_redemption_awaiting_payment_to_its_member(mall: Mall):
    await join(mall, ALICE, 1000)
    beans = await item(mall, "beans", kind="physical", price_points=300, cash_minor=2900, stock=3)
    redemptions = Redemptions(mall.db, mall.config)
    unpaid = await redeem(mall, ALICE, beans, address="Home")
    target = unpaid.redemption.redemption_id
    with pytest.raises(InvalidState):
        await redemptions.reject(target, NOW, only_awaiting_approval=True)
    assert (await redemptions.get(target)).status == "awaiting_payment"
    cancelled = await redemptions.cancel(target, NOW, member_id=ALICE)
    assert (cancelled.redemption.status, cancelled.balance) == ("cancelled", 1000)
    assert await stock(mall, beans) == 3


async def test_approve_and_reject_pressed_at_once_settle_each_redemption_one_way(mall: Mall):
    await join(mall, ALICE, 5000)
    watch = await item(
        mall, "watch", kind="physical", price_points=500, stock=10, approval_threshold=500
    )
    redemptions = Redemptions(mall.db, mall.config)
    waiting = [
        (await redeem(mall, ALICE, watch, address="Home")).redemption.redemption_id
        for _ in range(6)
    ]

    async def answer(redemption_id: int, how: str) -> str | None:
        try:
            if how == "approve":
                await redemptions.approve(redemption_id, NOW)
            else:
                await redemptions.reject(redemption_id, NOW, only_awaiting_approval=True)
        except InvalidState:
            return None
        return how

    outcomes = await asyncio.gather(
        *(answer(rid, how) for rid in waiting for how in ("approve", "reject"))
    )
    pairs = [outcomes[2 * n : 2 * n + 2] for n in range(len(waiting))]
    assert all(sum(answered is not None for answered in pair) == 1 for pair in pairs)
    statuses = {rid: (await redemptions.get(rid)).status for rid in waiting}
    expected = {"approve": "completed", "reject": "rejected"}
    assert [statuses[rid] for rid in waiting] == [expected[a or b] for a, b in pairs]
    approved = sum(status == "completed" for status in statuses.values())
    assert await balance(mall, ALICE) == 5000 - 500 * approved
    assert (await mall.statements.balance(ALICE)).held == 0
    assert await stock(mall, watch) == 10 - approved
    assert (await mall.check()).ok


async def test_points_and_cash_complete_on_payment_and_go_back_on_failure_or_timeout(mall: Mall):
    await join(mall, ALICE, 1000)
    beans = await item(mall, "beans", kind="physical", price_points=300, cash_minor=2900, stock=3)
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(ALICE, beans, NOW)
    assert offer.needs_payment
    assert offer.cash_minor == 2900
    paid = await redeem(mall, ALICE, beans, address="Home")
    assert paid.redemption.status == "awaiting_payment"
    assert paid.redemption.wait_ends_at == NOW + timedelta(minutes=30)
    done = await redemptions.confirm_payment(paid.redemption.redemption_id, "tg-charge-1", NOW)
    assert (done.redemption.status, done.redemption.payment_charge_id) == (
        "completed",
        "tg-charge-1",
    )
    assert done.balance == 700

    failed = await redeem(mall, ALICE, beans, address="Home")
    back = await redemptions.fail_payment(failed.redemption.redemption_id, NOW)
    assert (back.redemption.status, back.balance) == ("cancelled", 700)

    late = await redeem(mall, ALICE, beans, address="Home")
    assert await stock(mall, beans) == 1
    assert await redemptions.release_expired(NOW + timedelta(minutes=29)) == ()
    released = await redemptions.release_expired(NOW + timedelta(minutes=30))
    assert [r.redemption.redemption_id for r in released] == [late.redemption.redemption_id]
    assert released[0].redemption.status == "cancelled"
    assert await balance(mall, ALICE) == 700
    assert await stock(mall, beans) == 2
    assert await redemptions.release_expired(NOW + timedelta(hours=1)) == ()
    with pytest.raises(InvalidState):  # paid too late: the bot refunds the charge
        await redemptions.confirm_payment(late.redemption.redemption_id, "tg-charge-2", NOW)
    assert (await mall.check()).ok


async def test_a_hold_voided_by_the_generic_timeout_still_ends_the_redemption(mall: Mall):
    await join(mall, ALICE, 1000)
    beans = await item(mall, "beans", price_points=300, cash_minor=100, stock=1)
    waiting = await redeem(mall, ALICE, beans)
    await mall.holds.release_expired(NOW + timedelta(hours=1))  # the ledger's own job ran first
    redemptions = Redemptions(mall.db, mall.config)
    with pytest.raises(InvalidState):
        await redemptions.confirm_payment(waiting.redemption.redemption_id, "late", NOW)
    released = await redemptions.release_expired(NOW + timedelta(hours=1))
    assert [r.redemption.status for r in released] == ["cancelled"]
    assert await stock(mall, beans) == 1
    assert await balance(mall, ALICE) == 1000
    assert (await mall.check()).ok


async def test_cancelling_a_shipped_order_refunds_into_lots_with_their_old_dates(
    make_mall: MallFactory,
):
    config = make_config(
        "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidity_days = 10"
    )
    mall = await make_mall(config)
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))  # 100, to 10 March
    await mall.purchases.record_purchase(ALICE, "o-1", 10_000, "x", at("2026-03-05 10:00"))
    lamp = await item(mall, "lamp", kind="physical", price_points=150, stock=1)
    spent_at = at("2026-03-05 12:00")
    done = await redeem(mall, ALICE, lamp, address="7 Lamp Road", now=spent_at)
    # The soonest-expiring points went first.
    expiring = await mall.statements.expiring(ALICE, spent_at)
    assert [(e.last_day, e.amount) for e in expiring] == [(date(2026, 3, 14), 50)]
    redemptions = Redemptions(mall.db, mall.config)
    with pytest.raises(UnknownRedemption):  # Bob cannot touch it
        await redemptions.cancel(done.redemption.redemption_id, NOW, member_id=BOB)
    with pytest.raises(InvalidState):  # Alice cannot cancel what she already got
        await redemptions.cancel(done.redemption.redemption_id, NOW, member_id=ALICE)
    cancelled = await redemptions.cancel(done.redemption.redemption_id, at("2026-03-06 09:00"))
    assert (cancelled.redemption.status, cancelled.balance) == ("cancelled", 200)
    expiring = await mall.statements.expiring(ALICE, at("2026-03-06 09:00"))
    assert [(e.last_day, e.amount) for e in expiring] == [
        (date(2026, 3, 10), 100),
        (date(2026, 3, 14), 100),
    ]
    assert await stock(mall, lamp) == 1
    assert (await mall.check()).ok


async def test_fulfilment_and_the_members_list(mall: Mall):
    await join(mall, ALICE, 500)
    lamp = await item(mall, "lamp", kind="physical", price_points=100, stock=5)
    tea = await item(mall, "tea")
    redemptions = Redemptions(mall.db, mall.config)
    shipped = await redeem(mall, ALICE, lamp, address="Old address")
    moved = await redemptions.set_address(
        ALICE, shipped.redemption.redemption_id, "New address", NOW
    )
    assert moved.address == "New address"
    with pytest.raises(UnknownRedemption):
        await redemptions.set_address(BOB, shipped.redemption.redemption_id, "Mine now", NOW)
    sent = await redemptions.fulfil(shipped.redemption.redemption_id, "SF123456", NOW)
    assert (sent.redemption.status, sent.redemption.note) == ("fulfilled", "SF123456")
    with pytest.raises(InvalidState):
        await redemptions.cancel(shipped.redemption.redemption_id, NOW)
    with pytest.raises(InvalidState):
        await redemptions.set_address(ALICE, shipped.redemption.redemption_id, "Late", NOW)
    for _ in range(3):
        await redeem(mall, ALICE, tea)
    first = await redemptions.list_for_member(ALICE, page=0, page_size=3)
    second = await redemptions.list_for_member(ALICE, page=1, page_size=3)
    assert [r.sku for r in first.entries] == ["tea", "tea", "tea"]
    assert first.has_more
    assert [r.status for r in second.entries] == ["fulfilled"]
    assert not second.has_more


async def test_a_physical_reward_is_prepared_shipped_then_delivered(make_mall: MallFactory):
    mall = await make_mall(make_config("[redemptions]\ndelivered_after_days = 10"))
    await join(mall, ALICE, 500)
    await join(mall, BOB)
    lamp = await item(mall, "lamp", kind="physical", price_points=100, stock=5)
    tea = await item(mall, "tea")
    redemptions = Redemptions(mall.db, mall.config)
    made = (await redeem(mall, ALICE, lamp, address="1 Main St")).redemption
    assert made.stage(NOW) == "preparing"
    assert (made.fulfilled_at, made.received_at, made.delivered_at) == (None, None, None)
    with pytest.raises(InvalidState):  # not shipped yet
        await redemptions.confirm_receipt(ALICE, made.redemption_id, NOW)

    shipped_at = NOW + timedelta(hours=5)
    sent = (await redemptions.fulfil(made.redemption_id, "SF1", shipped_at)).redemption
    assert (sent.status, sent.fulfilled_at, sent.received_at) == ("fulfilled", shipped_at, None)
    assert sent.delivered_at == shipped_at + timedelta(days=10)
    assert sent.stage(shipped_at + timedelta(days=10) - timedelta(seconds=1)) == "shipped"
    assert sent.stage(shipped_at + timedelta(days=10)) == "delivered"

    with pytest.raises(UnknownRedemption):  # Bob cannot confirm Alice's
        await redemptions.confirm_receipt(BOB, made.redemption_id, NOW)
    with pytest.raises(UnknownRedemption):
        await redemptions.confirm_receipt(ALICE, 10**9, NOW)
    received_at = shipped_at + timedelta(days=2)
    done = await redemptions.confirm_receipt(ALICE, made.redemption_id, received_at)
    assert (done.replayed, done.balance) == (False, 400)
    assert (done.redemption.received_at, done.redemption.delivered_at) == (received_at,) * 2
    assert done.redemption.stage(received_at) == "delivered"
    assert done.redemption.fulfilled_at == shipped_at  # the shipping moment is kept
    later = received_at + timedelta(hours=1)
    again = await redemptions.confirm_receipt(ALICE, made.redemption_id, later)
    assert again.replayed
    assert again.redemption.received_at == received_at
    listed = (await redemptions.list_for_member(ALICE)).entries[0]
    assert (listed.received_at, listed.stage(received_at)) == (received_at, "delivered")

    # Anything but a physical reward reads completed, handed over or not.
    drink = (await redeem(mall, ALICE, tea)).redemption
    assert drink.stage(NOW) == "completed"
    served = (await redemptions.fulfil(drink.redemption_id, "Served", NOW)).redemption
    assert (served.stage(NOW), served.delivered_at) == ("completed", None)
    with pytest.raises(InvalidState):
        await redemptions.confirm_receipt(ALICE, drink.redemption_id, NOW)
    assert (await mall.check()).ok


def test_delivered_after_days_must_be_a_day_to_a_year():
    for value, expected in (
        ("0", "redemptions.delivered_after_days = 0: expected an integer >= 1"),
        ("366", "redemptions.delivered_after_days = 366: expected an integer from 1 to 365"),
        ("'2w'", "redemptions.delivered_after_days = '2w': expected an integer"),
    ):
        with pytest.raises(ConfigError, match=re.escape(expected)):
            parse_config(f"[redemptions]\ndelivered_after_days = {value}", environ={})
    assert parse_config("", environ={}).redemptions.delivered_after_days == 14


async def test_the_shipping_queue_lists_physical_rewards_not_yet_shipped(mall: Mall):
    await join(mall, ALICE, 1000)
    tote = await item(mall, "tote", kind="physical", price_points=20, stock=9)
    latte = await item(mall, "latte", price_points=10)
    watch = await item(
        mall, "watch", kind="physical", price_points=500, stock=1, approval_threshold=500
    )
    redemptions = Redemptions(mall.db, mall.config)
    made = [
        (await redeem(mall, ALICE, sku, address="1 Main St")).redemption.redemption_id
        for sku in (tote, latte, tote, tote, watch, tote)
    ]
    await redemptions.fulfil(made[0], "Posted", NOW)
    await redemptions.cancel(made[5], NOW, member_id=None)

    first = await redemptions.awaiting_shipment(page_size=1)
    second = await redemptions.awaiting_shipment(page=1, page_size=1)
    third = await redemptions.awaiting_shipment(page=2, page_size=1)
    assert [r.redemption_id for r in first.entries + second.entries] == [made[2], made[3]]
    assert (first.has_more, second.has_more, third.entries) == (True, False, ())
    assert (first.entries[0].address, first.entries[0].kind) == ("1 Main St", "physical")


async def test_a_frozen_member_or_an_empty_purse_is_refused(mall: Mall):
    await join(mall, ALICE)
    tea = await item(mall, "tea", price_points=150)
    redemptions = Redemptions(mall.db, mall.config)
    with pytest.raises(InsufficientPoints) as poor:
        await redemptions.offer(ALICE, tea, NOW)
    assert poor.value.details == {"balance": 100, "needed": 150}
    await item(mall, "tea", price_points=50)
    token = (await redemptions.offer(ALICE, tea, NOW + timedelta(seconds=1))).token
    await mall.members.freeze(ALICE, "checking")
    with pytest.raises(MallError) as frozen:
        await redemptions.redeem(ALICE, token, NOW + timedelta(seconds=1))
    assert frozen.value.code == "frozen"
    assert await balance(mall, ALICE) == 100


# --- The books under random use ------------------------------------------------------------

_actions = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "redeem",
                "redeem",
                "redeem",
                "approve",
                "reject",
                "cancel",
                "admin_cancel",
                "pay",
                "fail",
                "timeout",
                "tap_again",
            ]
        ),
        st.integers(0, 3),  # who
        st.integers(0, 2),  # which item
    ),
    min_size=4,
    max_size=24,
)
_examples = iter(range(10**6))
INITIAL = 6
_REFUSALS = {
    None,
    "sold_out",
    "insufficient_points",
    "invalid_state",
    "unknown_redemption",
    "limit_reached",
    "key_reused",  # a second payment of one redemption, with another charge
}


async def check_stock(mall: Mall, items: list[int]) -> None:
    """Stock never below zero, and every unit is on the shelf or in a live redemption."""
    live = (
        select(func.count())
        .where(Redemption.item_id == Item.id, Redemption.status.not_in(("cancelled", "rejected")))
        .correlate(Item)
        .scalar_subquery()
    )
    async with mall.db.read() as conn:
        rows = (await conn.execute(select(Item.stock, live).where(Item.id.in_(items)))).all()
    for left, taken in rows:
        assert left is not None
        assert left >= 0
        assert left + taken == INITIAL


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=_actions)
async def test_random_redemptions_keep_the_books_and_the_stock(
    mall: Mall, actions: list[tuple[str, int, int]]
):
    example = next(_examples)
    base = 20_000 + 10 * example  # each example has members and items of its own
    redemptions = Redemptions(mall.db, mall.config)
    members = [base + n for n in range(4)]
    for member_id in members:
        await join(mall, member_id, 700, when="2026-03-01 08:00")
    items = [
        await item(mall, f"plain-{example}", kind="physical", price_points=100, stock=INITIAL),
        await item(
            mall, f"approve-{example}", price_points=300, stock=INITIAL, approval_threshold=200
        ),
        await item(mall, f"cash-{example}", price_points=150, cash_minor=500, stock=INITIAL),
    ]
    made: list[int] = []
    tokens: list[tuple[int, str]] = []
    clock = at("2026-03-02 10:00")
    for step, (action, who, which) in enumerate(actions):
        clock += timedelta(minutes=7)
        refusal = None
        member_id = members[who]
        # Mostly the latest redemptions: those are the ones still waiting for an answer.
        target = made[-1 - which % len(made)] if made else None
        try:
            if action == "redeem":
                offer = await redemptions.offer(member_id, items[which], clock)
                tokens.append((member_id, offer.token))
                made.append(
                    (
                        await redemptions.redeem(member_id, offer.token, clock, address="Here")
                    ).redemption.redemption_id
                )
            elif action == "tap_again" and tokens:
                owner, token = tokens[(who + step) % len(tokens)]
                assert (await redemptions.redeem(owner, token, clock, address="Here")).replayed
            elif target is None:
                continue
            elif action == "approve":
                await redemptions.approve(target, clock)
            elif action == "reject":
                await redemptions.reject(target, clock)
            elif action == "cancel":
                await redemptions.cancel(target, clock, member_id=member_id)
            elif action == "admin_cancel":
                await redemptions.cancel(target, clock)
            elif action == "pay":
                await redemptions.confirm_payment(target, f"ch-{example}-{step}", clock)
            elif action == "fail":
                await redemptions.fail_payment(target, clock)
            elif action == "timeout":
                # The payment wait (30 minutes) or also the approval wait (72 hours) is over.
                late = timedelta(minutes=40) if which else timedelta(hours=80)
                await redemptions.release_expired(clock + late)
        except MallError as refused:
            refusal = refused.code
        # Only the refusals the rules allow; never a broken invariant.
        assert refusal in _REFUSALS
        await check_stock(mall, items)
    report = await mall.check()
    assert report.ok, report.violations
    for member_id in members:
        assert (await mall.statements.balance(member_id)).balance >= 0


async def test_a_redemptions_answer_is_its_view_as_read_back(mall: Mall):
    # redeem() builds its answer from what it wrote instead of reading the row back: the two
    # must not differ, whatever the item, and whatever zone the instant was given in.
    await join(mall, ALICE, 5000)
    redemptions = Redemptions(mall.db, mall.config)
    coffee = await item(mall, "coffee", kind="coupon", price_points=100)
    await Catalog(mall.db, mall.config).load_codes(coffee, ["C-1"])
    cases = [
        (coffee, None),
        (await item(mall, "mug", kind="physical", price_points=200, stock=5), "1 Cup Lane"),
        (await item(mall, "watch", price_points=800, stock=2, approval_threshold=500), None),
        (await item(mall, "beans", price_points=300, cash_minor=2900, stock=3), None),
        (await item(mall, "tee", price_points=0, cash_minor=1500), None),
        (await item(mall, "tea", titles={"zh_Hans": "茶"}), None),
    ]
    shanghai = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    views = TypeAdapter(RedemptionView)
    for number, (item_id, address) in enumerate(cases):
        now = shanghai if number % 2 else NOW
        offer = await redemptions.offer(ALICE, item_id, now)
        done = await redemptions.redeem(ALICE, offer.token, now, address=address)
        read_back = await redemptions.get(done.redemption.redemption_id)
        # As JSON too: equal instants in other zones compare equal, but are stored otherwise.
        assert views.dump_json(done.redemption) == views.dump_json(read_back)
        assert done.redemption == read_back
        again = await redemptions.redeem(ALICE, offer.token, now, address=address)
        assert (again.replayed, again.redemption) == (True, done.redemption)
    assert (await mall.check()).ok
