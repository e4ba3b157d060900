"""A member's first minutes: /start, the welcome bonus, the menu, languages, odd input."""

from __future__ import annotations

from tests.support.admin import open_admin
from tests.support.chat import Chat


async def test_start_registers_the_member_with_the_welcome_bonus(chat: Chat) -> None:
    ann = chat.member("Ann")

    reply = await ann.start()

    assert "Welcome to PointsMall, Ann!" in reply.text
    assert "welcome bonus of 100 points" in reply.text
    assert "Your balance: 100 points" in reply.text
    assert ann.buttons() == [
        "✅ Check in",
        "💰 Balance",
        "🎯 Tasks",
        "🛍 Mall",
        "🎁 Blind boxes",
        "⚡ Flash sales",
        "👥 Invite friends",
        "📦 My redemptions",
        "🌐 Language",
        "🔗 Link shop account",
    ]
    assert (await chat.mall.statements.balance(ann.id)).balance == 100


async def test_an_admin_has_an_admin_button_beside_the_last_one_and_a_member_not(
    chat: Chat,
) -> None:
    admin = await open_admin(chat)  # sends /start
    ann = chat.member("Ann")
    await ann.start()

    assert [b.text for b in admin.last.buttons[-1]] == ["🔗 Link shop account", "🛠 Admin"]
    assert admin.buttons() == [*ann.buttons(), "🛠 Admin"]
    assert "🛠 Admin" not in ann.buttons(await ann.send("/menu"))


async def test_the_admin_button_opens_the_admin_menu_in_place(chat: Chat) -> None:
    admin = await open_admin(chat)
    menu = await admin.send("/menu")

    answer = await admin.press("🛠 Admin", menu)

    assert answer.message_id == menu.message_id
    assert answer.text.startswith("🛠 PointsMall: admin\nWhat would you like to run?")
    assert {"✅ Approvals", "➕ Points", "👤 Members"} <= set(admin.buttons(answer))


async def test_a_chinese_admin_has_the_admin_button_in_chinese(chat: Chat) -> None:
    admin = await open_admin(chat, language="zh-hans")

    answer = await admin.press("🛠 管理")

    assert answer.text.startswith("🛠 PointsMall：管理")
    assert "✅ 审批" in admin.buttons(answer)


async def test_a_second_start_welcomes_back_without_a_second_bonus(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.start()

    assert "Welcome back, Ann!" in reply.text
    assert (await chat.mall.statements.balance(ann.id)).balance == 100


async def test_a_chinese_member_is_answered_in_chinese(chat: Chat) -> None:
    li = chat.member("李雷", language="zh-hans")

    reply = await li.start()

    assert "欢迎来到 PointsMall，李雷！" in reply.text
    assert "100 积分" in reply.text
    assert "✅ 签到" in li.buttons()


async def test_the_member_can_switch_language_and_it_sticks(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    await ann.press("🌐 Language")

    reply = await ann.press("简体中文")

    assert ann.notices[-1] == ("语言已切换。", False)
    assert "你的余额" in reply.text
    assert "你的余额" in (await ann.send("/menu")).text


async def test_unknown_text_gets_the_menu(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.send("what is this?")

    assert "I didn't understand that" in reply.text
    assert "✅ Check in" in ann.buttons()


async def test_an_unknown_command_says_it_was_not_understood(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    reply = await ann.send("/doesnotexist")

    assert "I didn't understand that. Here is the menu:" in reply.text
    assert "✅ Check in" in ann.buttons(reply)


async def test_someone_who_never_pressed_start_is_shown_the_way_in(chat: Chat) -> None:
    bob = chat.member("Bob")

    reply = await bob.send("/balance")

    assert "You are not a member yet." in reply.text
    assert bob.buttons() == ["✨ Join"]
    joined = await bob.press("✨ Join")
    assert "Welcome to PointsMall, Bob!" in joined.text
    assert (await chat.mall.statements.balance(bob.id)).balance == 100


async def test_names_are_escaped(chat: Chat) -> None:
    evil = chat.member("<b>Mallory</b> & co")

    reply = await evil.start()

    assert "Welcome to PointsMall, <b>Mallory</b> & co!" in reply.text


async def test_a_stale_or_forged_button_gets_a_clear_answer(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()

    await ann.press_data("nosuchroute:1")
    await ann.press_data("hist:-1")

    assert (
        ann.notices[-2:]
        == [
            ("This button is out of date. Open the menu to see what is there now.", True),
        ]
        * 2
    )


async def test_help_lists_the_commands_and_telegram_has_them_in_both_languages(
    chat: Chat,
) -> None:
    ann = chat.member("Ann")

    reply = await ann.send("/help")

    assert "/checkin - Daily check-in" in reply.text
    commands = chat.sandbox.commands
    english = next(v for (scope, lang), v in commands.items() if lang == "")
    chinese = next(v for (scope, lang), v in commands.items() if lang == "zh")
    assert ("checkin", "Daily check-in") in english
    assert ("checkin", "每日签到") in chinese
