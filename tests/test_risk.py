"""Risk control: rules flag members for review, a high score freezes, an admin clears or freezes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import ClaimLocked, Frozen, NotFlagged, UnknownClaimCode
from core.mall import Mall
from core.membership.risk import (
    AUTO_FREEZE_PREFIX,
    EARNED,
    INVITES,
    REDEMPTIONS,
    RING,
    RISK_ACTOR,
    TASKS,
)
from core.rewards.catalog_file import load_catalog
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ADMIN = 1000
ANN, BOB, REF = 2001, 2002, 2100
NOW = at("2026-03-10 09:00")
BEFORE = NOW - timedelta(days=3)

CATALOG = """
[[items]]
sku = "voucher"
title = "Voucher"
category = "Gifts"
kind = "virtual"
price = 150

[[items]]
sku = "sticker"
title = "Sticker"
category = "Gifts"
kind = "virtual"
price = 5
"""


async def risk_mall(make_mall: MallFactory, risk: str = "", extra: str = "") -> Mall:
    return await make_mall(make_config(f"[risk]\n{risk}\n{extra}"))


async def join(mall: Mall, member: int, when=BEFORE, invited_by: int | None = None) -> None:
    await mall.members.join(member, f"M{member}", "en", when, invited_by=invited_by)


async def redeem(mall: Mall, member: int, sku: str, now) -> None:
    item = await mall.catalog.get_item_by_sku(sku)
    offer = await mall.redemptions.offer(member, item.item_id, now)
    await mall.redemptions.redeem(member, offer.token, now)


def rules_of(flags, member: int) -> dict[str, int]:
    found = next(m for m in flags.members if m.member_id == member)
    return {reason.rule: reason.measure for reason in found.reasons}


async def test_points_earned_over_the_limit_in_the_window_flag_the_member(
    make_mall: MallFactory,
):
    mall = await risk_mall(make_mall, "earn_limit = 500\nearn_window_hours = 24")
    await join(mall, ANN)
    await join(mall, BOB)
    await mall.purchases.record_purchase(ANN, "A-1", 30_000, "food", NOW - timedelta(hours=30))
    await mall.purchases.record_purchase(ANN, "A-2", 30_000, "food", NOW - timedelta(hours=2))
    await mall.purchases.record_purchase(BOB, "B-1", 30_000, "food", NOW - timedelta(hours=1))
    assert (await mall.risk.scan(NOW)).flagged == ()  # 300 in the window each: under 500

    await mall.purchases.record_purchase(ANN, "A-3", 30_000, "food", NOW - timedelta(hours=1))
    report = await mall.risk.scan(NOW)
    assert report.flagged == ((EARNED, ANN),)
    assert report.frozen == ()
    flags = await mall.risk.flags()
    assert flags.total == 1
    assert rules_of(flags, ANN) == {EARNED: 600}
    assert flags.members[0].score == 40
    assert not flags.members[0].frozen


async def test_a_scan_again_updates_the_flag_rather_than_adding_one(make_mall: MallFactory):
    mall = await risk_mall(make_mall, "earn_limit = 500")
    await join(mall, ANN)
    for n in range(2):
        await mall.purchases.record_purchase(ANN, f"A-{n}", 30_000, "food", NOW)
    await mall.risk.scan(NOW)
    await mall.purchases.record_purchase(ANN, "A-9", 30_000, "food", NOW)
    await mall.risk.scan(NOW + timedelta(minutes=5))
    flags = await mall.risk.flags()
    assert flags.total == 1
    [reason] = flags.members[0].reasons
    assert (reason.measure, reason.first_at, reason.last_at) == (
        900,
        NOW,
        NOW + timedelta(minutes=5),
    )


async def test_too_many_redemptions_in_an_hour_flag_the_member(make_mall: MallFactory):
    mall = await risk_mall(make_mall, "redemptions_per_hour = 2")
    await load_catalog(mall.db, mall.config, CATALOG, BEFORE)
    await join(mall, ANN)
    for minutes in (0, 10, 20):
        await redeem(mall, ANN, "sticker", NOW - timedelta(minutes=minutes))
    assert (await mall.risk.scan(NOW + timedelta(hours=2))).flagged == ()
    assert (await mall.risk.scan(NOW)).flagged == ((REDEMPTIONS, ANN),)
    assert rules_of(await mall.risk.flags(), ANN) == {REDEMPTIONS: 3}


async def test_many_invites_rewarded_in_a_short_time_flag_the_referrer(make_mall: MallFactory):
    mall = await risk_mall(
        make_mall, "invite_limit = 2\ninvite_window_hours = 24", '[referrals]\nqualify_on = "join"'
    )
    await join(mall, REF)
    for n in range(3):
        await join(mall, 3000 + n, NOW - timedelta(hours=n), invited_by=REF)
    assert (await mall.risk.scan(NOW)).flagged == ((INVITES, REF),)
    assert rules_of(await mall.risk.flags(), REF) == {INVITES: 3}


async def test_a_burst_of_task_rewards_flags_the_member(make_mall: MallFactory):
    mall = await risk_mall(make_mall, "task_limit = 2\ntask_window_hours = 24")
    tasks = "".join(
        f'[[tasks]]\ncode = "survey-{n}"\nkind = "survey"\ntitle = "Survey {n}"\npoints = 5\n'
        f'question = "Q{n}?"\noptions = ["yes", "no"]\n\n'
        for n in range(3)
    )
    await load_catalog(mall.db, mall.config, tasks, BEFORE)
    await join(mall, ANN)
    for task in await mall.tasks.all():
        now = NOW - timedelta(minutes=task.task_id)
        standing = await mall.tasks.poll_for(ANN, task.task_id, now)
        await mall.tasks.record_poll(f"p{task.task_id}", ANN, task.task_id, standing.period, now)
        await mall.tasks.answer_poll(f"p{task.task_id}", ANN, (0,), now)
    assert (await mall.risk.scan(NOW + timedelta(days=2))).flagged == ()
    assert (await mall.risk.scan(NOW)).flagged == ((TASKS, ANN),)
    assert rules_of(await mall.risk.flags(), ANN) == {TASKS: 3}


async def test_invitees_who_only_cash_out_flag_their_referrer_as_a_ring(make_mall: MallFactory):
    mall = await risk_mall(
        make_mall,
        "ring_min_invitees = 3\nring_window_days = 30",
        '[referrals]\nqualify_on = "join"',
    )
    await load_catalog(mall.db, mall.config, CATALOG, BEFORE)
    await join(mall, REF, BEFORE - timedelta(days=60))
    await join(mall, BOB, BEFORE - timedelta(days=60))
    cash_outs = [3001, 3002]
    for invitee in cash_outs:  # 100 sign-up + 50 invite points, all spent on a voucher
        await join(mall, invitee, invited_by=REF)
        await redeem(mall, invitee, "voucher", NOW - timedelta(days=1))
    honest = 3003  # also spent it all, but shops with money too
    await join(mall, honest, invited_by=REF)
    await mall.purchases.record_purchase(honest, "H-1", 1_000, "food", NOW - timedelta(days=1))
    await redeem(mall, honest, "voucher", NOW - timedelta(days=1))
    keeper = 3004  # of another referrer, and keeps points
    await join(mall, keeper, invited_by=BOB)
    await redeem(mall, keeper, "sticker", NOW - timedelta(days=1))
    assert RING not in {rule for rule, _ in (await mall.risk.scan(NOW)).flagged}

    await join(mall, 3005, invited_by=REF)
    await redeem(mall, 3005, "voucher", NOW - timedelta(hours=1))
    report = await mall.risk.scan(NOW)
    assert (RING, REF) in report.flagged
    assert (RING, BOB) not in report.flagged
    assert rules_of(await mall.risk.flags(), REF)[RING] == 3


async def test_a_score_over_the_threshold_freezes_the_member_and_says_who_did_it(
    make_mall: MallFactory,
):
    mall = await risk_mall(make_mall, "earn_limit = 200\nauto_freeze_score = 40")
    await join(mall, ANN)
    await mall.purchases.record_purchase(ANN, "A-1", 30_000, "food", NOW)
    report = await mall.risk.scan(NOW)
    assert report.frozen == (ANN,)
    profile = await mall.members.profile(ANN)
    assert profile.frozen
    assert profile.frozen_reason is not None
    assert profile.frozen_reason.startswith(AUTO_FREEZE_PREFIX)
    assert EARNED in profile.frozen_reason
    with pytest.raises(Frozen):
        await mall.checkins.check_in(ANN, NOW)
    entry = (await mall.audit.latest(1))[0]
    assert (entry.actor_id, entry.action, entry.target) == (
        RISK_ACTOR,
        "risk.auto_freeze",
        f"member:{ANN}",
    )
    assert (await mall.risk.scan(NOW)).frozen == ()  # frozen once
    assert (await mall.risk.flags()).members[0].frozen


async def test_clearing_lifts_a_risk_freeze_and_old_activity_flags_no_one_again(
    make_mall: MallFactory,
):
    mall = await risk_mall(make_mall, "earn_limit = 200\nauto_freeze_score = 40")
    await join(mall, ANN)
    await mall.purchases.record_purchase(ANN, "A-1", 30_000, "food", NOW)
    await mall.risk.scan(NOW)

    review = await mall.risk.clear(ADMIN, ANN, NOW + timedelta(minutes=5))
    assert (review.rules, review.frozen) == ((EARNED,), False)
    assert not (await mall.members.profile(ANN)).frozen
    entry = (await mall.audit.latest(1))[0]
    assert (entry.actor_id, entry.action) == (ADMIN, "risk.clear")
    assert (entry.before["frozen"], entry.after["frozen"]) == (True, False)
    assert (await mall.risk.scan(NOW + timedelta(minutes=10))).flagged == ()
    assert (await mall.risk.flags()).total == 0
    with pytest.raises(NotFlagged):
        await mall.risk.clear(ADMIN, ANN, NOW + timedelta(minutes=11))

    await mall.purchases.record_purchase(ANN, "A-2", 30_000, "food", NOW + timedelta(hours=1))
    assert (await mall.risk.scan(NOW + timedelta(hours=1))).flagged == ((EARNED, ANN),)


async def test_clearing_keeps_an_admins_own_freeze(make_mall: MallFactory):
    mall = await risk_mall(make_mall, "wrong_claims_limit = 1")
    await join(mall, ANN)
    await mall.members.freeze(ANN, "chargeback")
    with pytest.raises(ClaimLocked):
        await mall.claims.claim(ANN, "ZZZZZZZZZZZZ", NOW)
    review = await mall.risk.clear(ADMIN, ANN, NOW)
    assert (review.frozen, review.frozen_reason) == (True, "chargeback")
    assert (await mall.members.profile(ANN)).frozen_reason == "chargeback"


async def test_an_admin_freezes_a_flagged_member_with_a_reason(make_mall: MallFactory):
    mall = await risk_mall(make_mall, "wrong_claims_limit = 2")
    await join(mall, ANN)
    with pytest.raises(UnknownClaimCode):
        await mall.claims.claim(ANN, "ZZZZZZZZZZZZ", NOW)
    with pytest.raises(ClaimLocked):
        await mall.claims.claim(ANN, "ZZZZZZZZZZZZ", NOW)
    review = await mall.risk.freeze(ADMIN, ANN, "guessing claim codes", NOW)
    assert (review.rules, review.frozen) == (("wrong_claims",), True)
    profile = await mall.members.profile(ANN)
    assert (profile.frozen, profile.frozen_reason) == (True, "guessing claim codes")
    assert (await mall.risk.flags()).total == 0
    entry = (await mall.audit.latest(1))[0]
    assert (entry.action, entry.after["reason"]) == ("risk.freeze", "guessing claim codes")


async def test_a_rule_with_score_zero_is_off(make_mall: MallFactory):
    mall = await risk_mall(make_mall, "earn_limit = 200\nearn_score = 0")
    await join(mall, ANN)
    await mall.purchases.record_purchase(ANN, "A-1", 30_000, "food", NOW)
    assert (await mall.risk.scan(NOW)).flagged == ()
