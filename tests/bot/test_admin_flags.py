"""An admin reviews the members risk control flagged: clears them, or freezes them."""

from __future__ import annotations

from tests.bot.conftest import ChatFactory
from tests.support.admin import open_admin
from tests.support.chat import Chat, Member


async def guess_codes(member: Member, times: int = 5) -> None:
    for _ in range(times):
        await member.send("/claim WRONGCODE123")


async def test_an_admin_sees_why_a_member_was_flagged_and_clears_them(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = chat.member("Ann", username="ann")
    await ann.start()
    empty = await admin.send("/flags")
    assert "No member is flagged" in empty.text

    await guess_codes(ann)
    listing = await admin.send("/flags")
    assert "1 member to review" in listing.text
    assert f"Ann @ann · {ann.id} · score 20" in listing.text
    assert "• 5 wrong claim codes within 60 min" in listing.text
    assert admin.buttons(listing)[:2] == ["✅ Clear Ann", "❄️ Freeze Ann"]
    card = await admin.send("/member @ann")
    assert "🚩 Risk flags, score 20:" in card.text
    assert "• 5 wrong claim codes within 60 min" in card.text

    cleared = await admin.press("✅ Clear Ann")
    assert admin.notices[-1] == ("Cleared Ann.", False)
    assert "No member is flagged" in cleared.text
    entry = (await chat.mall.audit.latest(1, actor_id=admin.id))[0]
    assert (entry.action, entry.target) == ("risk.clear", f"member:{ann.id}")
    assert not (await chat.mall.members.profile(ann.id)).frozen

    await admin.press_data(f"afc:{ann.id}")  # another admin's old list
    assert "no open flag any more" in admin.notices[-1][0]
    assert "No risk flags" in (await admin.send("/member @ann")).text


async def test_an_admin_freezes_a_flagged_member_after_confirming(chat: Chat) -> None:
    admin = await open_admin(chat)
    bob = chat.member("Bob")
    await bob.start()
    await guess_codes(bob)
    await admin.send("/admin")
    await admin.press("🚩 Risk flags")
    confirm = await admin.press("❄️ Freeze Bob")
    assert "Freeze Bob" in confirm.text
    assert "Frozen after a review by the mall's team (wrong claim codes)." in confirm.text
    assert not (await chat.mall.members.profile(bob.id)).frozen  # not before confirming

    await admin.press("❄️ Yes, freeze")
    assert admin.notices[-1] == ("Froze Bob.", False)
    profile = await chat.mall.members.profile(bob.id)
    assert profile.frozen
    assert profile.frozen_reason == "Frozen after a review by the mall's team (wrong claim codes)."
    assert "frozen" in (await bob.send("/checkin")).text
    entry = (await chat.mall.audit.latest(1, actor_id=admin.id))[0]
    assert (entry.action, entry.after["frozen"]) == ("risk.freeze", True)


async def test_clearing_an_automatic_freeze_lifts_it(make_chat: ChatFactory) -> None:
    async with make_chat("[risk]\nauto_freeze_score = 20") as chat:
        admin = await open_admin(chat)
        ann = chat.member("Ann")
        await ann.start()
        await guess_codes(ann)
        assert (await chat.mall.members.profile(ann.id)).frozen
        listing = await admin.send("/flags")
        assert "❄️ frozen: risk: wrong_claims (score 20)" in listing.text
        await admin.press("✅ Clear Ann")
        assert admin.notices[-1] == ("Cleared Ann and lifted the automatic freeze.", False)
        assert not (await chat.mall.members.profile(ann.id)).frozen


async def test_the_flags_list_reads_in_chinese(chat: Chat) -> None:
    admin = await open_admin(chat, language="zh-hans")
    ann = chat.member("Ann")
    await ann.start()
    await guess_codes(ann)
    listing = await admin.send("/flags")
    assert "1 位会员待审核" in listing.text
    assert "60 分钟内输错兑换码 5 次" in listing.text
