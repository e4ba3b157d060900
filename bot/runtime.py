"""What every way of running the bot shares: the schema upgraded, the mall, the languages."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.conversation import Clock, Conversation, utc_now
from bot.features.admin import ADMIN_COMMANDS
from bot.features.menu import COMMANDS
from bot.i18n import Languages, load_languages
from core.config import Config
from core.db.database import Database
from core.db.migrate import upgrade
from core.mall import Mall

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    db: Database
    mall: Mall
    languages: Languages
    clock: Clock

    def conversation(self, bot_username: str) -> Conversation:
        return Conversation(self.mall, self.languages, bot_username, self.clock)

    def command_menus(self, *, admin: bool = False) -> dict[str, list[tuple[str, str]]]:
        """``setMyCommands`` per Telegram language code ('' is the default, English).

        With ``admin``, the menu of an admin's own chat: the member commands, then the admin's.
        """
        names = (*COMMANDS, *ADMIN_COMMANDS) if admin else COMMANDS
        menus: dict[str, list[tuple[str, str]]] = {}
        for t in self.languages.all:
            code = "" if t.language == "en" else t.language.split("_")[0]
            menus[code] = [(name, str(t(f"command.{name}"))) for name in names]
        return menus


@asynccontextmanager
async def open_runtime(
    config: Config, database_url: str | None = None, clock: Clock = utc_now
) -> AsyncIterator[Runtime]:
    """Upgrade the schema, then yield the mall; the database is closed on the way out."""
    db = Database.from_url(database_url or config.database.effective_url())
    try:
        await upgrade(db)
        yield Runtime(
            config, db, Mall.build(db, config), load_languages(config.mall.timezone), clock
        )
    finally:
        await db.dispose()
