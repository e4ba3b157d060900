"""Stars payments the mall keeps no goods for: a refund due, then refunded, once per charge id;
the ledger and the payment record agree (``pointsmall check``). On both databases."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.db.models import Redemption
from core.errors import KeyReused
from core.mall import Mall
from core.rewards.star_refunds import UnknownRefund
from tests.test_redemptions import ALICE, NOW, balance, item, join, redeem, stock


def told(language: str, refund: object) -> str:
    return json.dumps({"language": language, "charge": getattr(refund, "charge_id", "")})


async def paid_beans(mall: Mall) -> tuple[int, int]:
    """Alice (1,000 points) redeems beans for 300 points + 29.00 and pays 290 Stars."""
    await join(mall, ALICE, 1000)
    beans = await item(mall, "beans", price_points=300, cash_minor=2900, stock=3)
    waiting = await redeem(mall, ALICE, beans)
    number = waiting.redemption.redemption_id
    done = await mall.redemptions.confirm_payment(number, "charge-1", NOW, stars=290)
    assert (done.redemption.status, done.redemption.paid_stars) == ("completed", 290)
    return beans, number


async def test_cancelling_a_paid_redemption_gives_the_points_back_and_makes_its_stars_due(
    mall: Mall,
):
    beans, number = await paid_beans(mall)
    assert await balance(mall, ALICE) == 700

    cancelled = await mall.redemptions.cancel(number, NOW)

    assert cancelled.redemption.status == "cancelled"
    assert await balance(mall, ALICE) == 1000
    assert await stock(mall, beans) == 3
    (refund,) = await mall.star_refunds.for_redemption(number)
    assert (refund.charge_id, refund.stars, refund.reason, refund.status) == (
        "charge-1",
        290,
        "cancelled",
        "refund_due",
    )
    # Due once the turn that made it had its chance to refund at once (the job is a fallback).
    assert await mall.star_refunds.due(NOW) == ()
    assert [r.charge_id for r in await mall.star_refunds.due(NOW + timedelta(minutes=1))] == [
        "charge-1"
    ]
    assert (await mall.check()).ok

    marked = await mall.star_refunds.mark_refunded("charge-1", NOW, told)
    again = await mall.star_refunds.mark_refunded("charge-1", NOW + timedelta(minutes=1), told)

    assert (marked.refund.status, marked.replayed) == ("refunded", False)
    assert again.replayed
    assert again.refund.refunded_at == NOW
    assert await mall.star_refunds.due(NOW + timedelta(days=1)) == ()
    assert await mall.outbox.waiting() == 1  # the member is told once
    replay = await mall.redemptions.cancel(number, NOW)  # a double tap: nothing twice
    assert replay.replayed
    assert len(await mall.star_refunds.for_redemption(number)) == 1
    assert await balance(mall, ALICE) == 1000
    assert (await mall.check()).ok


async def test_a_rejected_paid_redemption_is_refunded_too(mall: Mall):
    _, number = await paid_beans(mall)
    await mall.redemptions.reject(number, NOW, note="out of beans")
    (refund,) = await mall.star_refunds.for_redemption(number)
    assert (refund.reason, refund.stars) == ("rejected", 290)
    assert (await mall.check()).ok


async def test_a_payment_after_the_timeout_is_due_back_once(mall: Mall):
    await join(mall, ALICE, 1000)
    beans = await item(mall, "beans", price_points=300, cash_minor=2900, stock=3)
    late = (await redeem(mall, ALICE, beans)).redemption.redemption_id
    await mall.redemptions.release_expired(NOW + timedelta(minutes=31))
    assert await balance(mall, ALICE) == 1000

    later = NOW + timedelta(minutes=32)
    refund = await mall.star_refunds.payment_unmatched(ALICE, late, "charge-late", 290, later)
    again = await mall.star_refunds.payment_unmatched(ALICE, late, "charge-late", 290, later)

    assert refund is not None
    assert again == refund
    assert (refund.reason, refund.redemption_id, refund.status) == ("late", late, "refund_due")
    assert (await mall.redemptions.get(late)).status == "cancelled"
    assert await balance(mall, ALICE) == 1000
    assert (await mall.check()).ok


async def test_a_second_payment_of_a_paid_redemption_is_due_back_and_the_first_kept(mall: Mall):
    _, number = await paid_beans(mall)
    with pytest.raises(KeyReused):
        await mall.redemptions.confirm_payment(number, "charge-2", NOW, stars=290)
    assert await mall.star_refunds.payment_unmatched(ALICE, number, "charge-1", 290, NOW) is None
    second = await mall.star_refunds.payment_unmatched(ALICE, number, "charge-2", 290, NOW)
    assert second is not None
    assert second.reason == "late"
    assert (await mall.redemptions.get(number)).status == "completed"
    assert (await mall.check()).ok


async def test_a_payment_for_a_redemption_whose_hold_timed_out_ends_it_and_is_due_back(
    mall: Mall,
):
    await join(mall, ALICE, 1000)
    beans = await item(mall, "beans", price_points=300, cash_minor=2900, stock=1)
    waiting = (await redeem(mall, ALICE, beans)).redemption.redemption_id
    await mall.holds.release_expired(NOW + timedelta(hours=1))  # the generic hold timeout
    refund = await mall.star_refunds.payment_unmatched(ALICE, waiting, "c-9", 290, NOW)
    assert refund is not None
    assert (await mall.redemptions.get(waiting)).status == "cancelled"
    assert await stock(mall, beans) == 1
    assert (await mall.check()).ok


async def test_a_refused_refund_is_tried_again_later_with_backoff(mall: Mall):
    _, number = await paid_beans(mall)
    await mall.redemptions.cancel(number, NOW)

    first = await mall.star_refunds.mark_failed("charge-1", "Bad Gateway", NOW)
    second = await mall.star_refunds.mark_failed("charge-1", "Bad Gateway", NOW)

    assert (first.attempts, first.next_attempt_at) == (1, NOW + timedelta(minutes=1))
    assert (second.attempts, second.next_attempt_at) == (2, NOW + timedelta(minutes=2))
    assert await mall.star_refunds.due(NOW) == ()
    assert len(await mall.star_refunds.due(NOW + timedelta(minutes=2))) == 1
    await mall.star_refunds.mark_refunded("charge-1", NOW, told)
    after = await mall.star_refunds.mark_failed("charge-1", "late answer", NOW)
    assert after.status == "refunded"  # a refund made stays made
    with pytest.raises(UnknownRefund):
        await mall.star_refunds.get("nobody")


async def test_check_finds_a_paid_redemption_ended_without_its_refund(mall: Mall):
    _, number = await paid_beans(mall)
    async with mall.db.write() as conn:  # what a bug (or a hand-edit) could leave
        await conn.execute(
            update(Redemption).where(Redemption.id == number).values(status="cancelled")
        )
    report = await mall.check()
    assert [v.check for v in report.violations] == ["ended_payments_refunded"]
    # What a store upgraded to migration 0011 holds: redemptions ended before refunds existed.
    recorded = await mall.star_refunds.record_unrefunded(NOW)
    assert recorded == 1
    (refund,) = await mall.star_refunds.for_redemption(number)
    assert (refund.charge_id, refund.stars, refund.reason) == ("charge-1", 290, "cancelled")
    assert await mall.star_refunds.record_unrefunded(NOW) == 0
    assert (await mall.check()).ok


async def test_two_marks_of_one_refund_at_once_make_one_and_replay_the_other(mall: Mall):
    _, number = await paid_beans(mall)
    await mall.redemptions.cancel(number, NOW)

    marks = await asyncio.gather(
        *(mall.star_refunds.mark_refunded("charge-1", NOW, told) for _ in range(5))
    )

    assert sorted(m.replayed for m in marks) == [False, True, True, True, True]
    assert await mall.outbox.waiting() == 1
