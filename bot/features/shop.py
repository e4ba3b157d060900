"""The Mall: shelves, items page by page, an item's card, and redeeming it.

Redeeming takes two presses: the card's Redeem asks core for an offer and shows the
confirmation (price, balance after, what happens next) with a Redeem button carrying the
offer's confirm token (``rd:<token>``, also used by the flash sales). Core redeems once per
token, so a double tap shows the same result twice and charges once. What follows depends on
the item:

- physical goods ask for the delivery address first (core needs it to redeem), with a Cancel
  button; the typed address redeems;
- an item above its approval threshold waits for an admin, the points held, cancellable;
- an item with a cash part waits for a payment in Telegram Stars: an invoice whose payload is
  ``pay:<redemption id>``; the payment completes the redemption, a cancel gives the held points
  back, and core's timeout job releases them when nobody pays.

Every button is checked again when pressed: an item gone or changed, a flash sale over, or a
shelf emptied since the screen was shown gets a clear answer and the item as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.events import Paid, PreCheckout, Press
from bot.i18n import Html, Translator, plain
from bot.router import Router, Stale, callback, int_arg
from bot.screens import CAPTION_LIMIT, Button, CheckoutAnswer, Invoice, Keyboard, Photo, Screen
from bot.turn import Turn
from core.catalog import Category, ItemView
from core.catalog_file import is_photo_file
from core.errors import (
    InsufficientPoints,
    InvalidInput,
    InvalidState,
    LimitReached,
    MallError,
    NotAvailable,
    SoldOut,
    TierTooLow,
    UnknownSale,
)
from core.redemptions import OfferChanged, RedemptionResult, RedemptionView

log = logging.getLogger(__name__)
router = Router()

SHELVES_PAGE = 10
ITEMS_PAGE = 6
AFFORDABLE_PAGE = 6
# The "What can I get?" list reads the whole catalog this many items at a time, at most
# AFFORDABLE_SCAN_PAGES times (core's largest page): enough for any shop one chat can browse.
AFFORDABLE_SCAN_SIZE = 50
AFFORDABLE_SCAN_PAGES = 20
# How long a typed delivery address is waited for.
ADDRESS_TTL = timedelta(minutes=15)
ADDRESS_MAX = 500
# Telegram's limits on an invoice's title and description.
INVOICE_TITLE_MAX = 32
INVOICE_DESCRIPTION_MAX = 255
# Telegram refuses photos above 10 MB; a bigger file is shown as a card without its picture.
PHOTO_MAX_BYTES = 10 * 1024 * 1024
# The cash part of a points + cash item is paid in Telegram Stars: one Star per 10 minor units
# (0.10 of the mall's currency; Telegram sells Stars at roughly that price in CNY), rounded up.
# A mall in another currency needs its own rate: this belongs in the config ([payments]).
MINOR_PER_STAR = 10
STARS = "XTR"
ITEM_BUTTON_TITLE = 40
# Ids are 64-bit in the database; anything larger in a button was not made by us.
MAX_ID = 2**62

# Routes (callback data ``route:args``), short because they share 64 bytes with their args.
SHOP_ROUTE = "shop"  # the shelves: shop[:page]
SHELF_ROUTE = "sc"  # one shelf: sc:<shelf key>:<page>
ITEM_ROUTE = "si"  # an item's card: si:<item>[:<origin>]
OFFER_ROUTE = "so"  # the confirmation: so:<item>:<sale or 0>:<origin>
REDEEM_ROUTE = "rd"  # rd:<confirm token>
CANCEL_ROUTE = "rx"  # cancel a waiting redemption: rx:<redemption>
ADDRESS_ROUTE = "sa"  # change a physical redemption's address: sa:<redemption>
DROP_ADDRESS_ROUTE = "sx"  # cancel an address question: sx:i<item> or sx:r<redemption>
AFFORDABLE_ROUTE = "aff"  # what the member can get now: aff[:page]
PAY_ROUTE = "pay"  # invoice payload pay:<redemption>
ADDRESS_INPUT = "address"


def stars_for(cash_minor: int) -> int:
    """The Stars a cash part costs (see :data:`MINOR_PER_STAR`); at least one."""
    return max(1, math.ceil(cash_minor / MINOR_PER_STAR))


def item_callback(item_id: int) -> str:
    """The button data that opens an item's card (Back then leads to the shelves)."""
    return callback(ITEM_ROUTE, item_id)


def _id_arg(args: tuple[str, ...], index: int) -> int:
    value = int_arg(args, index)
    if not 0 < value < MAX_ID:
        raise Stale(f"bad id {value}")
    return value


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
    def decode(cls, args: tuple[str, ...], index: int) -> Origin:
        if len(args) <= index or args[index] == "m":
            return cls()
        parts = args[index].split(".")
        if parts[0] == "a" and len(parts) == 2:
            return cls(affordable=True, page=int_arg(tuple(parts), 1))
        if parts[0] == "c" and len(parts) == 3 and len(parts[1]) == 10:
            return cls(shelf=parts[1], page=int_arg(tuple(parts), 2))
        raise Stale(f"bad origin {args[index]!r}")

    def back(self, t: Translator) -> Button:
        if self.affordable:
            return Button(t("shop.back"), data=callback(AFFORDABLE_ROUTE, self.page))
        if self.shelf is not None:
            return Button(t("shop.back"), data=callback(SHELF_ROUTE, self.shelf, self.page))
        return Button(t("shop.back_to_shelves"), data=SHOP_ROUTE)


# --- Words for numbers, money and time --------------------------------------------------------


def price_text(turn: Turn, view: ItemView) -> Html:
    """What the item costs now: points, a cash part in Stars, the regular price under a sale."""
    t = turn.t
    if view.cash_minor:
        cash = t(
            "shop.price.cash",
            cash=t.money(view.cash_minor, turn.config.mall.currency),
            stars=t.number(stars_for(view.cash_minor)),
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
    await _shelves(turn, 0)


@router.button(SHOP_ROUTE)
async def shelves_button(turn: Turn, args: tuple[str, ...]) -> None:
    await _shelves(turn, int_arg(args, 0) if args else 0)


async def _balance(turn: Turn) -> int:
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


async def _shelves(turn: Turn, page: int) -> None:
    t = turn.t
    categories = await turn.mall.catalog.categories(turn.now)
    pages = max(1, math.ceil(len(categories) / SHELVES_PAGE))
    page = min(page, pages - 1)
    shown = categories[page * SHELVES_PAGE : (page + 1) * SHELVES_PAGE]
    lines: list[str] = [
        t("shop.title", mall=turn.config.mall.name),
        t("shop.balance", balance=t.points(await _balance(turn))),
        "",
        t("shop.pick") if categories else t("shop.empty"),
    ]
    buttons = [
        Button(
            f"{category.name} ({category.items})",
            data=callback(SHELF_ROUTE, shelf_key(category.name), 0),
        )
        for category in shown
    ]
    rows: Keyboard = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    rows += _nav(
        t,
        callback(SHOP_ROUTE, page - 1) if page > 0 else None,
        callback(SHOP_ROUTE, page + 1) if page + 1 < pages else None,
    )
    if categories:
        rows += ((Button(t("balance.affordable"), data=AFFORDABLE_ROUTE),),)
    _show_list(turn, turn.with_menu(Html("\n".join(lines)), rows))


def _find_shelf(categories: tuple[Category, ...], key: str) -> Category | None:
    return next((c for c in categories if shelf_key(c.name) == key), None)


@router.button(SHELF_ROUTE)
async def shelf_button(turn: Turn, args: tuple[str, ...]) -> None:
    if not args:
        raise Stale("no shelf")
    await _shelf(turn, args[0], int_arg(args, 1))


async def _shelf(turn: Turn, key: str, page: int) -> None:
    t = turn.t
    shelf = _find_shelf(await turn.mall.catalog.categories(turn.now), key)
    if shelf is None:
        turn.notice(t("shop.shelf_gone"), alert=True)
        await _shelves(turn, 0)
        return
    found = await turn.mall.catalog.list_items(
        turn.member_id, turn.now, category=shelf.name, page=page, page_size=ITEMS_PAGE
    )
    if not found.items and page > 0:  # the shelf got shorter since the page was shown
        page = 0
        found = await turn.mall.catalog.list_items(
            turn.member_id, turn.now, category=shelf.name, page=0, page_size=ITEMS_PAGE
        )
    balance = await _balance(turn)
    origin = Origin(shelf=key, page=page)
    header = [
        t("shop.shelf.title", category=shelf.name, page=t.number(page + 1)),
        t("shop.balance", balance=t.points(balance)),
    ]
    rows = _item_rows(found.items, origin, page * ITEMS_PAGE)
    rows += _nav(
        t,
        callback(SHELF_ROUTE, key, page - 1) if page > 0 else None,
        callback(SHELF_ROUTE, key, page + 1) if found.has_more else None,
    )
    rows += ((Button(t("shop.back_to_shelves"), data=SHOP_ROUTE),),)
    text = _list_text(turn, header, found.items, balance, page * ITEMS_PAGE)
    _show_list(turn, turn.with_menu(text, rows))


def _item_rows(items: tuple[ItemView, ...], origin: Origin, first: int) -> Keyboard:
    rows = []
    for number, view in enumerate(items, start=first + 1):
        title = view.title
        if len(title) > ITEM_BUTTON_TITLE:
            title = title[: ITEM_BUTTON_TITLE - 1] + "…"
        data = callback(ITEM_ROUTE, view.item_id, origin.encode())
        rows.append((Button(f"{number}. {title}", data=data),))
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
        lines += ["", t("shop.list.item", number=t.number(number), title=view.title)]
        lines.append("   " + " · ".join(facts))
        reason = blocked_line(t, view, balance)
        if reason is not None:
            lines.append(f"   {reason}")
    return Html("\n".join(lines))


# --- What can I get? --------------------------------------------------------------------------


@router.button(AFFORDABLE_ROUTE)
async def affordable_button(turn: Turn, args: tuple[str, ...]) -> None:
    await _affordable(turn, int_arg(args, 0) if args else 0)


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
    balance = await _balance(turn)
    pages = max(1, math.ceil(len(found) / AFFORDABLE_PAGE))
    page = min(page, pages - 1)
    shown = tuple(found[page * AFFORDABLE_PAGE : (page + 1) * AFFORDABLE_PAGE])
    back = (
        (
            Button(t("shop.mall_button"), data=SHOP_ROUTE),
            Button(t("balance.back"), data="bal"),
        ),
    )
    if not shown:
        text = t("shop.affordable.none", balance=t.points(balance))
        _show_list(turn, turn.with_menu(text, back))
        return
    header = [t("shop.affordable.title", balance=t.points(balance), page=t.number(page + 1))]
    rows = _item_rows(shown, Origin(affordable=True, page=page), page * AFFORDABLE_PAGE)
    rows += _nav(
        t,
        callback(AFFORDABLE_ROUTE, page - 1) if page > 0 else None,
        callback(AFFORDABLE_ROUTE, page + 1) if page + 1 < pages else None,
    )
    text = _list_text(turn, header, shown, balance, page * AFFORDABLE_PAGE)
    _show_list(turn, turn.with_menu(text, (*rows, *back)))


# --- An item's card ---------------------------------------------------------------------------


@router.button(ITEM_ROUTE)
async def item_button(turn: Turn, args: tuple[str, ...]) -> None:
    await show_card(turn, _id_arg(args, 0), Origin.decode(args, 1))


async def show_card(
    turn: Turn, item_id: int, origin: Origin = Origin(), intro: Html | None = None
) -> None:
    """The item as the member sees it now; ``intro`` says first why it is shown again."""
    view = await turn.mall.catalog.item_view(turn.member_id, item_id, turn.now)
    balance = await _balance(turn)
    photo = await _photo(view.photo)
    text = _card_text(turn, view, balance, intro, CAPTION_LIMIT if photo else None)
    t = turn.t
    rows: list[tuple[Button, ...]] = []
    if view.blocked_reason is None:
        sale = view.sale.sale_id if view.sale is not None else 0
        data = callback(OFFER_ROUTE, view.item_id, sale, origin.encode())
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
    head.append(t("shop.card.title", title=view.title))
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
        facts.append(t("shop.card.tier", tier=view.min_tier))
    if view.ends_at is not None:
        facts.append(t("shop.card.until", at=t.moment(view.ends_at)))
    facts.append(_kind_line(t, view))
    if view.needs_approval:
        facts.append(t("shop.card.approval"))
    facts.append(t("shop.balance", balance=t.points(balance)))
    facts.append(blocked_line(t, view, balance) or t("shop.card.ok"))
    rest = "\n".join(["", *facts])
    budget = (limit or 3500) - len("\n".join(head)) - len(rest) - 2
    description = _shortened(view.description.strip(), budget)
    body = [*head, description] if description else head
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


async def _refused_card(turn: Turn, item_id: int, why: Html, origin: Origin = Origin()) -> None:
    """Answer a press (or a typed address) that the item no longer allows: why, then the card."""
    if turn.pressed:
        turn.notice(why, alert=True)
    await show_card(turn, item_id, origin, intro=why)


# --- The confirmation -------------------------------------------------------------------------


@router.button(OFFER_ROUTE)
async def offer_button(turn: Turn, args: tuple[str, ...]) -> None:
    item_id, shown_sale, origin = _id_arg(args, 0), int_arg(args, 1), Origin.decode(args, 2)
    t = turn.t
    view = await turn.mall.catalog.item_view(turn.member_id, item_id, turn.now)
    running = view.sale.sale_id if view.sale is not None else 0
    if shown_sale and running != shown_sale:
        await _refused_card(turn, item_id, t("shop.sale_over"), origin)
        return
    balance = await _balance(turn)
    reason = blocked_line(t, view, balance)
    if reason is not None:
        await _refused_card(turn, item_id, reason, origin)
        return
    offer = await turn.mall.redemptions.offer(
        turn.member_id, item_id, turn.now, flash_sale_id=running or None
    )
    settings = turn.config.redemptions
    lines: list[str] = [
        t("shop.confirm.title", title=view.title),
        t("shop.confirm.price", price=price_text(turn, offer.item)),
        t("shop.confirm.balance", now=t.points(balance), after=t.points(offer.balance_after)),
    ]
    if offer.needs_address:
        lines.append(t("shop.confirm.address"))
    if offer.needs_approval:
        wait = t.duration(settings.approval_timeout_hours * 3600)
        lines.append(t("shop.confirm.approval", wait=wait))
    if offer.needs_payment:
        wait = t.duration(settings.payment_timeout_minutes * 60)
        lines.append(
            t("shop.confirm.payment", stars=t.number(stars_for(offer.cash_minor)), wait=wait)
        )
    rows = (
        (Button(t("shop.confirm.button"), data=callback(REDEEM_ROUTE, offer.token)),),
        (Button(t("shop.confirm.back"), data=callback(ITEM_ROUTE, item_id, origin.encode())),),
    )
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


# --- Redeeming --------------------------------------------------------------------------------

# Refusals that mean "the item no longer allows what the confirmation offered": the member
# reads why, then the item as it is now.
_ITEM_REFUSALS = (NotAvailable, SoldOut, LimitReached, InsufficientPoints, TierTooLow, UnknownSale)


def _token_item(args: tuple[str, ...]) -> tuple[str, int]:
    """The confirm token and the item it is for (core's tokens start ``<item>.<sale>.``)."""
    if not args:
        raise Stale("no token")
    token = args[0]
    head = token.split(".", 1)[0]
    if not head.isdigit() or len(head) > 15 or int(head) == 0:
        raise Stale(f"bad token {token!r}")
    return token, int(head)


@router.button(REDEEM_ROUTE)
async def redeem_button(turn: Turn, args: tuple[str, ...]) -> None:
    token, item_id = _token_item(args)
    t = turn.t
    item = await turn.mall.catalog.get_item(item_id)
    if item.kind == "physical":
        # Core redeems physical goods with their address: ask for it first, nothing is taken yet.
        view = await turn.mall.catalog.item_view(turn.member_id, item_id, turn.now)
        reason = blocked_line(t, view, await _balance(turn))
        if reason is not None:
            await _refused_card(turn, item_id, reason)
            return
        await turn.mall.inputs.expect(
            turn.member_id, ADDRESS_INPUT, {"token": token, "item": item_id}, turn.now, ADDRESS_TTL
        )
        wait = t.duration(int(ADDRESS_TTL.total_seconds()))
        question = t("shop.address.ask", title=item.title, wait=wait)
        turn.show(_address_question(turn, question, f"i{item_id}"))
        return
    await _redeem(turn, token, item_id, None)


async def _redeem(turn: Turn, token: str, item_id: int, address: str | None) -> None:
    t = turn.t
    try:
        result = await turn.mall.redemptions.redeem(turn.member_id, token, turn.now, address)
    except OfferChanged:
        await _refused_card(turn, item_id, t("shop.changed"))
        return
    except _ITEM_REFUSALS as exc:
        await _refused_card(turn, item_id, refusal(t, exc))
        return
    if result.replayed:
        turn.notice(t("shop.done.again"), alert=True)
    elif result.redemption.status == "completed":
        turn.notice(t("shop.done.notice"))
    await show_result(turn, result, invoice=not result.replayed)


async def show_result(
    turn: Turn, result: RedemptionResult, intro: Html | None = None, *, invoice: bool = False
) -> None:
    """Where a redemption stands and what the member can do next.

    ``invoice`` sends the invoice of a redemption that waits for its payment (once: a replayed
    redemption's invoice is in the chat already).
    """
    t = turn.t
    view = result.redemption
    wait_left = 0
    if view.wait_ends_at is not None:
        wait_left = int((view.wait_ends_at - turn.now).total_seconds())
    lines: list[str] = [intro, ""] if intro else []
    lines += _status_lines(turn, view, wait_left)
    lines += [
        t("shop.done.number", number=t.number(view.redemption_id)),
        t("shop.balance", balance=t.points(result.balance)),
    ]
    turn.show(turn.with_menu(Html("\n".join(lines)), _result_rows(t, view)))
    if invoice and view.status == "awaiting_payment" and view.cash_minor > 0:
        turn.send(_invoice_screen(turn, view, wait_left))


def _status_lines(turn: Turn, view: RedemptionView, wait_left: int) -> list[Html]:
    t = turn.t
    title, points = view.title, t.points(view.points)
    deadline = t.moment(view.wait_ends_at or turn.now)
    if view.status in ("completed", "fulfilled"):
        lines = [t("shop.done.title", title=title, points=points)]
        if view.status == "fulfilled":
            lines.append(t("shop.done.fulfilled"))
        elif view.coupon_code:
            lines.append(t("shop.done.code", code=view.coupon_code))
        elif view.kind == "physical":
            lines.append(t("shop.done.address", address=view.address or "-"))
        elif view.kind == "service":
            lines.append(t("shop.done.service"))
        else:
            lines.append(t("shop.done.virtual"))
        return lines
    if view.status == "awaiting_approval":
        return [
            t("shop.approval.text", title=title),
            t("shop.approval.held", points=points, deadline=deadline),
        ]
    if view.status == "awaiting_payment":
        stars = t.number(stars_for(view.cash_minor))
        wait = t.duration(wait_left)
        lines = [t("shop.payment.text", title=title, stars=stars, wait=wait, deadline=deadline)]
        if view.points:
            lines.append(t("shop.payment.held", points=points))
        return lines
    if view.status == "cancelled":
        if view.points:
            return [t("shop.cancelled.text", title=title, points=points)]
        return [t("shop.cancelled.plain", title=title)]
    return [t("shop.rejected.text", title=title)]


def _result_rows(t: Translator, view: RedemptionView) -> Keyboard:
    rows: list[tuple[Button, ...]] = []
    waiting = view.status in ("awaiting_approval", "awaiting_payment")
    if waiting:
        cancel = callback(CANCEL_ROUTE, view.redemption_id)
        rows.append((Button(t("shop.cancel_button"), data=cancel),))
    if view.kind == "physical" and (waiting or view.status == "completed"):
        change = callback(ADDRESS_ROUTE, view.redemption_id)
        rows.append((Button(t("shop.address.change_button"), data=change),))
    rows.append((Button(t("shop.mall_button"), data=SHOP_ROUTE),))
    return tuple(rows)


def _invoice_screen(turn: Turn, view: RedemptionView, wait_left: int) -> Screen:
    t = turn.t
    title = view.title
    if len(title) > INVOICE_TITLE_MAX:
        title = title[: INVOICE_TITLE_MAX - 1] + "…"
    description = plain(
        t(
            "shop.invoice.description",
            title=view.title,
            number=t.number(view.redemption_id),
            wait=t.duration(wait_left),
        )
    )
    if len(description) > INVOICE_DESCRIPTION_MAX:
        description = description[: INVOICE_DESCRIPTION_MAX - 1] + "…"
    invoice = Invoice(
        title=title,
        description=description,
        payload=callback(PAY_ROUTE, view.redemption_id),
        label=plain(t("shop.invoice.label")),
        amount=stars_for(view.cash_minor),
        currency=STARS,
    )
    return Screen(Html(html.escape(description, quote=False)), invoice=invoice)


# --- Waiting redemptions: cancel, change the address ------------------------------------------


async def _own_redemption(turn: Turn, args: tuple[str, ...]) -> RedemptionView:
    view = await turn.mall.redemptions.get(_id_arg(args, 0))
    if view.member_id != turn.member_id:
        raise Stale(f"redemption {view.redemption_id} is not theirs")
    return view


@router.button(CANCEL_ROUTE)
async def cancel_button(turn: Turn, args: tuple[str, ...]) -> None:
    view = await _own_redemption(turn, args)
    t = turn.t
    try:
        result = await turn.mall.redemptions.cancel(
            view.redemption_id, turn.now, member_id=turn.member_id
        )
    except InvalidState:
        current = await turn.mall.redemptions.get(view.redemption_id)
        turn.notice(t("shop.cancel.too_late"), alert=True)
        await show_result(turn, RedemptionResult(current, await _balance(turn)))
        return
    turn.notice(t("shop.cancel.done"))
    await show_result(turn, result)


@router.button(ADDRESS_ROUTE)
async def change_address_button(turn: Turn, args: tuple[str, ...]) -> None:
    view = await _own_redemption(turn, args)
    t = turn.t
    if view.kind != "physical":
        raise Stale(f"redemption {view.redemption_id} takes no address")
    if view.status not in ("awaiting_approval", "awaiting_payment", "completed"):
        turn.notice(t("shop.address.locked"), alert=True)
        await show_result(turn, RedemptionResult(view, await _balance(turn)))
        return
    await turn.mall.inputs.expect(
        turn.member_id, ADDRESS_INPUT, {"redemption": view.redemption_id}, turn.now, ADDRESS_TTL
    )
    question = t(
        "shop.address.change", number=t.number(view.redemption_id), address=view.address or "-"
    )
    turn.show(_address_question(turn, question, f"r{view.redemption_id}"))


def _address_question(turn: Turn, question: Html, about: str) -> Screen:
    """Ask for an address; ``about`` (``i<item>`` or ``r<redemption>``) lets Cancel find it."""
    cancel = Button(turn.t("shop.address.cancel"), data=callback(DROP_ADDRESS_ROUTE, about))
    return Screen(question, ((cancel,),))


@router.button(DROP_ADDRESS_ROUTE)
async def drop_address_button(turn: Turn, args: tuple[str, ...]) -> None:
    if not args or args[0][:1] not in ("i", "r"):
        raise Stale(f"bad address question {args!r}")
    about = args[0]
    number = _id_arg((about[1:],), 0)
    key = "item" if about[0] == "i" else "redemption"
    t = turn.t
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is None or pending.kind != ADDRESS_INPUT or pending.data.get(key) != number:
        # Answered, timed out, or another question is open now: leave that one alone.
        turn.notice(t("shop.address.nothing"), alert=True)
        await _shelves(turn, 0)
        return
    await turn.mall.inputs.clear(turn.member_id)
    if key == "item":
        turn.notice(t("shop.address.cancelled"))
        await show_card(turn, number, intro=t("shop.address.cancelled"))
        return
    turn.notice(t("shop.address.kept"))
    view = await turn.mall.redemptions.get(number)
    await show_result(turn, RedemptionResult(view, await _balance(turn)))


@router.input(ADDRESS_INPUT)
async def address_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    address = text.strip()
    problem: Html | None = None
    if not address:
        problem = t("shop.address.empty")
    elif len(address) > ADDRESS_MAX:
        problem = t("shop.address.too_long", max=t.number(ADDRESS_MAX))
    if problem is None:
        try:
            await _use_address(turn, address, data)
            return
        except InvalidInput as exc:
            if exc.details.get("field") != "address":
                raise
            problem = t("shop.address.invalid")
    # Ask again, keeping what the answer is for.
    await turn.mall.inputs.expect(turn.member_id, ADDRESS_INPUT, dict(data), turn.now, ADDRESS_TTL)
    about = f"i{data['item']}" if "token" in data else f"r{data['redemption']}"
    turn.send(_address_question(turn, problem, about))


async def _use_address(turn: Turn, address: str, data: Mapping[str, Any]) -> None:
    if "token" in data:
        await _redeem(turn, str(data["token"]), int(data["item"]), address)
        return
    view = await turn.mall.redemptions.set_address(
        turn.member_id, int(data["redemption"]), address, turn.now
    )
    t = turn.t
    intro = t(
        "shop.address.updated", number=t.number(view.redemption_id), address=view.address or ""
    )
    await show_result(turn, RedemptionResult(view, await _balance(turn)), intro)


# --- Paying the cash part ---------------------------------------------------------------------


@router.payment(PAY_ROUTE)
async def payment(turn: Turn, args: tuple[str, ...]) -> None:
    view = await _own_redemption(turn, args)
    action = turn.action
    if isinstance(action, PreCheckout):
        refused = await _checkout_problem(turn, view, action)
        turn.out.add(CheckoutAnswer(ok=refused is None, error=refused))
    elif isinstance(action, Paid):
        await _paid(turn, view, action)
    else:  # pragma: no cover - the router sends only payments here
        raise Stale(f"not a payment: {action!r}")


async def _checkout_problem(turn: Turn, view: RedemptionView, action: PreCheckout) -> str | None:
    """Why Telegram must not take this payment (in the member's words), or None to take it."""
    t = turn.t
    if view.status == "cancelled":
        return plain(t("shop.pay.cancelled"))
    if view.status in ("completed", "fulfilled"):
        return plain(t("shop.pay.paid"))
    if view.status != "awaiting_payment":
        return plain(t("shop.pay.not_expected"))
    if view.wait_ends_at is not None and turn.now >= view.wait_ends_at:
        with contextlib.suppress(InvalidState):  # the timeout job has not run yet: do it now
            await turn.mall.redemptions.fail_payment(view.redemption_id, turn.now)
        return plain(t("shop.pay.expired"))
    if action.currency != STARS or action.amount != stars_for(view.cash_minor):
        return plain(t("shop.pay.amount"))
    return None


async def _paid(turn: Turn, view: RedemptionView, action: Paid) -> None:
    t = turn.t
    try:
        result = await turn.mall.redemptions.confirm_payment(
            view.redemption_id, action.charge_id, turn.now
        )
    except InvalidState:
        # Approved at pre-checkout, ended before the payment landed (a timeout in between).
        log.warning(
            "payment %s for redemption %s arrived after it ended",
            action.charge_id,
            view.redemption_id,
        )
        turn.send(turn.with_menu(t("shop.pay.late", charge=action.charge_id)))
        return
    intro = t("shop.pay.received", stars=t.number(action.amount))
    await show_result(turn, result, intro)
