"""The balance screen's and main menu's one-read answers (core.points.balance_reads) say what the
separate statements say, on both databases."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import UnknownMember
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

CAROL, NOBODY = 3003, 4004
TIERS = """
[[tiers.levels]]
name = 'Member'
threshold = 0
multiplier = 1
validity_days = 10

[[tiers.levels]]
name = 'Silver'
threshold = 500
multiplier = 1.5
validity_days = 30
"""


async def test_the_overview_agrees_with_each_separate_read(make_mall: MallFactory):
    mall = await make_mall(make_config(TIERS))
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    now = at("2026-03-05 09:00")
    await mall.checkins.check_in(CAROL, now)
    await mall.holds.hold(CAROL, 30, key="h-1", code="redeem", reference="item-1", now=now)
    await mall.members.freeze(CAROL, "checking an order")

    overview = await mall.balance_reads.overview(CAROL, now)

    assert overview.balance == await mall.statements.balance(CAROL)
    assert overview.tier == await mall.statements.tier(CAROL, now)
    assert overview.expiring == await mall.statements.expiring(CAROL, now)
    assert (overview.balance.balance, overview.balance.held) == (80, 30)
    assert (overview.balance.frozen, overview.balance.frozen_reason) == (True, "checking an order")
    assert [(e.last_day, e.amount) for e in overview.expiring] == [
        (date(2026, 3, 10), 70),
        (date(2026, 3, 14), 10),
    ]
    assert (overview.tier.tier, overview.tier.next_tier) == ("Member", "Silver")


async def test_points_past_the_horizon_or_spent_are_not_expiring(mall: Mall):
    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    assert (await mall.balance_reads.overview(CAROL, at("2026-03-01 09:00"))).expiring == (
        await mall.statements.expiring(CAROL, at("2026-03-01 09:00"))
    )
    await mall.holds.hold(CAROL, 100, key="all", code="redeem", reference="i", now=at("2026-03-02"))
    spent = await mall.balance_reads.overview(CAROL, at("2026-03-02 10:00"))
    assert (spent.balance.balance, spent.balance.held, spent.expiring) == (0, 100, ())


async def test_someone_who_never_joined_is_an_unknown_member(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.statements.balance(NOBODY)
    with pytest.raises(UnknownMember):
        await mall.balance_reads.overview(NOBODY, at("2026-03-01 09:00"))
