"""Updates into the inbox: long polling by one process, or the webhook in every process.

Either way an update is in the store before Telegram is told it arrived: the poller stores a
batch before its next ``getUpdates`` moves the offset past it, and the webhook stores the
update before it answers 200 (``bot.listener``). With several processes on one PostgreSQL
only one may poll (Telegram answers a second poller with 409 Conflict): the one holding the
poller's advisory lock; the others keep trying, and take over within seconds if it dies.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot import metrics
from bot.delivery import DeliveryError
from core.operations.inbox import Inbox, Received
from core.operations.leader import Leader

log = logging.getLogger(__name__)

# The advisory lock of the one process that polls ("PMPOLL" in ASCII).
POLLER_LOCK = 0x504D504F4C4C
# Seconds Telegram holds a getUpdates call open while nothing arrives.
LONG_POLL_SECONDS = 20
# Update kinds whose object names who acted in ``from``.
_ACTED = ("message", "edited_message", "callback_query", "pre_checkout_query", "shipping_query")
# Update kinds whose object names who acted in ``user`` (a vote in a poll).
_VOTED = ("poll_answer",)


# Stores a polled batch and starts what free workers can (``InboxWorkers.accept``).
Store = Callable[[Sequence[Received], datetime], Awaitable[int]]


class Updates(Protocol):
    """What polling needs from the Bot API (``bot.running.BotApi`` is one)."""

    async def get_updates(self, offset: int | None, wait_seconds: int) -> list[dict[str, Any]]: ...

    async def delete_webhook(self) -> None: ...


def chat_key(update: Mapping[str, Any]) -> int | None:
    """Whose updates must keep their order: the member who acted (None: no order needed)."""
    for kind in _ACTED:
        part = update.get(kind)
        if isinstance(part, Mapping):
            who = part.get("from")
            if isinstance(who, Mapping) and isinstance(who.get("id"), int):
                return int(who["id"])
    for kind in _VOTED:
        part = update.get(kind)
        if isinstance(part, Mapping):
            who = part.get("user")
            if isinstance(who, Mapping) and isinstance(who.get("id"), int):
                return int(who["id"])
    return None


def received(update: Mapping[str, Any]) -> Received:
    """An update as the inbox stores it; ``ValueError`` if it is not one."""
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        raise ValueError("an update needs a non-negative integer update_id")
    payload = json.dumps(update, ensure_ascii=False, separators=(",", ":"))
    return Received(update_id, chat_key(update), payload)


class Poller:
    """Long-polls Telegram into the inbox while this process holds the poller's lock."""

    def __init__(
        self,
        api: Updates,
        inbox: Inbox,
        leader: Leader,
        *,
        clock: Callable[[], datetime],
        on_stored: Callable[[], None],
        store: Store | None = None,
        retry_lock_seconds: float = 5.0,
    ) -> None:
        self.api = api
        self.inbox = inbox
        self.leader = leader
        self.clock = clock
        self.on_stored = on_stored
        self.store = store
        """Stores a batch (committed when it returns) and starts what it can itself, so
        ``on_stored`` is not called (``InboxWorkers.accept``); None: ``inbox.accept``."""
        self.retry_lock_seconds = retry_lock_seconds
        self.polling = asyncio.Event()
        """Set while this process is the one that polls."""

    async def run(self) -> None:
        """Until cancelled: wait for the lead, then poll; lost lead, wait again."""
        try:
            while True:
                if not await self.leader.try_acquire():
                    await asyncio.sleep(self.retry_lock_seconds)
                    continue
                log.info("this process polls Telegram for updates")
                self.polling.set()
                try:
                    await self._poll()
                finally:
                    self.polling.clear()
        finally:
            await asyncio.shield(self.leader.release())

    async def _poll(self) -> None:
        await self.api.delete_webhook()
        offset: int | None = None
        backoff = 1.0
        while await self.leader.still_held():
            try:
                updates = await self.api.get_updates(offset, LONG_POLL_SECONDS)
            except DeliveryError as error:
                log.warning("getUpdates failed (%s); again in %.0f s", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 1.0
            if not updates:
                continue
            batch = []
            for update in updates:
                try:
                    batch.append(received(update))
                except ValueError:
                    log.warning("getUpdates returned something that is no update: %.200r", update)
            # Stored before the next call's offset confirms them to Telegram. If this fails
            # (the store is down), the offset stays and Telegram sends them again.
            while True:
                try:
                    if self.store is not None:
                        stored = await self.store(batch, self.clock())
                    else:
                        stored = await self.inbox.accept(batch, self.clock())
                    break
                except Exception:
                    log.exception("could not store %d updates; trying again", len(batch))
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
            backoff = 1.0
            metrics.UPDATES_RECEIVED.labels("polling").inc(stored)
            if stored and self.store is None:
                self.on_stored()
            ids = [u["update_id"] for u in updates if isinstance(u.get("update_id"), int)]
            if ids:
                offset = max(ids) + 1
