"""Admins keep member days from the chat: list them, add one with a form, pause, resume and
remove one. No restart: check-ins and shop orders read the rules when they are paid.

Every change is audited by core in its own transaction (``member_day_add``, ``_pause``,
``_resume``, ``_remove``). The catalog file defines member days too, by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated

from babel.dates import get_day_names

from bot.callback_data import CallbackData, Id, Ints
from bot.content import SPOKEN
from bot.features.admin_forms import Choice, Draft, Form, FormPress, Invalid, Step, text_answer
from bot.features.admin_screens import admin_screen
from bot.features.member_days import day_name, rule_text
from bot.i18n import DEFAULT_LANGUAGE, Html, plain
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import InvalidInput, UnknownMemberDay
from core.growth.member_days import MemberDaySpec, MemberDayView, to_percent
from core.membership.pending_inputs import JSON

router = Router()
LIST_ROUTE = "amd"
NEW_ROUTE = "amdn"
FORM_ROUTE = "amdf"
FORM_KIND = "admin.member_days.form"
PAUSE_ROUTE = "amdp"
REMOVE_ROUTE = "amdr"
REMOVE_CONFIRM_ROUTE = "amdy"


class MemberDayList(CallbackData, route=LIST_ROUTE):
    """Every member day, for the admin."""


class NewMemberDay(CallbackData, route=NEW_ROUTE):
    """The form of a new member day."""


class MemberDayForm(FormPress, route=FORM_ROUTE):
    """A button of the member day form."""


class PauseMemberDay(CallbackData, route=PAUSE_ROUTE):
    """Pause (``active`` 0) or resume (1) a member day."""

    rule_id: Id
    active: Annotated[int, Ints(0, 1)]


class RemoveMemberDay(CallbackData, route=REMOVE_ROUTE):
    """Remove a member day? (asks first)."""

    rule_id: Id


class ConfirmRemoveMemberDay(CallbackData, route=REMOVE_CONFIRM_ROUTE):
    """Yes, remove it."""

    rule_id: Id


OTHER_LANGUAGES = tuple(language for language in SPOKEN if language != DEFAULT_LANGUAGE)
EXAMPLE_DATE = "2026-12-31"


# --- The list ----------------------------------------------------------------------------------


def _line(turn: Turn, day: MemberDayView) -> Html:
    t = turn.t
    key = "admin.member_days.line.shop" if day.applies_to == "shop" else "admin.member_days.line"
    text = t(
        key,
        id=day.rule_id,
        name=day_name(t, day),
        multiplier=day.multiplier,
        when=rule_text(t, day),
    )
    extra: list[str] = []
    if day.starts_on is not None:
        extra.append(t("admin.member_days.from", day=day.starts_on.isoformat()))
    if day.ends_on is not None:
        extra.append(t("admin.member_days.until", day=day.ends_on.isoformat()))
    if not day.active:
        extra.append(t("admin.member_days.paused"))
    return Html(" ".join([text, *extra]))


async def _list(turn: Turn, intro: Html | None = None) -> Screen:
    t = turn.t
    days = await turn.mall.member_days.list()
    lines = [*([intro, ""] if intro else []), t("admin.member_days.title")]
    if not days:
        lines.append(t("admin.member_days.empty"))
    lines += [_line(turn, day) for day in days]
    rows: list[tuple[Button, ...]] = []
    for day in days:
        toggle = "admin.member_days.resume" if not day.active else "admin.member_days.pause"
        rows.append(
            (
                Button(
                    plain(t(toggle, id=day.rule_id)),
                    data=PauseMemberDay(day.rule_id, 0 if day.active else 1).pack(),
                ),
                Button(
                    plain(t("admin.member_days.remove", id=day.rule_id)),
                    data=RemoveMemberDay(day.rule_id).pack(),
                ),
            )
        )
    rows.append((Button(plain(t("admin.member_days.new")), data=NewMemberDay().pack()),))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


@router.button(MemberDayList, admin=True)
async def list_button(turn: Turn, pressed: MemberDayList) -> None:
    turn.show(await _list(turn))


async def _get(turn: Turn, rule_id: int) -> MemberDayView:
    try:
        return await turn.mall.member_days.get(rule_id)
    except UnknownMemberDay:
        raise Stale(f"no member day {rule_id}") from None


@router.button(PauseMemberDay, admin=True)
async def pause_button(turn: Turn, pressed: PauseMemberDay) -> None:
    day = await _get(turn, pressed.rule_id)
    active = pressed.active == 1
    if day.active != active:
        day = await turn.mall.member_days.set_active(
            turn.sender.user_id, day.rule_id, active, turn.now
        )
    key = "admin.member_days.resumed" if active else "admin.member_days.paused_notice"
    turn.notice(turn.t(key, name=day.name))
    turn.show(await _list(turn))


@router.button(RemoveMemberDay, admin=True)
async def remove_button(turn: Turn, pressed: RemoveMemberDay) -> None:
    t = turn.t
    day = await _get(turn, pressed.rule_id)
    rows = (
        (
            Button(
                plain(t("admin.member_days.remove_yes")),
                data=ConfirmRemoveMemberDay(day.rule_id).pack(),
            ),
            Button(plain(t("admin.member_days.back")), data=MemberDayList().pack()),
        ),
    )
    text = t("admin.member_days.remove_confirm", line=_line(turn, day))
    turn.show(admin_screen(turn, text, rows))


@router.button(ConfirmRemoveMemberDay, admin=True)
async def remove_confirmed(turn: Turn, pressed: ConfirmRemoveMemberDay) -> None:
    rule_id = pressed.rule_id
    try:
        removed = await turn.mall.member_days.remove(turn.sender.user_id, rule_id, turn.now)
    except UnknownMemberDay:  # a second tap: removed already
        turn.show(await _list(turn))
        return
    turn.show(await _list(turn, turn.t("admin.member_days.removed", name=removed.name)))


# --- Adding one --------------------------------------------------------------------------------


async def _name(turn: Turn, text: str, draft: Draft) -> JSON:
    """``Name / 中文名``: the default name, then the names in the bot's other languages."""
    text = text_answer(turn, text, max_length=200)
    parts = [part.strip() for part in text.split("/")]
    if not parts[0] or len(parts) > 1 + len(OTHER_LANGUAGES) or any(len(p) > 64 for p in parts):
        raise Invalid(turn.t("admin.member_days.bad_name"))
    return list[JSON](parts)


async def _applies_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    t = turn.t
    return [
        Choice(plain(t("admin.member_days.applies.checkin")), "checkin", "checkin"),
        Choice(plain(t("admin.member_days.applies.shop")), "shop", "shop"),
    ]


async def _when(turn: Turn, text: str, draft: Draft) -> JSON:
    """A typed day of the month (1-31); weekdays are its buttons."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 31:
        raise Invalid(turn.t("admin.member_days.bad_day", text=text[:20]))
    return f"d{int(text)}"


async def _weekday_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    names = get_day_names("wide", locale=turn.t.locale)
    return [Choice(names[day], f"w{day}", f"w{day}") for day in range(7)]


async def _multiplier(turn: Turn, text: str, draft: Draft) -> JSON:
    try:
        percent = to_percent(text.removeprefix("×").removeprefix("x").strip())
    except InvalidInput:
        raise Invalid(turn.t("admin.member_days.bad_multiplier", text=text[:20])) from None
    return percent


async def _multiplier_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    return [Choice(f"×{label}", str(percent), percent) for label, percent in (("2", 200),)]


def _date(turn: Turn, text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise Invalid(
            turn.t("admin.member_days.bad_date", text=text[:20], example=EXAMPLE_DATE)
        ) from None


async def _from(turn: Turn, text: str, draft: Draft) -> JSON:
    return _date(turn, text)


async def _until(turn: Turn, text: str, draft: Draft) -> JSON:
    until = _date(turn, text)
    starts = draft.answer("starts")
    if isinstance(starts, str) and until < starts:
        raise Invalid(turn.t("admin.member_days.until_before_from", day=starts))
    return until


def _spec(draft: Draft) -> MemberDaySpec:
    names = [str(n) for n in draft.values["name"]] if isinstance(draft.values["name"], list) else []
    when = str(draft.values["when"])
    starts, ends = draft.values.get("starts"), draft.values.get("ends")
    return MemberDaySpec(
        name=names[0] if names else "",
        names={lang: text for lang, text in zip(OTHER_LANGUAGES, names[1:], strict=False) if text},
        applies_to=str(draft.values["applies"]),
        multiplier=Decimal(int(str(draft.values["multiplier"]))) / 100,
        day_of_month=int(when[1:]) if when.startswith("d") else None,
        weekday=int(when[1:]) if when.startswith("w") else None,
        starts_on=date.fromisoformat(starts) if isinstance(starts, str) else None,
        ends_on=date.fromisoformat(ends) if isinstance(ends, str) else None,
    )


async def _summary(turn: Turn, draft: Draft) -> Html:
    spec = _spec(draft)
    view = MemberDayView(
        0,
        spec.name,
        dict(spec.names),
        spec.day_of_month,
        spec.weekday,
        spec.applies_to,
        to_percent(spec.multiplier),
        spec.starts_on,
        spec.ends_on,
        True,
    )
    return turn.t("admin.member_days.summary", line=_line(turn, view))


async def _save(turn: Turn, draft: Draft) -> None:
    added = await turn.mall.member_days.add(turn.sender.user_id, _spec(draft), turn.now)
    turn.show(await _list(turn, turn.t("admin.member_days.added", name=added.name)))


def _home(turn: Turn, draft: Draft) -> Button:
    return Button(plain(turn.t("admin.member_days.back")), data=MemberDayList().pack())


FORM = Form(
    router,
    name="member_day",
    press=MemberDayForm,
    kind=FORM_KIND,
    steps=(
        Step(
            "name",
            lambda turn, draft: turn.t("admin.member_days.ask.name"),
            parse=_name,
            label=lambda turn: turn.t("admin.member_days.field.name"),
        ),
        Step(
            "applies",
            lambda turn, draft: turn.t("admin.member_days.ask.applies"),
            choices=_applies_choices,
            label=lambda turn: turn.t("admin.member_days.field.applies"),
        ),
        Step(
            "when",
            lambda turn, draft: turn.t("admin.member_days.ask.when"),
            parse=_when,
            choices=_weekday_choices,
            label=lambda turn: turn.t("admin.member_days.field.when"),
        ),
        Step(
            "multiplier",
            lambda turn, draft: turn.t("admin.member_days.ask.multiplier"),
            parse=_multiplier,
            choices=_multiplier_choices,
            label=lambda turn: turn.t("admin.member_days.field.multiplier"),
        ),
        Step(
            "starts",
            lambda turn, draft: turn.t("admin.member_days.ask.from", example=EXAMPLE_DATE),
            parse=_from,
            skip=None,
            label=lambda turn: turn.t("admin.member_days.field.from"),
        ),
        Step(
            "ends",
            lambda turn, draft: turn.t("admin.member_days.ask.until", example=EXAMPLE_DATE),
            parse=_until,
            skip=None,
            label=lambda turn: turn.t("admin.member_days.field.until"),
        ),
    ),
    summary=_summary,
    save=_save,
    home=_home,
)


@router.button(NewMemberDay, admin=True)
async def new_button(turn: Turn, pressed: NewMemberDay) -> None:
    await FORM.start(turn)
