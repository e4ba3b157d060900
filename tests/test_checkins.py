"""Alice's check-ins, on the mall's calendar (Asia/Shanghai), on both databases."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.db.models import CheckIn
from core.errors import (
    Frozen,
    InsufficientPoints,
    InvalidInput,
    MakeUpNotAllowed,
    UnknownMember,
)
from core.growth.checkins import MakeUpResult
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE = 1001
BOB = 1002


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


async def test_make_up_days_are_limited_to_the_window_and_a_count(mall: Mall) -> None:
    await mall.members.join(ALICE, "Alice", "en", at("2026-01-01 08:00"))
    now = at("2026-03-10 12:00")
    with pytest.raises(MakeUpNotAllowed) as too_old:  # 31 days back; the window is 30
        await mall.checkins.make_up(ALICE, date(2026, 2, 7), now)
    assert too_old.value.details["reason"] == "outside_window"
    with pytest.raises(MakeUpNotAllowed):
        await mall.checkins.make_up(ALICE, date(2026, 3, 10), now)  # today is no missed day
    first = await mall.checkins.make_up(ALICE, date(2026, 3, 1), now)
    await mall.checkins.make_up(ALICE, date(2026, 2, 8), now)  # 30 days back: last month
    with pytest.raises(MakeUpNotAllowed) as limit:
        await mall.checkins.make_up(ALICE, date(2026, 3, 3), now)
    assert limit.value.details["reason"] == "limit"
    # A double tap on "make up 1 March" replays the first answer and charges once.
    assert await mall.checkins.make_up(ALICE, date(2026, 3, 1), at("2026-03-10 12:01")) == first
    assert (await mall.statements.balance(ALICE)).balance == 100 - 40


async def test_a_day_missed_on_the_31st_is_made_up_on_the_1st_and_mends_the_streak(
    mall: Mall,
) -> None:
    """Alice checks in 28 to 30 March, misses the 31st, checks in on 1 April: the streak
    starts over. She makes up 31 March and it is five days, 28 March to 1 April."""
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-20 08:00"))
    for day in ("2026-03-28", "2026-03-29", "2026-03-30"):
        await mall.checkins.check_in(ALICE, at(f"{day} 12:00"))
    first_of_april = await mall.checkins.check_in(ALICE, at("2026-04-01 09:00"))
    assert first_of_april.streak == 1

    calendar = await mall.checkins.calendar(ALICE, at("2026-04-01 09:05"))
    assert calendar.month == date(2026, 4, 1)
    assert calendar.missed == ()  # nothing of April is missed yet
    assert calendar.open_for_makeup[-1] == date(2026, 3, 31)
    made_up = await mall.checkins.make_up(ALICE, date(2026, 3, 31), at("2026-04-01 09:10"))
    assert made_up.streak == 5
    assert made_up.makeups_left == 1  # one of April's
    assert made_up.balance == 100 + 4 * 10 - 20
    second = await mall.checkins.check_in(ALICE, at("2026-04-02 09:00"))
    assert second.streak == 6

    march = await mall.checkins.calendar(ALICE, at("2026-04-02 10:00"), date(2026, 3, 15))
    assert march.month == date(2026, 3, 1)
    assert march.made_up == (date(2026, 3, 31),)
    assert march.missed == tuple(date(2026, 3, d) for d in range(20, 28))
    assert march.makeups_left == 1
    assert (march.previous_month, march.next_month) == (None, date(2026, 4, 1))


async def test_make_ups_count_in_the_month_they_are_bought(mall: Mall) -> None:
    """March's two make-ups are spent on 31 March; on 1 April there are two more, even for
    March days, and they are April's."""
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.checkins.make_up(ALICE, date(2026, 3, 2), at("2026-03-31 20:00"))
    await mall.checkins.make_up(ALICE, date(2026, 3, 3), at("2026-03-31 20:01"))
    with pytest.raises(MakeUpNotAllowed) as spent:
        await mall.checkins.make_up(ALICE, date(2026, 3, 4), at("2026-03-31 23:59"))
    assert spent.value.details["reason"] == "limit"

    april = at("2026-04-01 00:00")  # midnight on the mall's clock (Asia/Shanghai)
    assert (await mall.checkins.calendar(ALICE, april)).makeups_left == 2
    fourth = await mall.checkins.make_up(ALICE, date(2026, 3, 4), april)
    assert (fourth.streak, fourth.makeups_left) == (0, 1)  # 31 March is still missed
    last = await mall.checkins.make_up(ALICE, date(2026, 3, 31), april)
    assert (last.streak, last.makeups_left) == (1, 0)
    with pytest.raises(MakeUpNotAllowed):
        await mall.checkins.make_up(ALICE, date(2026, 3, 30), april)
    assert (await mall.statements.balance(ALICE)).balance == 100 - 4 * 20


async def test_the_calendar_pages_back_as_far_as_the_window_and_joining_reach(
    make_mall: MallFactory,
) -> None:
    mall = await make_mall(make_config("[checkin]\nmakeup_window_days = 40"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-01-10 08:00"))
    now = at("2026-03-05 12:00")  # the window reaches back to 24 January

    this_month = await mall.checkins.calendar(ALICE, now)
    assert (this_month.month, this_month.earliest_month) == (date(2026, 3, 1), date(2026, 1, 1))
    assert (this_month.previous_month, this_month.next_month) == (date(2026, 2, 1), None)
    assert this_month.open_for_makeup[0] == date(2026, 1, 24)
    assert len(this_month.open_for_makeup) == 40
    january = await mall.checkins.calendar(ALICE, now, date(2026, 1, 31))
    assert january.previous_month is None
    assert january.missed[0] == date(2026, 1, 10)  # missed since joining, though too old
    with pytest.raises(InvalidInput):
        await mall.checkins.calendar(ALICE, now, date(2025, 12, 1))
    with pytest.raises(InvalidInput):
        await mall.checkins.calendar(ALICE, now, date(2026, 4, 1))
    with pytest.raises(MakeUpNotAllowed) as too_old:
        await mall.checkins.make_up(ALICE, date(2026, 1, 23), now)
    assert too_old.value.details["reason"] == "outside_window"

    # Bob joined on 3 March: his calendar does not page back before it.
    await mall.members.join(BOB, "Bob", "en", at("2026-03-03 08:00"))
    bob = await mall.checkins.calendar(BOB, now)
    assert (bob.earliest_month, bob.previous_month) == (date(2026, 3, 1), None)
    assert bob.open_for_makeup == (date(2026, 3, 3), date(2026, 3, 4))
    with pytest.raises(InvalidInput):
        await mall.checkins.calendar(BOB, now, date(2026, 2, 1))


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


# Random check-ins and make-ups around a month end: the mall agrees with a plain model.
REWARDS = (10, 10, 10, 10, 10, 10, 50)
_START_DAYS = (date(2026, 3, 24), date(2026, 2, 22), date(2025, 12, 26))
_steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),  # days later
        st.sampled_from(("check_in", "make_up")),
        st.integers(min_value=1, max_value=34),  # a make-up: how many days back
    ),
    min_size=1,
    max_size=25,
)
_members = iter(range(10**6))


def _run_ending(days: dict[date, bool], day: date) -> int:
    count = 0
    while day - timedelta(days=count) in days:
        count += 1
    return count


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(start=st.sampled_from(_START_DAYS), steps=_steps)
async def test_random_check_ins_and_make_ups_across_a_month_end_keep_streaks_and_pay_once(
    mall: Mall, start: date, steps: list[tuple[int, str, int]]
) -> None:
    member_id = 5000 + next(_members)  # a fresh member per example, on the same mall
    await mall.members.join(member_id, "M", "en", at(f"{start} 08:00"))
    days: dict[date, bool] = {}  # day: made up
    bought: list[date] = []  # the business days make-ups were bought on
    first_make_ups: dict[date, MakeUpResult] = {}
    balance = 100
    today = start
    for later, kind, back in steps:
        today += timedelta(days=later)
        now = at(f"{today} 12:00")
        if kind == "check_in":
            first = today not in days
            result = await mall.checkins.check_in(member_id, now)
            assert result.already_checked_in is not first
            if first:
                streak = _run_ending(days, today - timedelta(days=1)) + 1
                assert (result.streak, result.reward) == (streak, REWARDS[(streak - 1) % 7])
                days[today] = False
                balance += result.reward
        elif back <= 30 and (today - timedelta(days=back)) in first_make_ups:
            # The same make-up again (a double tap): the first answer, charged once.
            day = today - timedelta(days=back)
            again = await mall.checkins.make_up(member_id, day, now)
            assert again == first_make_ups[day]
        else:
            day = today - timedelta(days=back)
            used = sum(1 for b in bought if (b.year, b.month) == (today.year, today.month))
            allowed = back <= 30 and day >= start and day not in days and used < 2
            try:
                made_up = await mall.checkins.make_up(member_id, day, now)
            except MakeUpNotAllowed:
                assert not allowed
            except InsufficientPoints:
                assert allowed
                assert balance < 20
            else:
                assert allowed
                days[day] = True
                bought.append(today)
                first_make_ups[day] = made_up
                balance -= 20
                assert made_up.makeups_left == 2 - used - 1
                live = _run_ending(days, today) or _run_ending(days, today - timedelta(days=1))
                assert made_up.streak == live
        # Every stored streak is the run of days ending there; each day is there once.
        async with mall.db.read() as conn:
            stored = (
                await conn.execute(
                    select(CheckIn.day, CheckIn.streak, CheckIn.makeup).where(
                        CheckIn.member_id == member_id
                    )
                )
            ).all()
        assert {row.day: row.makeup for row in stored} == days
        assert all(row.streak == _run_ending(days, row.day) for row in stored)
        assert (await mall.statements.balance(member_id)).balance == balance
        calendar = await mall.checkins.calendar(member_id, now)
        live = _run_ending(days, today) or _run_ending(days, today - timedelta(days=1))
        assert calendar.streak == live
        window_start = max(today - timedelta(days=30), start)
        assert calendar.open_for_makeup == tuple(
            d
            for d in (window_start + timedelta(days=n) for n in range((today - window_start).days))
            if d not in days
        )
    assert (await mall.check()).ok
