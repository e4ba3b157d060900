"""The outbox sender's :class:`~bot.delivery.Messenger` on python-telegram-bot: a ``Bot`` of its own
behind the adapter's channel (:class:`bot.channel_calls.ChannelMessenger`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.channel_calls import ChannelMessenger
from bot.ptb.adapter import PtbChannel, build_bot


@asynccontextmanager
async def open_messenger(
    token: str, api_server: str = "", *, connections: int = 16
) -> AsyncIterator[ChannelMessenger]:
    """A messenger with a ``Bot`` of its own, whichever framework answers the updates.

    ``api_server`` is ``[telegram] api_server`` ('' for Telegram's); ``connections`` bounds the
    calls in flight (keep it at least ``[sender] concurrency``).
    """
    bot = build_bot(token, api_server, connections=connections)
    async with bot:
        yield ChannelMessenger(PtbChannel(bot))
