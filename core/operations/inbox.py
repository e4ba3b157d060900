"""The inbox: every update from Telegram is stored before Telegram is told it arrived.

A poller stores a batch of ``getUpdates`` before its next call moves the offset past it; a
webhook stores the update before it answers 200. Workers then *take* updates: concurrently
across chats, in order within one (an update is taken only when no earlier update of its chat
is still waiting), and mark each ``done`` once it is answered. A worker holds what it took
under a lease it renews while it works; if its process dies, the lease runs out and another
worker, or the restarted process, takes the update again. That is at-least-once handling; the
mall's effects happen once because every use case is idempotent by its cause (the day of a
check-in, the nonce in a button, the order id), so handling an update again replays them.

An update that took a process down ``max_attempts`` times is set aside as ``failed`` so the
chat's later updates go on. Re-delivered updates (``bot_id``, ``update_id`` seen before) are
recognised and not stored twice. Handled updates are pruned after a retention period shorter
than a week: Telegram may restart ``update_id`` after a quiet week, and an id seen more than
a day ago is taken for a new update (Telegram keeps an undelivered update 24 hours at most).

Nothing here knows what an update says; the payload is the JSON Telegram sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    Select,
    and_,
    delete,
    func,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from core import validation
from core.db.database import Database
from core.db.models import InboxUpdate
from core.operations.outbox import dialect_insert

log = logging.getLogger(__name__)

# Written out, not bound: the partial indexes of waiting updates ("WHERE status = 'new'") serve
# only a query whose condition says so in its text (SQLite, and PostgreSQL's generic plans).
_NEW: ColumnElement[str] = literal_column("'new'")

# An update id seen longer ago than this is a new update that reuses the id.
_REUSE_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Received:
    """An update as it arrived: its id, the chat that orders it (None: no order), its JSON."""

    update_id: int
    chat_key: int | None
    payload: str


@dataclass(frozen=True)
class Taken:
    """An update a worker holds: handle it, then :meth:`Inbox.done`."""

    inbox_id: int
    update_id: int
    payload: str
    attempts: int
    received_at: datetime


@dataclass(frozen=True)
class Backlog:
    """What waits in the inbox: how many updates, and how long the oldest has waited."""

    waiting: int
    oldest_seconds: float


class Inbox:
    """One bot's updates in the store, shared by every process that serves the bot."""

    def __init__(
        self, db: Database, bot_id: int, *, lease: timedelta, max_attempts: int = 5
    ) -> None:
        self.db = db
        self.bot_id = bot_id
        self.lease = lease
        self.max_attempts = max_attempts

    async def accept(self, updates: Sequence[Received], now: datetime) -> int:
        """Store ``updates`` (committed when this returns); re-deliveries are skipped.

        Returns how many were new.
        """
        validation.instant(now)
        if not updates:
            return 0

        async def work(conn: AsyncConnection) -> int:
            return await self._store(conn, updates, now)

        return await self.db.transact(work)

    async def accept_and_take(
        self,
        updates: Sequence[Received],
        worker: str,
        now: datetime,
        *,
        limit: int,
        handled: Sequence[int] = (),
    ) -> tuple[int, tuple[Taken, ...]]:
        """:meth:`accept` and then :meth:`take`, in one transaction: how many were new, and
        what ``worker`` took (of these or of what waited before them, in order per chat).

        A process that polled ``updates`` and has free workers stores them and starts them
        with one transaction instead of two; nothing is taken that a separate take after the
        accept would not have taken, and nothing is taken unless it is stored.
        """
        validation.instant(now)

        async def work(conn: AsyncConnection) -> tuple[int, list[Any]]:
            stored = await self._store(conn, updates, now) if updates else 0
            return stored, await self._take(conn, worker, now, limit, handled)

        stored, found = await self.db.transact(work)
        return stored, _taken(found)

    async def _store(
        self, conn: AsyncConnection, updates: Sequence[Received], now: datetime
    ) -> int:
        rows = [
            {
                "bot_id": self.bot_id,
                "update_id": u.update_id,
                "chat_key": u.chat_key,
                "payload": u.payload,
                "status": "new",
                "attempts": 0,
                "received_at": now,
            }
            for u in updates
        ]
        insert = (
            dialect_insert(conn, InboxUpdate)
            .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
            .returning(InboxUpdate.update_id)
        )
        stored = {int(i) for i in (await conn.execute(insert.values(rows))).scalars()}
        skipped = [row for row in rows if row["update_id"] not in stored]
        if skipped:
            # An id seen over a day ago and handled: Telegram restarted its ids.
            reused = (
                await conn.execute(
                    delete(InboxUpdate)
                    .where(
                        InboxUpdate.bot_id == self.bot_id,
                        InboxUpdate.update_id.in_([row["update_id"] for row in skipped]),
                        InboxUpdate.status != "new",
                        InboxUpdate.received_at < now - _REUSE_AFTER,
                    )
                    .returning(InboxUpdate.update_id)
                )
            ).scalars()
            again = {int(i) for i in reused}
            if again:
                await conn.execute(
                    insert.values([row for row in skipped if row["update_id"] in again])
                )
                stored |= again
        return len(stored)

    async def take(
        self, worker: str, now: datetime, *, limit: int, handled: Sequence[int] = ()
    ) -> tuple[Taken, ...]:
        """Up to ``limit`` updates for ``worker``: each the oldest waiting one of its chat.

        ``handled`` (inbox ids answered since the last take) are marked done first, in the
        same transaction: a worker's loop spends one transaction, not two, per update it
        finishes, and the next update of a finished chat can be taken at once.

        Updates whose lease ran out (their worker died) are taken again; one that has been
        taken ``max_attempts`` times already is set aside as ``failed``, and its chat's next
        update is looked for in the same call.
        """
        validation.instant(now)

        async def work(conn: AsyncConnection) -> list[Any]:
            return await self._take(conn, worker, now, limit, handled)

        return _taken(await self.db.transact(work))

    async def _take(
        self,
        conn: AsyncConnection,
        worker: str,
        now: datetime,
        limit: int,
        handled: Sequence[int],
    ) -> list[Any]:
        if handled:
            await conn.execute(self._done(handled, now))
        taken: list[Any] = []
        while len(taken) < limit:
            found = (await conn.execute(self._heads(now, limit - len(taken)))).all()
            spent = [row for row in found if row.attempts >= self.max_attempts]
            fresh = [row for row in found if row.attempts < self.max_attempts]
            if fresh:
                await conn.execute(
                    update(InboxUpdate)
                    .where(InboxUpdate.id.in_([row.id for row in fresh]))
                    .values(
                        claimed_by=worker,
                        lease_until=now + self.lease,
                        attempts=InboxUpdate.attempts + 1,
                    )
                )
                taken.extend(fresh)
            if not spent:
                break
            await self._set_aside(conn, spent, now)
        return taken

    def _heads(self, now: datetime, limit: int) -> Select[int, int, str, int, datetime]:
        """The free updates that head their chat's waiting ones, oldest first (locked on
        PostgreSQL, skipping what another process is taking).

        Each candidate's chat is asked for its first waiting update by a scalar subquery
        (an index probe per candidate) rather than by ``NOT EXISTS``: PostgreSQL turns that
        into an anti join, and on a table whose statistics lag a burst (a fresh one, or one
        whose waiting rows were few when last analyzed) it chose a nested loop that compared
        every waiting update with every other, seconds per take at a few thousand waiting.

        ``update_id <= head`` means ``== head`` (an update waiting in the chat is never before
        its first); written so, PostgreSQL estimates a third of the candidates pass, not one in
        thousands, and walks the index in arrival order until it has ``limit`` instead of
        probing every waiting update and sorting them.
        """
        earlier = aliased(InboxUpdate)
        head = (
            select(earlier.update_id)
            .where(
                earlier.bot_id == self.bot_id,
                earlier.chat_key == InboxUpdate.chat_key,
                earlier.status == _NEW,
            )
            .order_by(earlier.update_id)
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(
                InboxUpdate.id,
                InboxUpdate.update_id,
                InboxUpdate.payload,
                InboxUpdate.attempts,
                InboxUpdate.received_at,
            )
            .where(
                InboxUpdate.bot_id == self.bot_id,
                InboxUpdate.status == _NEW,
                or_(InboxUpdate.lease_until.is_(None), InboxUpdate.lease_until < now),
                or_(InboxUpdate.chat_key.is_(None), InboxUpdate.update_id <= head),
            )
            .order_by(InboxUpdate.id)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=InboxUpdate)
        return query

    async def _set_aside(self, conn: AsyncConnection, spent: Sequence[Any], now: datetime) -> None:
        """Updates taken ``max_attempts`` times that never finished: ``failed``."""
        await conn.execute(
            update(InboxUpdate)
            .where(InboxUpdate.id.in_([row.id for row in spent]))
            .values(status="failed", handled_at=now, lease_until=None)
        )
        for row in spent:
            log.error(
                "update %s was taken %d times and never finished: set aside",
                row.update_id,
                self.max_attempts,
            )

    async def renew(self, worker: str, inbox_ids: Sequence[int], now: datetime) -> None:
        """Keep holding updates still being worked on."""
        if not inbox_ids:
            return
        await self._run(
            update(InboxUpdate)
            .where(*_held(worker, inbox_ids))
            .values(lease_until=now + self.lease)
        )

    async def done(self, inbox_ids: Sequence[int], now: datetime) -> None:
        """``inbox_ids`` were handled and answered."""
        if not inbox_ids:
            return
        await self._run(self._done(inbox_ids, now))

    @staticmethod
    def _done(inbox_ids: Sequence[int], now: datetime) -> Executable:
        return (
            update(InboxUpdate)
            .where(InboxUpdate.id.in_(list(inbox_ids)), InboxUpdate.status == "new")
            .values(status="done", handled_at=now, lease_until=None)
        )

    async def release(self, worker: str, inbox_ids: Sequence[int]) -> None:
        """Hand back updates taken but not handled (an orderly stop): taken again at once."""
        if not inbox_ids:
            return
        await self._run(
            update(InboxUpdate)
            .where(*_held(worker, inbox_ids))
            .values(
                lease_until=None,
                claimed_by=None,
                attempts=func.max(InboxUpdate.attempts - 1, 0)
                if self.db.is_sqlite
                else func.greatest(InboxUpdate.attempts - 1, 0),
            )
        )

    async def forget_leases(self) -> int:
        """A process starting alone on its store (SQLite) takes back what its last run held."""
        return await self._run(
            update(InboxUpdate)
            .where(
                InboxUpdate.bot_id == self.bot_id,
                InboxUpdate.status == _NEW,
                InboxUpdate.lease_until.is_not(None),
            )
            .values(lease_until=None)
        )

    async def prune(self, before: datetime, *, batch: int = 5000) -> int:
        """Delete updates handled before ``before``, a batch at a time; how many went."""
        validation.instant(before)
        removed = 0
        while True:
            chosen = (
                select(InboxUpdate.id)
                .where(
                    InboxUpdate.status.in_(("done", "failed")),
                    InboxUpdate.handled_at < before,
                )
                .limit(batch)
                .scalar_subquery()
            )
            count = await self._run(delete(InboxUpdate).where(InboxUpdate.id.in_(chosen)))
            removed += count
            if count < batch:
                return removed

    async def _run(self, statement: Executable) -> int:
        """One statement in a write transaction of its own; the rows it changed."""

        async def work(conn: AsyncConnection) -> int:
            return int((await conn.execute(statement)).rowcount or 0)

        return await self.db.transact(work)

    async def backlog(self, now: datetime, *, answered: Sequence[int] = ()) -> Backlog:
        """How many updates wait (taken or not) and the age of the oldest.

        ``answered``: updates this process answered whose done mark its workers' next take
        writes; they no longer wait, though the store still says "new" for a moment.
        """
        waiting = and_(InboxUpdate.bot_id == self.bot_id, InboxUpdate.status == _NEW)
        if answered:
            waiting = and_(waiting, InboxUpdate.id.not_in(list(answered)))
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.min(InboxUpdate.received_at)).where(waiting)
                )
            ).one()
        count, oldest = int(row[0]), row[1]
        if oldest is not None and oldest.tzinfo is None:  # a bare aggregate skips the type
            oldest = oldest.replace(tzinfo=now.tzinfo)
        age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        return Backlog(count, age)


def _taken(rows: Sequence[Any]) -> tuple[Taken, ...]:
    """Rows just taken as :class:`Taken` (their attempt counted)."""
    return tuple(
        Taken(int(r.id), int(r.update_id), r.payload, int(r.attempts) + 1, r.received_at)
        for r in rows
    )


def _held(worker: str, inbox_ids: Sequence[int]) -> tuple[ColumnElement[bool], ...]:
    """The updates ``worker`` still holds of ``inbox_ids`` (not taken over, not handled)."""
    return (
        InboxUpdate.id.in_(list(inbox_ids)),
        InboxUpdate.claimed_by == worker,
        InboxUpdate.status == "new",
    )
