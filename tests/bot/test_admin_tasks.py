"""Admins run tasks from the chat: a new task sent as a [[tasks]] table (problems named, nothing
half saved), the card saying whether the bot can check the channel, pause and resume, and a
survey's answers as a chart and a CSV."""

from __future__ import annotations

import csv
import io

from core.rewards.catalog_file import load_catalog_text
from tests.bot.test_tasks import TASKS
from tests.support.admin import open_admin
from tests.support.chat import Chat

NOT_ADMIN = "That is for the mall's admins only."

NEW_TASK = """[[tasks]]
code = "join-lounge"
kind = "channel"
title = "Join the lounge"
titles = { zh_Hans = "加入会员群" }
points = 15
chat = "@pointsmall_lounge"
keep_hours = 24

[[tasks]]
code = "join-deals"
kind = "channel"
title = "Join the deals"
points = 5
chat = "@pointsmall_deals"
"""


async def test_an_admin_adds_a_task_in_the_chat_and_members_see_it(chat: Chat) -> None:
    admin = await open_admin(chat)
    await admin.send("/admin")
    await admin.press("🎯 Tasks")
    asked = await admin.press("➕ New or changed task")
    assert "[[tasks]]" in asked.text

    refused = await admin.send('[[tasks]]\ncode = "Bad Code"\nkind = "raffle"\ntitle = "x"')
    assert "Nothing was saved: 3 problems." in refused.text
    assert "line 2, tasks[0] (sku 'Bad Code').code" in refused.text
    assert "kind: must be one of channel, quiz, survey, challenge" in refused.text
    assert await chat.mall.tasks.all() == ()

    saved = await admin.send(NEW_TASK)
    assert "🎯 Tasks: 2 new, 0 changed, 0 unchanged." in saved.text
    # The deals channel does not have the bot as an admin: said at once.
    assert "The bot cannot see @pointsmall_deals" in saved.text
    assert "Join the lounge" in saved.text
    [loaded] = await chat.mall.audit.latest(1)
    assert (loaded.action, loaded.target, loaded.after["tasks_created"]) == (
        "catalog.load",
        "file:tasks message",
        2,
    )

    card = await admin.press("▶️ Join the lounge")
    assert "The bot is an admin of @pointsmall_lounge" in card.text
    assert "leaving within 24 hours takes the reward back" in card.text

    ann = chat.member("Ann")
    await ann.start()
    tasks = await ann.send("/tasks")
    assert "Join the lounge" in tasks.text

    await admin.press("⏸ Pause", card)
    assert "Join the lounge" not in (await ann.send("/tasks")).text
    entries = await chat.mall.audit.latest(3)
    assert entries[0].action == "task.pause"
    assert entries[0].target == "task:join-lounge"


async def test_a_survey_s_answers_come_as_a_chart_and_a_csv(chat: Chat) -> None:
    await load_catalog_text(chat.mall.db, chat.mall.config, TASKS, chat.now)
    ann, bob = chat.member("Ann"), chat.member("Bob")
    for member, choice in ((ann, 0), (bob, 2)):
        await member.start()
        await member.send("/tasks")
        await member.press("📝 Tell us your taste")
        await member.press("📝 Answer the survey")
        await member.vote([choice])
    admin = await open_admin(chat)
    await admin.send("/tasks_admin")
    card = await admin.press("▶️ Tell us your taste")
    assert "Last 30 days: 2 done, 10 points paid, 0 taken back." in card.text
    await admin.press("📊 Answers")
    chart, table = admin.messages[-2], admin.messages[-1]
    assert chart.photo is not None
    assert "2 answers of 2 polls sent" in chart.text
    assert table.document is not None
    name, content, _ = table.document
    assert name == "taste-survey-answers.csv"
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0] == ["member_id", "options", "answers", "answered_at"]
    assert sorted((r[1], r[2]) for r in rows[1:]) == [("1", "Latte"), ("3", "Juice")]

    await admin.send("/stats")
    assert "Tell us your taste: 2 done, 10 points kept, 0 taken back" in admin.last.text
    assert "Join our news channel: 0 done, 0 points kept" in admin.last.text


async def test_members_cannot_reach_the_admin_tasks(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await load_catalog_text(chat.mall.db, chat.mall.config, TASKS, chat.now)
    refused = await ann.send("/tasks_admin")
    assert NOT_ADMIN in refused.text
    await ann.press_data("atp:1")
    assert ann.notices[-1][0].startswith(NOT_ADMIN)
    assert all(task.active for task in await chat.mall.tasks.all())
