"""The outbox: every bulk message is a row, rendered when it is enqueued, sent later by a sender.

A job (or an admin's broadcast) writes its rows in the same transaction as whatever caused
them (a reminder recorded, a sale announced), each under a key naming that cause, so a job
run twice or restarted enqueues nothing twice. A sender (``bot.sender``) then claims rows and
delivers them; any number of senders, in any number of processes, can share one database.

**Pace.** Telegram allows about 30 messages a second per bot and 1 a second per chat, whatever
the number of processes. A claim therefore hands each row a *send slot*: the bot-wide next free
slot lives in one row (``sender_pace``), advanced by ``1 / messages_per_second`` per row, and a
chat is given no slot sooner than ``per_chat_seconds`` after its previous one. Claims are
serialized on that row (``FOR UPDATE`` on PostgreSQL, the single writer on SQLite), and the
rows themselves are taken with ``FOR UPDATE SKIP LOCKED``; a claim only reaches
:data:`HORIZON_SECONDS` ahead, so the pace row is touched a few times a second, not per
message. A 429 pushes the pace row past ``retry_after`` for everyone. The configured rate is a
ceiling: a sender that met a 429 claims at a slower interval of its own for a while and creeps
back up (:class:`AdaptivePace`, driven by ``bot.sender``), never above ``messages_per_second``.

**States.** ``pending`` -> ``claimed`` (a slot and a lease) -> ``sending`` (written just before
the API call) -> ``sent`` | ``failed`` | ``unreachable``; a 429 or a passing failure puts the
row back to ``pending`` with ``not_before``.

**At most once.** Telegram's sendMessage has no idempotency key: after a call that got no
answer, nobody can know whether the member has the message. Between sending a member the
same reminder twice and (rarely) not at all, the outbox picks *never twice*: a row is marked
``sending`` in its own committed transaction before the call, and is marked ``sent`` only after
Telegram accepted it. So

- a sender that dies (killed, machine lost) with rows merely ``claimed`` loses nothing: their
  lease runs out and any sender claims them again, since none of them was tried;
- a sender stopped in an orderly way (cancelled) first finishes the calls under way and hands
  its claimed rows back at once;
- a row found ``sending`` after its lease ran out belonged to a sender that died *during* the
  call. It is marked ``uncertain`` and never sent again; admins see it counted as such. The
  window is one API call per call in flight (``[sender] concurrency``) per crash.
- a row whose call a sender abandoned without dying (its task cancelled as the event loop
  shut down) is that same case, recorded at once (:meth:`Outbox.interrupted`); one stopped
  after ``sending`` was written but before its call goes back to ``pending``
  (:meth:`Outbox.untried`).

Each of these is one transaction, committed or rolled back whole: the sender never lets a
cancellation cut one off (``bot.sender.uninterrupted``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Broadcast, Member, OutboxMessage, SenderPace, UnreachableChat
from core.errors import InvalidInput
from core.reporting.audit import write_entry

# How far ahead a claim hands out send slots.
HORIZON_SECONDS = 2.0
# A claimed row not started within this long after its slot goes back to pending.
CLAIM_LEASE_SECONDS = 30.0
# A row still ``sending`` this long after its call began is ``uncertain``.
CALL_LEASE_SECONDS = 120.0
# Backoff after a passing failure: BASE * 2 ** (attempts - 1), at most MAX.
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 300.0
# Why a row is uncertain: its call began and nobody knows how it ended.
INTERRUPTED = "the sender stopped during the call"
WAITING = ("pending", "claimed", "sending")
FINISHED = ("sent", "failed", "unreachable", "uncertain")


# AIMD on the bulk pace (why: ``bot.sender``'s docstring): a 429 multiplies the rate by
# DECREASE; each accepted message adds INCREASE / rate (PROBE / rate within PROBE_ZONE of the
# rate at which the last 429 came).
DECREASE = 0.85
INCREASE = 1.0
PROBE = 0.2
PROBE_ZONE = 0.95
SLOWEST = 1.0


class AdaptivePace:
    """The rate (messages a second) at which one process claims slots: ``ceiling`` at first,
    lowered on a 429 and crept back up as messages are accepted (``bot.sender`` says why)."""

    def __init__(self, ceiling: float) -> None:
        self.ceiling = ceiling
        self.rate = ceiling
        self.slowest = ceiling  # the lowest rate it went down to (reported by the bench)
        self.limited_at: float | None = None  # the rate when the last 429 came
        self._slowed_at: datetime | None = None

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=1 / self.rate)

    def slow_down(self, call_started: datetime, now: datetime) -> bool:
        """A 429 answered a call started at ``call_started``: lower the rate, once per flood
        (a call started before the last decrease belongs to the flood that caused it).
        True if the rate was lowered."""
        if self._slowed_at is not None and call_started < self._slowed_at:
            return False
        self.limited_at = self.rate
        self.rate = max(SLOWEST, min(self.ceiling, self.rate * DECREASE))
        self.slowest = min(self.slowest, self.rate)
        self._slowed_at = now
        return True

    def accepted(self) -> None:
        """A message went through: creep back towards the ceiling."""
        if self.rate >= self.ceiling:
            return
        near = self.limited_at is not None and self.rate >= self.limited_at * PROBE_ZONE
        step = PROBE if near else INCREASE
        self.rate = min(self.ceiling, self.rate + step / self.rate)


@dataclass(frozen=True)
class Envelope:
    """A message to enqueue: the cause's key, the chat, the rendered screen (opaque here)."""

    key: str
    chat_id: int
    payload: str


@dataclass(frozen=True)
class Claimed:
    """A row a sender took: send it at ``slot_at``, not before."""

    outbox_id: int
    chat_id: int
    payload: str
    slot_at: datetime
    attempts: int


@dataclass(frozen=True)
class Progress:
    """Where a broadcast stands: ``pending`` counts rows waiting, claimed or in a call."""

    broadcast_id: int
    kind: str
    audience: str
    created_at: datetime
    total: int
    sent: int
    failed: int
    unreachable: int
    uncertain: int
    pending: int

    @property
    def done(self) -> bool:
        return self.pending == 0


def dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    """INSERT with ON CONFLICT for the connection's database."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def open_broadcast(
    conn: AsyncConnection,
    *,
    key: str,
    kind: str,
    audience: str,
    now: datetime,
    created_by: int | None = None,
) -> int | None:
    """A new broadcast's id; None if ``key`` was broadcast before (nothing to do then)."""
    statement = (
        dialect_insert(conn, Broadcast)
        .values(key=key, kind=kind, audience=audience[:96], created_by=created_by, created_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Broadcast.id)
    )
    found = (await conn.execute(statement)).scalar_one_or_none()
    return None if found is None else int(found)


async def enqueue(
    conn: AsyncConnection,
    envelopes: Iterable[Envelope],
    *,
    now: datetime,
    broadcast_id: int | None = None,
) -> int:
    """Add messages in the caller's transaction; keys enqueued before and unreachable chats
    are skipped. Returns how many rows were added."""
    rows = [
        {
            "key": e.key,
            "broadcast_id": broadcast_id,
            "chat_id": e.chat_id,
            "payload": e.payload,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
        }
        for e in envelopes
    ]
    if not rows:
        return 0
    blocked = set(
        (
            await conn.execute(
                select(UnreachableChat.chat_id).where(
                    UnreachableChat.chat_id.in_({row["chat_id"] for row in rows})
                )
            )
        ).scalars()
    )
    rows = [row for row in rows if row["chat_id"] not in blocked]
    added = 0
    for start in range(0, len(rows), 500):
        part = rows[start : start + 500]
        result = await conn.execute(
            dialect_insert(conn, OutboxMessage)
            .values(part)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(OutboxMessage.id)
        )
        added += len(result.all())
    return added


async def enqueue_members(
    conn: AsyncConnection,
    *,
    broadcast_id: int,
    key_prefix: str,
    payloads: Mapping[str, str],
    default_language: str,
    where: Sequence[ColumnElement[bool]],
    now: datetime,
) -> int:
    """One message to each member matching ``where``, in their language, set-based.

    ``payloads`` maps a catalog language to its rendered message; a member whose language has
    none gets ``default_language``'s. Erased members and unreachable chats are skipped. The
    key of each row is ``key_prefix`` and the member's id.
    """
    if default_language not in payloads:
        raise InvalidInput("payloads lack the default language", field="payloads")
    others = [(lang, text) for lang, text in payloads.items() if lang != default_language]
    payload: ColumnElement[str]
    if others:
        payload = case(
            *[(Member.language == lang, literal(text)) for lang, text in others],
            else_=literal(payloads[default_language]),
        )
    else:
        payload = literal(payloads[default_language])
    chosen = select(
        literal(key_prefix, String) + cast(Member.id, String(20)),
        literal(broadcast_id),
        Member.id,
        payload,
        literal("pending"),
        literal(0),
        bindparam("now", now, type_=OutboxMessage.created_at.type),
    ).where(
        Member.deleted_at.is_(None),
        ~exists().where(UnreachableChat.chat_id == Member.id),
        *where,
    )
    statement = (
        dialect_insert(conn, OutboxMessage)
        .from_select(
            ["key", "broadcast_id", "chat_id", "payload", "status", "attempts", "created_at"],
            chosen,
        )
        .on_conflict_do_nothing(index_elements=["key"])
    )
    result = await conn.execute(statement)
    return int(result.rowcount or 0)


class Outbox:
    """The sender's side: claim rows on a shared pace, then record what each call did."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config
        sender = config.sender
        self.interval = timedelta(seconds=float(Decimal(1) / sender.messages_per_second))
        self.per_chat = timedelta(seconds=float(sender.per_chat_seconds))
        self.max_attempts = sender.max_attempts
        # This process's bulk rate: the configured one at most, lowered by the sender on a 429.
        self.pace = AdaptivePace(float(sender.messages_per_second))

    # -- an admin's broadcast ------------------------------------------------------------

    async def broadcast(
        self,
        *,
        key: str,
        payloads: Mapping[str, str],
        default_language: str,
        now: datetime,
        created_by: int | None = None,
        tier: str | None = None,
        actor_id: int | None = None,
        text: str = "",
    ) -> int:
        """A message to every member (who has not blocked the bot), or to one tier's.

        Admins' broadcasts reach members whatever their announcements choice: they are how
        the mall speaks to everyone. ``key`` (the confirm button's token) makes a repeated
        confirmation return the first broadcast's id and enqueue nothing more.

        With ``actor_id`` (the admin) the ``broadcast`` audit entry (its audience and the
        first 200 characters of ``text``, the message as the admin wrote it) is written in
        the same transaction as the broadcast; a repeated confirmation writes none.
        """
        validation.key(key)
        if len(key) > 90:
            raise InvalidInput("a broadcast key is at most 90 characters", field="key")
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        async with self.db.write() as conn:
            audience = "all" if tier is None else f"tier:{tier}"
            found = await open_broadcast(
                conn, key=key, kind="admin", audience=audience, now=now, created_by=created_by
            )
            if found is None:
                existing = await conn.execute(select(Broadcast.id).where(Broadcast.key == key))
                return int(existing.scalar_one())
            where = [] if tier is None else [Member.tier == tier]
            await enqueue_members(
                conn,
                broadcast_id=found,
                key_prefix=f"{key}:",
                payloads=payloads,
                default_language=default_language,
                where=where,
                now=now,
            )
            if actor_id is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="broadcast",
                    target=f"broadcast:{found}",
                    now=now,
                    after={"audience": tier or "all", "text": text[:200]},
                )
            return found

    async def audience_size(self, tier: str | None = None) -> int:
        """How many members a broadcast to all (or to ``tier``) would reach now."""
        where = [
            Member.deleted_at.is_(None),
            ~exists().where(UnreachableChat.chat_id == Member.id),
        ]
        if tier is not None:
            where.append(Member.tier == tier)
        async with self.db.read() as conn:
            count = (await conn.execute(select(func.count()).where(*where))).scalar_one()
        return int(count)

    async def recent(self, limit: int = 5) -> tuple[Progress, ...]:
        """The latest admin broadcasts, newest first, with their progress."""
        async with self.db.read() as conn:
            ids = (
                await conn.execute(
                    select(Broadcast.id)
                    .where(Broadcast.kind == "admin")
                    .order_by(Broadcast.id.desc())
                    .limit(limit)
                )
            ).scalars()
            found = [int(i) for i in ids]
        return tuple([await self.progress(broadcast_id) for broadcast_id in found])

    # -- claiming -----------------------------------------------------------------------

    async def claim(self, worker: str, now: datetime, *, limit: int = 100) -> tuple[Claimed, ...]:
        """Take due rows for ``worker``, each with a send slot within the next seconds.

        Slots are spaced by :attr:`pace` (``1 / messages_per_second``, slower for a while after
        a 429, see ``bot.sender``). Also recovers from senders that died: claimed rows past
        their lease go back to pending; rows left ``sending`` past theirs become ``uncertain``
        (see the module).
        """
        validation.instant(now)
        step = max(self.pace.interval, self.interval)
        async with self.db.write() as conn:
            next_slot = await self._lock_pace(conn, now)
            await self._recover(conn, now)
            query = (
                select(OutboxMessage.id, OutboxMessage.chat_id, OutboxMessage.attempts)
                .where(
                    OutboxMessage.status == "pending",
                    or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now),
                )
                .order_by(OutboxMessage.id)
                .limit(limit * 2)
            )
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            candidates = (await conn.execute(query)).all()
            if not candidates:
                return ()
            chats = {int(row.chat_id) for row in candidates}
            recent = dict(
                (
                    await conn.execute(
                        select(OutboxMessage.chat_id, func.max(OutboxMessage.slot_at))
                        .where(
                            OutboxMessage.chat_id.in_(chats),
                            OutboxMessage.slot_at > now - self.per_chat,
                        )
                        .group_by(OutboxMessage.chat_id)
                    )
                ).all()
            )
            cursor = max(next_slot, now)
            horizon = now + timedelta(seconds=HORIZON_SECONDS)
            taken: list[tuple[int, int, int, datetime]] = []
            seen: set[int] = set()
            for row in candidates:
                chat = int(row.chat_id)
                if chat in seen:
                    continue  # one message per chat per claim; the next claim takes the next
                seen.add(chat)
                last = recent.get(chat)
                if last is not None and last + self.per_chat > cursor:
                    continue  # this chat is not free yet; the slot goes to another chat
                if cursor > horizon or len(taken) >= limit:
                    break
                taken.append((int(row.id), chat, int(row.attempts), cursor))
                cursor += step
            if not taken:
                return ()
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == bindparam("row_id"))
                .values(
                    status="claimed",
                    slot_at=bindparam("slot"),
                    lease_until=bindparam("lease"),
                    claimed_by=worker,
                )
                .execution_options(synchronize_session=False),
                [
                    {
                        "row_id": row_id,
                        "slot": slot,
                        "lease": slot + timedelta(seconds=CLAIM_LEASE_SECONDS),
                    }
                    for row_id, _, _, slot in taken
                ],
            )
            await conn.execute(
                update(SenderPace).where(SenderPace.id == 1).values(next_slot=cursor)
            )
            payloads = dict(
                (
                    await conn.execute(
                        select(OutboxMessage.id, OutboxMessage.payload).where(
                            OutboxMessage.id.in_([row_id for row_id, _, _, _ in taken])
                        )
                    )
                ).all()
            )
        return tuple(
            Claimed(row_id, chat, payloads[row_id], slot, attempts)
            for row_id, chat, attempts, slot in taken
        )

    async def _lock_pace(self, conn: AsyncConnection, now: datetime) -> datetime:
        """The bot's next free slot, locked until the claim commits."""
        query = select(SenderPace.next_slot).where(SenderPace.id == 1)
        if not self.db.is_sqlite:
            query = query.with_for_update()
        found = (await conn.execute(query)).scalar_one_or_none()
        if found is None:  # an emptied table (tests); the migration writes the row
            await conn.execute(
                dialect_insert(conn, SenderPace)
                .values(id=1, next_slot=now)
                .on_conflict_do_nothing(index_elements=["id"])
            )
            found = (await conn.execute(query)).scalar_one()
        return found

    @staticmethod
    async def _recover(conn: AsyncConnection, now: datetime) -> None:
        await conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.lease_until < now)
            .values(status="uncertain", error=INTERRUPTED)
        )
        await conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == "claimed", OutboxMessage.lease_until < now)
            .values(status="pending", slot_at=None, lease_until=None, claimed_by=None)
        )

    # -- one row's fate -----------------------------------------------------------------

    async def start(self, outbox_id: int, worker: str, now: datetime) -> bool:
        """Mark the row ``sending`` just before its call; False if it is not ours any more."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == outbox_id,
                    OutboxMessage.status == "claimed",
                    OutboxMessage.claimed_by == worker,
                )
                .values(status="sending", lease_until=now + timedelta(seconds=CALL_LEASE_SECONDS))
            )
            return bool(result.rowcount)

    async def sent(self, outbox_id: int, worker: str, now: datetime) -> None:
        """Telegram accepted the message (also when a sweep had given up on the call)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == outbox_id,
                    OutboxMessage.claimed_by == worker,
                    OutboxMessage.status.in_(("sending", "uncertain")),
                )
                .values(status="sent", sent_at=now, lease_until=None, error=None)
            )

    async def retry_after(self, outbox_id: int, worker: str, until: datetime) -> None:
        """A 429: the row waits until ``until``, and so does every sender (the pace moves)."""
        async with self.db.write() as conn:
            await self._lock_pace(conn, until)
            await conn.execute(
                update(SenderPace)
                .where(SenderPace.id == 1, SenderPace.next_slot < until)
                .values(next_slot=until)
            )
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id, OutboxMessage.claimed_by == worker)
                .values(
                    status="pending",
                    not_before=until,
                    slot_at=None,
                    lease_until=None,
                    claimed_by=None,
                )
            )

    async def transient(self, outbox_id: int, worker: str, now: datetime, error: str) -> bool:
        """A passing failure: try again later with backoff, or give up after the last try.

        Returns True when the row will be tried again.
        """
        async with self.db.write() as conn:
            attempts = (
                await conn.execute(
                    select(OutboxMessage.attempts).where(OutboxMessage.id == outbox_id)
                )
            ).scalar_one()
            tried = int(attempts) + 1
            again = tried < self.max_attempts
            wait = min(BACKOFF_BASE_SECONDS * 2 ** (tried - 1), BACKOFF_MAX_SECONDS)
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id, OutboxMessage.claimed_by == worker)
                .values(
                    status="pending" if again else "failed",
                    attempts=tried,
                    not_before=now + timedelta(seconds=wait) if again else None,
                    slot_at=None,
                    lease_until=None,
                    claimed_by=None if again else worker,
                    error=error[:200],
                )
            )
            return again

    async def failed(self, outbox_id: int, worker: str, error: str) -> None:
        """Telegram refused the message for good (a bad request): not tried again."""
        async with self.db.write() as conn:
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id, OutboxMessage.claimed_by == worker)
                .values(status="failed", lease_until=None, error=error[:200])
            )

    async def unreachable(
        self, outbox_id: int, worker: str, chat_id: int, now: datetime, reason: str
    ) -> None:
        """The member blocked the bot (403): this row and the chat's waiting ones are done."""
        async with self.db.write() as conn:
            await conn.execute(
                dialect_insert(conn, UnreachableChat)
                .values(chat_id=chat_id, since=now, reason=reason[:200])
                .on_conflict_do_nothing(index_elements=["chat_id"])
            )
            await conn.execute(
                update(OutboxMessage)
                .where(
                    or_(
                        and_(OutboxMessage.id == outbox_id, OutboxMessage.claimed_by == worker),
                        and_(OutboxMessage.chat_id == chat_id, OutboxMessage.status == "pending"),
                    )
                )
                .values(status="unreachable", lease_until=None, error=reason[:200])
            )

    async def message(self, envelope: Envelope, now: datetime) -> bool:
        """One message to one member, sent by the sender; its key makes a repeat a no-op.

        False when nothing was added (the key was enqueued before, or the chat is
        unreachable)."""
        validation.instant(now)
        async with self.db.write() as conn:
            return await enqueue(conn, [envelope], now=now) == 1

    async def mark_unreachable(self, chat_id: int, now: datetime, reason: str) -> None:
        """A member blocked the bot (found while answering them): bulk messages skip them."""
        async with self.db.write() as conn:
            await conn.execute(
                dialect_insert(conn, UnreachableChat)
                .values(chat_id=chat_id, since=now, reason=reason[:200])
                .on_conflict_do_nothing(index_elements=["chat_id"])
            )

    async def release(self, worker: str, outbox_ids: Sequence[int]) -> None:
        """Hand back claimed rows not yet started (an orderly stop, or after a 429)."""
        if not outbox_ids:
            return
        async with self.db.write() as conn:
            await conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(list(outbox_ids)),
                    OutboxMessage.status == "claimed",
                    OutboxMessage.claimed_by == worker,
                )
                .values(status="pending", slot_at=None, lease_until=None, claimed_by=None)
            )

    async def untried(self, outbox_id: int, worker: str) -> None:
        """The row was never tried: its sender stopped before the call, after or before
        :meth:`start` marked it. Back to pending for any sender."""
        async with self.db.write() as conn:
            await conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == outbox_id,
                    OutboxMessage.status.in_(("claimed", "sending")),
                    OutboxMessage.claimed_by == worker,
                )
                .values(status="pending", slot_at=None, lease_until=None, claimed_by=None)
            )

    async def interrupted(self, outbox_id: int, worker: str) -> None:
        """The sender abandoned the row's call midway: ``uncertain`` now rather than when its
        lease runs out, and never sent again (see the module)."""
        async with self.db.write() as conn:
            await conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == outbox_id,
                    OutboxMessage.status == "sending",
                    OutboxMessage.claimed_by == worker,
                )
                .values(status="uncertain", lease_until=None, error=INTERRUPTED)
            )

    # -- reading ------------------------------------------------------------------------

    async def reachable(self, chat_id: int) -> None:
        """The member can be written to again (they wrote to the bot after blocking it)."""
        async with self.db.write() as conn:
            await conn.execute(delete(UnreachableChat).where(UnreachableChat.chat_id == chat_id))

    async def waiting(self) -> int:
        """Rows not finished yet (pending, claimed or in a call), whatever their broadcast."""
        async with self.db.read() as conn:
            count = (
                await conn.execute(select(func.count()).where(OutboxMessage.status.in_(WAITING)))
            ).scalar_one()
        return int(count)

    async def next_due(self, now: datetime) -> datetime | None:
        """When the soonest waiting row may be claimed (None: nothing waits)."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(func.count(), func.min(OutboxMessage.not_before)).where(
                        OutboxMessage.status == "pending"
                    )
                )
            ).one()
        count, soonest = int(row[0]), row[1]
        if not count:
            return None
        return soonest if soonest is not None and soonest > now else now

    async def progress(self, broadcast_id: int) -> Progress:
        """Sent, failed and waiting messages of one broadcast."""
        async with self.db.read() as conn:
            found = (
                await conn.execute(select(Broadcast).where(Broadcast.id == broadcast_id))
            ).first()
            if found is None:
                raise InvalidInput(f"no broadcast {broadcast_id}", field="broadcast_id")
            counts: dict[str, int] = {
                status: int(count)
                for status, count in await conn.execute(
                    select(OutboxMessage.status, func.count())
                    .where(OutboxMessage.broadcast_id == broadcast_id)
                    .group_by(OutboxMessage.status)
                )
            }
        return Progress(
            broadcast_id=broadcast_id,
            kind=found.kind,
            audience=found.audience,
            created_at=found.created_at,
            total=sum(counts.values()),
            sent=counts.get("sent", 0),
            failed=counts.get("failed", 0),
            unreachable=counts.get("unreachable", 0),
            uncertain=counts.get("uncertain", 0),
            pending=sum(counts.get(status, 0) for status in WAITING),
        )
