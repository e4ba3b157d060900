"""The one sender of bulk messages: outbox rows out to Telegram, within its flood limits.

Every process runs one :class:`Sender`. It claims rows from the outbox (``core.operations.outbox``),
each with a send slot on the bot-wide pace (30 a second overall by default, 1 a second per
chat, shared by all processes through the database), waits for each slot and delivers the row
with the adapter's :class:`~bot.delivery.Messenger`, a few calls in flight at once. Then:

- accepted: the row is ``sent``, and the pace creeps back up (see *Pace* below);
- 429: the row waits ``retry_after``, the pace moves past it for every sender, this sender
  slows its own pace, hands back the rows it had claimed and pauses;
- 403 (blocked, deactivated): the member is marked unreachable, their waiting rows with them;
- a passing failure: tried again with exponential backoff, up to ``[sender] max_attempts``;
- a bad request: ``failed``, never tried again.

Stopping it (cancelling :meth:`Sender.run`) lets the calls under way finish and hands back
what it had claimed; a sender killed outright leaves claimed rows that another takes when
their lease runs out. Why a row caught in the middle of a call is never sent again is told in
``core.operations.outbox``.

**Pace: at Telegram's limit, adapting to 429 (AIMD).** Telegram documents "about 30 messages a
second" in bulk, loosely, and answers the excess with 429 and ``retry_after``. A fixed pace
below the limit (25 a second was the default) wastes a sixth of every broadcast for certain to
avoid a cost that is small and recoverable: a 429 loses nothing (the row waits and is sent
once, later; see ``core.operations.outbox``), it costs about ``retry_after`` seconds. So the sender
starts at ``[sender] messages_per_second`` (30 by default, also the most it allows) and adapts the
way TCP adapts to congestion, additive increase, multiplicative decrease
(:class:`core.operations.outbox.AdaptivePace`, the outbox's ``pace``, which its claims space slots
by):

- on a 429 its rate drops to ``DECREASE`` of what it was (not below 1 a second), once per
  flood: the other calls already under way when the rate dropped answer 429 too, for the same
  flood, and do not drop it again;
- each message accepted adds ``step / rate``, i.e. about ``step`` messages a second per second
  of sending, back up to the ceiling: ``INCREASE`` while well below the rate at which the
  last 429 came, ``PROBE`` near it, so a Telegram that enforces a bit below 30 sees a slow
  probe and rare 429s rather than a saw-tooth.

A 429 does not say which limit was hit; the per-chat spacing below makes a chat's own limit
unlikely, so every 429 is read as the bot-wide one. Measured in the sandbox (``bench/
broadcast.py --limit 27`` and ``--limit 20``): about 0.97 of the stricter limit is kept, with a
handful of 429s per broadcast, none lost or sent twice.

The rate is this process's: each sender spaces the slots it claims on the shared pace row by its
own interval, so a process that met a 429 slows the bot as a whole. Per chat nothing adapts:
one message a second per chat (``per_chat_seconds``) is kept by every claim as before.

**Cancellation never cuts a transaction.** A cancellation may come at any await: the stop
above, or (for a row's task) a shutdown cancelling what still runs. One landing inside an
outbox transaction lands inside the database driver's call: SQLAlchemy then throws the
connection away mid-statement, and touching it afterwards reconnects where no I/O can be
done (``MissingGreenlet`` on SQLite, which a loaded machine once made the broadcast tests
meet). So every database step here goes through :func:`uninterrupted`: a cancellation that
arrives meanwhile waits for the step to end, then takes effect. Cancellation is taken at once
only where nothing is half done: waiting for work, for a slot, or for the end of a pause. The
one exception is a row's Telegram call itself, which a cancelled row task abandons: the row
is then recorded ``uncertain`` at once (the call may or may not have reached the member) and
is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from bot.delivery import (
    Messenger,
    Rejected,
    RetryAfter,
    TransientFailure,
    Unreachable,
    screen_from_json,
)
from core.operations.outbox import Claimed, Outbox

T = TypeVar("T")

log = logging.getLogger(__name__)
# How often an idle sender looks for new rows (another process may have enqueued them).
POLL_SECONDS = 1.0
# How soon it looks again when rows wait only for their chat's next free second.
BUSY_POLL_SECONDS = 0.2


def utc_now() -> datetime:
    return datetime.now(UTC)


async def uninterrupted(step: Awaitable[T]) -> T:
    """Await ``step`` to its end even if the caller is cancelled meanwhile, then re-raise.

    The step runs as a task of its own; a cancellation of the caller (one or several) waits
    until that task is done and is raised after it, so a transaction inside is committed or
    rolled back as a whole, never cut off. A step that must leave something behind for the
    caller's clean-up (claimed rows) does so itself, before it returns.
    """
    task = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.cancelled():
            raise  # the step itself was cancelled (the loop shutting down): nothing to wait for
        while not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.error("a step finished after a stop failed", exc_info=task.exception())
        raise


def worker_name() -> str:
    """Unique per sender: host, process and a random part (a restarted process is new)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class SenderStats:
    """What this sender did since it started."""

    sent: int = 0
    failed: int = 0
    unreachable: int = 0
    retried: int = 0
    rate_limited: int = 0
    slowed_down: int = 0


class Sender:
    def __init__(
        self,
        outbox: Outbox,
        messenger: Messenger,
        *,
        concurrency: int = 8,
        worker: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        claim_limit: int = 100,
    ) -> None:
        self.outbox = outbox
        self.messenger = messenger
        self.worker = worker or worker_name()
        self.clock = clock
        self.claim_limit = claim_limit
        self.stats = SenderStats()
        self.pace = outbox.pace  # this process's bulk pace (AIMD, see the module)
        self._slots = asyncio.Semaphore(concurrency)
        self._queue: deque[Claimed] = deque()
        self._inflight: set[asyncio.Task[None]] = set()
        self._paused_until: datetime | None = None
        self._wake = asyncio.Event()
        # Idle detection for callers that wait for the outbox to empty (tests, the bench):
        # ``_asked`` counts wake-ups, ``_idle_at`` is the count when nothing was left.
        self._asked = 0
        self._idle_at = -1
        self._idle = asyncio.Condition()

    # -- control ------------------------------------------------------------------------

    def wake(self) -> int:
        """Look for rows now (something was just enqueued in this process)."""
        self._asked += 1
        self._wake.set()
        return self._asked

    async def wait_idle(self) -> None:
        """Until every row enqueued before this call is finished (sent, failed, ...)."""
        asked = self.wake()
        async with self._idle:
            await self._idle.wait_for(lambda: self._idle_at >= asked)

    async def run(self) -> None:
        """Send until cancelled; on the way out, finish the calls under way and hand back the
        rows not started. Cancelling it again meanwhile changes nothing: it still returns (by
        raising ``CancelledError``) only once all that is done."""
        try:
            await self._loop()
        finally:
            await uninterrupted(self._wind_down())

    # -- the loop -----------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            asked = self._asked
            self._wake.clear()
            await self._wait_out_pause()
            now = self.clock()
            if await uninterrupted(self._claim(now)):
                await self._dispatch()
                continue
            due = await uninterrupted(self.outbox.next_due(now))
            if due is None and not self._inflight:
                await self._mark_idle(asked)
            if due is None:
                wait = POLL_SECONDS
            else:
                wait = min(POLL_SECONDS, max(BUSY_POLL_SECONDS, (due - now).total_seconds()))
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for loses a cancellation that
            # arrives as the event is set, and a stopped sender would then run on for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def _claim(self, now: datetime) -> bool:
        """Claim rows onto the queue (there, a stop hands them back); False if none came."""
        rows = await self.outbox.claim(self.worker, now, limit=self.claim_limit)
        self._queue.extend(rows)
        return bool(rows)

    async def _mark_idle(self, asked: int) -> None:
        async with self._idle:
            self._idle_at = max(self._idle_at, asked)
            self._idle.notify_all()

    async def _wait_out_pause(self) -> None:
        if self._paused_until is None:
            return
        delay = (self._paused_until - self.clock()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)
        self._paused_until = None

    async def _dispatch(self) -> None:
        """Start each claimed row at its slot; after a 429 hand the rest back."""
        while self._queue:
            if self._paused_until is not None:
                await uninterrupted(self._hand_back())
                return
            row = self._queue[0]
            delay = (row.slot_at - self.clock()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
                continue  # a 429 may have come in meanwhile
            await self._slots.acquire()
            self._queue.popleft()
            task = asyncio.create_task(self._send(row))
            self._inflight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # the loop may be waiting to tell that all is done

    async def _hand_back(self) -> None:
        rows = [row.outbox_id for row in self._queue]
        self._queue.clear()
        await self.outbox.release(self.worker, rows)

    async def _wind_down(self) -> None:
        try:
            await self._hand_back()
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    # -- one row ------------------------------------------------------------------------

    async def _send(self, row: Claimed) -> None:
        try:
            await self._send_row(row)
        except Exception:
            # The database failed us: the row stays as it is and its lease decides (see
            # core.operations.outbox); the sender goes on.
            log.exception("outbox row %s: could not record its outcome", row.outbox_id)
        finally:
            self._slots.release()

    async def _send_row(self, row: Claimed) -> None:
        """Start, call, record. Cancelled (the row's task, not :meth:`run`, which lets it
        finish): before the call the row goes back to pending, during the call it is
        ``uncertain``, after it its outcome is still recorded."""
        outbox, worker = self.outbox, self.worker
        try:
            started = await uninterrupted(outbox.start(row.outbox_id, worker, self.clock()))
        except asyncio.CancelledError:
            await uninterrupted(outbox.untried(row.outbox_id, worker))
            raise
        if not started:
            return  # its lease ran out and another sender has it
        called = self.clock()
        try:
            screen = screen_from_json(row.payload)
            await self.messenger.deliver(row.chat_id, screen)
        except asyncio.CancelledError:
            log.warning("outbox row %s: stopped during its call, now uncertain", row.outbox_id)
            await uninterrupted(outbox.interrupted(row.outbox_id, worker))
            raise
        except RetryAfter as error:
            until = self.clock() + timedelta(seconds=max(error.seconds, 1))
            if self._paused_until is None or until > self._paused_until:
                self._paused_until = until
            if self.pace.slow_down(called, self.clock()):
                self.stats.slowed_down += 1
                log.info("429: bulk pace down to %.1f messages a second", self.pace.rate)
            self.stats.rate_limited += 1
            await uninterrupted(outbox.retry_after(row.outbox_id, worker, until))
        except Unreachable as error:
            self.stats.unreachable += 1
            await uninterrupted(
                outbox.unreachable(row.outbox_id, worker, row.chat_id, self.clock(), str(error))
            )
        except TransientFailure as error:
            self.stats.retried += 1
            again = outbox.transient(row.outbox_id, worker, self.clock(), str(error))
            if not await uninterrupted(again):
                self.stats.failed += 1
        except (Rejected, ValueError, KeyError) as error:
            log.warning("outbox row %s refused: %s", row.outbox_id, error)
            self.stats.failed += 1
            reason = str(error) or type(error).__name__
            await uninterrupted(outbox.failed(row.outbox_id, worker, reason))
        except Exception as error:
            log.exception("outbox row %s: unexpected error", row.outbox_id)
            self.stats.retried += 1
            await uninterrupted(outbox.transient(row.outbox_id, worker, self.clock(), repr(error)))
        else:
            self.stats.sent += 1
            self.pace.accepted()
            await uninterrupted(outbox.sent(row.outbox_id, worker, self.clock()))
