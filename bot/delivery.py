"""Sending a screen to a chat outside any update: what the sender needs from an adapter.

Each adapter implements :class:`Messenger` (``bot.ptb.messenger`` for python-telegram-bot) and
turns its framework's errors into the three the sender acts on. Screens travel through the
outbox as JSON (:func:`screen_to_json`), rendered in the member's language when enqueued.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from bot.screens import Button, Photo, Screen


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


class Messenger(Protocol):
    async def deliver(self, chat_id: int, screen: Screen) -> None:
        """Send ``screen`` as a new message; raise one of the errors above if it did not go."""
        ...


def screen_to_json(screen: Screen) -> str:
    """A screen as the outbox keeps it: text, buttons and a photo given by URL or file id."""
    if screen.document is not None or screen.invoice is not None:
        raise ValueError("documents and invoices are not sent through the outbox")
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
