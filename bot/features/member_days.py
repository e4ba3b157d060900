"""How member days read to members: in the check-in answer, the history and the morning's
announcement (``bot.jobs``). The admins keep them in ``bot.features.admin_member_days``."""

from __future__ import annotations

from babel.dates import get_day_names

from bot.content import in_language
from bot.i18n import Html, Translator, escape
from core.growth.member_days import MemberDayBonus, MemberDayView


def day_name(t: Translator, day: MemberDayView | MemberDayBonus) -> Html:
    """The member day's name in the reader's language, escaped."""
    return escape(in_language(t, day.name, day.names))


def rule_text(t: Translator, day: MemberDayView) -> Html:
    """When it falls: "every 8th of the month", "every Friday"."""
    if day.day_of_month is not None:
        return t("member_day.rule.day_of_month", day=t.number(day.day_of_month))
    assert day.weekday is not None
    weekday = get_day_names("wide", locale=t.locale)[day.weekday]
    return t("member_day.rule.weekday", weekday=weekday)


def member_day_line(t: Translator, day: MemberDayView) -> Html:
    """One line of the announcement: its name, the multiplier and what it multiplies."""
    key = "member_day.line.shop" if day.applies_to == "shop" else "member_day.line.checkin"
    return t(key, name=day_name(t, day), multiplier=day.multiplier)


def bonus_line(t: Translator, bonus: MemberDayBonus) -> Html:
    """The line of a check-in's answer or an order's thank-you that says what it added."""
    return t(
        "member_day.bonus",
        name=day_name(t, bonus),
        multiplier=bonus.multiplier,
        points=t.points(bonus.points),
    )
