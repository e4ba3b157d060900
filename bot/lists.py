"""Lists a member pages through: which page, what is on it, its Previous / Next row, and how
the list takes the place of what was pressed.

The shelves, a shelf, what the member can get, their redemptions, the sales, the boxes and
their friends all page the same way, so they do it here: a page number from a button is taken
against the list as it is now (it may have shrunk since the button was shown), Next is offered
while more follows and the next page still fits a button (:data:`MAX_PAGE`), and a list opened
from a message with a photo (an item's card, the invite's QR code) comes as a new message,
since Telegram cannot turn a photo into text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.callback_data import MAX_PAGE, CallbackData
from bot.events import Press
from bot.i18n import Translator
from bot.screens import Button, Keyboard, Screen
from bot.turn import Turn

T = TypeVar("T")


def page_of(items: Sequence[T], page: int, size: int) -> tuple[int, Sequence[T], bool]:
    """The page to show (``page``, or the last one when the list got shorter), its items, and
    whether more follow it."""
    last = max(0, (len(items) - 1) // size)
    page = min(page, last)
    return page, items[page * size : (page + 1) * size], page < last


def nav_rows(t: Translator, page: int, more: bool, to: Callable[[int], CallbackData]) -> Keyboard:
    """Previous (past the first page) and Next (while ``more`` follows), each the button ``to``
    makes for its page; no row when there is neither."""
    row: list[Button] = []
    if page > 0:
        row.append(Button(t("nav.previous"), data=to(page - 1).pack()))
    if more and page < MAX_PAGE:
        row.append(Button(t("nav.next"), data=to(page + 1).pack()))
    return (tuple(row),) if row else ()


def show_list(turn: Turn, screen: Screen) -> None:
    """Show a list in place of what was pressed; pressed on a photo, as a new message under it
    (editing would put the list into the picture's caption)."""
    action = turn.action
    if isinstance(action, Press) and action.has_media:
        turn.send(screen)
    else:
        turn.show(screen)
