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


async def test_a_day_missed_on_the_31st_is_made_up_on_the_1st(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    chat.now = at("2026-03-30 09:00")
    await ann.send("/checkin")
    chat.now = at("2026-04-01 09:00")  # 31 March missed

    reply = await ann.send("/checkin")

    assert "Streak: 1 day" in reply.text
    assert "April 2026" in reply.text
    assert "Make up Mar 31 (20 points)" in ann.buttons(reply)
    assert "◀️ March 2026" in ann.buttons(reply)
    assert all(len((b.callback_data or "").encode()) <= 64 for row in reply.buttons for b in row)

    reply = await ann.press("Make up Mar 31 (20 points)")

    assert "Mar 31 made up for 20 points." in reply.text
    assert "Streak: 3 days" in reply.text  # 30 March, 31 March (made up), 1 April
    assert "April 2026" in reply.text  # back on the page the offer was on
    assert "Make up Mar 31 (20 points)" not in ann.buttons(reply)
    # 100 bonus + 10 + 10 - 20 for the make-up
    assert (await chat.mall.statements.balance(ann.id)).balance == 100


async def test_the_calendar_pages_back_to_march_and_makes_up_a_day_there(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()  # 2 March
    chat.now = at("2026-03-30 09:00")
    await ann.send("/checkin")
    chat.now = at("2026-04-01 09:00")
    await ann.send("/checkin")

    march = await ann.press("◀️ March 2026")

    assert "March 2026" in march.text
    assert "\n30✓ 31✗" in march.text
    assert "Tap a missed day to make it up for 20 points: 2 make-ups left this month." in (
        march.text
    )
    buttons = ann.buttons(march)
    assert "◀️ February 2026" not in " ".join(buttons)  # Ann joined in March
    assert "April 2026 ▶️" in buttons
    # Every missed day of March is in the window (30 days back from 1 April is 2 March, the
    # day Ann joined), four a row.
    assert buttons[:4] == ["🔁 Mar 2", "🔁 Mar 3", "🔁 Mar 4", "🔁 Mar 5"]
    assert len(march.buttons[0]) == 4
    assert {"🔁 Mar 29", "🔁 Mar 31"} <= set(buttons)
    assert "🔁 Mar 30" not in buttons

    made_up = await ann.press("🔁 Mar 29", march)

    assert "Mar 29 made up for 20 points." in made_up.text
    assert "Streak: 1 day" in made_up.text  # 31 March is still missed
    assert " 29+" in made_up.text
    assert "1 make-up left" not in made_up.text
    assert "🔁 Mar 29" not in ann.buttons(made_up)
    assert "🔁 Mar 31" in ann.buttons(made_up)

    april = await ann.press("April 2026 ▶️", made_up)

    assert "April 2026" in april.text
    assert "Make up Mar 31 (20 points)" in ann.buttons(april)
    assert "1 make-up left this month." in april.text


async def test_a_month_outside_the_window_or_a_forged_day_is_refused(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()  # 2 March
    chat.now = at("2026-04-01 09:00")
    await ann.send("/checkin")

    await ann.press_data("cm:202602")  # before Ann joined
    assert "out of date" in ann.notices[-1][0]
    await ann.press_data("cm:202605")  # the future
    assert "out of date" in ann.notices[-1][0]
    await ann.press_data("cm:2026x3")
    assert "out of date" in ann.notices[-1][0]
    await ann.press_data("mk:20260301:202603")  # before Ann joined
    assert "can't be made up" in ann.notices[-1][0]
    await ann.press_data("mk:20260331:202602")  # a page before the day's own
    assert "out of date" in ann.notices[-1][0]
    assert (await chat.mall.statements.balance(ann.id)).balance == 110


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
