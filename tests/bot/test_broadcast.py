"""Broadcasts through the one sender, against the sandbox playing Telegram's flood limits:
every member gets the message exactly once, whatever 429s, blocks and restarts happen."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.background import background
from bot.delivery import screen_to_json
from bot.ptb.messenger import open_messenger
from bot.runtime import open_runtime
from bot.sandbox import ChatMessage, FloodLimits, SandboxUser
from bot.screens import Screen
from core.db.models import OutboxMessage
from core.mall import Mall
from tests.bot.conftest import START
from tests.conftest import at
from tests.support.admin import open_admin
from tests.support.background import (
    drained,
    flooded_chat,
    members_who_started,
    running_background,
)
from tests.support.chat import TOKEN, Chat
from tests.support.configs import make_config
from tests.support.databases import PostgresDatabase, SqliteTemplate

# Tighter than the sender's 30 a second, so that the sandbox answers some sends with 429.
TIGHT = FloodLimits(overall_per_second=15, overall_burst=5)
# A Telegram stricter than the documented 30 a second (and with little burst to spare).
STRICTER = FloodLimits(overall_per_second=20, overall_burst=5)


async def broadcast(mall: Mall, key: str, text: str = "📣 Big news") -> int:
    payload = screen_to_json(Screen(text))
    return await mall.outbox.broadcast(
        key=key, payloads={"en": payload}, default_language="en", now=at(START), created_by=1000
    )


def as_utc(moment: datetime) -> datetime:
    """A stored instant, aware (SQLite hands them back naive, in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def received(users: list[SandboxUser], text: str = "📣 Big news") -> Counter[int]:
    return Counter({user.id: sum(1 for m in user.bot_messages if m.text == text) for user in users})


# Broadcasts are about the sender, not about how updates are answered: the bot runs on the
# configured framework (python-telegram-bot) only, on SQLite unless a test asks for PostgreSQL.
@pytest.fixture
def database_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    return sqlite_template.copy_url(tmp_path)


async def test_under_flood_limits_every_member_gets_the_broadcast_exactly_once(
    database_url: str,
) -> None:
    async with flooded_chat(make_config(), database_url, at(START), TIGHT) as chat:
        users = await members_who_started(chat, 60)
        sent = await broadcast(chat.mall, "news-1")

        async with running_background(chat) as running:
            await running.sender.wait_idle()
            stats = running.sender.stats

        assert chat.sandbox.rate_limited > 0, "the sandbox should have pushed back"
        assert received(users) == Counter({user.id: 1 for user in users})
        progress = await chat.mall.outbox.progress(sent)
        assert (progress.sent, progress.failed, progress.pending) == (60, 0, 0)
        assert stats.rate_limited == chat.sandbox.rate_limited
        assert stats.sent == 60


async def test_at_telegrams_limit_with_default_settings_no_message_is_refused_lost_or_doubled(
    database_url: str,
) -> None:
    config = make_config()
    assert config.sender.messages_per_second == 30  # the default: Telegram's limit
    async with flooded_chat(config, database_url, at(START), FloodLimits()) as chat:
        users = await members_who_started(chat, 50)
        first = await broadcast(chat.mall, "news-1")
        second = await broadcast(chat.mall, "news-2", "📣 More news")

        async with running_background(chat) as running:
            await running.sender.wait_idle()
            stats, pace = running.sender.stats, running.sender.pace

        assert chat.sandbox.rate_limited == 0, "paced at the limit, never beyond it"
        assert (stats.rate_limited, stats.slowed_down, pace.rate) == (0, 0, 30)
        assert received(users) == Counter({user.id: 1 for user in users})
        assert received(users, "📣 More news") == Counter({user.id: 1 for user in users})
        for sent in (first, second):
            progress = await chat.mall.outbox.progress(sent)
            assert (progress.sent, progress.failed, progress.pending) == (50, 0, 0)
        # One message a second per chat: each member's two messages had slots a second apart.
        async with chat.mall.db.read() as conn:
            slots = (
                await conn.execute(
                    select(OutboxMessage.chat_id, OutboxMessage.slot_at).order_by(
                        OutboxMessage.slot_at
                    )
                )
            ).all()
        per_chat: dict[int, list[datetime]] = {}
        for chat_id, slot in slots:
            per_chat.setdefault(int(chat_id), []).append(as_utc(slot))
        assert all(
            len(two) == 2 and two[1] - two[0] >= timedelta(seconds=1) for two in per_chat.values()
        )


async def test_a_stricter_telegram_slows_the_sender_which_still_sends_each_message_once(
    database_url: str,
) -> None:
    async with flooded_chat(make_config(), database_url, at(START), STRICTER) as chat:
        users = await members_who_started(chat, 80)
        sent = await broadcast(chat.mall, "news-1")

        async with running_background(chat) as running:
            await running.sender.wait_idle()
            stats, pace = running.sender.stats, running.sender.pace

        assert chat.sandbox.rate_limited > 0, "the sandbox should have pushed back"
        assert stats.rate_limited == chat.sandbox.rate_limited
        assert 1 <= stats.slowed_down <= stats.rate_limited
        assert pace.slowest < 30, "the sender slowed its pace"
        assert received(users) == Counter({user.id: 1 for user in users})
        progress = await chat.mall.outbox.progress(sent)
        assert (progress.sent, progress.failed, progress.uncertain, progress.pending) == (
            80,
            0,
            0,
            0,
        )
        assert stats.sent == 80


async def test_a_member_who_blocked_the_bot_is_marked_and_counted(database_url: str) -> None:
    async with flooded_chat(make_config(), database_url, at(START), FloodLimits()) as chat:
        users = await members_who_started(chat, 5)
        users[2].block()
        first = await broadcast(chat.mall, "news-1")

        async with running_background(chat) as running:
            await running.sender.wait_idle()
            second = await broadcast(chat.mall, "news-2", "📣 More news")
            await running.sender.wait_idle()

        progress = await chat.mall.outbox.progress(first)
        assert (progress.sent, progress.unreachable) == (4, 1)
        # Once known unreachable, the member is not even tried for the next broadcast.
        later = await chat.mall.outbox.progress(second)
        assert (later.total, later.sent) == (4, 4)
        assert received(users)[users[2].id] == 0

        # Unblocking sends /start (Telegram's Restart): broadcasts reach the member again.
        users[2].unblock()
        await chat.bot.handled.wait(users[2].send("/start"))
        third = await broadcast(chat.mall, "news-3", "📣 Welcome back news")
        async with running_background(chat) as running:
            await running.sender.wait_idle()
        assert (await chat.mall.outbox.progress(third)).sent == 5
        assert received(users, "📣 Welcome back news")[users[2].id] == 1


async def test_a_sender_stopped_midway_resumes_without_duplicates_or_losses(
    database_url: str,
) -> None:
    async with flooded_chat(make_config(), database_url, at(START), FloodLimits()) as chat:
        users = await members_who_started(chat, 80)
        sent = await broadcast(chat.mall, "news-1")
        loop = asyncio.get_running_loop()

        async with running_background(chat):
            some_got_it = await chat.sandbox.world.signal.wait_until(
                lambda: sum(received(users).values()) >= 20, 10, loop.time
            )
        midway = await chat.mall.outbox.progress(sent)
        async with running_background(chat) as restarted:
            await restarted.sender.wait_idle()

        assert some_got_it
        assert 20 <= midway.sent < 80, "the first sender stopped in the middle"
        assert received(users) == Counter({user.id: 1 for user in users})
        progress = await chat.mall.outbox.progress(sent)
        assert (progress.sent, progress.uncertain, progress.pending) == (80, 0, 0)


async def test_two_bot_processes_on_postgresql_send_each_message_once(
    postgres_database: PostgresDatabase,
) -> None:
    await postgres_database.empty()
    config = make_config()
    async with flooded_chat(config, postgres_database.url, at(START), TIGHT) as chat:
        users = await members_who_started(chat, 60)
        sent = await broadcast(chat.mall, "news-1")

        async with (
            open_runtime(config, postgres_database.url) as other,
            open_messenger(TOKEN, chat.sandbox.api_server) as messenger,
            background(other, messenger, schedule=False) as second,
            running_background(chat) as first,
        ):
            await drained(chat.mall, first.sender, second.sender)
            shares = (first.sender.stats.sent, second.sender.stats.sent)

        assert received(users) == Counter({user.id: 1 for user in users})
        assert sum(shares) == 60
        assert min(shares) > 0, f"both processes should have sent some: {shares}"
        assert (await chat.mall.outbox.progress(sent)).sent == 60


# --- The admin's broadcast screen ---------------------------------------------------------------


async def test_an_admin_previews_confirms_and_follows_a_broadcast(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann, li = chat.member("Ann"), chat.member("Li", language="zh-hans")
    await ann.start()
    await li.start()
    await admin.send("/admin")
    await admin.press("📣 Broadcast")
    asked = await admin.press("✍️ To all members")
    assert "Send me the message for all members" in asked.text

    preview = await admin.send("Double points this weekend <3")
    assert "Preview: to all members (3 now reachable)" in preview.text
    assert "Double points this weekend &lt;3" in str(preview.html)
    confirm = sent_confirm(preview)
    sent = await admin.press("📣 Send it")
    assert "Broadcast #1 to all members" in sent.text
    async with running_background(chat) as running:
        await running.sender.wait_idle()
    progress = await admin.press("🔄 Refresh")
    assert "Sent: 3" in progress.text
    assert "Pending: 0" in progress.text
    assert "✅ done" in progress.text
    await admin.press_data(confirm, preview)  # the old Send button, tapped again

    assert "This preview is closed" in admin.notices[-1][0]
    assert ann.last.text == "Double points this weekend <3"
    assert [m.text for m in li.messages].count("Double points this weekend <3") == 1
    assert li.buttons() == ["⬅️ 菜单"]
    (entry,) = [e for e in await chat.mall.audit.latest() if e.action == "broadcast"]
    assert entry.actor_id == admin.id
    assert (await chat.mall.outbox.progress(1)).total == 3


async def test_a_broadcast_to_a_tier_reaches_only_that_tier(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann, bo = chat.member("Ann"), chat.member("Bo")
    await ann.start()
    await bo.start()
    await chat.mall.purchases.record_purchase(bo.id, "order-1", 150_000, "Goods", chat.now)
    await admin.send("/admin")
    await admin.press("📣 Broadcast")
    await admin.press("✍️ To Silver members")

    preview = await admin.send("Silver perks are here")
    assert "to Silver members (1 now reachable)" in preview.text
    await admin.press("📣 Send it")
    async with running_background(chat) as running:
        await running.sender.wait_idle()

    assert bo.last.text == "Silver perks are here"
    assert "Silver perks" not in ann.last.text
    section = await admin.press("📣 All broadcasts")
    assert "#1 to Silver members: 1 sent, 0 failed, 0 pending" in section.text


async def test_an_admin_reading_chinese_sees_the_tiers_chinese_names(chat: Chat) -> None:
    admin = await open_admin(chat, language="zh-hans")
    bo = chat.member("Bo")
    await bo.start()
    await chat.mall.purchases.record_purchase(bo.id, "order-1", 150_000, "Goods", chat.now)
    await admin.send("/admin")
    section = await admin.press("📣 群发")
    assert "✍️ 发给 白银 会员" in admin.buttons(section)
    assert not any("Silver" in label for label in admin.buttons(section))

    asked = await admin.press("✍️ 发给 白银 会员")
    assert "请发送要群发给白银 会员的消息" in asked.text
    preview = await admin.send("白银会员专享")
    assert "发给白银 会员（当前可送达 1 人）" in preview.text
    await admin.press("📣 发送")
    async with running_background(chat) as running:
        await running.sender.wait_idle()

    assert bo.last.text == "白银会员专享"
    section = await admin.press("📣 全部群发")
    assert "#1 发给白银 会员：已发送 1，失败 0，待发送 0" in section.text
    assert (await chat.mall.outbox.progress(1)).audience == "tier:Silver"


def sent_confirm(preview: ChatMessage) -> str:
    button = preview.button("📣 Send it")
    assert button is not None
    assert button.callback_data is not None
    return button.callback_data
