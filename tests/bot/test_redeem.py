"""The Redeem press pressed twice: charged once, and the second press only says so.

Telegram refuses an edit that changes nothing ("message is not modified"): the second press of
a double tap must not edit the message again with the result the first press put there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.events import Command, Event, Paid, Press, Sender
from bot.sandbox import ChatMessage
from bot.screens import Edit, Output, Send
from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import ChatFactory
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "latte"
title = "Latte"
category = "Drinks"
kind = "coupon"
price = 300
codes = ["LATTE-1", "LATTE-2"]

[[items]]
sku = "tote"
title = "Canvas tote"
category = "Goods"
kind = "physical"
price = 400
"""
AGAIN = ("Already redeemed: this was done once and charged once.", True)


@pytest.fixture
async def mall_chat(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    async with make_chat("[members]\nsignup_bonus = 1000\n") as chat:
        await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
        yield chat


async def joined(chat: Chat) -> Member:
    ann = chat.member("Ann")
    await ann.start()
    return ann


async def balance(chat: Chat, member: Member) -> int:
    return (await chat.mall.statements.balance(member.id)).balance


async def confirmation(ann: Member, shelf: str, item: str, points: str) -> ChatMessage:
    """From /mall to the item's Redeem confirmation, as a member taps through."""
    await ann.send("/mall")
    await ann.press(shelf)
    await ann.press(item)
    return await ann.press(f"🎁 Redeem for {points} points")


async def pressed_three_times(
    chat: Chat, member: Member, confirm: ChatMessage
) -> tuple[list[Output], list[Output], list[Output]]:
    """The confirmation's Redeem handled once, again as a double tap, and again as the inbox
    hands it over after a crash (``Event.retried``): the outputs of each."""
    data = next(b.callback_data for row in confirm.buttons for b in row if b.text == "✅ Redeem")
    assert data is not None
    conversation = chat.runtime.conversation("bot")
    press = Press(data, confirm.message_id)
    sender = Sender(member.id, member.user.first_name, language_code="en")
    first = await conversation.handle(Event(sender, press))
    double_tap = await conversation.handle(Event(sender, press))
    return first, double_tap, await conversation.handle(Event(sender, press, retried=True))


def edits(chat: Chat, after: int) -> list[dict[str, object]]:
    return [
        params
        for method, params in chat.sandbox.requests[after:]
        if method in ("editMessageText", "editMessageCaption", "editMessageReplyMarkup")
    ]


async def test_a_double_tapped_redeem_edits_once_and_the_second_press_only_says_so(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = await joined(chat)
    confirm = await confirmation(ann, "Drinks (1)", "1. Latte", "300")
    before = len(chat.sandbox.requests)

    first = ann.user.press("✅ Redeem", confirm)
    done = await ann.press("✅ Redeem", confirm)
    await chat.bot.handled.wait(first)

    made = edits(chat, before)
    assert len(made) == 1, made
    assert int(str(made[0]["message_id"])) == confirm.message_id
    assert "🎟 Your code: LATTE-1" in done.text
    assert ann.notices[-2:] == [("🎉 Redeemed!", False), AGAIN]
    assert await balance(chat, ann) == 700
    entries = (await chat.mall.redemptions.list_for_member(ann.id)).entries
    assert [(e.sku, e.status) for e in entries] == [("latte", "completed")]


async def test_a_double_tapped_redeem_of_a_physical_reward_asks_for_the_address_once(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = await joined(chat)
    confirm = await confirmation(ann, "Goods (1)", "1. Canvas tote", "400")
    before = len(chat.sandbox.requests)

    first = ann.user.press("✅ Redeem", confirm)
    question = await ann.press("✅ Redeem", confirm)
    await chat.bot.handled.wait(first)

    assert len(edits(chat, before)) == 1
    assert question.text.startswith("📦 Where should we send Canvas tote?")
    done = await ann.send("1 Tea Street")
    assert "🎉 Redeemed Canvas tote for 400 points." in done.text
    assert await balance(chat, ann) == 600


async def test_an_address_typed_for_a_confirmation_redeemed_before_says_so(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = await joined(chat)
    confirm = await confirmation(ann, "Goods (1)", "1. Canvas tote", "400")
    redeem = confirm.button("✅ Redeem")
    assert redeem is not None
    assert redeem.callback_data is not None
    await ann.press("✅ Redeem", confirm)
    await ann.send("1 Tea Street")

    # The same confirmation once more (an old button, or a forwarded press): the address is
    # asked again, and what it redeems is the first redemption, told as such.
    await ann.press_data(redeem.callback_data, confirm)
    again = await ann.send("1 Tea Street")

    assert again.text.startswith("Already redeemed: this was done once and charged once.")
    assert "🎉 Redeemed Canvas tote for 400 points." in again.text
    assert await balance(chat, ann) == 600
    assert len((await chat.mall.redemptions.list_for_member(ann.id)).entries) == 1


async def test_the_result_screen_of_a_shipped_reward_says_shipped(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = await joined(chat)
    await confirmation(ann, "Goods (1)", "1. Canvas tote", "400")
    await ann.press("✅ Redeem")
    done = await ann.send("1 Tea Street")
    number = (await chat.mall.redemptions.list_for_member(ann.id)).entries[0].redemption_id
    await chat.mall.redemptions.fulfil(number, "SF1", chat.now)

    reply = await ann.press("✏️ Change address", done)

    assert ann.notices[-1] == ("This redemption can no longer take a new address.", True)
    assert "State: 🚚 shipped" in reply.text
    assert "handed over" not in reply.text


async def test_a_press_handled_again_after_a_crash_gets_the_whole_answer(mall_chat: Chat) -> None:
    """Not a double tap: the process that redeemed died before its answer reached the chat,
    and the inbox hands the same press over again (``Event.retried``)."""
    chat = mall_chat
    ann = await joined(chat)
    confirm = await confirmation(ann, "Drinks (1)", "1. Latte", "300")

    first, double_tap, after_crash = await pressed_three_times(chat, ann, confirm)

    def results(outputs: list[Output]) -> list[str]:
        return [o.screen.text for o in outputs if isinstance(o, Edit | Send)]

    assert any("LATTE-1" in text for text in results(first))
    assert results(double_tap) == []
    assert any("LATTE-1" in text for text in results(after_crash))
    assert await balance(chat, ann) == 700


async def test_a_physical_press_handled_again_after_a_crash_asks_for_the_address_again(
    mall_chat: Chat,
) -> None:
    """The question was opened (core) but its message may never have reached the chat: a
    press handed over again shows it; a double tap still does not."""
    chat = mall_chat
    ann = await joined(chat)
    confirm = await confirmation(ann, "Goods (1)", "1. Canvas tote", "400")

    first, double_tap, after_crash = await pressed_three_times(chat, ann, confirm)

    def questions(outputs: list[Output]) -> list[str]:
        return [
            o.screen.text
            for o in outputs
            if isinstance(o, Edit | Send) and o.screen.text.startswith("📦 Where should we send")
        ]

    assert len(questions(first)) == 1
    assert questions(double_tap) == []
    assert len(questions(after_crash)) == 1
    assert await balance(chat, ann) == 1000  # nothing taken before the address
    done = await ann.send("1 Tea Street")
    assert "🎉 Redeemed Canvas tote for 400 points." in done.text


async def test_a_payment_whose_handling_fails_stays_to_be_handled_again(
    mall_chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An apology would mark the update handled and lose the money: the error is raised, so the
    inbox hands the payment over again."""
    chat = mall_chat
    ann = await joined(chat)
    conversation = chat.runtime.conversation("bot")

    async def broken(*args: object, **kwargs: object) -> None:
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr(chat.mall.redemptions, "get", broken)
    paid = Event(Sender(ann.id, "Ann"), Paid("pay:1", "XTR", 290, "charge-9"))

    with pytest.raises(ConnectionResetError):
        await conversation.handle(paid)
    # Anything else that fails is still answered with the apology.
    outputs = await conversation.handle(Event(Sender(ann.id, "Ann"), Command("balance")))
    assert outputs
