"""Balance, tier, what expires when, and the paginated history."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tests.bot.conftest import ChatFactory
from tests.conftest import at
from tests.support.chat import Chat

SHORT_LIVED = """
[[tiers.levels]]
name = "Member"
threshold = 0
multiplier = 1
validity_days = 30
[[tiers.levels]]
name = "Silver"
threshold = 1000
multiplier = 1.2
validity_days = 60
"""


async def test_balance_shows_tier_progress_and_what_expires_when(make_chat: ChatFactory) -> None:
    async with make_chat(SHORT_LIVED) as chat:
        ann = chat.member("Ann")
        await ann.start()
        await ann.send("/checkin")

        reply = await ann.press("💰 Balance")

    assert "Balance: 110 points" in reply.text
    assert "Tier: Member (earning ×1)" in reply.text
    assert "Earn 990 points more within 365 days to reach Silver." in reply.text
    assert "110 points expire after Mar 31" in reply.text
    assert ann.buttons(reply)[:2] == ["🛍 What can I get?", "📜 History"]


async def test_nothing_expiring_soon_says_so(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.send("/balance")

    assert "Nothing expires in the next 90 days." in reply.text


async def test_history_pages_with_reasons(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    for day in range(12):
        chat.now = at("2026-03-02 09:00") + timedelta(days=day)
        await ann.send("/checkin")
    await ann.send("/balance")

    first = await ann.press("📜 History")

    assert "History, page 1:" in first.text
    assert first.text.count("Check-in") == 10
    second = await ann.press("Next ▶️")
    assert "History, page 2:" in second.text
    assert "Check-in" in second.text
    assert "Welcome bonus" in second.text
    assert "Next ▶️" not in ann.buttons(second)
    back = await ann.press("◀️ Previous")
    assert "History, page 1:" in back.text


async def test_history_in_chinese(chat: Chat) -> None:
    li = chat.member("李雷", language="zh")
    await li.start()

    reply = await li.send("/history")

    assert "积分明细" in reply.text
    assert "新人奖励" in reply.text


async def test_a_forged_history_page_is_a_stale_button_not_an_error(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    ann = chat.member("Ann")
    await ann.start()
    stale = ("This button is out of date. Open the menu to see what is there now.", True)

    # Past SQLite's and PostgreSQL's 64-bit OFFSET, past any sane page, and not numbers at all.
    for page in ("9999999999999999999", "9223372036854775807", "10001", "²", "-1", "1e3", ""):
        await ann.press_data(f"hist:{page}")
        assert ann.notices[-1] == stale, page
    await ann.press_data("hist")
    assert ann.notices[-1] == stale

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    far = await ann.press_data("hist:10000")  # the last page there may be: empty, no error
    assert "No more entries." in far.text


# --- Tier names in the member's language (``names`` in [[tiers.levels]]) -----------------------


async def test_a_chinese_member_reads_the_tiers_chinese_names(chat: Chat) -> None:
    li = chat.member("李雷", language="zh-hans")
    await li.start()

    reply = await li.send("/balance")

    assert "等级：普通（积分 ×1）" in reply.text
    assert "即可升至 白银。" in reply.text
    assert "Member" not in reply.text
    assert "Silver" not in reply.text


async def test_an_english_member_reads_the_tiers_english_names(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.send("/balance")

    assert "Tier: Member (earning ×1)" in reply.text
    assert "to reach Silver." in reply.text
    assert "白银" not in reply.text


async def test_a_tier_without_a_name_in_the_members_language_shows_its_own(
    make_chat: ChatFactory,
) -> None:
    ladder = SHORT_LIVED.replace('name = "Member"', 'name = "Member"\nnames = { en = "Sprout" }')
    async with make_chat(ladder) as chat:
        li, ann = chat.member("李雷", language="zh-hans"), chat.member("Ann")
        await li.start()
        await ann.start()

        chinese = await li.send("/balance")
        english = await ann.send("/balance")

    assert "等级：Member（积分 ×1）" in chinese.text
    assert "即可升至 Silver。" in chinese.text
    assert "Tier: Sprout (earning ×1)" in english.text
    assert "to reach Silver." in english.text
