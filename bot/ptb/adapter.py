"""python-telegram-bot <-> the conversation: updates become events, outputs become API calls.

Nothing here decides what a member reads; it only translates.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import BaseUpdateProcessor

from bot.conversation import Conversation
from bot.events import (
    Action,
    Command,
    Event,
    Paid,
    PreCheckout,
    Press,
    Sender,
    Text,
    Upload,
)
from bot.ordering import ChatOrder
from bot.screens import CheckoutAnswer, Edit, Keyboard, Notice, Output, Screen, Send, edit_mode
from bot.tracking import Handled

log = logging.getLogger("bot.updates")
T = TypeVar("T")


def to_event(update: Update, bot_username: str) -> Event | None:
    """The member's action in ``update``; None for updates the mall does not handle."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    sender = Sender(user.id, user.first_name, user.last_name, user.username, user.language_code)
    action = _action(update, bot_username)
    return None if action is None else Event(sender, action)


def _action(update: Update, bot_username: str) -> Action | None:
    if (query := update.callback_query) is not None:
        message = query.message
        if query.data is None or not isinstance(message, Message):
            return None
        return Press(query.data, message.message_id, _has_media(message))
    if (checkout := update.pre_checkout_query) is not None:
        return PreCheckout(checkout.invoice_payload, checkout.currency, checkout.total_amount)
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
    if (document := message.document) is not None:
        return Upload(
            document.file_name or "document",
            document.mime_type or "application/octet-stream",
            document.file_size or 0,
            _fetcher(document.get_file),
            message.caption or "",
        )
    if message.photo:
        photo = message.photo[-1]
        return Upload("photo.jpg", "image/jpeg", photo.file_size or 0, _fetcher(photo.get_file))
    return None


def parse_text(text: str, bot_username: str) -> Command | Text:
    if not text.startswith("/"):
        return Text(text)
    head, _, args = text[1:].partition(" ")
    name, _, addressee = head.partition("@")
    if addressee and addressee.lower() != bot_username.lower():
        return Text(text)
    return Command(name.lower(), args.strip())


def _fetcher(get_file: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        file = await get_file()
        return bytes(await file.download_as_bytearray())

    return fetch


def _has_media(message: Message) -> bool:
    return bool(message.photo or message.document or message.invoice)


def markup(rows: Keyboard) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.text, callback_data=b.data, url=b.url) for b in row]
            for row in rows
        ]
    )


class Renderer:
    """Puts a conversation's outputs into the chat with python-telegram-bot's Bot."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def render(self, update: Update, outputs: list[Output]) -> None:
        chat_id = update.effective_user.id if update.effective_user else None
        for output in outputs:
            if isinstance(output, Send):
                target = output.chat_id or chat_id
                if target is not None:
                    await self.send(target, output.screen)
            elif isinstance(output, Edit):
                await self._edit(update, output.screen)
            elif isinstance(output, Notice):
                if update.callback_query is not None:
                    await self._call(
                        update.callback_query.answer,
                        text=output.text or None,
                        show_alert=output.alert,
                    )
            elif isinstance(output, CheckoutAnswer) and update.pre_checkout_query is not None:
                await self._call(
                    update.pre_checkout_query.answer, ok=output.ok, error_message=output.error
                )

    async def send(self, chat_id: int, screen: Screen) -> Message | None:
        keyboard = markup(screen.buttons)
        if screen.invoice is not None:
            invoice = screen.invoice
            return await self._call(
                self.bot.send_invoice,
                chat_id=chat_id,
                title=invoice.title,
                description=invoice.description,
                payload=invoice.payload,
                currency=invoice.currency,
                prices=[LabeledPrice(invoice.label, invoice.amount)],
                reply_markup=keyboard,
            )
        if screen.photo is not None:
            return await self._call(
                self.bot.send_photo,
                chat_id=chat_id,
                photo=screen.photo.content or screen.photo.ref,
                filename=screen.photo.filename,
                caption=screen.text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
        if screen.document is not None:
            return await self._call(
                self.bot.send_document,
                chat_id=chat_id,
                document=screen.document.content,
                filename=screen.document.filename,
                caption=screen.text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
        return await self._call(
            self.bot.send_message,
            chat_id=chat_id,
            text=screen.text,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )

    async def _edit(self, update: Update, screen: Screen) -> None:
        query = update.callback_query
        message = query.message if query is not None else None
        if not isinstance(message, Message):
            if update.effective_user is not None:
                await self.send(update.effective_user.id, screen)
            return
        mode = edit_mode(screen, _has_media(message))
        keyboard = markup(screen.buttons)
        if mode == "send":
            await self.send(message.chat.id, screen)
        elif mode == "caption":
            await self._call(
                message.edit_caption,
                caption=screen.text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
        else:
            await self._call(
                message.edit_text,
                text=screen.text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )

    async def _call(self, method: Callable[..., Awaitable[T]], **kwargs: Any) -> T | None:
        """One API call; waits out a flood limit once, ignores "not modified" and blocked chats."""
        for attempt in range(2):
            try:
                return await method(**kwargs)
            except RetryAfter as exc:
                if attempt:
                    raise
                delay = exc.retry_after
                await asyncio.sleep(
                    delay.total_seconds() if hasattr(delay, "total_seconds") else delay
                )
            except BadRequest as exc:
                if "not modified" in exc.message.lower():
                    return None
                raise
            except Forbidden as exc:
                log.info("chat unreachable: %s", exc.message)
                return None
        return None


class OrderedUpdates(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat (see :mod:`bot.ordering`)."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._order = ChatOrder()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat_id = None
        if isinstance(update, Update) and update.effective_user is not None:
            chat_id = update.effective_user.id
        await self._order.run(chat_id, coroutine)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


class UpdateHandler:
    """The one handler: event -> conversation -> render, with a log line per update."""

    def __init__(self, conversation: Conversation, handled: Handled) -> None:
        self.conversation = conversation
        self.handled = handled

    async def __call__(self, update: Update, renderer: Renderer) -> None:
        started = time.perf_counter()
        try:
            event = to_event(update, self.conversation.bot_username)
            if event is None:
                return
            outputs = await self.conversation.handle(event)
            try:
                await renderer.render(update, outputs)
            except Exception:
                log.exception("could not answer update %s: %r", update.update_id, event.action)
                await _apologize(renderer, update, self.conversation, event)
            log.info(
                "update %s from %s: %s -> %d outputs in %.0f ms",
                update.update_id,
                event.sender.user_id,
                type(event.action).__name__.lower(),
                len(outputs),
                (time.perf_counter() - started) * 1000,
            )
        finally:
            self.handled.done(update.update_id)


async def _apologize(
    renderer: Renderer, update: Update, conversation: Conversation, event: Event
) -> None:
    t = conversation.languages[event.sender.language_code or "en"]
    try:
        if update.callback_query is not None:
            await update.callback_query.answer()
        await renderer.send(event.sender.user_id, Screen(t("error.unexpected")))
    except Exception:
        log.exception("could not apologize for update %s", update.update_id)
