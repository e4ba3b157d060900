"""What the scheduled jobs say, as members read it in their chat (through the real sender)."""

from __future__ import annotations

from datetime import date, timedelta

from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import ChatFactory
from tests.conftest import at
from tests.support.background import running_background
from tests.support.chat import Chat

CATALOG = """
[[items]]
sku = "latte"
title = "A latte on us"
category = "Drinks"
kind = "virtual"
price = 30
stock = 50
"""


def day_of(day: date) -> str:
    return f"{day:%b} {day.day}"


async def test_a_reminder_lists_each_lot_and_offers_buttons_that_open_the_items(
    chat: Chat,
) -> None:
    await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
    ann = chat.member("Ann")
    await ann.start()
    for day in range(1, 8):  # a lot a day after the sign-up bonus's: 8 in all
        await chat.mall.checkins.check_in(ann.id, chat.now + timedelta(days=day))
    lots = await chat.mall.statements.expiring(ann.id, chat.now, days=400)
    chat.now = at(f"{lots[0].last_day - timedelta(days=7)} 10:00")

    async with running_background(chat) as background:
        await background.jobs.remind(chat.now)
        await background.sender.wait_idle()
        reminder = ann.last
        await background.jobs.remind(chat.now + timedelta(hours=2))
        await background.sender.wait_idle()

    assert ann.last is reminder, "the same reminder must not come twice"
    assert len(lots) == 8
    shown = [f"• {lot.amount} points after {day_of(lot.last_day)}" for lot in lots[:4]]
    rest = sum(lot.amount for lot in lots[4:])
    assert reminder.text.splitlines() == [
        "⏳ Some of your points expire soon. Use them before then:",
        *shown,
        f"… and {rest} points more on 4 later days",
        "In all: 210 points.",
        "",
        "🎯 With your 210 points you can get now:",
    ]
    assert ann.buttons(reminder) == ["🎁 A latte on us · 30 points", "🛍 Mall", "⬅️ Menu"]
    card = await ann.press("🎁 A latte on us · 30 points")
    assert "A latte on us" in card.text
    assert "🎁 Redeem for 30 points" in ann.buttons(card)


async def test_a_member_who_can_afford_nothing_is_shown_the_mall_in_their_language(
    chat: Chat,
) -> None:
    li = chat.member("Li", language="zh-hans")
    await li.start()
    (soonest,) = await chat.mall.statements.expiring(li.id, chat.now, days=400)
    chat.now = at(f"{soonest.last_day - timedelta(days=1)} 10:00")

    async with running_background(chat) as background:
        await background.jobs.remind(chat.now)
        await background.sender.wait_idle()

    assert "你有 100 积分将在" in li.last.text
    assert "你的余额：100 积分。去商城逛逛吧！" in li.last.text
    assert li.buttons() == ["🛍 商城", "⬅️ 菜单"]
    shelves = await li.press("🛍 商城")
    assert "货架暂时是空的" in shelves.text


async def test_a_sale_is_announced_to_members_who_did_not_turn_announcements_off(
    chat: Chat,
) -> None:
    await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
    ann, bo = chat.member("Ann"), chat.member("Bo")
    await ann.start()
    await bo.start()
    await bo.send("/notifications")
    await bo.press("🔕 Turn announcements off")
    bo_messages = len(bo.messages)
    latte = await chat.mall.catalog.get_item_by_sku("latte")
    opens = chat.now + timedelta(hours=1)
    await chat.mall.flash_sales.create_sale(
        latte.item_id, 10, 5, opens, opens + timedelta(hours=2), "first_come", now=chat.now
    )

    async with running_background(chat) as background:
        await background.jobs.sales(opens - timedelta(minutes=1))
        await background.sender.wait_idle()
        ann_before = len(ann.messages)
        await background.jobs.sales(opens)
        await background.jobs.sales(opens + timedelta(minutes=1))
        await background.sender.wait_idle()

    assert len(ann.messages) == ann_before + 1
    assert "⚡ Flash sale now on: A latte on us" in ann.last.text
    assert "10 points instead of 30 points, 5 available" in ann.last.text
    assert len(bo.messages) == bo_messages
    chat.now = opens + timedelta(minutes=2)
    sale = await ann.press("⚡ See the sale")
    assert "A latte on us" in sale.text


async def test_the_scheduler_catches_up_at_start_and_reminds(make_chat: ChatFactory) -> None:
    async with make_chat("[jobs]\nreminder_days = [400]") as chat:
        ann = chat.member("Ann")
        await ann.start()
        async with running_background(chat, schedule=True) as background:
            await background.scheduler.started.wait()
            await background.sender.wait_idle()
            assert background.leader.held

        assert "expire after" in ann.last.text
        last = await chat.mall.job_runs.last("reminders")
        assert last is not None
        assert last.finished


async def test_a_member_who_moved_up_reads_the_tier_in_their_language(chat: Chat) -> None:
    li, ann = chat.member("李雷", language="zh-hans"), chat.member("Ann")
    await li.start()
    await ann.start()
    for n, member in enumerate((li, ann)):
        await chat.mall.purchases.record_purchase(
            member.id, f"order-{n}", 150_000, "Goods", chat.now
        )

    async with running_background(chat) as background:
        await background.jobs.tiers(chat.now)
        await background.sender.wait_idle()

    assert "🏅 恭喜！你已升级为 白银 会员。" in li.last.text
    assert "Silver" not in li.last.text
    assert "🏅 Congratulations! You are now a Silver member." in ann.last.text


async def test_a_referrer_reads_in_their_language_that_an_invite_paid(
    make_chat: ChatFactory,
) -> None:
    async with make_chat('[referrals]\nqualify_on = "checkins"\nqualify_checkins = 1\n') as chat:
        li = chat.member("李雷", language="zh-hans")
        await li.start()
        bob = chat.member("Bob")
        await bob.start("i-" + await chat.mall.referrals.invite_code(li.id))
        await bob.send("/checkin")

        async with running_background(chat) as background:
            await background.jobs.referrals(chat.now)
            await background.jobs.referrals(chat.now + timedelta(minutes=5))
            await background.sender.wait_idle()

        told = [m for m in li.messages if "你邀请的好友" in m.text]
        assert len(told) == 1
        assert "🎉 你邀请的好友 Bob 已达成条件，你获得了 100 积分！" in told[0].text
        assert "👥 邀请好友" in li.buttons(told[0])
