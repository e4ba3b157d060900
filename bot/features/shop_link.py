"""Linking the member's shop account by their phone number, as Telegram verified it.

"Link shop account" in the main menu (or ``/link``) explains what it is for and shows a reply
keyboard with a button that shares the member's own contact (Telegram asks them to confirm) and
Cancel. A shared contact is linked only when it is the member's own (``user_id`` is theirs:
Telegram filled it in, so the number is verified); someone else's contact is refused and the
question stays. :meth:`core.commerce.shop.Shop.link_phone` keeps only a keyed hash of the number,
and the shop's orders parked for it are credited at once: the answer lists them, then the main menu.

A contact sent without being asked is handled the same way. The keyboard leaves with the answer
(a message of its own, since a message carries inline buttons or a reply keyboard, not both);
Cancel works after the question timed out too (:meth:`bot.router.Router.reply`).

The shop's other way in is its "collect your points" link, ``/start s-<token>``, which the
menu's ``/start`` hands to :func:`open_link`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.events import Contact
from bot.features.main_menu import main_menu
from bot.features.member_days import bonus_line
from bot.features.member_links import LinkPhone
from bot.i18n import Html, plain
from bot.router import Router
from bot.screens import ContactRequest, Screen
from bot.turn import Turn
from core.commerce.shop_links import START_PREFIX
from core.commerce.shop_orders import OrderOutcome
from core.errors import InvalidInput, InvalidPhone, PhoneMatchingOff

router = Router()

PHONE_INPUT = "shop_link.phone"
CANCEL_LABEL = "link_phone.cancel"
# How long a text is read as the answer (Cancel, or a number typed instead of shared).
ASK_TTL = timedelta(minutes=15)


@router.screen("link", LinkPhone)
async def link_command(turn: Turn) -> None:
    await _ask(turn, turn.t("link_phone.ask"))


@router.input(PHONE_INPUT)
async def typed_answer(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    """A text while the question is open: Cancel, or a number typed (which proves nothing)."""
    if _is_cancel(turn, text):
        await _cancel(turn)
        return
    t = turn.t
    await _ask(
        turn, t("link_phone.use_button", button=t("link_phone.share"), cancel=t(CANCEL_LABEL))
    )


@router.reply(CANCEL_LABEL)
async def cancel_pressed(turn: Turn) -> None:
    """Cancel pressed when no question takes it (it timed out, or was never asked here)."""
    await _cancel(turn)


@router.contact()
async def contact_shared(turn: Turn, contact: Contact) -> None:
    t = turn.t
    if contact.user_id != turn.sender.user_id:
        # Someone else's card (or one without a Telegram account): not a verified number.
        await _ask(turn, t("link_phone.not_own", button=t("link_phone.share")))
        return
    await _drop_question(turn)
    try:
        linked = await turn.mall.shop.link_phone(turn.member_id, contact.phone_number, turn.now)
    except PhoneMatchingOff:
        await _answer(turn, t("link_phone.unavailable"))
        return
    except (InvalidPhone, InvalidInput):
        await _answer(turn, t("link_phone.invalid"))
        return
    await _answer(turn, _linked_text(turn, t("link_phone.done"), linked.credited))


async def open_link(turn: Turn, payload: str) -> None:
    """``/start s-<token>``: the link the shop showed after checkout links its customer to the
    member, and what was parked for them is credited. A link that is unknown, expired, used by
    someone else, or whose shop account is another member's, is refused by the conversation's
    usual answer (``error.link_unknown``, ``error.link_expired``, ``error.link_used``,
    ``error.ref_taken``). Opening it again answers the same, crediting nothing twice."""
    t = turn.t
    linked = await turn.mall.shop.use_link(
        turn.member_id, payload.removeprefix(START_PREFIX), turn.now
    )
    turn.send(turn.with_menu(_linked_text(turn, t("link_shop.done"), linked.credited)))


def is_shop_link(payload: str) -> bool:
    return payload.startswith(START_PREFIX)


def _linked_text(turn: Turn, said: Html, credited: Sequence[OrderOutcome]) -> Html:
    """``said``, then a line for each parked order the link credited."""
    t = turn.t
    lines = [said]
    for order in credited:
        if order.status != "credited":
            continue
        lines.append(t("link_phone.credited", order=order.order_id, points=t.points(order.points)))
        if order.member_day is not None and order.member_day.points:
            lines.append(bonus_line(t, order.member_day))
        if order.referral_points:
            lines.append(t("orders.referral", points=t.points(order.referral_points)))
    return Html("\n".join(lines))


async def _ask(turn: Turn, text: Html) -> None:
    """Wait for the member's contact (or Cancel) and show the keyboard that shares it."""
    t = turn.t
    await turn.mall.inputs.expect(turn.member_id, PHONE_INPUT, {}, turn.now, ASK_TTL)
    request = ContactRequest(t("link_phone.share"), t(CANCEL_LABEL))
    turn.send(Screen(text, contact_request=request))


async def _cancel(turn: Turn) -> None:
    await _drop_question(turn)
    await _answer(turn, turn.t("link_phone.cancelled"))


async def _answer(turn: Turn, text: Html) -> None:
    """``text`` with the keyboard taken away, then the main menu (inline buttons need a message
    of their own)."""
    turn.send(Screen(text, remove_keyboard=True))
    turn.send(await main_menu(turn))


async def _drop_question(turn: Turn) -> None:
    """Forget the question if it is still this one (another feature's stays asked)."""
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is not None and pending.kind == PHONE_INPUT:
        await turn.mall.inputs.clear(turn.member_id)


def _is_cancel(turn: Turn, text: str) -> bool:
    return any(text.strip() == plain(t(CANCEL_LABEL)) for t in turn.languages.all)
