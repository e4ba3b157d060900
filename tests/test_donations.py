"""Alice and Bob give points to the mall's cause, on both databases."""

from __future__ import annotations

import pytest

from core.errors import (
    DonationsClosed,
    Frozen,
    InsufficientPoints,
    InvalidAmount,
    InvalidKey,
    KeyReused,
    UnknownMember,
)
from core.mall import Mall
from core.rewards.donations import DonationResult, Donations
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE, BOB, CAROL = 1001, 1002, 1003
NOW = at("2026-03-01 10:00")


async def joined(mall: Mall, *members: int) -> Donations:
    for member_id in members:
        await mall.members.join(member_id, f"Member {member_id}", "en", at("2026-03-01 08:00"))
    return Donations(mall.db, mall.config)


async def balance(mall: Mall, member_id: int) -> int:
    return (await mall.statements.balance(member_id)).balance


async def test_alice_and_bob_plant_trees_and_see_the_cause_grow(mall: Mall):
    donations = await joined(mall, ALICE, BOB, CAROL)
    first = await donations.donate(ALICE, 30, "don-a1", NOW)
    assert first == DonationResult(ALICE, 30, 70, 30, "Plant a tree")
    await donations.donate(ALICE, 20, "don-a2", NOW)
    await donations.donate(BOB, 45, "don-b1", NOW)
    alices = await donations.totals(ALICE)
    assert (alices.cause, alices.enabled) == ("Plant a tree", True)
    assert alices.description.startswith("Every 100 points donated")
    assert (alices.cause_total, alices.donors, alices.member_total) == (95, 2, 50)
    carols = await donations.totals(CAROL)
    assert (carols.cause_total, carols.donors, carols.member_total) == (95, 2, 0)
    latest = (await mall.statements.history(ALICE)).entries[0]
    assert (latest.code, latest.amount) == ("donation", -20)
    assert (await mall.check()).ok


async def test_a_double_tapped_donate_button_gives_once(mall: Mall):
    donations = await joined(mall, ALICE)
    first = await donations.donate(ALICE, 40, "tok-7", NOW)
    again = await donations.donate(ALICE, 40, "tok-7", at("2026-03-01 10:00:01"))
    assert again == first
    assert await balance(mall, ALICE) == 60
    with pytest.raises(KeyReused):
        await donations.donate(ALICE, 50, "tok-7", NOW)
    assert (await donations.totals(ALICE)).member_total == 40


async def test_a_frozen_member_cannot_donate_and_that_token_stays_refused(mall: Mall):
    donations = await joined(mall, ALICE)
    await mall.members.freeze(ALICE, "chargeback")
    with pytest.raises(Frozen):
        await donations.donate(ALICE, 10, "tok-f", NOW)
    await mall.members.unfreeze(ALICE)
    with pytest.raises(Frozen):  # a retry of the refused request is refused the same way
        await donations.donate(ALICE, 10, "tok-f", NOW)
    await donations.donate(ALICE, 10, "tok-g", NOW)
    assert await balance(mall, ALICE) == 90
    assert (await mall.check()).ok


async def test_nobody_gives_more_than_they_have(mall: Mall):
    donations = await joined(mall, ALICE)
    with pytest.raises(InsufficientPoints) as refused:
        await donations.donate(ALICE, 101, "tok-big", NOW)
    assert refused.value.details == {"balance": 100, "needed": 101}
    assert await balance(mall, ALICE) == 100
    assert (await donations.totals(ALICE)).cause_total == 0
    assert (await donations.donate(ALICE, 100, "tok-all", NOW)).balance == 0
    assert (await mall.check()).ok


async def test_donations_can_be_closed_and_the_totals_still_show(make_mall: MallFactory):
    open_mall = await make_mall()
    await (await joined(open_mall, ALICE)).donate(ALICE, 25, "tok-1", NOW)
    closed = await make_mall(make_config("[donations]\nenabled = false\ncause = 'Clean the beach'"))
    donations = Donations(closed.db, closed.config)
    with pytest.raises(DonationsClosed) as refused:
        await donations.donate(ALICE, 10, "tok-2", NOW)
    assert refused.value.code == "donations_closed"
    totals = await donations.totals(ALICE)
    assert (totals.cause, totals.enabled, totals.cause_total, totals.member_total) == (
        "Clean the beach",
        False,
        25,
        25,
    )
    assert await balance(closed, ALICE) == 75


@pytest.mark.parametrize(
    ("member_id", "amount", "key", "error"),
    [
        (ALICE, 0, "k-1", InvalidAmount),
        (ALICE, -5, "k-1", InvalidAmount),
        (ALICE, 1.5, "k-1", InvalidAmount),
        (ALICE, 10, "", InvalidKey),
        (ALICE, 10, "has space", InvalidKey),
        (ALICE, 10, "x" * 195, InvalidKey),  # too long once it names the donation
        (424242, 10, "k-1", UnknownMember),
    ],
)
async def test_bad_donations_are_refused_and_write_nothing(
    mall: Mall, member_id: int, amount: object, key: str, error: type[Exception]
):
    donations = await joined(mall, ALICE)
    before = await mall.check()
    with pytest.raises(error):
        await donations.donate(member_id, amount, key, NOW)  # type: ignore[arg-type]
    after = await mall.check()
    assert after.ok
    assert (after.transfers, after.outstanding_points) == (
        before.transfers,
        before.outstanding_points,
    )
    with pytest.raises(UnknownMember):
        await donations.totals(424242)
