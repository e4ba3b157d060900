"""What every admin screen is made of: the way back to the admin menu, rows of two, paging.

Admin features share these and nothing else of each other's screens, so a feature can be
read (and changed) alone; import-linter holds features to the shared helper modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from bot.callback_data import CallbackData
from bot.i18n import Html
from bot.screens import Button, Keyboard, Screen
from bot.turn import Turn

ADMIN_ROUTE = "adm"


class AdminMenu(CallbackData, route=ADMIN_ROUTE):
    """The /admin menu."""


def back_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn.t("admin.back"), data=AdminMenu().pack()),)


def admin_screen(turn: Turn, text: Html, rows: Keyboard = ()) -> Screen:
    """An admin screen whose last row leads back to the admin menu."""
    return Screen(text, (*rows, back_row(turn)))


def label(turn: Turn, keys: Mapping[str, str], name: str) -> Html:
    """The translated label of ``name`` from a table of text keys; a name without one as it is."""
    return turn.t(keys[name]) if name in keys else Html(name)


def two_a_row(buttons: Sequence[Button]) -> list[tuple[Button, ...]]:
    return [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]


def page_row(
    turn: Turn, page: int, has_more: bool, to_page: Callable[[int], CallbackData]
) -> tuple[Button, ...]:
    """Previous/Next buttons to the pages ``to_page`` makes the data of, or none."""
    nav: list[Button] = []
    if page > 0:
        nav.append(Button(turn.t("nav.previous"), data=to_page(page - 1).pack()))
    if has_more:
        nav.append(Button(turn.t("nav.next"), data=to_page(page + 1).pack()))
    return tuple(nav)
