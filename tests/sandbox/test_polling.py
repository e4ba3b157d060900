"""The bot gets its updates by long polling, exactly as from Telegram."""

from __future__ import annotations

import asyncio

import aiogram
import pytest
import telegram
from telegram.error import Conflict

from bot.sandbox import Sandbox
from tests.sandbox.conftest import ptb_bot_for


async def test_get_me_describes_the_sandbox_bot(
    sandbox: Sandbox, ptb: telegram.Bot, aio: aiogram.Bot
) -> None:
    me = await ptb.get_me()
    assert (me.id, me.is_bot, me.username) == (123456, True, "pointsmall_sandbox_bot")
    assert (await aio.get_me()).username == sandbox.bot_user["username"]
    assert sandbox.violations == []


async def test_updates_stay_until_a_later_offset_confirms_them(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    first = ann.send("hello")
    second = ann.start("invite-42")

    updates = await ptb.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first, second]
    assert updates[1].message.text == "/start invite-42"
    assert updates[1].message.entities[0].type == "bot_command"
    assert updates[1].message.entities[0].length == len("/start")

    again = await ptb.get_updates(timeout=0)
    assert [u.update_id for u in again] == [first, second], "not confirmed yet"

    assert [u.update_id for u in await ptb.get_updates(offset=second, timeout=0)] == [second]
    assert await ptb.get_updates(offset=second + 1, timeout=0) == ()
    assert (await ptb.get_webhook_info()).pending_update_count == 0
    assert sandbox.violations == []


async def test_limit_hands_over_the_oldest_updates_first(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    sent = [ann.send(f"message {n}") for n in range(3)]
    updates = await ptb.get_updates(limit=2, timeout=0)
    assert [u.update_id for u in updates] == sent[:2]


async def test_a_long_poll_waits_for_the_members_next_message(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    poll = asyncio.create_task(ptb.get_updates(timeout=30, read_timeout=40))
    await sandbox.request_made("getUpdates")
    assert not poll.done(), "the server holds the poll while there is nothing to hand over"

    update_id = ann.send("anyone there?")
    updates = await asyncio.wait_for(poll, 10)
    assert [(u.update_id, u.message.text) for u in updates] == [(update_id, "anyone there?")]
    await sandbox.delivered(update_id)


async def test_updates_the_bot_did_not_ask_for_are_dropped(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    first = await ptb.get_updates(timeout=0, allowed_updates=["callback_query"])
    assert first == ()
    with pytest.raises(LookupError, match="allowed_updates"):
        await sandbox.delivered(1)


async def test_aiogram_polls_the_same_queue(sandbox: Sandbox, aio: aiogram.Bot) -> None:
    ann = sandbox.add_user("Ann", language_code="zh-hans")
    update_id = ann.send("你好")
    updates = await aio.get_updates(offset=0, timeout=1)
    assert updates[0].update_id == update_id
    assert updates[0].message is not None
    assert updates[0].message.text == "你好"
    assert updates[0].message.from_user is not None
    assert updates[0].message.from_user.language_code == "zh-hans"
    assert sandbox.violations == []


async def test_a_second_bot_instance_ends_the_first_ones_poll_with_409(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    first = asyncio.create_task(ptb.get_updates(timeout=30, read_timeout=40))
    await sandbox.request_made("getUpdates")
    async with ptb_bot_for(sandbox) as other_instance:
        second = asyncio.create_task(other_instance.get_updates(timeout=1))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(first, 10)
        assert await second == ()


async def test_get_updates_is_refused_while_a_webhook_is_set(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    await ptb.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await ptb.get_updates(timeout=0)
    await ptb.delete_webhook()
    assert await ptb.get_updates(timeout=0) == ()
