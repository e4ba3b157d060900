"""The admin keeps member days from the chat, on both frameworks: added with a form (bad
answers named and asked again), in effect at once, paused and removed; every change audited."""

from __future__ import annotations

from tests.conftest import at
from tests.support.admin import open_admin
from tests.support.chat import Chat


async def test_the_admin_adds_a_member_day_that_pays_at_once_then_pauses_and_removes_it(
    chat: Chat,
) -> None:
    admin = await open_admin(chat)
    await admin.send("/admin")
    empty = await admin.press("🎁 Member days")
    assert "None yet." in empty.text
    asked = await admin.press("➕ New member day")
    assert "Member day / 会员日" in asked.text
    await admin.send("Member day / 会员日")
    await admin.press("✅ Check-in points")
    bad_day = await admin.send("32")
    assert "“32” is not a day of the month" in bad_day.text
    await admin.send("8")
    bad = await admin.send("0.5")
    assert "“0.5” is not a multiplier" in bad.text
    await admin.send("2")
    await admin.press("⏭ Skip")
    summary = await admin.press("⏭ Skip")
    assert "Member day: check-in points ×2, every month on day 8" in summary.text
    listed = await admin.press("💾 Save")
    assert "Member day added" in listed.text
    assert "#1 Member day: check-in points ×2, every month on day 8" in listed.text
    (entry,) = [e for e in await chat.mall.audit.latest(10) if e.action == "member_day_add"]
    assert entry.actor_id == admin.id

    li = chat.member("Li", language="zh-hans")
    await li.start()
    chat.now = at("2026-03-08 09:00")
    reply = await li.send("/checkin")
    assert "🎁 会员日 ×2：+10 积分" in reply.text
    await admin.send("/stats")
    assert "Birthday gifts: 0 points · 🎁 member-day extras: 10 points" in admin.last.text

    paused = await admin.press("⏸ Pause #1")
    assert "(paused)" in paused.text
    chat.now = at("2026-04-08 09:00")
    assert "会员日" not in (await li.send("/checkin")).text
    confirm = await admin.press("🗑 Remove #1")
    assert "Remove this member day for good?" in confirm.text
    gone = await admin.press("🗑 Yes, remove it")
    assert "Member day removed." in gone.text
    assert await chat.mall.member_days.list() == ()
    actions = [e.action for e in await chat.mall.audit.latest(10)]
    assert "member_day_pause" in actions
    assert "member_day_remove" in actions
