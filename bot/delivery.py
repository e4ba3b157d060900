"""How a message reaches a chat, whatever carries it: the errors, and what to do about each.

Each adapter turns its framework's errors into the :class:`DeliveryError` kinds below, in one
place (its channel's ``_call``); nothing else looks at a framework's exceptions. Two users act
on them: the outbox sender (``bot.sender``, through a :class:`Messenger`) and the answers to
updates (``bot.answering``, through :class:`ReplyPolicy`):

- a flood limit (429) waits ``retry_after`` and tries again;
- a passing failure (5xx, a timeout, the network) tries again with backoff;
- "message is not modified" is not an error at all (the adapter returns as if it worked);
- an edit Telegram cannot make any more (:class:`EditImpossible`) is sent as a new message;
- a chat that blocked the bot (:class:`Unreachable`) is marked so bulk messages skip it;
- anything else Telegram refused (:class:`Rejected`) will not work when tried again.

Screens travel through the outbox as JSON (:func:`screen_to_json`), rendered in the member's
language when enqueued.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from bot import metrics
from bot.bot_queries import BotQueries
from bot.screens import Button, Photo, Screen

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A message that did not go out."""


class Unreachable(DeliveryError):
    """The chat cannot be written to: the member blocked the bot or deleted their account."""


class RetryAfter(DeliveryError):
    """Telegram's flood limit (429): nothing may be sent for ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g} s")
        self.seconds = seconds


class TransientFailure(DeliveryError):
    """A passing problem (network, timeout, server error): the same message may succeed later."""


class Rejected(DeliveryError):
    """Telegram refused the message itself (a bad request): sending it again cannot help."""


class EditImpossible(Rejected):
    """The message to edit is gone or too old to edit: send the screen as a new message."""


# Bad requests that mean the chat is gone, not that the message is wrong.
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid", "bot was blocked")
# Bad requests that mean an edit cannot be made: the screen goes as a new message instead.
_NO_EDIT = ("message can't be edited", "message to edit not found", "message_id_invalid")


def is_not_modified(description: str) -> bool:
    """Telegram's answer to an edit that changes nothing: the edit is, in effect, done."""
    return "message is not modified" in description.lower()


def bad_request(description: str) -> Rejected | Unreachable:
    """What a 400 Bad Request with ``description`` means for the message."""
    lowered = description.lower()
    if any(gone in lowered for gone in _GONE):
        return Unreachable(description)
    if any(phrase in lowered for phrase in _NO_EDIT):
        return EditImpossible(description)
    return Rejected(description)


# What Telegram says when the bot cannot look into a chat (getChatMember, getChat).
_UNAVAILABLE = (
    "chat not found",
    "bot is not a member",
    "member list is inaccessible",
    "chat_admin_required",
    "bot was kicked",
)


def unavailable(chat: int | str, error: DeliveryError) -> DeliveryError:
    """``error`` of a query about ``chat`` (not a message to it), as :class:`ChatUnavailable`
    when it means the bot cannot see that chat; any other error unchanged."""
    if isinstance(error, ChatUnavailable):
        return error
    lowered = str(error).lower()
    if isinstance(error, Rejected | Unreachable) and any(p in lowered for p in _UNAVAILABLE):
        return ChatUnavailable(chat, str(error))
    return error


def counted(method: str, error: DeliveryError) -> DeliveryError:
    """``error`` of the Bot API call ``method`` (e.g. ``send_message``), counted for /metrics."""
    name = metrics.api_method(method)
    kind = {
        RetryAfter: "flood",
        TransientFailure: "transient",
        Unreachable: "unreachable",
    }.get(type(error), "rejected")
    metrics.TELEGRAM_ERRORS.labels(name, kind).inc()
    if isinstance(error, RetryAfter):
        metrics.TELEGRAM_FLOOD_WAITS.labels(name).inc()
    return error


class ChatUnavailable(Rejected):
    """The bot cannot look into ``chat``: no such chat, the bot is not in it, or it is a
    channel whose members only an admin may see. Asking again will not help until an admin
    adds the bot (or fixes the chat's name)."""

    def __init__(self, chat: int | str, reason: str = "") -> None:
        super().__init__(f"chat {chat}: {reason}" if reason else f"chat {chat} is unavailable")
        self.chat = chat
        self.reason = reason


class GaveUp(DeliveryError):
    """A message still refused for a passing reason when its deadline came."""


class ReplyPolicy:
    """Tries one Bot API call until it works, Telegram refuses it for good, or time runs out.

    429 waits ``retry_after``; a passing failure waits 1, 2, 4 ... 30 seconds (with jitter);
    both give up with :class:`GaveUp` when the next try would start after the deadline.
    :class:`Unreachable` and :class:`Rejected` are raised at once: the caller decides.
    """

    def __init__(
        self,
        deadline_seconds: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        first_backoff: float = 1.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.deadline_seconds = deadline_seconds
        self._sleep = sleep
        self._clock = clock
        self._first = first_backoff
        self._max = max_backoff

    async def attempt(
        self, call: Callable[[], Awaitable[None]], *, deadline_seconds: float | None = None
    ) -> None:
        limit = self.deadline_seconds if deadline_seconds is None else deadline_seconds
        deadline = self._clock() + limit
        backoff = self._first
        tries = 0
        while True:
            tries += 1
            try:
                await call()
                return
            except RetryAfter as error:
                wait = error.seconds + 0.1
                last: DeliveryError = error
            except TransientFailure as error:
                wait = backoff * (0.8 + 0.4 * random.random())
                backoff = min(backoff * 2, self._max)
                last = error
            if self._clock() + wait > deadline:
                raise GaveUp(f"gave up after {tries} tries: {last}") from last
            if tries == 1 or tries % 10 == 0:
                log.warning("Telegram refused an answer (%s); trying again in %.1f s", last, wait)
            await self._sleep(wait)


class Messenger(BotQueries, Protocol):
    """What the bot does outside a member's turn: the outbox's messages, Stars refunds, and
    the queries of :mod:`bot.bot_queries` (jobs check a channel's members, send polls)."""

    async def deliver(self, chat_id: int, screen: Screen) -> None:
        """Send ``screen`` as a new message; raise one of the errors above if it did not go."""
        ...

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        """Give back the payment in Telegram Stars ``charge_id`` of ``user_id`` (Bot API
        ``refundStarPayment``); raise one of the errors above if Telegram refused."""
        ...


def screen_to_json(screen: Screen) -> str:
    """A screen as the outbox keeps it: text, buttons and a photo given by URL or file id."""
    if screen.document is not None or screen.invoice is not None:
        raise ValueError("documents and invoices are not sent through the outbox")
    if screen.has_reply_keyboard:
        raise ValueError("reply keyboards answer a member's own turn, not the outbox")
    if screen.photo is not None and screen.photo.ref is None:
        raise ValueError("an outbox photo must be a URL or a file id, not uploaded bytes")
    body: dict[str, Any] = {
        "text": screen.text,
        "buttons": [
            [
                {"text": b.text, "data": b.data}
                if b.data is not None
                else {"text": b.text, "url": b.url}
                for b in row
            ]
            for row in screen.buttons
        ],
    }
    if screen.photo is not None:
        body["photo"] = screen.photo.ref
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def screen_from_json(payload: str) -> Screen:
    body = json.loads(payload)
    buttons = tuple(
        tuple(Button(b["text"], data=b.get("data"), url=b.get("url")) for b in row)
        for row in body.get("buttons", ())
    )
    photo = Photo(ref=body["photo"]) if body.get("photo") else None
    return Screen(body["text"], buttons, photo=photo)
