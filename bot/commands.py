"""The command menus an adapter registers at start (``setMyCommands``), whichever framework.

Every member sees the member commands in their language; each admin of ``[telegram] admins``
sees the admin commands after them, in their own chat only.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.runtime import Runtime


@dataclass(frozen=True)
class CommandMenu:
    """One ``setMyCommands`` call: for everyone (``chat_id`` None) or one admin's chat."""

    language: str
    """A Telegram language code; '' is the default (English)."""
    commands: list[tuple[str, str]]
    chat_id: int | None = None


def command_menus(runtime: Runtime) -> list[CommandMenu]:
    """Everyone's menus first, then each admin's."""
    menus = [
        CommandMenu(language, commands) for language, commands in runtime.command_menus().items()
    ]
    for admin in runtime.config.telegram.admins:
        menus += [
            CommandMenu(language, commands, admin)
            for language, commands in runtime.command_menus(admin=True).items()
        ]
    return menus
