"""A wake-up for everyone waiting on the sandbox: long polls, tests, the page's event stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]


class ChangeSignal:
    """``notify()`` from plain code wakes every ``wait()``; the page also gets the event."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._subscribers: list[asyncio.Queue[Event]] = []

    def notify(self, event: Event | None = None) -> None:
        self._event.set()
        self._event = asyncio.Event()
        if event is not None:
            for queue in self._subscribers:
                queue.put_nowait(event)

    async def wait(self, seconds: float) -> None:
        """Until the next change, or ``seconds`` pass; never raises on timeout."""
        event = self._event
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # coincides with its timeout, and a cancelled waiter would then loop on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    async def wait_until(
        self, condition: Callable[[], bool], seconds: float, clock: Callable[[], float]
    ) -> bool:
        """True as soon as ``condition()`` holds; False if ``seconds`` pass first."""
        deadline = clock() + seconds
        while not condition():
            remaining = deadline - clock()
            if remaining <= 0:
                return False
            await self.wait(remaining)
        return True

    def close(self) -> None:
        """Tell every subscriber the sandbox is stopping (their streams end)."""
        for queue in self._subscribers:
            queue.put_nowait({"type": "closing"})
        self.notify()

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)
