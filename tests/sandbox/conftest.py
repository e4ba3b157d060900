"""A started sandbox, and the two real clients the bot uses, pointed at it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aiogram
import pytest
import telegram
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.sandbox import Sandbox
from tests.support.browser import browser  # noqa: F401 (fixture)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox() as started:
        yield started


def ptb_bot_for(sandbox: Sandbox) -> telegram.Bot:
    api = sandbox.api_server
    return telegram.Bot(sandbox.token, base_url=api + "/bot", base_file_url=api + "/file/bot")


@pytest.fixture
async def ptb(sandbox: Sandbox) -> AsyncIterator[telegram.Bot]:
    """python-telegram-bot's Bot (it sends form-encoded and multipart requests)."""
    async with ptb_bot_for(sandbox) as bot:
        yield bot


@pytest.fixture
async def aio(sandbox: Sandbox) -> AsyncIterator[aiogram.Bot]:
    """aiogram's Bot (form-encoded, multipart with attach:// files)."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(sandbox.api_server))
    bot = aiogram.Bot(sandbox.token, session=session)
    yield bot
    await session.close()


def png(width: int = 4, height: int = 3) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()
