"""Linking the shop account from the chat: the member shares their phone, Telegram-verified.

Members press "Link shop account", share their own contact with the reply keyboard's button,
and the shop's orders for that number (parked until then, or arriving later) earn them points.
Someone else's contact is refused; Cancel takes the keyboard away. On both frameworks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import aiohttp
import pytest

from bot.screens import Button, ContactRequest, Invoice, Screen, edit_mode
from core.commerce.shop import OrderIn, OrderOutcome
from tests.bot.conftest import ChatFactory
from tests.support.chat import Chat, Member

SHOP = """
[mall]
currency = "CNY"

[earning]
points_per_unit = 1

[shop]
phone_hash_key = "a-test-key-for-phone-hashes-32-characters-long"
"""
LINK, SHARE, CANCEL = "🔗 Link shop account", "📱 Share my phone number", "Cancel"


@pytest.fixture
async def chat(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    """The test mall, earning a point a yuan, with phones matched by their keyed hash."""
    async with make_chat(SHOP) as opened:
        yield opened


def e164(member: Member) -> str:
    """The member's number as a shop writes it (Telegram gives it without the ``+``)."""
    return f"+{member.phone}"


async def shop_order(chat: Chat, order_id: str, phone: str, total: str) -> OrderOutcome:
    order = OrderIn(order_id, {"phone": phone}, Decimal(total), "CNY")
    return await chat.mall.shop.accept_order(order, chat.now)


async def balance(chat: Chat, member: Member) -> int:
    return (await chat.mall.statements.balance(member.id)).balance


async def test_ann_shares_her_phone_and_the_order_waiting_for_it_is_credited(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    parked = await shop_order(chat, "A-1001", e164(ann), "120.00")
    assert parked.status == "parked"
    assert LINK in ann.buttons()

    asked = await ann.press(LINK)

    assert "Link your shop account" in asked.text
    assert "earn points here automatically" in asked.text
    assert ann.buttons(asked) == []  # the keyboard is under the message box, not on the message
    assert ann.reply_keyboard == [SHARE, CANCEL]
    assert asked.reply_markup is None

    menu = await ann.press_reply(SHARE)

    linked = ann.messages[-2]
    assert "✅ Linked! Your shop purchases with this phone number now earn points" in linked.text
    assert "🛍 Order A-1001: +120 points" in linked.text
    assert ann.reply_keyboard is None
    assert "Your balance: 220 points" in menu.text  # 100 for joining, 120 for the order
    assert LINK in ann.buttons(menu)
    assert await balance(chat, ann) == 220
    assert await chat.mall.shop.member_for({"phone": e164(ann)}) == ann.id
    assert await chat.mall.inputs.peek(ann.id, chat.now) is None


async def test_the_link_command_asks_the_same(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    asked = await ann.send("/link")

    assert "Link your shop account" in asked.text
    assert ann.reply_keyboard == [SHARE, CANCEL]


async def test_an_order_after_linking_earns_at_once(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/link")
    await ann.press_reply(SHARE)
    assert "Order" not in ann.messages[-2].text  # nothing was waiting

    later = await shop_order(chat, "A-2002", e164(ann), "58.00")

    assert (later.status, later.telegram_id, later.points) == ("credited", ann.id, 58)
    assert await balance(chat, ann) == 158


async def test_someone_elses_contact_is_refused_and_links_nothing(chat: Chat) -> None:
    ann, bob = chat.member("Ann"), chat.member("Bob")
    await ann.start()
    await bob.start()
    await shop_order(chat, "B-1", e164(bob), "300.00")
    await ann.send("/link")

    refused = await ann.share_contact(phone=bob.phone, user_id=bob.id)

    assert "That is not your own contact, so nothing was linked" in refused.text
    assert f"“{SHARE}”" in refused.text
    assert ann.reply_keyboard == [SHARE, CANCEL]  # she can still share her own
    assert await chat.mall.shop.member_for({"phone": e164(bob)}) is None
    assert await balance(chat, ann) == 100
    assert await balance(chat, bob) == 100

    # Her own number with Bob's id is not hers either: Telegram verified it for nobody.
    await ann.share_contact(phone=ann.phone, user_id=bob.id)
    assert "not your own contact" in ann.last.text
    assert await chat.mall.shop.member_for({"phone": e164(ann)}) is None

    await ann.press_reply(SHARE)
    assert "✅ Linked!" in ann.messages[-2].text
    assert await chat.mall.shop.member_for({"phone": e164(ann)}) == ann.id
    assert await chat.mall.shop.member_for({"phone": e164(bob)}) is None


async def test_a_contact_sent_without_being_asked_links_the_same_way(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await shop_order(chat, "A-7", e164(ann), "10.00")

    menu = await ann.share_contact()

    assert "🛍 Order A-7: +10 points" in ann.messages[-2].text
    assert "Your balance: 110 points" in menu.text
    assert await chat.mall.shop.member_for({"phone": e164(ann)}) == ann.id


async def test_cancel_takes_the_keyboard_away_and_shows_the_menu(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/link")

    menu = await ann.press_reply(CANCEL)

    assert ann.messages[-2].text == "OK, nothing was linked."
    assert "What would you like to do?" in menu.text
    assert ann.reply_keyboard is None
    assert await chat.mall.inputs.peek(ann.id, chat.now) is None
    assert await chat.mall.shop.member_for({"phone": e164(ann)}) is None


async def test_a_typed_number_is_not_taken_and_cancel_works_after_the_question_expired(
    chat: Chat,
) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/link")

    typed = await ann.send(f"+{ann.phone}")

    assert "a typed number can't be verified" in typed.text
    assert ann.reply_keyboard == [SHARE, CANCEL]
    assert await chat.mall.shop.member_for({"phone": e164(ann)}) is None

    chat.now += timedelta(hours=1)  # the question is long gone; the keyboard is still there
    await ann.press_reply(CANCEL)
    assert ann.messages[-2].text == "OK, nothing was linked."
    assert ann.reply_keyboard is None


async def test_a_number_the_mall_cannot_read_gets_an_answer_and_the_way_back(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/link")

    menu = await ann.share_contact(phone="999")

    assert "can't read as a phone number, so nothing was linked" in ann.messages[-2].text
    assert ann.reply_keyboard is None
    assert "What would you like to do?" in menu.text


async def test_without_a_hash_key_the_mall_says_phones_cannot_be_linked(
    make_chat: ChatFactory,
) -> None:
    async with make_chat() as chat:
        ann = chat.member("Ann")
        await ann.start()
        await ann.send("/link")

        await ann.press_reply(SHARE)

        assert "isn't available in this mall yet" in ann.messages[-2].text
        assert ann.reply_keyboard is None


async def test_someone_who_has_not_joined_is_shown_the_way_in(chat: Chat) -> None:
    zoe = chat.member("Zoe")

    reply = await zoe.share_contact()

    assert "You are not a member yet" in reply.text
    assert zoe.buttons(reply) == ["✨ Join"]
    assert await chat.mall.shop.member_for({"phone": e164(zoe)}) is None


async def test_linking_in_chinese(chat: Chat) -> None:
    li, mei = chat.member("李雷", language="zh-hans"), chat.member("梅", language="zh-hans")
    await li.start()
    await shop_order(chat, "C-88", e164(li), "66.00")
    assert "🔗 绑定商城账号" in li.buttons()

    asked = await li.press("🔗 绑定商城账号")
    assert "绑定商城账号" in asked.text
    assert li.reply_keyboard == ["📱 分享我的手机号", "取消"]

    refused = await li.share_contact(phone=mei.phone, user_id=mei.id)
    assert "这不是你自己的联系人" in refused.text

    await li.press_reply("📱 分享我的手机号")
    assert "绑定成功" in li.messages[-2].text
    assert "🛍 订单 C-88：+66 积分" in li.messages[-2].text
    assert li.reply_keyboard is None

    await li.send("/link")
    await li.press_reply("取消")
    assert li.messages[-2].text == "好的，没有绑定任何号码。"
    assert all("您" not in message.text for message in li.messages)


# --- The chat page: the keyboard it shows, and the contact its button shares ---------------------


async def test_the_chat_page_shows_the_contact_button_and_shares_the_members_contact(
    chat: Chat,
) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/link")
    api = f"{chat.sandbox.api_server}/sandbox/api/users/{ann.id}"

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{api}/chat") as response:
            shown = await response.json()
        assert shown["reply_keyboard"] == [
            [{"text": SHARE, "request_contact": True}],
            [{"text": CANCEL, "request_contact": False}],
        ]
        assert shown["user"]["phone_number"] == ann.phone

        async with http.post(f"{api}/contact", json={}) as response:
            assert response.status == 200
            update_id = (await response.json())["update_id"]
        await chat.bot.handled.wait(update_id)

        async with http.get(f"{api}/chat") as response:
            after = await response.json()
    assert after["reply_keyboard"] is None
    sent = [m["contact"] for m in after["messages"] if m["contact"] is not None]
    assert sent == [{"phone_number": ann.phone, "first_name": "Ann", "user_id": ann.id}]
    assert await chat.mall.shop.member_for({"phone": e164(ann)}) == ann.id


# --- Screens with a reply keyboard ---------------------------------------------------------------


def test_a_message_carries_inline_buttons_or_a_reply_keyboard_never_both() -> None:
    request = ContactRequest("📱 Share", "Cancel")
    with pytest.raises(ValueError, match="not both"):
        Screen("x", ((Button("Go", data="go"),),), contact_request=request)
    with pytest.raises(ValueError, match="not both"):
        Screen("x", ((Button("Go", data="go"),),), remove_keyboard=True)
    with pytest.raises(ValueError, match="both show and remove"):
        Screen("x", contact_request=request, remove_keyboard=True)
    with pytest.raises(ValueError, match="invoice"):
        Screen("x", invoice=Invoice("T", "D", "p", "L", 1), contact_request=request)


def test_a_screen_with_a_reply_keyboard_is_always_sent_anew() -> None:
    request = ContactRequest("📱 Share", "Cancel")
    for screen in (Screen("x", contact_request=request), Screen("x", remove_keyboard=True)):
        assert edit_mode(screen, target_has_media=False) == "send"
        assert edit_mode(screen, target_has_media=True) == "send"
    assert edit_mode(Screen("x"), target_has_media=False) == "text"
