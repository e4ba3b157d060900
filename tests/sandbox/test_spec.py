"""Every request is checked against the Bot API's method list; bad ones are recorded."""

from __future__ import annotations

import asyncio
from typing import Any

import aiogram
import aiohttp
import pytest
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.sandbox import ApiSpec, Sandbox
from bot.sandbox.dispatch import HANDLERS
from bot.sandbox.spec import find_api_json

API_JSON = find_api_json()
needs_api_json = pytest.mark.skipif(
    API_JSON is None, reason="Telegram's api.json is not on this machine (../shared)"
)


async def post(sandbox: Sandbox, method: str, body: dict[str, Any]) -> tuple[int, Any]:
    url = f"{sandbox.api_server}/bot{sandbox.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_a_missing_required_field_is_recorded_and_refused(sandbox: Sandbox) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    status, body = await post(sandbox, "sendMessage", {"chat_id": ann.id})
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, body = await post(sandbox, "answerCallbackQuery", {})
    assert status == 400
    assert sandbox.violations == [
        "sendMessage: required field 'text' is missing",
        "answerCallbackQuery: required field 'callback_query_id' is missing",
    ]


async def test_an_unknown_field_is_recorded_but_tolerated_like_telegram(sandbox: Sandbox) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    status, _ = await post(
        sandbox, "sendMessage", {"chat_id": ann.id, "text": "hi", "parse_mod": "HTML"}
    )
    assert status == 200
    assert sandbox.violations == ["sendMessage: unknown field 'parse_mod'"]


async def test_method_names_ignore_case_and_unknown_ones_are_recorded(sandbox: Sandbox) -> None:
    assert (await post(sandbox, "getme", {}))[0] == 200
    assert (await post(sandbox, "getMyBalance", {}))[0] == 404
    assert sandbox.violations == ["getMyBalance: no such Bot API method"]


async def test_requests_are_recorded_with_decoded_values(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    await ptb.send_message(ann.id, "hi", reply_markup=markup, disable_notification=True)
    method, params = sandbox.requests[-1]
    assert method == "sendMessage"
    assert params == {
        "chat_id": ann.id,
        "text": "hi",
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
    }


async def test_good_traffic_from_both_clients_leaves_no_violations(
    sandbox: Sandbox, ptb: telegram.Bot, aio: aiogram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    await ptb.get_updates(timeout=0)
    sent = await ptb.send_message(ann.id, "<b>a</b>", parse_mode="HTML")
    await ptb.edit_message_text("b", chat_id=ann.id, message_id=sent.message_id)
    await aio.send_message(ann.id, "c")
    await aio.send_chat_action(ann.id, "typing")
    await aio.delete_message(ann.id, sent.message_id)
    await asyncio.gather(ptb.get_webhook_info(), aio.get_webhook_info())
    assert len(sandbox.requests) >= 8
    assert sandbox.violations == []


def test_without_api_json_the_spec_comes_from_aiogram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTSMALL_BOT_API_SPEC", "/nonexistent/api.json")
    spec = ApiSpec.load()
    assert spec.source == "aiogram"
    assert spec.check("sendMessage", ["chat_id"]) == [
        "sendMessage: required field 'text' is missing"
    ]


@needs_api_json
def test_api_json_and_aiogram_agree_on_the_methods_the_sandbox_serves() -> None:
    import aiogram as aiogram_package

    official = ApiSpec.from_api_json(API_JSON)  # type: ignore[arg-type]
    models = ApiSpec.from_aiogram()
    same_version = official.version == aiogram_package.__api_version__
    for name in sorted(HANDLERS):
        ours, theirs = official.methods[name], models.methods[name]
        assert ours.name == theirs.name
        assert ours.required == theirs.required, name
        assert set(ours.fields) <= set(theirs.fields), name
        if same_version:
            assert set(theirs.fields) - set(ours.fields) <= models.deprecated[name], name


@needs_api_json
async def test_objects_the_server_returns_carry_every_required_field(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    from tests.sandbox.conftest import png

    spec = ApiSpec.from_api_json(API_JSON)  # type: ignore[arg-type]
    assert spec.missing_in_object("Message", {"message_id": 1, "chat": {"id": 1}}) == [
        "Message: required field 'date' is missing",
        "Message.chat: required field 'type' is missing",
    ]
    ann = sandbox.add_user("Ann", username="ann")
    ann.send("/start")
    ann.send_document("a.txt", b"a", mime_type="text/plain")
    url = f"{sandbox.api_server}/bot{sandbox.token}/"
    async with aiohttp.ClientSession() as session:

        async def result(method: str, **body: Any) -> Any:
            async with session.post(url + method, json=body) as response:
                payload = await response.json()
                assert payload["ok"], payload
                return payload["result"]

        sent = await result("sendMessage", chat_id=ann.id, text="<b>x</b>", parse_mode="HTML")
        problems = spec.missing_in_object("User", await result("getMe"), "getMe")
        problems += spec.missing_in_object("Message", sent, "sendMessage")
        photo = await ptb.send_photo(ann.id, png())
        problems += spec.missing_in_object("Message", photo.to_dict(), "sendPhoto")
        await result(
            "editMessageReplyMarkup",
            chat_id=ann.id,
            message_id=sent["message_id"],
            reply_markup={"inline_keyboard": [[{"text": "go", "callback_data": "go"}]]},
        )
        ann.press("go")
        ann.block()
        for update in await result("getUpdates"):
            problems += spec.missing_in_object("Update", update, f"update {update['update_id']}")
        problems += spec.missing_in_object("WebhookInfo", await result("getWebhookInfo"))
        file_id = sent_document_id(ann)
        problems += spec.missing_in_object("File", await result("getFile", file_id=file_id))
    assert problems == []


def sent_document_id(user: Any) -> str:
    for message in user.messages:
        if message.document is not None:
            return str(message.raw["document"]["file_id"])
    raise AssertionError("no document")
