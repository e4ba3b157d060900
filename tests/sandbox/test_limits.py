"""Flood limits: sends over the pace Telegram allows get 429 with retry_after."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiogram
import aiohttp
import pytest
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter

from bot.sandbox import FloodLimits, Sandbox
from bot.sandbox.limits import FloodControl

# Buckets that refill about once in a quarter hour, so no send in a test gets a new token.
SLOW = 0.001


@pytest.fixture
async def limited() -> AsyncIterator[Sandbox]:
    limits = FloodLimits(overall_per_second=SLOW, overall_burst=5, per_chat_per_second=SLOW)
    async with Sandbox(flood_limits=limits) as sandbox:
        yield sandbox


@pytest.fixture
async def bot(limited: Sandbox) -> AsyncIterator[aiogram.Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(limited.api_server))
    yield aiogram.Bot(limited.token, session=session)
    await session.close()


async def test_a_chat_gets_a_small_burst_then_429(limited: Sandbox, bot: aiogram.Bot) -> None:
    ann = limited.add_user("Ann")
    ann.send("hi")
    for n in range(3):
        await bot.send_message(ann.id, f"burst {n}")
    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(ann.id, "one too many")
    assert raised.value.retry_after >= 1
    assert limited.rate_limited == 1
    assert len(ann.bot_messages) == 3


async def test_the_overall_limit_spans_chats_and_answers_in_telegrams_shape(
    limited: Sandbox,
) -> None:
    members = [limited.add_user(f"M{n}") for n in range(6)]
    for member in members:
        member.send("hi")
    url = f"{limited.api_server}/bot{limited.token}/sendMessage"
    answers = []
    async with aiohttp.ClientSession() as session:
        for member in members:
            async with session.post(url, json={"chat_id": member.id, "text": "news"}) as response:
                answers.append((response.status, await response.json()))
    assert [status for status, _ in answers] == [200] * 5 + [429]
    body = answers[-1][1]
    retry_after = body["parameters"]["retry_after"]
    assert isinstance(retry_after, int)
    assert retry_after >= 1
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": f"Too Many Requests: retry after {retry_after}",
        "parameters": {"retry_after": retry_after},
    }


def test_buckets_refill_with_time() -> None:
    now = [0.0]
    control = FloodControl(FloodLimits(per_chat_per_second=1, per_chat_burst=1), lambda: now[0])
    assert control.retry_after(1) is None
    assert control.retry_after(1) == 1
    assert control.retry_after(2) is None, "another chat has its own bucket"
    now[0] += 1.0
    assert control.retry_after(1) is None
