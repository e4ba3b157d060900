"""An update read as the member's action, written once for both adapters.

python-telegram-bot's and aiogram's ``Update`` name their fields after the Bot API, so what a
press, a payment, a vote, a text, a contact, a document or a photo becomes reads the same on
both. Each adapter supplies the framework's pieces: who acted, its ``Message`` class (a press on
a message too old to read carries another type) and how a file is downloaded. Framework-free,
like :mod:`bot.channel_calls`, so neither adapter imports the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.answering import parse_text
from bot.events import (
    Action,
    Contact,
    Event,
    Paid,
    PollAnswer,
    PreCheckout,
    Press,
    Sender,
    Upload,
)

# A document or photo size of the framework -> the download of its bytes.
Fetcher = Callable[[Any], Callable[[], Awaitable[bytes]]]


def event_of(
    user: Any, update: Any, bot_username: str, message_type: type[Any], fetcher: Fetcher
) -> Event | None:
    """``user``'s action in ``update``; None for bots and updates the mall does not handle."""
    if user is None or user.is_bot:
        return None
    sender = Sender(user.id, user.first_name, user.last_name, user.username, user.language_code)
    action = _action(update, bot_username, message_type, fetcher)
    return None if action is None else Event(sender, action)


def _action(
    update: Any, bot_username: str, message_type: type[Any], fetcher: Fetcher
) -> Action | None:
    if (query := update.callback_query) is not None:
        message = query.message
        if query.data is None or not isinstance(message, message_type):
            return None
        return Press(query.data, message.message_id, _has_media(message))
    if (checkout := update.pre_checkout_query) is not None:
        return PreCheckout(checkout.invoice_payload, checkout.currency, checkout.total_amount)
    if (vote := update.poll_answer) is not None:
        return PollAnswer(vote.poll_id, tuple(vote.option_ids))
    message = update.message
    if message is None or message.chat.type != "private":
        return None
    if (payment := message.successful_payment) is not None:
        return Paid(
            payment.invoice_payload,
            payment.currency,
            payment.total_amount,
            payment.telegram_payment_charge_id,
        )
    if message.text is not None:
        return parse_text(message.text, bot_username)
    if (contact := message.contact) is not None:
        return Contact(contact.phone_number, contact.user_id)
    if (document := message.document) is not None:
        return Upload(
            document.file_name or "document",
            document.mime_type or "application/octet-stream",
            document.file_size or 0,
            fetcher(document),
            message.caption or "",
            document.file_id,
        )
    if message.photo:
        photo = message.photo[-1]
        return Upload(
            "photo.jpg",
            "image/jpeg",
            photo.file_size or 0,
            fetcher(photo),
            message.caption or "",
            photo.file_id,
            picture=True,
        )
    return None


def _has_media(message: Any) -> bool:
    """Whether the message carries a photo, a document or an invoice, not text alone."""
    return bool(message.photo or message.document or message.invoice)
