"""Bad input gets a MallError with a stable code, and nothing is written."""

from __future__ import annotations

from datetime import datetime

import pytest

from core.errors import InvalidAmount, InvalidInput, InvalidKey, MallError, UnknownMember
from core.mall import Mall
from tests.conftest import at

ALICE = 1001
NOW = at("2026-03-01 10:00")


async def _snapshot(mall: Mall) -> tuple[int, int]:
    report = await mall.check()
    assert report.ok
    return report.transfers, report.outstanding_points


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (0, InvalidAmount),
        (-5, InvalidAmount),
        (1.5, InvalidAmount),
        ("100", InvalidAmount),
        (True, InvalidAmount),
        (10**13, InvalidAmount),
        (None, InvalidAmount),
    ],
)
async def test_bad_amounts_are_refused(mall: Mall, amount: object, error: type[MallError]):
    await mall.members.join(ALICE, "Alice", "en", NOW)
    before = await _snapshot(mall)
    with pytest.raises(error) as refused:
        await mall.purchases.record_purchase(ALICE, "o-1", amount, "food", NOW)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_amount"
    with pytest.raises(error):
        await mall.holds.hold(ALICE, amount, key="k-1", code="redeem", reference="i", now=NOW)  # type: ignore[arg-type]
    assert await _snapshot(mall) == before


@pytest.mark.parametrize(
    "key", ["", "has space", "x" * 201, "semi;colon", "emoji🙂", None, "line\nbreak"]
)
async def test_malformed_keys_and_order_ids_are_refused(mall: Mall, key: object):
    await mall.members.join(ALICE, "Alice", "en", NOW)
    before = await _snapshot(mall)
    with pytest.raises(InvalidKey) as refused:
        await mall.holds.hold(ALICE, 10, key=key, code="redeem", reference="i", now=NOW)  # type: ignore[arg-type]
    assert refused.value.code == "invalid_key"
    with pytest.raises(InvalidKey):
        await mall.purchases.record_purchase(ALICE, key, 100, "food", NOW)  # type: ignore[arg-type]
    assert await _snapshot(mall) == before


async def test_unknown_members_are_named(mall: Mall):
    before = await _snapshot(mall)
    for call in (
        mall.checkins.check_in(5, NOW),
        mall.statements.balance(5),
        mall.statements.history(5),
        mall.members.freeze(5, "why"),
        mall.holds.hold(5, 10, key="k", code="redeem", reference="i", now=NOW),
    ):
        with pytest.raises(UnknownMember) as refused:
            await call
        assert refused.value.code == "unknown_member"
    assert await _snapshot(mall) == before


@pytest.mark.parametrize("member_id", [0, -1, 2**63, "1001", True, 1.0])
async def test_member_ids_must_be_positive_integers(mall: Mall, member_id: object):
    with pytest.raises(InvalidInput):
        await mall.members.join(member_id, "X", "en", NOW)  # type: ignore[arg-type]


async def test_naive_times_and_blank_names_are_refused(mall: Mall):
    with pytest.raises(InvalidInput):
        await mall.members.join(ALICE, "Alice", "en", datetime(2026, 3, 1, 10))
    with pytest.raises(InvalidInput):
        await mall.members.join(ALICE, "   ", "en", NOW)
    with pytest.raises(InvalidInput):
        await mall.members.join(ALICE, "A" * 129, "en", NOW)
    await mall.members.join(ALICE, "Alice", "en", NOW)
    with pytest.raises(InvalidInput):
        await mall.members.freeze(ALICE, "")
    with pytest.raises(InvalidInput):
        await mall.statements.history(ALICE, page=-1)
    with pytest.raises(InvalidInput):
        await mall.holds.hold(ALICE, 10, key="k", code="DROP TABLE", reference="i", now=NOW)
    with pytest.raises(MallError):
        await mall.checkins.make_up(ALICE, "2026-02-30", NOW)  # type: ignore[arg-type]
    assert (await mall.statements.balance(ALICE)).balance == 100
    assert (await mall.checkins.calendar(ALICE, NOW)).made_up == ()
