"""Blind boxes from the chat: the list, true odds, opening (an edit from "opening" to the prize),
the guarantee, the daily cap, verifying a draw, double taps and boxes that closed meanwhile."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.features import box_odds_texts
from bot.i18n import load_languages
from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import ChatFactory
from tests.support.chat import Chat, Member

# Members join with 1,000 points here: enough for a few openings.
RICH = "[members]\nsignup_bonus = 1000"
# The catalog the sandbox loads (pointsmall sandbox).
DEMO_CATALOG = Path(__file__).resolve().parents[2] / "examples" / "catalog.toml"

BOXES = """
[[boxes]]
sku = "lucky"
title = "Lucky box"
description = "A scoop of luck."
price = 30
prizes = [
  { name = "10 points back", kind = "points", points = 10, weight = 12 },
  { name = "50 points", kind = "points", points = 50, weight = 6 },
  { name = "A sticker", kind = "consolation", weight = 2 },
]

# One prize all but certain, one rare prize the guarantee brings on the fourth opening.
# In Chinese too, but for the jackpot (it reads its English name).
[[boxes]]
sku = "sure"
title = "Sure box"
titles = { zh_Hans = "稳赢盲盒" }
price = 30
pity_after = 3

[[boxes.prizes]]
name = "20 points back"
names = { zh_Hans = "返还 20 积分" }
kind = "points"
points = 20
weight = 2000000000

[[boxes.prizes]]
name = "Jackpot"
kind = "points"
points = 1000
weight = 1
rare = true

[[boxes]]
sku = "capped"
title = "Capped box"
price = 30
daily_cap = 60
prizes = [{ name = "20 points back", kind = "points", points = 20, weight = 1 }]

[[boxes]]
sku = "pricey"
title = "Pricey box"
price = 5000
prizes = [{ name = "A sticker", kind = "consolation", weight = 1 }]

[[boxes]]
sku = "tom"
title = "Tom & Jerry <3"
price = 30
prizes = [{ name = "<b>not bold</b>", kind = "consolation", weight = 1 }]
"""


@pytest.fixture
async def chat(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    async with make_chat(RICH) as opened:
        await load_catalog(opened.mall.db, opened.mall.config, BOXES, opened.now)
        yield opened


async def box_id(chat: Chat, sku: str) -> int:
    return next(box.box_id for box in await chat.mall.boxes.list_boxes() if box.sku == sku)


async def balance(chat: Chat, member: Member) -> int:
    return (await chat.mall.statements.balance(member.id)).balance


async def joined(chat: Chat, name: str = "Ann", language: str = "en") -> Member:
    member = chat.member(name, language=language)
    await member.start()
    return member


async def test_the_list_and_a_box_show_price_true_odds_seed_hash_and_balance(chat: Chat) -> None:
    ann = await joined(chat)

    listing = await ann.send("/boxes")

    assert listing.text.startswith("🎁 Blind boxes\nEach opening draws one prize at the odds")
    assert "Your balance: 1,000 points" in listing.text
    assert ann.buttons(listing) == [
        "Lucky box · 30 points",
        "Sure box · 30 points",
        "Capped box · 30 points",
        "Pricey box · 5,000 points",
        "Tom & Jerry <3 · 30 points",
        "⬅️ Menu",
    ]

    box = await ann.press("Lucky box · 30 points")

    assert box.message_id == listing.message_id
    assert "🎁 Lucky box\nA scoop of luck.\nPrice: 30 points per opening" in box.text
    assert (
        "Prizes and odds (exact, from the prize weights):\n"
        "• 10 points back: 60%\n• 50 points: 30%\n• A sticker: 10%"
    ) in box.text
    shown = [float(p) for p in re.findall(r"^• .*: ([\d.]+)%$", box.text, flags=re.MULTILINE)]
    assert sum(shown) == 100
    view = await chat.mall.boxes.describe(await box_id(chat, "lucky"), ann.id, chat.now)
    assert f"🔐 Published seed hash (v1):\n{view.seed_hash}" in box.text
    assert ann.buttons(box) == [
        "🎁 Open for 30 points",
        "🎲 My client seed",
        "⬅️ All boxes",
        "⬅️ Menu",
    ]
    assert "It is revealed, and a new seed's hash published, on Mar" in box.text
    assert "🎲 Your client seed: none yet." in box.text


async def test_the_box_screen_in_chinese(chat: Chat) -> None:
    """A box with no Chinese texts reads its own in a Chinese interface."""
    li = await joined(chat, "李雷", "zh-hans")
    await li.press("🎁 盲盒")

    box = await li.press("Lucky box · 30 积分")

    assert "🎁 Lucky box\nA scoop of luck.\n价格：每次 30 积分" in box.text
    assert (
        "奖品与概率（按奖品权重精确计算）：\n"
        "• 10 points back：60%\n• 50 points：30%\n• A sticker：10%"
    ) in box.text
    assert "🔐 已公布的种子哈希（第 1 版）：" in box.text
    assert "你的余额：1,000 积分" in box.text
    assert li.buttons(box) == ["🎁 花 30 积分开盒", "🎲 我的客户端种子", "⬅️ 全部盲盒", "⬅️ 菜单"]


async def test_opening_edits_the_message_from_opening_to_the_prize(chat: Chat) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    box = await ann.press("Sure box · 30 points")
    assert "• 20 points back: over 99.99%\n• ⭐ Jackpot: under 0.01% (rare)" in box.text
    assert "🎯 Guarantee: a rare prize within your next 4 openings (0 of 3 without one so far)" in (
        box.text
    )
    before = len(chat.sandbox.requests)

    prize = await ann.press("🎁 Open for 30 points")

    edits = [
        params for method, params in chat.sandbox.requests[before:] if method == "editMessageText"
    ]
    assert len(edits) == 2
    assert edits[0]["text"] == "🎁 Opening <b>Sure box</b>…"
    assert all(int(e["message_id"]) == box.message_id for e in edits)
    assert prize.message_id == box.message_id
    assert prize.edited
    assert prize.text.startswith(
        "🎉 Sure box: you got 20 points back!\n+20 points credited to your balance.\n\n"
        "Paid 30 points · Balance: 990 points\n"
        "🎯 Guarantee: a rare prize within your next 3 openings (1 of 3 without one so far)\n"
        "Draw #"
    )
    assert ann.notices[-1] == ("🎉 20 points back", False)
    assert ann.buttons(prize) == [
        "🎁 Open again (30 points)",
        "🔍 Verify this draw",
        "⬅️ All boxes",
        "⬅️ Menu",
    ]
    assert await balance(chat, ann) == 1000 - 30 + 20


async def test_the_prize_in_chinese(chat: Chat) -> None:
    li = await joined(chat, "李雷", "zh-hans")
    listing = await li.send("/boxes")
    assert "稳赢盲盒 · 30 积分" in li.buttons(listing)
    box = await li.press("稳赢盲盒 · 30 积分")
    assert "🎁 稳赢盲盒\n" in box.text
    # The jackpot has no Chinese name: it reads its own.
    assert "• 返还 20 积分：" in box.text
    assert "• ⭐ Jackpot：" in box.text

    prize = await li.press("🎁 花 30 积分开盒")

    assert prize.text.startswith(
        "🎉 稳赢盲盒：你抽到了 返还 20 积分！\n+20 积分已存入你的余额。\n\n"
        "花费 30 积分 · 余额：990 积分\n"
        "🎯 保底：3 次内必出稀有奖品（已连续 1/3 次未出）\n抽奖编号 #"
    )
    assert li.notices[-1] == ("🎉 返还 20 积分", False)
    verify = await li.press("🔍 验证本次抽奖")
    assert "返还 20 积分" in verify.text
    assert "稳赢盲盒" in verify.text


async def test_a_double_tap_of_open_draws_once_and_the_next_screen_opens_again(
    chat: Chat,
) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    box = await ann.press("Sure box · 30 points")
    first = ann.user.press("🎁 Open for 30 points", box)

    await ann.press("🎁 Open for 30 points", box)
    await chat.bot.handled.wait(first)

    sure = await box_id(chat, "sure")
    assert (await chat.mall.boxes.describe(sure, ann.id, chat.now)).draws == 1
    assert await balance(chat, ann) == 990
    assert ann.notices[-1] == ("Already opened: here is what you got.", False)
    assert "you got 20 points back" in ann.last.text

    again = await ann.press("🎁 Open again (30 points)")

    assert (await chat.mall.boxes.describe(sure, ann.id, chat.now)).draws == 2
    assert "Paid 30 points · Balance: 980 points" in again.text
    assert await balance(chat, ann) == 980


async def test_a_member_short_of_points_is_told_what_it_costs_and_nothing_moves(
    chat: Chat,
) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    await ann.press("Pricey box · 5,000 points")

    reply = await ann.press("🎁 Open for 5,000 points")

    refusal = "Not enough points: opening costs 5,000 points, you have 1,000 points."
    assert ann.notices[-1] == (refusal, True)
    assert reply.text.startswith(refusal + "\n\n🎁 Pricey box")
    assert "🎁 Open for 5,000 points" in ann.buttons(reply)
    assert await balance(chat, ann) == 1000


async def test_the_guarantee_counter_counts_down_to_a_rare_prize(chat: Chat) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    await ann.press("Sure box · 30 points")
    await ann.press("🎁 Open for 30 points")
    await ann.press("🎁 Open again (30 points)")

    third = await ann.press("🎁 Open again (30 points)")

    assert "🎯 Your next opening is guaranteed a rare prize!" in third.text

    fourth = await ann.press("🎁 Open again (30 points)")

    assert fourth.text.startswith(
        "🎉 Sure box: you got Jackpot!\n⭐ A rare prize!\n🎯 This was your guaranteed rare prize.\n"
        "+1,000 points credited to your balance."
    )
    assert "a rare prize within your next 4 openings (0 of 3 without one so far)" in fourth.text
    assert await balance(chat, ann) == 1000 - 4 * 30 + 3 * 20 + 1000


async def test_a_draw_verifies_once_its_seed_is_revealed(chat: Chat) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    await ann.press("Sure box · 30 points")
    prize = await ann.press("🎁 Open for 30 points")
    found = re.search(r"Draw #(\d+): check it any time with /verify (\d+)", prize.text)
    assert found is not None
    assert found[1] == found[2]
    draw = found[1]
    sure = await box_id(chat, "sure")
    seed_hash = (await chat.mall.boxes.describe(sure, ann.id, chat.now)).seed_hash

    pending = await ann.press("🔍 Verify this draw")

    assert pending.text.startswith(
        f"🔍 Draw #{draw} · Sure box\n"
        "Your opening no. 1 of this box gave 20 points back. It was signed by seed v1, whose "
        f"hash was published before the draw:\n{seed_hash}\n\n⏳ Not verifiable yet"
    )
    assert f"Check again later with /verify {draw}." in pending.text

    rotation = await chat.mall.boxes.rotate_seed(sure, chat.now)
    verified = await ann.send(f"/verify {draw}")

    assert "✅ Verified: the revealed seed matches the published hash" in verified.text
    assert f"Seed: {rotation.revealed_seed}" in verified.text
    client = await chat.mall.boxes.client_seed(ann.id)
    assert client is not None
    client_seed = client.client_seed
    assert f"the UTF-8 text {client_seed}:1 (your client seed {client_seed}" in verified.text
    assert "20 points back: 0–1999999999" in verified.text
    assert ann.buttons(verified) == ["⬅️ Sure box", "⬅️ Menu"]

    bob = await joined(chat, "Bob")
    other = await bob.send(f"/verify {draw}")
    assert other.text == "No draw with that number."
    usage = await bob.send("/verify latest")
    assert usage.text.startswith("Send /verify and a draw number, like /verify 12.")
    superscript = await bob.send("/verify ²")  # a digit to str.isdigit(), not to int()
    assert superscript.text.startswith("Send /verify and a draw number, like /verify 12.")


async def test_the_daily_cap_stops_openings_until_tomorrow(chat: Chat) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    await ann.press("Capped box · 30 points")
    first = await ann.press("🎁 Open for 30 points")
    assert "Daily limit: 30 points of 60 points spent today" in first.text
    await ann.send("/boxes")
    older_screen = await ann.press("Capped box · 30 points")

    second = await ann.press("🎁 Open again (30 points)", first)

    assert "Daily limit: 60 points of 60 points spent today\n" in second.text
    assert "You've reached today's limit for this box; it opens again tomorrow." in second.text
    assert "🎁 Open again (30 points)" not in ann.buttons(second)

    refused = await ann.press("🎁 Open for 30 points", older_screen)

    refusal = (
        "You've spent 60 points on this box today, and the daily limit is 60 points. "
        "It opens again tomorrow."
    )
    assert ann.notices[-1] == (refusal, True)
    assert refused.text.startswith(refusal)
    assert await balance(chat, ann) == 1000 - 2 * 30 + 2 * 20

    chat.now += timedelta(days=1)
    await ann.send("/boxes")
    tomorrow = await ann.press("Capped box · 30 points")
    assert "Daily limit: 0 points of 60 points spent today" in tomorrow.text
    assert "🎁 Open for 30 points" in ann.buttons(tomorrow)


async def test_a_box_closed_while_its_screen_was_open_says_so(chat: Chat) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    await ann.press("Lucky box · 30 points")
    closed = BOXES.replace('sku = "lucky"', 'sku = "lucky"\nactive = false')
    await load_catalog(chat.mall.db, chat.mall.config, closed, chat.now)

    reply = await ann.press("🎁 Open for 30 points")

    assert ann.notices[-1] == ("This box is closed now.", True)
    assert reply.text.startswith("This box is closed now.\n🎁 Blind boxes")
    assert "Lucky box · 30 points" not in ann.buttons(reply)
    assert await balance(chat, ann) == 1000


async def test_names_are_shown_as_written(chat: Chat) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")

    box = await ann.press("Tom & Jerry <3 · 30 points")
    assert box.text.startswith("🎁 Tom & Jerry <3\n")
    assert "• <b>not bold</b>: 100%" in box.text

    prize = await ann.press("🎁 Open for 30 points")
    assert prize.text.startswith("🎉 Tom & Jerry <3: you got <b>not bold</b>!")
    assert "No prize this time." in prize.text
    assert ann.notices[-1] == ("🎉 <b>not bold</b>", False)


async def test_the_demo_lucky_bean_box_can_give_its_golden_mug(make_chat: ChatFactory) -> None:
    """The sandbox's demo: the mug is prize only (never sold), so it is in the box's draw and the
    guarantee can give it; the box says so, not "all won" or "paused"."""
    async with make_chat(RICH) as chat:
        await load_catalog(chat.mall.db, chat.mall.config, DEMO_CATALOG, chat.now)
        ann = await joined(chat)
        await ann.send("/boxes")

        box = await ann.press("Lucky Bean box · 200 points")

    assert "• ⭐ The golden mug: 1% (rare)" in box.text
    assert "all won" not in box.text
    assert "guarantee is paused" not in box.text
    assert "🎯 Guarantee: a rare prize within your next 11 openings (0 of 10" in box.text
    assert "🎁 Open for 200 points" in ann.buttons(box)


async def test_the_demo_box_in_chinese(make_chat: ChatFactory) -> None:
    async with make_chat(RICH) as chat:
        await load_catalog(chat.mall.db, chat.mall.config, DEMO_CATALOG, chat.now)
        li = await joined(chat, "李雷", "zh-hans")
        await li.send("/boxes")

        box = await li.press("幸运豆盲盒 · 200 积分")

    assert "🎁 幸运豆盲盒\n每抽一次 200 积分。" in box.text
    assert "• ⭐ 金色马克杯：1%" in box.text
    assert "• 咖啡师的一个微笑：38%" in box.text
    assert "Lucky Bean" not in box.text


MIXED = """
[[items]]
sku = "coffee"
title = "Coffee coupon"
category = "Drinks"
kind = "coupon"
price = 100

[[items]]
sku = "mug"
title = "Mug"
category = "Goods"
kind = "physical"
price = 300
active = false

[[items]]
sku = "tote"
title = "Tote"
category = "Goods"
kind = "physical"
price = 300
stock = 0

[[items]]
sku = "pin"
title = "Pin"
category = "Goods"
kind = "physical"
price = 50
listed = false

[[boxes]]
sku = "mixed"
title = "Mixed box"
price = 30
prizes = [
  { name = "50 points back", kind = "points", points = 50, weight = 40 },
  { name = "500 points", kind = "points", points = 500, weight = 6 },
  { name = "A coffee", kind = "coupon", item = "coffee", weight = 5 },
  { name = "A mug", kind = "item", item = "mug", weight = 5 },
  { name = "A tote", kind = "item", item = "tote", weight = 5 },
  { name = "A pin", kind = "item", item = "pin", weight = 3 },
  { name = "Ghost", kind = "points", points = 5, weight = 0 },
  { name = "A sticker", kind = "consolation", weight = 50 },
]

[[boxes]]
sku = "long-shot"
title = "Long shot"
price = 30
prizes = [
  { name = "A sticker", kind = "consolation", weight = 299 },
  { name = "Jackpot", kind = "points", points = 900, weight = 1, rare = true },
]
"""


async def test_odds_share_their_decimals_and_out_prizes_say_why(chat: Chat) -> None:
    await load_catalog(chat.mall.db, chat.mall.config, MIXED, chat.now)
    ann = await joined(chat)
    await ann.send("/boxes")

    box = await ann.press("Mixed box · 30 points")

    # 99 weights in the draw: every chance to one decimal, even the ones exact at none.
    assert (
        "• 50 points back: 40.4%\n"
        "• 500 points: 6.1%\n"
        "• A coffee: all won\n"  # no codes left
        "• A mug: not in the draw for now\n"  # its item is switched off
        "• A tote: all won\n"  # its item is sold out
        "• A pin: 3.0%\n"  # a prize-only item is still given
        "• A sticker: 50.5%"
    ) in box.text
    assert "Ghost" not in box.text, "a prize weighted 0 is no prize of the box"

    await ann.press("⬅️ All boxes")
    long_shot = await ann.press("Long shot · 30 points")
    # 1 in 300: two decimals, so that it does not read 0.3% (and the sticker 99.7%).
    assert "• A sticker: 99.67%\n• ⭐ Jackpot: 0.33% (rare)" in long_shot.text


async def test_out_prizes_in_chinese(chat: Chat) -> None:
    await load_catalog(chat.mall.db, chat.mall.config, MIXED, chat.now)
    li = await joined(chat, "李雷", "zh-hans")
    await li.press("🎁 盲盒")

    box = await li.press("Mixed box · 30 积分")

    assert "• A coffee：已抽完\n• A mug：暂不参与抽取\n• A tote：已抽完" in box.text
    assert "• 50 points back：40.4%" in box.text


def test_odds_places_keep_the_smallest_chance_from_reading_as_zero() -> None:
    assert box_odds_texts.odds_places([12, 6, 2], 20) == 0, "exact whole percents stay whole"
    assert box_odds_texts.odds_places([40, 6, 3, 50], 99) == 1
    assert box_odds_texts.odds_places([299, 1], 300) == 2, "0.33% needs two decimals"
    assert box_odds_texts.odds_places([199, 1], 200) == 1, "99.5% and 0.5% are exact with one"
    assert box_odds_texts.odds_places([3, 1], 8) == 1, "37.5% and 12.5% are exact with one"
    most = box_odds_texts.MOST_PLACES
    assert box_odds_texts.odds_places([2_000_000_000, 1], 2_000_000_001) == most
    assert box_odds_texts.odds_places([], 0) == 0
    t = load_languages(ZoneInfo("Asia/Shanghai"))["en"]
    assert box_odds_texts.percent(t, 1, 2_000_000_001, 2) == "under 0.01%"
    assert box_odds_texts.percent(t, 2_000_000_000, 2_000_000_001, 2) == "over 99.99%"
    assert box_odds_texts.percent(t, 40, 99, 1) == "40.4%"
    assert box_odds_texts.percent(t, 2, 3, 0) == "67%"
    assert box_odds_texts.percent(t, 1, 1, 1) == "100.0%"


# --- Client seeds, scheduled reveals and recipes (issue 15) -----------------------------------


def _recipe(text: str, intro: str) -> str:
    """The one-line command printed on the line after ``intro``."""
    lines = text.splitlines()
    return lines[lines.index(next(line for line in lines if line.startswith(intro))) + 1]


async def test_a_member_sets_a_client_seed_draws_and_verify_redoes_the_draw(chat: Chat) -> None:
    ann = await joined(chat)
    await ann.send("/boxes")
    await ann.press("Lucky box · 30 points")
    seed_screen = await ann.press("🎲 My client seed")
    assert seed_screen.text.startswith(
        "🎲 Your client seed\nYou have none yet: a random one is made at your first draw."
    )
    assert "the mall could not have picked its seed to give you bad draws" in seed_screen.text
    assert ann.buttons(seed_screen) == ["⬅️ Back to the box", "⬅️ All boxes", "⬅️ Menu"]

    bad = await ann.send("/seed two words")
    assert bad.text.startswith("⚠️ That can't be a client seed")
    done = await ann.send("/seed ann-lucky.7")
    assert done.text.startswith(
        "✅ Your client seed is now ann-lucky.7.\n\n🎲 Your client seed\n"
        "Now: ann-lucky.7 (you chose it)"
    )
    assert (await ann.send("/seed")).text.startswith("🎲 Your client seed\nNow: ann-lucky.7")

    await ann.send("/boxes")
    box = await ann.press("Lucky box · 30 points")
    assert "🎲 Your client seed: ann-lucky.7 (mixed into each of your draws" in box.text
    prize = await ann.press("🎁 Open for 30 points")
    found = re.search(r"Draw #(\d+)", prize.text)
    assert found is not None
    draw = found[1]

    pending = await ann.send(f"/verify {draw}")
    assert "⏳ Not verifiable yet" in pending.text
    assert "the UTF-8 text ann-lucky.7:1 (your client seed ann-lucky.7, a colon" in pending.text
    assert "The seed is revealed on Mar" in pending.text

    lucky = await box_id(chat, "lucky")
    week = chat.now + timedelta(days=7)
    rotations = await chat.mall.boxes.rotate_due(week)
    assert len(rotations) == 5  # every box of the catalog, on the [boxes] schedule
    rotation = next(r for r in rotations if r.box_id == lucky)
    chat.now = week
    await ann.send("/boxes")
    box = await ann.press("Lucky box · 30 points")
    assert f"revealed:\n{rotation.revealed_seed}" in box.text
    assert "🔓 Seed v1 of " in box.text

    verified = await ann.send(f"/verify {draw}")
    checked = await chat.mall.boxes.verify_draw(int(draw))
    assert checked.box_id == lucky
    assert checked.value is not None
    assert checked.digest is not None
    assert "✅ Verified" in verified.text
    assert f"The HMAC, in hex: {checked.digest}" in verified.text
    assert f"are the number {checked.value}." in verified.text
    assert f"{checked.value} × 20 ÷ 2^64, rounded down, is {checked.point}" in verified.text

    python = _recipe(verified.text, "In Python")
    program, flag, code = shlex.split(python)
    assert (program, flag) == ("python3", "-c")
    # A member pastes the recipes into a shell; here, the same commands, run to the end.
    out = subprocess.run(  # noqa: ASYNC221
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [checked.digest, str(checked.value), str(checked.point)]
    if shutil.which("openssl"):
        openssl = _recipe(verified.text, "With openssl")
        result = subprocess.run(  # noqa: ASYNC221
            openssl, shell=True, capture_output=True, text=True, check=True
        )
        assert result.stdout.split()[-1] == checked.digest


async def test_the_client_seed_and_verify_in_chinese(chat: Chat) -> None:
    li = await joined(chat, "李雷", "zh-hans")
    done = await li.send("/seed li-7")
    assert done.text.startswith("✅ 你的客户端种子已改为 li-7。")
    assert "您" not in done.text
    await li.press("🎁 盲盒")
    await li.press("Lucky box · 30 积分")
    prize = await li.press("🎁 花 30 积分开盒")
    found = re.search(r"#(\d+)", prize.text)
    assert found is not None
    await chat.mall.boxes.rotate_seed(await box_id(chat, "lucky"), chat.now)
    verified = await li.send(f"/verify {found[1]}")
    assert "消息是 UTF-8 文本 li-7:1（你的客户端种子 li-7、一个冒号和 nonce 1" in verified.text
    assert "用 Python（输出 HMAC、整数和落点）：\npython3 -c '" in verified.text
    assert "您" not in verified.text
