"""Group commit on SQLite's writer thread (core.db.writer): several queued use cases in one
transaction, each in a savepoint of its own, and nobody told "done" before the commit.

A batch is forced, not hoped for: a first use case holds the writer thread on an event until
the others are queued behind it, so they are taken together. No timing is relied on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from core.db.database import Database
from core.db.writer import SqliteWriter
from core.errors import InsufficientPoints
from core.mall import Mall
from tests.conftest import at

MEMBERS = (4101, 4102, 4103, 4104, 4105)
MORNING = at("2026-03-02 10:00")
_INSERT_CHECKIN = text(
    "INSERT INTO checkins (member_id, day, streak, reward, makeup, created_at)"
    " VALUES (:member, '2026-03-09', 1, 0, 0, '2026-03-09 01:00:00.000000')"
)
_CHECKINS_OF = text("SELECT count(*) FROM checkins WHERE member_id = :member")


class Boom(Exception):
    """A use case's own failure, after it wrote."""


def _writer(mall: Mall) -> SqliteWriter:
    if mall.db.writer is None:
        pytest.skip("group commit is SQLite's writer thread; PostgreSQL commits per use case")
    return mall.db.writer


async def _joined(mall: Mall) -> Mall:
    for member in MEMBERS:
        await mall.members.join(member, f"M{member}", "en", at("2026-03-01 09:00"))
    return mall


async def _checkins(db: Database, member: int) -> int:
    async with db.read() as conn:
        return int((await conn.execute(_CHECKINS_OF, {"member": member})).scalar_one())


async def _until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (they need no real wait for it)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


async def _in_one_batch(
    mall: Mall, calls: list[Callable[[], Awaitable[Any]]]
) -> tuple[list[Any], int]:
    """Run ``calls`` (each a use case through ``Database.transact``) queued together behind a
    use case that holds the writer until they are all queued; their outcomes (result or
    exception) and how many transactions the writer began for them."""
    writer = _writer(mall)
    started, release = threading.Event(), threading.Event()

    async def hold(_conn: Any) -> None:
        started.set()
        release.wait(30)  # on the writer thread: nothing else runs there meanwhile

    holding = asyncio.create_task(mall.db.transact(hold))
    await asyncio.to_thread(started.wait, 30)
    before = writer.batches
    queued = [asyncio.create_task(call()) for call in calls]
    await _until(lambda: writer.queued == len(calls))  # each queues before its first wait
    release.set()
    await holding
    outcomes = await asyncio.gather(*queued, return_exceptions=True)
    return outcomes, writer.batches - before


async def test_a_use_case_that_raises_in_a_batch_leaves_no_trace_and_the_others_stand(
    mall: Mall,
) -> None:
    await _joined(await _writer_mall(mall))

    async def wrote_then_raised(conn: Any) -> None:
        await conn.execute(_INSERT_CHECKIN, {"member": MEMBERS[4]})
        raise Boom("after writing")

    async def nested_then_raised(conn: Any) -> None:
        # A savepoint of its own inside the batch's, left open when it raises.
        await conn.begin_nested()
        await conn.execute(_INSERT_CHECKIN, {"member": MEMBERS[3]})
        raise Boom("inside its own savepoint")

    async def nested_kept(conn: Any) -> str:
        try:
            async with conn.begin_nested():
                await conn.execute(_INSERT_CHECKIN, {"member": MEMBERS[2]})
                raise Boom("rolled back to its own savepoint")
        except Boom:
            pass
        async with conn.begin_nested():
            await conn.execute(_INSERT_CHECKIN, {"member": MEMBERS[2]})
        return "kept"

    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: mall.checkins.check_in(MEMBERS[0], MORNING),
        lambda: mall.db.transact(wrote_then_raised),
        lambda: mall.checkins.check_in(MEMBERS[1], MORNING),
        lambda: mall.db.transact(nested_then_raised),
        lambda: mall.db.transact(nested_kept),
        # A refusal recorded under its key (core.points.idempotency's savepoint, nested in the
        # batch's).
        lambda: mall.holds.hold(
            MEMBERS[1], 10_000, key="too-much", code="redeem", reference="r", now=MORNING
        ),
        lambda: mall.checkins.check_in(MEMBERS[0], MORNING),  # the same day again: a replay
    ]
    outcomes, batches = await _in_one_batch(mall, calls)

    assert batches == 1
    first, raised, second, nested, kept, refused, again = outcomes
    assert isinstance(raised, Boom)
    assert isinstance(nested, Boom)
    assert isinstance(refused, InsufficientPoints)
    assert kept == "kept"
    assert not isinstance(first, BaseException)
    assert not isinstance(second, BaseException)
    assert again.balance == first.balance  # replayed, not paid twice
    assert await _checkins(mall.db, MEMBERS[4]) == 0
    assert await _checkins(mall.db, MEMBERS[3]) == 0
    assert await _checkins(mall.db, MEMBERS[2]) == 1
    assert await _checkins(mall.db, MEMBERS[0]) == 1
    assert await _checkins(mall.db, MEMBERS[1]) == 1
    # The refusal was recorded: asked again, it is refused the same way without running.
    with pytest.raises(InsufficientPoints):
        await mall.holds.hold(
            MEMBERS[1], 10_000, key="too-much", code="redeem", reference="r", now=MORNING
        )
    assert (await mall.statements.balance(MEMBERS[0])).balance == (
        await mall.statements.balance(MEMBERS[1])
    ).balance
    assert (await mall.check()).ok


async def test_a_failed_commit_fails_every_caller_of_the_batch_and_writes_nothing(
    mall: Mall,
) -> None:
    await _joined(await _writer_mall(mall))

    async def breaks_the_commit(conn: Any) -> None:
        # A deferred foreign key: every statement succeeds, the COMMIT is refused.
        await conn.execute(text("PRAGMA defer_foreign_keys = ON"))
        await conn.execute(_INSERT_CHECKIN, {"member": 999_999})

    def fine(member: int) -> Callable[[Any], Awaitable[None]]:
        async def body(conn: Any) -> None:
            await conn.execute(_INSERT_CHECKIN, {"member": member})

        return body

    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: mall.db.transact(fine(MEMBERS[0])),
        lambda: mall.db.transact(breaks_the_commit),
        lambda: mall.db.transact(fine(MEMBERS[1])),
    ]
    outcomes, batches = await _in_one_batch(mall, calls)

    assert batches == 1
    assert all(isinstance(outcome, IntegrityError) for outcome in outcomes), outcomes
    for member in (MEMBERS[0], MEMBERS[1], 999_999):
        assert await _checkins(mall.db, member) == 0
    # The writer goes on.
    await mall.db.transact(fine(MEMBERS[0]))
    assert await _checkins(mall.db, MEMBERS[0]) == 1


async def test_a_use_case_whose_batch_failed_to_commit_is_done_once_on_its_retry(
    mall: Mall,
) -> None:
    """``run_once`` tries again on an ``IntegrityError`` (PostgreSQL's racing claims); after a
    batch's failed commit that retry runs the use case anew, and once: nothing was written."""
    await _joined(await _writer_mall(mall))

    async def breaks_the_commit(conn: Any) -> None:
        await conn.execute(text("PRAGMA defer_foreign_keys = ON"))
        await conn.execute(_INSERT_CHECKIN, {"member": 999_999})

    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: mall.checkins.check_in(MEMBERS[0], MORNING),
        lambda: mall.db.transact(breaks_the_commit),
        lambda: mall.checkins.check_in(MEMBERS[1], MORNING),
    ]
    outcomes, batches = await _in_one_batch(mall, calls)

    assert batches == 2  # the failed one, and the two check-ins' retries together
    first, broken, second = outcomes
    assert isinstance(broken, IntegrityError)
    assert first.balance == second.balance > 0
    for member in MEMBERS[:2]:
        assert await _checkins(mall.db, member) == 1
        assert (await mall.statements.balance(member)).balance == first.balance
    assert (await mall.check()).ok


async def test_a_use_case_that_ends_the_transaction_fails_those_before_it_not_those_after(
    mall: Mall,
) -> None:
    """SQLite rolls a whole transaction back on some errors (a full disk, an I/O error): the
    use cases of the batch that ran before are not written and their callers are told so; those
    after it run in the next transaction."""
    await _joined(await _writer_mall(mall))

    def fine(member: int) -> Callable[[Any], Awaitable[str]]:
        async def body(conn: Any) -> str:
            await conn.execute(_INSERT_CHECKIN, {"member": member})
            return "written"

        return body

    async def ends_the_transaction(conn: Any) -> None:
        await conn.execute(text("ROLLBACK"))
        raise Boom("the transaction is gone")

    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: mall.db.transact(fine(MEMBERS[0])),
        lambda: mall.db.transact(ends_the_transaction),
        lambda: mall.db.transact(fine(MEMBERS[1])),
    ]
    outcomes, batches = await _in_one_batch(mall, calls)

    before, broken, after = outcomes
    assert isinstance(before, OperationalError)  # no savepoint to roll back to: no transaction
    assert isinstance(broken, Boom)
    assert after == "written"
    assert batches == 2
    assert await _checkins(mall.db, MEMBERS[0]) == 0
    assert await _checkins(mall.db, MEMBERS[1]) == 1


async def test_a_caller_cancelled_while_queued_never_runs_and_holds_nothing_up(
    mall: Mall,
) -> None:
    writer = _writer(await _joined(await _writer_mall(mall)))
    started, release = threading.Event(), threading.Event()

    async def hold(_conn: Any) -> None:
        started.set()
        release.wait(30)

    holding = asyncio.create_task(mall.db.transact(hold))
    await asyncio.to_thread(started.wait, 30)
    queued = asyncio.create_task(mall.checkins.check_in(MEMBERS[0], MORNING))
    await _until(lambda: writer.queued == 1)
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    release.set()
    await holding
    # A write() block waits for the writer's use cases, cancelled ones included: it gets in.
    async with asyncio.timeout(30), mall.db.write() as conn:
        await conn.execute(text("SELECT 1"))
    assert await _checkins(mall.db, MEMBERS[0]) == 0
    await mall.checkins.check_in(MEMBERS[1], MORNING)
    assert await _checkins(mall.db, MEMBERS[1]) == 1


async def test_a_caller_cancelled_while_its_use_case_runs_is_told_so_and_it_completes(
    mall: Mall,
) -> None:
    """As before group commit: the use case runs on the writer without a pause, so it finishes
    and commits; its caller, cancelled, is told ``CancelledError``; a retry replays it."""
    await _joined(await _writer_mall(mall))
    started, release = threading.Event(), threading.Event()

    async def slow_check_in(conn: Any) -> None:
        await conn.execute(_INSERT_CHECKIN, {"member": MEMBERS[0]})
        started.set()
        release.wait(30)

    running = asyncio.create_task(mall.db.transact(slow_check_in))
    await asyncio.to_thread(started.wait, 30)
    running.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await running
    async with asyncio.timeout(30), mall.db.write() as conn:  # waits for it to commit
        await conn.execute(text("SELECT 1"))
    assert await _checkins(mall.db, MEMBERS[0]) == 1


async def test_a_write_block_and_the_writers_use_cases_wait_for_each_other(mall: Mall) -> None:
    writer = _writer(await _joined(await _writer_mall(mall)))
    order: list[str] = []
    async with mall.db.write() as conn:
        await conn.execute(_INSERT_CHECKIN, {"member": MEMBERS[0]})
        waiting = asyncio.create_task(mall.checkins.check_in(MEMBERS[1], MORNING))
        for _ in range(20):
            await asyncio.sleep(0)
        assert writer.queued == 0  # it waits here, not on SQLite's busy handler
        assert not waiting.done()
        order.append("write")
    await waiting
    order.append("use case")
    assert order == ["write", "use case"]
    assert await _checkins(mall.db, MEMBERS[0]) == 1
    assert await _checkins(mall.db, MEMBERS[1]) == 1


async def test_a_lone_use_case_is_a_batch_of_its_own(mall: Mall) -> None:
    writer = _writer(await _joined(await _writer_mall(mall)))
    before = writer.batches
    for member in MEMBERS:
        await mall.checkins.check_in(member, MORNING)
    assert writer.batches - before == len(MEMBERS)


async def _writer_mall(mall: Mall) -> Mall:
    _writer(mall)
    return mall
