"""Redeeming an item: the confirmation, the Redeem press, and what follows it.

The card's Redeem (bot/features/item_card.py) is one core call (``core.rewards.offer_press``): the
offer, or the item as it is now with why there is none. The confirmation shows
the price, the balance after and what happens next, with a Redeem button carrying the offer's
confirm token (``rd:<token>``, also used by the flash sales). A press is one core call
(``core.rewards.redeem_press``): the redemption, the address question it opened, or a refusal with
the item as it is now. Core redeems once per token, so a double tap charges once; its second press
only says so (a notice), as the first press's answer is on the message already. A press handled
again after its process died (``Turn.retried``) gets the whole answer, whose first sending may
never have reached the chat.
What follows depends on the item:

- physical goods ask for the delivery address first (core needs it to redeem), with a Cancel
  button; the typed address redeems;
- an item above its approval threshold waits for an admin, the points held, cancellable;
- an item with a cash part waits for a payment in Telegram Stars: an invoice whose payload is
  ``pay:<redemption id>``; the payment completes the redemption, a cancel gives the held points
  back, and core's timeout job releases them when nobody pays.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from bot.callback_data import MAX_INT_ARG, CallbackData, Codec, Ints
from bot.content import title as title_of
from bot.events import Paid, PreCheckout
from bot.features.approval_notices import tell_admins_waiting
from bot.features.item_card import (
    ItemCard,
    OfferConfirmation,
    ShelvesPage,
    blocked_line,
    member_balance,
    price_text,
    refused_card,
    show_card,
    stars_for,
)
from bot.features.member_links import Redeem
from bot.features.redemption_states import state_text
from bot.features.shelves import shelves
from bot.i18n import Html, Translator, plain, shorten
from bot.refusals import refusal_text
from bot.router import Router, Stale
from bot.screens import Button, CheckoutAnswer, Invoice, Keyboard, RefundStars, Screen
from bot.turn import Turn
from core.errors import AddressNeeded, InvalidInput, InvalidState, KeyReused
from core.rewards.redeem_press import ADDRESS_QUESTION, ADDRESS_WAIT, PressResult
from core.rewards.redemptions import OfferChanged, RedemptionResult, RedemptionView

log = logging.getLogger(__name__)
router = Router()

ADDRESS_MAX = 500
# Telegram's limits on an invoice's title and description.
INVOICE_TITLE_MAX = 32
INVOICE_DESCRIPTION_MAX = 255
STARS = "XTR"
CANCEL_ROUTE = "rx"  # cancel a waiting redemption: rx:<redemption>
ADDRESS_ROUTE = "sa"  # change a physical redemption's address: sa:<redemption>
DROP_ADDRESS_ROUTE = "sx"  # cancel an address question: sx:i<item> or sx:r<redemption>
PAY_ROUTE = "pay"  # invoice payload pay:<redemption>
_ID = Ints(1, MAX_INT_ARG)
RedemptionId = Annotated[int, _ID]


class CancelWaiting(CallbackData, route=CANCEL_ROUTE):
    """Cancel a redemption waiting for approval or payment."""

    redemption_id: RedemptionId


class ChangeAddress(CallbackData, route=ADDRESS_ROUTE):
    """Change a physical redemption's delivery address."""

    redemption_id: RedemptionId


AddressFor = tuple[Literal["i", "r"], int]
"""What an address question is about: an item being redeemed or a redemption, by id."""


def _about_text(about: AddressFor) -> str:
    return f"{about[0]}{about[1]}"


def _about_of(text: str) -> AddressFor:
    kind = text[:1]
    if kind == "i":
        return "i", _ID.decode(text[1:])
    if kind == "r":
        return "r", _ID.decode(text[1:])
    raise ValueError(f"bad address question {text!r}")


class DropAddress(CallbackData, route=DROP_ADDRESS_ROUTE):
    """Cancel an address question: ``i<item>`` or ``r<redemption>``."""

    about: Annotated[AddressFor, Codec(_about_text, _about_of, 1 + _ID.max_len)]


class Pay(CallbackData, route=PAY_ROUTE):
    """An invoice's payload: the redemption its Stars pay for."""

    redemption_id: RedemptionId


# --- The confirmation -------------------------------------------------------------------------


@router.button(OfferConfirmation)
async def offer_button(turn: Turn, data: OfferConfirmation) -> None:
    item_id, origin = data.item_id, data.origin
    t = turn.t
    pressed = await turn.mall.offer_press.press(turn.member_id, item_id, data.sale_id, turn.now)
    view, balance, offer = pressed.card, pressed.balance, pressed.offer
    if pressed.sale_over:
        await refused_card(turn, view, balance, t("shop.sale_over"), origin)
        return
    reason = blocked_line(t, view, balance)
    if reason is not None:
        await refused_card(turn, view, balance, reason, origin)
        return
    assert offer is not None, pressed  # core offers unless the sale is over or the item blocked
    settings = turn.config.redemptions
    lines: list[str] = [
        t("shop.confirm.title", title=title_of(t, view)),
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
            t("shop.confirm.payment", stars=t.number(stars_for(turn, offer.cash_minor)), wait=wait)
        )
    rows = (
        (Button(t("shop.confirm.button"), data=Redeem(offer.token).pack()),),
        (Button(t("shop.confirm.back"), data=ItemCard(item_id, origin).pack()),),
    )
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


# --- Redeeming --------------------------------------------------------------------------------


@router.button(Redeem)
async def redeem_button(turn: Turn, data: Redeem) -> None:
    await _answer(turn, await turn.mall.redeem_press.press(turn.member_id, data.token, turn.now))


async def _answer(turn: Turn, press: PressResult) -> None:
    """Answer a Redeem press, or an address typed for one, with what core made of it."""
    t = turn.t
    refusal, card = press.refusal, press.card
    if isinstance(refusal, AddressNeeded) and card is not None:
        if refusal.details.get("asked") or turn.retried:
            # Nothing is taken before the address; a double tap finds the question on the
            # message already, a press handled again after a crash may never have shown it.
            wait = t.duration(int(ADDRESS_WAIT.total_seconds()))
            question = t("shop.address.ask", title=title_of(t, card), wait=wait)
            turn.show(_address_question(turn, question, ("i", card.item_id)))
        return
    if refusal is not None and card is not None:
        why = t("shop.changed") if isinstance(refusal, OfferChanged) else refusal_text(t, refusal)
        await refused_card(turn, card, press.balance, why)
        return
    result = press.redeemed
    assert result is not None, press  # core gives a redemption or a refusal
    if not result.replayed:
        if result.redemption.status == "completed":
            turn.notice(t("shop.done.notice"))
        await show_result(turn, result, invoice=True)
    elif turn.pressed and not turn.retried:
        # A double tap: the first press's result is on the message; only the notice now.
        turn.notice(t("shop.done.again"), alert=True)
    elif turn.pressed:
        # Redeemed by this very press before its process died: its answer never reached the
        # chat, so all of it now, the invoice of a redemption still waiting for its payment too.
        await show_result(turn, result, invoice=True)
    else:
        # An address typed for a confirmation redeemed before: the result, as a new message.
        await show_result(turn, result, t("shop.done.again"))
    await tell_admins_waiting(turn, result.redemption)  # once, if it awaits their approval


async def show_result(
    turn: Turn, result: RedemptionResult, intro: Html | None = None, *, invoice: bool = False
) -> None:
    """Where a redemption stands and what the member can do next.

    ``invoice`` sends the invoice of a redemption that waits for its payment: with its first
    answer, and again only when that answer may never have reached the chat
    (``Turn.retried``); a payment of a second invoice is refunded anyway.
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
    title, points = title_of(t, view), t.points(view.points)
    deadline = t.moment(view.wait_ends_at or turn.now)
    if view.status in ("completed", "fulfilled"):
        lines = [t("shop.done.title", title=title, points=points)]
        if view.status == "fulfilled" and view.kind == "physical":
            # Shipped or delivered, as the member's redemptions say.
            lines.append(t("reds.detail_state", state=state_text(t, view, turn.now)))
        elif view.status == "fulfilled":
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
        stars = t.number(stars_for(turn, view.cash_minor))
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
        cancel = CancelWaiting(view.redemption_id).pack()
        rows.append((Button(t("shop.cancel_button"), data=cancel),))
    if view.kind == "physical" and (waiting or view.status == "completed"):
        change = ChangeAddress(view.redemption_id).pack()
        rows.append((Button(t("shop.address.change_button"), data=change),))
    rows.append((Button(t("shop.mall_button"), data=ShelvesPage().pack()),))
    return tuple(rows)


def _invoice_screen(turn: Turn, view: RedemptionView, wait_left: int) -> Screen:
    t = turn.t
    title = shorten(title_of(t, view), INVOICE_TITLE_MAX)
    description = plain(
        t(
            "shop.invoice.description",
            title=title_of(t, view),
            number=t.number(view.redemption_id),
            wait=t.duration(wait_left),
        )
    )
    description = shorten(description, INVOICE_DESCRIPTION_MAX)
    invoice = Invoice(
        title=title,
        description=description,
        payload=Pay(view.redemption_id).pack(),
        label=plain(t("shop.invoice.label")),
        amount=stars_for(turn, view.cash_minor),
        currency=STARS,
    )
    return Screen(Html(html.escape(description, quote=False)), invoice=invoice)


# --- Waiting redemptions: cancel, change the address ------------------------------------------


async def _own_redemption(turn: Turn, redemption_id: int) -> RedemptionView:
    view = await turn.mall.redemptions.get(redemption_id)
    if view.member_id != turn.member_id:
        raise Stale(f"redemption {view.redemption_id} is not theirs")
    return view


@router.button(CancelWaiting)
async def cancel_button(turn: Turn, data: CancelWaiting) -> None:
    view = await _own_redemption(turn, data.redemption_id)
    t = turn.t
    try:
        result = await turn.mall.redemptions.cancel(
            view.redemption_id, turn.now, member_id=turn.member_id
        )
    except InvalidState:
        current = await turn.mall.redemptions.get(view.redemption_id)
        turn.notice(t("shop.cancel.too_late"), alert=True)
        await show_result(turn, RedemptionResult(current, await member_balance(turn)))
        return
    turn.notice(t("shop.cancel.done"))
    await show_result(turn, result)


@router.button(ChangeAddress)
async def change_address_button(turn: Turn, data: ChangeAddress) -> None:
    view = await _own_redemption(turn, data.redemption_id)
    t = turn.t
    if view.kind != "physical":
        raise Stale(f"redemption {view.redemption_id} takes no address")
    if view.status not in ("awaiting_approval", "awaiting_payment", "completed"):
        turn.notice(t("shop.address.locked"), alert=True)
        await show_result(turn, RedemptionResult(view, await member_balance(turn)))
        return
    await turn.mall.inputs.expect(
        turn.member_id, ADDRESS_QUESTION, {"redemption": view.redemption_id}, turn.now, ADDRESS_WAIT
    )
    question = t(
        "shop.address.change", number=t.number(view.redemption_id), address=view.address or "-"
    )
    turn.show(_address_question(turn, question, ("r", view.redemption_id)))


def _address_question(turn: Turn, question: Html, about: AddressFor) -> Screen:
    """Ask for an address; ``about`` (an item or a redemption) lets Cancel find it."""
    cancel = Button(turn.t("shop.address.cancel"), data=DropAddress(about).pack())
    return Screen(question, ((cancel,),))


@router.button(DropAddress)
async def drop_address_button(turn: Turn, data: DropAddress) -> None:
    kind, number = data.about
    key = "item" if kind == "i" else "redemption"
    t = turn.t
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is None or pending.kind != ADDRESS_QUESTION or pending.data.get(key) != number:
        # Answered, timed out, or another question is open now: leave that one alone.
        turn.notice(t("shop.address.nothing"), alert=True)
        await shelves(turn, 0)
        return
    await turn.mall.inputs.clear(turn.member_id)
    if key == "item":
        turn.notice(t("shop.address.cancelled"))
        await show_card(turn, number, intro=t("shop.address.cancelled"))
        return
    turn.notice(t("shop.address.kept"))
    view = await turn.mall.redemptions.get(number)
    await show_result(turn, RedemptionResult(view, await member_balance(turn)))


@router.input(ADDRESS_QUESTION)
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
    await turn.mall.inputs.expect(
        turn.member_id, ADDRESS_QUESTION, dict(data), turn.now, ADDRESS_WAIT
    )
    about: AddressFor = (
        ("i", int(data["item"])) if "token" in data else ("r", int(data["redemption"]))
    )
    turn.send(_address_question(turn, problem, about))


async def _use_address(turn: Turn, address: str, data: Mapping[str, Any]) -> None:
    if "token" in data:
        press = turn.mall.redeem_press.press
        await _answer(turn, await press(turn.member_id, str(data["token"]), turn.now, address))
        return
    view = await turn.mall.redemptions.set_address(
        turn.member_id, int(data["redemption"]), address, turn.now
    )
    t = turn.t
    intro = t(
        "shop.address.updated", number=t.number(view.redemption_id), address=view.address or ""
    )
    await show_result(turn, RedemptionResult(view, await member_balance(turn)), intro)


# --- Paying the cash part ---------------------------------------------------------------------


@router.payment(Pay)
async def payment(turn: Turn, data: Pay) -> None:
    view = await _own_redemption(turn, data.redemption_id)
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
    if action.currency != STARS or action.amount != stars_for(turn, view.cash_minor):
        return plain(t("shop.pay.amount"))
    return None


async def _paid(turn: Turn, view: RedemptionView, action: Paid) -> None:
    t = turn.t
    try:
        result = await turn.mall.redemptions.confirm_payment(
            view.redemption_id, action.charge_id, turn.now, stars=action.amount
        )
    except (InvalidState, KeyReused):
        # Approved at pre-checkout, ended before the payment landed (a timeout in between), or
        # paid twice: the mall keeps nothing for it, so the Stars go back.
        refund = await turn.mall.star_refunds.payment_unmatched(
            turn.member_id, view.redemption_id, action.charge_id, action.amount, turn.now
        )
        if refund is None:  # this very payment completed it: a repeated delivery
            current = await turn.mall.redemptions.get(view.redemption_id)
            await show_result(turn, RedemptionResult(current, await member_balance(turn)))
            return
        log.warning(
            "payment %s for redemption %s arrived after it ended: refunding it",
            action.charge_id,
            view.redemption_id,
        )
        text = t(
            "shop.pay.late",
            stars=t.number(refund.stars),
            number=t.number(view.redemption_id),
        )
        turn.send(turn.with_menu(text))
        if not refund.refunded:
            turn.out.add(RefundStars(refund.charge_id))
        return
    intro = t("shop.pay.received", stars=t.number(action.amount))
    await show_result(turn, result, intro)
