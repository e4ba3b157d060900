"""Requests Telegram refuses are refused the same way, in Telegram's words and shape."""

from __future__ import annotations

from typing import Any

import aiogram
import aiohttp
import pytest
import telegram
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.sandbox import Sandbox, SandboxUser


async def post(sandbox: Sandbox, method: str, token: str | None = None, **body: Any) -> Any:
    """Status and JSON of a raw Bot API call."""
    url = f"{sandbox.api_server}/bot{token or sandbox.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


@pytest.fixture
def ann(sandbox: Sandbox) -> SandboxUser:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    return ann


async def refusal(call: Any) -> str:
    with pytest.raises(TelegramBadRequest) as raised:
        await call
    return str(raised.value.message)


async def test_text_limits_count_characters_after_entities(
    sandbox: Sandbox, aio: aiogram.Bot, ann: SandboxUser
) -> None:
    fits = "<b>" + "a" * 4096 + "</b>"
    assert (await aio.send_message(ann.id, fits, parse_mode="HTML")).text == "a" * 4096
    too_long = await refusal(aio.send_message(ann.id, "a" * 4097))
    assert too_long == "Bad Request: message is too long"


async def test_a_caption_over_1024_characters_is_refused(
    sandbox: Sandbox, aio: aiogram.Bot, ann: SandboxUser
) -> None:
    from aiogram.types import BufferedInputFile

    from tests.sandbox.conftest import png

    photo = BufferedInputFile(png(), "p.png")
    message = await refusal(aio.send_photo(ann.id, photo, caption="c" * 1025))
    assert message == "Bad Request: message caption is too long"


@pytest.mark.parametrize("text", ["", "   ", "<b></b>"])
async def test_empty_text_is_refused(sandbox: Sandbox, ann: SandboxUser, text: str) -> None:
    status, body = await post(sandbox, "sendMessage", chat_id=ann.id, text=text, parse_mode="HTML")
    assert (status, body) == (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
    )


async def test_callback_data_over_64_bytes_is_refused(
    sandbox: Sandbox, aio: aiogram.Bot, ann: SandboxUser
) -> None:
    def markup(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="x", callback_data=data)]]
        )

    await aio.send_message(ann.id, "ok", reply_markup=markup("é" * 32))  # 64 bytes
    message = await refusal(aio.send_message(ann.id, "no", reply_markup=markup("é" * 32 + "x")))
    assert message == "Bad Request: BUTTON_DATA_INVALID"


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<blink>hi</blink>", 'Unsupported start tag "blink" at byte offset 0'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ],
)
async def test_html_telegram_cannot_parse_is_refused(
    sandbox: Sandbox, aio: aiogram.Bot, ann: SandboxUser, markup: str, reason: str
) -> None:
    message = await refusal(aio.send_message(ann.id, markup, parse_mode="HTML"))
    assert message == f"Bad Request: can't parse entities: {reason}"


async def test_an_edit_that_changes_nothing_is_refused(
    sandbox: Sandbox, aio: aiogram.Bot, ann: SandboxUser
) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]]
    )
    sent = await aio.send_message(ann.id, "<b>Same</b>", parse_mode="HTML", reply_markup=markup)
    same = aio.edit_message_text(
        text="<b>Same</b>",
        chat_id=ann.id,
        message_id=sent.message_id,
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert await refusal(same) == (
        "Bad Request: message is not modified: specified new message content and reply markup"
        " are exactly the same as a current content and reply markup of the message"
    )
    # Dropping the keyboard, or the bold, is a change.
    await aio.edit_message_text(
        text="<b>Same</b>", chat_id=ann.id, message_id=sent.message_id, parse_mode="HTML"
    )
    await aio.edit_message_text(text="Same", chat_id=ann.id, message_id=sent.message_id)


async def test_unknown_chats_and_messages_are_refused(
    sandbox: Sandbox, aio: aiogram.Bot, ann: SandboxUser
) -> None:
    assert await refusal(aio.send_message(42, "hi")) == "Bad Request: chat not found"
    assert (
        await refusal(aio.edit_message_text(text="x", chat_id=ann.id, message_id=999))
        == "Bad Request: message to edit not found"
    )
    assert (
        await refusal(aio.delete_message(ann.id, 999)) == "Bad Request: message to delete not found"
    )
    own = ann.messages[0].message_id
    assert (
        await refusal(aio.edit_message_text(text="x", chat_id=ann.id, message_id=own))
        == "Bad Request: message can't be edited"
    )


async def test_a_member_who_blocked_the_bot_cannot_be_written_to(
    sandbox: Sandbox, aio: aiogram.Bot, ptb: telegram.Bot, ann: SandboxUser
) -> None:
    ann.block()
    with pytest.raises(TelegramForbiddenError) as raised:
        await aio.send_message(ann.id, "still there?")
    assert raised.value.message == "Forbidden: bot was blocked by the user"
    with pytest.raises(telegram.error.Forbidden):
        await ptb.send_message(ann.id, "still there?")
    status, body = await post(sandbox, "sendMessage", chat_id=ann.id, text="x")
    assert (status, body["error_code"]) == (403, 403)

    ann.unblock()
    await aio.send_message(ann.id, "welcome back")
    updates = await aio.get_updates(timeout=0)
    statuses = [
        (u.my_chat_member.old_chat_member.status, u.my_chat_member.new_chat_member.status)
        for u in updates
        if u.my_chat_member is not None
    ]
    assert statuses == [("member", "kicked"), ("kicked", "member")]


async def test_the_bot_cannot_write_first_to_someone_who_never_wrote_to_it(
    sandbox: Sandbox, aio: aiogram.Bot
) -> None:
    stranger = sandbox.add_user("Stranger")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await aio.send_message(stranger.id, "hello")


async def test_unknown_methods_and_wrong_tokens_get_telegrams_answers(sandbox: Sandbox) -> None:
    assert await post(sandbox, "sendTelepathy") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    assert await post(sandbox, "getMe", token="123456:wrong") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    status, body = await post(sandbox, "GETME")
    assert (status, body["result"]["username"]) == (200, "pointsmall_sandbox_bot")
