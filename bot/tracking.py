"""Which updates the bot has finished handling, for whoever must wait on one (tests, benches).

Each waiter waits on its own update's future: one shared event woke every waiter on every
update, which with 50 members waiting cost the process more than some bots' own work and
blurred the benches' ratios.
"""

from __future__ import annotations

import asyncio


class Handled:
    def __init__(self) -> None:
        self._done: set[int] = set()
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self.count = 0

    def done(self, update_id: int) -> None:
        self._done.add(update_id)
        self.count += 1
        waiter = self._waiting.pop(update_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, update_id: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Return once ``update_id`` was handled (its answers sent); TimeoutError otherwise."""
        if update_id in self._done:
            return
        waiter = self._waiting.get(update_id)
        if waiter is None:
            waiter = self._waiting[update_id] = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(timeout):  # shielded: another waiter may share the future
            await asyncio.shield(waiter)
