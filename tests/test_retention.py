"""Retention (issue 17): idempotency records are pruned once their cause can no longer be
replayed, and only then. Inside its window a replay still answers as the first time; past it,
the record is gone and a replay is refused by what the cause left, never run twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from core.config import parse_config
from core.config_errors import ConfigError
from core.db.models import Operation, Redemption
from core.errors import KeyReused
from core.mall import Mall
from core.operations.jobs import Jobs
from core.operations.retention import Retention
from core.rewards.redemptions import OfferChanged
from tests.conftest import MallFactory, at
from tests.support.configs import make_config
from tests.test_jobs import Words, add_item

ALICE = 1001
T0 = at("2026-03-01 09:00")


async def _kinds(mall: Mall) -> dict[str, int]:
    async with mall.db.read() as conn:
        rows = await conn.execute(
            select(Operation.kind, func.count()).group_by(Operation.kind).order_by(Operation.kind)
        )
        return {kind: int(count) for kind, count in rows}


async def _balance(mall: Mall) -> int:
    return (await mall.statements.balance(ALICE)).balance


async def test_a_check_in_replays_inside_its_window_and_is_pruned_after(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", T0 - timedelta(hours=1))
    first = await mall.checkins.check_in(ALICE, T0)
    retention = Retention(mall.db, mall.config)
    # Three days on, the record is still there: a redelivered tap of that day replays it.
    assert (await retention.prune(T0 + timedelta(days=3) - timedelta(minutes=1))).operations == 0
    again = await mall.checkins.check_in(ALICE, T0 + timedelta(minutes=5))
    assert again.already_checked_in
    assert (again.reward, again.balance) == (first.reward, first.balance)
    pruned = await retention.prune(T0 + timedelta(days=3, minutes=1))
    assert pruned.by_kind == (("checkin", 1),)
    assert "checkin" not in await _kinds(mall)
    # The sign-up's record is kept (one per member), and the books are whole.
    assert (await _kinds(mall))["join"] == 1
    assert (await mall.check()).ok


async def test_a_redeem_tap_replays_inside_the_tokens_life_and_is_refused_after(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", T0 - timedelta(hours=1))
    item_id = await add_item(mall, "mug", price_points=30)
    offer = await mall.redemptions.offer(ALICE, item_id, T0)
    first = await mall.redemptions.redeem(ALICE, offer.token, T0)
    retention = Retention(mall.db, mall.config)
    six_days = T0 + timedelta(days=6)
    assert (await retention.prune(six_days)).operations == 0
    replay = await mall.redemptions.redeem(ALICE, offer.token, six_days)
    assert replay.replayed
    assert replay.redemption == first.redemption
    eight_days = T0 + timedelta(days=8)
    assert (await retention.prune(eight_days)).by_kind == (("redeem", 1),)
    # Past its life the token is refused, before anything moves: no second mug.
    with pytest.raises(OfferChanged):
        await mall.redemptions.redeem(ALICE, offer.token, eight_days)
    assert await _balance(mall) == first.balance
    async with mall.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(Redemption))).scalar() == 1
    # The mall's signing key is never pruned: new confirmations still verify.
    fresh = await mall.redemptions.offer(ALICE, item_id, eight_days)
    assert (await mall.redemptions.redeem(ALICE, fresh.token, eight_days)).balance == (
        first.balance - 30
    )
    assert (await mall.check()).ok


async def test_an_old_confirmation_is_refused_even_if_never_tapped(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", T0 - timedelta(hours=1))
    item_id = await add_item(mall, "mug", price_points=30)
    offer = await mall.redemptions.offer(ALICE, item_id, T0)
    with pytest.raises(OfferChanged):
        await mall.redemptions.redeem(ALICE, offer.token, T0 + timedelta(days=7, seconds=1))


async def test_an_order_replays_for_its_window_and_is_refused_as_recorded_after(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", T0 - timedelta(hours=1))
    first = await mall.purchases.record_purchase(ALICE, "A-1", 5000, "Goods", T0)
    retention = Retention(mall.db, mall.config)
    late = T0 + timedelta(days=399)
    assert (await retention.prune(late)).operations == 0
    assert await mall.purchases.record_purchase(ALICE, "A-1", 5000, "Goods", late) == first
    after = T0 + timedelta(days=401)
    assert (await retention.prune(after)).by_kind == (("purchase", 1),)
    with pytest.raises(KeyReused):
        await mall.purchases.record_purchase(ALICE, "A-1", 5000, "Goods", after)
    assert await _balance(mall) == first.balance
    assert (await mall.check()).ok


async def test_pruning_goes_a_batch_at_a_time_and_keeps_what_it_must(make_mall: MallFactory):
    mall = await make_mall(make_config("[retention]\nbatch_size = 100"))
    old, recent = T0 - timedelta(days=30), T0 - timedelta(days=1)
    rows = [_record(f"checkin:{i}:old", "checkin", old) for i in range(230)]
    rows += [_record(f"checkin:{i}:new", "checkin", recent) for i in range(5)]
    rows += [_record(f"x:{i}", kind, old) for i, kind in enumerate(KEPT)]
    rows.append(_record("checkin:running", "checkin", old, status="pending"))
    async with mall.db.write() as conn:
        await conn.execute(insert(Operation), rows)
    pruned = await Retention(mall.db, mall.config).prune(T0)
    assert pruned.by_kind == (("checkin", 230),)
    assert pruned.batches == 3 + 4  # 100, 100, 30 of check-ins; one look at each other kind
    left = await _kinds(mall)
    assert left["checkin"] == 5 + 1  # the recent ones, and one still pending (a use case runs)
    assert all(left[kind] == 1 for kind in KEPT)


def _record(key: str, kind: str, created_at: object, status: str = "ok") -> dict[str, object]:
    return {
        "key": key,
        "kind": kind,
        "fingerprint": "f",
        "status": status,
        "error_code": None,
        "result": "null",
        "created_at": created_at,
    }


# Kinds whose records are kept for good (see core.operations.retention).
KEPT = ("join", "refund", "box_open", "secret", "hold", "sale_entry", "donation")


async def test_the_retention_job_prunes(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", T0 - timedelta(hours=1))
    await mall.checkins.check_in(ALICE, T0)
    jobs = Jobs(mall, Words())
    assert (await jobs.retention(T0 + timedelta(days=1))).changed == 0
    assert (await jobs.retention(T0 + timedelta(days=4))).changed == 1


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[retention]\ncheckin_days = 0", "retention.checkin_days"),
        ("[retention]\norder_days = 7", "retention.order_days"),
        ("[retention]\nbatch_size = 10", "retention.batch_size"),
        ('[jobs]\nretention_time = "25:00"', "jobs.retention_time"),
    ],
)
def test_a_bad_window_names_its_key(toml: str, key: str):
    with pytest.raises(ConfigError) as refused:
        parse_config(toml, environ={})
    assert key in str(refused.value)
