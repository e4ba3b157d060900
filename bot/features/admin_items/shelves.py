"""Shelves' names in other languages: the list of shelves and a form per shelf."""

from __future__ import annotations

from bot.features.admin_forms import (
    Draft,
    Form,
    Invalid,
    Label,
    Question,
    Step,
    text_answer,
)
from bot.features.admin_items.buttons import AdminItems, AdminShelf, AdminShelves, ShelfForm
from bot.features.admin_items.fields import OTHER_LANGUAGES, in_language
from bot.features.admin_screens import admin_screen
from bot.i18n import LANGUAGE_NAMES, Html, plain, shorten
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import InvalidInput
from core.membership.pending_inputs import JSON

router = Router()
SHELF_FORM_KIND = "admin.shelf.form"
SHELF_NAME_MAX = 64


# --- Shelves: their names in other languages ----------------------------------------------------


@router.button(AdminShelves, admin=True)
async def shelves_button(turn: Turn, pressed: AdminShelves) -> None:
    turn.show(await _shelves_screen(turn))


async def _shelves_screen(turn: Turn, intro: Html | None = None) -> Screen:
    """Every shelf with its names in other languages; a shelf's button asks them again (a
    shelf is named by its place in this list: callback data is too short for a name)."""
    t = turn.t
    shelves = await turn.mall.catalog.shelves()
    lines = [*([intro, ""] if intro else []), t("admin.shelves.title")]
    if not shelves:
        lines.append(t("admin.shelves.none"))
    rows: list[tuple[Button, ...]] = []
    for index, shelf in enumerate(shelves):
        names = [shelf.names[language] for language in OTHER_LANGUAGES if shelf.names.get(language)]
        shown = " · ".join([shelf.name, *names])
        rows.append((Button(shorten(shown, 60), data=AdminShelf(index).pack()),))
    rows.append((Button(plain(t("admin.shelves.back")), data=AdminItems().pack()),))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


@router.button(AdminShelf, admin=True)
async def shelf_button(turn: Turn, pressed: AdminShelf) -> None:
    index = pressed.index
    shelves = await turn.mall.catalog.shelves()
    if not 0 <= index < len(shelves):
        raise Stale(f"no shelf {index}")
    shelf = shelves[index]
    values: dict[str, JSON] = {
        in_language("name", language): shelf.names.get(language, "") for language in OTHER_LANGUAGES
    }
    await SHELF_FORM.start(turn, None, values, {"shelf": shelf.name})


def _shelf_of(draft: Draft) -> str:
    name = draft.context.get("shelf")
    if not isinstance(name, str):
        raise Stale("shelf form without a shelf")
    return name


def _ask_shelf_in(language: str) -> Question:
    def question(turn: Turn, draft: Draft) -> Html:
        t = turn.t
        current = draft.values.get(in_language("name", language))
        now = (
            t("admin.shelves.now", name=current)
            if isinstance(current, str) and current
            else t("admin.shelves.now_none")
        )
        return t(
            "admin.shelves.ask",
            shelf=_shelf_of(draft),
            language=LANGUAGE_NAMES[language],
            current=now,
        )

    return question


def _shelf_label(language: str) -> Label:
    return lambda turn: turn.t("admin.shelves.field", language=LANGUAGE_NAMES[language])


async def _shelf_name_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=SHELF_NAME_MAX)


async def _shelf_summary(turn: Turn, draft: Draft) -> Html | None:
    """Saved at once: each name is one answer."""
    return None


async def _save_shelf(turn: Turn, draft: Draft) -> None:
    name = _shelf_of(draft)
    names = {
        language: value
        for language in OTHER_LANGUAGES
        if isinstance(value := draft.values.get(in_language("name", language)), str) and value
    }
    try:
        await turn.mall.catalog.set_shelf_names(name, names, turn.now, actor_id=turn.member_id)
    except InvalidInput as refused:
        raise Invalid(turn.t("admin.items.not_saved", problems=str(refused))) from None
    turn.show(await _shelves_screen(turn, turn.t("admin.shelves.saved", shelf=name)))


def _shelf_home(turn: Turn, draft: Draft) -> Button:
    return Button(plain(turn.t("admin.shelves.back_to_shelves")), data=AdminShelves().pack())


SHELF_FORM = Form(
    router,
    name="shelf",
    press=ShelfForm,
    kind=SHELF_FORM_KIND,
    steps=tuple(
        Step(
            in_language("name", language),
            _ask_shelf_in(language),
            parse=_shelf_name_answer,
            skip="",
            skip_label=lambda turn: turn.t("admin.shelves.clear"),
            label=_shelf_label(language),
        )
        for language in OTHER_LANGUAGES
    ),
    summary=_shelf_summary,
    save=_save_shelf,
    home=_shelf_home,
)
