"""An admin answers the redemptions that wait for approval and ships physical rewards."""

from __future__ import annotations

from datetime import timedelta

from tests.support.admin import mall_state, open_admin, stock
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "signed-book"
title = "Signed <i>first</i> edition"
category = "Books"
kind = "service"
price = 60
approval_threshold = 50

[[items]]
sku = "tote"
title = "Canvas tote"
category = "Bags"
kind = "physical"
price = 20
"""


async def arrange(chat: Chat, language: str = "en") -> tuple[Member, Member]:
    admin = await open_admin(chat)
    await stock(chat, CATALOG)
    ann = chat.member("Ann", language=language, username="ann")
    await ann.start()  # 100 points
    return admin, ann


async def redeem(chat: Chat, member: Member, sku: str, address: str | None = None) -> int:
    item = await chat.mall.catalog.get_item_by_sku(sku)
    offer = await chat.mall.redemptions.offer(member.id, item.item_id, chat.now)
    result = await chat.mall.redemptions.redeem(member.id, offer.token, chat.now, address=address)
    return result.redemption.redemption_id


async def points(chat: Chat, member: Member) -> tuple[int, int]:
    balance = await chat.mall.statements.balance(member.id)
    return balance.balance, balance.held


async def test_the_queue_shows_who_what_and_how_long_until_it_times_out(chat: Chat) -> None:
    admin, ann = await arrange(chat)
    empty = await admin.send("/approvals")
    assert "Nothing awaits approval." in empty.text
    number = await redeem(chat, ann, "signed-book")
    chat.now += timedelta(hours=1)

    queue = await admin.send("/approvals")

    assert f"#{number} Signed <i>first</i> edition" in queue.text
    assert f"Ann (@ann, {ann.id})" in queue.text
    assert "60 points · Mar 2 09:00 · times out in 2 days 23 h" in queue.text
    assert admin.buttons(queue)[:2] == [f"✅ Approve #{number}", f"❌ Reject #{number}"]


async def test_approving_takes_the_held_points_and_tells_the_member(chat: Chat) -> None:
    admin, ann = await arrange(chat)
    number = await redeem(chat, ann, "signed-book")
    assert await points(chat, ann) == (40, 60)
    queue = await admin.send("/approvals")

    answer = await admin.press(f"✅ Approve #{number}", queue)

    assert f"#{number} Signed <i>first</i> edition approved" in answer.text
    assert "Nothing awaits approval." in answer.text
    assert await points(chat, ann) == (40, 0)
    assert (await chat.mall.redemptions.get(number)).status == "completed"
    assert ann.last.text == (
        f"✅ Your redemption #{number} of Signed <i>first</i> edition was approved (60 points)."
    )
    entry = (await chat.mall.audit.latest(1))[0]
    assert (entry.action, entry.target) == ("redemption.approve", f"redemption:{number}")
    assert (entry.before["status"], entry.after["status"]) == ("awaiting_approval", "completed")

    # The same button again (a double tap, or another admin's old screen): said, not done.
    told = len(ann.messages)
    before = await mall_state(chat)
    again = await admin.press_data(f"aaa:{number}", queue)
    assert admin.notices[-1] == (f"#{number} was already answered: it is ✅ completed.", True)
    assert "already answered" in again.text
    await admin.press_data(f"aar:{number}", queue)
    assert admin.notices[-1] == (f"#{number} was already answered: it is ✅ completed.", True)
    assert len(ann.messages) == told
    assert await mall_state(chat) == before


async def test_rejecting_with_a_reason_gives_the_points_back(chat: Chat) -> None:
    admin, ann = await arrange(chat, language="zh-hans")
    number = await redeem(chat, ann, "signed-book")
    await admin.send("/approvals")

    asked = await admin.press(f"❌ Reject #{number}")
    assert f"Reject #{number} Signed <i>first</i> edition of Ann" in asked.text
    answer = await admin.send("Out of signed copies")

    assert f"#{number} Signed <i>first</i> edition rejected" in answer.text
    assert await points(chat, ann) == (100, 0)
    assert (await chat.mall.redemptions.get(number)).status == "rejected"
    assert ann.last.text == (
        f"❌ 你的兑换 #{number}（Signed <i>first</i> edition）未获批准。已退回你的余额：60 积分。"
        "\n原因：Out of signed copies"
    )
    entry = (await chat.mall.audit.latest(1))[0]
    assert (entry.action, entry.after["note"]) == ("redemption.reject", "Out of signed copies")


async def test_rejecting_without_a_reason(chat: Chat) -> None:
    admin, ann = await arrange(chat)
    number = await redeem(chat, ann, "signed-book")
    await admin.send("/approvals")
    await admin.press(f"❌ Reject #{number}")

    await admin.press("❌ Reject without a reason")

    assert await points(chat, ann) == (100, 0)
    assert ann.last.text.startswith(f"❌ Your redemption #{number} of Signed")
    assert "Reason" not in ann.last.text
    assert await chat.mall.inputs.peek(admin.id, chat.now) is None, "the question is closed"


async def test_one_that_timed_out_meanwhile_is_not_approved(chat: Chat) -> None:
    admin, ann = await arrange(chat)
    number = await redeem(chat, ann, "signed-book")
    queue = await admin.send("/approvals")
    chat.now += timedelta(hours=73)
    await chat.mall.release_expired(chat.now)

    await admin.press(f"✅ Approve #{number}", queue)

    assert admin.notices[-1] == (f"#{number} was already answered: it is ↩️ cancelled.", True)
    assert await points(chat, ann) == (100, 0)


async def test_the_queue_pages(chat: Chat) -> None:
    admin, ann = await arrange(chat)
    await chat.mall.adjustments.grant(admin.id, ann.id, 500, "For the test", "k-1", chat.now)
    numbers = [await redeem(chat, ann, "signed-book") for _ in range(6)]
    first = await admin.send("/approvals")
    assert f"#{numbers[4]} " in first.text
    assert f"#{numbers[5]} " not in first.text
    second = await admin.press("Next ▶️")
    assert f"#{numbers[5]} " in second.text
    assert "(page 2)" in second.text


async def test_marking_a_physical_reward_shipped_tells_the_member_the_note(chat: Chat) -> None:
    admin, ann = await arrange(chat)
    tote = await redeem(chat, ann, "tote", address="1 Main St")
    await admin.send("/approvals")

    listed = await admin.press("📦 To ship")
    assert f"#{tote} Canvas tote" in listed.text
    assert "Address: 1 Main St" in listed.text
    asked = await admin.press(f"📦 Mark #{tote} shipped")
    assert "goes to: 1 Main St" in asked.text
    answer = await admin.send("SF Express SF123456")

    assert f"#{tote} Canvas tote marked shipped" in answer.text
    assert "Nothing to ship." in answer.text
    assert ann.last.text == f"📬 Your Canvas tote (#{tote}) is on its way: SF Express SF123456"
    view = await chat.mall.redemptions.get(tote)
    assert (view.status, view.note) == ("fulfilled", "SF Express SF123456")
    entry = (await chat.mall.audit.latest(1))[0]
    assert (entry.action, entry.after["note"]) == ("redemption.fulfil", "SF Express SF123456")

    before = await mall_state(chat)
    await admin.press_data(f"aaf:{tote}")
    assert admin.notices[-1] == (
        f"#{tote} is not waiting to be shipped: it is 📬 delivered.",
        True,
    )
    assert await mall_state(chat) == before
