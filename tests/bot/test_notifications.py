"""/notifications: a member turns announcements off and on again."""

from __future__ import annotations

from tests.support.chat import Chat


async def test_a_member_turns_announcements_off_and_on(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    shown = await ann.send("/notifications")
    assert "Announcements are on" in shown.text
    off = await ann.press("🔕 Turn announcements off")
    assert "Announcements are off" in off.text
    assert not (await chat.mall.members.profile(ann.id)).announcements
    on = await ann.press("🔔 Turn announcements on")

    assert "Announcements are on" in on.text
    assert (await chat.mall.members.profile(ann.id)).announcements
    assert ann.notices[-1] == ("Saved", False)


async def test_the_command_is_in_the_menu_and_in_chinese(chat: Chat) -> None:
    li = chat.member("Li", language="zh-hans")
    await li.start()

    shown = await li.send("/notifications")

    assert "活动通知已开启" in shown.text
    chinese = next(v for (_, lang), v in chat.sandbox.commands.items() if lang == "zh")
    assert ("notifications", "开启或关闭活动通知") in chinese


async def test_a_forged_choice_is_refused_as_an_old_button(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    await ann.press_data("ntfs:maybe")

    assert ann.notices[-1][1] is True
    assert (await chat.mall.members.profile(ann.id)).announcements
