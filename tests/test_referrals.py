"""Alice invites her friends: links, attribution, rewards for both, and the monthly cap."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, text

from core.db.models import CheckIn, Item, Redemption, Referral
from core.errors import InvalidInput, MallError, UnknownMember
from core.growth.referrals import ReferralReward, Referrals, attribute, qualify
from core.mall import Mall
from core.points.ledger import lock_member
from core.rewards.donations import Donations
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE, BOB, CAROL, DAN = 1001, 1002, 1003, 1004
JOIN_REWARDS = "[referrals]\nqualify_on = 'join'"


class Wired:
    """Members as the bot drives them: join and check in through the mall's own use cases,
    whose transactions run the referral hooks, and what those hooks did."""

    def __init__(self, mall: Mall) -> None:
        self.mall = mall

    async def join(self, member_id: int, name: str, when: str, invited_by: int | None = None):
        now = at(when)
        joined = await self.mall.members.join(member_id, name, "en", now, invited_by=invited_by)
        return joined.referral if joined.is_new else None

    async def check_in(self, member_id: int, when: str) -> ReferralReward | None:
        result = await self.mall.checkins.check_in(member_id, at(when))
        return None if result.already_checked_in else result.referral

    async def event(self, member_id: int, event: str, when: str) -> ReferralReward | None:
        async with self.mall.db.write() as conn:
            await lock_member(conn, member_id)
            return await qualify(conn, self.mall.config, member_id, event, at(when))  # type: ignore[arg-type]


async def balance(mall: Mall, member_id: int) -> int:
    return (await mall.statements.balance(member_id)).balance


async def status_of(mall: Mall, invitee_id: int) -> str | None:
    async with mall.db.read() as conn:
        return (
            await conn.execute(select(Referral.status).where(Referral.invitee_id == invitee_id))
        ).scalar_one_or_none()


async def test_alices_link_brings_bob_and_his_third_check_in_rewards_both_once(mall: Mall):
    wired, referrals = Wired(mall), Referrals(mall.db, mall.config)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    code = await referrals.invite_code(ALICE)
    assert len(code) == 10
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert await referrals.invite_code(ALICE) == code  # stable

    # Bob taps Alice's link: /start <code>.
    inviter = await referrals.resolve(code)
    assert inviter == ALICE
    assert await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=inviter) == "pending"
    assert await wired.check_in(BOB, "2026-03-01 10:00") is None
    assert await wired.check_in(BOB, "2026-03-02 10:00") is None
    reward = await wired.check_in(BOB, "2026-03-03 10:00")
    assert reward == ReferralReward(BOB, ALICE, "rewarded", 50, 100, 100 + 30 + 50)
    assert (await balance(mall, BOB), await balance(mall, ALICE)) == (180, 200)

    # Replays pay nothing: the same day again, a later day, the hook called twice.
    assert await wired.check_in(BOB, "2026-03-03 11:00") is None
    assert await wired.check_in(BOB, "2026-03-04 10:00") is None
    assert await wired.event(BOB, "checkin", "2026-03-04 10:01") is None
    assert (await balance(mall, BOB), await balance(mall, ALICE)) == (190, 200)

    latest = (await mall.statements.history(ALICE)).entries[0]
    assert (latest.code, latest.amount, latest.reference) == ("referral_referrer", 100, str(BOB))
    page = await referrals.invites(ALICE, at("2026-03-04 12:00"))
    assert [(i.invitee_id, i.display_name, i.status) for i in page.entries] == [
        (BOB, "Bob", "rewarded")
    ]
    assert page.entries[0].invited_at == at("2026-03-01 09:00")
    assert (page.pending, page.rewarded, page.capped) == (0, 1, 0)
    assert (page.counted_this_month, page.monthly_cap) == (1, 20)
    assert (await mall.check()).ok


async def test_made_up_days_do_not_count_toward_qualifying(mall: Mall):
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    await wired.check_in(BOB, "2026-03-01 10:00")
    await wired.check_in(BOB, "2026-03-03 10:00")
    await mall.checkins.make_up(BOB, date(2026, 3, 2), at("2026-03-03 11:00"))
    assert await wired.event(BOB, "checkin", "2026-03-03 11:00") is None
    assert await status_of(mall, BOB) == "pending"
    assert (await wired.check_in(BOB, "2026-03-04 10:00")) is not None


async def test_rewards_on_joining_pay_both_at_once(make_mall: MallFactory):
    mall = await make_mall(make_config(JOIN_REWARDS))
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    assert await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE) == "rewarded"
    assert (await balance(mall, BOB), await balance(mall, ALICE)) == (150, 200)
    # The points are a bonus: they expire by the member's tier and do not count toward it.
    tier = await mall.statements.tier(BOB, at("2026-03-01 10:00"))
    assert tier.earned_in_window == 0
    expiring = await mall.statements.expiring(BOB, at("2026-03-01 10:00"), days=365)
    assert [(e.last_day, e.amount) for e in expiring] == [(date(2027, 2, 28), 150)]
    assert await wired.check_in(BOB, "2026-03-02 10:00") is None
    assert (await mall.check()).ok


async def test_the_monthly_cap_marks_the_21st_invite_capped_and_resets_next_month(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config(JOIN_REWARDS))
    wired, referrals = Wired(mall), Referrals(mall.db, mall.config)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    statuses = [
        await wired.join(2000 + n, f"Friend {n}", "2026-03-31 23:00", invited_by=ALICE)
        for n in range(1, 22)
    ]
    assert statuses == ["rewarded"] * 20 + ["capped"]
    assert await balance(mall, ALICE) == 100 + 20 * 100
    assert await balance(mall, 2021) == 100  # the capped friend's sign-up bonus only
    page = await referrals.invites(ALICE, at("2026-03-31 23:59:59"), page_size=20)
    assert (page.rewarded, page.capped, page.counted_this_month) == (20, 1, 20)
    assert page.has_more
    rest = await referrals.invites(ALICE, at("2026-03-31 23:59:59"), page=1, page_size=20)
    assert len(rest.entries) == 1
    assert not rest.has_more

    # Midnight in Shanghai starts April, and a new allowance.
    assert await wired.join(2022, "Friend 22", "2026-04-01 00:00", invited_by=ALICE) == "rewarded"
    april = await referrals.invites(ALICE, at("2026-04-01 00:00"))
    assert april.counted_this_month == 1
    assert (await mall.check()).ok


async def test_the_first_completed_redemption_qualifies_when_the_mall_says_so(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config("[referrals]\nqualify_on = 'redemption'"))
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    for day in ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"):
        assert await wired.check_in(BOB, f"{day} 10:00") is None
    await add_redemption(mall, BOB, "awaiting_approval", "tok-1")
    assert await wired.event(BOB, "redemption", "2026-03-04 11:00") is None
    await add_redemption(mall, BOB, "completed", "tok-2")
    reward = await wired.event(BOB, "redemption", "2026-03-04 12:00")
    assert reward is not None
    assert (reward.status, reward.invitee_points, reward.referrer_points) == ("rewarded", 50, 100)
    await add_redemption(mall, BOB, "completed", "tok-3")
    assert await wired.event(BOB, "redemption", "2026-03-05 12:00") is None
    assert (await mall.check()).ok


async def test_a_frozen_referrer_gets_nothing_and_bob_still_does(mall: Mall):
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    await mall.members.freeze(ALICE, "many accounts, one phone")
    for day in ("2026-03-01", "2026-03-02"):
        await wired.check_in(BOB, f"{day} 10:00")
    reward = await wired.check_in(BOB, "2026-03-03 10:00")
    assert reward is not None
    assert (reward.status, reward.invitee_points, reward.referrer_points) == ("rewarded", 50, 0)
    assert (await balance(mall, BOB), await balance(mall, ALICE)) == (180, 100)
    # Unfreezing pays nothing late: the reward was skipped, not postponed.
    await mall.members.unfreeze(ALICE)
    assert await wired.check_in(BOB, "2026-03-04 10:00") is None
    assert await balance(mall, ALICE) == 100
    assert (await mall.check()).ok


async def test_nobody_invites_themselves_or_is_attributed_twice_so_there_are_no_cycles(
    mall: Mall,
):
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    await wired.join(CAROL, "Carol", "2026-03-01 10:00")
    async with mall.db.write() as conn:
        config, carols_join = mall.config, at("2026-03-01 10:00")
        assert await attribute(conn, config, CAROL, CAROL, carols_join) is None  # self-invite
        assert await attribute(conn, config, CAROL, 999_999, carols_join) is None  # nobody
        # Bob has Alice already; Alice invited Bob, so Bob inviting her would close a cycle.
        assert await attribute(conn, config, BOB, CAROL, at("2026-03-01 09:00")) is None
        assert await attribute(conn, config, ALICE, BOB, at("2026-03-01 08:00")) is None
        # Only Carol's own join may attribute her, and only once.
        assert await attribute(conn, config, CAROL, ALICE, at("2026-03-02 10:00")) is None
        assert await attribute(conn, config, CAROL, ALICE, carols_join) == "pending"
        assert await attribute(conn, config, CAROL, BOB, carols_join) is None
    # Starting again through someone else's link changes nothing either.
    assert await wired.join(BOB, "Bob", "2026-03-02 11:00", invited_by=CAROL) is None
    assert await wired.join(ALICE, "Alice", "2026-03-02 11:00", invited_by=BOB) is None
    async with mall.db.read() as conn:
        rows = (
            await conn.execute(
                select(Referral.invitee_id, Referral.referrer_id).order_by(Referral.invitee_id)
            )
        ).all()
    assert [tuple(row) for row in rows] == [(BOB, ALICE), (CAROL, ALICE)]


async def test_a_malformed_or_unknown_code_brings_nobody(mall: Mall):
    referrals = Referrals(mall.db, mall.config)
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    code = await referrals.invite_code(ALICE)
    for bad in ("", "x" * 65, "has space", "semi;colon", "дружба", code + "!", None, 42):
        assert await referrals.resolve(bad) is None
    assert await referrals.resolve("x" * 64) is None  # well formed, nobody's
    with pytest.raises(UnknownMember):
        await referrals.invite_code(424242)
    with pytest.raises(UnknownMember):
        await referrals.invites(424242, at("2026-03-01 09:00"))
    with pytest.raises(InvalidInput):
        await referrals.invites(ALICE, at("2026-03-01 09:00"), page=-1)
    with pytest.raises(InvalidInput):
        await referrals.invites(ALICE, at("2026-03-01 09:00"), page_size=0)
    assert (await mall.check()).ok


async def test_a_taken_code_is_drawn_again_and_concurrent_first_asks_agree(mall: Mall):
    codes = iter(["TAKEN_0001", "TAKEN_0001", "FRESH_0002"])
    referrals = Referrals(mall.db, mall.config, new_code=lambda: next(codes))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    assert await referrals.invite_code(ALICE) == "TAKEN_0001"
    assert await referrals.invite_code(BOB) == "FRESH_0002"
    assert await referrals.resolve("FRESH_0002") == BOB

    await mall.members.join(CAROL, "Carol", "en", at("2026-03-01 08:00"))
    real = Referrals(mall.db, mall.config)
    asked = await asyncio.gather(*(real.invite_code(CAROL) for _ in range(5)))
    assert len(set(asked)) == 1
    assert await real.resolve(asked[0]) == CAROL


async def test_a_chain_of_invitees_checking_in_at_once_does_not_deadlock(mall: Mall):
    """Alice invited Bob, Bob invited Carol, Carol invited Dan; all qualify at the same moment.

    Each invitee's transaction, holding their own account, waits for their referrer's: the
    waits all point to earlier members, so they cannot form a cycle."""
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 08:01", invited_by=ALICE)
    await wired.join(CAROL, "Carol", "2026-03-01 08:02", invited_by=BOB)
    await wired.join(DAN, "Dan", "2026-03-01 08:03", invited_by=CAROL)
    chain = (BOB, CAROL, DAN)
    for day in ("2026-03-01", "2026-03-02"):
        await asyncio.gather(*(wired.check_in(m, f"{day} 10:00") for m in chain))
    rewards = await asyncio.gather(*(wired.check_in(m, "2026-03-03 10:00") for m in chain))
    # A referrer's account busy past the wait leaves the reward to the job: settle the rest.
    late = await Referrals(mall.db, mall.config).settle_qualified(at("2026-03-03 10:05"))
    settled = [r for r in rewards if r is not None] + list(late)
    assert sorted(r.invitee_id for r in settled) == sorted(chain)
    assert [await status_of(mall, m) for m in chain] == ["rewarded"] * 3
    # Alice: 100 bonus + 100 for Bob. Bob and Carol: 100 + 30 + 50 + 100. Dan: 100 + 30 + 50.
    assert [await balance(mall, m) for m in (ALICE, BOB, CAROL, DAN)] == [200, 280, 280, 180]
    assert (await mall.check()).ok


async def test_two_friends_qualifying_at_once_cannot_both_take_the_last_place(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config("[referrals]\nqualify_checkins = 1\nmonthly_cap = 1"))
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    await wired.join(CAROL, "Carol", "2026-03-01 09:00", invited_by=ALICE)
    await asyncio.gather(*(wired.check_in(m, "2026-03-02 10:00") for m in (BOB, CAROL)))
    await Referrals(mall.db, mall.config).settle_qualified(at("2026-03-02 10:05"))
    assert sorted([await status_of(mall, BOB), await status_of(mall, CAROL)]) == [
        "capped",
        "rewarded",
    ]
    assert await balance(mall, ALICE) == 200
    assert (await mall.check()).ok


async def test_a_busy_referrer_never_blocks_the_invitees_check_in(mall: Mall, backend: str):
    """The expiry job locks accounts in ascending id order; suppose it holds Alice's (the
    lower id) and waits for Bob's, while Bob's check-in holds his and qualifies him. Waiting
    for Alice would deadlock: Bob's check-in gives up on the reward instead, and the job that
    settles referrals pays it later."""
    if backend != "postgres":
        pytest.skip("SQLite runs one writer at a time: nothing can hold Alice's account")
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    for day in ("2026-03-01", "2026-03-02"):
        await mall.checkins.check_in(BOB, at(f"{day} 10:00"))
    lock = text("SELECT id FROM accounts WHERE id = :id FOR UPDATE")
    job = await mall.db.engine.connect()
    try:
        job_transaction = await job.begin()
        async with mall.db.write() as conn:
            await lock_member(conn, BOB)  # Bob's third check-in holds his account
            await conn.execute(
                insert(CheckIn).values(
                    member_id=BOB,
                    day=date(2026, 3, 3),
                    streak=3,
                    reward=0,
                    makeup=False,
                    created_at=at("2026-03-03 10:00"),
                )
            )
            await job.execute(lock, {"id": ALICE})
            job_waits_for_bob = asyncio.create_task(job.execute(lock, {"id": BOB}))
            await asyncio.sleep(0.05)
            assert await qualify(conn, mall.config, BOB, "checkin", at("2026-03-03 10:00")) is None
        # Bob's check-in committed; now the job gets his account and finishes too.
        await job_waits_for_bob
        await job_transaction.commit()
    finally:
        await job.close()
    assert await status_of(mall, BOB) == "pending"
    settled = await Referrals(mall.db, mall.config).settle_qualified(at("2026-03-03 10:05"))
    assert [(r.invitee_id, r.status) for r in settled] == [(BOB, "rewarded")]
    assert (await balance(mall, BOB), await balance(mall, ALICE)) == (170, 200)
    assert await Referrals(mall.db, mall.config).settle_qualified(at("2026-03-03 10:06")) == ()
    assert (await mall.check()).ok


async def test_the_settling_job_catches_up_and_repeats_harmlessly(make_mall: MallFactory):
    """The mall asked for five check-ins; the admin lowers it to three. Bob, who already has
    three, is rewarded by the settling job without checking in again."""
    strict = await make_mall(make_config("[referrals]\nqualify_checkins = 5"))
    wired = Wired(strict)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    await wired.join(CAROL, "Carol", "2026-03-01 09:00", invited_by=ALICE)
    for day in ("2026-03-01", "2026-03-02", "2026-03-03"):
        await strict.checkins.check_in(BOB, at(f"{day} 10:00"))
    await strict.checkins.check_in(CAROL, at("2026-03-03 10:00"))
    mall = await make_mall(make_config("[referrals]\nqualify_checkins = 3"))
    wired = Wired(mall)
    referrals = Referrals(mall.db, mall.config)
    settled = await referrals.settle_qualified(at("2026-03-03 12:00"), batch=1)
    assert [(r.invitee_id, r.status, r.referrer_points) for r in settled] == [
        (BOB, "rewarded", 100)
    ]
    assert await referrals.settle_qualified(at("2026-03-03 12:01")) == ()
    page = await referrals.invites(ALICE, at("2026-03-03 12:02"))
    assert [(i.invitee_id, i.status) for i in page.entries] == [
        (CAROL, "pending"),
        (BOB, "rewarded"),
    ]
    assert (page.pending, page.rewarded) == (1, 1)
    with pytest.raises(InvalidInput):
        await wired.event(CAROL, "payment", "2026-03-03 12:03")


async def add_redemption(mall: Mall, member_id: int, status: str, token: str) -> None:
    """A redemption row as the redemptions module writes it (its points are not moved here)."""
    now = at("2026-03-04 10:00")
    async with mall.db.write() as conn:
        item_id = (
            await conn.execute(select(Item.id).where(Item.sku == "mug"))
        ).scalar_one_or_none()
        if item_id is None:
            item_id = (
                await conn.execute(
                    insert(Item)
                    .values(
                        sku="mug",
                        title="Mug",
                        category="home",
                        kind="physical",
                        price_points=10,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(Item.id)
                )
            ).scalar_one()
        await conn.execute(
            insert(Redemption).values(
                member_id=member_id,
                item_id=item_id,
                confirm_token=token,
                status=status,
                points=10,
                created_at=now,
                updated_at=now,
            )
        )


# --- Property: whatever members do, the books balance ------------------------------------------

_inviters = st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=6, max_size=6)
_actions = st.lists(
    st.tuples(
        st.sampled_from(["checkin", "donate", "redeem", "freeze", "unfreeze", "settle"]),
        st.integers(0, 5),  # who
        st.integers(0, 4),  # which day from 29 March (into April), or how much (x 20)
    ),
    max_size=20,
)
_examples = iter(range(10**6))
_REFUSALS = {"frozen", "insufficient_points"}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    inviters=_inviters,
    actions=_actions,
    cap=st.integers(0, 2),
    on=st.sampled_from(["join", "checkins", "redemption"]),
)
async def test_random_invites_check_ins_and_donations_keep_the_books_clean(
    make_mall: MallFactory,
    inviters: list[int | None],
    actions: list[tuple[str, int, int]],
    cap: int,
    on: str,
):
    config = make_config(
        f"[referrals]\nqualify_on = '{on}'\nqualify_checkins = 2\nmonthly_cap = {cap}"
    )
    mall = await make_mall(config)
    wired, donations = Wired(mall), Donations(mall.db, mall.config)
    referrals = Referrals(mall.db, mall.config)
    example = next(_examples)
    base = 10_000 + 10 * example  # each example has members of its own on the shared database
    for who, inviter in enumerate(inviters):  # an inviter must have joined first
        invited_by = base + inviter if inviter is not None else None
        await wired.join(base + who, f"M{who}", "2026-03-29 08:00", invited_by=invited_by)
    for step, (action, who, arg) in enumerate(actions):
        member = base + who
        day = date(2026, 3, 29) + timedelta(days=arg)
        stamp = f"{day.isoformat()} 10:{step:02d}"
        refusal = None
        try:
            if action == "checkin":
                await wired.check_in(member, stamp)
            elif action == "donate":
                await donations.donate(member, 20 * arg + 1, f"d-{example}-{step}", at(stamp))
            elif action == "redeem":
                await add_redemption(mall, member, "completed", f"r-{example}-{step}")
                await wired.event(member, "redemption", stamp)
            elif action == "freeze":
                await mall.members.freeze(member, "checking")
            elif action == "unfreeze":
                await mall.members.unfreeze(member)
            else:
                await referrals.settle_qualified(at(stamp))
        except MallError as refused:
            refusal = refused.code
        assert refusal in (None, *_REFUSALS)
    report = await mall.check()
    assert report.ok, report.violations
    for who in range(6):
        for moment in ("2026-03-31 12:00", "2026-04-03 12:00"):
            page = await referrals.invites(base + who, at(moment))
            assert cap == 0 or page.counted_this_month <= cap
    await mall.db.dispose()


# --- Qualifying on the first purchase (the anti-farming rule) ---------------------------------

PURCHASE_REWARDS = """
[referrals]
qualify_on = 'purchase'

[shop]
phone_hash_key = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"
"""


async def test_bobs_first_purchase_not_his_check_ins_rewards_the_invite(make_mall: MallFactory):
    mall = await make_mall(make_config(PURCHASE_REWARDS))
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)
    for day in ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"):
        assert await wired.check_in(BOB, f"{day} 10:00") is None
    assert await status_of(mall, BOB) == "pending"
    before = await balance(mall, BOB)
    first = await mall.purchases.record_purchase(
        BOB, "A-1", 5000, "general", at("2026-03-05 10:00")
    )
    assert first.referral is not None
    assert (first.referral.status, first.referral.invitee_points) == ("rewarded", 50)
    assert first.referral.referrer_points == 100
    assert first.balance == before + first.points + 50 == await balance(mall, BOB)
    second = await mall.purchases.record_purchase(
        BOB, "A-2", 5000, "general", at("2026-03-06 10:00")
    )
    assert second.referral is None
    assert await status_of(mall, BOB) == "rewarded"
    assert await balance(mall, ALICE) == 200  # her sign-up bonus and the invite
    assert (await mall.check()).ok


async def test_a_shop_order_qualifies_the_invite_once_and_says_what_it_paid(
    make_mall: MallFactory,
):
    from decimal import Decimal

    from core.commerce.shop import OrderIn

    mall = await make_mall(make_config(PURCHASE_REWARDS))
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    await wired.join(BOB, "Bob", "2026-03-01 09:00", invited_by=ALICE)

    def order(order_id: str) -> OrderIn:
        return OrderIn(order_id, {"telegram_id": BOB}, Decimal("30.00"), "CNY")

    # Twenty deliveries of the same order at once pay the invite once.
    outcomes = await asyncio.gather(
        *(mall.shop.accept_order(order("S-1"), at("2026-03-02 10:00")) for _ in range(20))
    )
    assert {(o.status, o.points, o.referral_points) for o in outcomes} == {("credited", 30, 50)}
    later = await mall.shop.accept_order(order("S-2"), at("2026-03-03 10:00"))
    assert later.referral_points == 0
    assert await balance(mall, ALICE) == 200  # her sign-up bonus and the invite
    assert await status_of(mall, BOB) == "rewarded"
    assert (await mall.check()).ok


async def test_an_order_parked_before_carol_links_qualifies_her_invite_when_credited(
    make_mall: MallFactory,
):
    from decimal import Decimal

    from core.commerce.shop import OrderIn

    mall = await make_mall(make_config(PURCHASE_REWARDS))
    wired = Wired(mall)
    await wired.join(ALICE, "Alice", "2026-03-01 08:00")
    parked = await mall.shop.accept_order(
        OrderIn("P-1", {"phone": "+8613800138000"}, Decimal("20.00"), "CNY"),
        at("2026-03-01 09:00"),
    )
    assert parked.status == "parked"
    await wired.join(CAROL, "Carol", "2026-03-01 10:00", invited_by=ALICE)
    assert await status_of(mall, CAROL) == "pending"
    linked = await mall.shop.link_phone(CAROL, "+8613800138000", at("2026-03-01 11:00"))
    (credited,) = linked.credited
    assert (credited.points, credited.referral_points) == (20, 50)
    assert await status_of(mall, CAROL) == "rewarded"
    assert await balance(mall, ALICE) == 200  # her sign-up bonus and the invite
    assert (await mall.check()).ok
