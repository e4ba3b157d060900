"""The bot on PostgreSQL, as several bot processes would use it: a member's first minutes.

The conversation suite runs on SQLite; the core it calls is tested on both databases. This
story checks that nothing in the bot depends on SQLite.
"""

from __future__ import annotations

from tests.bot.conftest import ChatFactory
from tests.support.databases import PostgresDatabase


async def test_a_member_joins_checks_in_and_reads_the_balance_on_postgresql(
    make_chat: ChatFactory, postgres_database: PostgresDatabase
) -> None:
    await postgres_database.empty()
    async with make_chat(database_url=postgres_database.url) as chat:
        ann = chat.member("Ann")
        assert "Welcome to PointsMall, Ann!" in (await ann.start()).text
        checked = await ann.press("✅ Check in")
        assert "Checked in! You earned 10 points." in checked.text
        again = ann.user.press_data("ci", ann.messages[0])  # the same button, tapped again
        await chat.bot.handled.wait(again)
        balance = await ann.send("/balance")

        assert "Balance: 110 points" in balance.text
        assert (await chat.mall.check()).ok
