"""aiogram 3 <-> the conversation: updates become events, outputs become API calls.

Nothing here decides what a member reads; it only translates (see :mod:`bot.answering`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputPollOption,
    KeyboardButton,
    LabeledPrice,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)
from aiohttp import ClientError, ClientTimeout

from bot import delivery
from bot.answering import Incoming
from bot.bot_queries import PollSpec
from bot.channel_calls import HTML, SameCallsChannel
from bot.events import Event
from bot.screens import Keyboard, Screen
from bot.update_events import event_of

log = logging.getLogger("bot.updates")
T = TypeVar("T")


# Seconds a Bot API call may take before it counts as a passing failure (and is tried again).
READ_TIMEOUT = 15


_JSON_BODY = {"Content-Type": "application/json"}
# ``Response[T]`` for each return type ``T`` of the methods called, held for the process's life.
_RESPONSE_TYPES: dict[Any, Any] = {}


class KeptResponsesSession(AiohttpSession):
    """aiogram's aiohttp session, with the generic response models it reads kept alive.

    aiogram reads every answer with ``Response[method.__returning__]``; pydantic caches those
    parametrized models only weakly (2.12 dropped the small strong cache), so the garbage
    collector takes them back and the next call rebuilds one: 10-25 ms of CPU each time, with
    every other update waiting (39 rebuilds in 624 calls, 6% of the process's time, measured).
    Holding each one here makes every call after the first a cache hit.
    """

    def check_response(
        self, bot: Bot, method: TelegramMethod[T], status_code: int, content: str
    ) -> Response[T]:
        returning = method.__returning__
        if returning not in _RESPONSE_TYPES:
            _RESPONSE_TYPES[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[T],
        timeout: int | None = None,  # noqa: ASYNC109 (aiogram's signature)
    ) -> T:
        """One call, its parameters sent as a JSON body (``application/json``, which the Bot
        API takes for every method) unless it uploads files.

        aiogram sends a form: every object JSON-encoded, then the whole percent-encoded byte by
        byte (``urllib.parse.quote_plus``), 0.4 ms of CPU for a keyboard of emoji buttons and
        13% of the event loop's time in issue 14's profile; one ``json.dumps`` does it here.
        A call with files goes as aiogram's multipart form, as before.
        """
        files: dict[str, InputFile] = {}
        fields: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if prepared is not None and prepared != "":  # what aiogram's form leaves out
                fields[key] = prepared
        if files:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(fields),
                headers=_JSON_BODY,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as answer:
                content = await answer.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            message = f"{type(error).__name__}: {error}"
            raise TelegramNetworkError(method=method, message=message) from error
        response = self.check_response(bot, method, answer.status, content)
        return cast(T, response.result)


def build_bot(token: str, api_server: str, *, connections: int = 100) -> Bot:
    """aiogram's Bot, on Telegram's server or the Bot API server at ``api_server``, with at
    most ``connections`` calls in flight."""
    api = TelegramAPIServer.from_base(api_server) if api_server else PRODUCTION
    # aiohttp keeps idle connections alive (15 s) in per-host queues, so its limit costs nothing
    # per request: it only bounds the calls in flight, as python-telegram-bot's pool does.
    session = KeptResponsesSession(api=api, limit=connections, timeout=READ_TIMEOUT)
    return Bot(token, session=session)


def to_incoming(update: Update, bot: Bot, bot_username: str) -> Incoming:
    """``update`` as the conversation sees it; no event for updates the mall does not handle."""
    query = update.callback_query or update.pre_checkout_query
    return Incoming(
        update.update_id,
        to_event(update, bot, bot_username),
        chat_of(update),
        query.id if query is not None else None,
    )


def chat_of(update: Update) -> int | None:
    """The chat of the message sent or pressed (None for a pre-checkout query)."""
    if update.message is not None:
        return update.message.chat.id
    query = update.callback_query
    if query is not None and query.message is not None:
        return query.message.chat.id
    return None


def sender_of(update: Update) -> User | None:
    """Who acted: the author of a message, the presser of a button, the payer, the voter."""
    for source in (update.message, update.callback_query, update.pre_checkout_query):
        if source is not None:
            return source.from_user
    if update.poll_answer is not None:  # None when an anonymous admin voted for a chat
        return update.poll_answer.user
    return None


def to_event(update: Update, bot: Bot, bot_username: str) -> Event | None:
    """The member's action in ``update``; None for updates the mall does not handle."""
    return event_of(
        sender_of(update),
        update,
        bot_username,
        Message,
        lambda file: _fetcher(bot, file.file_id),
    )


def _fetcher(bot: Bot, file_id: str) -> Callable[[], Awaitable[bytes]]:
    async def fetch() -> bytes:
        downloaded = await bot.download(file_id)
        assert downloaded is not None, "without a destination aiogram returns the bytes"
        return downloaded.read()

    return fetch


def markup(rows: Keyboard) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.text, callback_data=b.data, url=b.url) for b in row]
            for row in rows
        ]
    )


ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


def reply_markup(screen: Screen) -> ReplyMarkup | None:
    """The one keyboard a sent message carries: inline buttons, a reply keyboard, or its removal."""
    if (request := screen.contact_request) is not None:
        return ReplyKeyboardMarkup(
            keyboard=[
                [KeyboardButton(text=request.share, request_contact=True)],
                [KeyboardButton(text=request.cancel)],
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if screen.remove_keyboard:
        return ReplyKeyboardRemove()
    return markup(screen.buttons)


class AiogramChannel(SameCallsChannel):
    """The :class:`bot.answering.Channel` of aiogram's Bot."""

    bot: Bot

    def _markup(self, rows: Keyboard) -> InlineKeyboardMarkup | None:
        return markup(rows)

    def _price(self, label: str, amount: int) -> LabeledPrice:
        return LabeledPrice(label=label, amount=amount)

    async def send(self, chat_id: int, screen: Screen) -> None:
        keyboard = reply_markup(screen)
        if screen.invoice is not None:
            await self._send_invoice(chat_id, screen.invoice, screen.buttons)
        elif screen.photo is not None:
            photo = screen.photo
            await self._call(
                self.bot.send_photo,
                chat_id=chat_id,
                photo=(
                    BufferedInputFile(photo.content, photo.filename)
                    if photo.content is not None
                    else photo.ref
                ),
                caption=screen.text,
                parse_mode=HTML,
                reply_markup=keyboard,
            )
        elif screen.document is not None:
            document = screen.document
            await self._call(
                self.bot.send_document,
                chat_id=chat_id,
                document=(
                    BufferedInputFile(document.content, document.filename)
                    if document.content is not None
                    else FSInputFile(str(document.path), document.filename)
                ),
                caption=screen.text,
                parse_mode=HTML,
                reply_markup=keyboard,
            )
        else:
            await self._call(
                self.bot.send_message,
                chat_id=chat_id,
                text=screen.text,
                parse_mode=HTML,
                reply_markup=keyboard,
            )

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str:
        quiz = poll.correct_option is not None
        message = await self._call(
            self.bot.send_poll,
            chat_id=chat_id,
            question=poll.question,
            options=[InputPollOption(text=option) for option in poll.options],
            is_anonymous=False,
            type="quiz" if quiz else "regular",
            correct_option_ids=[poll.correct_option] if poll.correct_option is not None else None,
            explanation=poll.explanation or None,
        )
        assert message is not None, "only an edit is ever 'not modified'"
        assert message.poll is not None, "sendPoll returns the poll's message"
        return message.poll.id

    async def _call(self, method: Callable[..., Awaitable[T]], **kwargs: Any) -> T | None:
        """One API call; aiogram's errors become :mod:`bot.delivery`'s (none for "not
        modified", which leaves the message as asked). Retrying is the caller's policy."""
        try:
            return await method(**kwargs)
        except (TelegramAPIError, TelegramNetworkError, ClientDecodeError) as error:
            if isinstance(error, TelegramBadRequest) and delivery.is_not_modified(error.message):
                return None
            raise delivery.counted(getattr(method, "__name__", "call"), translate(error)) from error


def translate(error: Exception) -> delivery.DeliveryError:
    """aiogram's error as the delivery policy knows it."""
    if isinstance(error, TelegramRetryAfter):
        return delivery.RetryAfter(float(error.retry_after))
    if isinstance(error, TelegramForbiddenError):
        return delivery.Unreachable(error.message)
    if isinstance(error, TelegramBadRequest):
        return delivery.bad_request(error.message)
    if isinstance(error, TelegramEntityTooLarge):  # a network error by class, but final
        return delivery.Rejected(error.message)
    if isinstance(error, TelegramNetworkError | TelegramServerError):  # timeouts, 5xx
        return delivery.TransientFailure(error.message)
    if isinstance(error, ClientDecodeError):  # a garbled answer (a proxy's 502 page)
        return delivery.TransientFailure(str(error))
    if isinstance(error, TelegramAPIError):
        return delivery.Rejected(error.message)
    return delivery.Rejected(str(error))
