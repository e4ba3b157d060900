"""Bot API payment methods, for Telegram Stars: sendInvoice, answerPreCheckoutQuery and
refundStarPayment."""

from __future__ import annotations

from typing import Any

from bot.sandbox.chat_rules import chat_of, ensure_can_write, reply_markup, throttle
from bot.sandbox.dispatch import method
from bot.sandbox.errors import bad_request
from bot.sandbox.params import Params
from bot.sandbox.world import World

STARS = "XTR"


def _prices(params: Params) -> list[dict[str, Any]]:
    prices = params.structured("prices", "prices")
    if not isinstance(prices, list) or not prices:
        raise bad_request("can't parse prices JSON object")
    for price in prices:
        if (
            not isinstance(price, dict)
            or not isinstance(price.get("label"), str)
            or not isinstance(price.get("amount"), int)
        ):
            raise bad_request("can't parse prices JSON object")
    return prices


@method("sendInvoice")
async def send_invoice(world: World, params: Params) -> Any:
    user = chat_of(world, params)
    currency = params.string("currency") or ""
    prices = _prices(params)
    if currency == STARS:
        if len(prices) != 1:
            raise bad_request("STARS_INVOICE_INVALID")
    elif not params.string("provider_token"):
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    total = sum(int(p["amount"]) for p in prices)
    if total <= 0:
        raise bad_request("CURRENCY_TOTAL_AMOUNT_INVALID")
    markup = reply_markup(params)
    ensure_can_write(user)
    throttle(world, "sendInvoice", user.id)
    title = params.string("title") or ""
    description = params.string("description") or ""
    invoice = {
        "title": title,
        "description": description,
        "start_parameter": params.string("start_parameter") or "",
        "currency": currency,
        "total_amount": total,
    }
    message = user.new_message(
        from_bot=True,
        invoice={
            "title": title,
            "description": description,
            "currency": currency,
            "total_amount": total,
            "payload": params.string("payload") or "",
        },
    )
    message.raw["invoice"] = invoice
    world.set_content(message, f"{title}\n{description}", [], None, markup)
    world.changed(user.id)
    return world.message_object(user, message)


@method("answerPreCheckoutQuery")
async def answer_pre_checkout_query(world: World, params: Params) -> Any:
    query = world.pre_checkouts.get(params.string("pre_checkout_query_id") or "")
    if query is None or query.answer.done():
        raise bad_request("QUERY_ID_INVALID")
    ok = params.flag("ok")
    error_message = params.string("error_message")
    if not ok and not error_message:
        raise bad_request("ERROR_MESSAGE_EMPTY")
    query.answer.set_result((ok, error_message))
    return True


@method("refundStarPayment")
async def refund_star_payment(world: World, params: Params) -> Any:
    """Give a Stars payment back, as Telegram does: once per charge, to the member who paid.

    Telegram's errors: ``CHARGE_ID_EMPTY``, ``USER_ID_INVALID`` (no such user),
    ``CHARGE_ALREADY_REFUNDED``; a charge it does not know (or someone else's) is refused with
    ``CHARGE_NOT_FOUND`` (Telegram documents no wording for it). The refund shows in the
    member's chat as Telegram's service message, which the bot receives as well.
    """
    charge_id = params.string("telegram_payment_charge_id") or ""
    if not charge_id:
        raise bad_request("CHARGE_ID_EMPTY")
    user_id = params.integer("user_id")
    user = world.users_by_id.get(user_id) if user_id is not None else None
    if user is None:
        raise bad_request("USER_ID_INVALID")
    payment = world.star_payments.get(charge_id)
    if payment is None or payment.user_id != user.id:
        raise bad_request("CHARGE_NOT_FOUND")
    if payment.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    payment.refunded = True
    world.refunds.append((user.id, charge_id))
    user.refunded(payment)
    return True
