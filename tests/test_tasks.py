"""Tasks on both databases: joining a chat, quizzes and surveys, and challenges counted from the
ledger, each paid once per period whatever the repetition or concurrency of the requests."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.db.models import Item, OutboxMessage, TaskCompletion, Transfer
from core.errors import TaskDone, TaskNotReady, UnknownTask
from core.mall import Mall
from core.rewards.catalog_file import CatalogError, load_catalog_text
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

ALICE = 1001
BOB = 1002
_members = itertools.count()

TASKS = """
[[tasks]]
code = "join-news"
kind = "channel"
title = "Join our news channel"
titles = { zh_Hans = "关注新闻频道" }
points = 50
chat = "@pointsmall_news"
keep_hours = 72

[[tasks]]
code = "coffee-quiz"
kind = "quiz"
title = "Coffee quiz"
points = 20
question = "Where does the latte come from?"
options = ["Italy", "France", "Japan"]
answer = 1
explanation = "Caffè latte is Italian."
texts.zh_Hans = { question = "拿铁来自哪里？", options = ["意大利", "法国", "日本"] }

[[tasks]]
code = "taste-survey"
kind = "survey"
title = "Tell us your taste"
points = 5
question = "Which do you drink most?"
options = ["Latte", "Tea", "Juice"]

[[tasks]]
code = "three-checkins"
kind = "challenge"
title = "Check in 3 times this week"
titles = { zh_Hans = "本周签到3次" }
points = 30
repeat = "week"
metric = "checkins"
target = 3
"""


LATTE = """
[[items]]
sku = "latte"
title = "Latte"
category = "Drinks"
kind = "virtual"
price = 40
"""

SPEND_AND_REDEEM = (
    LATTE
    + """

[[tasks]]
code = "spend-100"
kind = "challenge"
title = "Spend 80 points this month"
points = 25
repeat = "month"
metric = "spend"
target = 80

[[tasks]]
code = "redeem-2"
kind = "challenge"
title = "Redeem 2 items"
points = 15
prize = "latte"
metric = "redeem"
target = 2
"""
)


async def _load(mall: Mall, text: str = TASKS, now: str = "2026-03-01 08:00") -> None:
    await load_catalog_text(mall.db, mall.config, text, at(now))


async def _task_id(mall: Mall, code: str) -> int:
    return next(task.task_id for task in await mall.tasks.all() if task.code == code)


async def _task_points(mall: Mall, member_id: int) -> int:
    async with mall.db.read() as conn:
        paid = await conn.execute(
            select(func.coalesce(func.sum(Transfer.amount), 0)).where(
                Transfer.credit_account_id == member_id, Transfer.code == "task"
            )
        )
        return int(paid.scalar_one())


async def test_the_catalog_file_defines_tasks_of_every_kind_and_reloading_changes_nothing(
    mall: Mall,
):
    await _load(mall)
    tasks = {task.code: task for task in await mall.tasks.all()}
    assert set(tasks) == {"join-news", "coffee-quiz", "taste-survey", "three-checkins"}
    news = tasks["join-news"]
    assert (news.chat, news.chat_link, news.keep_hours) == (
        "@pointsmall_news",
        "https://t.me/pointsmall_news",
        72,
    )
    quiz = tasks["coffee-quiz"].poll
    assert quiz is not None
    assert quiz.correct == 0
    assert quiz.in_language("zh_Hans").options == ("意大利", "法国", "日本")
    assert quiz.in_language("en").question == "Where does the latte come from?"
    assert tasks["three-checkins"].target == 3
    report = await load_catalog_text(mall.db, mall.config, TASKS, at("2026-03-02 08:00"))
    assert (report.tasks_created, report.tasks_updated, report.tasks_unchanged) == (0, 0, 4)


async def test_a_wrong_task_is_named_with_its_line_and_nothing_is_loaded(mall: Mall):
    text = """
[[tasks]]
code = "bad-quiz"
kind = "quiz"
title = "Quiz"
points = 10
question = "?"
options = ["only one"]
answer = 3
metric = "checkins"

[[tasks]]
code = "no-reward"
kind = "challenge"
title = "Nothing"
metric = "hugs"
target = 0
"""
    with pytest.raises(CatalogError) as caught:
        await _load(mall, text)
    problems = "\n".join(str(p) for p in caught.value.problems)
    assert "tasks[0] (sku 'bad-quiz').options" in problems
    assert "must give 2-10 options" in problems
    assert "answer" in problems
    assert "metric: only for a task of kind challenge" in problems
    assert "tasks[1] (sku 'no-reward').points" in problems
    assert "a challenge counts one of checkins" in problems
    assert all(p.line is not None for p in caught.value.problems)
    assert await mall.tasks.all() == ()


async def test_joining_the_channel_pays_once_however_often_done_is_pressed(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall)
    news = await _task_id(mall, "join-news")
    first = await mall.tasks.complete_joined(ALICE, news, at("2026-03-01 09:00"))
    again = await mall.tasks.complete_joined(ALICE, news, at("2026-03-02 09:00"))
    assert first.reward is not None
    assert first.reward.points == 50
    assert again.reward == first.reward
    assert await _task_points(mall, ALICE) == 50
    assert (await mall.statements.balance(ALICE)).balance == 100 + 50


async def test_pressing_done_twice_at_once_pays_once(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall)
    news = await _task_id(mall, "join-news")
    results = await asyncio.gather(
        *(mall.tasks.complete_joined(ALICE, news, at("2026-03-01 09:00")) for _ in range(8)),
        return_exceptions=True,
    )
    assert all(not isinstance(r, BaseException) for r in results), results
    assert await _task_points(mall, ALICE) == 50


async def test_leaving_within_keep_hours_takes_the_reward_back_and_later_does_not(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await _load(mall)
    news = await _task_id(mall, "join-news")
    await mall.tasks.complete_joined(ALICE, news, at("2026-03-01 09:00"))
    await mall.tasks.complete_joined(BOB, news, at("2026-03-01 09:00"))
    watched = await mall.tasks.watches(at("2026-03-02 09:00"))
    assert {w.member_id for w in watched} == {ALICE, BOB}
    alice = next(w for w in watched if w.member_id == ALICE)
    revoked = await mall.tasks.revoke(
        alice.completion_id, at("2026-03-02 09:00"), lambda lang, r: f"{lang}:{r.points_taken}"
    )
    assert revoked is not None
    async with mall.db.read() as conn:
        told = (await conn.execute(select(OutboxMessage.payload, OutboxMessage.chat_id))).all()
    assert told == [("en:50", ALICE)]
    assert (revoked.points_taken, revoked.unrecovered) == (50, 0)
    assert await mall.tasks.revoke(alice.completion_id, at("2026-03-02 10:00")) is None
    assert (await mall.statements.balance(ALICE)).balance == 100
    # Past the 72 hours Bob is free to go: nothing is watched, nothing taken.
    assert await mall.tasks.watches(at("2026-03-04 09:01")) == ()
    bob = next(w for w in watched if w.member_id == BOB)
    assert await mall.tasks.revoke(bob.completion_id, at("2026-03-04 09:01")) is None
    assert (await mall.statements.balance(BOB)).balance == 150
    # Taken back once, the task stays done for Alice: no second reward by joining again.
    with pytest.raises(TaskDone):
        await mall.tasks.complete_joined(ALICE, news, at("2026-03-02 11:00"))
    assert (await mall.check()).ok


async def test_a_reward_already_spent_is_taken_back_as_far_as_the_balance_goes(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall, TASKS + LATTE)
    news = await _task_id(mall, "join-news")
    await mall.tasks.complete_joined(ALICE, news, at("2026-03-01 09:00"))
    latte = await _item_id(mall, "latte")
    for n in range(3):  # 150 points, then 3 lattes for 40: 30 left of the 50
        await _redeem(mall, ALICE, latte, at(f"2026-03-01 1{n}:00"))
    balance = (await mall.statements.balance(ALICE)).balance
    watched = await mall.tasks.watches(at("2026-03-01 13:00"))
    revoked = await mall.tasks.revoke(watched[0].completion_id, at("2026-03-01 13:00"))
    assert revoked is not None
    assert revoked.points_taken == min(50, balance) < 50
    assert revoked.points_taken + revoked.unrecovered == 50
    assert (await mall.statements.balance(ALICE)).balance == balance - revoked.points_taken == 0
    assert (await mall.check()).ok


async def _item_id(mall: Mall, sku: str) -> int:
    async with mall.db.read() as conn:
        found = await conn.execute(select(Item.id).where(Item.sku == sku))
        return int(found.scalar_one())


async def _redeem(mall: Mall, member_id: int, item_id: int, now: datetime) -> None:
    offer = await mall.redemptions.offer(member_id, item_id, now)
    await mall.redemptions.redeem(member_id, offer.token, now)


async def test_a_quiz_pays_the_right_answer_once_and_not_the_wrong_one(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await _load(mall)
    quiz = await _task_id(mall, "coffee-quiz")
    now = at("2026-03-01 09:00")
    standing = await mall.tasks.poll_for(ALICE, quiz, now)
    await mall.tasks.record_poll("poll-a", ALICE, quiz, standing.period, now)
    await mall.tasks.record_poll("poll-b", BOB, quiz, standing.period, now)
    right = await mall.tasks.answer_poll("poll-a", ALICE, (0,), now)
    assert right is not None
    assert right.correct is True
    assert right.reward is not None
    assert right.reward.points == 20
    replay = await mall.tasks.answer_poll("poll-a", ALICE, (0,), now)
    assert replay == right
    wrong = await mall.tasks.answer_poll("poll-b", BOB, (2,), now)
    assert wrong is not None
    assert wrong.correct is False
    assert wrong.reward is None
    assert wrong.correct_option == 0
    # Bob cannot try again: one answer per period, and a new poll is refused.
    with pytest.raises(TaskDone):
        await mall.tasks.poll_for(BOB, quiz, now)
    with pytest.raises(TaskDone):
        await mall.tasks.record_poll("poll-c", BOB, quiz, standing.period, now)
    # Someone else's poll, or a poll that is no task's, is ignored.
    assert await mall.tasks.answer_poll("poll-a", BOB, (0,), now) is None
    assert await mall.tasks.answer_poll("nobody's", BOB, (0,), now) is None
    assert (await _task_points(mall, ALICE), await _task_points(mall, BOB)) == (20, 0)


async def test_a_poll_sent_again_replaces_the_lost_one_and_only_the_latest_counts(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall)
    survey = await _task_id(mall, "taste-survey")
    now = at("2026-03-01 09:00")
    period = (await mall.tasks.poll_for(ALICE, survey, now)).period
    await mall.tasks.record_poll("first", ALICE, survey, period, now)
    await mall.tasks.record_poll("second", ALICE, survey, period, now)
    assert await mall.tasks.answer_poll("first", ALICE, (1,), now) is None
    answered = await mall.tasks.answer_poll("second", ALICE, (1,), now)
    assert answered is not None
    assert answered.correct is None
    assert answered.reward is not None
    assert answered.reward.points == 5
    results = await mall.tasks.results(survey)
    assert [(o.text, o.votes) for o in results.options] == [("Latte", 0), ("Tea", 1), ("Juice", 0)]
    assert results.answers[0][:2] == (ALICE, (1,))


async def test_a_retracted_vote_changes_nothing(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall)
    survey = await _task_id(mall, "taste-survey")
    now = at("2026-03-01 09:00")
    period = (await mall.tasks.poll_for(ALICE, survey, now)).period
    await mall.tasks.record_poll("p", ALICE, survey, period, now)
    assert await mall.tasks.answer_poll("p", ALICE, (), now) is None
    assert await _task_points(mall, ALICE) == 0


async def test_the_third_check_in_of_the_week_completes_the_challenge_exactly_once(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall, now="2026-03-01 08:00")
    # 2 March 2026 is a Monday: the week's first three days.
    first = await mall.checkins.check_in(ALICE, at("2026-03-02 09:00"))
    second = await mall.checkins.check_in(ALICE, at("2026-03-03 09:00"))
    assert first.tasks == ()
    assert second.tasks == ()
    thirds = await asyncio.gather(
        *(mall.checkins.check_in(ALICE, at("2026-03-04 09:00")) for _ in range(5))
    )
    paid = [r.tasks for r in thirds if r.tasks]
    assert all(r.tasks == thirds[0].tasks for r in thirds), "every repeat answers the same"
    assert paid
    assert paid[0][0].points == 30
    assert paid[0][0].code == "three-checkins"
    assert await _task_points(mall, ALICE) == 30
    fourth = await mall.checkins.check_in(ALICE, at("2026-03-05 09:00"))
    assert fourth.tasks == ()
    # A new week, a new period: three more check-ins pay again.
    for day in ("2026-03-09", "2026-03-10", "2026-03-11"):
        last = await mall.checkins.check_in(ALICE, at(f"{day} 09:00"))
    assert last.tasks
    assert await _task_points(mall, ALICE) == 60
    standing = await mall.tasks.one_for_member(
        ALICE, await _task_id(mall, "three-checkins"), at("2026-03-11 10:00")
    )
    assert standing.done
    assert standing.progress == 3
    assert (await mall.check()).ok


async def test_check_ins_from_before_the_challenge_existed_do_not_count(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.checkins.check_in(ALICE, at("2026-03-02 09:00"))
    await mall.checkins.check_in(ALICE, at("2026-03-03 09:00"))
    await _load(mall, now="2026-03-03 10:00")
    third = await mall.checkins.check_in(ALICE, at("2026-03-04 09:00"))
    assert third.tasks == ()


async def test_a_paused_task_is_gone_for_members_and_audited(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall)
    news = await _task_id(mall, "join-news")
    await mall.tasks.set_active(7, news, False, at("2026-03-01 09:00"))
    codes = {t.task.code for t in await mall.tasks.for_member(ALICE, at("2026-03-01 09:00"))}
    assert "join-news" not in codes
    assert "coffee-quiz" in codes
    with pytest.raises(UnknownTask):
        await mall.tasks.complete_joined(ALICE, news, at("2026-03-01 09:00"))
    entries = await mall.audit.latest(5)
    assert any(e.action == "task.pause" and e.target == "task:join-news" for e in entries)


async def test_a_quiz_cannot_be_completed_as_a_channel(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall)
    quiz = await _task_id(mall, "coffee-quiz")
    with pytest.raises(TaskNotReady):
        await mall.tasks.complete_joined(ALICE, quiz, at("2026-03-01 09:00"))


async def test_spending_and_redeeming_challenges_pay_in_the_redemption_that_reaches_them(
    mall: Mall,
):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall, SPEND_AND_REDEEM)
    latte = await _item_id(mall, "latte")
    await _redeem(mall, ALICE, latte, at("2026-03-01 10:00"))
    async with mall.db.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(TaskCompletion))).scalar() == 0
    await _redeem(mall, ALICE, latte, at("2026-03-01 11:00"))
    async with mall.db.read() as conn:
        done = (
            await conn.execute(
                select(TaskCompletion.period, TaskCompletion.points, TaskCompletion.redemption_id)
            )
        ).all()
    assert sorted((p, pts) for p, pts, _ in done) == [("2026-03", 25), ("ever", 15)]
    prize = next(r for _, pts, r in done if pts == 15)
    assert prize is not None
    told = await mall.tasks.tell_completed(at("2026-03-01 13:00"), lambda lang, r: r.code)
    assert told == 2
    assert await mall.tasks.tell_completed(at("2026-03-01 13:01"), lambda lang, r: r.code) == 0
    async with mall.db.read() as conn:
        payloads = (await conn.execute(select(OutboxMessage.payload, OutboxMessage.chat_id))).all()
    assert sorted(payloads) == [("redeem-2", ALICE), ("spend-100", ALICE)]
    assert (await mall.check()).ok


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(days=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=12))
async def test_a_weekly_check_in_challenge_pays_once_per_week_reached_whatever_the_order(
    mall: Mall, days: list[int]
):
    member = 5000 + next(_members)  # a fresh member per example, on the same mall
    await mall.members.join(member, "M", "en", at("2026-03-01 08:00"))
    await _load(mall)
    base = at("2026-03-02 09:00")
    for offset in days:  # repeated days are repeated check-ins of the same day
        await mall.checkins.check_in(member, base + timedelta(days=offset))
    checked = sorted(set(days))
    weeks: dict[int, int] = {}
    for offset in checked:
        weeks[offset // 7] = weeks.get(offset // 7, 0) + 1
    # Check-ins are made in the order given, so only days up to "today" can count; a week
    # is paid when its third distinct day has been checked in, in whatever order.
    expected = 30 * sum(1 for count in weeks.values() if count >= 3)
    assert await _task_points(mall, member) == expected
    assert (await mall.check()).ok


SHOP_AND_INVITES = """
[[tasks]]
code = "spend-50"
kind = "challenge"
title = "Spend 50.00 in the shop this month"
points = 40
repeat = "month"
metric = "shop"
target = "50.00"

[[tasks]]
code = "invite-2"
kind = "challenge"
title = "Invite 2 friends"
points = 60
metric = "invites"
target = 2
"""


async def test_shop_orders_and_qualified_invites_complete_their_challenges(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config("[referrals]\nqualify_on = 'join'"))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await _load(mall, SHOP_AND_INVITES, now="2026-03-01 08:00")
    await mall.purchases.record_purchase(ALICE, "o-1", 3000, "coffee", at("2026-03-02 09:00"))
    await mall.purchases.record_purchase(ALICE, "o-1", 3000, "coffee", at("2026-03-02 09:01"))
    assert await _task_points(mall, ALICE) == 0  # 30.00 of 50.00: the repeat counted once
    await mall.purchases.record_purchase(ALICE, "o-2", 2000, "coffee", at("2026-03-03 09:00"))
    assert await _task_points(mall, ALICE) == 40
    await mall.members.join(BOB, "Bob", "en", at("2026-03-04 08:00"), invited_by=ALICE)
    assert await _task_points(mall, ALICE) == 40
    await mall.members.join(BOB + 1, "Cat", "en", at("2026-03-05 08:00"), invited_by=ALICE)
    assert await _task_points(mall, ALICE) == 100
    assert (await mall.check()).ok


async def test_the_job_looks_at_watched_members_in_batches_oldest_look_first(mall: Mall):
    await _load(mall)
    news = await _task_id(mall, "join-news")
    for n in range(5):
        await mall.members.join(7000 + n, "M", "en", at("2026-03-01 08:00"))
        await mall.tasks.complete_joined(7000 + n, news, at("2026-03-01 09:00"))
    first = await mall.tasks.watches(at("2026-03-01 10:00"), limit=3)
    second = await mall.tasks.watches(at("2026-03-01 10:01"), limit=3)
    third = await mall.tasks.watches(at("2026-03-01 10:02"), limit=3)
    assert [w.member_id for w in first] == [7000, 7001, 7002]
    assert [w.member_id for w in second] == [7003, 7004, 7000]
    assert [w.member_id for w in third] == [7001, 7002, 7000]  # then by id among equals
