"""Bot API payment methods, for Telegram Stars: sendInvoice and answerPreCheckoutQuery."""

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
