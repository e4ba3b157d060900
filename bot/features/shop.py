"""The Mall: shelves, items page by page, what the member can get now, an item's card.

The card's Redeem leads to the confirmation and what follows it, in bot/features/redeem.py.
Every button is checked again when pressed: an item gone or changed, a flash sale over, or a
shelf emptied since the screen was shown gets a clear answer and the item as it is now.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from bot.callback_data import MAX_INT_ARG, MAX_PAGE, CallbackData, Chars, Codec, Ints, Page
from bot.content import description, shelf_name, tier_name, title
from bot.events import Press
from bot.i18n import Html, Translator, plain, shorten
from bot.router import Router
from bot.screens import CAPTION_LIMIT, Button, Keyboard, Photo, Screen
from bot.turn import Turn
from core.catalog_file import is_photo_file
from core.eligibility import ItemView
from core.errors import (
    MallError,
)
from core.shelf import Category
from core.star_refunds import stars_for as star_price

log = logging.getLogger(__name__)
router = Router()

SHELVES_PAGE = 10
ITEMS_PAGE = 6
AFFORDABLE_PAGE = 6
# The "What can I get?" list reads the whole catalog this many items at a time, at most
# AFFORDABLE_SCAN_PAGES times (core's largest page): enough for any shop one chat can browse.
AFFORDABLE_SCAN_SIZE = 50
AFFORDABLE_SCAN_PAGES = 20
# Telegram refuses photos above 10 MB; a bigger file is shown as a card without its picture.
PHOTO_MAX_BYTES = 10 * 1024 * 1024
ITEM_BUTTON_TITLE = 40

# Routes (callback data ``route:args``), short because they share 64 bytes with their args.
SHOP_ROUTE = "shop"  # the shelves: shop[:page]
SHELF_ROUTE = "sc"  # one shelf: sc:<shelf key>:<page>
ITEM_ROUTE = "si"  # an item's card: si:<item>[:<origin>]
OFFER_ROUTE = "so"  # the confirmation: so:<item>:<sale or 0>:<origin>
AFFORDABLE_ROUTE = "aff"  # what the member can get now: aff[:page]


def stars_for(turn: Turn, cash_minor: int) -> int:
    """The Stars a cash part costs (``[payments] minor_per_star``), rounded up; at least one."""
    return star_price(turn.config, cash_minor)


def item_callback(item_id: int) -> str:
    """The button data that opens an item's card (Back then leads to the shelves)."""
    return ItemCard(item_id).pack()


def shelf_key(category: str) -> str:
    """A category's name as a short, stable button argument (names can be 64 characters)."""
    return hashlib.sha256(category.encode()).hexdigest()[:10]


# --- Where a card was opened from -------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """The list an item's card was opened from, so that Back returns to it."""

    shelf: str | None = None
    affordable: bool = False
    page: int = 0

    def encode(self) -> str:
        if self.affordable:
            return f"a.{self.page}"
        if self.shelf is not None:
            return f"c.{self.shelf}.{self.page}"
        return "m"

    @classmethod
    def decode(cls, text: str) -> Origin:
        """The origin ``encode`` wrote; ``ValueError`` for anything else."""
        if text == "m":
            return cls()
        parts = text.split(".")
        if parts[0] == "a" and len(parts) == 2:
            return cls(affordable=True, page=_PAGE.decode(parts[1]))
        if parts[0] == "c" and len(parts) == 3:
            return cls(shelf=_SHELF.decode(parts[1]), page=_PAGE.decode(parts[2]))
        raise ValueError(f"bad origin {text!r}")

    def back(self, t: Translator) -> Button:
        if self.affordable:
            return Button(t("shop.back"), data=AffordablePage(self.page).pack())
        if self.shelf is not None:
            return Button(t("shop.back"), data=ShelfPage(self.shelf, self.page).pack())
        return Button(t("shop.back_to_shelves"), data=ShelvesPage().pack())


# --- The shop's buttons -----------------------------------------------------------------------

_PAGE = Ints(0, MAX_PAGE)
_SHELF = Chars("0-9a-f", 10, min_len=10)  # shelf_key
ItemId = Annotated[int, Ints(1, MAX_INT_ARG)]
"""An item's id: 0 or anything past what the database holds was not made by us."""
ShelfKey = Annotated[str, _SHELF]
CardOrigin = Annotated[Origin, Codec(Origin.encode, Origin.decode, len("c.0123456789.10000"))]


class ShelvesPage(CallbackData, route=SHOP_ROUTE):
    """A page of the shelves."""

    page: Page = 0


class ShelfPage(CallbackData, route=SHELF_ROUTE):
    """A page of one shelf, by its key (:func:`shelf_key`)."""

    shelf: ShelfKey
    page: Page


class AffordablePage(CallbackData, route=AFFORDABLE_ROUTE):
    """A page of what the member can get now."""

    page: Page = 0


class ItemCard(CallbackData, route=ITEM_ROUTE):
    """An item's card, and the list it was opened from (for Back)."""

    item_id: ItemId
    origin: CardOrigin = Origin()


class OfferConfirmation(CallbackData, route=OFFER_ROUTE):
    """Redeem pressed on a card: the confirmation, for the sale the card showed (0: none)."""

    item_id: ItemId
    sale_id: Annotated[int, Ints(0, MAX_INT_ARG)]
    origin: CardOrigin = Origin()


# --- Words for numbers, money and time --------------------------------------------------------


def price_text(turn: Turn, view: ItemView) -> Html:
    """What the item costs now: points, a cash part in Stars, the regular price under a sale."""
    t = turn.t
    if view.cash_minor:
        cash = t(
            "shop.price.cash",
            cash=t.money(view.cash_minor, turn.config.mall.currency),
            stars=t.number(stars_for(turn, view.cash_minor)),
        )
        if not view.points:
            return cash
        price = t("shop.price.points_and_cash", points=t.points(view.points), cash=cash)
    else:
        price = t.points(view.points)
    if view.sale is not None and view.points != view.price_points:
        return t("shop.price.sale", price=price, regular=t.points(view.price_points))
    return price


def blocked_line(t: Translator, view: ItemView, balance: int) -> Html | None:
    """Why the member cannot redeem the item now, in a sentence; None when they can."""
    reason = view.blocked_reason
    if reason is None:
        return None
    if reason == "not_available":
        return t("shop.blocked.not_available")
    if reason == "frozen":
        return t("shop.blocked.frozen")
    if reason == "tier_too_low":
        return t("shop.blocked.tier_too_low", tier=view.min_tier or "")
    if reason == "sold_out":
        return t("shop.blocked.sold_out")
    if reason == "limit_reached":
        return t("shop.blocked.limit_reached")
    if reason == "insufficient_points":
        return t("shop.blocked.insufficient_points", points=t.points(view.points - balance))
    return t("shop.blocked.other")


def refusal(t: Translator, exc: MallError) -> Html:
    """A refusal from core in words (the texts shared by every feature, ``error.<code>``)."""
    key = f"error.{exc.code}"
    try:
        text = t(key, **exc.details)
    except (KeyError, IndexError):
        text = Html(key)
    return t("error.refused", code=exc.code) if text == key else text


# --- The shelves ------------------------------------------------------------------------------


@router.command("mall")
async def mall_command(turn: Turn) -> None:
    await shelves(turn, 0)


@router.button(ShelvesPage)
async def shelves_button(turn: Turn, data: ShelvesPage) -> None:
    await shelves(turn, data.page)


async def member_balance(turn: Turn) -> int:
    return (await turn.mall.statements.balance(turn.member_id)).balance


def _show_list(turn: Turn, screen: Screen) -> None:
    """Show a text screen; from a card with a photo, as a new message under it.

    Telegram cannot turn a photo into a text message: editing would put a list into the
    picture's caption.
    """
    action = turn.action
    if isinstance(action, Press) and action.has_media:
        turn.send(screen)
    else:
        turn.show(screen)


def _nav(t: Translator, previous: str | None, following: str | None) -> Keyboard:
    row = []
    if previous is not None:
        row.append(Button(t("nav.previous"), data=previous))
    if following is not None:
        row.append(Button(t("nav.next"), data=following))
    return (tuple(row),) if row else ()


async def shelves(turn: Turn, page: int) -> None:
    t = turn.t
    categories = await turn.mall.catalog.categories(turn.now)
    pages = max(1, math.ceil(len(categories) / SHELVES_PAGE))
    page = min(page, pages - 1)
    shown = categories[page * SHELVES_PAGE : (page + 1) * SHELVES_PAGE]
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
    rows += _nav(
        t,
        ShelvesPage(page - 1).pack() if page > 0 else None,
        ShelvesPage(page + 1).pack() if page + 1 < min(pages, MAX_PAGE + 1) else None,
    )
    if categories:
        rows += ((Button(t("balance.affordable"), data=AffordablePage().pack()),),)
    _show_list(turn, turn.with_menu(Html("\n".join(lines)), rows))


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
    rows += _nav(
        t,
        ShelfPage(key, page - 1).pack() if page > 0 else None,
        ShelfPage(key, page + 1).pack() if found.has_more and page < MAX_PAGE else None,
    )
    rows += ((Button(t("shop.back_to_shelves"), data=ShelvesPage().pack()),),)
    text = _list_text(turn, header, found.items, balance, page * ITEMS_PAGE)
    _show_list(turn, turn.with_menu(text, rows))


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
    pages = max(1, math.ceil(len(found) / AFFORDABLE_PAGE))
    page = min(page, pages - 1)
    shown = tuple(found[page * AFFORDABLE_PAGE : (page + 1) * AFFORDABLE_PAGE])
    back = (
        (
            Button(t("shop.mall_button"), data=ShelvesPage().pack()),
            Button(t("balance.back"), data="bal"),  # BalanceScreen (balance imports this module)
        ),
    )
    if not shown:
        text = t("shop.affordable.none", balance=t.points(balance))
        _show_list(turn, turn.with_menu(text, back))
        return
    header = [t("shop.affordable.title", balance=t.points(balance), page=t.number(page + 1))]
    rows = _item_rows(t, shown, Origin(affordable=True, page=page), page * AFFORDABLE_PAGE)
    rows += _nav(
        t,
        AffordablePage(page - 1).pack() if page > 0 else None,
        AffordablePage(page + 1).pack() if page + 1 < min(pages, MAX_PAGE + 1) else None,
    )
    text = _list_text(turn, header, shown, balance, page * AFFORDABLE_PAGE)
    _show_list(turn, turn.with_menu(text, (*rows, *back)))


# --- An item's card ---------------------------------------------------------------------------


@router.button(ItemCard)
async def item_button(turn: Turn, data: ItemCard) -> None:
    await show_card(turn, data.item_id, data.origin)


async def show_card(
    turn: Turn, item_id: int, origin: Origin = Origin(), intro: Html | None = None
) -> None:
    """The item as the member sees it now; ``intro`` says first why it is shown again."""
    view = await turn.mall.catalog.item_view(turn.member_id, item_id, turn.now)
    balance = await member_balance(turn)
    photo = await _photo(view.photo)
    text = _card_text(turn, view, balance, intro, CAPTION_LIMIT if photo else None)
    t = turn.t
    rows: list[tuple[Button, ...]] = []
    if view.blocked_reason is None:
        sale = view.sale.sale_id if view.sale is not None else 0
        data = OfferConfirmation(view.item_id, sale, origin).pack()
        rows.append(
            (Button(plain(t("shop.redeem_button", price=price_text(turn, view))), data=data),)
        )
    rows.append((origin.back(t),))
    screen = turn.with_menu(text, tuple(rows))
    if photo is not None:
        screen = Screen(screen.text, screen.buttons, photo=photo)
    turn.show(screen)


async def _photo(ref: str | None) -> Photo | None:
    """The item's picture: a file on this machine is uploaded, a URL or file id passed on."""
    if not ref:
        return None
    if not is_photo_file(ref):
        return Photo(ref=ref)
    path = Path(ref)
    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        log.warning("item picture %s cannot be read: %s", ref, error)
        return None
    if not content or len(content) > PHOTO_MAX_BYTES:
        log.warning("item picture %s is empty or over 10 MB", ref)
        return None
    return Photo(content=content, filename=path.name)


def _card_text(
    turn: Turn, view: ItemView, balance: int, intro: Html | None, limit: int | None
) -> Html:
    t = turn.t
    head: list[str] = [intro, ""] if intro else []
    head.append(t("shop.card.title", title=title(t, view)))
    facts: list[str] = [t("shop.card.price", price=price_text(turn, view))]
    if view.sale is not None:
        facts.append(
            t(
                "shop.card.sale",
                left=t.duration(view.sale.seconds_left),
                at=t.moment(view.sale.ends_at),
            )
        )
    if view.stock_left is not None:
        facts.append(t.n("shop.card.stock", view.stock_left))
    if view.limit_count is not None:
        facts.append(_limit_line(t, view))
    if view.min_tier is not None:
        facts.append(t("shop.card.tier", tier=tier_name(t, turn.config.tiers, view.min_tier)))
    if view.ends_at is not None:
        facts.append(t("shop.card.until", at=t.moment(view.ends_at)))
    facts.append(_kind_line(t, view))
    if view.needs_approval:
        facts.append(t("shop.card.approval"))
    facts.append(t("shop.balance", balance=t.points(balance)))
    facts.append(blocked_line(t, view, balance) or t("shop.card.ok"))
    rest = "\n".join(["", *facts])
    budget = (limit or 3500) - len("\n".join(head)) - len(rest) - 2
    about = _shortened(description(t, view).strip(), budget)
    body = [*head, about] if about else head
    return Html("\n".join(body) + rest)


def _shortened(text: str, budget: int) -> str:
    """The description escaped for HTML, cut to fit ``budget`` characters."""
    if budget <= 1 or not text:
        return ""
    escaped = html.escape(text, quote=False)
    while len(escaped) > budget:
        text = text[: max(0, len(text) - (len(escaped) - budget) - 1)]
        escaped = html.escape(text, quote=False) + "…"
    return escaped


def _limit_line(t: Translator, view: ItemView) -> Html:
    count, used = t.number(view.limit_count or 0), t.number(view.used_in_period)
    if view.limit_period == "day":
        return t("shop.card.limit.day", count=count, used=used)
    if view.limit_period == "week":
        return t("shop.card.limit.week", count=count, used=used)
    if view.limit_period == "month":
        return t("shop.card.limit.month", count=count, used=used)
    return t("shop.card.limit.ever", count=count, used=used)


def _kind_line(t: Translator, view: ItemView) -> Html:
    if view.kind == "coupon":
        return t("shop.kind.coupon")
    if view.kind == "physical":
        return t("shop.kind.physical")
    if view.kind == "service":
        return t("shop.kind.service")
    return t("shop.kind.virtual")


async def refused_card(turn: Turn, item_id: int, why: Html, origin: Origin = Origin()) -> None:
    """Answer a press (or a typed address) that the item no longer allows: why, then the card."""
    if turn.pressed:
        turn.notice(why, alert=True)
    await show_card(turn, item_id, origin, intro=why)
