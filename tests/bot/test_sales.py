"""Flash sales from the chat: what is on and coming up, entering a draw, buying at the sale
price, and buttons of sales that ended while their screen was open."""

from __future__ import annotations

import random
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from core.rewards.catalog_file import load_catalog
from core.rewards.flash_sales import SaleView
from tests.bot.conftest import ChatFactory
from tests.conftest import at
from tests.support.chat import Chat, Member

RICH = "[members]\nsignup_bonus = 1000"

ITEMS = """
[[items]]
sku = "mug"
title = "Mug"
titles = { zh_Hans = "马克杯" }
category = "Goods"
kind = "virtual"
price = 80

[[items]]
sku = "tote"
title = "Canvas tote"
category = "Goods"
kind = "virtual"
price = 1200

[[items]]
sku = "latte"
title = "Latte <large>"
category = "Drinks"
kind = "virtual"
price = 300
"""


@dataclass
class Sales:
    mug: SaleView  # first come, on now (the chat's clock starts at 2026-03-02 09:00)
    tote: SaleView  # a draw taking entries now
    latte: SaleView  # first come, later in the week


@pytest.fixture
async def chat(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    async with make_chat(RICH) as opened:
        await load_catalog(opened.mall.db, opened.mall.config, ITEMS, opened.now)
        yield opened


@pytest.fixture
async def sales(chat: Chat) -> Sales:
    catalog, flash = chat.mall.catalog, chat.mall.flash_sales

    async def item(sku: str) -> int:
        return (await catalog.get_item_by_sku(sku)).item_id

    now = chat.now
    mug = await flash.create_sale(
        await item("mug"), 30, 5, now, at("2026-03-02 11:15"), "first_come", now=now
    )
    tote = await flash.create_sale(
        await item("tote"),
        600,
        2,
        at("2026-03-02 08:00"),
        at("2026-03-02 12:00"),
        "draw",
        entry_ends_at=at("2026-03-02 10:30"),
        now=now,
    )
    latte = await flash.create_sale(
        await item("latte"),
        100,
        10,
        at("2026-03-06 20:00"),
        at("2026-03-06 22:00"),
        "first_come",
        now=now,
    )
    return Sales(mug, tote, latte)


async def joined(chat: Chat, name: str = "Ann", language: str = "en") -> Member:
    member = chat.member(name, language=language)
    await member.start()
    return member


async def test_the_list_shows_current_and_upcoming_sales_with_time_left(
    chat: Chat, sales: Sales
) -> None:
    ann = await joined(chat)

    reply = await ann.press("⚡ Flash sales")

    assert reply.text == (
        "⚡ Flash sales\n\nOn now\n"
        "• Canvas tote: draw at 600 points instead of 1,200 points · 2 to win · "
        "entries close in 1 h 30 min\n"
        "• Mug: 30 points instead of 80 points · 5 of 5 left · ends in 2 h 15 min\n\n"
        "Coming up\n"
        "• Latte <large>: 100 points instead of 300 points · starts Mar 6 20:00"
    )
    assert ann.buttons(reply) == ["⚡ Canvas tote", "⚡ Mug", "⚡ Latte <large>", "⬅️ Menu"]


async def test_the_list_in_chinese(chat: Chat, sales: Sales) -> None:
    li = await joined(chat, "李雷", "zh-hans")

    reply = await li.send("/sales")

    assert reply.text == (
        "⚡ 限时抢购\n\n进行中\n"
        "• Canvas tote：抽签价 600 积分（原价 1,200 积分）· 共 2 份 · "
        "1 小时 30 分钟后截止报名\n"
        "• 马克杯：30 积分（原价 80 积分）· 剩余 5/5 · 2 小时 15 分钟后结束\n\n"
        "即将开始\n"
        "• Latte <large>：100 积分（原价 300 积分）· 3月6日 20:00 开始"
    )


async def test_a_sale_reads_its_items_chinese_title(chat: Chat, sales: Sales) -> None:
    """The mug has a Chinese title; the tote and the latte read their own."""
    li = await joined(chat, "李雷", "zh-hans")
    listing = await li.send("/sales")
    assert li.buttons(listing)[:2] == ["⚡ Canvas tote", "⚡ 马克杯"]

    sale = await li.press("⚡ 马克杯")
    assert sale.text.startswith("⚡ 马克杯\n")
    confirm = await li.press("⚡ 以 30 积分抢购")
    assert "马克杯" in confirm.text
    assert "Mug" not in confirm.text


async def test_entering_a_draw_in_chinese(chat: Chat, sales: Sales) -> None:
    li = await joined(chat, "李雷", "zh-hans")
    await li.send("/sales")

    sale = await li.press("⚡ Canvas tote")

    assert sale.text == (
        "⚡ Canvas tote\n抢购价：600 积分（原价 1,200 积分）\n"
        "🎟 抽签：从所有报名者中随机抽出 2 名中签者（目前已有 0 人报名）。"
        "报名时冻结 600 积分直到开奖，未中签则全额退回。\n"
        "🟢 报名将在 1 小时 30 分钟后截止（3月2日 10:30）。\n"
        f"🔐 抽签种子的哈希（报名前已公布）：{sales.tote.draw_seed_hash}"
    )

    entered = await li.press("🎟 报名抽签（600 积分）")

    assert entered.text == (
        "🎟 你已报名 Canvas tote 的抽签。\n"
        "已冻结 600 积分直到开奖；未中签将全额退回。\n"
        "报名于 3月2日 10:30 截止，开奖后会立即通知你结果。\n"
        "余额：400 积分\n"
        f"抽签后，发送 /verify sale {sales.tote.sale_id} 可验证你的签号。"
    )
    assert li.notices[-1] == ("报名成功！", False)


async def test_no_sales_says_so(chat: Chat) -> None:
    ann = await joined(chat)

    reply = await ann.send("/sales")

    assert reply.text == "⚡ Flash sales\nNo flash sales right now. New ones are announced here."


async def test_entering_a_draw_holds_the_sale_price_once(chat: Chat, sales: Sales) -> None:
    ann = await joined(chat)
    await ann.send("/sales")

    sale = await ann.press("⚡ Canvas tote")

    assert sale.text == (
        "⚡ Canvas tote\nSale price: 600 points (usually 1,200 points)\n"
        "🎟 A draw: 2 winners are picked at random from everyone who enters (0 so far). "
        "Entering holds 600 points until the draw; if you don't win, they come back.\n"
        "🟢 Entries close in 1 h 30 min (Mar 2 10:30).\n"
        f"🔐 The draw's seed hash, published before entries: {sales.tote.draw_seed_hash}"
    )
    assert ann.buttons(sale)[0] == "🎟 Enter the draw (600 points)"

    entered = await ann.press("🎟 Enter the draw (600 points)")

    assert entered.text == (
        "🎟 You're in the draw for Canvas tote.\n"
        "600 points are held until the draw; if you don't win, they come back.\n"
        "Entries close Mar 2 10:30; you'll hear the result right after the draw.\n"
        "Balance: 400 points\n"
        f"After the draw, check your ticket with /verify sale {sales.tote.sale_id}."
    )
    assert ann.notices[-1] == ("You're in the draw!", False)
    held = await chat.mall.statements.balance(ann.id)
    assert (held.balance, held.held) == (400, 600)

    await ann.press("⬅️ All sales")
    await ann.press("⚡ Canvas tote")
    again = await ann.press("🎟 Enter the draw (600 points)")

    assert again.text.startswith("You're already in this draw.\n\n🎟 You're in the draw for")
    assert ann.notices[-1] == ("You're already in this draw.", False)
    held = await chat.mall.statements.balance(ann.id)
    assert (held.balance, held.held) == (400, 600)
    assert (await chat.mall.flash_sales.get_sale(sales.tote.sale_id, chat.now)).entrants == 1


async def test_a_sale_that_ended_while_its_screen_was_open_says_so(
    chat: Chat, sales: Sales
) -> None:
    ann = await joined(chat)
    await ann.send("/sales")
    await ann.press("⚡ Mug")
    chat.now = at("2026-03-02 11:20")

    reply = await ann.press("⚡ Buy for 30 points")

    assert ann.notices[-1] == ("Sorry, this sale has ended.", True)
    assert reply.text.startswith("Sorry, this sale has ended.\n\n⚡ Mug\n")
    assert reply.text.endswith("This sale is over.")
    assert not any(label.startswith("⚡ Buy") for label in ann.buttons(reply))
    assert (await chat.mall.statements.balance(ann.id)).balance == 1000


async def test_entries_closed_while_the_draw_screen_was_open_say_so(
    chat: Chat, sales: Sales
) -> None:
    ann = await joined(chat)
    await ann.send("/sales")
    await ann.press("⚡ Canvas tote")
    chat.now = at("2026-03-02 10:31")

    reply = await ann.press("🎟 Enter the draw (600 points)")

    assert ann.notices[-1] == ("Sorry, entries for this draw are closed.", True)
    assert "⏳ Entries are closed; the draw is about to run." in reply.text
    held = await chat.mall.statements.balance(ann.id)
    assert (held.balance, held.held) == (1000, 0)


async def test_buying_in_a_first_come_sale_reaches_the_confirmation_at_the_sale_price(
    chat: Chat, sales: Sales
) -> None:
    ann = await joined(chat)
    await ann.send("/sales")
    sale = await ann.press("⚡ Mug")
    assert sale.text == (
        "⚡ Mug\nSale price: 30 points (usually 80 points)\n"
        "First come, first served: 5 of 5 left.\n"
        "🟢 On now: ends in 2 h 15 min (Mar 2 11:15)."
    )

    confirm = await ann.press("⚡ Buy for 30 points")

    assert confirm.text == (
        "Redeem Mug at the flash sale price?\n"
        "Price: 30 points (usually 80 points)\n"
        "Balance after: 970 points\n"
        "Units go to whoever confirms first."
    )
    assert ann.buttons(confirm) == ["✅ Redeem for 30 points", "⬅️ Back", "⬅️ Menu"]
    redeem = confirm.button("✅ Redeem for 30 points")
    assert redeem is not None
    assert redeem.callback_data is not None
    route, token = redeem.callback_data.split(":", 1)
    assert route == "rd"
    # The token names the item and the sale it was offered under.
    assert token.split(".")[:2] == [str(sales.mug.item_id), str(sales.mug.sale_id)]
    assert (await chat.mall.statements.balance(ann.id)).balance == 1000


async def test_confirming_a_sale_redemption_pays_the_sale_price(chat: Chat, sales: Sales) -> None:
    ann = await joined(chat)
    await ann.send("/sales")
    await ann.press("⚡ Mug")
    await ann.press("⚡ Buy for 30 points")

    await ann.press("✅ Redeem for 30 points")

    assert (await chat.mall.statements.balance(ann.id)).balance == 970
    after = await chat.mall.flash_sales.get_sale(sales.mug.sale_id, chat.now)
    assert after.remaining == 4


async def test_a_draw_commits_to_its_seed_and_verify_sale_redoes_the_ticket(
    chat: Chat, sales: Sales
) -> None:
    ann = await joined(chat)
    await ann.send("/seed ann-7")
    await ann.send("/sales")
    screen = await ann.press("⚡ Canvas tote")
    tote = sales.tote.sale_id
    assert f"🔐 The draw's seed hash, published before entries: {sales.tote.draw_seed_hash}" in (
        screen.text
    )
    entered = await ann.press("🎟 Enter the draw (600 points)")
    assert f"After the draw, check your ticket with /verify sale {tote}." in entered.text

    pending = await ann.send(f"/verify sale {tote}")
    assert pending.text.startswith(f"🔍 Draw of sale #{tote} · Canvas tote\n")
    assert f"the UTF-8 text ann-7:{tote} (your client seed ann-7" in pending.text
    assert "⏳ The draw has not been made yet" in pending.text

    await chat.mall.flash_sales.draw(tote, at("2026-03-02 10:30"), random.Random(1))
    chat.now = at("2026-03-02 10:31")
    check = await chat.mall.flash_sales.verify_draw(tote, ann.id)
    assert check.ticket is not None
    done = await ann.send(f"/verify sale {tote}")
    assert f"Your ticket: {check.ticket}" in done.text
    assert "Yours is no. 1 from the lowest of 1 tickets; 1 won.\n✅ You won." in done.text
    lines = done.text.splitlines()
    python = lines[lines.index("In Python (prints your ticket):") + 1]
    program, flag, code = shlex.split(python)
    assert (program, flag) == ("python3", "-c")
    out = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == check.ticket
    if shutil.which("openssl"):
        openssl = lines[lines.index("With openssl (prints your ticket):") + 1]
        result = subprocess.run(  # noqa: ASYNC221
            openssl, shell=True, capture_output=True, text=True, check=True
        )
        assert result.stdout.split()[-1] == check.ticket
    # A drawn sale leaves the list; its view carries the seed the sale screen shows.
    assert (await chat.mall.flash_sales.get_sale(tote, chat.now)).draw_seed == check.seed

    bob = await joined(chat, "Bob")
    not_his = await bob.send(f"/verify sale {tote}")
    assert not_his.text == "That flash sale is over or no longer exists."
