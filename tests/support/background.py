"""The scheduler and the outbox sender beside a sandbox chat, and a sandbox with flood limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from bot.background import Background, background
from bot.ptb.messenger import open_messenger
from bot.running import running_bot
from bot.runtime import open_runtime
from bot.sandbox import FloodLimits, Sandbox, SandboxUser
from bot.sender import Sender
from bot.settings import Config
from core.mall import Mall
from tests.support.chat import TOKEN, Chat, Clock


@asynccontextmanager
async def running_background(chat: Chat, *, schedule: bool = False) -> AsyncIterator[Background]:
    """The sender (and with ``schedule``, the scheduler) of the chat's bot, as ``run`` has them."""
    async with (
        open_messenger(TOKEN, chat.sandbox.api_server) as messenger,
        background(chat.runtime, messenger, schedule=schedule) as running,
    ):
        yield running


@asynccontextmanager
async def flooded_chat(
    config: Config, database_url: str, now: datetime, limits: FloodLimits
) -> AsyncIterator[Chat]:
    """Like ``open_chat``, with Telegram's flood limits played by the sandbox."""
    sandbox = Sandbox(token=TOKEN, host="127.0.0.1", port=0, flood_limits=limits)
    await sandbox.start()
    clock = Clock(now)
    try:
        async with (
            open_runtime(config, database_url, clock=clock) as runtime,
            running_bot(runtime, TOKEN, sandbox.api_server) as bot,
        ):
            yield Chat(sandbox, bot, runtime, clock)
    finally:
        await sandbox.stop()
    assert sandbox.violations == [], "requests Telegram would refuse or not understand"


async def drained(mall: Mall, *senders: Sender) -> None:
    """Until the outbox is empty and every sender idle.

    A sender's ``wait_idle`` speaks only for itself: with two, one may have gone idle just as
    the other took a row back after a 429, which the first would then have sent.
    """
    while True:
        await asyncio.gather(*(sender.wait_idle() for sender in senders))
        if not await mall.outbox.waiting():
            return


async def members_who_started(chat: Chat, count: int, language: str = "en") -> list[SandboxUser]:
    """``count`` members who have started the bot (joined in the mall, chat open), quietly:
    without the welcome messages, which would spend the flood limits before the test."""
    users = []
    for n in range(count):
        user = chat.sandbox.add_user(first_name=f"Member {n}", language_code=language)
        user.started = True
        await chat.mall.members.join(user.id, user.first_name, language, chat.now)
        users.append(user)
    return users
