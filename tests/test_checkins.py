"""Alice's check-ins, on the mall's calendar (Asia/Shanghai), on both databases."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import Frozen, InsufficientPoints, MakeUpNotAllowed, UnknownMember
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE = 1001


async def test_alice_checks_in_at_235959_and_at_000000_and_gets_two_days(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    first = await mall.checkins.check_in(ALICE, at("2026-03-01 23:59:59"))
    second = await mall.checkins.check_in(ALICE, at("2026-03-02 00:00:00"))
    assert (first.day, second.day) == (date(2026, 3, 1), date(2026, 3, 2))
    assert (first.streak, second.streak) == (1, 2)
    assert second.balance == 100 + 10 + 10


async def test_checking_in_twice_a_day_says_so_and_when_the_next_opens(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    first = await mall.checkins.check_in(ALICE, at("2026-03-01 09:00"))
    again = await mall.checkins.check_in(ALICE, at("2026-03-01 21:00"))
    assert not first.already_checked_in
    assert again.already_checked_in
    assert again.reward == first.reward
    assert again.balance == first.balance
    assert again.next_open_at == at("2026-03-02 00:00")
    assert (await mall.statements.balance(ALICE)).balance == 110


async def test_the_streak_survives_the_month_end_and_pays_day_seven(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-02-20 08:00"))
    days = ["2026-02-25", "2026-02-26", "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    for day in days:
        await mall.checkins.check_in(ALICE, at(f"{day} 12:00"))
    seventh = await mall.checkins.check_in(ALICE, at("2026-03-03 12:00"))
    assert seventh.streak == 7
    assert seventh.reward == 50
    assert seventh.next_milestone_streak == 14


async def test_a_missed_day_breaks_the_streak(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.checkins.check_in(ALICE, at("2026-03-01 12:00"))
    await mall.checkins.check_in(ALICE, at("2026-03-02 12:00"))
    after_gap = await mall.checkins.check_in(ALICE, at("2026-03-04 12:00"))
    assert after_gap.streak == 1
    calendar = await mall.checkins.calendar(ALICE, at("2026-03-04 13:00"))
    assert calendar.checked_in == (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 4))
    assert calendar.missed == (date(2026, 3, 3),)
    assert calendar.streak == 1


async def test_a_make_up_day_mends_the_streak_for_a_price(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    for day in ("2026-03-01", "2026-03-02", "2026-03-04"):
        await mall.checkins.check_in(ALICE, at(f"{day} 12:00"))
    made_up = await mall.checkins.make_up(ALICE, date(2026, 3, 3), at("2026-03-04 13:00"))
    assert made_up.price == 20
    assert made_up.streak == 4  # 1, 2, 3 (made up), 4
    assert made_up.makeups_left == 1
    assert made_up.balance == 100 + 30 - 20
    # The streak goes on from the mended run: day 5 is the fifth in a row.
    fifth = await mall.checkins.check_in(ALICE, at("2026-03-05 12:00"))
    assert fifth.streak == 5
    calendar = await mall.checkins.calendar(ALICE, at("2026-03-05 13:00"))
    assert calendar.made_up == (date(2026, 3, 3),)
    assert calendar.missed == ()


async def test_make_up_days_are_limited_to_this_month_and_a_count(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-02-01 08:00"))
    now = at("2026-03-10 12:00")
    with pytest.raises(MakeUpNotAllowed) as last_month:
        await mall.checkins.make_up(ALICE, date(2026, 2, 28), now)
    assert last_month.value.details["reason"] == "not_this_month"
    with pytest.raises(MakeUpNotAllowed):
        await mall.checkins.make_up(ALICE, date(2026, 3, 10), now)  # today is no missed day
    first = await mall.checkins.make_up(ALICE, date(2026, 3, 1), now)
    await mall.checkins.make_up(ALICE, date(2026, 3, 2), now)
    with pytest.raises(MakeUpNotAllowed) as limit:
        await mall.checkins.make_up(ALICE, date(2026, 3, 3), now)
    assert limit.value.details["reason"] == "limit"
    # A double tap on "make up 1 March" replays the first answer and charges once.
    assert await mall.checkins.make_up(ALICE, date(2026, 3, 1), at("2026-03-10 12:01")) == first
    assert (await mall.statements.balance(ALICE)).balance == 100 - 40


async def test_days_before_joining_are_neither_missed_nor_made_up(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-05 08:00"))

    calendar = await mall.checkins.calendar(ALICE, at("2026-03-07 12:00"))
    assert calendar.missed == (date(2026, 3, 5), date(2026, 3, 6))
    with pytest.raises(MakeUpNotAllowed) as early:
        await mall.checkins.make_up(ALICE, date(2026, 3, 4), at("2026-03-07 12:00"))
    assert early.value.details["reason"] == "before_joining"
    assert (await mall.statements.balance(ALICE)).balance == 100


async def test_a_make_up_the_member_cannot_afford_is_refused_and_costs_nothing(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config("[members]\nsignup_bonus = 5"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    with pytest.raises(InsufficientPoints):
        await mall.checkins.make_up(ALICE, date(2026, 3, 2), at("2026-03-05 12:00"))
    calendar = await mall.checkins.calendar(ALICE, at("2026-03-05 12:00"))
    assert calendar.made_up == ()
    assert calendar.makeups_left == 2
    assert (await mall.statements.balance(ALICE)).balance == 5


async def test_the_daily_cap_credits_what_fits_and_says_what_was_capped(make_mall: MallFactory):
    mall = await make_mall(make_config("[earning]\ndaily_cap = 25"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    checkin = await mall.checkins.check_in(ALICE, at("2026-03-01 09:00"))
    assert (checkin.reward, checkin.capped) == (10, 0)
    purchase = await mall.purchases.record_purchase(
        ALICE, "order-1", 5000, "food", at("2026-03-01 10:00")
    )
    assert (purchase.points, purchase.capped) == (15, 35)
    tomorrow = await mall.checkins.check_in(ALICE, at("2026-03-02 09:00"))
    assert (tomorrow.reward, tomorrow.capped) == (10, 0)


async def test_a_frozen_member_cannot_check_in_and_can_once_unfrozen(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.members.freeze(ALICE, "reported for abuse")
    with pytest.raises(Frozen):
        await mall.checkins.check_in(ALICE, at("2026-03-01 09:00"))
    await mall.members.unfreeze(ALICE)
    result = await mall.checkins.check_in(ALICE, at("2026-03-01 09:05"))
    assert not result.already_checked_in
    assert result.reward == 10


async def test_a_stranger_cannot_check_in(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.checkins.check_in(424242, at("2026-03-01 09:00"))
    with pytest.raises(UnknownMember):
        await mall.checkins.calendar(424242, at("2026-03-01 09:00"))
