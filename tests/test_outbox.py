"""The outbox: each message once, on the bot-wide pace, surviving senders that stop or die."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from core.config import Config
from core.db.database import Database
from core.mall import Mall
from core.operations.outbox import (
    CALL_LEASE_SECONDS,
    CLAIM_LEASE_SECONDS,
    DECREASE,
    AdaptivePace,
    Envelope,
    Outbox,
    enqueue,
)
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

NOW = at("2026-03-02 10:00")


async def put(mall: Mall, *envelopes: Envelope) -> int:
    async with mall.db.write() as conn:
        return await enqueue(conn, envelopes, now=NOW)


def message(chat_id: int, n: int = 0) -> Envelope:
    return Envelope(f"test:{chat_id}:{n}", chat_id, f"hello {chat_id} #{n}")


async def test_a_cause_enqueued_twice_is_one_message(mall: Mall) -> None:
    assert await put(mall, message(1), message(2)) == 2
    assert await put(mall, message(1), message(2), message(3)) == 1

    claimed = await mall.outbox.claim("a", NOW)

    assert sorted(c.chat_id for c in claimed) == [1, 2, 3]


# The slot arithmetic at a configured 25 a second (a slot every 40 ms); the default is 30.
PACED_25 = "[sender]\nmessages_per_second = 25"


async def test_slots_follow_the_bot_wide_rate_and_one_per_chat_a_second(
    make_mall: MallFactory,
) -> None:
    mall = await make_mall(make_config(PACED_25))
    # 25 a second: a slot every 40 ms; chat 7 has three messages, chat 8 one.
    await put(mall, message(7, 1), message(7, 2), message(8), message(7, 3))

    first = await mall.outbox.claim("a", NOW)

    assert [(c.chat_id, c.slot_at - NOW) for c in first] == [
        (7, timedelta(0)),
        (8, timedelta(milliseconds=40)),
    ]
    # Half a second on, chat 7 is not free yet: nothing to claim.
    assert await mall.outbox.claim("a", NOW + timedelta(milliseconds=500)) == ()
    second = await mall.outbox.claim("a", NOW + timedelta(seconds=1))
    assert [(c.chat_id, c.payload) for c in second] == [(7, "hello 7 #2")]


async def test_a_claim_reaches_only_two_seconds_ahead(make_mall: MallFactory) -> None:
    mall = await make_mall(make_config(PACED_25))
    await put(mall, *(message(chat) for chat in range(1, 201)))

    claimed = await mall.outbox.claim("a", NOW, limit=500)

    assert len(claimed) == 51  # slots at 0, 40 ms, ... 2 s
    assert claimed[-1].slot_at == NOW + timedelta(seconds=2)
    # The next claim, by anyone, continues where the pace stands.
    more = await mall.outbox.claim("b", NOW, limit=500)
    assert more == ()
    later = await mall.outbox.claim("b", NOW + timedelta(seconds=1), limit=10)
    assert later[0].slot_at == NOW + timedelta(seconds=2, milliseconds=40)


async def test_sent_rows_are_counted_in_the_broadcasts_progress(mall: Mall) -> None:
    from core.operations.outbox import open_broadcast

    async with mall.db.write() as conn:
        broadcast = await open_broadcast(conn, key="b:1", kind="admin", audience="all", now=NOW)
        assert broadcast is not None
        await enqueue(conn, [message(1), message(2), message(3)], now=NOW, broadcast_id=broadcast)
        assert await open_broadcast(conn, key="b:1", kind="admin", audience="all", now=NOW) is None
    one, two, _ = await mall.outbox.claim("a", NOW)
    assert await mall.outbox.start(one.outbox_id, "a", NOW)
    await mall.outbox.sent(one.outbox_id, "a", NOW)
    assert await mall.outbox.start(two.outbox_id, "a", NOW)
    await mall.outbox.failed(two.outbox_id, "a", "Bad Request: can't parse entities")

    progress = await mall.outbox.progress(broadcast)

    assert (progress.total, progress.sent, progress.failed, progress.pending) == (3, 1, 1, 1)
    assert not progress.done


async def test_a_dead_senders_claimed_rows_are_sent_by_another_but_never_one_in_a_call(
    mall: Mall,
) -> None:
    await put(mall, message(1), message(2), message(3))
    dead = await mall.outbox.claim("dead", NOW)
    # It had begun the call for chat 1, then died; chats 2 and 3 were never tried.
    assert await mall.outbox.start(dead[0].outbox_id, "dead", NOW)

    before_leases = await mall.outbox.claim("alive", NOW + timedelta(seconds=5))
    after = NOW + timedelta(seconds=max(CLAIM_LEASE_SECONDS, CALL_LEASE_SECONDS) + 5)
    taken = await mall.outbox.claim("alive", after)

    assert before_leases == ()
    assert sorted(c.chat_id for c in taken) == [2, 3]
    # The dead sender's slot cannot start any more: the row is someone else's now.
    assert not await mall.outbox.start(dead[1].outbox_id, "dead", after)
    async with mall.db.read() as conn:
        from sqlalchemy import text

        states: dict[int, str] = dict(
            (await conn.execute(text("SELECT chat_id, status FROM outbox"))).all()
        )
    assert states == {1: "uncertain", 2: "claimed", 3: "claimed"}


async def test_a_429_holds_every_sender_back_until_retry_after(make_mall: MallFactory) -> None:
    mall = await make_mall(make_config(PACED_25))
    await put(mall, message(1), message(2))
    first, second = await mall.outbox.claim("a", NOW)
    assert await mall.outbox.start(first.outbox_id, "a", NOW)
    until = NOW + timedelta(seconds=5)

    await mall.outbox.retry_after(first.outbox_id, "a", until)
    await mall.outbox.release("a", [second.outbox_id])

    assert await mall.outbox.claim("b", NOW + timedelta(seconds=1)) == ()
    again = await mall.outbox.claim("b", until)
    assert [(c.chat_id, c.slot_at, c.attempts) for c in again] == [
        (1, until, 0),
        (2, until + timedelta(milliseconds=40), 0),
    ]


async def test_passing_failures_back_off_then_give_up(make_mall: MallFactory) -> None:
    mall = await make_mall(make_config("[sender]\nmax_attempts = 3"))
    await put(mall, message(1))
    now = NOW
    waits = []
    for _ in range(3):
        (row,) = await mall.outbox.claim("a", now)
        assert await mall.outbox.start(row.outbox_id, "a", now)
        again = await mall.outbox.transient(row.outbox_id, "a", now, "timed out")
        if not again:
            break
        assert await mall.outbox.claim("a", now) == ()
        due = await mall.outbox.next_due(now)
        assert due is not None
        waits.append(due - now)
        now = due

    assert waits == [timedelta(seconds=2), timedelta(seconds=4)]
    assert await mall.outbox.waiting() == 0
    assert await mall.outbox.next_due(now) is None


async def test_a_member_who_blocked_the_bot_gets_no_more_bulk_messages(mall: Mall) -> None:
    await put(mall, message(1, 1), message(1, 2), message(2))
    first = (await mall.outbox.claim("a", NOW))[0]
    assert first.chat_id == 1
    assert await mall.outbox.start(first.outbox_id, "a", NOW)

    await mall.outbox.unreachable(first.outbox_id, "a", 1, NOW, "bot was blocked by the user")

    assert await put(mall, message(1, 3)) == 0
    later = await mall.outbox.claim("a", NOW + timedelta(seconds=5))
    assert [c.chat_id for c in later] == []  # chat 2 was claimed already, chat 1 is done
    await mall.outbox.reachable(1)
    assert await put(mall, message(1, 4)) == 1


async def test_two_senders_on_one_database_send_each_row_exactly_once(
    database_url: str,
) -> None:
    config: Config = make_config("[sender]\nmessages_per_second = 30")
    databases = [Database.from_url(database_url) for _ in range(2)]
    outboxes = [Outbox(db, config) for db in databases]
    mall = Mall.build(databases[0], config)
    await put(mall, *(message(chat) for chat in range(1, 301)))
    sent: list[tuple[str, int]] = []
    clock = [NOW]

    async def sender(name: str, outbox: Outbox) -> None:
        idle = 0
        while idle < 3:
            rows = await outbox.claim(name, clock[0], limit=20)
            idle = 0 if rows else idle + 1
            for row in rows:
                if await outbox.start(row.outbox_id, name, clock[0]):
                    sent.append((name, row.chat_id))
                    await outbox.sent(row.outbox_id, name, clock[0])
            clock[0] += timedelta(seconds=1)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(sender(f"s{i}", o) for i, o in enumerate(outboxes)))
    finally:
        for db in databases:
            await db.dispose()

    chats = sorted(chat for _, chat in sent)
    assert chats == list(range(1, 301))
    assert {name for name, _ in sent} == {"s0", "s1"}


async def test_a_row_stopped_before_its_call_is_sent_later_and_one_stopped_during_it_never(
    mall: Mall,
) -> None:
    await put(mall, message(1), message(2))
    before, during = await mall.outbox.claim("a", NOW)
    assert await mall.outbox.start(before.outbox_id, "a", NOW)
    assert await mall.outbox.start(during.outbox_id, "a", NOW)

    # The sender stopped after marking the first ``sending`` but before its call; the second
    # one's call was under way. Only the first is claimed again, at once.
    await mall.outbox.untried(before.outbox_id, "a")
    await mall.outbox.interrupted(during.outbox_id, "a")
    await mall.outbox.untried(during.outbox_id, "a")  # too late: its call began

    again = await mall.outbox.claim("b", NOW + timedelta(seconds=1))
    assert [c.chat_id for c in again] == [1]
    assert await mall.outbox.start(again[0].outbox_id, "b", NOW + timedelta(seconds=1))
    await mall.outbox.sent(again[0].outbox_id, "b", NOW + timedelta(seconds=1))
    later = NOW + timedelta(seconds=CALL_LEASE_SECONDS + 5)
    assert await mall.outbox.claim("b", later) == ()
    async with mall.db.read() as conn:
        from sqlalchemy import text

        states = dict((await conn.execute(text("SELECT chat_id, status FROM outbox"))).all())
    assert states == {1: "sent", 2: "uncertain"}


async def test_after_a_429_claims_space_slots_by_the_slower_pace_then_creep_back(
    mall: Mall,
) -> None:
    await put(mall, *(message(chat) for chat in range(1, 101)))
    pace = mall.outbox.pace
    assert pace.rate == 30  # the default: Telegram's limit

    pace.slow_down(NOW, NOW)  # a 429
    claimed = await mall.outbox.claim("a", NOW, limit=3)

    gaps = {b.slot_at - a.slot_at for a, b in itertools.pairwise(claimed)}
    assert gaps == {timedelta(seconds=1 / (30 * DECREASE))}
    for _ in range(1000):
        pace.accepted()
    assert pace.rate == 30  # never beyond the configured ceiling
    later = await mall.outbox.claim("a", NOW + timedelta(seconds=5), limit=3)
    assert {b.slot_at - a.slot_at for a, b in itertools.pairwise(later)} == {
        timedelta(seconds=1 / 30)
    }


def test_the_pace_drops_once_per_flood_and_creeps_back_slower_near_the_last_limit() -> None:
    start = NOW
    pace = AdaptivePace(30)

    assert pace.slow_down(start, start + timedelta(seconds=1))
    # Calls begun before that decrease answer 429 for the same flood: no further drop.
    assert not pace.slow_down(start + timedelta(milliseconds=500), start + timedelta(seconds=1))
    assert pace.rate == 30 * DECREASE
    # A call begun after it that meets a 429 again is a new flood.
    assert pace.slow_down(start + timedelta(seconds=2), start + timedelta(seconds=2))
    assert pace.rate == 30 * DECREASE * DECREASE
    assert pace.slowest == pace.rate

    # Far below the rate of the last 429, about +1 a second per second of sending ...
    low = pace.rate
    for _ in range(round(low)):  # about one second's worth of messages
        pace.accepted()
    assert low + 0.9 < pace.rate < low + 1.1
    # ... near it, a slow probe.
    while pace.rate < 30 * DECREASE * 0.95:
        pace.accepted()
    near = pace.rate
    for _ in range(round(near)):
        pace.accepted()
    assert pace.rate - near < 0.25
    floor = AdaptivePace(1)
    floor.slow_down(start, start)
    assert floor.rate == 1  # never below one message a second
