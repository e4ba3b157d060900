"""The mall as a python-telegram-bot Application: polling or webhook, against any Bot API server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import BadRequest
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.answering import ALLOWED_UPDATES, CONCURRENT_UPDATES, UpdateHandler
from bot.commands import command_menus
from bot.ptb.adapter import OrderedUpdates, PtbChannel, to_incoming
from bot.runtime import Runtime
from bot.tracking import Handled

log = logging.getLogger(__name__)


@dataclass
class PtbBot:
    """A started bot on python-telegram-bot (a :class:`bot.running.RunningBot`)."""

    application: Application  # type: ignore[type-arg]
    handled: Handled
    username: str


def build_application(token: str, api_server: str) -> Application:  # type: ignore[type-arg]
    builder = (
        ApplicationBuilder()
        .token(token)
        .concurrent_updates(OrderedUpdates(CONCURRENT_UPDATES))
        .job_queue(None)  # the scheduled jobs are bot.background's, on either framework
    )
    if api_server:
        root = api_server.rstrip("/")
        builder = builder.base_url(f"{root}/bot").base_file_url(f"{root}/file/bot")
    return builder.build()


async def _register_commands(application: Application, runtime: Runtime) -> None:  # type: ignore[type-arg]
    for menu in command_menus(runtime):
        scope = BotCommandScopeChat(menu.chat_id) if menu.chat_id is not None else None
        try:
            await application.bot.set_my_commands(
                [BotCommand(name, description) for name, description in menu.commands],
                scope=scope,
                language_code=menu.language or None,
            )
        except BadRequest as exc:
            if menu.chat_id is None:
                raise
            # An admin who has not opened a chat with the bot yet: their menu comes next start.
            log.warning("no command menu for chat %s: %s", menu.chat_id, exc.message)


@asynccontextmanager
async def running_bot(
    runtime: Runtime, token: str, api_server: str, *, webhook: bool = False
) -> AsyncIterator[PtbBot]:
    """Start the bot (polling, or the webhook server of ``[telegram]``) and stop it on exit."""
    application = build_application(token, api_server)
    handled = Handled()
    await application.initialize()
    username = application.bot.username
    handler = UpdateHandler(runtime.conversation(username), handled)
    channel = PtbChannel(application.bot)

    async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await handler(to_incoming(update, username), channel)

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
    log.info("@%s is up (python-telegram-bot, %s)", username, "webhook" if webhook else "polling")
    try:
        yield PtbBot(application, handled, username)
    finally:
        await updater.stop()
        await application.stop()
        await application.shutdown()
