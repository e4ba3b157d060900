"""An admin looks a member up, freezes them with a reason and unfreezes them; the member is told."""

from __future__ import annotations

from bot.features.start_links import INVITE_PREFIX
from tests.support.admin import mall_state, open_admin, stock
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "tote"
title = "Canvas <b>tote</b>"
category = "Bags"
kind = "physical"
price = 20
"""


async def ann_joins(chat: Chat, language: str = "en") -> Member:
    ann = chat.member("Ann", language=language, username="ann")
    await ann.start()  # 100 points of sign-up bonus
    return ann


async def test_the_member_card_shows_points_redemptions_and_invites(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    await stock(chat, CATALOG)
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    offer = await chat.mall.redemptions.offer(ann.id, tote.item_id, chat.now)
    redeemed = await chat.mall.redemptions.redeem(ann.id, offer.token, chat.now, address="Home")
    number = redeemed.redemption.redemption_id
    code = await chat.mall.referrals.invite_code(ann.id)
    await chat.member("Bob").start(INVITE_PREFIX + code)

    card = await admin.send("/member @ann")

    assert f"👤 Ann · @ann · id {ann.id}" in card.text
    assert f"<code>{ann.id}</code>" in (card.html or "")
    assert "Joined: Mar 2 09:00" in card.text
    assert "Balance: 80 points" in card.text
    assert "Tier: " in card.text
    assert "Not frozen" in card.text
    assert "Latest movements" in card.text
    assert "Welcome bonus" in card.text
    assert "Redemption" in card.text
    # Not shipped yet: the member's words for it, not the raw status "completed".
    preparing = "📦 approved, being prepared"
    assert f"#{number} Canvas <b>tote</b> · {preparing} · 20 points · Mar 2" in card.text
    assert "Invites: 1 (pending 1, rewarded 0, over the cap 0)" in card.text
    assert admin.buttons(card) == [
        "➕➖ Grant / deduct",
        "❄️ Freeze",
        "📜 History",
        "🔎 Another member",
        "⬅️ Admin menu",
    ]
    by_id = await admin.send(f"/member {ann.id}")
    assert by_id.text == card.text


async def test_looking_up_someone_unknown_says_so(chat: Chat) -> None:
    admin = await open_admin(chat)
    await ann_joins(chat)
    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))

    answer = await admin.send("/member 4242")
    assert "No member matches “4242”." in answer.text
    answer = await admin.send("@nobody")  # asked again: the next text is the next try
    assert "No member matches “@nobody”." in answer.text
    answer = await admin.send("not a name!")
    assert "No member matches “not a name!”." in answer.text
    card = await admin.send("@ANN")  # usernames are matched in any case
    assert "👤 Ann · @ann" in card.text
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before


async def test_a_member_without_a_username_has_no_empty_place_for_one(chat: Chat) -> None:
    admin = await open_admin(chat)
    bob = chat.member("Bob")
    await bob.start()

    card = await admin.send(f"/member {bob.id}")

    assert f"👤 Bob · id {bob.id}" in card.text
    assert "· - ·" not in card.text


async def test_the_menu_asks_who_then_shows_the_card(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    await admin.send("/admin")
    asked = await admin.press("👤 Members")
    assert "Which member?" in asked.text
    card = await admin.send(str(ann.id))
    assert "👤 Ann · @ann" in card.text


async def test_freezing_asks_why_tells_the_member_and_is_audited(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    await admin.send("/member @ann")
    asked = await admin.press("❄️ Freeze")
    assert "Freeze Ann (@ann" in asked.text

    too_long = await admin.send("x" * 501)
    assert "A reason is needed, 1 to 500 characters." in too_long.text
    assert not (await chat.mall.statements.balance(ann.id)).frozen
    card = await admin.send("Check-ins from 40 phones")

    assert "❄️ Frozen. The member has been told why." in card.text
    assert "❄️ Frozen: Check-ins from 40 phones" in card.text
    assert "☀️ Unfreeze" in admin.buttons(card)
    assert ann.last.text.startswith("❄️ Your account has been frozen: Check-ins from 40 phones")
    entry = (await chat.mall.audit.latest(1))[0]
    assert (entry.action, entry.target) == ("member.freeze", f"member:{ann.id}")
    assert (entry.before, entry.after) == (
        {"frozen": False},
        {"frozen": True, "reason": "Check-ins from 40 phones"},
    )
    # The member may look around and reads why they cannot earn.
    refused = await ann.send("/checkin")
    assert "Your account is frozen" in refused.text
    balance = await ann.send("/balance")
    assert "Your account is frozen: Check-ins from 40 phones" in balance.text


async def test_unfreezing_tells_the_member_and_is_audited(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat, language="zh-hans")
    await chat.mall.members.freeze(ann.id, "Review")
    await admin.send("/member @ann")

    card = await admin.press("☀️ Unfreeze")

    assert "☀️ Unfrozen. The member has been told." in card.text
    assert "Not frozen" in card.text
    assert ann.last.text == "☀️ 你的账户已解冻，可以再次获得和使用积分。"
    entry = (await chat.mall.audit.latest(1))[0]
    assert (entry.action, entry.before, entry.after) == (
        "member.unfreeze",
        {"frozen": True, "reason": "Review"},
        {"frozen": False},
    )
    # The old Freeze/Unfreeze buttons, pressed again, change nothing.
    before = await mall_state(chat, leave_out=())
    await admin.press_data(f"amu:{ann.id}")
    assert admin.notices[-1] == ("This member is not frozen.", True)
    assert await mall_state(chat, leave_out=()) == before


async def test_freezing_someone_frozen_meanwhile_keeps_the_first_reason(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    await admin.send("/member @ann")
    await admin.press("❄️ Freeze")
    await chat.mall.members.freeze(ann.id, "First reason")
    answer = await admin.send("Second reason")
    assert "This member is already frozen." in answer.text
    assert (await chat.mall.statements.balance(ann.id)).frozen_reason == "First reason"
    await admin.press_data(f"amf:{ann.id}")
    assert admin.notices[-1] == ("This member is already frozen.", True)


async def test_the_history_pages_through_every_movement(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    for n in range(12):
        await chat.mall.adjustments.grant(admin.id, ann.id, n + 1, "Test", f"k-{n}", chat.now)
    await admin.send("/member @ann")

    first = await admin.press("📜 History")
    assert "History of Ann (@ann" in first.text
    assert "(page 1)" in first.text
    assert "+12" in first.text
    assert "Welcome bonus" not in first.text
    second = await admin.press("Next ▶️")
    assert "(page 2)" in second.text
    assert "Welcome bonus" in second.text
    assert "Next ▶️" not in admin.buttons(second)
    back = await admin.press("⬅️ Member card")
    assert "👤 Ann" in back.text


async def test_the_card_names_the_tier_in_the_admins_language(chat: Chat) -> None:
    chinese = await open_admin(chat, language="zh-hans")
    await ann_joins(chat)

    card = await chinese.send("/member @ann")

    assert "等级：普通" in card.text
    assert "Member" not in card.text
