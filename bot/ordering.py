"""Updates of different chats run concurrently; one chat's updates run in the order they came.

A member who taps "Open" and then "Menu" must see the box open first. The ledger is safe
whatever the order (every use case is idempotent and locks what it changes), so this is about
what a member reads, and it costs nothing across chats.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")


class ChatOrder:
    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def run(self, chat_id: int | None, work: Awaitable[T]) -> T:
        if chat_id is None:
            return await work
        async with self._hold(chat_id):
            return await work

    @asynccontextmanager
    async def _hold(self, chat_id: int) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._users[chat_id] = self._users.get(chat_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chat_id] -= 1
            if not self._users[chat_id]:  # nobody waits: forget the chat, memory stays flat
                del self._users[chat_id]
                del self._locks[chat_id]
