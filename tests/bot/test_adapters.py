"""aiogram beside python-telegram-bot: the adapters only translate.

The conversation suite runs on both frameworks (conftest.py); the first test here checks the
stronger promise behind it: the same member actions make the same Bot API calls on either, to
the parameter, so no wording, button or rule can live in one adapter only.
"""

from __future__ import annotations

import random
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.running import FRAMEWORKS, Framework
from bot.sandbox.params import Upload
from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import START, ChatFactory
from tests.bot.test_shop import CATALOG, RICH, open_beans_invoice, open_item
from tests.conftest import at
from tests.support.chat import open_chat
from tests.support.configs import make_config
from tests.support.databases import SqliteTemplate

# How each framework starts and polls differs (python-telegram-bot deletes the webhook twice);
# query ids are the sandbox's random ones; a framework picks an upload's declared content type.
PLUMBING = {"getMe", "getUpdates", "deleteWebhook"}
RANDOM = {"callback_query_id", "pre_checkout_query_id"}


def same_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    """Confirm tokens, invite codes and seeds the same on every run: each module draws its
    ``secrets`` from a stream seeded with its name, so how much a framework or the sandbox draws
    does not shift what the mall draws."""
    streams: dict[str, random.Random] = {}

    def stream() -> random.Random:
        caller = sys._getframe(2).f_globals.get("__name__", "")  # stream <- lambda <- caller
        return streams.setdefault(caller, random.Random(caller))

    monkeypatch.setattr(secrets, "token_bytes", lambda n=32: stream().randbytes(n))
    monkeypatch.setattr(secrets, "token_hex", lambda n=32: stream().randbytes(n).hex())
    monkeypatch.setattr(secrets, "choice", lambda seq: stream().choice(seq))
    monkeypatch.setattr(secrets, "randbelow", lambda n: stream().randrange(n))


def comparable(value: Any) -> Any:
    return (value.filename, value.content) if isinstance(value, Upload) else value


async def calls(
    framework: Framework, database_url: str, picture: Path
) -> list[tuple[str, dict[str, Any]]]:
    """A member's visit: a menu, an edit, an alert, photos, an invoice paid, a document."""
    catalog = (
        f"{CATALOG}\n[[items]]\nsku = 'cake'\ntitle = 'Cake'\ncategory = 'Sweets'\n"
        f"kind = 'virtual'\nprice = 10\nphoto = '{picture}'\n"
    )
    async with open_chat(make_config(RICH), database_url, at(START), framework) as chat:
        await load_catalog(chat.mall.db, chat.mall.config, catalog, chat.now)
        ann = chat.member("Ann", username="ann")
        await ann.start()
        await ann.press("✅ Check in")
        await ann.send("/invite")  # a picture made on the fly
        await ann.press_data("ci", ann.messages[0])  # tapped again: an alert
        await open_item(ann, "Sweets (1)", "1. Cake")  # a photo uploaded
        await ann.press("⬅️ Back")  # from a photo: a new message
        await open_item(ann, "Sweets (1)", "1. Cake")  # the photo again, by its file id
        await open_beans_invoice(chat, ann)
        await ann.pay()
        await ann.send("/privacy")
        await ann.press("📤 Export my data")
        await ann.press_data("no-such-button")
        return [
            (method, {k: comparable(v) for k, v in params.items() if k not in RANDOM})
            for method, params in chat.sandbox.requests
            if method not in PLUMBING
        ]


Calls = list[tuple[str, dict[str, Any]]]


def in_order(made: Calls) -> tuple[Calls, int]:
    """The calls but the empty press answers, and how many of those there were."""
    plain = [
        (method, params)
        for method, params in made
        if method == "answerCallbackQuery" and not params.get("text")
    ]
    return [call for call in made if call not in plain], len(plain)


async def test_both_frameworks_make_the_same_calls_for_the_same_visit(
    sqlite_template: SqliteTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    picture = tmp_path / "cake.png"
    Image.new("RGB", (64, 40), (200, 120, 60)).save(picture)
    made = {}
    for framework in FRAMEWORKS:
        same_randomness(monkeypatch)
        made[framework] = await calls(framework, sqlite_template.copy_url(tmp_path), picture)

    # An empty answer to a press (it only stops the spinner) goes alongside the edit or message
    # (bot.answering), so where it lands among them is the network's doing: those are compared
    # as a count, every other call (answers with words included) in order and in full.
    ptb, plain_ptb = in_order(made["ptb"])
    aiogram, plain_aiogram = in_order(made["aiogram"])
    assert plain_ptb == plain_aiogram
    assert plain_ptb >= 5
    assert [method for method, _ in ptb] == [method for method, _ in aiogram]
    assert {"sendPhoto", "sendInvoice", "answerPreCheckoutQuery", "sendDocument"} <= {
        method for method, _ in ptb
    }
    for on_ptb, on_aiogram in zip(ptb, aiogram, strict=True):
        assert on_ptb == on_aiogram


async def test_admins_find_the_admin_commands_in_their_own_chats_menu(
    make_chat: ChatFactory,
) -> None:
    async with make_chat("[telegram]\nadmins = [4242, 4343]") as chat:
        menus = chat.sandbox.commands
        for language in ("", "zh"):
            everyone = [name for name, _ in menus[("default", language)]]
            assert "checkin" in everyone
            assert "admin" not in everyone
            for admin in (4242, 4343):
                own = [name for name, _ in menus[(f"chat:{admin}", language)]]
                assert own[: len(everyone)] == everyone
                assert "admin" in own[len(everyone) :]


# --- Contacts and reply keyboards ---------------------------------------------------------------

PHONES = '[shop]\nphone_hash_key = "a-test-key-for-phone-hashes-32-characters-long"\n'


async def link_calls(framework: Framework, database_url: str) -> list[tuple[str, dict[str, Any]]]:
    """A member links their phone: the contact keyboard, a refusal, Cancel, then their own."""
    async with open_chat(make_config(PHONES), database_url, at(START), framework) as chat:
        ann, bob = chat.member("Ann"), chat.member("Bob")
        await ann.start()
        await ann.press("🔗 Link shop account")  # from an inline button to a reply keyboard
        await ann.share_contact(phone=bob.phone, user_id=bob.id)
        await ann.press_reply("Cancel")
        await ann.send("/link")
        await ann.press_reply("📱 Share my phone number")
        assert await chat.mall.shop.member_for({"phone": f"+{ann.phone}"}) == ann.id
        return [
            (method, {k: v for k, v in params.items() if k not in RANDOM})
            for method, params in chat.sandbox.requests
            if method not in PLUMBING
        ]


async def test_both_frameworks_ask_for_a_contact_and_take_it_with_the_same_calls(
    sqlite_template: SqliteTemplate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = {}
    for framework in FRAMEWORKS:
        same_randomness(monkeypatch)
        made[framework] = await link_calls(framework, sqlite_template.copy_url(tmp_path))

    ptb, aiogram = made["ptb"], made["aiogram"]
    assert ptb == aiogram
    markups = [params.get("reply_markup") for method, params in ptb if method == "sendMessage"]
    asking = {
        "keyboard": [
            [{"text": "📱 Share my phone number", "request_contact": True}],
            [{"text": "Cancel"}],
        ],
        "resize_keyboard": True,
        "one_time_keyboard": True,
    }
    assert markups.count(asking) == 3  # asked from the menu, again after the refusal, by /link
    assert markups.count({"remove_keyboard": True}) == 2  # cancelled, then linked


def contact_update(sender: int, phone: str, owner: int | None) -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Ann"}
    if owner is not None:
        contact["user_id"] = owner
    return {
        "update_id": 7,
        "message": {
            "message_id": 3,
            "date": 1_772_400_000,
            "chat": {"id": sender, "type": "private", "first_name": "Ann"},
            "from": {"id": sender, "is_bot": False, "first_name": "Ann", "language_code": "en"},
            "contact": contact,
        },
    }


@pytest.mark.parametrize("owner", [42, 43, None])
async def test_a_shared_contact_becomes_the_same_event_on_both(owner: int | None) -> None:
    import telegram
    from aiogram import Bot as AiogramBot
    from aiogram.types import Update as AiogramUpdate

    from bot.aiogram import adapter as aiogram_adapter
    from bot.events import Contact
    from bot.ptb import adapter as ptb_adapter

    raw = contact_update(42, "8613800138000", owner)
    on_ptb = ptb_adapter.to_event(telegram.Update.de_json(raw, None), "mall_bot")
    bot = AiogramBot("123456:test-token-for-the-adapter")
    try:
        on_aiogram = aiogram_adapter.to_event(AiogramUpdate.model_validate(raw), bot, "mall_bot")
    finally:
        await bot.session.close()

    assert on_ptb == on_aiogram
    assert on_ptb is not None
    assert on_ptb.sender.user_id == 42
    assert on_ptb.action == Contact("8613800138000", owner)
    assert "8613800138000" not in repr(on_ptb.action)  # logs print actions: no phone in them


def test_both_render_a_reply_keyboard_and_its_removal_alike() -> None:
    from bot.aiogram.adapter import reply_markup as on_aiogram
    from bot.ptb.adapter import reply_markup as on_ptb
    from bot.screens import Button, ContactRequest, Screen

    def dumped(markup: Any) -> Any:
        if hasattr(markup, "model_dump"):
            return markup.model_dump(exclude_none=True)
        return None if markup is None else markup.to_dict()

    for screen in (
        Screen("x", contact_request=ContactRequest("📱 Share", "Cancel")),
        Screen("x", remove_keyboard=True),
        Screen("x", ((Button("Go", data="go"),),)),
        Screen("x"),
    ):
        assert dumped(on_ptb(screen)) == dumped(on_aiogram(screen)), screen
    asking = dumped(on_ptb(Screen("x", contact_request=ContactRequest("📱 Share", "Cancel"))))
    assert asking["keyboard"][0][0] == {"text": "📱 Share", "request_contact": True}
    assert dumped(on_ptb(Screen("x", remove_keyboard=True))) == {"remove_keyboard": True}
