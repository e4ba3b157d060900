"""Fixtures for conversation tests: a member's chat with the real bot through the sandbox.

Every chat runs twice, once on python-telegram-bot and once on aiogram (test ids ``ptb`` and
``aiogram``): one suite for both adapters. A test about one framework pins it with
``@pytest.mark.parametrize("framework", ["aiogram"])``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from bot.running import FRAMEWORKS, Framework
from tests.conftest import at
from tests.support.chat import Chat, open_chat
from tests.support.configs import make_config
from tests.support.databases import SqliteTemplate

# Monday 2 March 2026, 09:00 in the test mall's time zone (Asia/Shanghai).
START = "2026-03-02 09:00"

ChatFactory = Callable[..., AbstractAsyncContextManager[Chat]]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> Framework:
    """The framework the bot runs on in this test."""
    chosen: Framework = request.param
    return chosen


@pytest.fixture
def make_chat(sqlite_template: SqliteTemplate, tmp_path: Path, framework: Framework) -> ChatFactory:
    """``async with make_chat(extra_toml) as chat:`` for a test that needs its own config."""

    def build(
        extra: str = "", database_url: str | None = None
    ) -> AbstractAsyncContextManager[Chat]:
        url = database_url or sqlite_template.copy_url(tmp_path)
        return open_chat(make_config(extra), url, at(START), framework)

    return build


@pytest.fixture
async def chat(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    async with make_chat() as opened:
        yield opened
