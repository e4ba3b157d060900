"""Webhook mode: the sandbox posts updates as Telegram does; a request without the secret fails.

On both frameworks (the ``framework`` fixture of conftest.py): python-telegram-bot's webhook
server answers a stranger 403, aiogram's request handler 401.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx

from bot.running import Framework, running_bot
from bot.runtime import open_runtime
from bot.sandbox import Sandbox
from tests.conftest import at
from tests.support.chat import TOKEN, Clock
from tests.support.configs import make_config
from tests.support.databases import SqliteTemplate

SECRET = "webhook-secret-for-the-tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_bot_answers_updates_posted_to_its_webhook_and_refuses_strangers(
    sqlite_template: SqliteTemplate, tmp_path: Path, framework: Framework
) -> None:
    port = free_port()
    config = make_config(
        f"""
        [telegram]
        mode = "webhook"
        webhook_url = "https://mall.example/telegram"
        webhook_listen = "127.0.0.1"
        webhook_port = {port}
        webhook_secret = "{SECRET}"
        """
    )
    # Telegram insists on https; the sandbox posts to this process over plain http on 127.0.0.1.
    local = f"http://127.0.0.1:{port}/telegram"
    config = config.model_copy(
        update={"telegram": config.telegram.model_copy(update={"webhook_url": local})}
    )
    async with Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox:
        async with (
            open_runtime(
                config, sqlite_template.copy_url(tmp_path), Clock(at("2026-03-02 09:00"))
            ) as runtime,
            running_bot(
                runtime, TOKEN, sandbox.api_server, webhook=True, framework=framework
            ) as bot,
        ):
            ann = sandbox.add_user(first_name="Ann", language_code="en")
            await bot.handled.wait(ann.send("/start"))
            assert "Welcome to PointsMall, Ann!" in ann.last.text

            forged = {
                "update_id": 999999,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": ann.id, "type": "private"},
                    "from": ann.as_user(),
                    "text": "/checkin",
                },
            }
            async with httpx.AsyncClient() as client:
                missing = await client.post(local, content=json.dumps(forged))
                wrong = await client.post(
                    local,
                    content=json.dumps(forged),
                    headers={"X-Telegram-Bot-Api-Secret-Token": "not-the-secret-at-all"},
                )
            assert missing.status_code in (401, 403)
            assert wrong.status_code in (401, 403)
            assert (await runtime.mall.statements.balance(ann.id)).balance == 100
        assert sandbox.violations == []
