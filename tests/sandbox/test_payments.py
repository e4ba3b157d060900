"""Invoices in Telegram Stars: the member pays, the bot confirms or refuses."""

from __future__ import annotations

import asyncio

import aiogram
import pytest
import telegram
from telegram import LabeledPrice

from bot.sandbox import PaymentRefused, Sandbox


async def send_invoice(bot: telegram.Bot, chat_id: int, payload: str) -> telegram.Message:
    return await bot.send_invoice(
        chat_id,
        title="500 points",
        description="Top up your balance",
        payload=payload,
        currency="XTR",
        prices=[LabeledPrice("500 points", 50)],
    )


async def answer_next_pre_checkout(bot: telegram.Bot, ok: bool, error: str | None = None) -> str:
    while True:
        for update in await bot.get_updates(timeout=1):
            await bot.get_updates(offset=update.update_id + 1, timeout=0)
            if update.pre_checkout_query is not None:
                query = update.pre_checkout_query
                await bot.answer_pre_checkout_query(query.id, ok, error_message=error)
                return query.invoice_payload


async def test_ann_pays_an_invoice_and_the_bot_sees_the_payment(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("top up")
    sent = await send_invoice(ptb, ann.id, "order-17")
    assert sent.invoice is not None
    assert (sent.invoice.currency, sent.invoice.total_amount) == ("XTR", 50)
    assert ann.last.invoice == {
        "title": "500 points",
        "description": "Top up your balance",
        "currency": "XTR",
        "total_amount": 50,
        "payload": "order-17",
    }
    await ptb.get_updates(offset=-1, timeout=0)  # forget Ann's "top up"

    paying = asyncio.create_task(ann.pay())
    assert await answer_next_pre_checkout(ptb, ok=True) == "order-17"
    update_id = await paying
    updates = await ptb.get_updates(offset=update_id, timeout=0)
    payment = updates[0].message.successful_payment
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == (
        "XTR",
        50,
        "order-17",
    )
    assert payment.telegram_payment_charge_id
    assert sandbox.violations == []


async def test_a_refused_pre_checkout_raises_with_the_bots_reason(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("top up")
    await send_invoice(ptb, ann.id, "order-18")
    await ptb.get_updates(offset=-1, timeout=0)
    paying = asyncio.create_task(ann.pay())
    await answer_next_pre_checkout(ptb, ok=False, error="Sold out")
    with pytest.raises(PaymentRefused, match="Sold out"):
        await paying
    assert not [m for m in ann.messages if m.payment]


async def test_stars_invoices_need_one_price_and_others_a_provider(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    with pytest.raises(telegram.error.BadRequest, match="Payment_provider_invalid"):
        await ptb.send_invoice(ann.id, "t", "d", "p", "USD", [LabeledPrice("x", 100)])
    with pytest.raises(LookupError, match="no invoice"):
        await ann.pay()


async def test_a_stars_payment_is_refunded_once_with_telegrams_errors_and_a_service_message(
    sandbox: Sandbox, ptb: telegram.Bot, aio: aiogram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    bob = sandbox.add_user("Bob")
    ann.send("top up")
    await send_invoice(ptb, ann.id, "order-18")
    await ptb.get_updates(offset=-1, timeout=0)
    paying = asyncio.create_task(ann.pay())
    await answer_next_pre_checkout(ptb, ok=True)
    update_id = await paying
    updates = await ptb.get_updates(offset=update_id, timeout=0)
    charge = updates[0].message.successful_payment.telegram_payment_charge_id

    for user_id, charge_id, error in (
        (bob.id, charge, "CHARGE_NOT_FOUND"),  # someone else's payment
        (ann.id, "stxUNKNOWN", "CHARGE_NOT_FOUND"),
        (999, charge, "USER_ID_INVALID"),
    ):
        with pytest.raises(telegram.error.BadRequest, match=f"(?i){error}"):
            await ptb.refund_star_payment(user_id, charge_id)
    assert sandbox.refunds == []

    assert await aio.refund_star_payment(user_id=ann.id, telegram_payment_charge_id=charge)
    with pytest.raises(telegram.error.BadRequest, match=r"(?i)CHARGE_ALREADY_REFUNDED"):
        await ptb.refund_star_payment(ann.id, charge)

    assert sandbox.refunds == [(ann.id, charge)]
    (service,) = [m for m in ann.messages if m.refund is not None]
    assert (service.refund["total_amount"], service.refund["telegram_payment_charge_id"]) == (
        50,
        charge,
    )
    updates = await ptb.get_updates(offset=update_id + 1, timeout=0)
    refunded = updates[-1].message.refunded_payment
    assert (refunded.total_amount, refunded.telegram_payment_charge_id) == (50, charge)
    assert sandbox.violations == []
