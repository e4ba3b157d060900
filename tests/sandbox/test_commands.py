"""The command menu, per scope and language, as setMyCommands stores it."""

from __future__ import annotations

import pytest
import telegram
from telegram import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat

from bot.sandbox import Sandbox


async def test_commands_are_kept_per_scope_and_language(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    await ptb.set_my_commands([BotCommand("start", "Open the mall"), BotCommand("help", "Help")])
    await ptb.set_my_commands([BotCommand("start", "打开商城")], language_code="zh")
    await ptb.set_my_commands(
        [BotCommand("admin", "Run the mall")], scope=BotCommandScopeChat(1_000_001)
    )
    assert sandbox.commands == {
        ("default", ""): [("start", "Open the mall"), ("help", "Help")],
        ("default", "zh"): [("start", "打开商城")],
        ("chat:1000001", ""): [("admin", "Run the mall")],
    }
    chinese = await ptb.get_my_commands(language_code="zh")
    assert [(c.command, c.description) for c in chinese] == [("start", "打开商城")]
    assert await ptb.get_my_commands(scope=BotCommandScopeAllPrivateChats()) == ()

    await ptb.delete_my_commands(language_code="zh")
    assert ("default", "zh") not in sandbox.commands
    assert sandbox.violations == []


async def test_telegram_takes_two_letter_language_codes_only(
    sandbox: Sandbox, ptb: telegram.Bot
) -> None:
    with pytest.raises(telegram.error.BadRequest, match="Invalid language code specified"):
        await ptb.set_my_commands([BotCommand("start", "开始")], language_code="zh-hans")


async def test_command_names_are_lowercase_words(sandbox: Sandbox, ptb: telegram.Bot) -> None:
    with pytest.raises(telegram.error.BadRequest, match="Bot_command_invalid"):
        await ptb.set_my_commands([BotCommand("Check-In", "Daily check-in")])


async def test_the_menu_button_is_set_per_chat(sandbox: Sandbox, ptb: telegram.Bot) -> None:
    assert await ptb.set_chat_menu_button(menu_button=telegram.MenuButtonCommands()) is True
    assert isinstance(await ptb.get_chat_menu_button(), telegram.MenuButtonCommands)
