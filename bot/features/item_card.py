"""An item's card as a member sees it, and the buttons that lead to it and back from it.

The shelves (bot/features/shop.py) open the card; the confirmation and the Redeem press
(bot/features/redeem.py) show it again when the item no longer allows what was offered, with
why first. Both read the card, its price and what blocks it from here, so the two features
never word an item differently. The card's Back returns to the list it was opened from
(:class:`Origin`), so the buttons of those lists are defined here too; their screens are the
shop's.
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from bot.callback_data import MAX_INT_ARG, MAX_PAGE, CallbackData, Chars, Codec, Ints, Page
from bot.content import description, tier_name, title
from bot.i18n import Html, Translator, plain
from bot.screens import CAPTION_LIMIT, Button, Photo, Screen
from bot.turn import Turn
from core.rewards.catalog_file import is_photo_file
from core.rewards.eligibility import ItemView
from core.rewards.star_refunds import stars_for as star_price

log = logging.getLogger(__name__)

# Telegram refuses photos above 10 MB; a bigger file is shown as a card without its picture.
PHOTO_MAX_BYTES = 10 * 1024 * 1024

# Routes (callback data ``route:args``), short because they share 64 bytes with their args.
SHOP_ROUTE = "shop"  # the shelves: shop[:page]
SHELF_ROUTE = "sc"  # one shelf: sc:<shelf key>:<page>
ITEM_ROUTE = "si"  # an item's card: si:<item>[:<origin>]
OFFER_ROUTE = "so"  # the confirmation: so:<item>:<sale or 0>:<origin>
AFFORDABLE_ROUTE = "aff"  # what the member can get now: aff[:page]


def stars_for(turn: Turn, cash_minor: int) -> int:
    """The Stars a cash part costs (``[payments] minor_per_star``), rounded up; at least one."""
    return star_price(turn.config, cash_minor)


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


async def member_balance(turn: Turn) -> int:
    return (await turn.mall.statements.balance(turn.member_id)).balance


# --- The card --------------------------------------------------------------------------------


async def show_card(
    turn: Turn, item_id: int, origin: Origin = Origin(), intro: Html | None = None
) -> None:
    """The item as the member sees it now; ``intro`` says first why it is shown again."""
    view = await turn.mall.catalog.item_view(turn.member_id, item_id, turn.now)
    await show_item(turn, view, await member_balance(turn), origin, intro)


async def show_item(
    turn: Turn,
    view: ItemView,
    balance: int,
    origin: Origin = Origin(),
    intro: Html | None = None,
) -> None:
    """The card of ``view`` as core read it for the member, whose balance is ``balance``."""
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


async def refused_card(
    turn: Turn, view: ItemView, balance: int, why: Html, origin: Origin = Origin()
) -> None:
    """Answer a press (or a typed address) that the item no longer allows: why, then the card
    of ``view``, the item as core read it with the refusal."""
    if turn.pressed:
        turn.notice(why, alert=True)
    await show_item(turn, view, balance, origin, intro=why)
