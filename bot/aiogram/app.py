"""The Bot API on aiogram 3: what :mod:`bot.running` needs from a framework.

aiogram's ``Dispatcher`` is not used: updates are fetched here and stored in the inbox before
the next ``getUpdates`` confirms them (``bot.receiving``), or arrive through the process's own
webhook listener (``bot.http``); the inbox's workers hand each one back here to be read as
aiogram's ``Update`` and answered through :class:`~bot.aiogram.adapter.AiogramChannel`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import BotCommand, BotCommandScopeChat, Update

from bot import delivery
from bot.aiogram.adapter import AiogramChannel, build_bot, to_incoming, translate
from bot.answering import ALLOWED_UPDATES, Incoming
from bot.channel_calls import SameBotCalls
from bot.commands import CommandMenu

log = logging.getLogger(__name__)


class RawUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates answered with the updates as Telegram sent them.

    They are stored as they are and read as aiogram's ``Update`` once, by the worker; aiogram's
    own ``GetUpdates`` built each one only for it to be dumped back into a dict (pydantic's
    validation twice per update, the costliest step of aiogram's path in issue 14's profile).
    """

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


@dataclass
class AiogramApi(SameBotCalls):
    """A started aiogram ``Bot`` (a :class:`bot.running.BotApi`)."""

    bot: Bot
    channel: AiogramChannel
    username: str
    bot_id: int

    def incoming(self, raw: dict[str, Any]) -> Incoming:
        update = Update.model_validate(raw, context={"bot": self.bot})
        return to_incoming(update, self.bot, self.username)

    async def get_updates(self, offset: int | None, wait_seconds: int) -> list[dict[str, Any]]:
        try:
            return await self.bot(
                RawUpdates(offset=offset, timeout=wait_seconds, allowed_updates=ALLOWED_UPDATES),
                request_timeout=wait_seconds + 10,
            )
        except (TelegramAPIError, TelegramNetworkError, ClientDecodeError) as error:
            raise delivery.counted("get_updates", translate(error)) from error

    async def register_commands(self, menus: Sequence[CommandMenu]) -> None:
        for menu in menus:
            scope = BotCommandScopeChat(chat_id=menu.chat_id) if menu.chat_id is not None else None
            try:
                await self.bot.set_my_commands(
                    [BotCommand(command=name, description=text) for name, text in menu.commands],
                    scope=scope,
                    language_code=menu.language or None,
                )
            except TelegramBadRequest as exc:
                if menu.chat_id is None:
                    raise
                # An admin who has not opened a chat with the bot yet: their menu comes next
                # start.
                log.warning("no command menu for chat %s: %s", menu.chat_id, exc.message)


@asynccontextmanager
async def open_api(token: str, api_server: str, *, connections: int) -> AsyncIterator[AiogramApi]:
    """The bot, with its identity read (``getMe``), ``connections`` calls in flight at most."""
    bot = build_bot(token, api_server, connections=connections)
    try:
        me = await bot.me()
        yield AiogramApi(bot, AiogramChannel(bot), me.username or "", me.id)
    finally:
        await bot.session.close()
