"""The mall as a python-telegram-bot Application: polling or webhook, against any Bot API server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from telegram import BotCommand, Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.ptb.adapter import OrderedUpdates, Renderer, UpdateHandler
from bot.runtime import Runtime
from bot.tracking import Handled

log = logging.getLogger(__name__)
# Updates of different chats handled at once; one chat's updates stay in order.
CONCURRENT_UPDATES = 64
ALLOWED_UPDATES = ["message", "callback_query", "pre_checkout_query"]


@dataclass
class RunningBot:
    application: Application  # type: ignore[type-arg]
    handled: Handled
    username: str


def build_application(token: str, api_server: str) -> Application:  # type: ignore[type-arg]
    builder = (
        ApplicationBuilder().token(token).concurrent_updates(OrderedUpdates(CONCURRENT_UPDATES))
    )
    if api_server:
        root = api_server.rstrip("/")
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    return builder.build()


async def _register_commands(application: Application, runtime: Runtime) -> None:  # type: ignore[type-arg]
    for language, commands in runtime.command_menus().items():
        await application.bot.set_my_commands(
            [BotCommand(name, description) for name, description in commands],
            language_code=language or None,
        )


@asynccontextmanager
async def running_bot(
    runtime: Runtime, token: str, api_server: str, *, webhook: bool = False
) -> AsyncIterator[RunningBot]:
    """Start the bot (polling, or the webhook server of ``[telegram]``) and stop it on exit."""
    application = build_application(token, api_server)
    handled = Handled()
    await application.initialize()
    username = application.bot.username
    handler = UpdateHandler(runtime.conversation(username), handled)
    renderer = Renderer(application.bot)

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await handler(update, renderer)

    application.add_handler(TypeHandler(Update, on_update))
    await _register_commands(application, runtime)
    updater = application.updater
    assert updater is not None
    await application.start()
    telegram = runtime.config.telegram
    if webhook:
        secret = telegram.webhook_secret
        assert secret is not None, "config validation requires a webhook secret"
        await updater.start_webhook(
            listen=telegram.webhook_listen,
            port=telegram.webhook_port,
            url_path="telegram",
            webhook_url=telegram.webhook_url,
            secret_token=secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        await application.bot.delete_webhook()
        await updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=20)
    log.info("@%s is up (%s)", username, "webhook" if webhook else "polling")
    try:
        yield RunningBot(application, handled, username)
    finally:
        await updater.stop()
        await application.stop()
        await application.shutdown()
