"""The daily check-in: points, streak, next milestone, the calendar, make-up days.

The calendar pages back month by month as far as a make-up reaches (``cm:YYYYMM``); today's
screen offers the latest missed days of the window, whatever month they are in, and a past
month's page every missed day of it still in the window (``mk:YYYYMMDD``). Each press is
checked again by the mall: the month against the window, the day against the rules.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from babel.dates import get_day_names

from bot.callback_data import CallbackData, Codec, Day
from bot.content import in_language
from bot.features.member_days import bonus_line
from bot.features.member_links import CheckIn
from bot.i18n import Html, Translator, plain
from bot.router import Router, Stale
from bot.screens import Button, Keyboard
from bot.turn import Turn
from core.errors import InvalidInput
from core.growth.checkins import CheckInResult, MonthCalendar

router = Router()
# How many of the latest missed days today's screen offers for a make-up check-in.
MAKEUP_OFFERS = 3
MONTH_ROUTE = "cm"
MAKEUP_ROUTE = "mk"


def _month_text(month: date | None) -> str:
    assert month is not None  # None is the default, never packed
    return month.strftime("%Y%m")


def _month_of(text: str) -> date:
    if len(text) != 6 or not text.isdigit():
        raise ValueError(text)
    return date(int(text[:4]), int(text[4:6]), 1)


Month = Annotated[date, Codec(_month_text, _month_of, 6)]


class MonthPage(CallbackData, route=MONTH_ROUTE):
    """Another month of the calendar (its first day)."""

    month: Month


class MakeUp(CallbackData, route=MAKEUP_ROUTE):
    """A make-up check-in for a missed day, and the calendar page it was offered on (the
    day's own month when left out)."""

    day: Day
    page: Annotated[date | None, Codec(_month_text, _month_of, 6)] = None

    def __post_init__(self) -> None:
        if self.page is not None and self.page < self.day.replace(day=1):
            raise ValueError(f"day {self.day} offered on the page of {self.page:%Y-%m}")


@router.screen("checkin", CheckIn)
async def _check_in(turn: Turn) -> None:
    t = turn.t
    result = await turn.mall.checkins.check_in(turn.member_id, turn.now)
    month = await turn.mall.checkins.calendar(turn.member_id, turn.now)
    lines: list[str]
    if result.already_checked_in:
        turn.notice(t("checkin.already_notice"))
        lines = [t("checkin.already", opens=t.moment(result.next_open_at))]
    else:
        bonus = result.member_day.points if result.member_day else 0
        turn.notice(t("checkin.done_notice", points=t.points(result.reward + bonus)))
        lines = _done_lines(t, result)
    lines += ["", calendar_text(t, month)]
    turn.show(turn.with_menu(Html("\n".join(lines)), _calendar_rows(t, month)))


def _done_lines(t: Translator, result: CheckInResult) -> list[str]:
    lines: list[str] = [
        t("checkin.done", points=t.points(result.reward)),
        t.n("checkin.streak", result.streak),
    ]
    if result.member_day is not None and result.member_day.points:
        lines.append(bonus_line(t, result.member_day))
    capped = result.capped + (result.member_day.capped if result.member_day else 0)
    if capped:
        lines.append(t("checkin.capped", points=t.points(capped)))
    if result.next_milestone_streak is not None and result.next_milestone_reward is not None:
        lines.append(
            t(
                "checkin.milestone",
                days=t.number(result.next_milestone_streak),
                points=t.points(result.next_milestone_reward),
            )
        )
    if result.referral is not None and result.referral.invitee_points:
        lines.append(t("checkin.referral", points=t.points(result.referral.invitee_points)))
    for reward in result.tasks:
        name = in_language(t, reward.title, reward.titles)
        lines.append(t("checkin.challenge", title=name, points=t.points(reward.points)))
    lines.append(t("checkin.balance", balance=t.points(result.balance)))
    return lines


def calendar_text(t: Translator, month: MonthCalendar) -> Html:
    """The month as a grid: checked in, made up, missed, today."""
    first = month.month
    next_month = (first + timedelta(days=32)).replace(day=1)
    checked, made_up, missed = set(month.checked_in), set(month.made_up), set(month.missed)
    names = get_day_names("narrow" if t.language != "en" else "short", locale=t.locale)
    header = " ".join(f"{names[i][:2]:>3}" for i in range(7))
    cells = ["   "] * first.weekday()
    day = first
    while day < next_month:
        if day in made_up:
            mark = "+"
        elif day in checked:
            mark = "✓"
        elif day in missed:
            mark = "✗"
        else:
            mark = " "
        cells.append(f"{day.day:>2}{mark}")
        day += timedelta(days=1)
    weeks = [" ".join(cells[i : i + 7]) for i in range(0, len(cells), 7)]
    grid = "\n".join([header, *weeks])
    return Html(f"<b>{t.month(first)}</b>\n<pre>{grid}</pre>\n{t('checkin.legend')}")


def _offers(month: MonthCalendar) -> tuple[date, ...]:
    """The missed days the page offers to make up.

    Today's month offers the latest of the whole window (so 31 March on 1 April); a past month
    every one of its own still in the window.
    """
    if month.makeups_left <= 0:
        return ()
    if month.month == month.today.replace(day=1):
        return month.open_for_makeup[-MAKEUP_OFFERS:]
    return tuple(day for day in month.open_for_makeup if day.replace(day=1) == month.month)


def _calendar_rows(t: Translator, month: MonthCalendar) -> Keyboard:
    """Make-up offers, then the paging row. Today's month has a few, one a row and priced;
    a past month may have many, so they are short, the price in the text, four a row."""
    rows: list[tuple[Button, ...]] = []
    offers = _offers(month)
    page = month.month  # to come back to: "mk:20260331:202604"
    if month.month == month.today.replace(day=1):
        rows += [
            (
                Button(
                    plain(
                        t(
                            "checkin.makeup_button",
                            day=t.date(day),
                            points=t.points(month.makeup_price),
                        )
                    ),
                    data=MakeUp(day, page).pack(),
                ),
            )
            for day in offers
        ]
    else:
        buttons = [
            Button(
                plain(t("checkin.makeup_day_button", day=t.date(day))),
                data=MakeUp(day, page).pack(),
            )
            for day in offers
        ]
        rows += [tuple(buttons[i : i + 4]) for i in range(0, len(buttons), 4)]
    paging = []
    if month.previous_month is not None:
        paging.append(
            Button(
                plain(t("checkin.previous_month", month=t.month(month.previous_month))),
                data=MonthPage(month.previous_month).pack(),
            )
        )
    if month.next_month is not None:
        paging.append(
            Button(
                plain(t("checkin.next_month", month=t.month(month.next_month))),
                data=MonthPage(month.next_month).pack(),
            )
        )
    if paging:
        rows.append(tuple(paging))
    return tuple(rows)


@router.button(MonthPage)
async def month_page(turn: Turn, data: MonthPage) -> None:
    """Another month of the calendar, with its missed days still open for a make-up."""
    t = turn.t
    month = await _calendar(turn, data.month)
    lines: list[str] = [calendar_text(t, month)]
    if _offers(month):
        lines.append(
            t.n("checkin.makeup_hint", month.makeups_left, points=t.points(month.makeup_price))
        )
    elif month.open_for_makeup and not month.makeups_left:
        lines.append(t("checkin.no_makeups_left"))
    turn.show(turn.with_menu(Html("\n".join(lines)), _calendar_rows(t, month)))


@router.button(MakeUp)
async def make_up(turn: Turn, data: MakeUp) -> None:
    day = data.day
    page = data.page or day.replace(day=1)
    t = turn.t
    result = await turn.mall.checkins.make_up(turn.member_id, day, turn.now)
    # Back to the page the offer was on (today's, or March's when paged back on 1 April); the
    # day's own page if that one is out of reach: the make-up is done either way.
    try:
        month = await turn.mall.checkins.calendar(turn.member_id, turn.now, page)
    except InvalidInput:
        month = await turn.mall.checkins.calendar(turn.member_id, turn.now, result.day)
    turn.notice(t("checkin.makeup_notice", day=t.date(result.day)))
    lines: list[str] = [
        t("checkin.makeup_done", day=t.date(result.day), points=t.points(result.price)),
        t.n("checkin.streak", result.streak),
        t("checkin.balance", balance=t.points(result.balance)),
        "",
        calendar_text(t, month),
    ]
    turn.show(turn.with_menu(Html("\n".join(lines)), _calendar_rows(t, month)))


async def _calendar(turn: Turn, month: date) -> MonthCalendar:
    try:
        return await turn.mall.checkins.calendar(turn.member_id, turn.now, month)
    except InvalidInput as exc:  # a page the window has moved past since the button was shown
        raise Stale(f"month {month:%Y-%m} out of range") from exc
