"""Checking in from the chat: points, streak, milestone, calendar, repeats and make-ups."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import at
from tests.support.chat import Chat


async def test_check_in_pays_and_shows_streak_milestone_and_calendar(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.press("✅ Check in")

    assert "Checked in! You earned 10 points." in reply.text
    assert "Streak: 1 day" in reply.text
    assert "Next milestone: day 7 pays 50 points." in reply.text
    assert "Balance: 110 points" in reply.text
    assert "March 2026" in reply.text
    assert " 2✓" in reply.text
    assert ann.notices[-1] == ("Checked in: +10 points", False)
    assert (await chat.mall.statements.balance(ann.id)).balance == 110


async def test_a_second_check_in_the_same_day_says_when_the_next_opens(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/checkin")

    reply = await ann.send("/checkin")

    assert "You've already checked in today. The next check-in opens Mar 3 00:00." in reply.text
    assert (await chat.mall.statements.balance(ann.id)).balance == 110


async def test_a_double_tap_pays_once(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    menu = ann.last
    taps = [ann.user.press("✅ Check in", menu), ann.user.press("✅ Check in", menu)]

    for tap in taps:
        await chat.bot.handled.wait(tap)

    assert (await chat.mall.statements.balance(ann.id)).balance == 110


async def test_streak_grows_day_by_day(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    for day in range(3):
        chat.now = at("2026-03-02 09:00") + timedelta(days=day)
        reply = await ann.send("/checkin")

    assert "Streak: 3 days" in reply.text
    assert " 2✓  3✓  4✓" in reply.text


async def test_a_missed_day_can_be_made_up_from_the_calendar(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/checkin")
    chat.now = at("2026-03-04 09:00")
    reply = await ann.send("/checkin")
    assert "Make up Mar 3 (20 points)" in ann.buttons(reply)
    assert " 3✗" in reply.text  # the missed day, marked apart from the legend's separators
    assert "✓ checked in, + made up, ✗ missed" in reply.text

    reply = await ann.press("Make up Mar 3 (20 points)")

    assert "Mar 3 made up for 20 points." in reply.text
    assert "Streak: 3 days" in reply.text
    # 100 bonus + 10 + 10 - 20 for the make-up
    assert (await chat.mall.statements.balance(ann.id)).balance == 100


async def test_check_in_in_chinese(chat: Chat) -> None:
    li = chat.member("李雷", language="zh-hans")
    await li.start()

    reply = await li.press("✅ 签到")

    assert "签到成功！获得 10 积分。" in reply.text
    assert "连续签到 1 天" in reply.text
    assert "2026年3月" in reply.text


async def test_a_frozen_member_is_told_why_they_cannot_check_in(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await chat.mall.members.freeze(ann.id, "under review")

    await ann.press("✅ Check in")

    assert "Your account is frozen" in ann.notices[-1][0]
    assert ann.notices[-1][1] is True
    assert "⬅️ Menu" in ann.buttons()
    assert (await chat.mall.statements.balance(ann.id)).balance == 100
