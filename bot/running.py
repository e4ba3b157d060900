"""The bot running on the framework the config names: python-telegram-bot or aiogram.

Whatever the framework, an update travels the same way:

    getUpdates (one process) or POST /telegram (any)  ->  the inbox (stored, then confirmed)
        ->  a worker of any process (in order per chat)  ->  the framework reads the update
        ->  bot.answering (the conversation, answers under the reply policy)  ->  done

A framework only supplies a :class:`BotApi`: its ``Bot``, reading a stored update as its own
``Update``, and its calls (``bot.ptb.app``, ``bot.aiogram.app``). The outbox sender's messenger
is the same framework's, so what members see does not depend on the choice; ``[telegram]
framework`` picks one (the sandbox's ``--framework`` overrides it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from bot.aiogram.app import open_api as aiogram_api
from bot.aiogram.messenger import open_messenger as aiogram_messenger
from bot.answering import Channel, Incoming, UpdateHandler
from bot.bot_queries import BotQueries
from bot.commands import CommandMenu, command_menus
from bot.conversation import Conversation
from bot.delivery import Messenger, ReplyPolicy
from bot.frameworks import FRAMEWORKS as FRAMEWORKS  # re-exported: tests name it here
from bot.frameworks import Framework as Framework
from bot.listener import Listener, Webhook
from bot.ptb.app import open_api as ptb_api
from bot.ptb.messenger import open_messenger as ptb_messenger
from bot.receiving import POLLER_LOCK, Poller
from bot.refunds import Refunder
from bot.runtime import Runtime
from bot.tracking import Handled
from bot.workers import InboxWorkers
from core.operations.inbox import Inbox, Taken
from core.operations.leader import Leader

log = logging.getLogger(__name__)


class BotApi(Protocol):
    """One framework's bot, started: who it is, how it reads updates, its calls."""

    username: str
    bot_id: int

    @property
    def channel(self) -> Channel: ...

    @property
    def queries(self) -> BotQueries: ...

    def incoming(self, raw: dict[str, Any]) -> Incoming: ...

    async def get_updates(self, offset: int | None, wait_seconds: int) -> list[dict[str, Any]]: ...

    async def set_webhook(self, url: str, secret: str) -> None: ...

    async def delete_webhook(self) -> None: ...

    async def register_commands(self, menus: Sequence[CommandMenu]) -> None: ...

    async def refund_star_payment(self, user_id: int, charge_id: str) -> None:
        """Give back a payment in Telegram Stars (``refundStarPayment``)."""


@dataclass
class RunningBot:
    """A started bot, whichever framework runs it."""

    handled: Handled
    """Which updates it has answered (tests and benches wait on it)."""
    username: str
    api: BotApi
    inbox: Inbox
    workers: InboxWorkers
    poller: Poller | None
    conversation: Conversation
    """What answers each update (tests reach its router to add a handler of their own)."""


_heap_frozen = False


def freeze_startup_heap() -> None:
    """Once per process: what start-up made (modules, both frameworks' models, SQLAlchemy's
    tables) is set apart from the garbage collector's full collections.

    A full collection walks every object the process tracks and stops the event loop while it
    does: about 440,000 objects in bench/bot.py's process, 270-290 ms of CPU each time (issue
    14's p99 at half the maximum rate had one such pause in every run). Frozen objects are
    still freed when nothing refers to them; only cycles among them are left to the end.
    """
    global _heap_frozen  # once per process, whatever the number of bots
    if _heap_frozen:
        return
    _heap_frozen = True
    gc.collect()
    gc.freeze()


def utc_now() -> datetime:
    """The inbox's clock: the wall clock, whatever the mall's business clock says."""
    return datetime.now(UTC)


def _open_api(
    framework: Framework, token: str, api_server: str, connections: int
) -> AbstractAsyncContextManager[BotApi]:
    if framework == "aiogram":
        return aiogram_api(token, api_server, connections=connections)
    return ptb_api(token, api_server, connections=connections)


@asynccontextmanager
async def running_bot(
    runtime: Runtime,
    token: str,
    api_server: str,
    *,
    webhook: bool = False,
    framework: Framework | None = None,
    listener: Listener | None = None,
) -> AsyncIterator[RunningBot]:
    """Start the bot on ``framework`` (default: ``[telegram] framework``); stopped on exit.

    Polling (the default) polls from whichever process holds the poller's lock; ``webhook``
    attaches ``POST /telegram`` to ``listener`` and sets the webhook to ``[telegram]
    webhook_url``. Either way this process works the inbox.
    """
    chosen = framework or runtime.config.telegram.framework
    settings = runtime.config.inbox
    async with _open_api(chosen, token, api_server, settings.workers + 8) as api:
        await api.register_commands(command_menus(runtime))
        inbox = Inbox(runtime.db, api.bot_id, lease=timedelta(seconds=settings.lease_seconds))
        handled = Handled()

        async def unreachable(chat_id: int, reason: str) -> None:
            log.info("chat %s blocked the bot or is gone: %s", chat_id, reason)
            await runtime.mall.outbox.mark_unreachable(chat_id, utc_now(), reason)

        refunder = Refunder(runtime.mall, runtime.languages, runtime.clock)
        conversation = runtime.conversation(api.username, api.queries)
        handler = UpdateHandler(
            conversation,
            handled,
            ReplyPolicy(settings.reply_deadline_minutes * 60.0),
            unreachable,
            refunder.refund,
        )

        async def handle(taken: Taken) -> None:
            try:
                incoming = api.incoming(json.loads(taken.payload))
            except Exception:
                log.exception("update %s cannot be read; it is set aside", taken.update_id)
                handled.done(taken.update_id)
                return
            if taken.attempts > 1 and incoming.event is not None:
                retried = dataclasses.replace(incoming.event, retried=True)
                incoming = dataclasses.replace(incoming, event=retried)
            await handler(incoming, api.channel)

        workers = InboxWorkers(
            inbox,
            handle,
            workers=settings.workers,
            clock=utc_now,
            retention=timedelta(hours=settings.retention_hours),
        )
        poller: Poller | None = None
        polling: asyncio.Task[None] | None = None
        working = asyncio.create_task(workers.run(), name="inbox-workers")
        if webhook:
            telegram = runtime.config.telegram
            assert telegram.webhook_secret is not None, "config validation requires a secret"
            assert listener is not None, "a webhook needs the process's HTTP listener"
            secret = telegram.webhook_secret.get_secret_value()
            listener.webhook = Webhook(inbox, secret, utc_now, workers.wake)
            await api.set_webhook(telegram.webhook_url, secret)
        else:
            poller = Poller(
                api,
                inbox,
                Leader(runtime.db, POLLER_LOCK),
                clock=utc_now,
                on_stored=workers.wake,
                store=workers.accept,
            )
            polling = asyncio.create_task(poller.run(), name="poller")
        if listener is not None:
            listener.inbox, listener.outbox, listener.clock = inbox, runtime.mall.outbox, utc_now
            listener.answered = workers.answered
        freeze_startup_heap()
        log.info(
            "@%s is up (%s, %s)",
            api.username,
            "python-telegram-bot" if chosen == "ptb" else "aiogram",
            "webhook" if webhook else "polling",
        )
        try:
            yield RunningBot(handled, api.username, api, inbox, workers, poller, conversation)
        finally:
            if listener is not None:
                listener.webhook = None
                listener.answered = tuple
            if polling is not None:  # stop confirming updates first
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
            await workers.stop()
            await asyncio.gather(working, return_exceptions=True)


def open_messenger(
    token: str, api_server: str, *, framework: Framework, connections: int = 16
) -> AbstractAsyncContextManager[Messenger]:
    """The outbox sender's messenger on ``framework``, with a Bot of its own."""
    if framework == "aiogram":
        return aiogram_messenger(token, api_server, connections=connections)
    return ptb_messenger(token, api_server, connections=connections)
