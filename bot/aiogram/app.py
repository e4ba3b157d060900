"""The mall on aiogram 3: polling or webhook, against any Bot API server.

aiogram's Dispatcher receives the updates (long polling, or the webhook through its aiohttp
request handler, which checks the secret token) and hands each one to an outer middleware that
translates it and passes it to the same :class:`bot.answering.UpdateHandler` python-telegram-bot
uses; aiogram's routers and filters are not used, since the conversation routes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import BotCommand, BotCommandScopeChat, TelegramObject, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.aiogram.adapter import AiogramChannel, sender_of, to_incoming
from bot.answering import ALLOWED_UPDATES, CONCURRENT_UPDATES, UpdateHandler
from bot.commands import command_menus
from bot.ordering import ChatOrder
from bot.runtime import Runtime
from bot.tracking import Handled

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/telegram"


@dataclass
class AiogramBot:
    """A started bot on aiogram (a :class:`bot.running.RunningBot`)."""

    bot: Bot
    dispatcher: Dispatcher
    handled: Handled
    username: str


def build_bot(token: str, api_server: str, *, connections: int = 100) -> Bot:
    """aiogram's Bot, on Telegram's server or the Bot API server at ``api_server``, with at
    most ``connections`` calls in flight."""
    api = TelegramAPIServer.from_base(api_server) if api_server else PRODUCTION
    return Bot(token, session=AiohttpSession(api=api, limit=connections))


class OrderedUpdates:
    """The Dispatcher's outer middleware for every update: ``handle`` runs concurrently across
    chats, in order within a chat (see :mod:`bot.ordering`), at most ``limit`` at once."""

    def __init__(self, handle: Callable[[Update], Awaitable[None]], limit: int) -> None:
        self._handle = handle
        self._order = ChatOrder()
        self._slots = asyncio.Semaphore(limit)
        self._running: set[asyncio.Task[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> None:
        assert isinstance(event, Update), "an outer middleware of the update observer"
        user = sender_of(event)
        task = asyncio.current_task()
        assert task is not None, "aiogram hands each update over in a task"
        self._running.add(task)
        try:
            await self._order.run(user.id if user is not None else None, self._limited(event))
        finally:
            self._running.discard(task)

    async def _limited(self, update: Update) -> None:
        async with self._slots:
            await self._handle(update)

    async def finish(self) -> None:
        """Until the updates being handled are answered."""
        await asyncio.gather(*self._running, return_exceptions=True)


async def _register_commands(bot: Bot, runtime: Runtime) -> None:
    for menu in command_menus(runtime):
        scope = BotCommandScopeChat(chat_id=menu.chat_id) if menu.chat_id is not None else None
        try:
            await bot.set_my_commands(
                [BotCommand(command=name, description=text) for name, text in menu.commands],
                scope=scope,
                language_code=menu.language or None,
            )
        except TelegramBadRequest as exc:
            if menu.chat_id is None:
                raise
            # An admin who has not opened a chat with the bot yet: their menu comes next start.
            log.warning("no command menu for chat %s: %s", menu.chat_id, exc.message)


@asynccontextmanager
async def running_bot(
    runtime: Runtime, token: str, api_server: str, *, webhook: bool = False
) -> AsyncIterator[AiogramBot]:
    """Start the bot (polling, or the webhook server of ``[telegram]``) and stop it on exit."""
    bot = build_bot(token, api_server)
    try:
        me = await bot.me()
        username = me.username or ""
        handled = Handled()
        handler = UpdateHandler(runtime.conversation(username), handled)
        channel = AiogramChannel(bot)

        async def handle(update: Update) -> None:
            await handler(to_incoming(update, bot, username), channel)

        updates = OrderedUpdates(handle, CONCURRENT_UPDATES)
        dispatcher = Dispatcher()
        dispatcher.update.outer_middleware(updates)
        await _register_commands(bot, runtime)
        receiving = _webhook(dispatcher, bot, runtime) if webhook else polling(dispatcher, bot)
        try:
            async with receiving:
                log.info("@%s is up (aiogram, %s)", username, "webhook" if webhook else "polling")
                yield AiogramBot(bot, dispatcher, handled, username)
        finally:  # nothing new arrives now: answer what did before the session closes
            await updates.finish()
    finally:
        await bot.session.close()


@asynccontextmanager
async def polling(dispatcher: Dispatcher, bot: Bot) -> AsyncIterator[None]:
    """Long polling in a task, from its start (the webhook deleted) until the exit."""
    await bot.delete_webhook()
    started = asyncio.Event()

    async def on_startup() -> None:
        started.set()

    dispatcher.startup.register(on_startup)
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            polling_timeout=20,
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=False,
            close_bot_session=False,
        )
    )
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiting.cancel()
        await task  # it stopped before it started: raise why
    try:
        yield
    finally:
        if not task.done():
            await dispatcher.stop_polling()
        await task


@asynccontextmanager
async def _webhook(dispatcher: Dispatcher, bot: Bot, runtime: Runtime) -> AsyncIterator[None]:
    telegram = runtime.config.telegram
    secret = telegram.webhook_secret
    assert secret is not None, "config validation requires a webhook secret"
    requests = SimpleRequestHandler(dispatcher, bot, secret_token=secret.get_secret_value())
    app = web.Application()
    # Not requests.register(): its shutdown hook would close the bot's session while updates
    # taken in the background are still being answered.
    app.router.add_post(WEBHOOK_PATH, requests.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, telegram.webhook_listen, telegram.webhook_port).start()
        await bot.set_webhook(
            telegram.webhook_url,
            secret_token=secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
        yield
    finally:
        await runner.cleanup()
