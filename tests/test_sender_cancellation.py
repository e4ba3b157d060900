"""The sender stopped at any point leaves no transaction cut off and no row in a wrong state.

Each test stops the sender while one of its steps is *inside the database driver*: the
database is held by another connection (SQLite: a write lock, PostgreSQL: row locks) so that
the step's statement waits there, and the cancellation comes while it does, which is where
a loaded machine once made it land at random (``CancelledError`` then ``MissingGreenlet``).
Or, for the Telegram call, while the messenger's call waits. No timing is relied on: every
wait is for an event the code under test sets.

Two ways to stop: the orderly one (cancelling :meth:`Sender.run`, twice, as ``background``
and an impatient caller might), which lets calls under way finish; and cancelling the row's
task as well, as a loop shutting down would.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import event, select

from bot import sender as sender_module
from bot.delivery import screen_to_json
from bot.screens import Screen
from bot.sender import Sender, uninterrupted
from core.db.database import Database
from core.db.models import OutboxMessage, SenderPace
from core.mall import Mall
from core.operations.outbox import INTERRUPTED, Claimed, Envelope, Outbox, enqueue
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

T = TypeVar("T")
NOW = at("2026-03-02 10:00")
PAYLOAD = screen_to_json(Screen("📣 news"))
# The outbox step a statement belongs to (set by GatedOutbox, read by the statement listener).
STEP: contextvars.ContextVar[str] = contextvars.ContextVar("step", default="")


class GatedOutbox(Outbox):
    """The outbox, with one step (``claim``, ``start`` or ``sent``) that waits for the test
    before its transaction, and whose statements the test can recognise."""

    def __init__(self, mall: Mall, point: str) -> None:
        super().__init__(mall.db, mall.config)
        self.point = point
        self.arrived = asyncio.Event()
        self.go = asyncio.Event()
        self.claims = 0
        self.claimed_twice = asyncio.Event()

    async def _step(self, name: str, body: Awaitable[T]) -> T:
        STEP.set(name)
        if name == self.point:
            self.arrived.set()
            await self.go.wait()
        return await body

    async def claim(self, worker: str, now: datetime, *, limit: int = 100) -> tuple[Claimed, ...]:
        rows = await self._step("claim", super().claim(worker, now, limit=limit))
        self.claims += 1
        if self.claims >= 2:  # the loop found nothing more: it waits for a wake-up now
            self.claimed_twice.set()
        return rows

    async def start(self, outbox_id: int, worker: str, now: datetime) -> bool:
        return await self._step("start", super().start(outbox_id, worker, now))

    async def sent(self, outbox_id: int, worker: str, now: datetime) -> None:
        await self._step("sent", super().sent(outbox_id, worker, now))


class GatedMessenger:
    """Telegram, whose calls wait for ``gate`` (open unless a test closes it)."""

    def __init__(self) -> None:
        self.called: list[int] = []
        self.delivered: list[int] = []
        self.calling = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()

    async def deliver(self, chat_id: int, screen: Screen) -> None:
        self.called.append(chat_id)
        self.calling.set()
        await self.gate.wait()
        self.delivered.append(chat_id)


@asynccontextmanager
async def database_held(db: Database, step: str) -> AsyncIterator[asyncio.Event]:
    """Hold the database so that the sender's writes wait inside the driver; the event is set
    when a statement of outbox step ``step`` goes to the driver (and so waits there)."""
    reached = asyncio.Event()

    def spot(*args: Any) -> None:
        statement = str(args[2])
        if STEP.get() != step:
            return
        if not db.is_sqlite or statement.startswith("BEGIN IMMEDIATE"):
            reached.set()

    if db.is_sqlite:
        path = db.engine.url.database
        assert path is not None
        lock = sqlite3.connect(path, timeout=1, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        event.listen(db.engine.sync_engine, "before_cursor_execute", spot)
        try:
            yield reached
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", spot)
            lock.execute("ROLLBACK")
            lock.close()
        return
    async with db.engine.connect() as conn:
        await conn.begin()
        await conn.execute(select(SenderPace.id).with_for_update())
        await conn.execute(select(OutboxMessage.id).with_for_update())
        event.listen(db.engine.sync_engine, "before_cursor_execute", spot)
        try:
            yield reached
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", spot)
            await conn.rollback()


async def within(awaitable: Awaitable[T], seconds: float = 10) -> T:
    async with asyncio.timeout(seconds):
        return await awaitable


async def put(mall: Mall, chats: int) -> None:
    async with mall.db.write() as conn:
        envelopes = [Envelope(f"news:{chat}", chat, PAYLOAD) for chat in range(1, chats + 1)]
        await enqueue(conn, envelopes, now=NOW)


async def rows(mall: Mall) -> dict[int, tuple[str, str | None]]:
    """Each chat's row: its status and who holds it."""
    async with mall.db.read() as conn:
        found = await conn.execute(
            select(OutboxMessage.chat_id, OutboxMessage.status, OutboxMessage.claimed_by)
        )
        return {int(chat): (status, holder) for chat, status, holder in found.all()}


@pytest.fixture(autouse=True)
def no_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """An idle sender waits for a wake-up only, so nothing else touches the database."""
    monkeypatch.setattr(sender_module, "POLL_SECONDS", 3600.0)


class Noise:
    """What went wrong loudly: errors logged, and exceptions nobody retrieved."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.unhandled: list[str] = []
        caplog.set_level(logging.WARNING)
        asyncio.get_running_loop().set_exception_handler(self._handler)

    def _handler(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.unhandled.append(str(context.get("message")))

    def __call__(self) -> list[str]:
        gc.collect()
        logged = [
            f"{r.name}: {r.getMessage()}"
            for r in self.caplog.records
            if r.levelno >= logging.ERROR or r.name.startswith("sqlalchemy")
        ]
        return logged + self.unhandled


@pytest.fixture
async def noise(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Noise]:
    found = Noise(caplog)
    yield found
    asyncio.get_running_loop().set_exception_handler(None)


async def stop(run: asyncio.Task[None], sender: Sender, everything: bool) -> None:
    """Cancel the sender twice (and, with ``everything``, each row's task too)."""
    if everything:
        for task in list(sender._inflight):
            task.cancel()
    run.cancel()
    await asyncio.sleep(0)
    run.cancel()


async def drain(mall: Mall, messenger: GatedMessenger) -> None:
    """What the stopped sender left, sent by another."""
    sender = Sender(mall.outbox, messenger, worker="next")
    run = asyncio.create_task(sender.run())
    try:
        await within(sender.wait_idle())
    finally:
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run


@pytest.mark.parametrize("everything", [False, True], ids=["sender", "sender-and-rows"])
async def test_stopped_while_claiming_it_hands_every_row_back(
    make_mall: MallFactory, everything: bool, noise: Noise
) -> None:
    mall = await make_mall(make_config())
    await put(mall, 3)
    outbox, messenger = GatedOutbox(mall, "claim"), GatedMessenger()
    sender = Sender(outbox, messenger, worker="first")

    async with database_held(mall.db, "claim") as reached:
        outbox.go.set()
        run = asyncio.create_task(sender.run())
        await within(reached.wait())  # the claim waits for the database, in the driver
        await stop(run, sender, everything)
    with pytest.raises(asyncio.CancelledError):
        await within(run)

    assert messenger.called == []
    assert await rows(mall) == {chat: ("pending", None) for chat in (1, 2, 3)}
    assert noise() == []
    await drain(mall, messenger)
    assert sorted(messenger.delivered) == [1, 2, 3]


# Where the row's task is when the stop comes, and the row's state after it:
# (stopping the sender only, stopping the row's task too).
ROW_POINTS = {
    "start": (("sent", [1]), ("pending", [])),
    "call": (("sent", [1]), ("uncertain", [])),
    "sent": (("sent", [1]), ("sent", [1])),
}


@pytest.mark.parametrize("everything", [False, True], ids=["sender", "sender-and-rows"])
@pytest.mark.parametrize("point", list(ROW_POINTS))
async def test_stopped_at_any_point_of_a_row_the_row_ends_in_its_true_state(
    make_mall: MallFactory, point: str, everything: bool, noise: Noise
) -> None:
    mall = await make_mall(make_config())
    await put(mall, 1)
    outbox, messenger = GatedOutbox(mall, point), GatedMessenger()
    sender = Sender(outbox, messenger, worker="first")
    run = asyncio.create_task(sender.run())

    if point == "call":
        messenger.gate.clear()
        await within(messenger.calling.wait())
        await within(outbox.claimed_twice.wait())
        await stop(run, sender, everything)
        await asyncio.sleep(0)
        messenger.gate.set()
    else:
        await within(outbox.arrived.wait())
        await within(outbox.claimed_twice.wait())  # the loop is idle: only the row is busy
        async with database_held(mall.db, point) as reached:
            outbox.go.set()
            await within(reached.wait())  # the row's step waits for the database, in the driver
            await stop(run, sender, everything)
    with pytest.raises(asyncio.CancelledError):
        await within(run)

    state, delivered = ROW_POINTS[point][everything]
    assert await rows(mall) == {1: (state, None if state == "pending" else "first")}
    assert messenger.delivered == delivered
    if state == "uncertain":
        async with mall.db.read() as conn:
            error = await conn.execute(select(OutboxMessage.error))
            assert error.scalar_one() == INTERRUPTED
    assert noise() == []
    await drain(mall, messenger)
    assert messenger.delivered == ([] if state == "uncertain" else [1])


async def test_uninterrupted_finishes_the_step_then_raises_the_cancellation() -> None:
    finished = asyncio.Event()
    gate = asyncio.Event()

    async def step() -> int:
        await gate.wait()
        finished.set()
        return 1

    async def caller() -> int:
        return await uninterrupted(step())

    task = asyncio.create_task(caller())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await within(task)
    assert finished.is_set()
