"""The admin in conversation tests, a mall stocked from a catalog, and a look at everything the
mall has written."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from core.rewards.catalog_file import load_catalog
from tests.support.chat import Chat, Member
from tests.support.databases import MEMBER_TABLES

# The test config's only admin (tests/support/configs.py); sandbox members get ids above 10**6.
ADMIN_ID = 1000


async def open_admin(chat: Chat, first_name: str = "Boss", language: str = "en") -> Member:
    """The admin, joined to the mall (an admin is a member too: /start first)."""
    user = chat.sandbox.add_user(
        first_name=first_name, language_code=language, user_id=ADMIN_ID, admin=True
    )
    admin = Member(user, chat.bot)
    chat.members.append(admin)
    await admin.start()
    return admin


async def stock(chat: Chat, catalog: str) -> None:
    """Load ``catalog`` (the TOML of ``pointsmall catalog load``) into the chat's mall."""
    await load_catalog(chat.mall.db, chat.mall.config, catalog, chat.now)


async def mall_state(chat: Chat, *, leave_out: tuple[str, ...] = ("audit_log",)) -> dict[str, Any]:
    """Every row of every table a member or admin can change, to compare before and after.

    The inbox is left out: it records the updates that arrived (the very attempts compared).
    """
    state: dict[str, Any] = {}
    async with chat.mall.db.read() as conn:
        for table in MEMBER_TABLES:
            if table in leave_out or table == "inbox_updates":
                continue
            rows = (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            state[table] = sorted(tuple(map(repr, row)) for row in rows)
    return state
