"""What the admin reads: the liability, a few days of the mall, redemptions, expiring points."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert, select

from core.db.models import Item, Redemption, Transfer
from core.errors import InvalidInput
from core.mall import Mall
from core.points.accounts import SystemAccount
from core.points.ledger import credit_member, lock_member, restore_debit
from core.points.statements import ExpiringPoints
from core.reporting.reports import DayFigures, ExpiringMember, ItemRedemptions, Reports
from core.rewards.donations import Donations
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE, BOB, CAROL, DAN = 1001, 1002, 1003, 1004
TEN_DAY_POINTS = (
    "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidity_days = 10"
)


def lots(*days: tuple[str, int]) -> tuple[ExpiringPoints, ...]:
    return tuple(ExpiringPoints(date.fromisoformat(day), amount) for day, amount in days)


async def join(mall: Mall, member_id: int, when: str, language: str = "en") -> None:
    await mall.members.join(member_id, f"Member {member_id}", language, at(when))


async def test_two_days_around_midnight_in_shanghai_add_up_exactly(mall: Mall):
    donations = Donations(mall.db, mall.config)
    # Dan joined a year ago: his sign-up points are used up by 1 March and expire at midnight.
    await join(mall, DAN, "2025-03-02 12:00")

    # 1 March.
    await join(mall, ALICE, "2026-03-01 08:00")
    await mall.checkins.check_in(ALICE, at("2026-03-01 09:00"))
    await join(mall, CAROL, "2026-03-01 09:30")
    await donations.donate(ALICE, 30, "give-1", at("2026-03-01 23:59:59.999999"))
    await join(mall, BOB, "2026-03-01 23:59:59")

    # 2 March: the first instant already belongs to the new day.
    await mall.checkins.check_in(BOB, at("2026-03-02 00:00:00"))
    assert (await mall.expire(at("2026-03-02 00:30"))).points == 100
    held = await mall.holds.hold(
        ALICE, 40, key="h-1", code="redeem", reference="mug", now=at("2026-03-02 10:00")
    )
    await mall.holds.post(held.hold_id, key="h-1-post", now=at("2026-03-02 11:00"))
    await mall.purchases.record_purchase(BOB, "order-1", 5_000, "food", at("2026-03-02 12:00"))
    voided = await mall.holds.hold(
        BOB, 20, key="h-2", code="redeem", reference="mug", now=at("2026-03-02 13:00")
    )
    await mall.holds.void(voided.hold_id, key="h-2-void", now=at("2026-03-02 14:00"))
    await mall.checkins.make_up(CAROL, date(2026, 3, 1), at("2026-03-02 15:00"))
    await donations.donate(BOB, 5, "give-2", at("2026-03-02 16:00"))

    # 3 March: Carol's make-up is given back, and an admin grants Alice 7 points.
    async with mall.db.write() as conn:
        await lock_member(conn, CAROL)
        makeup = (
            await conn.execute(
                select(Transfer.id).where(Transfer.key == f"makeup:{CAROL}:2026-03-01")
            )
        ).scalar_one()
        await restore_debit(
            conn,
            member_id=CAROL,
            original_transfer_id=makeup,
            source=SystemAccount.REDEMPTIONS,
            amount=20,
            code="makeup_refund",
            reference="2026-03-01",
            key="makeup-refund-1",
            now=at("2026-03-03 10:00"),
        )
        await lock_member(conn, ALICE)
        await credit_member(
            conn,
            member_id=ALICE,
            source=SystemAccount.ADJUSTMENTS,
            amount=7,
            code="admin_grant",
            reference="sorry",
            key="grant-1",
            now=at("2026-03-03 11:00"),
            expires_at=None,
        )
    assert (await mall.check()).ok

    reports = Reports(mall.db, mall.config)
    days = await reports.daily(date(2026, 2, 28), date(2026, 3, 4))
    assert days == (
        DayFigures(date(2026, 2, 28), 0, 0, 0, 0, 0, 0, 0),
        # Alice, Carol, Bob joined (300) and Alice checked in (10); Alice gave 30.
        DayFigures(date(2026, 3, 1), 310, 0, 0, 30, 1, 0, 3),
        # Bob's check-in and purchase (10 + 50); Alice's posted hold and Carol's make-up
        # (40 + 20, Bob's voided hold is not spent); Dan's 100 expired, and he is not counted
        # as active for it.
        DayFigures(date(2026, 3, 2), 60, 60, 100, 5, 1, 1, 3),
        # The make-up given back makes the day's redemptions negative.
        DayFigures(date(2026, 3, 3), 7, -20, 0, 0, 0, 0, 2),
        DayFigures(date(2026, 3, 4), 0, 0, 0, 0, 0, 0, 0),
    )
    # A long range is asked in parts; a part ends between 1 and 2 March here.
    long = await reports.daily(date(2026, 1, 30), date(2026, 3, 12))
    assert len(long) == 42
    assert tuple(d for d in long if date(2026, 2, 28) <= d.day <= date(2026, 3, 4)) == days
    assert sum(d.issued for d in long) == 377


async def test_the_liability_counts_balances_and_held_points_in_money(make_mall: MallFactory):
    mall = await make_mall(make_config("[mall]\npoint_value_minor = 5\ncurrency = 'USD'"))
    await join(mall, DAN, "2025-03-02 12:00")  # his 100 points are past their date on 2 March
    await join(mall, ALICE, "2026-03-01 08:00")
    await join(mall, BOB, "2026-03-01 08:00")
    now = at("2026-03-02 09:00")
    await mall.holds.hold(BOB, 30, key="h-1", code="redeem", reference="mug", now=now)
    reports = Reports(mall.db, mall.config)
    liability = await reports.liability(now)
    assert (liability.member_balances, liability.held, liability.outstanding) == (270, 30, 300)
    assert liability.awaiting_expiry == 100
    assert (liability.point_value_minor, liability.value_minor, liability.currency) == (
        5,
        1500,
        "USD",
    )
    assert liability.as_of == now
    await mall.expire(now)
    after = await reports.liability(now)
    assert (after.outstanding, after.awaiting_expiry, after.value_minor) == (200, 0, 1000)
    assert after.outstanding == (await mall.check()).outstanding_points + after.held


async def test_members_to_remind_are_those_whose_points_end_within_the_window(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config(TEN_DAY_POINTS))
    await join(mall, ALICE, "2026-03-01 08:00")  # 100 usable through 10 March
    await mall.checkins.check_in(ALICE, at("2026-03-05 09:00"))  # 10 through 14 March
    await join(mall, BOB, "2026-03-03 08:00", language="zh-hans")  # 100 through 12 March
    await join(mall, CAROL, "2026-03-01 08:00")
    await mall.members.freeze(CAROL, "reminders would only tease")
    await join(mall, DAN, "2026-03-01 08:00")
    await Donations(mall.db, mall.config).donate(DAN, 100, "all-of-it", at("2026-03-02 08:00"))

    reports = Reports(mall.db, mall.config)
    now = at("2026-03-06 12:00")
    assert await reports.expiring_members(now, 0) == ()
    assert await reports.expiring_members(now, 4) == (
        ExpiringMember(ALICE, "en", 100, date(2026, 3, 10), 100, lots(("2026-03-10", 100))),
    )
    everyone = await reports.expiring_members(now, 8)
    assert everyone == (
        ExpiringMember(
            ALICE, "en", 110, date(2026, 3, 10), 100, lots(("2026-03-10", 100), ("2026-03-14", 10))
        ),
        ExpiringMember(BOB, "zh-hans", 100, date(2026, 3, 12), 100, lots(("2026-03-12", 100))),
    )
    one_by_one = [m async for m in reports.expiring_members_iter(now, 8, batch=1)]
    assert tuple(one_by_one) == everyone
    # On 11 March Alice's first 100 are past their date (swept or not): only her 10 are left.
    later = await reports.expiring_members(at("2026-03-11 09:00"), 3)
    assert later == (
        ExpiringMember(ALICE, "en", 10, date(2026, 3, 14), 10, lots(("2026-03-14", 10))),
        ExpiringMember(BOB, "zh-hans", 100, date(2026, 3, 12), 100, lots(("2026-03-12", 100))),
    )


async def test_redemptions_per_item_put_the_most_redeemed_first(mall: Mall):
    await join(mall, ALICE, "2026-03-01 08:00")
    created = at("2026-03-01 08:00")
    async with mall.db.write() as conn:
        items = {}
        for sku, title, price in (("mug", "Mug", 10), ("tea", "Green tea", 5)):
            items[sku] = (
                await conn.execute(
                    insert(Item)
                    .values(
                        sku=sku,
                        title=title,
                        category="shop",
                        kind="physical",
                        price_points=price,
                        created_at=created,
                        updated_at=created,
                    )
                    .returning(Item.id)
                )
            ).scalar_one()
        story = [
            ("mug", "completed", 10, "2026-02-28 23:59:59"),  # the day before
            ("mug", "completed", 10, "2026-03-01 00:00"),
            ("mug", "fulfilled", 10, "2026-03-02 23:59:59"),
            ("mug", "awaiting_approval", 10, "2026-03-02 12:00"),
            ("mug", "cancelled", 10, "2026-03-02 12:00"),
            ("mug", "completed", 10, "2026-03-03 00:00"),  # the day after
            ("tea", "completed", 5, "2026-03-01 10:00"),
            ("tea", "completed", 5, "2026-03-01 11:00"),
            ("tea", "fulfilled", 4, "2026-03-02 10:00"),
            ("tea", "awaiting_payment", 5, "2026-03-02 11:00"),
            ("tea", "rejected", 5, "2026-03-02 11:00"),
        ]
        for n, (sku, status, points, when) in enumerate(story):
            await conn.execute(
                insert(Redemption).values(
                    member_id=ALICE,
                    item_id=items[sku],
                    confirm_token=f"tok-{n}",
                    status=status,
                    points=points,
                    created_at=at(when),
                    updated_at=at(when),
                )
            )
    reports = Reports(mall.db, mall.config)
    assert await reports.redemptions_per_item(date(2026, 3, 1), date(2026, 3, 2)) == (
        ItemRedemptions(items["tea"], "Green tea", 3, 14, 1, 5),
        ItemRedemptions(items["mug"], "Mug", 2, 20, 1, 10),
    )
    assert await reports.redemptions_per_item(date(2026, 3, 4), date(2026, 3, 5)) == ()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 3, 2), date(2026, 3, 1)),
        (date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=366)),
        (at("2026-03-01 00:00"), date(2026, 3, 2)),
        ("2026-03-01", date(2026, 3, 2)),
    ],
)
async def test_a_malformed_period_is_refused(mall: Mall, start: object, end: object):
    reports = Reports(mall.db, mall.config)
    with pytest.raises(InvalidInput):
        await reports.daily(start, end)  # type: ignore[arg-type]
    if start != date(2026, 1, 1):
        with pytest.raises(InvalidInput):
            await reports.redemptions_per_item(start, end)  # type: ignore[arg-type]


@pytest.mark.parametrize("within_days", [-1, 3651, 1.5, True, None])
async def test_a_malformed_reminder_window_is_refused(mall: Mall, within_days: object):
    reports = Reports(mall.db, mall.config)
    with pytest.raises(InvalidInput):
        await reports.expiring_members(at("2026-03-01 09:00"), within_days)  # type: ignore[arg-type]
