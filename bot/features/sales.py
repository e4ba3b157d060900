"""Flash sales: what is on now and coming up, a sale's terms, entering a draw or buying.

A first-come sale's Buy goes through the shop's redemption confirmation: each press is one core
call (``core.rewards.sale_press``), which reads the sale again and gives the offer at the sale
price, shown with the shop's Redeem button (``rd:<token>``), or why there is none: a button from
a sale that has ended or sold out since it was shown says so instead of acting.
"""

from __future__ import annotations

from typing import Annotated

from bot.callback_data import MAX_INT_ARG, CallbackData, Ints
from bot.content import title
from bot.features.member_links import Redeem, SaleCard, SalesPage
from bot.i18n import Html, Translator, plain
from bot.lists import nav_rows, page_of
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import InsufficientPoints
from core.rewards.flash_sales import SaleView

router = Router()
SALE_PAGE = 8
NOW_PHASES = ("open", "sold_out", "entry", "awaiting_draw")
SaleId = Annotated[int, Ints(1, MAX_INT_ARG)]
"""A sale's id: 0 or anything past what the database holds was not made by us."""


class EnterDraw(CallbackData, route="se"):
    """Enter a draw sale."""

    sale_id: SaleId


class BuyInSale(CallbackData, route="sb"):
    """Buy in a first-come sale (shows the confirmation)."""

    sale_id: SaleId


# --- The list --------------------------------------------------------------------------------


@router.pages("sales", SalesPage)
async def _list(turn: Turn, page: int) -> None:
    t = turn.t
    sales = await turn.mall.flash_sales.current_and_upcoming(turn.now)
    page, shown, more = page_of(sales, page, SALE_PAGE)
    current = [sale for sale in shown if sale.phase in NOW_PHASES]
    upcoming = [sale for sale in shown if sale.phase not in NOW_PHASES]
    lines: list[str] = [t("sales.list.title")]
    if not sales:
        lines.append(t("sales.list.empty"))
    if current:
        lines += ["", t("sales.list.now")]
        lines += [list_line(t, sale) for sale in current]
    if upcoming:
        lines += ["", t("sales.list.upcoming")]
        lines += [list_line(t, sale) for sale in upcoming]
    rows: list[tuple[Button, ...]] = [
        (
            Button(
                plain(t("sales.list.button", title=title(t, sale))),
                data=SaleCard(sale.sale_id).pack(),
            ),
        )
        for sale in (*current, *upcoming)
    ]
    rows += nav_rows(t, page, more, SalesPage)
    turn.show(turn.with_menu(Html("\n".join(lines)), tuple(rows)))


def list_line(t: Translator, sale: SaleView) -> Html:
    price, regular = t.points(sale.sale_price), t.points(sale.regular_price)
    left = t.duration(sale.seconds_left)
    if sale.phase == "open":
        return t(
            "sales.line.open",
            title=title(t, sale),
            price=price,
            regular=regular,
            remaining=t.number(sale.remaining),
            quantity=t.number(sale.quantity),
            left=left,
        )
    if sale.phase == "sold_out":
        return t("sales.line.sold_out", title=title(t, sale), price=price, left=left)
    if sale.phase == "entry":
        return t(
            "sales.line.entry",
            title=title(t, sale),
            price=price,
            regular=regular,
            quantity=t.number(sale.quantity),
            left=left,
        )
    if sale.phase == "awaiting_draw":
        return t("sales.line.awaiting_draw", title=title(t, sale), price=price)
    starts = t.moment(sale.starts_at)
    if sale.mode == "draw":
        return t(
            "sales.line.upcoming_draw",
            title=title(t, sale),
            price=price,
            regular=regular,
            at=starts,
        )
    return t("sales.line.upcoming", title=title(t, sale), price=price, regular=regular, at=starts)


# --- One sale --------------------------------------------------------------------------------


@router.button(SaleCard)
async def sale_button(turn: Turn, data: SaleCard) -> None:
    sale = await turn.mall.flash_sales.get_sale(data.sale_id, turn.now)
    turn.show(sale_screen(turn, sale))


def sale_screen(turn: Turn, sale: SaleView, note: Html | None = None) -> Screen:
    t = turn.t
    price = t.points(sale.sale_price)
    lines: list[str] = [note, ""] if note else []
    lines.append(t("sales.sale.title", title=title(t, sale)))
    lines.append(t("sales.sale.price", price=price, regular=t.points(sale.regular_price)))
    if sale.mode == "draw":
        lines.append(
            t.n("sales.sale.draw", sale.quantity, entrants=t.number(sale.entrants), price=price)
        )
    else:
        lines.append(
            t(
                "sales.sale.first_come",
                remaining=t.number(sale.remaining),
                quantity=t.number(sale.quantity),
            )
        )
    lines.append(phase_line(t, sale))
    if sale.mode == "draw" and sale.draw_seed_hash:
        lines.append(t("sales.sale.seed_hash", hash=Html(sale.draw_seed_hash)))
        if sale.draw_seed:
            lines.append(
                t("sales.sale.seed_revealed", seed=Html(sale.draw_seed), sale=str(sale.sale_id))
            )
    rows: list[tuple[Button, ...]] = []
    if sale.phase == "open":
        rows.append(
            (Button(plain(t("sales.buy", price=price)), data=BuyInSale(sale.sale_id).pack()),)
        )
    elif sale.phase == "entry":
        rows.append(
            (Button(plain(t("sales.enter", price=price)), data=EnterDraw(sale.sale_id).pack()),)
        )
    rows.append(
        (
            Button(t("sales.refresh"), data=SaleCard(sale.sale_id).pack()),
            Button(t("sales.back"), data=SalesPage().pack()),
        )
    )
    return turn.with_menu(Html("\n".join(lines)), tuple(rows))


def phase_line(t: Translator, sale: SaleView) -> Html:
    left = t.duration(sale.seconds_left)
    if sale.phase == "upcoming":
        return t("sales.phase.upcoming", at=t.moment(sale.starts_at), left=left)
    if sale.phase == "open":
        return t("sales.phase.open", at=t.moment(sale.ends_at), left=left)
    if sale.phase == "sold_out":
        return t("sales.phase.sold_out")
    if sale.phase == "entry":
        assert sale.entry_ends_at is not None
        return t("sales.phase.entry", at=t.moment(sale.entry_ends_at), left=left)
    if sale.phase == "awaiting_draw":
        return t("sales.phase.awaiting_draw")
    if sale.phase == "drawn":
        return t("sales.phase.drawn")
    if sale.phase == "cancelled":
        return t("sales.phase.cancelled")
    return t("sales.phase.ended")


def gone_note(t: Translator, sale: SaleView) -> Html:
    """Why a Buy or Enter button shown earlier no longer acts."""
    if sale.phase == "upcoming":
        return t("sales.gone.not_yet", at=t.moment(sale.starts_at))
    if sale.phase == "sold_out":
        return t("sales.gone.sold_out")
    if sale.mode == "draw" and sale.phase in ("awaiting_draw", "drawn"):
        return t("sales.gone.entries_closed")
    return t("sales.gone.ended")


# --- Entering a draw -------------------------------------------------------------------------


def _refuse(turn: Turn, sale: SaleView, note: Html) -> None:
    """Why the press did nothing, as an alert, and the sale as it is now."""
    turn.notice(plain(note), alert=True)
    turn.show(sale_screen(turn, sale, note))


async def _taking(turn: Turn, sale_id: int, mode: str) -> SaleView | None:
    """The sale a Buy (``first_come``) or Enter (``draw``) press is for, while it takes one;
    else None, the press answered with why and the sale as it is now."""
    sale = await turn.mall.flash_sales.get_sale(sale_id, turn.now)
    if sale.mode != mode:
        raise Stale(f"sale {sale.sale_id} is not {mode}")
    if sale.phase != ("entry" if mode == "draw" else "open"):
        _refuse(turn, sale, gone_note(turn.t, sale))
        return None
    return sale


def _short_note(t: Translator, sale: SaleView, balance: int) -> Html:
    """Why a press did nothing when the member's ``balance`` falls short of the sale's price."""
    return t("sales.short", price=t.points(sale.sale_price), balance=t.points(balance))


@router.button(EnterDraw)
async def enter_draw(turn: Turn, data: EnterDraw) -> None:
    sale = await _taking(turn, data.sale_id, "draw")
    if sale is None:
        return
    t = turn.t
    try:
        entry = await turn.mall.flash_sales.enter(sale.sale_id, turn.member_id, turn.now)
    except InsufficientPoints as short:
        # The balance the entry was refused on, read under the member's lock.
        _refuse(turn, sale, _short_note(t, sale, int(short.details["balance"])))
        return
    lines: list[str] = []
    if entry.already_entered:
        turn.notice(t("sales.entered.already"))
        lines += [t("sales.entered.already"), ""]
    else:
        turn.notice(t("sales.entered.notice"))
    lines += [
        t("sales.entered.title", title=title(t, sale)),
        t("sales.entered.held", points=t.points(entry.points)),
        t("sales.entered.when", at=t.moment(entry.entry_ends_at)),
        t("sales.entered.balance", balance=t.points(entry.balance)),
    ]
    if sale.draw_seed_hash:
        lines.append(t("sales.entered.verify", sale=str(sale.sale_id)))
    rows = ((Button(t("sales.back"), data=SalesPage().pack()),),)
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


# --- Buying in a first-come sale -------------------------------------------------------------


@router.button(BuyInSale)
async def buy(turn: Turn, data: BuyInSale) -> None:
    pressed = await turn.mall.sale_press.buy(turn.member_id, data.sale_id, turn.now)
    sale, offer = pressed.sale, pressed.offer
    if sale.mode != "first_come":
        raise Stale(f"sale {sale.sale_id} is not first_come")
    t = turn.t
    if pressed.short:
        _refuse(turn, sale, _short_note(t, sale, pressed.balance))
        return
    if offer is None:
        _refuse(turn, sale, gone_note(t, sale))
        return
    price = t.points(offer.points)
    lines: list[str] = [
        t("sales.confirm.title", title=title(t, offer.item)),
        t("sales.confirm.price", price=price, regular=t.points(offer.item.price_points)),
        t("sales.confirm.after", balance=t.points(offer.balance_after)),
    ]
    if offer.needs_approval:
        lines.append(t("sales.confirm.approval"))
    if offer.needs_address:
        lines.append(t("sales.confirm.address"))
    lines.append(t("sales.confirm.first_come"))
    rows = (
        (
            Button(
                plain(t("sales.confirm.redeem", price=price)),
                data=Redeem(offer.token).pack(),
            ),
        ),
        (Button(t("sales.confirm.back"), data=SaleCard(sale.sale_id).pack()),),
    )
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))
