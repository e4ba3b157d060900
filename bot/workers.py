"""The inbox's workers in one process: take updates, handle them, mark them done.

One loop takes as many updates as there are free workers (each the oldest waiting update of
its chat, so a chat's updates stay in order even across processes) and runs each in a task of
its own. It wakes when this process stores an update, when a task ends (the chat's next update
may now be taken), and every ``poll_seconds`` for updates other processes stored. What the
tasks answered since the last take is marked done by the next take, in its transaction: one
transaction fewer per update, and a chat's next update is taken in the same transaction that
ends its previous one. Updates this process polls are stored and started in one transaction
(:meth:`InboxWorkers.accept`) while workers are free, so they wait for no loop. While tasks
run, their leases are renewed; handled updates older than the retention are pruned now and
then. An orderly stop lets running tasks finish for a while, then hands back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from core.operations.inbox import Inbox, Received, Taken

log = logging.getLogger(__name__)

PRUNE_EVERY = timedelta(minutes=10)
_T = TypeVar("_T")


def worker_name() -> str:
    """This process among the bot's processes, for the inbox's and outbox's claims."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class InboxWorkers:
    def __init__(
        self,
        inbox: Inbox,
        handle: Callable[[Taken], Awaitable[None]],
        *,
        workers: int,
        clock: Callable[[], datetime],
        retention: timedelta,
        name: str | None = None,
        poll_seconds: float = 0.5,
        stop_grace_seconds: float = 10.0,
    ) -> None:
        self.inbox = inbox
        self.handle = handle
        self.workers = workers
        self.clock = clock
        self.retention = retention
        self.name = name or worker_name()
        self.poll_seconds = poll_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self._wake = asyncio.Event()
        self._running: dict[asyncio.Task[None], int] = {}
        self._handled: list[int] = []  # answered, to be marked done by the next take
        self._marking: list[int] = []  # answered, being marked done by a take under way
        self._reserved = 0  # workers a take under way may fill
        self._started = False  # the loop runs (on SQLite: after forgetting the last run's leases)
        self._stopping = False

    def answered(self) -> list[int]:
        """Updates this process answered that the store does not yet mark done."""
        return [*self._marking, *self._handled]

    def wake(self) -> None:
        """Updates were stored: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Until :meth:`stop` (or cancelled): take and handle updates."""
        if self.inbox.db.is_sqlite:  # one process per SQLite store: what it held is its own
            taken_back = await self.inbox.forget_leases()
            if taken_back:
                log.info("%d updates left unfinished by the last run are handled now", taken_back)
        self._started = True
        renew_every = self.inbox.lease.total_seconds() / 3
        last_renew = last_prune = asyncio.get_running_loop().time()
        last_prune -= PRUNE_EVERY.total_seconds()  # prune once at start
        while not self._stopping:
            now_mono = asyncio.get_running_loop().time()
            try:
                if now_mono - last_prune >= PRUNE_EVERY.total_seconds():
                    last_prune = now_mono
                    pruned = await self.inbox.prune(self.clock() - self.retention)
                    if pruned:
                        log.info("pruned %d handled updates from the inbox", pruned)
                if self._running and now_mono - last_renew >= renew_every:
                    last_renew = now_mono
                    await self.inbox.renew(self.name, list(self._running.values()), self.clock())
                free = self._free()
                self._wake.clear()
                if free > 0 or self._handled:
                    self._start(await self._take(free))
            except Exception:
                log.exception("the inbox could not be worked; trying again")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.poll_seconds, renew_every)):
                    await self._wake.wait()
        await self._mark_handled()  # what ended while the loop was stopping

    async def accept(self, updates: Sequence[Received], now: datetime) -> int:
        """Store updates this process polled and start what free workers can, in one
        transaction (:meth:`Inbox.accept_and_take`); how many were new.

        Committed when this returns, as :meth:`Inbox.accept` is: the poller confirms them to
        Telegram only then. What was not started waits for a worker to finish (whose end wakes
        the loop) or for an earlier update of its chat, unless the loop was taking meanwhile.
        """
        if self._stopping or not self._started:  # the loop takes them, when it runs
            stored = await self.inbox.accept(updates, now)
            if stored:
                self.wake()
            return stored
        # A take of the loop's under way holds workers this one cannot fill, and may have
        # looked before these were stored: the loop looks again once it is done.
        loop_taking = self._reserved > 0
        stored, taken = await self._marked(
            lambda limit, handled: self.inbox.accept_and_take(
                updates, self.name, now, limit=limit, handled=handled
            )
        )
        self._start(taken)
        if loop_taking and stored > len(taken):
            self.wake()
        return stored

    async def _take(self, limit: int) -> tuple[Taken, ...]:
        """Take up to ``limit`` updates, marking what was answered meanwhile done."""

        async def take(limit: int, handled: list[int]) -> tuple[None, tuple[Taken, ...]]:
            taken = await self.inbox.take(self.name, self.clock(), limit=limit, handled=handled)
            return None, taken

        return (await self._marked(take, limit))[1]

    async def _marked(
        self,
        transaction: Callable[[int, list[int]], Awaitable[tuple[_T, tuple[Taken, ...]]]],
        limit: int | None = None,
    ) -> tuple[_T, tuple[Taken, ...]]:
        """Run a take (``transaction(limit, handled)``) for the free workers, marking done
        what was answered meanwhile; the workers it may fill are held for it until it ends,
        so two takes under way at once (the loop's, the poller's) never fill one twice."""
        limit = self._free() if limit is None else limit
        handled, self._handled = self._handled, []
        self._marking = [*self._marking, *handled]
        self._reserved += limit
        try:
            return await transaction(limit, handled)
        except BaseException:
            self._handled[:0] = handled  # the next take marks them; else their lease runs out
            raise
        finally:
            self._reserved -= limit
            marked = set(handled)
            self._marking = [i for i in self._marking if i not in marked]

    def _free(self) -> int:
        return max(self.workers - len(self._running) - self._reserved, 0)

    def _start(self, taken: Sequence[Taken]) -> None:
        for one in taken:
            task = asyncio.create_task(self._one(one))
            self._running[task] = one.inbox_id
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._wake.set()
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("handling an update failed; it is taken again", exc_info=error)

    async def _one(self, taken: Taken) -> None:
        await self.handle(taken)
        # Answered: the next take marks it done (the loop wakes as this task ends). If that
        # write fails or the process dies first, the lease runs out and the update is handled
        # again, which its idempotent effects allow.
        self._handled.append(taken.inbox_id)

    async def stop(self) -> None:
        """Take nothing more; let running updates finish for a while, hand back the rest."""
        self._stopping = True
        self._wake.set()
        left: list[int] = []
        running = set(self._running)
        if running:
            _, pending = await asyncio.wait(running, timeout=self.stop_grace_seconds)
            left = [self._running[t] for t in pending if t in self._running]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._mark_handled()
        if left:
            try:
                await self.inbox.release(self.name, left)
            except Exception:
                log.exception("could not hand back %d updates; their lease will", len(left))

    async def _mark_handled(self) -> None:
        """Mark what was answered since the last take done (stopping: no take follows)."""

        async def done(_limit: int, handled: list[int]) -> tuple[None, tuple[Taken, ...]]:
            await self.inbox.done(handled, self.clock())
            return None, ()

        try:
            await self._marked(done, 0)
        except Exception:
            log.exception("could not mark updates done; their lease will")
