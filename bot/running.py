"""The bot running on the framework the config names: python-telegram-bot or aiogram.

Both adapters answer every update with the same :mod:`bot.answering` code, and the outbox
sender's messenger is the same framework's, so what members see does not depend on the choice;
``[telegram] framework`` picks one (the sandbox's ``--framework`` overrides it).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol

from bot.aiogram.app import running_bot as running_on_aiogram
from bot.aiogram.messenger import open_messenger as aiogram_messenger
from bot.delivery import Messenger
from bot.ptb.app import running_bot as running_on_ptb
from bot.ptb.messenger import open_messenger as ptb_messenger
from bot.runtime import Runtime
from bot.tracking import Handled

Framework = Literal["ptb", "aiogram"]
FRAMEWORKS: tuple[Framework, ...] = ("ptb", "aiogram")


class RunningBot(Protocol):
    """A started bot, whichever framework runs it."""

    handled: Handled
    """Which updates it has answered (tests and benches wait on it)."""
    username: str


def running_bot(
    runtime: Runtime,
    token: str,
    api_server: str,
    *,
    webhook: bool = False,
    framework: Framework | None = None,
) -> AbstractAsyncContextManager[RunningBot]:
    """Start the bot on ``framework`` (default: ``[telegram] framework``); stopped on exit."""
    chosen = framework or runtime.config.telegram.framework
    if chosen == "aiogram":
        return running_on_aiogram(runtime, token, api_server, webhook=webhook)
    return running_on_ptb(runtime, token, api_server, webhook=webhook)


def open_messenger(
    token: str, api_server: str, *, framework: Framework, connections: int = 16
) -> AbstractAsyncContextManager[Messenger]:
    """The outbox sender's messenger on ``framework``, with a Bot of its own."""
    if framework == "aiogram":
        return aiogram_messenger(token, api_server, connections=connections)
    return ptb_messenger(token, api_server, connections=connections)
