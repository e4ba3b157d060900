"""The JSON API behind the chat page, and its event stream, without a browser."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from bot.sandbox import Sandbox
from tests.sandbox.conftest import png, ptb_bot_for


@pytest.fixture
async def admin_sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(admins=[(7, "Boss")]) as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, url: str, body: Any = None) -> tuple[int, Any]:
    request = http.post(url, json=body) if body is not None else http.get(url)
    async with request as response:
        kind = response.content_type
        return response.status, await (
            response.json() if kind == "application/json" else response.text()
        )


async def test_the_page_and_its_files_are_served(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, html = await call(http, admin_sandbox.page_url)
    assert status == 200
    assert 'id="composer-input"' in html
    for name in ("app.js", "style.css"):
        assert (await call(http, f"{admin_sandbox.api_server}/static/{name}"))[0] == 200


async def test_members_are_listed_created_and_talk(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    api = f"{admin_sandbox.api_server}/sandbox/api"
    status, users = await call(http, f"{api}/users")
    assert (status, [(u["id"], u["first_name"], u["admin"]) for u in users]) == (
        200,
        [(7, "Boss", True)],
    )

    status, mei = await call(
        http, f"{api}/users", {"first_name": "Mei", "language_code": "zh-hans"}
    )
    assert (status, mei["language_code"], mei["admin"]) == (201, "zh-hans", False)
    assert (await call(http, f"{api}/users", {"first_name": "X", "language_code": "fr"}))[0] == 400

    status, sent = await call(http, f"{api}/users/{mei['id']}/send", {"text": "/start"})
    assert status == 200
    member = admin_sandbox.user(mei["id"])
    assert member.messages[0].text == "/start"

    async with ptb_bot_for(admin_sandbox) as bot:
        await bot.send_message(
            member.id,
            "<b>Hi</b> Mei",
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]]),
        )
        await bot.send_photo(member.id, png())
        await bot.set_my_commands([telegram.BotCommand("start", "开始")], language_code="zh")
    status, chat = await call(http, f"{api}/users/{mei['id']}/chat")
    text_message = chat["messages"][1]
    assert text_message["text"] == "Hi Mei"
    assert text_message["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert text_message["buttons"] == [[{"text": "Go", "callback_data": "go", "url": None}]]
    assert chat["commands"] == [{"command": "start", "description": "开始"}]
    async with http.get(admin_sandbox.api_server + chat["messages"][2]["photo"]) as response:
        assert (response.status, response.content_type) == (200, "image/png")
        assert await response.read() == png()

    status, pressed = await call(
        http,
        f"{api}/users/{mei['id']}/press",
        {"message_id": text_message["message_id"], "text": "Go"},
    )
    assert status == 200
    assert pressed["update_id"] == sent["update_id"] + 1


async def test_events_tell_the_page_which_chat_changed(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    boss = admin_sandbox.user(7)
    async with http.get(f"{admin_sandbox.api_server}/sandbox/api/events") as stream:
        assert (await stream.content.readline()).startswith(b": connected")
        boss.send("hello")
        events: list[dict[str, Any]] = []
        while not any(e.get("type") == "chat" for e in events):
            line = await asyncio.wait_for(stream.content.readline(), 10)
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
    assert {"type": "chat", "user_id": 7} in events


async def test_paying_from_the_page_reports_a_refusal_as_a_notice(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    boss = admin_sandbox.user(7)
    boss.send("buy")
    api = f"{admin_sandbox.api_server}/sandbox/api"
    async with ptb_bot_for(admin_sandbox) as bot:
        invoice = await bot.send_invoice(
            boss.id, "Box", "A blind box", "box-1", "XTR", [LabeledPrice("Box", 5)]
        )
        await bot.get_updates(offset=-1, timeout=0)
        queue = admin_sandbox.world.signal.subscribe()
        status, _ = await call(http, f"{api}/users/7/pay", {"message_id": invoice.message_id})
        assert status == 202
        updates = await bot.get_updates(timeout=5)
        query = updates[-1].pre_checkout_query
        assert query is not None
        await bot.answer_pre_checkout_query(query.id, ok=False, error_message="Out of stock")
        while True:
            event = await asyncio.wait_for(queue.get(), 10)
            if event["type"] == "notice":
                break
    assert event == {
        "type": "notice",
        "user_id": 7,
        "text": "Payment refused: Out of stock",
        "show_alert": True,
    }


async def test_files_uploaded_in_the_page_reach_the_bot(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData()
    form.add_field("file", b"C1\nC2\n", filename="codes.txt", content_type="text/plain")
    async with http.post(
        f"{admin_sandbox.api_server}/sandbox/api/users/7/upload", data=form
    ) as response:
        assert response.status == 200
    assert admin_sandbox.user(7).messages[-1].document == ("codes.txt", b"C1\nC2\n", "text/plain")
    status, user = await call(
        http, f"{admin_sandbox.api_server}/sandbox/api/users/7/block", {"blocked": True}
    )
    assert (status, user["blocked"], admin_sandbox.user(7).blocked) == (200, True, True)
