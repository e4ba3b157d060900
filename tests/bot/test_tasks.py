"""Members do tasks in the chat, on both frameworks: join a channel and are paid once (and lose
it by leaving too soon), answer a quiz right and wrong, answer a survey, and complete a
3-check-in challenge on the third check-in exactly once, in English and in Chinese."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.rewards.catalog_file import load_catalog_text
from tests.bot.conftest import ChatFactory
from tests.support.background import drained, running_background
from tests.support.chat import Chat

TASKS = """
[[tasks]]
code = "join-news"
kind = "channel"
title = "Join our news channel"
titles = { zh_Hans = "关注新闻频道" }
description = "Mall news and flash sales first."
points = 50
chat = "@pointsmall_news"
keep_hours = 72

[[tasks]]
code = "secret-deals"
kind = "channel"
title = "Join the deals channel"
points = 10
chat = "@pointsmall_deals"

[[tasks]]
code = "coffee-quiz"
kind = "quiz"
title = "Coffee quiz"
titles = { zh_Hans = "咖啡知识问答" }
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


async def _tasks(chat: Chat) -> None:
    await load_catalog_text(chat.mall.db, chat.mall.config, TASKS, chat.now)


async def _balance(chat: Chat, member_id: int) -> int:
    return (await chat.mall.statements.balance(member_id)).balance


async def test_a_member_joins_the_channel_is_paid_once_and_loses_it_by_leaving(chat: Chat):
    await _tasks(chat)
    ann = chat.member("Ann")
    await ann.start()
    tasks = await ann.press("🎯 Tasks")
    assert "Join our news channel" in tasks.text
    assert "Check in 3 times this week" in tasks.text
    assert "0/3 check-ins" in tasks.text
    page = await ann.press("📢 Join our news channel")
    assert "Mall news and flash sales first." in page.text
    assert "Stay at least 72 hours" in page.text
    assert "📢 Open the chat" in ann.buttons(page)

    await ann.press("✅ I've joined")
    assert ann.notices[-1][0].startswith("You're not in the chat yet")
    assert await _balance(chat, ann.id) == 100

    ann.join("@pointsmall_news")
    paid = await ann.press("✅ I've joined")
    assert "“Join our news channel”: +50 points" in paid.text
    assert "Your balance: 150 points" in paid.text
    again = await ann.press_data("tkj:1")
    assert "+50 points" in again.text
    assert await _balance(chat, ann.id) == 150

    history = await ann.send("/history")
    assert "Task reward: Join our news channel" in history.text

    ann.leave("@pointsmall_news")
    chat.now += timedelta(hours=1)
    async with running_background(chat) as background:
        assert await background.scheduler.run("tasks", chat.now)
        await drained(chat.mall, background.sender)
    assert "took back" not in ann.last.text
    assert "reward was taken back: −50 points" in ann.last.text
    assert await _balance(chat, ann.id) == 100
    history = await ann.send("/history")
    assert "Task reward taken back (left the chat): Join our news channel" in history.text
    # The task's page says why it is not offered again, and offers no "I've joined".
    ann.join("@pointsmall_news")
    await ann.send("/tasks")
    page = await ann.press("📢 Join our news channel")
    assert "within 72 hours of joining, so this task's reward was taken back" in page.text
    assert "✅ I've joined" not in ann.buttons(page)
    assert (await chat.mall.check()).ok


async def test_a_channel_the_bot_cannot_see_is_said_plainly(chat: Chat):
    await _tasks(chat)
    ann = chat.member("Ann")
    await ann.start()
    await ann.press("🎯 Tasks")
    await ann.press("📢 Join the deals channel")
    ann.join("@pointsmall_deals")
    await ann.press("✅ I've joined")
    assert ann.notices[-1][0].startswith("We can't check that chat right now")
    assert await _balance(chat, ann.id) == 100


async def test_a_quiz_pays_the_right_answer_and_not_the_wrong_one(chat: Chat):
    await _tasks(chat)
    ann, bob = chat.member("Ann"), chat.member("Bob")
    for member in (ann, bob):
        await member.start()
        await member.press("🎯 Tasks")
        page = await member.press("🧠 Coffee quiz")
        assert "Only the right answer earns the reward" in page.text
        await member.press("🧠 Start the quiz")
        poll = member.poll()
        assert member.last_poll.text == "Where does the latte come from?"
        assert list(poll.options) == ["Italy", "France", "Japan"]
    right = await ann.vote([0])
    assert right is not None
    assert "✅ Right answer in “Coffee quiz”!" in right.text
    assert "+20 points" in right.text
    wrong = await bob.vote([2])
    assert wrong is not None
    assert "❌ Not quite" in wrong.text
    assert "+20" not in wrong.text
    assert (await _balance(chat, ann.id), await _balance(chat, bob.id)) == (120, 100)
    # One try: Bob's page now says it is done for him, and there is no button to try again.
    await bob.press("🎯 More tasks")
    page = await bob.press("🧠 Coffee quiz")
    assert "🧠 Start the quiz" not in bob.buttons(page)
    refused = await bob.press_data("tkp:3")
    assert "You have already done this task" in refused.text


async def test_a_survey_answer_earns_and_a_taken_back_vote_changes_nothing(chat: Chat):
    await _tasks(chat)
    ann = chat.member("Ann")
    await ann.start()
    await ann.press("🎯 Tasks")
    await ann.press("📝 Tell us your taste")
    await ann.press("📝 Answer the survey")
    answered = await ann.vote([1])
    assert answered is not None
    assert "🙏 Thank you for answering “Tell us your taste”!" in answered.text
    assert "+5 points" in answered.text
    count = len(ann.messages)
    await ann.vote([])
    assert len(ann.messages) == count
    assert await _balance(chat, ann.id) == 105
    results = await chat.mall.tasks.results(4)
    assert [o.votes for o in results.options] == [0, 1, 0]


async def test_the_third_check_in_completes_the_challenge_once_under_double_taps(chat: Chat):
    await _tasks(chat)
    ann = chat.member("Ann")
    await ann.start()
    chat.now = chat.now + timedelta(days=(7 - chat.now.weekday()) % 7 or 7)  # a Monday
    for _ in range(2):
        answer = await ann.send("/checkin")
        assert "Challenge" not in answer.text
        chat.now += timedelta(days=1)
    taps = await asyncio.gather(*(ann.send("/checkin") for _ in range(3)))
    completed = [m for m in ann.messages if "Challenge “Check in 3 times this week”" in m.text]
    assert len(completed) == 1, [m.text for m in taps]
    assert "+30 points" in completed[0].text
    paid = await chat.mall.tasks.for_member(ann.id, chat.now)
    challenge = next(t for t in paid if t.task.code == "three-checkins")
    assert challenge.done
    assert challenge.progress == 3
    tasks = await ann.send("/tasks")
    assert "✅ done this week" in tasks.text


async def test_tasks_read_in_chinese(chat: Chat):
    await _tasks(chat)
    li = chat.member("Li", language="zh-hans")
    await li.start()
    tasks = await li.send("/tasks")
    assert "🎯 <b>任务</b>" in tasks.html or "任务" in tasks.text
    assert "关注新闻频道" in tasks.text
    assert "本周签到3次" in tasks.text
    await li.press("🧠 咖啡知识问答")
    await li.press("🧠 开始答题")
    assert li.last_poll.text == "拿铁来自哪里？"
    assert list(li.poll().options) == ["意大利", "法国", "日本"]
    right = await li.vote([0])
    assert right is not None
    assert "回答正确" in right.text


async def test_the_birthday_gift_is_on_the_tasks_screen_when_the_mall_gives_one(
    make_chat: ChatFactory,
) -> None:
    async with make_chat("[birthday]\npoints = 88") as chat:
        ann = chat.member("Ann")
        await ann.start()
        tasks = await ann.press("🎯 Tasks")
        assert "Your birthday: +88 points on the day, every year" in tasks.text
        asked = await ann.press("🎂 My birthday")
        assert "month" in asked.text.lower()
