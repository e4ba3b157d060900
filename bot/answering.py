"""One update, from what a framework received to the answers in the chat: what adapters share.

An adapter turns its framework's update into an :class:`Incoming` and offers its Bot API calls
as a :class:`Channel`; :class:`UpdateHandler` does everything else the same way whichever
framework carries the update: the conversation, its outputs in order under the reply policy
(tried again through Telegram's bad minutes; an edit becomes a new message where Telegram
cannot edit), one log line per update, an apology when answering failed, and the update marked
handled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from bot import metrics
from bot.conversation import Conversation
from bot.delivery import EditImpossible, GaveUp, Rejected, ReplyPolicy, Unreachable
from bot.events import Command, Event, PreCheckout, Press, Text
from bot.screens import (
    CheckoutAnswer,
    Edit,
    Notice,
    Output,
    RefundStars,
    Screen,
    Send,
    discard_temporary,
    edit_mode,
)
from bot.tracking import Handled

log = logging.getLogger("bot.updates")
# The update kinds the mall asks Telegram for (getUpdates and setWebhook).
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query", "poll_answer"]
# What is told of a member who blocked the bot: their id and Telegram's words.
OnUnreachable = Callable[[int, str], Awaitable[None]]
# Makes a Stars refund through the channel (``bot.refunds.Refunder.refund``); True once made.
Refunding = Callable[["Channel", str], Awaitable[bool]]


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

    Each call is made once: "message is not modified" counts as done, and every other error is
    raised as one of :mod:`bot.delivery`'s, for :class:`ReplyPolicy` to act on.
    """

    async def send(self, chat_id: int, screen: Screen) -> None: ...

    async def edit(self, chat_id: int, message_id: int, screen: Screen, *, caption: bool) -> None:
        """Replace the text (or with ``caption`` the caption) and buttons of a message."""

    async def answer_press(self, query_id: str, notice: Notice) -> None: ...

    async def answer_checkout(self, query_id: str, answer: CheckoutAnswer) -> None: ...

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        """Give back a payment in Telegram Stars (``refundStarPayment``)."""


def parse_text(text: str, bot_username: str) -> Command | Text:
    """``/name@bot args`` is a command to this bot; anything else (or one for another bot) text."""
    if not text.startswith("/"):
        return Text(text)
    head, _, args = text[1:].partition(" ")
    name, _, addressee = head.partition("@")
    if addressee and addressee.lower() != bot_username.lower():
        return Text(text)
    return Command(name.lower(), args.strip())


class Answering:
    """The outputs of one update put into the chat, through ``channel``, under ``policy``.

    A message or an edit that reports what the mall did is tried again while Telegram refuses
    it for a passing reason, until the policy's deadline; an edit Telegram can no longer make
    goes as a new message; a member who blocked the bot is reported to ``on_unreachable`` and
    sent nothing more. Answers to a button press or a checkout query expire within seconds at
    Telegram, so they get a short deadline and are given up quietly.
    """

    # Telegram drops a callback query's answer after about 15 s, a pre-checkout's after 10 s.
    QUERY_DEADLINE = 8.0

    def __init__(
        self,
        incoming: Incoming,
        event: Event,
        channel: Channel,
        policy: ReplyPolicy,
        on_unreachable: OnUnreachable,
        refunding: Refunding | None = None,
    ) -> None:
        self.incoming = incoming
        self.event = event
        self.channel = channel
        self.policy = policy
        self.on_unreachable = on_unreachable
        self.refunding = refunding

    async def render(self, outputs: list[Output]) -> None:
        """Make the outputs in order; raise what Telegram refused for good (an apology
        follows), or :class:`GaveUp` once an answer's deadline passed."""
        alongside = self._plain_press_answer(outputs)
        if alongside is None:
            await self._in_order(outputs)
            return
        notice, query_id = alongside
        answering = asyncio.create_task(self._answer_alongside(query_id, notice))
        try:
            await self._in_order([o for o in outputs if o is not notice])
        finally:
            await answering

    async def _answer_alongside(self, query_id: str, notice: Notice) -> None:
        try:
            await self._answer_query(partial(self.channel.answer_press, query_id, notice))
        except Unreachable:  # blocked: the edit or message beside it reports that
            log.info("update %s: query not answered: bot blocked", self.incoming.update_id)

    def _plain_press_answer(self, outputs: list[Output]) -> tuple[Notice, str] | None:
        """The press's answer, when it has no words the member must read before the rest.

        An empty answer only stops the button's spinner: it goes alongside the edit or the
        message (one round trip instead of two after each other) rather than before or after
        it. An answer with text (a toast, an alert) keeps its place in the order.
        """
        query_id = self.incoming.query_id
        if not isinstance(self.event.action, Press) or query_id is None:
            return None
        notice = next((o for o in outputs if isinstance(o, Notice)), None)
        if notice is None or notice.text or len(outputs) < 2:
            return None
        return notice, query_id

    async def _in_order(self, outputs: list[Output]) -> None:
        incoming, event, channel = self.incoming, self.event, self.channel
        action = event.action
        for index, output in enumerate(outputs):
            try:
                if isinstance(output, Send):
                    chat = output.chat_id or event.sender.user_id
                    await self._deliver(partial(channel.send, chat, output.screen))
                elif isinstance(output, Edit):
                    await self._edit(output.screen)
                elif isinstance(output, Notice):
                    if isinstance(action, Press) and incoming.query_id is not None:
                        await self._answer_query(
                            partial(channel.answer_press, incoming.query_id, output)
                        )
                elif isinstance(output, RefundStars):
                    # Once, now; a refusal is recorded and the refunds job tries again.
                    if self.refunding is not None:
                        await self.refunding(channel, output.charge_id)
                elif isinstance(action, PreCheckout) and incoming.query_id is not None:
                    await self._answer_query(
                        partial(channel.answer_checkout, incoming.query_id, output)
                    )
            except Unreachable as error:
                await self.on_unreachable(event.sender.user_id, str(error))
                return
            except GaveUp:
                for lost in outputs[index:]:
                    metrics.REPLIES_UNDELIVERED.labels(type(lost).__name__.lower()).inc()
                raise

    async def _deliver(self, call: Callable[[], Awaitable[None]]) -> None:
        await self.policy.attempt(call)

    async def _answer_query(self, call: Callable[[], Awaitable[None]]) -> None:
        try:
            await self.policy.attempt(call, deadline_seconds=self.QUERY_DEADLINE)
        except (GaveUp, Rejected) as error:  # expired at Telegram: the answer that follows counts
            log.info("update %s: query not answered: %s", self.incoming.update_id, error)

    async def _edit(self, screen: Screen) -> None:
        incoming, event, channel = self.incoming, self.event, self.channel
        action = event.action
        if not isinstance(action, Press) or incoming.chat_id is None:
            await self._deliver(lambda: channel.send(event.sender.user_id, screen))
            return
        chat_id = incoming.chat_id
        mode = edit_mode(screen, action.has_media)
        if mode == "send":
            await self._deliver(lambda: channel.send(chat_id, screen))
            return
        try:
            await self._deliver(
                lambda: channel.edit(chat_id, action.message_id, screen, caption=mode == "caption")
            )
        except EditImpossible:
            await self._deliver(lambda: channel.send(chat_id, screen))


class UpdateHandler:
    """The one handler of every update: event -> conversation -> channel, a log line, handled."""

    def __init__(
        self,
        conversation: Conversation,
        handled: Handled,
        policy: ReplyPolicy,
        on_unreachable: OnUnreachable,
        refunding: Refunding | None = None,
    ) -> None:
        self.conversation = conversation
        self.handled = handled
        self.policy = policy
        self.on_unreachable = on_unreachable
        self.refunding = refunding

    async def __call__(self, incoming: Incoming, channel: Channel) -> None:
        started = time.perf_counter()
        outcome = "ignored"
        try:
            event = incoming.event
            if event is None:
                return
            outputs = await self.conversation.handle(event)
            answering = Answering(
                incoming, event, channel, self.policy, self.on_unreachable, self.refunding
            )
            outcome = "answered"
            try:
                try:
                    await answering.render(outputs)
                finally:
                    discard_temporary(outputs)
            except GaveUp as error:
                outcome = "undelivered"
                log.error(
                    "update %s from %s: answer not delivered, Telegram kept refusing: %s",
                    incoming.update_id,
                    event.sender.user_id,
                    error,
                )
            except Exception:
                outcome = "apologized"
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
            metrics.UPDATES_HANDLED.labels(outcome).inc()
            metrics.UPDATE_SECONDS.observe(time.perf_counter() - started)
            self.handled.done(incoming.update_id)

    async def _apologize(self, incoming: Incoming, event: Event, channel: Channel) -> None:
        t = self.conversation.languages[event.sender.language_code or "en"]
        try:
            if isinstance(event.action, Press) and incoming.query_id is not None:
                await channel.answer_press(incoming.query_id, Notice())
            await channel.send(event.sender.user_id, Screen(t("error.unexpected")))
        except Exception:
            log.exception("could not apologize for update %s", incoming.update_id)
