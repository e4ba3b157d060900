"""The bot writes, edits and deletes; members read and press buttons."""

from __future__ import annotations

import aiogram
import pytest
import telegram
from aiogram.types import InlineKeyboardButton as AioButton
from aiogram.types import InlineKeyboardMarkup as AioMarkup
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.sandbox import Button, Sandbox


def keyboard(*labels: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t, callback_data=t.lower())] for t in labels]
    )


async def test_ann_reads_the_bots_html_reply_with_its_buttons(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.start()
    sent = await ptb.send_message(
        ann.id,
        "<b>Balance</b>: 120 &lt;points&gt;",
        parse_mode="HTML",
        reply_markup=InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("Redeem", callback_data="redeem:7")],
                [InlineKeyboardButton("Rules", url="https://example.com/rules")],
            ]
        ),
    )
    assert sent.text == "Balance: 120 <points>"
    assert sent.entities[0].type == "bold"
    assert [m.from_bot for m in ann.messages] == [False, True]
    last = ann.last
    assert (last.message_id, last.text, last.html) == (
        sent.message_id,
        "Balance: 120 <points>",
        "<b>Balance</b>: 120 &lt;points&gt;",
    )
    assert last.buttons == [
        [Button("Redeem", callback_data="redeem:7")],
        [Button("Rules", url="https://example.com/rules")],
    ]
    assert sandbox.violations == []


async def test_a_press_reaches_the_bot_and_its_answer_shows_as_a_notice(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("menu")
    await ptb.send_message(ann.id, "Menu", reply_markup=keyboard("Check in"))
    update_id = ann.press("Check in")

    updates = await ptb.get_updates(offset=update_id, timeout=0)
    query = updates[0].callback_query
    assert query is not None
    assert (query.data, query.from_user.id, query.message.text) == ("check in", ann.id, "Menu")
    await ptb.answer_callback_query(query.id, "Checked in: +10", show_alert=True)
    assert ann.notices == [("Checked in: +10", True)]
    with pytest.raises(telegram.error.BadRequest, match="Query is too old"):
        await ptb.answer_callback_query(query.id, "again")


async def test_pressing_what_is_not_there_says_what_is(sandbox: Sandbox, ptb: telegram.Bot) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("menu")
    await ptb.send_message(
        ann.id,
        "Menu",
        reply_markup=InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("Balance", callback_data="bal")],
                [InlineKeyboardButton("Help", url="https://example.com/help")],
            ]
        ),
    )
    with pytest.raises(LookupError, match=r"no button 'Shop'.*\['Balance', 'Help'\]"):
        ann.press("Shop")
    with pytest.raises(ValueError, match="is a link"):
        ann.press("Help")


async def test_a_press_goes_to_the_newest_message_with_that_button_unless_told(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("menu")
    old = await ptb.send_message(ann.id, "Old", reply_markup=keyboard("Back"))
    await ptb.send_message(ann.id, "New", reply_markup=keyboard("Back"))
    first = ann.press("Back")
    second = ann.press("Back", message=ann.messages[1])
    updates = await ptb.get_updates(offset=first, timeout=0)
    assert [u.callback_query.message.text for u in updates] == ["New", "Old"]
    assert updates[1].update_id == second
    assert updates[1].callback_query.message.message_id == old.message_id


async def test_edits_replace_the_message_in_place(sandbox: Sandbox, ptb: telegram.Bot) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    sent = await ptb.send_message(ann.id, "Draw?", reply_markup=keyboard("Draw"))
    edited = await ptb.edit_message_text(
        "<i>You won</i> 5 points", chat_id=ann.id, message_id=sent.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, telegram.Message)
    assert edited.edit_date is not None
    assert edited.reply_markup is None, "an edit without reply_markup removes the keyboard"
    assert (ann.last.text, ann.last.edited, ann.last.buttons) == ("You won 5 points", True, [])
    assert len(ann.bot_messages) == 1

    await ptb.edit_message_reply_markup(
        chat_id=ann.id, message_id=sent.message_id, reply_markup=keyboard("Again")
    )
    assert ann.last.buttons == [[Button("Again", callback_data="again")]]
    assert ann.last.text == "You won 5 points"


async def test_deleted_messages_stay_in_the_record_but_leave_the_screen(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    first = await ptb.send_message(ann.id, "first")
    await ptb.send_message(ann.id, "second")
    assert await ptb.delete_message(ann.id, ann.last.message_id) is True
    assert ann.last.message_id == first.message_id
    assert [(m.text, m.deleted) for m in ann.bot_messages] == [("first", False), ("second", True)]


async def test_chat_actions_are_recorded(sandbox: Sandbox, ptb: telegram.Bot) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    assert await ptb.send_chat_action(ann.id, "typing") is True
    assert ann.chat_actions == ["typing"]


async def test_wait_for_wakes_when_the_chat_changes(sandbox: Sandbox, ptb: telegram.Bot) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("hi")
    await ptb.send_message(ann.id, "one")
    with pytest.raises(TimeoutError, match="'one'"):
        await ann.wait_for(lambda u: len(u.bot_messages) == 2, timeout=0.2)
    await ptb.send_message(ann.id, "two")
    await ann.wait_for(lambda u: u.last.text == "two")


async def test_aiogram_sends_edits_and_answers_the_same_way(
    sandbox: Sandbox, aio: aiogram.Bot
) -> None:
    bob = sandbox.add_user("Bob", username="bob")
    bob.send("hi")
    markup = AioMarkup(inline_keyboard=[[AioButton(text="Open", callback_data="box:1")]])
    sent = await aio.send_message(
        bob.id, "<u>Blind box</u>", parse_mode="HTML", reply_markup=markup
    )
    assert sent.text == "Blind box"
    update_id = bob.press("Open")
    updates = await aio.get_updates(offset=update_id, timeout=0)
    query = updates[0].callback_query
    assert query is not None
    assert query.data == "box:1"
    assert await aio.answer_callback_query(query.id) is True
    assert bob.notices == [("", False)]
    await aio.edit_message_text(text="You got 3 points", chat_id="@bob", message_id=sent.message_id)
    assert (bob.last.text, bob.last.edited) == ("You got 3 points", True)
    assert await aio.delete_message(bob.id, sent.message_id) is True
    assert sandbox.violations == []


async def test_a_forged_press_carries_whatever_data_a_modified_client_sends(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    ann = sandbox.add_user("Ann")
    ann.send("menu")
    await ptb.send_message(ann.id, "Menu", reply_markup=keyboard("Balance"))
    update_id = ann.press_data("redeem:999")
    updates = await ptb.get_updates(offset=update_id, timeout=0)
    assert updates[0].callback_query is not None
    assert updates[0].callback_query.data == "redeem:999"
