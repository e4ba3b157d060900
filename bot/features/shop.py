"""The Mall: shelves, items page by page, what the member can get now, an item's card.

The card itself, its price and what blocks it are in bot/features/item_card.py, shared with
the confirmation and the Redeem press (bot/features/redeem.py); the shelves' screen is in
bot/features/shelves.py, which a cancelled address question returns to. Every button is
checked again when pressed: an item gone or changed, a flash sale over, or a shelf emptied since
the screen was shown gets a clear answer and the item as it is now.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.content import shelf_name, title
from bot.features.item_card import (
    AffordablePage,
    ItemCard,
    Origin,
    ShelfPage,
    ShelvesPage,
    blocked_line,
    member_balance,
    price_text,
    show_card,
)
from bot.features.member_links import BalanceScreen
from bot.features.shelves import shelf_key, shelves
from bot.i18n import Html, Translator, shorten
from bot.lists import nav_rows, page_of, show_list
from bot.router import Router
from bot.screens import Button, Keyboard
from bot.turn import Turn
from core.rewards.eligibility import ItemView
from core.rewards.shelf import Category

router = Router()

ITEMS_PAGE = 6
AFFORDABLE_PAGE = 6
# The "What can I get?" list reads the whole catalog this many items at a time, at most
# AFFORDABLE_SCAN_PAGES times (core's largest page): enough for any shop one chat can browse.
AFFORDABLE_SCAN_SIZE = 50
AFFORDABLE_SCAN_PAGES = 20
ITEM_BUTTON_TITLE = 40


def item_callback(item_id: int) -> str:
    """The button data that opens an item's card (Back then leads to the shelves)."""
    return ItemCard(item_id).pack()


# --- The shelves ------------------------------------------------------------------------------


router.pages("mall", ShelvesPage)(shelves)


def _find_shelf(categories: tuple[Category, ...], key: str) -> Category | None:
    return next((c for c in categories if shelf_key(c.name) == key), None)


@router.button(ShelfPage)
async def shelf_button(turn: Turn, data: ShelfPage) -> None:
    await _shelf(turn, data.shelf, data.page)


async def _shelf(turn: Turn, key: str, page: int) -> None:
    t = turn.t
    shelf = _find_shelf(await turn.mall.catalog.categories(turn.now), key)
    if shelf is None:
        turn.notice(t("shop.shelf_gone"), alert=True)
        await shelves(turn, 0)
        return
    found = await turn.mall.catalog.list_items(
        turn.member_id, turn.now, category=shelf.name, page=page, page_size=ITEMS_PAGE
    )
    if not found.items and page > 0:  # the shelf got shorter since the page was shown
        page = 0
        found = await turn.mall.catalog.list_items(
            turn.member_id, turn.now, category=shelf.name, page=0, page_size=ITEMS_PAGE
        )
    balance = await member_balance(turn)
    origin = Origin(shelf=key, page=page)
    header = [
        t("shop.shelf.title", category=shelf_name(t, shelf), page=t.number(page + 1)),
        t("shop.balance", balance=t.points(balance)),
    ]
    rows = _item_rows(t, found.items, origin, page * ITEMS_PAGE)
    rows += nav_rows(t, page, found.has_more, lambda other: ShelfPage(key, other))
    rows += ((Button(t("shop.back_to_shelves"), data=ShelvesPage().pack()),),)
    text = _list_text(turn, header, found.items, balance, page * ITEMS_PAGE)
    show_list(turn, turn.with_menu(text, rows))


def _item_rows(t: Translator, items: tuple[ItemView, ...], origin: Origin, first: int) -> Keyboard:
    rows = []
    for number, view in enumerate(items, start=first + 1):
        shown = shorten(title(t, view), ITEM_BUTTON_TITLE)
        data = ItemCard(view.item_id, origin).pack()
        rows.append((Button(f"{number}. {shown}", data=data),))
    return tuple(rows)


def _list_text(
    turn: Turn, header: Sequence[str], items: tuple[ItemView, ...], balance: int, first: int
) -> Html:
    t = turn.t
    lines = list(header)
    for number, view in enumerate(items, start=first + 1):
        facts = [price_text(turn, view)]
        if view.stock_left is not None and view.stock_left > 0:
            facts.append(t.n("shop.list.left", view.stock_left))
        if view.sale is not None:
            facts.append(t("shop.list.sale_ends", left=t.duration(view.sale.seconds_left)))
        lines += ["", t("shop.list.item", number=t.number(number), title=title(t, view))]
        lines.append("   " + " · ".join(facts))
        reason = blocked_line(t, view, balance)
        if reason is not None:
            lines.append(f"   {reason}")
    return Html("\n".join(lines))


# --- What can I get? --------------------------------------------------------------------------


@router.button(AffordablePage)
async def affordable_button(turn: Turn, data: AffordablePage) -> None:
    await _affordable(turn, data.page)


async def _affordable(turn: Turn, page: int) -> None:
    """Items the member may redeem right now (nothing blocks them), across every shelf."""
    t = turn.t
    found: list[ItemView] = []
    for scan in range(AFFORDABLE_SCAN_PAGES):
        batch = await turn.mall.catalog.list_items(
            turn.member_id, turn.now, page=scan, page_size=AFFORDABLE_SCAN_SIZE
        )
        found += [view for view in batch.items if view.blocked_reason is None]
        if not batch.has_more:
            break
    balance = await member_balance(turn)
    page, listed, more = page_of(found, page, AFFORDABLE_PAGE)
    shown = tuple(listed)
    back = (
        (
            Button(t("shop.mall_button"), data=ShelvesPage().pack()),
            Button(t("balance.back"), data=BalanceScreen().pack()),
        ),
    )
    if not shown:
        text = t("shop.affordable.none", balance=t.points(balance))
        show_list(turn, turn.with_menu(text, back))
        return
    header = [t("shop.affordable.title", balance=t.points(balance), page=t.number(page + 1))]
    rows = _item_rows(t, shown, Origin(affordable=True, page=page), page * AFFORDABLE_PAGE)
    rows += nav_rows(t, page, more, AffordablePage)
    text = _list_text(turn, header, shown, balance, page * AFFORDABLE_PAGE)
    show_list(turn, turn.with_menu(text, (*rows, *back)))


# --- An item's card ---------------------------------------------------------------------------


@router.button(ItemCard)
async def item_button(turn: Turn, data: ItemCard) -> None:
    await show_card(turn, data.item_id, data.origin)
