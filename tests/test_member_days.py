"""Member days on both databases: a check-in's reward multiplied on the rule's day only, the
extra a transfer of its own that a replay never pays twice; admins' changes audited."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.commerce.shop import OrderIn
from core.db.models import Transfer
from core.errors import InvalidInput, MemberDayExists, UnknownMemberDay
from core.growth.member_days import MemberDaySpec
from core.mall import Mall
from core.membership.risk import EARNED
from core.operations.jobs import Jobs
from core.rewards.catalog_file import CatalogError, load_catalog_text
from tests.conftest import MallFactory, at
from tests.support.configs import make_config
from tests.test_exports import rows
from tests.test_jobs import Words, outbox

ADMIN = 1000
ALICE = 1001
BOB = 1002
EIGHTH = MemberDaySpec(
    name="Member day",
    names={"zh_Hans": "会员日"},
    applies_to="checkin",
    multiplier=Decimal(2),
    day_of_month=8,
)


async def _bonuses(mall: Mall, member_id: int) -> list[tuple[int, str, str]]:
    async with mall.db.read() as conn:
        rows = await conn.execute(
            select(Transfer.amount, Transfer.key, Transfer.reference)
            .where(Transfer.credit_account_id == member_id, Transfer.code == "member_day")
            .order_by(Transfer.id)
        )
        return [(int(a), k, r) for a, k, r in rows]


async def test_the_8th_doubles_the_check_in_and_the_days_around_it_do_not(mall: Mall):
    await mall.member_days.add(ADMIN, EIGHTH, at("2026-03-01 07:00"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    before = await mall.checkins.check_in(ALICE, at("2026-03-07 23:59"))
    on = await mall.checkins.check_in(ALICE, at("2026-03-08 00:00"))
    after = await mall.checkins.check_in(ALICE, at("2026-03-09 12:00"))
    assert before.member_day is None
    assert after.member_day is None
    assert on.member_day is not None
    assert (on.reward, on.member_day.points, on.member_day.multiplier) == (10, 10, "2")
    assert on.balance == 100 + 10 + 20
    assert await _bonuses(mall, ALICE) == [
        (10, f"member-day:checkin:{ALICE}:2026-03-08", "checkin:2026-03-08:x2")
    ]
    history = await mall.statements.history(ALICE, page=0, page_size=10)
    assert "member_day" in [entry.code for entry in history.entries]


async def test_a_replayed_or_double_tapped_check_in_pays_the_bonus_once(mall: Mall):
    await mall.member_days.add(ADMIN, EIGHTH, at("2026-03-01 07:00"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    results = await asyncio.gather(
        *(mall.checkins.check_in(ALICE, at("2026-03-08 09:00")) for _ in range(3))
    )
    again = await mall.checkins.check_in(ALICE, at("2026-03-08 18:00"))
    assert sorted(r.already_checked_in for r in (*results, again)) == [False, True, True, True]
    assert again.member_day is not None
    assert again.member_day.points == 10
    assert len(await _bonuses(mall, ALICE)) == 1
    assert (await mall.statements.balance(ALICE)).balance == 100 + 20


async def test_one_and_a_half_rounds_down_and_the_highest_of_two_rules_wins(mall: Mall):
    await mall.member_days.add(
        ADMIN,
        MemberDaySpec("Fridays", "checkin", Decimal("1.5"), weekday=4),
        at("2026-03-01 07:00"),
    )
    await mall.member_days.add(
        ADMIN,
        MemberDaySpec("Small", "checkin", Decimal("1.25"), weekday=4),
        at("2026-03-01 07:00"),
    )
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    # 2026-03-06 is a Friday; Alice's streak reaches day 7 (50 points) on 2026-03-13, also one.
    for day in range(6, 14):
        result = await mall.checkins.check_in(ALICE, at(f"2026-03-{day:02d} 09:00"))
    assert result.streak == 8  # 2026-03-13, streak day 8 cycles to 10 points
    amounts = [(amount, ref) for amount, _, ref in await _bonuses(mall, ALICE)]
    assert amounts == [(5, "checkin:2026-03-06:x1.5"), (5, "checkin:2026-03-13:x1.5")]


async def test_a_window_paused_and_removed_rules_pay_nothing(mall: Mall):
    windowed = await mall.member_days.add(
        ADMIN,
        MemberDaySpec(
            "March only",
            "checkin",
            Decimal(3),
            day_of_month=8,
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 3, 31),
        ),
        at("2026-02-01 07:00"),
    )
    await mall.members.join(ALICE, "Alice", "en", at("2026-02-01 08:00"))
    await mall.checkins.check_in(ALICE, at("2026-02-08 09:00"))  # before the window
    assert (await mall.checkins.check_in(ALICE, at("2026-03-08 09:00"))).member_day is not None
    await mall.member_days.set_active(ADMIN, windowed.rule_id, False, at("2026-03-20 09:00"))
    assert await mall.member_days.on(at("2026-03-08 10:00")) == ()
    await mall.member_days.remove(ADMIN, windowed.rule_id, at("2026-03-21 09:00"))
    with pytest.raises(UnknownMemberDay):
        await mall.member_days.get(windowed.rule_id)
    assert [amount for amount, _, _ in await _bonuses(mall, ALICE)] == [20]
    actions = [entry.action for entry in await mall.audit.latest(10)]
    assert actions[:3] == ["member_day_remove", "member_day_pause", "member_day_add"]
    assert {entry.actor_id for entry in await mall.audit.latest(3)} == {ADMIN}


async def test_the_daily_cap_applies_to_the_bonus_too(make_mall: MallFactory):
    mall = await make_mall(make_config("[earning]\ndaily_cap = 15\n"))
    await mall.member_days.add(ADMIN, EIGHTH, at("2026-03-01 07:00"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    result = await mall.checkins.check_in(ALICE, at("2026-03-08 09:00"))
    assert result.member_day is not None
    assert (result.reward, result.member_day.points, result.member_day.capped) == (10, 5, 5)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (MemberDaySpec("x", "checkin", Decimal(1), day_of_month=8), "multiplier"),
        (MemberDaySpec("x", "checkin", Decimal(11), day_of_month=8), "multiplier"),
        (MemberDaySpec("x", "checkin", Decimal("1.555"), day_of_month=8), "multiplier"),
        (MemberDaySpec("x", "boxes", Decimal(2), day_of_month=8), "applies_to"),
        (MemberDaySpec("x", "checkin", Decimal(2)), "day_of_month"),
        (MemberDaySpec("x", "checkin", Decimal(2), day_of_month=32), "day_of_month"),
        (MemberDaySpec("x", "checkin", Decimal(2), weekday=7), "weekday"),
        (MemberDaySpec("", "checkin", Decimal(2), weekday=1), "name"),
    ],
)
async def test_a_bad_rule_is_refused_naming_the_field(mall: Mall, spec, field):
    with pytest.raises(InvalidInput) as refused:
        await mall.member_days.add(ADMIN, spec, at("2026-03-01 07:00"))
    assert refused.value.details["field"] == field


async def test_a_name_is_taken_once(mall: Mall):
    await mall.member_days.add(ADMIN, EIGHTH, at("2026-03-01 07:00"))
    with pytest.raises(MemberDayExists):
        await mall.member_days.add(ADMIN, EIGHTH, at("2026-03-01 07:00"))


async def test_the_morning_announcement_goes_once_to_members_who_take_announcements(
    mall: Mall,
):
    await mall.member_days.add(ADMIN, EIGHTH, at("2026-03-01 07:00"))
    await mall.members.join(ALICE, "Alice", "zh_Hans", at("2026-03-01 08:00"))
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.members.set_announcements(BOB, False)
    jobs = Jobs(mall, Words())
    assert (await jobs.member_days(at("2026-03-07 09:00"))).messages == 0
    assert (await jobs.member_days(at("2026-03-08 09:00"))).messages == 1
    assert (await jobs.member_days(at("2026-03-08 09:30"))).messages == 0
    assert await outbox(mall) == [(ALICE, "zh_Hans member days Member dayx2")]


async def test_the_catalog_file_defines_member_days_by_name(mall: Mall):
    text = """
[[member_days]]
name = "Member day"
names = { zh_Hans = "会员日" }
day_of_month = 8
applies_to = "checkin"
multiplier = 2

[[member_days]]
name = "Fridays"
weekday = "friday"
applies_to = "shop"
multiplier = 1.5
from = 2026-01-01
until = 2026-12-31
"""
    report = await load_catalog_text(mall.db, mall.config, text, at("2026-03-01 07:00"))
    assert report.member_days == 2
    again = await load_catalog_text(mall.db, mall.config, text, at("2026-03-01 07:00"))
    assert again.member_days == 0
    days = {day.name: day for day in await mall.member_days.list()}
    assert (days["Member day"].day_of_month, days["Member day"].multiplier) == (8, "2")
    assert days["Member day"].names == {"zh_Hans": "会员日"}
    assert (days["Fridays"].weekday, days["Fridays"].multiplier) == (4, "1.5")
    assert days["Fridays"].ends_on == date(2026, 12, 31)


async def test_a_bad_member_day_in_the_file_is_named_with_its_line(mall: Mall):
    text = """
[[member_days]]
name = "Oops"
day_of_month = 40
applies_to = "boxes"
multiplier = 1
"""
    with pytest.raises(CatalogError) as refused:
        await load_catalog_text(mall.db, mall.config, text, at("2026-03-01 07:00"))
    problems = [str(problem) for problem in refused.value.problems]
    assert "line 5: member_days[0].applies_to: must be 'checkin' or 'shop'" in problems
    assert any("member_days[0].multiplier" in p and "above 1" in p for p in problems)
    assert any("member_days[0].day_of_month" in p for p in problems)
    assert await mall.member_days.list() == ()


# --- Shop orders --------------------------------------------------------------------------------

SHOP_DAY = MemberDaySpec("Shop Friday", "shop", Decimal("1.5"), weekday=4)


def _order(order_id: str, total: str, placed: str | None = None) -> OrderIn:
    return OrderIn(
        order_id=order_id,
        customer={"telegram_id": BOB},
        total=Decimal(total),
        currency="CNY",
        placed_at=None if placed is None else at(placed),
    )


async def test_an_order_placed_on_a_shop_member_day_earns_the_extra_once(mall: Mall):
    await mall.member_days.add(ADMIN, SHOP_DAY, at("2026-03-01 07:00"))
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    thursday = await mall.shop.accept_order(_order("A-1", "101.00"), at("2026-03-05 10:00"))
    friday = await mall.shop.accept_order(_order("A-2", "101.00"), at("2026-03-06 10:00"))
    replay = await mall.shop.accept_order(_order("A-2", "101.00"), at("2026-03-06 10:05"))
    assert thursday.member_day is None
    assert friday.member_day is not None
    assert (friday.points, friday.member_day.points) == (101, 50)  # 151.5 rounds down to 151
    assert replay == friday
    assert await _bonuses(mall, BOB) == [(50, "member-day:shop-order:A-2", "shop-order:A-2:x1.5")]
    # Placed on Friday, credited on Saturday: the day it was placed counts.
    late = await mall.shop.accept_order(
        _order("A-3", "10.00", placed="2026-03-06 23:00"), at("2026-03-07 01:00")
    )
    assert late.member_day is not None
    assert late.member_day.points == 5
    assert (await mall.check()).ok


async def test_refunds_take_back_their_share_of_the_extra(mall: Mall):
    await mall.member_days.add(ADMIN, SHOP_DAY, at("2026-03-01 07:00"))
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.shop.accept_order(_order("A-1", "100.00"), at("2026-03-06 10:00"))
    assert (await mall.statements.balance(BOB)).balance == 100 + 100 + 50
    half = await mall.shop.refund("A-1", "R-1", "50.00", at("2026-03-07 10:00"))
    assert half.points_taken == 50 + 25
    rest = await mall.shop.refund("A-1", "R-2", "50.00", at("2026-03-08 10:00"))
    assert rest.points_taken == 50 + 25
    assert (await mall.statements.balance(BOB)).balance == 100
    assert (await mall.check()).ok


# --- Reports, exports and risk ------------------------------------------------------------------


async def test_bonuses_show_by_cause_in_reports_and_the_export_and_count_for_risk(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config("[birthday]\npoints = 88\n[risk]\nearn_limit = 100\n"))
    await mall.member_days.add(ADMIN, EIGHTH, at("2026-03-01 07:00"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.birthdays.tell(ALICE, 3, 8, at("2026-03-01 09:00"))
    await mall.checkins.check_in(ALICE, at("2026-03-08 09:00"))
    assert (await mall.risk.scan(at("2026-03-08 09:30"))).flagged == ()  # 20 earned: under 100
    await Jobs(mall, Words()).birthdays(at("2026-03-08 10:00"))

    issued = await mall.reports.issued_by_cause(date(2026, 3, 8), date(2026, 3, 8))
    assert [(row.code, row.points) for row in issued] == [
        ("birthday", 88),
        ("checkin", 10),
        ("member_day", 10),
    ]
    export = await mall.exports.export(date(2026, 3, 8), date(2026, 3, 8))
    try:
        kinds = {row["kind"] for row in rows(export.ledger)}
    finally:
        export.discard()
    assert {"birthday", "member_day", "checkin"} <= kinds
    # The birthday gift and the member-day extra count as earned, as check-ins do.
    report = await mall.risk.scan(at("2026-03-08 10:30"))
    assert report.flagged == ((EARNED, ALICE),)
