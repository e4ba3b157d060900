"""The earning rules on their own: no database, just arithmetic a member would check."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from core.points import rules
from tests.support.configs import make_config

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_the_seventh_day_pays_the_bonus_and_the_eighth_starts_over():
    checkin = make_config().checkin
    assert [rules.checkin_reward(day, checkin) for day in range(1, 10)] == [
        10, 10, 10, 10, 10, 10, 50, 10, 10,
    ]  # fmt: skip


def test_without_cycle_the_last_reward_keeps_paying():
    checkin = make_config("[checkin]\nrewards = [5, 10]\ncycle = false").checkin
    assert [rules.checkin_reward(day, checkin) for day in range(1, 5)] == [5, 10, 10, 10]


def test_next_milestone_is_the_next_day_that_pays_more():
    checkin = make_config().checkin
    assert rules.next_milestone(3, checkin) == rules.Milestone(7, 50)
    assert rules.next_milestone(7, checkin) == rules.Milestone(14, 50)
    flat = make_config("[checkin]\nrewards = [10]").checkin
    assert rules.next_milestone(1, flat) is None


def test_purchase_points_multiply_category_tier_and_the_best_promotion():
    config = make_config(
        """
[earning]
points_per_unit = 2
category_multipliers = { electronics = 1.5 }

[[earning.promotions]]
name = "Double weekend"
multiplier = 2
starts = 2026-03-07T00:00:00
ends = 2026-03-09T00:00:00

[[earning.promotions]]
name = "Small boost"
multiplier = 1.1
starts = 2026-03-01T00:00:00
ends = 2026-03-31T00:00:00
"""
    )
    gold = config.tiers.levels[2]  # x1.5
    during = datetime(2026, 3, 7, 12, tzinfo=SHANGHAI)
    reckoned = rules.purchase_points(10_050, "electronics", gold, during, config.earning)
    # 100.50 yuan x 2 points = 201 base; x1.5 category x1.5 tier x2 promotion = 904.5 -> 904
    assert reckoned.base == Decimal("201")
    assert reckoned.promotion == "Double weekend"
    assert reckoned.points == 904
    after = datetime(2026, 3, 9, 0, tzinfo=SHANGHAI)
    assert rules.purchase_points(10_050, "food", gold, after, config.earning).promotion == (
        "Small boost"
    )


def test_a_promotion_ends_at_its_exact_instant():
    config = make_config(
        """
[[earning.promotions]]
name = "Flash"
multiplier = 3
starts = 2026-03-07T10:00:00
ends = 2026-03-07T12:00:00
"""
    )
    member = config.tiers.levels[0]
    last = datetime(2026, 3, 7, 11, 59, 59, tzinfo=SHANGHAI)
    end = datetime(2026, 3, 7, 12, 0, 0, tzinfo=SHANGHAI)
    assert rules.purchase_points(100, "x", member, last, config.earning).points == 3
    assert rules.purchase_points(100, "x", member, end, config.earning).points == 1


def test_rolling_validity_counts_the_day_earned():
    config = make_config("[[tiers.levels]]\nname = 'Only'\nthreshold = 0\nmultiplier = 1\n"
                         "validity_days = 30")  # fmt: skip
    tier = config.tiers.levels[0]
    expires = rules.lot_expiry(date(2026, 3, 1), tier, config.expiry, SHANGHAI)
    assert expires == datetime(2026, 3, 31, tzinfo=SHANGHAI)
    assert rules.last_valid_day(expires, SHANGHAI) == date(2026, 3, 30)


def test_fixed_policy_expires_at_the_end_of_the_date_next_year():
    config = make_config('[expiry]\npolicy = "fixed"\nfixed_date = "12-31"\nfixed_years_after = 1')
    tier = config.tiers.levels[0]
    expires = rules.lot_expiry(date(2026, 3, 1), tier, config.expiry, SHANGHAI)
    assert rules.last_valid_day(expires, SHANGHAI) == date(2027, 12, 31)


def test_tier_follows_earned_points_not_balance():
    tiers = make_config().tiers
    assert rules.tier_for(0, tiers).name == "Member"
    assert rules.tier_for(999, tiers).name == "Member"
    assert rules.tier_for(1000, tiers).name == "Silver"
    assert rules.tier_for(10**9, tiers).name == "Gold"
    assert rules.next_tier(tiers.levels[2], tiers) is None
    assert rules.tier_named("Retired tier", tiers).name == "Member"


def test_business_day_turns_at_local_midnight():
    before = datetime(2026, 3, 1, 15, 59, 59, tzinfo=ZoneInfo("UTC"))  # 23:59:59 in Shanghai
    after = datetime(2026, 3, 1, 16, 0, 0, tzinfo=ZoneInfo("UTC"))  # 00:00:00 in Shanghai
    assert rules.business_day(before, SHANGHAI) == date(2026, 3, 1)
    assert rules.business_day(after, SHANGHAI) == date(2026, 3, 2)
