"""The mall's earning rules as pure functions: no I/O, so every case is a plain unit test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from zoneinfo import ZoneInfo

from core.config import CheckInSettings, EarningSettings, ExpirySettings, Tier, TiersSettings


def business_day(now: datetime, tz: ZoneInfo) -> date:
    """The mall's calendar day at the instant ``now``."""
    return now.astimezone(tz).date()


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """The instant the mall's calendar day ``day`` begins."""
    return datetime.combine(day, time(0), tzinfo=tz)


def checkin_reward(streak: int, rules: CheckInSettings) -> int:
    """Points for the ``streak``-th consecutive day (1-based)."""
    rewards = rules.rewards
    index = streak - 1
    if index >= len(rewards):
        index = index % len(rewards) if rules.cycle else len(rewards) - 1
    return rewards[index]


@dataclass(frozen=True)
class Milestone:
    """The next streak day that pays more than an ordinary day."""

    streak: int
    reward: int


def next_milestone(streak: int, rules: CheckInSettings) -> Milestone | None:
    """After ``streak`` days, the next day whose reward beats the first day's, if any."""
    base = rules.rewards[0]
    horizon = len(rules.rewards) * 2
    for ahead in range(1, horizon + 1):
        day = streak + ahead
        reward = checkin_reward(day, rules)
        if reward > base:
            return Milestone(day, reward)
    return None


@dataclass(frozen=True)
class PurchasePoints:
    """How a purchase's points were reckoned, for the member's receipt."""

    base: Decimal
    category_multiplier: Decimal
    tier_multiplier: Decimal
    promotion: str | None
    promotion_multiplier: Decimal
    points: int


def purchase_points(
    amount_minor: int, category: str, tier: Tier, now: datetime, rules: EarningSettings
) -> PurchasePoints:
    """Points an order earns: ratio x category x tier x the best running promotion, floored."""
    base = Decimal(amount_minor) * rules.points_per_unit / Decimal(rules.minor_per_unit)
    category_multiplier = rules.category_multipliers.get(category, Decimal(1))
    promotion_name: str | None = None
    promotion_multiplier = Decimal(1)
    for promotion in rules.promotions:
        running = promotion.starts <= now < promotion.ends
        applies = not promotion.categories or category in promotion.categories
        if running and applies and promotion.multiplier > promotion_multiplier:
            promotion_name, promotion_multiplier = promotion.name, promotion.multiplier
    total = base * category_multiplier * tier.multiplier * promotion_multiplier
    points = int(total.to_integral_value(rounding=ROUND_FLOOR))
    return PurchasePoints(
        base, category_multiplier, tier.multiplier, promotion_name, promotion_multiplier, points
    )


def lot_expiry(earned_on: date, tier: Tier, policy: ExpirySettings, tz: ZoneInfo) -> datetime:
    """The instant points earned on ``earned_on`` expire: the start of the day after their last.

    Rolling: they can be used for the tier's ``validity_days`` days counting the day earned.
    Fixed: through ``fixed_date`` of the year ``fixed_years_after`` years after earning.
    """
    if policy.policy == "fixed":
        month, day = (int(part) for part in policy.fixed_date.split("-"))
        last_day = date(earned_on.year + policy.fixed_years_after, month, day)
        if last_day < earned_on:
            last_day = date(earned_on.year + policy.fixed_years_after + 1, month, day)
    else:
        last_day = earned_on + timedelta(days=tier.validity_days - 1)
    return start_of_day(last_day + timedelta(days=1), tz)


def last_valid_day(expires_at: datetime, tz: ZoneInfo) -> date:
    """The last calendar day points that expire at ``expires_at`` can be used."""
    return (expires_at.astimezone(tz) - timedelta(microseconds=1)).date()


def tier_for(earned: int, tiers: TiersSettings) -> Tier:
    """The highest tier whose threshold the points earned in the window reach."""
    current = tiers.levels[0]
    for level in tiers.levels:
        if earned >= level.threshold:
            current = level
    return current


def tier_named(name: str, tiers: TiersSettings) -> Tier:
    """A tier by name; a name no longer configured falls back to the lowest tier."""
    for level in tiers.levels:
        if level.name == name:
            return level
    return tiers.levels[0]


def next_tier(current: Tier, tiers: TiersSettings) -> Tier | None:
    """The tier above ``current``, if there is one."""
    above = [level for level in tiers.levels if level.threshold > current.threshold]
    return above[0] if above else None


def on_mall_clock(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A date-time written without an offset (in a catalog file) is on the mall's clock."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=tz)
