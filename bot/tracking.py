"""Which updates the bot has finished handling, for whoever must wait on one (tests, benches)."""

from __future__ import annotations

import asyncio


class Handled:
    def __init__(self) -> None:
        self._done: set[int] = set()
        self._changed = asyncio.Event()
        self.count = 0

    def done(self, update_id: int) -> None:
        self._done.add(update_id)
        self.count += 1
        self._changed.set()

    async def wait(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Return once ``update_id`` was handled (its answers sent); TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while update_id not in self._done:
                self._changed.clear()
                await self._changed.wait()
