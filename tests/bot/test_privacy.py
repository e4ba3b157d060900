"""/privacy from the chat: what is stored, the export, and deleting the account for good."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from bot.features.privacy import erase_seal
from core.errors import UnknownMember
from core.rewards.catalog_file import load_catalog
from tests.conftest import at
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "signed-book"
title = "Signed first edition"
category = "Books"
kind = "physical"
price = 60
approval_threshold = 50
"""


async def with_waiting_redemption(chat: Chat, member: Member) -> int:
    """The member redeems a book that waits for approval: 60 of their points are held."""
    await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
    item = await chat.mall.catalog.get_item_by_sku("signed-book")
    offer = await chat.mall.redemptions.offer(member.id, item.item_id, chat.now)
    result = await chat.mall.redemptions.redeem(
        member.id, offer.token, chat.now, address="12 Elm Street"
    )
    return result.redemption.redemption_id


async def test_privacy_says_what_is_stored_and_offers_export_and_deletion(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.send("/privacy")

    assert "Your data" in reply.text
    assert "What the mall stores about you:" in reply.text
    assert "• your Telegram user id, name, username and language, and when you joined" in (
        reply.text
    )
    assert "• your redemptions, with any coupon code, delivery address and note" in reply.text
    assert ann.buttons(reply) == [
        "🎂 My birthday",
        "📤 Export my data",
        "🗑 Delete my account",
        "⬅️ Menu",
    ]


async def test_the_export_is_a_json_document_of_the_members_data(chat: Chat) -> None:
    ann = chat.member("Ann", username="ann_reads")
    await ann.start()
    await ann.send("/checkin")
    book = await with_waiting_redemption(chat, ann)
    await ann.send("/privacy")

    reply = await ann.press("📤 Export my data")

    assert reply.document is not None
    filename, content, mime_type = reply.document
    assert filename == f"pointsmall-data-{ann.id}.json"
    assert mime_type == "application/json"
    assert "Everything PointsMall stores about you, as JSON." in reply.text
    assert ann.notices[-1] == ("Your data is on its way", False)
    data = json.loads(content)
    assert data["member_id"] == ann.id
    assert data["profile"]["display_name"] == "Ann"
    assert data["profile"]["username"] == "ann_reads"
    assert data["balance"]["points"] == 50  # 100 + 10 for the check-in - 60 held
    assert [t["code"] for t in data["transfers"]][:2] == ["signup_bonus", "checkin"]
    assert [r["id"] for r in data["redemptions"]] == [book]
    assert data["redemptions"][0]["address"] == "12 Elm Street"
    assert len(data["check_ins"]) == 1


async def test_deleting_the_account_after_a_clear_confirmation(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    book = await with_waiting_redemption(chat, ann)
    await ann.send("/privacy")

    ask = (await ann.press("🗑 Delete my account")).text

    assert "Delete your account? This can't be undone." in ask
    assert "• your balance of 40 points" in ask
    assert "• the 60 points held for redemptions that are waiting" in ask
    assert "• your open redemption: 1 will be cancelled" in ask
    assert "This button works for 5 minutes." in ask
    assert ann.buttons() == ["🗑 Yes, delete my account", "Keep my account", "⬅️ Menu"]

    done = await ann.press("🗑 Yes, delete my account")

    assert "Your account is deleted." in done.text
    assert "100 points were forfeited." in done.text
    assert "1 open redemption was cancelled." in done.text
    assert "Send /start whenever you want to join again" in done.text
    assert ann.buttons(done) == []
    with pytest.raises(UnknownMember):
        await chat.mall.members.profile(ann.id)
    assert (await chat.mall.redemptions.get(book)).status == "cancelled"
    report = await chat.mall.check()
    assert report.ok, report.violations


async def test_a_double_tapped_delete_deletes_once(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/privacy")
    ask = await ann.press("🗑 Delete my account")

    first = ann.user.press("🗑 Yes, delete my account", ask)
    await ann.press("🗑 Yes, delete my account", ask)
    await chat.bot.handled.wait(first)

    texts = [message.text for message in ann.messages]
    assert sum("Your account is deleted." in text for text in texts) == 1
    assert not any("Sorry, something went wrong" in text for text in texts)
    report = await chat.mall.check()
    assert report.ok, report.violations


async def test_after_deletion_start_registers_the_member_afresh(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/checkin")
    await ann.send("/privacy")
    await ann.press("🗑 Delete my account")
    await ann.press("🗑 Yes, delete my account")
    chat.now += timedelta(days=1)

    welcome = await ann.start()

    assert "Welcome to PointsMall, Ann!" in welcome.text
    assert (await chat.mall.statements.balance(ann.id)).balance == 0  # no second bonus
    history = await chat.mall.statements.history(ann.id)
    assert history.entries == ()
    assert (await chat.mall.check()).ok


async def test_keeping_the_account_deletes_nothing(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/privacy")
    await ann.press("🗑 Delete my account")

    reply = await ann.press("Keep my account")

    assert "What the mall stores about you:" in reply.text
    assert (await chat.mall.members.profile(ann.id)).display_name == "Ann"
    assert (await chat.mall.statements.balance(ann.id)).balance == 100


async def test_an_expired_confirmation_deletes_nothing(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/privacy")
    await ann.press("🗑 Delete my account")
    chat.now += timedelta(minutes=6)

    reply = await ann.press("🗑 Yes, delete my account")

    assert ann.notices[-1] == (
        "That confirmation has expired, so nothing was deleted. Ask again if you still want to.",
        True,
    )
    assert "What the mall stores about you:" in reply.text
    assert (await chat.mall.statements.balance(ann.id)).balance == 100


async def test_a_confirmation_from_before_a_deletion_cannot_delete_the_new_account(
    chat: Chat,
) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/privacy")
    older = await ann.press("🗑 Delete my account")
    await ann.send("/privacy")
    await ann.press("🗑 Delete my account")
    await ann.press("🗑 Yes, delete my account")
    chat.now += timedelta(minutes=1)
    await ann.start()
    await ann.send("/checkin")

    await ann.press("🗑 Yes, delete my account", older)

    assert ann.notices[-1] == (
        "This button is out of date. Open the menu to see what is there now.",
        True,
    )
    assert (await chat.mall.members.profile(ann.id)).display_name == "Ann"
    assert (await chat.mall.statements.balance(ann.id)).balance == 10


async def test_a_delete_button_forged_for_someone_else_is_refused(chat: Chat) -> None:
    ann, bob = chat.member("Ann"), chat.member("Bob")
    await ann.start()
    await bob.start()
    await ann.send("/privacy")
    ask = await ann.press("🗑 Delete my account")
    confirm = ask.button("🗑 Yes, delete my account")
    assert confirm is not None
    assert confirm.callback_data is not None
    shown = confirm.callback_data.split(":")[1]

    # Bob's client sends the very callback data of Ann's confirmation, or makes one up.
    for data in (confirm.callback_data, f"pvy:{shown}:{'A' * 16}", f"pvy:{shown}", "pvy:x:y"):
        await bob.press_data(data)
        assert bob.notices[-1] == (
            "This button is out of date. Open the menu to see what is there now.",
            True,
        )
    assert (await chat.mall.members.profile(bob.id)).display_name == "Bob"
    assert (await chat.mall.members.profile(ann.id)).display_name == "Ann"


def test_the_seal_binds_the_member_their_account_and_the_moment() -> None:
    key, joined = b"k" * 32, at("2026-03-01 08:00")
    seal = erase_seal(key, 1001, joined, 1_800_000_000)

    assert seal == erase_seal(key, 1001, joined, 1_800_000_000)
    assert seal != erase_seal(key, 1002, joined, 1_800_000_000)
    assert seal != erase_seal(key, 1001, joined + timedelta(seconds=1), 1_800_000_000)
    assert seal != erase_seal(key, 1001, joined, 1_800_000_001)
    assert seal != erase_seal(b"x" * 32, 1001, joined, 1_800_000_000)


async def test_privacy_in_chinese(chat: Chat) -> None:
    li = chat.member("李雷", language="zh-hans")
    await li.start()
    await li.send("/privacy")

    ask = await li.press("🗑 注销我的账户")

    assert "确定注销账户吗？此操作无法撤销。" in ask.text
    assert "• 你的余额 100 积分" in ask.text
    assert "此按钮 5 分钟内有效。" in ask.text
