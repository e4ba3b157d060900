"""Claim codes: an admin prints a batch; each code pays the first member who claims it, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text

from core.errors import (
    AlreadyClaimed,
    BatchExists,
    ClaimExpired,
    ClaimLocked,
    Frozen,
    InvalidAmount,
    InvalidInput,
    UnknownClaimCode,
)
from core.growth.claim_codes import ALPHABET, CODE_LENGTH, MAX_BATCH, code_hash
from core.mall import Mall
from core.membership.risk import WRONG_CLAIMS
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ADMIN = 1000
ANN, BOB = 2001, 2002
NOW = at("2026-03-02 09:00")
SIGNUP = 100


async def join(mall: Mall, *members: int) -> None:
    for member in members:
        await mall.members.join(member, f"M{member}", "en", NOW - timedelta(days=1))


async def batch(mall: Mall, count: int = 3, points: int = 50) -> tuple[str, ...]:
    made = await mall.claims.generate(ADMIN, count, points, NOW + timedelta(days=30), NOW)
    return made.codes


async def balance(mall: Mall, member: int) -> int:
    return (await mall.statements.balance(member)).balance


async def test_a_batch_has_the_codes_asked_for_and_the_database_keeps_only_their_hashes(
    mall: Mall,
):
    made = await mall.claims.generate(ADMIN, 20, 50, NOW + timedelta(days=30), NOW, key="confirm-1")
    assert len(made.codes) == len(set(made.codes)) == 20
    assert all(len(c) == CODE_LENGTH and set(c) <= set(ALPHABET) for c in made.codes)
    assert len(f"c-{made.codes[0]}") <= 64  # fits a /start payload
    async with mall.db.read() as conn:
        stored = (await conn.execute(text("SELECT code_hash FROM claim_codes"))).scalars().all()
    assert sorted(stored) == sorted(code_hash(c) for c in made.codes)
    assert not set(made.codes) & set(stored)
    entry = (await mall.audit.latest(1))[0]
    assert (entry.actor_id, entry.action, entry.target) == (
        ADMIN,
        "claims.generate",
        f"claims:batch-{made.batch_id}",
    )
    assert entry.after["count"] == 20
    assert entry.after["points"] == 50


async def test_confirming_the_same_batch_twice_makes_one_batch(mall: Mall):
    expires = NOW + timedelta(days=30)
    first = await mall.claims.generate(ADMIN, 5, 10, expires, NOW, key="confirm-1")
    with pytest.raises(BatchExists) as refused:
        await mall.claims.generate(ADMIN, 5, 10, expires, NOW, key="confirm-1")
    assert refused.value.details == {"batch_id": first.batch_id}
    assert [b.batch_id for b in await mall.claims.batches()] == [first.batch_id]


@pytest.mark.parametrize(
    ("count", "points", "days", "error", "field"),
    [
        (0, 10, 30, InvalidInput, "count"),
        (MAX_BATCH + 1, 10, 30, InvalidInput, "count"),
        (5, 0, 30, InvalidAmount, "points"),
        (5, 2_000_000, 30, InvalidAmount, "points"),
        (5, 10, -1, InvalidInput, "expires_at"),
    ],
)
async def test_a_bad_batch_is_refused_and_nothing_is_written(
    mall: Mall, count: int, points: int, days: int, error: type[Exception], field: str
):
    with pytest.raises(error) as refused:
        await mall.claims.generate(ADMIN, count, points, NOW + timedelta(days=days), NOW)
    assert getattr(refused.value, "details", {})["field"] == field
    assert await mall.claims.batches() == ()
    assert await mall.audit.latest(5) == ()


async def test_a_code_pays_the_first_member_once_and_no_one_after(mall: Mall):
    await join(mall, ANN, BOB)
    code = (await batch(mall, points=50))[0]
    claimed = await mall.claims.claim(ANN, code, NOW)
    assert (claimed.points, claimed.balance, claimed.repeated) == (50, SIGNUP + 50, False)

    again = await mall.claims.claim(ANN, code, NOW + timedelta(minutes=1))
    assert (again.points, again.balance, again.repeated) == (50, SIGNUP + 50, True)
    with pytest.raises(AlreadyClaimed):
        await mall.claims.claim(BOB, code, NOW + timedelta(minutes=2))

    assert await balance(mall, ANN) == SIGNUP + 50
    assert await balance(mall, BOB) == SIGNUP
    [summary] = await mall.claims.batches()
    assert (summary.count, summary.claimed) == (3, 1)
    assert (await mall.check()).ok


async def test_a_code_can_be_typed_in_any_case_with_dashes_and_look_alike_letters(mall: Mall):
    await join(mall, ANN)
    code = (await batch(mall))[0]
    typed = f"{code[:4]}-{code[4:8]} {code[8:]}".lower().replace("0", "o").replace("1", "l")
    assert (await mall.claims.claim(ANN, typed, NOW)).points == 50


async def test_an_expired_code_pays_nothing(mall: Mall):
    await join(mall, ANN)
    code = (await batch(mall))[0]
    with pytest.raises(ClaimExpired):
        await mall.claims.claim(ANN, code, NOW + timedelta(days=30))
    assert await balance(mall, ANN) == SIGNUP


async def test_a_frozen_member_cannot_claim_and_the_code_stays_for_someone_else(mall: Mall):
    await join(mall, ANN, BOB)
    code = (await batch(mall))[0]
    await mall.members.freeze(ANN, "under review")
    with pytest.raises(Frozen):
        await mall.claims.claim(ANN, code, NOW)
    assert (await mall.claims.claim(BOB, code, NOW)).points == 50


async def test_wrong_codes_lock_claiming_for_a_while_and_flag_the_member(
    make_mall: MallFactory,
):
    mall = await make_mall(
        make_config(
            "[risk]\nwrong_claims_limit = 3\nwrong_claims_window_minutes = 10\n"
            "claim_lock_minutes = 30\n"
        )
    )
    await join(mall, ANN)
    code = (await batch(mall))[0]
    for left in (2, 1):
        with pytest.raises(UnknownClaimCode) as wrong:
            await mall.claims.claim(ANN, "ZZZZZZZZZZZZ", NOW)
        assert wrong.value.details == {"attempts_left": left}
    with pytest.raises(ClaimLocked) as locked:
        await mall.claims.claim(ANN, "not a code!", NOW + timedelta(minutes=1))
    until = NOW + timedelta(minutes=31)
    assert locked.value.details == {"until": until}

    with pytest.raises(ClaimLocked):  # even the right code, while locked
        await mall.claims.claim(ANN, code, NOW + timedelta(minutes=20))
    [flagged] = (await mall.risk.flags()).members
    assert flagged.member_id == ANN
    assert [(r.rule, r.measure) for r in flagged.reasons] == [(WRONG_CLAIMS, 3)]

    assert (await mall.claims.claim(ANN, code, until)).points == 50
    with pytest.raises(UnknownClaimCode) as wrong:  # counting starts afresh after the lock
        await mall.claims.claim(ANN, "ZZZZZZZZZZZZ", until + timedelta(minutes=1))
    assert wrong.value.details == {"attempts_left": 2}


async def test_wrong_codes_spread_over_time_do_not_lock(make_mall: MallFactory):
    mall = await make_mall(
        make_config("[risk]\nwrong_claims_limit = 2\nwrong_claims_window_minutes = 10\n")
    )
    await join(mall, ANN)
    for minutes in (0, 11, 22):
        with pytest.raises(UnknownClaimCode):
            await mall.claims.claim(ANN, "ZZZZZZZZZZZZ", NOW + timedelta(minutes=minutes))


async def test_two_members_claiming_one_code_at_once_get_it_credited_exactly_once(
    make_mall: MallFactory,
):
    first, second = await make_mall(), await make_mall()
    await join(first, ANN, BOB)
    codes = await batch(first, count=5)
    for code in codes:
        outcomes = await asyncio.gather(
            first.claims.claim(ANN, code, NOW),
            second.claims.claim(BOB, code, NOW),
            return_exceptions=True,
        )
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        lost = [type(o) for o in outcomes if isinstance(o, BaseException)]
        assert [w.repeated for w in won] == [False], outcomes
        assert lost == [AlreadyClaimed], outcomes
    total = await balance(first, ANN) + await balance(first, BOB)
    assert total == 2 * SIGNUP + 5 * 50
    async with first.db.read() as conn:
        credits = (
            await conn.execute(text("SELECT COUNT(*) FROM transfers WHERE code = 'claim'"))
        ).scalar_one()
    assert credits == 5
    assert (await first.check()).ok
