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
from bot.sandbox.page import start_payload
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
    assert text_message["buttons"] == [
        [{"text": "Go", "callback_data": "go", "url": None, "start": None}]
    ]
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


@pytest.mark.parametrize(
    ("language", "said"),
    [("en", "Payment refused: Out of stock"), ("zh-hans", "付款被拒绝：Out of stock")],
)
async def test_paying_from_the_page_reports_a_refusal_as_a_notice(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession, language: str, said: str
) -> None:
    boss = admin_sandbox.user(7)
    boss.language_code = language  # the app's own words are in the member's app language
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
        "text": said,
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


# --- A new member's username ------------------------------------------------------------------


async def test_a_new_member_may_have_a_username_checked_as_telegram_checks_it(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    api = f"{admin_sandbox.api_server}/sandbox/api"

    status, ann = await call(http, f"{api}/users", {"first_name": "Ann", "username": "@Ann_Lee"})

    assert (status, ann["username"]) == (201, "Ann_Lee")
    admin_sandbox.user(ann["id"]).send("/start")
    async with ptb_bot_for(admin_sandbox) as bot:
        update = (await bot.get_updates(timeout=0))[-1]
    assert update.effective_user is not None
    assert update.effective_user.username == "Ann_Lee"  # what the bot is told
    status, plain = await call(http, f"{api}/users", {"first_name": "Bo", "username": " "})
    assert (status, plain["username"]) == (201, None)
    status, none = await call(http, f"{api}/users", {"first_name": "Cy", "username": None})
    assert (status, none["username"]) == (201, None)

    rule = "5-32 letters (a-z), digits and underscores, starting with a letter"
    for bad in ("ann", "a" * 33, "ann lee", "ann-lee", "1annie", "_annie", "安妮安妮安妮"):
        status, said = await call(http, f"{api}/users", {"first_name": "X", "username": bad})
        assert (status, said) == (400, f'"{bad}" is not a Telegram username: {rule}'), bad
    status, said = await call(http, f"{api}/users", {"first_name": "X", "username": 12345})
    assert (status, said) == (400, "a username is text")
    status, said = await call(http, f"{api}/users", {"first_name": "X", "username": "ann_LEE"})
    assert (status, said) == (409, f"@ann_LEE is taken by Ann ({ann['id']})")
    bot = admin_sandbox.bot_user["username"]
    status, said = await call(http, f"{api}/users", {"first_name": "X", "username": bot})
    assert (status, said) == (409, f"@{bot} is the bot's username")
    status, users = await call(http, f"{api}/users")
    assert [u["username"] for u in users] == [None, "Ann_Lee", None, None]


# --- Links to the bot open in the page as /start PAYLOAD --------------------------------------


def test_a_link_to_the_bot_is_its_start_payload_and_any_other_link_is_not() -> None:
    bot = "pointsmall_sandbox_bot"
    assert start_payload(f"https://t.me/{bot}?start=i-Ab_9", bot) == "i-Ab_9"
    assert start_payload(f"t.me/{bot}?start=c-XY", bot) == "c-XY"  # as written in a message
    assert start_payload("http://telegram.me/PointsMall_Sandbox_Bot?start=x", bot) == "x"
    assert start_payload(f"tg://resolve?domain={bot}&start=s-1", bot) == "s-1"
    # The bot's chat without a (valid) start parameter: it only opens the chat.
    assert start_payload(f"https://t.me/{bot}", bot) == ""
    assert start_payload(f"https://t.me/{bot}?start=two%20words", bot) == ""
    assert start_payload(f"https://t.me/{bot}?start={'x' * 65}", bot) == ""
    for other in (
        "https://t.me/another_bot?start=i-1",
        "https://t.me/share/url?url=https%3A%2F%2Ft.me%2Fx",
        f"https://example.com/{bot}?start=i-1",
        "https://example.com/",
        "mailto:ann@example.com",
        "https://[::1",
    ):
        assert start_payload(other, bot) is None, other


async def test_links_in_messages_and_buttons_say_what_they_start(
    admin_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    boss = admin_sandbox.user(7)
    boss.send("/invite")
    bot = admin_sandbox.bot_user["username"]
    invite = f"https://t.me/{bot}?start=i-AbC"
    text = (
        f"Your link: {invite}. Claim <a href='https://t.me/{bot}?start=c-XYZ'>here</a>,"
        f" <b>or t.me/{bot}?start=s-tok</b> (docs: https://example.com/a?b=1)."
        f" <code>https://t.me/{bot}?start=no</code> 你好 https://t.me/{bot}"
    )
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Join", url=invite)],
            [InlineKeyboardButton("Share", url=f"https://t.me/share/url?url={invite}")],
            [InlineKeyboardButton("Docs", url="https://example.com/")],
        ]
    )
    async with ptb_bot_for(admin_sandbox) as client:
        sent = await client.send_message(7, text, parse_mode="HTML", reply_markup=keyboard)

    status, chat = await call(http, f"{admin_sandbox.api_server}/sandbox/api/users/7/chat")

    assert status == 200
    assert chat["bot"] == {"username": bot, "first_name": "PointsMall Sandbox"}
    assert chat["user"]["started"] is True
    message = next(m for m in chat["messages"] if m["message_id"] == sent.message_id)
    shown = message["text"]
    units = shown.encode("utf-16-le")

    def covered(entity: dict[str, Any]) -> str:
        start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
        return units[start:end].decode("utf-16-le")

    links = [
        (e["type"], covered(e), e.get("url"), e["start"])
        for e in message["entities"]
        if e["type"] in ("url", "text_link")
    ]
    assert links == [
        ("url", invite, None, "i-AbC"),
        ("text_link", "here", f"https://t.me/{bot}?start=c-XYZ", "c-XYZ"),
        ("url", f"t.me/{bot}?start=s-tok", None, "s-tok"),  # inside the bold: still a link
        ("url", "https://example.com/a?b=1", None, None),  # its ")." left out
        ("url", f"https://t.me/{bot}", None, ""),  # after CJK text: UTF-16 offsets
    ]
    assert [e["type"] for e in message["entities"] if e["type"] not in ("url", "text_link")] == [
        "bold",
        "code",
    ]
    assert [[b["start"] for b in row] for row in message["buttons"]] == [["i-AbC"], [None], [None]]
