"""One update, from what a framework received to the answers in the chat: what adapters share.

An adapter turns its framework's update into an :class:`Incoming` and offers its Bot API calls
as a :class:`Channel`; :class:`UpdateHandler` does everything else the same way whichever
framework carries the update: the conversation, its outputs in order (an edit becomes a new
message where Telegram cannot edit), one log line per update, an apology when answering failed,
and the update marked handled.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from bot.conversation import Conversation
from bot.events import Command, Event, PreCheckout, Press, Text
from bot.screens import CheckoutAnswer, Edit, Notice, Output, Screen, Send, edit_mode
from bot.tracking import Handled

log = logging.getLogger("bot.updates")
# The update kinds the mall asks Telegram for (getUpdates and setWebhook).
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]
# Updates of different chats handled at once; one chat's updates stay in order.
CONCURRENT_UPDATES = 64


@dataclass(frozen=True)
class Incoming:
    """An update as the framework received it, translated.

    ``event`` is None for an update the mall does not handle (a group message, a bot);
    ``chat_id`` is the chat of the message sent or pressed, ``query_id`` the callback or
    pre-checkout query to answer.
    """

    update_id: int
    event: Event | None
    chat_id: int | None = None
    query_id: str | None = None


class Channel(Protocol):
    """The Bot API calls that put outputs into a chat, made with one framework's objects.

    Each call waits out one flood limit, ignores "message is not modified" and logs a chat that
    blocked the bot instead of failing; anything else raises.
    """

    async def send(self, chat_id: int, screen: Screen) -> None: ...

    async def edit(self, chat_id: int, message_id: int, screen: Screen, *, caption: bool) -> None:
        """Replace the text (or with ``caption`` the caption) and buttons of a message."""

    async def answer_press(self, query_id: str, notice: Notice) -> None: ...

    async def answer_checkout(self, query_id: str, answer: CheckoutAnswer) -> None: ...


def parse_text(text: str, bot_username: str) -> Command | Text:
    """``/name@bot args`` is a command to this bot; anything else (or one for another bot) text."""
    if not text.startswith("/"):
        return Text(text)
    head, _, args = text[1:].partition(" ")
    name, _, addressee = head.partition("@")
    if addressee and addressee.lower() != bot_username.lower():
        return Text(text)
    return Command(name.lower(), args.strip())


async def render(incoming: Incoming, event: Event, outputs: list[Output], channel: Channel) -> None:
    """Make the outputs of one update, in order."""
    action = event.action
    for output in outputs:
        if isinstance(output, Send):
            await channel.send(output.chat_id or event.sender.user_id, output.screen)
        elif isinstance(output, Edit):
            await _edit(incoming, event, output.screen, channel)
        elif isinstance(output, Notice):
            if isinstance(action, Press) and incoming.query_id is not None:
                await channel.answer_press(incoming.query_id, output)
        elif isinstance(action, PreCheckout) and incoming.query_id is not None:
            await channel.answer_checkout(incoming.query_id, output)


async def _edit(incoming: Incoming, event: Event, screen: Screen, channel: Channel) -> None:
    action = event.action
    if not isinstance(action, Press) or incoming.chat_id is None:
        await channel.send(event.sender.user_id, screen)
        return
    mode = edit_mode(screen, action.has_media)
    if mode == "send":
        await channel.send(incoming.chat_id, screen)
    else:
        await channel.edit(incoming.chat_id, action.message_id, screen, caption=mode == "caption")


class UpdateHandler:
    """The one handler of every update: event -> conversation -> channel, a log line, handled."""

    def __init__(self, conversation: Conversation, handled: Handled) -> None:
        self.conversation = conversation
        self.handled = handled

    async def __call__(self, incoming: Incoming, channel: Channel) -> None:
        started = time.perf_counter()
        try:
            event = incoming.event
            if event is None:
                return
            outputs = await self.conversation.handle(event)
            try:
                await render(incoming, event, outputs, channel)
            except Exception:
                log.exception("could not answer update %s: %r", incoming.update_id, event.action)
                await self._apologize(incoming, event, channel)
            log.info(
                "update %s from %s: %s -> %d outputs in %.0f ms",
                incoming.update_id,
                event.sender.user_id,
                type(event.action).__name__.lower(),
                len(outputs),
                (time.perf_counter() - started) * 1000,
            )
        finally:
            self.handled.done(incoming.update_id)

    async def _apologize(self, incoming: Incoming, event: Event, channel: Channel) -> None:
        t = self.conversation.languages[event.sender.language_code or "en"]
        try:
            if isinstance(event.action, Press) and incoming.query_id is not None:
                await channel.answer_press(incoming.query_id, Notice())
            await channel.send(event.sender.user_id, Screen(t("error.unexpected")))
        except Exception:
            log.exception("could not apologize for update %s", incoming.update_id)
