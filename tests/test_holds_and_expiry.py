"""Points put aside for a redemption, and points that outlive their lot."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.errors import Frozen, HoldNotPending, InsufficientPoints, UnknownHold
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

CAROL = 3003


async def test_a_posted_hold_is_spent_and_a_voided_one_comes_back(mall: Mall):
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    now = at("2026-03-01 10:00")
    held = await mall.holds.hold(CAROL, 60, key="h-1", code="redeem", reference="item-1", now=now)
    assert held.balance == 40
    assert (await mall.statements.balance(CAROL)).held == 60
    posted = await mall.holds.post(held.hold_id, key="h-1-post", now=now)
    assert (posted.status, posted.balance) == ("posted", 40)
    with pytest.raises(HoldNotPending):
        await mall.holds.void(held.hold_id, key="h-1-void", now=now)
    second = await mall.holds.hold(CAROL, 40, key="h-2", code="redeem", reference="item-2", now=now)
    voided = await mall.holds.void(second.hold_id, key="h-2-void", now=now)
    assert (voided.status, voided.balance) == ("voided", 40)
    assert (await mall.statements.balance(CAROL)).held == 0
    assert (await mall.check()).ok


async def test_a_double_tapped_confirmation_holds_once(mall: Mall):
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    now = at("2026-03-01 10:00")
    first = await mall.holds.hold(CAROL, 60, key="tok-9", code="redeem", reference="i-1", now=now)
    second = await mall.holds.hold(CAROL, 60, key="tok-9", code="redeem", reference="i-1", now=now)
    assert first == second
    assert (await mall.statements.balance(CAROL)).balance == 40


async def test_an_unaffordable_hold_is_refused_and_refused_again_on_retry(mall: Mall):
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    now = at("2026-03-01 10:00")
    with pytest.raises(InsufficientPoints) as refused:
        await mall.holds.hold(CAROL, 500, key="big", code="redeem", reference="i-1", now=now)
    assert refused.value.details == {"balance": 100, "needed": 500}
    await mall.purchases.record_purchase(CAROL, "P-1", 100_000, "food", now)
    with pytest.raises(InsufficientPoints):
        await mall.holds.hold(CAROL, 500, key="big", code="redeem", reference="i-1", now=now)


async def test_a_frozen_member_cannot_spend(mall: Mall):
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    await mall.members.freeze(CAROL, "suspicious")
    with pytest.raises(Frozen):
        await mall.holds.hold(
            CAROL, 10, key="f-1", code="redeem", reference="i-1", now=at("2026-03-01 10:00")
        )
    assert (await mall.statements.balance(CAROL)).balance == 100


async def test_holds_nobody_answers_are_released_at_their_timeout(mall: Mall):
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    start = at("2026-03-01 10:00")
    held = await mall.holds.hold(
        CAROL, 30, key="w-1", code="redeem", reference="i-1", now=start, wait=timedelta(hours=1)
    )
    assert await mall.holds.release_expired(start + timedelta(minutes=59)) == []
    released = await mall.holds.release_expired(start + timedelta(hours=1))
    assert [hold.hold_id for hold in released] == [held.hold_id]
    assert (await mall.statements.balance(CAROL)).balance == 100
    assert await mall.holds.release_expired(start + timedelta(hours=2)) == []
    with pytest.raises(UnknownHold):
        await mall.holds.post(999_999, key="ghost", now=start)


async def test_points_expire_at_the_exact_instant_and_only_once(make_mall: MallFactory):
    config = make_config(
        "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidity_days = 10"
    )
    mall = await make_mall(config)
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    await mall.checkins.check_in(CAROL, at("2026-03-05 09:00"))
    expiring = await mall.statements.expiring(CAROL, at("2026-03-05 09:00"))
    assert [(e.last_day, e.amount) for e in expiring] == [
        (date(2026, 3, 10), 100),
        (date(2026, 3, 14), 10),
    ]
    nothing = await mall.expire(at("2026-03-10 23:59:59.999999"))
    assert nothing.points == 0
    report = await mall.expire(at("2026-03-11 00:00:00"))
    assert (report.members, report.lots, report.points) == (1, 1, 100)
    assert (await mall.expire(at("2026-03-11 00:00:00"))).points == 0
    assert (await mall.statements.balance(CAROL)).balance == 10
    history = await mall.statements.history(CAROL)
    assert history.entries[0].code == "expiry"
    assert history.entries[0].amount == -100
    assert (await mall.check()).ok


async def test_spending_takes_the_soonest_expiring_points_first(make_mall: MallFactory):
    config = make_config(
        "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidity_days = 10"
    )
    mall = await make_mall(config)
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))  # 100, to 10 Mar
    await mall.purchases.record_purchase(CAROL, "L-1", 5_000, "food", at("2026-03-05 10:00"))
    held = await mall.holds.hold(
        CAROL, 120, key="s-1", code="redeem", reference="i", now=at("2026-03-06 10:00")
    )
    expiring = await mall.statements.expiring(CAROL, at("2026-03-06 10:00"))
    assert [(e.last_day, e.amount) for e in expiring] == [(date(2026, 3, 14), 30)]
    # Voided after its lots' dates passed: the points come back with their old dates and
    # the next run expires them, as if they had never left.
    await mall.holds.void(held.hold_id, key="s-1-void", now=at("2026-03-12 10:00"))
    assert (await mall.statements.balance(CAROL)).balance == 150
    report = await mall.expire(at("2026-03-12 10:00"))
    assert report.points == 100
    assert (await mall.statements.balance(CAROL)).balance == 50
    assert (await mall.check()).ok
