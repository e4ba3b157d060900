"""The inbox: stored once, taken in order per chat, taken again when a worker dies."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db.database import Database
from core.operations.inbox import Inbox, Received

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
_BOTS = itertools.count(1000)
LEASE = timedelta(seconds=30)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database.from_url(database_url)
    try:
        yield database
    finally:
        await database.dispose()


def update(update_id: int, chat: int | None) -> Received:
    return Received(update_id, chat, f'{{"update_id": {update_id}}}')


async def test_a_redelivered_update_is_stored_once(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)

    assert await inbox.accept([update(1, 10), update(2, 10)], NOW) == 2
    assert await inbox.accept([update(2, 10), update(3, 11)], NOW) == 1

    taken = await inbox.take("w", NOW, limit=10)
    assert [t.update_id for t in taken] == [1, 3]  # 2 waits for 1: same chat


async def test_another_bot_s_update_ids_are_its_own(db: Database) -> None:
    first, second = Inbox(db, bot_id=1, lease=LEASE), Inbox(db, bot_id=2, lease=LEASE)
    await first.accept([update(7, 10)], NOW)

    assert await second.accept([update(7, 10)], NOW) == 1
    assert [t.update_id for t in await second.take("w", NOW, limit=5)] == [7]


async def test_one_chat_s_updates_are_taken_one_at_a_time_in_order(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(5, 10), update(3, 10), update(4, 11), update(9, None)], NOW)

    first = await inbox.take("a", NOW, limit=10)
    assert sorted(t.update_id for t in first) == [3, 4, 9]  # chat 10 starts at its lowest id
    assert await inbox.take("b", NOW, limit=10) == ()  # 5 waits while 3 is worked on

    await inbox.done([t.inbox_id for t in first if t.update_id == 3], NOW)
    assert [t.update_id for t in await inbox.take("b", NOW, limit=10)] == [5]


async def test_a_take_marks_what_was_handled_done_and_takes_the_chats_next_update(
    db: Database,
) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10), update(2, 10), update(3, 11)], NOW)
    first = await inbox.take("w", NOW, limit=10)
    assert [t.update_id for t in first] == [1, 3]

    handled = [t.inbox_id for t in first if t.update_id == 1]
    (second,) = await inbox.take("w", NOW, limit=10, handled=handled)

    assert second.update_id == 2  # 1 is done: its chat goes on in the same call
    assert (await inbox.backlog(NOW)).waiting == 2  # 2 and 3, both held
    assert await inbox.take("w", NOW, limit=10, handled=handled) == ()  # done once only


async def test_updates_stored_and_taken_in_one_transaction_keep_each_chat_s_order(
    db: Database,
) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10)], NOW)  # waiting before the batch
    (first,) = await inbox.take("w", NOW, limit=10)

    stored, taken = await inbox.accept_and_take(
        [update(2, 10), update(3, 11), update(4, 12), update(1, 10)], "w", NOW, limit=1
    )

    assert stored == 3  # 1 is a re-delivery
    assert [t.update_id for t in taken] == [3]  # 2 waits for 1; the limit leaves 4 waiting
    assert taken[0].attempts == 1
    stored, taken = await inbox.accept_and_take(
        [update(3, 11)], "w", NOW, limit=10, handled=[first.inbox_id]
    )
    assert stored == 0
    assert sorted(t.update_id for t in taken) == [2, 4]  # 1 marked done in the same call
    assert await inbox.take("other", NOW, limit=10) == ()  # nothing taken twice
    assert (await inbox.backlog(NOW)).waiting == 3


async def test_an_update_whose_worker_died_is_taken_again_after_its_lease(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10)], NOW)
    (held,) = await inbox.take("dead", NOW, limit=1)

    assert await inbox.take("alive", NOW + LEASE - timedelta(seconds=1), limit=1) == ()
    (again,) = await inbox.take("alive", NOW + LEASE + timedelta(seconds=1), limit=1)

    assert again.inbox_id == held.inbox_id
    assert again.attempts == 2


async def test_a_renewed_lease_keeps_the_update(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10)], NOW)
    (held,) = await inbox.take("w", NOW, limit=1)

    await inbox.renew("w", [held.inbox_id], NOW + timedelta(seconds=25))

    assert await inbox.take("other", NOW + timedelta(seconds=40), limit=1) == ()


async def test_an_update_that_keeps_killing_its_worker_is_set_aside(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE, max_attempts=3)
    await inbox.accept([update(1, 10), update(2, 10)], NOW)
    moment = NOW
    for _ in range(3):
        (taken,) = await inbox.take("w", moment, limit=1)
        assert taken.update_id == 1
        moment += LEASE * 2

    (next_one,) = await inbox.take("w", moment, limit=1)

    assert next_one.update_id == 2  # the chat goes on
    assert (await inbox.backlog(moment)).waiting == 1


async def test_released_updates_are_taken_at_once_without_counting_a_try(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10)], NOW)
    (held,) = await inbox.take("w", NOW, limit=1)

    await inbox.release("w", [held.inbox_id])

    (again,) = await inbox.take("w", NOW, limit=1)
    assert again.attempts == 1


async def test_a_process_alone_on_its_store_takes_back_what_its_last_run_held(
    db: Database,
) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10)], NOW)
    await inbox.take("killed", NOW, limit=1)

    assert await inbox.forget_leases() == 1
    assert [t.update_id for t in await inbox.take("restarted", NOW, limit=1)] == [1]


async def test_handled_updates_are_pruned_after_the_retention(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10), update(2, 11), update(3, 12)], NOW)
    taken = await inbox.take("w", NOW, limit=3)
    await inbox.done([t.inbox_id for t in taken if t.update_id != 3], NOW)

    assert await inbox.prune(NOW + timedelta(hours=1), batch=1) == 2

    backlog = await inbox.backlog(NOW + timedelta(minutes=5))
    assert backlog.waiting == 1
    assert backlog.oldest_seconds == pytest.approx(300)


async def test_updates_answered_but_not_yet_marked_done_do_not_count_as_waiting(
    db: Database,
) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10), update(2, 11), update(3, 12)], NOW + timedelta(seconds=1))
    await inbox.accept([update(4, 13)], NOW)
    taken = {t.update_id: t.inbox_id for t in await inbox.take("w", NOW, limit=4)}

    # The workers answered 4 (the oldest) and 1; their next take marks them done.
    backlog = await inbox.backlog(NOW + timedelta(minutes=1), answered=[taken[4], taken[1]])
    assert backlog.waiting == 2
    assert backlog.oldest_seconds == pytest.approx(59)  # the oldest still waiting: 2 and 3
    assert (await inbox.backlog(NOW + timedelta(minutes=1))).waiting == 4


async def test_an_id_telegram_reuses_after_a_quiet_spell_is_a_new_update(db: Database) -> None:
    inbox = Inbox(db, bot_id=1, lease=LEASE)
    await inbox.accept([update(1, 10)], NOW)
    (taken,) = await inbox.take("w", NOW, limit=1)
    await inbox.done([taken.inbox_id], NOW)

    assert await inbox.accept([update(1, 10)], NOW + timedelta(hours=2)) == 0  # a re-delivery
    assert await inbox.accept([update(1, 10)], NOW + timedelta(days=8)) == 1  # a new update


async def test_concurrent_workers_never_take_one_update_twice(database_url: str) -> None:
    """Several processes (engines) take from one inbox at once: each update goes to one."""
    dbs = [Database.from_url(database_url) for _ in range(4)]
    try:
        inboxes = [Inbox(db, bot_id=1, lease=LEASE) for db in dbs]
        await inboxes[0].accept([update(i, i % 7) for i in range(1, 141)], NOW)
        seen: list[int] = []

        async def work(index: int) -> None:
            inbox = inboxes[index]
            while True:
                taken = await inbox.take(f"w{index}", NOW, limit=5)
                if not taken:
                    if (await inbox.backlog(NOW)).waiting == 0:
                        return
                    await asyncio.sleep(0.01)
                    continue
                seen.extend(t.update_id for t in taken)
                await inbox.done([t.inbox_id for t in taken], NOW)

        await asyncio.gather(*(work(i) for i in range(4)))

        assert sorted(seen) == list(range(1, 141))
        by_chat: dict[int, list[int]] = {}
        for update_id in seen:
            by_chat.setdefault(update_id % 7, []).append(update_id)
        assert all(ids == sorted(ids) for ids in by_chat.values())  # each chat in order
    finally:
        for db in dbs:
            await db.dispose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.integers(1, 40), st.sampled_from([None, 1, 2, 3])), min_size=1, max_size=30
    ),
    st.lists(st.sampled_from(["take", "done", "finish", "die", "deliver_again"]), max_size=40),
)
async def test_every_update_is_handled_once_in_effect_whatever_happens(
    db: Database,
    arrivals: list[tuple[int, int | None]],
    steps: list[str],
) -> None:
    """Random arrivals, re-deliveries and dying workers: every distinct update ends done, and
    a chat's updates are never worked on two at a time or out of order. A finished update is
    marked done either at once or by the next take (lost if the worker dies before it)."""
    bot_id = next(_BOTS)  # examples share the database: each plays another bot
    inbox = Inbox(db, bot_id=bot_id, lease=LEASE, max_attempts=100)
    chats: dict[int, int | None] = {}
    for update_id, chat in arrivals:
        chats.setdefault(update_id, chat)
    await inbox.accept([update(u, chats[u]) for u, _ in arrivals], NOW)
    moment = NOW
    held: list[tuple[int, int]] = []  # (inbox id, update id) being worked on
    finished: list[int] = []
    answered: list[int] = []  # inbox ids the next take marks done
    for step in [*steps, *["done", "take"] * 80]:
        if step == "take":
            handled, answered = answered, []
            for taken in await inbox.take("w", moment, limit=3, handled=handled):
                chat = chats[taken.update_id]
                busy = {chats[u] for _, u in held}
                assert chat is None or chat not in busy
                held.append((taken.inbox_id, taken.update_id))
        elif step == "done" and held:
            inbox_id, update_id = held.pop(0)
            await inbox.done([inbox_id], moment)
            finished.append(update_id)
        elif step == "finish" and held:
            inbox_id, update_id = held.pop(0)
            answered.append(inbox_id)
            finished.append(update_id)
        elif step == "die":
            held.clear()
            answered.clear()
            moment += LEASE * 2
        elif step == "deliver_again":
            await inbox.accept([update(u, chats[u]) for u in chats], moment)
    assert sorted(set(finished)) == sorted(chats)
    for chat in {c for c in chats.values() if c is not None}:
        order = [u for u in finished if chats[u] == chat]
        assert order == sorted(order)
