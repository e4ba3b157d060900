"""python-telegram-bot <-> the conversation: updates become events, outputs become API calls.

Nothing here decides what a member reads; it only translates (see :mod:`bot.answering`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any, TypeVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    Message,
    Poll,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot import delivery
from bot.answering import Incoming
from bot.bot_queries import PollSpec
from bot.channel_calls import SameCallsChannel
from bot.events import Event
from bot.ptb.request import AiohttpRequest
from bot.screens import Keyboard, Screen
from bot.update_events import event_of

log = logging.getLogger("bot.updates")
T = TypeVar("T")


# Seconds a Bot API call may take before it counts as a passing failure (and is tried again).
READ_TIMEOUT = 15.0


def build_bot(token: str, api_server: str, *, connections: int) -> Bot:
    """A ``Bot`` on Telegram's server or the Bot API server at ``api_server``, with at most
    ``connections`` calls in flight; ``getUpdates`` has a connection of its own.

    Its calls go over aiohttp (:class:`~bot.ptb.request.AiohttpRequest`), not httpx: httpcore
    walks its whole pool on every request, which with the workers' calls in flight was a third
    of the event loop's time (issue 14).
    """
    root = api_server.rstrip("/") if api_server else "https://api.telegram.org"
    return Bot(
        token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        request=AiohttpRequest(
            connections,
            read_timeout=READ_TIMEOUT,
            write_timeout=READ_TIMEOUT,
            pool_timeout=READ_TIMEOUT,
        ),
        get_updates_request=AiohttpRequest(1),
    )


def to_incoming(update: Update, bot_username: str) -> Incoming:
    """``update`` as the conversation sees it; no event for updates the mall does not handle."""
    chat = update.effective_chat
    query = update.callback_query or update.pre_checkout_query
    return Incoming(
        update.update_id,
        to_event(update, bot_username),
        chat.id if chat is not None else None,
        query.id if query is not None else None,
    )


def to_event(update: Update, bot_username: str) -> Event | None:
    """The member's action in ``update``; None for updates the mall does not handle."""
    return event_of(
        update.effective_user,
        update,
        bot_username,
        Message,
        lambda file: _fetcher(file.get_file),
    )


def _fetcher(get_file: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        file = await get_file()
        return bytes(await file.download_as_bytearray())

    return fetch


def markup(rows: Keyboard) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.text, callback_data=b.data, url=b.url) for b in row]
            for row in rows
        ]
    )


ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def reply_markup(screen: Screen) -> ReplyMarkup | None:
    """The one keyboard a sent message carries: inline buttons, a reply keyboard, or its removal."""
    if (request := screen.contact_request) is not None:
        return ReplyKeyboardMarkup(
            [
                [KeyboardButton(request.share, request_contact=True)],
                [KeyboardButton(request.cancel)],
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if screen.remove_keyboard:
        return ReplyKeyboardRemove()
    return markup(screen.buttons)


class PtbChannel(SameCallsChannel):
    """The :class:`bot.answering.Channel` of python-telegram-bot's Bot."""

    bot: Bot

    def _markup(self, rows: Keyboard) -> InlineKeyboardMarkup | None:
        return markup(rows)

    def _price(self, label: str, amount: int) -> LabeledPrice:
        return LabeledPrice(label, amount)

    async def send(self, chat_id: int, screen: Screen) -> None:
        keyboard = reply_markup(screen)
        if screen.invoice is not None:
            await self._send_invoice(chat_id, screen.invoice, screen.buttons)
        elif screen.photo is not None:
            await self._call(
                self.bot.send_photo,
                chat_id=chat_id,
                photo=screen.photo.content or screen.photo.ref,
                filename=screen.photo.filename,
                caption=screen.text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )
        elif screen.document is not None:
            document = screen.document
            with ExitStack() as files:
                upload = (
                    document.content
                    if document.path is None
                    else files.enter_context(document.path.open("rb"))
                )
                await self._call(
                    self.bot.send_document,
                    chat_id=chat_id,
                    document=upload,
                    filename=document.filename,
                    caption=screen.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard,
                )
        else:
            await self._call(
                self.bot.send_message,
                chat_id=chat_id,
                text=screen.text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard,
            )

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str:
        quiz = poll.correct_option is not None
        message = await self._call(
            self.bot.send_poll,
            chat_id=chat_id,
            question=poll.question,
            options=list(poll.options),
            is_anonymous=False,
            type=Poll.QUIZ if quiz else Poll.REGULAR,
            correct_option_ids=[poll.correct_option] if poll.correct_option is not None else None,
            explanation=poll.explanation or None,
        )
        assert message is not None, "only an edit is ever 'not modified'"
        assert message.poll is not None, "sendPoll returns the poll's message"
        return message.poll.id

    async def _call(self, method: Callable[..., Awaitable[T]], **kwargs: Any) -> T | None:
        """One API call; Telegram's errors become :mod:`bot.delivery`'s (none for "not
        modified", which leaves the message as asked). Retrying is the caller's policy."""
        try:
            return await method(**kwargs)
        except TelegramError as error:
            if isinstance(error, BadRequest) and delivery.is_not_modified(error.message):
                return None
            raise delivery.counted(method.__name__, translate(error)) from error


def translate(error: TelegramError) -> delivery.DeliveryError:
    """python-telegram-bot's error as the delivery policy knows it."""
    if isinstance(error, RetryAfter):
        with warnings.catch_warnings():  # int today, a timedelta in a later major version
            warnings.simplefilter("ignore", PTBDeprecationWarning)
            wait = error.retry_after
        seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
        return delivery.RetryAfter(float(seconds))
    if isinstance(error, Forbidden):
        return delivery.Unreachable(error.message)
    if isinstance(error, BadRequest):  # before NetworkError: BadRequest is one of them
        return delivery.bad_request(error.message)
    if isinstance(error, NetworkError):  # timeouts, connection errors, 5xx
        return delivery.TransientFailure(error.message)
    return delivery.Rejected(error.message)
