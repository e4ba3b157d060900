"""Birthdays and member days from the chat, on both frameworks: a birthday told by buttons,
its points on the day once, and a member day's bonus in the check-in answer and the history."""

from __future__ import annotations

from decimal import Decimal

from core.growth.member_days import MemberDaySpec
from tests.bot.conftest import ChatFactory
from tests.bot.test_shop_api import open_mall, order, told
from tests.conftest import at
from tests.support.background import running_background

GIFT = """
[birthday]
points = 88
change_after_days = 365
"""
EIGHTH = MemberDaySpec(
    name="Member day",
    names={"zh_Hans": "会员日"},
    applies_to="checkin",
    multiplier=Decimal(2),
    day_of_month=8,
)


async def test_ann_tells_her_birthday_by_buttons_and_gets_her_points_on_the_day_once(
    make_chat: ChatFactory,
) -> None:
    async with make_chat(GIFT) as chat:
        ann = chat.member("Ann")
        await ann.start()
        screen = await ann.send("/birthday")
        assert "Tell us your birthday" in screen.text
        assert "On your birthday you get 88 points." in screen.text
        months = await ann.press("Set my birthday")
        assert "January" in ann.buttons(months)
        assert "December" in ann.buttons(months)
        days = await ann.press("March")
        assert "Which day of March?" in days.text
        assert "31" in ann.buttons(days)
        confirm = await ann.press("8")
        assert "Your birthday is Mar 8?" in confirm.text
        assert "can't be changed for 365 days" in confirm.text
        saved = await ann.press("Yes, that's it")
        assert "Saved: your birthday is Mar 8." in saved.text

        again = await ann.send("/birthday")
        assert "Your birthday: Mar 8." in again.text
        assert "You can change it from Mar 2, 2027." in again.text
        assert "Change my birthday" not in ann.buttons(again)

        chat.now = at("2026-03-08 00:01")
        async with running_background(chat) as background:
            await background.jobs.birthdays(chat.now)
            await background.sender.wait_idle()
            gift = ann.last
            await background.jobs.birthdays(at("2026-03-08 10:00"))
            await background.sender.wait_idle()

        assert "Happy birthday! Here is a gift of 88 points." in gift.text
        assert ann.last is gift, "the birthday gift must not come twice"
        assert (await chat.mall.statements.balance(ann.id)).balance == 100 + 88
        history = await ann.send("/history")
        assert "Birthday gift" in history.text


async def test_li_tells_her_birthday_in_chinese_and_29_february_is_explained(
    make_chat: ChatFactory,
) -> None:
    async with make_chat(GIFT) as chat:
        li = chat.member("Li", language="zh-hans")
        await li.start()
        await li.send("/birthday")
        months = await li.press("填写生日")
        assert "你的生日在几月？" in months.text
        await li.press("二月")
        confirm = await li.press("29")
        assert "没有2月29日的年份，生日礼物在2月28日发放。" in confirm.text
        saved = await li.press("是的，没错")
        assert "已保存：你的生日是" in saved.text

        chat.now = at("2027-02-28 09:00")
        async with running_background(chat) as background:
            await background.jobs.birthdays(chat.now)
            await background.sender.wait_idle()
        assert "生日快乐！送你生日礼物 88 积分。" in li.last.text


async def test_checking_in_on_a_member_day_shows_the_bonus_and_the_history_names_it(
    make_chat: ChatFactory,
) -> None:
    async with make_chat() as chat:
        await chat.mall.member_days.add(1000, EIGHTH, chat.now)
        ann = chat.member("Ann")
        li = chat.member("Li", language="zh-hans")
        await ann.start()
        await li.start()
        ordinary = await ann.send("/checkin")
        assert "Member day" not in ordinary.text

        chat.now = at("2026-03-08 09:00")
        reply = await ann.send("/checkin")
        assert "Checked in! You earned 10 points." in reply.text
        assert "🎁 Member day ×2: +10 points" in reply.text
        history = await ann.send("/history")
        assert "Member day ×2" in history.text

        zh = await li.send("/checkin")
        assert "🎁 会员日 ×2：+10 积分" in zh.text
        zh_history = await li.send("/history")
        assert "会员日 ×2" in zh_history.text
        assert (await chat.mall.statements.balance(ann.id)).balance == 100 + 10 + 20


async def test_the_morning_announcement_reaches_members_in_their_language(
    make_chat: ChatFactory,
) -> None:
    async with make_chat() as chat:
        await chat.mall.member_days.add(1000, EIGHTH, chat.now)
        ann = chat.member("Ann")
        li = chat.member("Li", language="zh-hans")
        await ann.start()
        await li.start()
        chat.now = at("2026-03-08 09:00")
        async with running_background(chat) as background:
            await background.jobs.member_days(chat.now)
            await background.sender.wait_idle()
        assert "Member day: check-in points ×2 today" in ann.last.text
        assert "会员日：今天签到积分 ×2" in li.last.text


async def test_a_shop_order_on_a_shop_member_day_says_the_extra_in_the_thank_you(
    make_chat: ChatFactory, database_url: str
) -> None:
    monday = MemberDaySpec(
        "Shop Monday", "shop", Decimal("1.5"), weekday=0, names={"zh_Hans": "周一购物日"}
    )
    async with open_mall(make_chat, database_url) as mall:
        await mall.chat.mall.member_days.add(1000, monday, mall.chat.now)
        li = mall.chat.member("Li", language="zh-hans")
        await li.start()
        answer = await mall.shop.call("POST", "/api/v1/orders", order("A-7", li))
        assert answer.status_code == 200, answer.text
        await told(mall)
        said = li.messages[-1].text
        assert "周一购物日 ×1.5：+64 积分" in said
        assert (await mall.chat.mall.statements.balance(li.id)).balance == 128 + 64
