"""The Bot API on python-telegram-bot: what :mod:`bot.running` needs from a framework.

python-telegram-bot's ``Application`` and ``Updater`` are not used: updates are fetched here
and stored in the inbox before the next ``getUpdates`` confirms them (``bot.receiving``), or
arrive through the process's own webhook listener (``bot.http``); the inbox's workers hand
each one back here to be read as python-telegram-bot's ``Update`` and answered through
:class:`~bot.ptb.adapter.PtbChannel`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.error import BadRequest, TelegramError
from telegram.warnings import PTBUserWarning

from bot import delivery
from bot.answering import ALLOWED_UPDATES, Incoming
from bot.channel_calls import SameBotCalls
from bot.commands import CommandMenu
from bot.ptb.adapter import READ_TIMEOUT, PtbChannel, build_bot, to_incoming, translate

log = logging.getLogger(__name__)
# PtbApi.get_updates asks for getUpdates through do_api_request on purpose (the raw updates);
# python-telegram-bot suggests Bot.get_updates instead, every call.
warnings.filterwarnings(
    "ignore", message=r"Please use 'Bot\.getUpdates' instead", category=PTBUserWarning
)


@dataclass
class PtbApi(SameBotCalls):
    """A started python-telegram-bot ``Bot`` (a :class:`bot.running.BotApi`)."""

    bot: Bot
    channel: PtbChannel
    username: str
    bot_id: int

    def incoming(self, raw: dict[str, Any]) -> Incoming:
        update = Update.de_json(restore_empty_lists(raw), self.bot)
        return to_incoming(update, self.username)

    async def get_updates(self, offset: int | None, wait_seconds: int) -> list[dict[str, Any]]:
        """The updates as Telegram sent them: they are stored as they are and read as
        ``Update`` once, by the worker (``Bot.get_updates`` built each one only for it to be
        turned back into a dict: 1.2 s of a 16 s profile, issue 14)."""
        try:
            updates = await self.bot.do_api_request(
                "getUpdates",
                api_kwargs={
                    "offset": offset,
                    "timeout": wait_seconds,
                    "allowed_updates": ALLOWED_UPDATES,
                },
                read_timeout=wait_seconds + READ_TIMEOUT,
            )
        except TelegramError as error:
            raise delivery.counted("get_updates", translate(error)) from error
        return list(updates)

    async def register_commands(self, menus: Sequence[CommandMenu]) -> None:
        for menu in menus:
            scope = BotCommandScopeChat(menu.chat_id) if menu.chat_id is not None else None
            try:
                await self.bot.set_my_commands(
                    [BotCommand(name, description) for name, description in menu.commands],
                    scope=scope,
                    language_code=menu.language or None,
                )
            except BadRequest as exc:
                if menu.chat_id is None:
                    raise
                # An admin who has not opened a chat with the bot yet: their menu comes next
                # start.
                log.warning("no command menu for chat %s: %s", menu.chat_id, exc.message)


# Required fields that may be empty lists: python-telegram-bot's ``to_dict`` (how a polled update
# is stored) leaves empty lists out, and its ``de_json`` then refuses the update without them.
_REQUIRED_LISTS = {"poll_answer": ("option_ids", "option_persistent_ids")}


def restore_empty_lists(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with the empty required lists python-telegram-bot dropped put back (a vote taken
    back is a ``poll_answer`` with empty ``option_ids``)."""
    for kind, names in _REQUIRED_LISTS.items():
        part = raw.get(kind)
        if isinstance(part, dict):
            raw[kind] = {**{name: [] for name in names}, **part}
    return raw


@asynccontextmanager
async def open_api(token: str, api_server: str, *, connections: int) -> AsyncIterator[PtbApi]:
    """The bot, initialized (``getMe``), with ``connections`` calls in flight at most."""
    bot = build_bot(token, api_server, connections=connections)
    async with bot:
        yield PtbApi(bot, PtbChannel(bot), bot.username, bot.id)
