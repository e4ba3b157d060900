"""Webhook mode and the process's HTTP listener, on both frameworks.

The sandbox posts updates to ``POST /telegram`` as Telegram does; the listener stores each one
in the inbox before it answers 200. A request without the secret is refused, a body that is
no update is a 400, ``/healthz`` and ``/metrics`` answer beside the webhook.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.listener import Listener, listening
from bot.running import Framework, RunningBot, running_bot
from bot.runtime import Runtime, open_runtime
from bot.sandbox import Sandbox, SandboxUser
from tests.conftest import at
from tests.support.chat import TOKEN, Clock
from tests.support.configs import make_config
from tests.support.databases import SqliteTemplate

SECRET = "webhook-secret-for-the-tests"
SECRET_HEADER = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@dataclass
class WebhookBot:
    sandbox: Sandbox
    listener: Listener
    runtime: Runtime
    bot: RunningBot

    @property
    def url(self) -> str:
        return f"{self.listener.url}/telegram"


@asynccontextmanager
async def webhook_bot(
    sqlite_template: SqliteTemplate, tmp_path: Path, framework: Framework
) -> AsyncIterator[WebhookBot]:
    """The bot in webhook mode on the process's listener, the sandbox posting to it."""
    async with (
        Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox,
        listening("127.0.0.1", 0) as listener,
    ):
        # Telegram insists on https; plain http is allowed to this machine only.
        config = make_config(
            f"""
            [telegram]
            mode = "webhook"
            webhook_url = "{listener.url}/telegram"
            webhook_secret = "{SECRET}"
            """
        )
        async with (
            open_runtime(
                config, sqlite_template.copy_url(tmp_path), Clock(at("2026-03-02 09:00"))
            ) as runtime,
            running_bot(
                runtime,
                TOKEN,
                sandbox.api_server,
                webhook=True,
                framework=framework,
                listener=listener,
            ) as bot,
        ):
            yield WebhookBot(sandbox, listener, runtime, bot)
        assert sandbox.violations == []


def message(update_id: int, user: SandboxUser, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": user.id, "type": "private"},
            "from": user.as_user(),
            "text": text,
        },
    }


async def test_the_bot_answers_updates_posted_to_its_webhook_and_refuses_strangers(
    sqlite_template: SqliteTemplate, tmp_path: Path, framework: Framework
) -> None:
    async with webhook_bot(sqlite_template, tmp_path, framework) as hooked:
        ann = hooked.sandbox.add_user(first_name="Ann", language_code="en")
        await hooked.bot.handled.wait(ann.send("/start"))
        assert "Welcome to PointsMall, Ann!" in ann.last.text

        forged = json.dumps(message(999999, ann, "/checkin"))
        async with httpx.AsyncClient() as client:
            missing = await client.post(hooked.url, content=forged)
            wrong = await client.post(
                hooked.url,
                content=forged,
                headers={"X-Telegram-Bot-Api-Secret-Token": "not-the-secret-at-all"},
            )
            garbage = await client.post(hooked.url, content=b"{not json", headers=SECRET_HEADER)
            no_update = await client.post(hooked.url, content=b"[1, 2]", headers=SECRET_HEADER)
            no_id = await client.post(hooked.url, content=b'{"message": {}}', headers=SECRET_HEADER)
            health = await client.get(f"{hooked.listener.url}/healthz")
            scraped = await client.get(f"{hooked.listener.url}/metrics")
        assert missing.status_code == 401
        assert wrong.status_code == 401
        assert garbage.status_code == 400
        assert "not a Telegram update" in garbage.json()["description"]
        assert no_update.status_code == 400
        assert no_id.status_code == 400
        assert (await hooked.runtime.mall.statements.balance(ann.id)).balance == 100

        assert health.status_code == 200
        report = health.json()
        assert report["database"] == "ok"
        assert report["inbox_waiting"] == 0
        assert report["outbox_depth"] == 0
        assert scraped.status_code == 200
        assert 'pointsmall_updates_received_total{source="webhook"}' in scraped.text
        assert "pointsmall_update_seconds_bucket" in scraped.text
        assert "pointsmall_inbox_lag_seconds" in scraped.text


async def test_a_redelivered_update_is_handled_once(
    sqlite_template: SqliteTemplate, tmp_path: Path, framework: Framework
) -> None:
    """Telegram sends an update again when it missed the 200: the member is answered once."""
    async with webhook_bot(sqlite_template, tmp_path, framework) as hooked:
        ann = hooked.sandbox.add_user(first_name="Ann", language_code="en")
        await hooked.bot.handled.wait(ann.send("/start"))
        answers = len(ann.bot_messages)
        update = json.dumps(message(424242, ann, "/checkin"))
        async with httpx.AsyncClient() as client:
            for _ in range(3):
                sent = await client.post(hooked.url, content=update, headers=SECRET_HEADER)
                assert sent.status_code == 200
        await hooked.bot.handled.wait(424242)
        assert hooked.bot.handled.count == 2
        assert len(ann.bot_messages) == answers + 1
        assert (await hooked.runtime.mall.statements.balance(ann.id)).balance == 110


async def test_health_says_unavailable_while_the_database_does_not_answer(
    sqlite_template: SqliteTemplate, tmp_path: Path, framework: Framework
) -> None:
    async with webhook_bot(sqlite_template, tmp_path, framework) as hooked:
        inbox = hooked.bot.inbox

        async def down(now: object, **_: object) -> object:
            raise ConnectionRefusedError("the database went away")

        inbox.backlog = down  # type: ignore[method-assign,assignment]
        async with httpx.AsyncClient() as client:
            health = await client.get(f"{hooked.listener.url}/healthz")
            scraped = await client.get(f"{hooked.listener.url}/metrics")
        assert health.status_code == 503
        assert health.json() == {
            "status": "unavailable",
            "database": "unreachable: ConnectionRefusedError",
        }
        assert scraped.status_code == 200  # the counters are still worth reading


async def test_a_process_still_starting_asks_telegram_to_send_again() -> None:
    """Webhook mode before the bot is up (waiting for its database): 503, never a 404 that
    Telegram would take as final."""
    async with (
        listening("127.0.0.1", 0, webhook_expected=True) as starting,
        listening("127.0.0.1", 0) as polling,
        httpx.AsyncClient() as client,
    ):
        update = json.dumps({"update_id": 1})
        early = await client.post(f"{starting.url}/telegram", content=update, headers=SECRET_HEADER)
        stray = await client.post(f"{polling.url}/telegram", content=update, headers=SECRET_HEADER)
        health = await client.get(f"{starting.url}/healthz")
    assert early.status_code == 503
    assert stray.status_code == 404
    assert health.status_code == 503
    assert health.json() == {"status": "starting"}
