"""The daily check-in: points, streak, next milestone, this month's calendar, make-up days."""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import get_day_names

from bot.i18n import Html, Translator
from bot.router import Router, Stale, callback
from bot.screens import Button, Keyboard
from bot.turn import Turn
from core.checkins import CheckInResult, MonthCalendar

router = Router()
# How many of the latest missed days are offered for a make-up check-in.
MAKEUP_OFFERS = 3


@router.command("checkin")
async def checkin_command(turn: Turn) -> None:
    await _check_in(turn)


@router.button("ci")
async def checkin_button(turn: Turn, args: tuple[str, ...]) -> None:
    await _check_in(turn)


async def _check_in(turn: Turn) -> None:
    t = turn.t
    result = await turn.mall.checkins.check_in(turn.member_id, turn.now)
    month = await turn.mall.checkins.calendar(turn.member_id, turn.now)
    lines: list[str]
    if result.already_checked_in:
        turn.notice(t("checkin.already_notice"))
        lines = [t("checkin.already", opens=t.moment(result.next_open_at))]
    else:
        turn.notice(t("checkin.done_notice", points=t.points(result.reward)))
        lines = _done_lines(t, result)
    lines += ["", calendar_text(t, month)]
    turn.show(turn.with_menu(Html("\n".join(lines)), _makeup_rows(t, month)))


def _done_lines(t: Translator, result: CheckInResult) -> list[str]:
    lines: list[str] = [
        t("checkin.done", points=t.points(result.reward)),
        t.n("checkin.streak", result.streak),
    ]
    if result.capped:
        lines.append(t("checkin.capped", points=t.points(result.capped)))
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
    lines.append(t("checkin.balance", balance=t.points(result.balance)))
    return lines


def calendar_text(t: Translator, month: MonthCalendar) -> Html:
    """The month as a grid: checked in, made up, missed, today."""
    first = month.today.replace(day=1)
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
    return Html(f"<b>{t.month(month.today)}</b>\n<pre>{grid}</pre>\n{t('checkin.legend')}")


def _makeup_rows(t: Translator, month: MonthCalendar) -> Keyboard:
    if month.makeups_left <= 0 or not month.missed:
        return ()
    offers = sorted(month.missed)[-MAKEUP_OFFERS:]
    return tuple(
        (
            Button(
                t("checkin.makeup_button", day=t.date(day), points=t.points(month.makeup_price)),
                data=callback("mk", day.strftime("%Y%m%d")),
            ),
        )
        for day in offers
    )


@router.button("mk")
async def make_up(turn: Turn, args: tuple[str, ...]) -> None:
    day = _day_arg(args)
    t = turn.t
    result = await turn.mall.checkins.make_up(turn.member_id, day, turn.now)
    month = await turn.mall.checkins.calendar(turn.member_id, turn.now)
    turn.notice(t("checkin.makeup_notice", day=t.date(result.day)))
    lines: list[str] = [
        t("checkin.makeup_done", day=t.date(result.day), points=t.points(result.price)),
        t.n("checkin.streak", result.streak),
        t("checkin.balance", balance=t.points(result.balance)),
        "",
        calendar_text(t, month),
    ]
    turn.show(turn.with_menu(Html("\n".join(lines)), _makeup_rows(t, month)))


def _day_arg(args: tuple[str, ...]) -> date:
    try:
        value = args[0]
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except (IndexError, ValueError):
        raise Stale(f"bad day {args!r}") from None
