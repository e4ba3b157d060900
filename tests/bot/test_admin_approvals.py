"""An admin answers the redemptions that wait for approval and ships physical rewards."""

from __future__ import annotations

from datetime import timedelta

from bot.sandbox import ChatMessage
from tests.bot.conftest import ChatFactory
from tests.support.admin import ADMIN_ID, mall_state, open_admin, stock
from tests.support.background import drained, running_background
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
    assert admin.notices[-1] == (f"#{tote} is not waiting to be shipped: it is 🚚 shipped.", True)
    assert await mall_state(chat) == before

    # Delivered once the member confirms receiving it.
    await chat.mall.redemptions.confirm_receipt(ann.id, tote, chat.now)
    await admin.press_data(f"aaf:{tote}")
    assert admin.notices[-1] == (f"#{tote} is not waiting to be shipped: it is 📬 delivered.", True)


async def test_an_approved_physical_reward_reads_approved_being_prepared(chat: Chat) -> None:
    admin, ann = await arrange(chat, language="zh-hans")
    await chat.mall.adjustments.grant(admin.id, ann.id, 500, "For the test", "k-1", chat.now)
    await stock(
        chat,
        CATALOG
        + """
[[items]]
sku = "lamp"
title = "Desk lamp"
category = "Bags"
kind = "physical"
price = 300
approval_threshold = 300
""",
    )
    lamp = await redeem(chat, ann, "lamp", address="1 Main St")
    queue = await admin.send("/approvals")
    await admin.press(f"✅ Approve #{lamp}", queue)

    await admin.press_data(f"aaa:{lamp}", queue)
    assert admin.notices[-1] == (
        f"#{lamp} was already answered: it is 📦 approved, being prepared.",
        True,
    )
    await ann.send("/redemptions")
    assert f"#{lamp} Desk lamp\n    📦 已批准，待发货 · 300 积分" in ann.last.text
    await chat.mall.redemptions.fulfil(lamp, "SF1", chat.now)
    listing = await ann.send("/redemptions")
    assert f"#{lamp} Desk lamp\n    🚚 已发货 · 300 积分" in listing.text


# --- Admins are told when a redemption starts waiting for them --------------------------------


async def redeem_in_the_chat(chat: Chat, ann: Member, *, taps: int = 1) -> int:
    """Ann redeems the signed book from its card, pressing Redeem ``taps`` times at once."""
    await ann.send("/mall")
    await ann.press("Books (1)")
    await ann.press("1. Signed <i>first</i> edition")
    confirm = await ann.press("🎁 Redeem for 60 points")
    presses = [ann.user.press("✅ Redeem", confirm) for _ in range(taps)]
    for update_id in presses:
        await chat.bot.handled.wait(update_id)
    page = await chat.mall.redemptions.list_for_member(ann.id)
    assert [entry.status for entry in page.entries] == ["awaiting_approval"]
    return page.entries[0].redemption_id


def told_waiting(admin: Member, words: str) -> list[ChatMessage]:
    return [m for m in admin.messages if words in m.text]


async def test_the_admin_is_told_once_that_a_redemption_awaits_approval(chat: Chat) -> None:
    admin, ann = await arrange(chat)

    async with running_background(chat) as running:
        number = await redeem_in_the_chat(chat, ann, taps=2)  # a double tap: one redemption
        await drained(chat.mall, running.sender)

    told = told_waiting(admin, "awaits your approval")
    assert [m.text for m in told] == [
        f"⏳ Redemption #{number} awaits your approval: Signed <i>first</i> edition for"
        f" 60 points, by Ann (@ann, {ann.id}). If nobody answers by Mar 5 09:00, the points"
        " go back."
    ]
    assert "<b>Signed &lt;i&gt;first&lt;/i&gt; edition</b>" in (told[0].html or "")
    assert not told_waiting(ann, "awaits your approval")  # Ann reads her own notice
    assert "is awaiting an admin's approval" in ann.last.text

    queue = await admin.press("⏳ Approval queue", told[0])

    assert f"#{number} Signed <i>first</i> edition" in queue.text
    assert admin.buttons(queue)[:2] == [f"✅ Approve #{number}", f"❌ Reject #{number}"]


async def test_each_admin_is_told_in_their_own_language(make_chat: ChatFactory) -> None:
    other_admin = ADMIN_ID + 1
    async with make_chat(f"[telegram]\nadmins = [{ADMIN_ID}, {other_admin}]") as chat:
        li = await open_admin(chat, "李", language="zh-hans")
        # The second admin has the chat open but never joined the mall: the default language.
        user = chat.sandbox.add_user("Second", user_id=other_admin, language_code="zh-hans")
        user.started = True
        await stock(chat, CATALOG)
        ann = chat.member("Ann", username="ann")
        await ann.start()

        async with running_background(chat) as running:
            number = await redeem_in_the_chat(chat, ann)
            await drained(chat.mall, running.sender)

        assert [m.text for m in told_waiting(li, "等待你审核")] == [
            f"⏳ 兑换 #{number} 等待你审核：Signed <i>first</i> edition，60 积分，会员 Ann (@ann,"
            f" {ann.id})。如果在 3月5日 09:00 前无人处理，积分将退回。"
        ]
        assert li.buttons(told_waiting(li, "等待你审核")[0]) == ["⏳ 待审核列表"]
        second = [m for m in user.bot_messages if "awaits your approval" in m.text]
        assert len(second) == 1
        assert second[0].buttons[0][0].text == "⏳ Approval queue"


async def test_an_admin_written_to_before_starting_the_bot_is_told_once_started(
    chat: Chat,
) -> None:
    # What the sender records when a job (the digest) writes to an admin who never started
    # the bot: Telegram answers 403 "bot can't initiate conversation with a user".
    await chat.mall.outbox.mark_unreachable(
        ADMIN_ID, chat.now, "Forbidden: bot can't initiate conversation with a user"
    )
    admin, ann = await arrange(chat)  # now the admin has started the bot

    async with running_background(chat) as running:
        await redeem_in_the_chat(chat, ann)
        await drained(chat.mall, running.sender)

    assert len(told_waiting(admin, "awaits your approval")) == 1
