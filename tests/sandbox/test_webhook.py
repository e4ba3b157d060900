"""Webhook mode: updates are POSTed to the bot with its secret, retried until it takes them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import telegram
from aiohttp import web

from bot.sandbox import Sandbox


@dataclass
class Receiver:
    """The bot's side of a webhook: answers with the queued statuses, then 200."""

    url: str = ""
    received: list[tuple[dict[str, Any], str | None]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    reply: dict[str, Any] | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            (await request.json(), request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        )
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200 and self.reply is not None:
            return web.json_response(self.reply)
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    hook.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    await web.SockSite(runner, sock).start()
    yield hook
    await runner.cleanup()


async def test_updates_arrive_with_the_secret_header(
    sandbox: Sandbox, ptb: telegram.Bot, receiver: Receiver
) -> None:
    await ptb.set_webhook(receiver.url, secret_token="s3cret-Token_1")
    info = await ptb.get_webhook_info()
    assert info.url == receiver.url
    ann = sandbox.add_user("Ann")
    update_id = ann.send("via webhook")
    await sandbox.delivered(update_id)
    body, secret = receiver.received[0]
    assert body["update_id"] == update_id
    assert body["message"]["text"] == "via webhook"
    assert secret == "s3cret-Token_1"
    assert (await ptb.get_webhook_info()).pending_update_count == 0
    assert sandbox.violations == []


async def test_a_failing_webhook_is_retried_and_the_error_reported(
    sandbox: Sandbox, ptb: telegram.Bot, receiver: Receiver
) -> None:
    receiver.statuses = [500, 502]
    await ptb.set_webhook(receiver.url)
    ann = sandbox.add_user("Ann")
    update_id = ann.send("retry me")
    await sandbox.delivered(update_id)
    assert [body["update_id"] for body, _ in receiver.received] == [update_id] * 3
    info = await ptb.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 502 Bad Gateway"


async def test_a_method_in_the_webhook_response_is_carried_out(
    sandbox: Sandbox, ptb: telegram.Bot, receiver: Receiver
) -> None:
    ann = sandbox.add_user("Ann")
    receiver.reply = {"method": "sendMessage", "chat_id": ann.id, "text": "answered inline"}
    await ptb.set_webhook(receiver.url)
    ann.send("hi")
    await ann.wait_for(lambda u: bool(u.bot_messages))
    assert ann.last.text == "answered inline"


async def test_deleting_the_webhook_returns_to_polling(
    sandbox: Sandbox, ptb: telegram.Bot, receiver: Receiver
) -> None:
    await ptb.set_webhook(receiver.url)
    await ptb.delete_webhook()
    ann = sandbox.add_user("Ann")
    update_id = ann.send("poll me")
    assert [u.update_id for u in await ptb.get_updates(timeout=0)] == [update_id]
    assert receiver.received == []
