"""Admins grant and deduct points by hand: once per confirmation, audited, never below zero."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.db.models import AuditEntry, Lot, Transfer
from core.errors import (
    InsufficientPoints,
    InvalidAmount,
    InvalidInput,
    InvalidKey,
    KeyReused,
    UnknownMember,
    UnknownOrder,
)
from core.mall import Mall
from core.points.accounts import SystemAccount
from tests.conftest import at

ADMIN, ANN, BOB = 1000, 3001, 3002
JOINED = at("2026-03-01 08:00")  # with the 100-point sign-up bonus
NOW = at("2026-03-02 10:00")


async def lots_total(mall: Mall, member_id: int) -> int:
    async with mall.db.read() as conn:
        total = (
            await conn.execute(
                select(func.coalesce(func.sum(Lot.remaining), 0)).where(Lot.account_id == member_id)
            )
        ).scalar_one()
    return int(total)


async def count(mall: Mall, model: type) -> int:
    async with mall.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_grant_credits_a_lot_from_the_adjustments_book_and_is_audited(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)

    done = await mall.adjustments.grant(ADMIN, ANN, 50, "Sorry for the outage", "n-1", NOW)

    assert (done.kind, done.amount, done.balance_before, done.balance) == ("grant", 50, 100, 150)
    assert not done.replayed
    assert (await mall.statements.balance(ANN)).balance == 150 == await lots_total(mall, ANN)
    async with mall.db.read() as conn:
        transfer = (
            await conn.execute(select(Transfer).where(Transfer.id == done.transfer_id))
        ).one()
    assert transfer.debit_account_id == SystemAccount.ADJUSTMENTS
    assert (transfer.credit_account_id, transfer.amount, transfer.code) == (ANN, 50, "admin_grant")
    assert done.expires_at is not None
    assert done.expires_at > NOW
    [entry] = await mall.audit.latest(5)
    assert (entry.actor_id, entry.action, entry.target) == (ADMIN, "points.grant", f"member:{ANN}")
    assert entry.before == {"balance": 100}
    assert entry.after == {"balance": 150, "reason": "Sorry for the outage"}
    # Not earning: the tier window does not move.
    assert (await mall.statements.tier(ANN, NOW)).earned_in_window == 0
    assert (await mall.check()).ok


async def test_a_double_tap_grants_once(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    first = await mall.adjustments.grant(ADMIN, ANN, 50, "Bonus", "n-1", NOW)
    again = await mall.adjustments.grant(ADMIN, ANN, 50, "Bonus", "n-1", NOW + timedelta(seconds=1))

    assert again.replayed
    assert again.transfer_id == first.transfer_id
    assert (await mall.statements.balance(ANN)).balance == 150
    assert len(await mall.audit.latest(5)) == 1
    with pytest.raises(KeyReused):
        await mall.adjustments.grant(ADMIN, ANN, 500, "Bonus", "n-1", NOW)


async def test_a_deduction_takes_the_earliest_expiring_points_first(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)  # 100, expiring soonest
    await mall.adjustments.grant(ADMIN, ANN, 40, "Later lot", "n-1", NOW + timedelta(days=3))

    done = await mall.adjustments.deduct(ADMIN, ANN, 30, "Duplicate order", "n-2", NOW)

    assert (done.kind, done.balance_before, done.balance) == ("deduct", 140, 110)
    async with mall.db.read() as conn:
        lots = (
            await conn.execute(
                select(Lot.amount, Lot.remaining).where(Lot.account_id == ANN).order_by(Lot.id)
            )
        ).all()
    assert [tuple(lot) for lot in lots] == [(100, 70), (40, 40)]
    entry = (await mall.audit.latest(1))[0]
    assert (entry.action, entry.before, entry.after["balance"]) == (
        "points.deduct",
        {"balance": 140},
        110,
    )
    assert (await mall.check()).ok


async def test_a_deduction_beyond_the_balance_is_refused_and_changes_nothing(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    transfers = await count(mall, Transfer)

    with pytest.raises(InsufficientPoints) as refused:
        await mall.adjustments.deduct(ADMIN, ANN, 101, "Too much", "n-1", NOW)
    assert refused.value.details == {"balance": 100, "needed": 101}
    # Retried with the same confirmation, refused the same way.
    with pytest.raises(InsufficientPoints):
        await mall.adjustments.deduct(ADMIN, ANN, 101, "Too much", "n-1", NOW)

    assert (await mall.statements.balance(ANN)).balance == 100
    assert await count(mall, Transfer) == transfers
    assert await count(mall, AuditEntry) == 0


async def test_held_points_cannot_be_deducted(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    await mall.holds.hold(ANN, 80, key="h-1", code="redeem", reference="i-1", now=NOW)

    with pytest.raises(InsufficientPoints):
        await mall.adjustments.deduct(ADMIN, ANN, 30, "Claw back", "n-1", NOW)
    assert (await mall.adjustments.deduct(ADMIN, ANN, 20, "Claw back", "n-2", NOW)).balance == 0


async def test_an_admin_can_still_correct_a_frozen_members_points(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    await mall.members.freeze(ANN, "Suspected fraud")

    taken = await mall.adjustments.deduct(ADMIN, ANN, 60, "Fraudulent check-ins", "n-1", NOW)
    given_back = await mall.adjustments.grant(ADMIN, ANN, 10, "Goodwill", "n-2", NOW)

    assert (taken.balance, given_back.balance) == (40, 50)
    assert (await mall.statements.balance(ANN)).frozen


@pytest.mark.parametrize("amount", [0, -5, 10**13, True, 2.5, "50"])
async def test_a_malformed_amount_is_refused(mall: Mall, amount: object):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    with pytest.raises(InvalidAmount):
        await mall.adjustments.grant(ADMIN, ANN, amount, "Bonus", "n-1", NOW)  # type: ignore[arg-type]
    assert await count(mall, AuditEntry) == 0


async def test_other_bad_requests_are_refused_before_anything_is_written(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    transfers = await count(mall, Transfer)
    with pytest.raises(UnknownMember):
        await mall.adjustments.grant(ADMIN, BOB, 50, "Bonus", "n-1", NOW)
    with pytest.raises(InvalidInput):
        await mall.adjustments.grant(ADMIN, ANN, 50, "   ", "n-2", NOW)
    with pytest.raises(InvalidInput):
        await mall.adjustments.grant(ADMIN, ANN, 50, "x" * 201, "n-3", NOW)
    with pytest.raises(InvalidKey):
        await mall.adjustments.grant(ADMIN, ANN, 50, "Bonus", "no spaces", NOW)
    assert await count(mall, Transfer) == transfers
    assert await count(mall, AuditEntry) == 0


async def test_an_erased_account_gets_no_points(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    await mall.privacy.erase(ANN, NOW)
    with pytest.raises(UnknownMember):
        await mall.adjustments.grant(ADMIN, ANN, 50, "Bonus", "n-1", NOW)


async def test_the_order_an_admin_looks_up_before_reversing_it(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", JOINED)
    await mall.purchases.record_purchase(ANN, "A-1", 2_500, "food", NOW)
    await mall.purchases.refund_purchase("A-1", NOW, refund_id="part", amount_minor=500)
    order = await mall.purchases.order("A-1")
    assert (order.member_id, order.amount_minor, order.points) == (ANN, 2_500, 25)
    assert (order.refundable_minor, order.points_at_stake) == (2_000, 20)
    with pytest.raises(UnknownOrder):
        await mall.purchases.order("A-2")
    with pytest.raises(InvalidKey):
        await mall.purchases.order("A 1")


# Grants and deductions in random order, some replayed: the books always balance.
_steps = st.lists(
    st.tuples(
        st.sampled_from(("grant", "deduct")),
        st.sampled_from((ANN, BOB)),
        st.integers(min_value=1, max_value=250),
        st.integers(min_value=0, max_value=5),  # which confirmation (repeats replay it)
        st.integers(min_value=0, max_value=3 * 24 * 60),  # minutes later
    ),
    min_size=1,
    max_size=20,
)
_examples = iter(range(10**6))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=_steps)
async def test_random_grants_and_deductions_keep_the_books(
    mall: Mall, steps: list[tuple[str, int, int, int, int]]
):
    example = next(_examples)
    members = {ANN: ANN + 10 * example, BOB: BOB + 10 * example}  # fresh members per example
    expected: dict[int, int] = {}
    for member_id in members.values():
        await mall.members.join(member_id, "M", "en", JOINED)
        expected[member_id] = 100
    sent: dict[str, tuple[str, int, int]] = {}
    clock = NOW
    for kind, who, amount, which, minutes in steps:
        clock += timedelta(minutes=minutes)
        member_id = members[who]
        key = f"e{example}-{which}"
        if key in sent:  # the same Confirm button again: the first request, replayed
            kind, member_id, amount = sent[key]
        first = key not in sent
        sent[key] = (kind, member_id, amount)
        use = mall.adjustments.grant if kind == "grant" else mall.adjustments.deduct
        try:
            done = await use(ADMIN, member_id, amount, "Random", key, clock)
        except InsufficientPoints:
            assert kind == "deduct"
            assert not first or amount > expected[member_id]
        else:
            assert done.replayed is not first
            if first:
                expected[member_id] += amount if kind == "grant" else -amount
                assert done.balance == expected[member_id]
        for mid, balance in expected.items():
            assert balance >= 0
            assert (await mall.statements.balance(mid)).balance == balance
            assert await lots_total(mall, mid) == balance
    report = await mall.check()
    assert report.ok, report.violations
