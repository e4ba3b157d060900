"""The shelves: the Mall's first screen, its categories page by page, two buttons a row.

The shop (bot/features/shop.py) shows it for ``/mall`` and its buttons; the Redeem press's
address question (bot/features/redeem.py) returns to it when there is nothing left to cancel.
A shelf's button carries its category's :func:`shelf_key`, which the shop reads back.
"""

from __future__ import annotations

import hashlib

from bot.content import shelf_name
from bot.features.item_card import AffordablePage, ShelfPage, ShelvesPage, member_balance
from bot.i18n import Html
from bot.lists import nav_rows, page_of, show_list
from bot.screens import Button, Keyboard
from bot.turn import Turn

SHELVES_PAGE = 10


def shelf_key(category: str) -> str:
    """A category's name as a short, stable button argument (names can be 64 characters)."""
    return hashlib.sha256(category.encode()).hexdigest()[:10]


async def shelves(turn: Turn, page: int) -> None:
    t = turn.t
    categories = await turn.mall.catalog.categories(turn.now)
    page, shown, more = page_of(categories, page, SHELVES_PAGE)
    lines: list[str] = [
        t("shop.title", mall=turn.config.mall.name),
        t("shop.balance", balance=t.points(await member_balance(turn))),
        "",
        t("shop.pick") if categories else t("shop.empty"),
    ]
    buttons = [
        Button(
            f"{shelf_name(t, category)} ({category.items})",
            data=ShelfPage(shelf_key(category.name), 0).pack(),
        )
        for category in shown
    ]
    rows: Keyboard = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    rows += nav_rows(t, page, more, ShelvesPage)
    if categories:
        rows += ((Button(t("balance.affordable"), data=AffordablePage().pack()),),)
    show_list(turn, turn.with_menu(Html("\n".join(lines)), rows))
