"""The outbox sender's :class:`~bot.delivery.Messenger` on python-telegram-bot.

One API call per message, no retry of its own: the sender decides what an error means for
the row (``bot.sender``). Telegram's errors are translated by the adapter's channel, the one
place that reads python-telegram-bot's exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Bot

from bot.bot_queries import ChatMembership, PollSpec
from bot.ptb.adapter import PtbChannel, build_bot
from bot.screens import Screen


class PtbMessenger:
    """Delivers outbox screens, refunds Stars and makes jobs' queries (python-telegram-bot)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self._channel = PtbChannel(bot)

    async def deliver(self, chat_id: int, screen: Screen) -> None:
        await self._channel.send(chat_id, screen)

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        await self._channel.refund_star_payment(user_id, charge_id)

    async def chat_member(self, chat_id: int | str, user_id: int) -> ChatMembership:
        return await self._channel.chat_member(chat_id, user_id)

    async def bot_member(self, chat_id: int | str) -> ChatMembership:
        return await self._channel.bot_member(chat_id)

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str:
        return await self._channel.send_poll(chat_id, poll)


@asynccontextmanager
async def open_messenger(
    token: str, api_server: str = "", *, connections: int = 16
) -> AsyncIterator[PtbMessenger]:
    """A messenger with a ``Bot`` of its own, whichever framework answers the updates.

    ``api_server`` is ``[telegram] api_server`` ('' for Telegram's); ``connections`` bounds the
    calls in flight (keep it at least ``[sender] concurrency``).
    """
    bot = build_bot(token, api_server, connections=connections)
    async with bot:
        yield PtbMessenger(bot)
