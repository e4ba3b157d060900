"""A bot process killed (SIGKILL) under load, again and again: no member's message is lost.

Thirty members each send /start, /checkin, /balance and /help at once; the bot process is
killed three times while it works through them and started again each time. In the end every
member has an answer to each of the four messages, the sign-up bonus and the check-in were
credited once, and ``pointsmall check`` passes. On SQLite and PostgreSQL, on both frameworks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.running import Framework
from bot.sandbox import Sandbox
from bot.settings import parse_config
from core.db.database import Database
from core.mall import Mall
from tests.support.chat import TOKEN
from tests.support.processes import (
    SCRIPT,
    BotProcess,
    answered,
    free_port,
    process_config,
    progress,
    run_check,
    until,
)

MEMBERS = 30
KILL_AT = (0.1, 0.4, 0.7)  # of all the answers due
FINISH_TIMEOUT = 240.0


@pytest.mark.slow
async def test_killing_the_bot_under_load_loses_no_update_and_doubles_no_point(
    database_url: str, framework: Framework, tmp_path: Path
) -> None:
    async with Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox:
        port = free_port()
        config = process_config(
            database_url=database_url,
            api_server=sandbox.api_server,
            framework=framework,
            port=port,
        )
        bot = BotProcess("bot", tmp_path, config, TOKEN, port)
        users = [
            sandbox.add_user(first_name=f"Member {i}", language_code="en") for i in range(MEMBERS)
        ]
        for user in users:
            for text in SCRIPT:
                user.send(text)
        try:
            at_kills = []
            for share in KILL_AT:
                await bot.start()
                await until(lambda s=share: progress(users) >= s, 120)
                await bot.kill()
                at_kills.append(progress(users))
            assert at_kills[0] < 1.0, "the first kill came after all the work: nothing tested"
            await bot.start()
            try:
                await until(lambda: progress(users) >= 1.0, FINISH_TIMEOUT)
            except TimeoutError:
                missing = {u.first_name: set(SCRIPT) - answered(u) for u in users}
                pytest.fail(
                    f"unanswered after the kills: { {k: v for k, v in missing.items() if v} }"
                    f"\n{bot.log_tail()}"
                )
            assert await bot.stop() == 0, bot.log_tail()
        finally:
            await bot.kill()

        status, report = await run_check(config, tmp_path)
        assert status == 0, report
        db = Database.from_url(database_url)
        try:
            mall = Mall.build(db, parse_config(config))
            for user in users:
                # 100 to join and 10 for the day's check-in, each exactly once.
                assert (await mall.statements.balance(user.id)).balance == 110, user.first_name
        finally:
            await db.dispose()
        assert sandbox.violations == []
