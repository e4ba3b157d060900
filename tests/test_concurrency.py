"""Members who tap faster than the mall answers, and bots that run twice.

Every story runs on both databases, first with all requests on one mall (one engine, a pool of
connections: the bot's handlers running concurrently), then spread over two malls on the same
database (two engines: two bot processes, or a bot and the nightly job).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from typing import TypeVar

import pytest

import core.points.holds
from core.commerce.purchases import PurchaseResult, RefundResult
from core.errors import HoldNotPending, InsufficientPoints
from core.growth.checkins import CheckInResult
from core.mall import Mall
from core.membership.members import JoinResult
from core.points.expiry import ExpiryReport
from core.points.holds import HoldResult
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE = 1001
BOB = 1002

T = TypeVar("T")

processes = pytest.mark.parametrize("processes", [1, 2], ids=["one-bot", "two-bots"])


async def open_bots(make_mall: MallFactory, processes: int, toml: str = "") -> list[Mall]:
    """``processes`` malls on the test's database, each with an engine of its own."""
    config = make_config(toml)
    return [await make_mall(config) for _ in range(processes)]


# Requests each bot has in flight at most, as many as its engine's pool holds: a bot's
# handlers are a bounded pool too. Unbounded, each engine opens its 20 overflow connections as
# well, and two bots plus whatever else uses the shared test server exhaust its
# max_connections (100), which would test the server's configuration, not the mall.
IN_FLIGHT = 20


async def at_once(
    bots: Sequence[Mall], count: int, request: Callable[[Mall, int], Awaitable[T]]
) -> list[T | BaseException]:
    """Send ``count`` requests concurrently, spread over the bots in turn."""
    gates = [asyncio.Semaphore(IN_FLIGHT) for _ in bots]

    async def send(n: int) -> T:
        async with gates[n % len(bots)]:
            return await request(bots[n % len(bots)], n)

    return await asyncio.gather(*(send(n) for n in range(count)), return_exceptions=True)


def kinds(results: Sequence[object]) -> Counter[str]:
    return Counter(type(result).__name__ for result in results)


def only(results: Sequence[T | BaseException], kind: type[T]) -> list[T]:
    """The results, which must all be ``kind`` (no exception of any sort slipped through)."""
    assert kinds(results) == {kind.__name__: len(results)}, [
        r for r in results if not isinstance(r, kind)
    ][:3]
    return [r for r in results if isinstance(r, kind)]


async def assert_books_clean(mall: Mall) -> None:
    report = await mall.check()
    assert report.ok, report.violations


async def transfer_codes(mall: Mall, member_id: int) -> Counter[str]:
    history = await mall.statements.history(member_id, page_size=100)
    assert not history.has_more
    return Counter(entry.code for entry in history.entries)


@processes
async def test_alice_taps_check_in_100_times_at_once_and_gets_one_days_reward(
    make_mall: MallFactory, processes: int
):
    """Alice's phone lags; she taps Check in a hundred times. One tap checks her in, the
    other 99 say she already did, and she gets one day's reward."""
    bots = await open_bots(make_mall, processes)
    await bots[0].members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    now = at("2026-03-02 09:00")

    results = only(
        await at_once(
            bots, 100, lambda bot, n: bot.checkins.check_in(ALICE, now + timedelta(seconds=n))
        ),
        CheckInResult,
    )

    firsts = [r for r in results if not r.already_checked_in]
    assert len(firsts) == 1
    first = firsts[0]
    assert (first.streak, first.reward, first.balance) == (1, 10, 110)
    repeat = dataclasses.replace(first, already_checked_in=True)
    assert all(r == repeat for r in results if r is not first)
    assert (await bots[-1].statements.balance(ALICE)).balance == 110
    assert (await transfer_codes(bots[0], ALICE))["checkin"] == 1
    await assert_books_clean(bots[0])


@processes
async def test_alice_redeems_50_times_at_once_with_points_for_10(
    make_mall: MallFactory, processes: int
):
    """Alice has 100 points and fires 50 redemptions of 10 points each, all at once: exactly
    10 go through, the other 40 are told she has too few points, and nothing else goes wrong."""
    bots = await open_bots(make_mall, processes)
    await bots[0].members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    now = at("2026-03-01 10:00")

    results = await at_once(
        bots,
        50,
        lambda bot, n: bot.holds.hold(
            ALICE, 10, key=f"redeem-{n}", code="redeem", reference="item-1", now=now
        ),
    )

    assert kinds(results) == {"HoldResult": 10, "InsufficientPoints": 40}
    held = [r for r in results if isinstance(r, HoldResult)]
    assert sorted(r.balance for r in held) == list(range(0, 100, 10))
    needed = {r.details["needed"] for r in results if isinstance(r, InsufficientPoints)}
    assert needed == {10}

    posted = only(
        await at_once(
            bots,
            len(held),
            lambda bot, n: bot.holds.post(held[n].hold_id, key=f"paid-{n}", now=now),
        ),
        HoldResult,
    )
    assert {r.status for r in posted} == {"posted"}
    balance = await bots[-1].statements.balance(ALICE)
    assert (balance.balance, balance.held) == (0, 0)
    await assert_books_clean(bots[0])


@processes
async def test_alice_double_taps_redeem_20_times_and_pays_once(
    make_mall: MallFactory, processes: int
):
    """The Redeem button carries one confirm token; Alice taps it 20 times at once. Her points
    move once, and every tap is answered with the same hold; the cashier's 20 retries of the
    same approval post it once."""
    bots = await open_bots(make_mall, processes)
    await bots[0].members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    now = at("2026-03-01 10:00")

    holds = only(
        await at_once(
            bots,
            20,
            lambda bot, n: bot.holds.hold(
                ALICE, 30, key="confirm-7f3a", code="redeem", reference="item-1", now=now
            ),
        ),
        HoldResult,
    )
    assert len(set(holds)) == 1
    assert (holds[0].amount, holds[0].balance) == (30, 70)
    balance = await bots[-1].statements.balance(ALICE)
    assert (balance.balance, balance.held) == (70, 30)

    hold_id = holds[0].hold_id
    posts = only(
        await at_once(bots, 20, lambda bot, n: bot.holds.post(hold_id, key="approve-1", now=now)),
        HoldResult,
    )
    assert len(set(posts)) == 1
    assert posts[0].status == "posted"
    balance = await bots[-1].statements.balance(ALICE)
    assert (balance.balance, balance.held) == (70, 0)
    assert (await transfer_codes(bots[0], ALICE))["hold"] == 1
    await assert_books_clean(bots[0])


@processes
async def test_orders_and_refunds_for_alice_arrive_together_and_twice(
    make_mall: MallFactory, processes: int
):
    """The shop refunds ten of Alice's orders while ten new ones come in, and its webhook
    delivers every message twice, all at the same moment. Each order earns once, each refund
    takes back once, and the books add up."""
    bots = await open_bots(make_mall, processes)
    await bots[0].members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    for n in range(10):
        await bots[0].purchases.record_purchase(
            ALICE, f"A-{n}", 1_000, "food", at("2026-03-01 09:00")
        )
    assert (await bots[0].statements.balance(ALICE)).balance == 200
    now = at("2026-03-02 10:00")

    def request(bot: Mall, n: int) -> Awaitable[object]:
        order = n % 20  # each of the 20 messages twice
        if order < 10:
            return bot.purchases.refund_purchase(f"A-{order}", now)
        return bot.purchases.record_purchase(ALICE, f"B-{order}", 2_000, "food", now)

    results = await at_once(bots, 40, request)

    assert kinds(results) == {"RefundResult": 20, "PurchaseResult": 20}
    refunds = [r for r in results if isinstance(r, RefundResult)]
    purchases = [r for r in results if isinstance(r, PurchaseResult)]
    assert len(set(refunds)) == 10
    assert {(r.points_taken, r.unrecovered) for r in refunds} == {(10, 0)}
    assert len({r.order_id for r in purchases}) == 10
    assert {r.points for r in purchases} == {20}
    assert (await bots[-1].statements.balance(ALICE)).balance == 100 + 100 - 100 + 200
    codes = await transfer_codes(bots[0], ALICE)
    assert (codes["purchase"], codes["purchase_refund"]) == (20, 10)
    await assert_books_clean(bots[0])


@processes
async def test_the_shop_refunds_one_order_in_five_quarters_at_once(
    make_mall: MallFactory, processes: int
):
    """A confused cashier refunds a quarter of Alice's order five times over, all at once.
    Four quarters go through and take back exactly what the order earned; the fifth finds
    nothing left to refund."""
    bots = await open_bots(make_mall, processes)
    await bots[0].members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    order = await bots[0].purchases.record_purchase(
        ALICE, "C-1", 10_001, "food", at("2026-03-01 09:00")
    )
    assert order.points == 100
    now = at("2026-03-02 10:00")

    results = await at_once(
        bots,
        5,
        lambda bot, n: bot.purchases.refund_purchase(
            "C-1", now, refund_id=f"quarter-{n}", amount_minor=2_500
        ),
    )

    assert kinds(results) == {"RefundResult": 4, "AlreadyRefunded": 1}
    taken = [r.points_taken for r in results if isinstance(r, RefundResult)]
    assert sum(taken) == 99  # 10,000 of 10,001 refunded: the last point stays
    last = await bots[-1].purchases.refund_purchase("C-1", now, refund_id="rest")
    assert (last.amount_minor, last.points_taken) == (1, 1)
    assert (await bots[-1].statements.balance(ALICE)).balance == 100
    await assert_books_clean(bots[0])


@processes
async def test_alice_buys_five_make_up_days_at_once_and_gets_the_two_a_month_allows(
    make_mall: MallFactory, processes: int
):
    """Alice missed five days and taps Make up on each of them at once. The month allows two
    make-ups: two are sold, at 20 points each, and three are refused."""
    bots = await open_bots(make_mall, processes)
    await bots[0].members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    now = at("2026-03-12 10:00")

    results = await at_once(
        bots,
        5,
        lambda bot, n: bot.checkins.make_up(ALICE, date(2026, 3, 2 + n), now),
    )

    assert kinds(results) == {"MakeUpResult": 2, "MakeUpNotAllowed": 3}
    assert (await bots[-1].statements.balance(ALICE)).balance == 100 - 2 * 20
    assert len((await bots[-1].checkins.calendar(ALICE, now)).made_up) == 2
    await assert_books_clean(bots[0])


EXPIRING = "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidity_days = 10"
SHOPPERS = range(2001, 2021)


@processes
async def test_the_expiry_job_runs_while_twenty_members_spend(
    make_mall: MallFactory, processes: int
):
    """Twenty members each have 100 points that expired at midnight (the job has not run yet)
    and 50 that have not. While each fires three 40-point redemptions and a purchase, the
    expiry job runs three times. Whatever order things happen in, every point is spent,
    expired or still there, none twice, and no balance goes below zero."""
    bots = await open_bots(make_mall, processes, EXPIRING)
    for member in SHOPPERS:
        await bots[0].members.join(member, "Shopper", "en", at("2026-03-01 08:00"))
        await bots[0].purchases.record_purchase(
            member, f"P-{member}", 5_000, "food", at("2026-03-05 10:00")
        )
    now = at("2026-03-11 10:00")
    assert (await bots[0].statements.balance(SHOPPERS[0])).balance == 150

    def request(bot: Mall, n: int) -> Awaitable[object]:
        member = SHOPPERS[n % len(SHOPPERS)]
        step = n // len(SHOPPERS)
        if step < 3:
            return bot.holds.hold(
                member, 40, key=f"spend-{member}-{step}", code="redeem", reference="i", now=now
            )
        if step == 3:
            return bot.purchases.record_purchase(member, f"Q-{member}", 1_000, "food", now)
        return bot.expire(now)

    results = await at_once(bots, len(SHOPPERS) * 4 + 3, request)

    assert set(kinds(results)) <= {
        "HoldResult",
        "InsufficientPoints",
        "PurchaseResult",
        "ExpiryReport",
    }, [r for r in results if isinstance(r, BaseException)][:3]
    expired = sum(r.points for r in results if isinstance(r, ExpiryReport))
    earned = sum(r.points for r in results if isinstance(r, PurchaseResult))
    assert earned == 10 * len(SHOPPERS)
    spent = sum(r.amount for r in results if isinstance(r, HoldResult))
    left = held = 0
    for member in SHOPPERS:
        balance = await bots[-1].statements.balance(member)
        assert balance.balance >= 0
        left, held = left + balance.balance, held + balance.held
    assert held == spent  # nothing posted yet: what was spent waits in escrow
    assert left + spent + expired == 150 * len(SHOPPERS) + earned
    # Whatever a spend did not take of the expired lots, the job took: nothing old is left.
    assert expired + spent >= 100 * len(SHOPPERS)
    assert (await bots[0].expire(now)) == ExpiryReport(0, 0, 0)
    await assert_books_clean(bots[0])


@processes
async def test_bob_taps_start_20_times_and_joins_once(make_mall: MallFactory, processes: int):
    """Bob opens the bot and taps /start twenty times while it loads: he becomes a member
    once, and gets the sign-up bonus once."""
    bots = await open_bots(make_mall, processes)
    now = at("2026-03-01 08:00")

    joins = only(
        await at_once(bots, 20, lambda bot, n: bot.members.join(BOB, "Bob", "en", now)),
        JoinResult,
    )

    assert sum(j.is_new for j in joins) == 1
    assert sum(j.bonus for j in joins) == 100
    assert {j.balance for j in joins} == {100}
    assert (await bots[-1].statements.balance(BOB)).balance == 100
    assert (await transfer_codes(bots[0], BOB)) == {"signup_bonus": 1}
    await assert_books_clean(bots[0])


@processes
async def test_the_hold_timeout_job_and_the_cashier_answer_the_same_holds(
    make_mall: MallFactory, processes: int
):
    """Ten of Alice's holds time out just as the cashier approves them, and the timeout job
    runs twice in every bot at once. Each hold is settled exactly once, one way or the other,
    reported released by one job at most, and Alice pays for exactly the ones posted."""
    bots = await open_bots(make_mall, processes)
    await bots[0].members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    start = at("2026-03-01 10:00")
    held = [
        await bots[0].holds.hold(
            ALICE, 10, key=f"cash-{n}", code="redeem", reference="item-1", now=start
        )
        for n in range(10)
    ]
    late = start + timedelta(hours=1)

    def request(bot: Mall, n: int) -> Awaitable[object]:
        if n < len(held):
            return bot.holds.post(held[n].hold_id, key=f"cashier-{n}", now=late)
        return bot.holds.release_expired(late)

    results = await at_once(bots, len(held) + 2 * processes, request)

    posts = results[: len(held)]
    assert set(kinds(posts)) <= {"HoldResult", "HoldNotPending"}
    for job in results[len(held) :]:
        assert isinstance(job, list), job
    posted = [r for r in posts if isinstance(r, HoldResult)]
    assert all(r.status == "posted" for r in posted)
    reported = [r.hold_id for job in results[len(held) :] for r in job]  # type: ignore[union-attr]
    voided = set(reported)
    assert len(reported) == len(voided)  # each release reported by the job that did it only
    assert {r.hold_id for r in posted}.isdisjoint(voided)
    assert len(posted) + len(voided) == len(held)
    assert len([r for r in posts if isinstance(r, HoldNotPending)]) == len(voided)
    balance = await bots[-1].statements.balance(ALICE)
    assert (balance.balance, balance.held) == (100 - 10 * len(posted), 0)
    await assert_books_clean(bots[0])


async def test_two_timeout_jobs_report_each_released_hold_once(
    make_mall: MallFactory, monkeypatch: pytest.MonkeyPatch
):
    """Two bots run the timeout job at the same moment; both read the same due holds, one
    voids them. Only that one may report them released (Alice is told once, not twice)."""
    first_bot, second_bot = await open_bots(make_mall, 2)
    await first_bot.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    start = at("2026-03-01 10:00")
    held = await first_bot.holds.hold(
        ALICE, 10, key="cash-1", code="redeem", reference="item-1", now=start
    )
    late = start + timedelta(hours=1)

    # The second bot read the due holds a moment before the first voided them.
    async def read_before_the_first_bot_voided(*_: object) -> list[int]:
        return [held.hold_id]

    assert [r.hold_id for r in await first_bot.holds.release_expired(late)] == [held.hold_id]
    monkeypatch.setattr(core.points.holds, "expired_hold_ids", read_before_the_first_bot_voided)
    assert await second_bot.holds.release_expired(late) == []
    assert (await second_bot.statements.balance(ALICE)).balance == 100
