"""/birthday: a member tells their birthday (day and month) by buttons, once.

Month first (``bday:m``), then the day (``bday:d:<month>``: the month's days, 29 February
included), then a confirmation that says how long it stays (``bday:s:<month>:<day>``), then
``bday:ok:<month>:<day>`` tells the mall. Each press is checked again by the mall (the date,
and whether the birthday may change yet). The points come on the day, from a job (``bot.jobs``).
"""

from __future__ import annotations

import calendar
from datetime import date

from babel.dates import format_skeleton, get_month_names

from bot.features.member_links import BirthdayStep
from bot.i18n import Html, plain
from bot.router import Router
from bot.screens import Button, Keyboard
from bot.turn import Turn
from core.growth.birthdays import BirthdayView
from core.points import rules

router = Router()
# A leap year, to name and count days of a month (29 February exists).
_LEAP_YEAR = 2000


def birthday_text(turn: Turn, month: int, day: int) -> Html:
    """ "8 March" in the reader's language."""
    return turn.t.date(date(_LEAP_YEAR, month, day))


@router.command("birthday")
async def birthday_command(turn: Turn) -> None:
    await _overview(turn)


@router.button(BirthdayStep)
async def birthday_button(turn: Turn, data: BirthdayStep) -> None:
    if data.step == "view":
        await _overview(turn)
    elif data.step == "m":
        _months(turn)
    elif data.step == "d":
        _days(turn, data.month)
    elif data.step == "s":
        _confirm(turn, data.month, data.day)
    else:
        await _tell(turn, data.month, data.day)


async def _overview(turn: Turn) -> None:
    t = turn.t
    told = await turn.mall.birthdays.get(turn.member_id, turn.now)
    points = turn.config.birthday.points
    lines: list[str] = []
    rows: Keyboard = ()
    set_button = (Button(plain(t("birthday.set")), data=BirthdayStep("m").pack()),)
    if told is None:
        lines.append(t("birthday.none"))
        rows = (set_button,)
    else:
        lines.append(t("birthday.told", day=birthday_text(turn, told.month, told.day)))
        if told.paid_this_year:
            lines.append(t("birthday.paid_this_year"))
        if _can_change(turn, told):
            change = Button(plain(t("birthday.change")), data=BirthdayStep("m").pack())
            rows = ((change,),)
        else:
            until = format_skeleton("yMMMd", told.changeable_from, locale=t.locale)
            lines.append(t("birthday.locked", day=until))
    if points:
        lines.append(t("birthday.points", points=t.points(points)))
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


def _can_change(turn: Turn, told: BirthdayView) -> bool:
    return rules.business_day(turn.now, turn.config.mall.timezone) >= told.changeable_from


def _months(turn: Turn) -> None:
    t = turn.t
    names = get_month_names("wide", locale=t.locale)
    buttons = [Button(names[month], data=BirthdayStep("d", month).pack()) for month in range(1, 13)]
    rows = tuple(tuple(buttons[i : i + 3]) for i in range(0, 12, 3))
    back = (Button(plain(t("birthday.back")), data=BirthdayStep().pack()),)
    turn.show(turn.with_menu(t("birthday.ask_month"), (*rows, back)))


def _days(turn: Turn, month: int) -> None:
    t = turn.t
    count = calendar.monthrange(_LEAP_YEAR, month)[1]
    buttons = [
        Button(str(day), data=BirthdayStep("s", month, day).pack()) for day in range(1, count + 1)
    ]
    rows = tuple(tuple(buttons[i : i + 7]) for i in range(0, count, 7))
    back = (Button(plain(t("birthday.other_month")), data=BirthdayStep("m").pack()),)
    month_name = get_month_names("wide", locale=t.locale)[month]
    turn.show(turn.with_menu(t("birthday.ask_day", month=month_name), (*rows, back)))


def _confirm(turn: Turn, month: int, day: int) -> None:
    t = turn.t
    lines = [t("birthday.confirm", day=birthday_text(turn, month, day))]
    wait = turn.config.birthday.change_after_days
    if wait:
        lines.append(t.n("birthday.confirm_lock", wait))
    if (month, day) == (2, 29):
        lines.append(t("birthday.leap_day"))
    rows = (
        (
            Button(plain(t("birthday.yes")), data=BirthdayStep("ok", month, day).pack()),
            Button(plain(t("birthday.other_month")), data=BirthdayStep("m").pack()),
        ),
    )
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


async def _tell(turn: Turn, month: int, day: int) -> None:
    t = turn.t
    told = await turn.mall.birthdays.tell(turn.member_id, month, day, turn.now)
    turn.notice(t("birthday.saved_notice"))
    lines = [t("birthday.saved", day=birthday_text(turn, told.month, told.day))]
    points = turn.config.birthday.points
    if points:
        lines.append(t("birthday.points", points=t.points(points)))
    turn.show(turn.with_menu(Html("\n".join(lines))))
