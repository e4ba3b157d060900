"""Several ``pointsmall run`` processes on one PostgreSQL, one of them killed mid-load.

Webhook mode: two processes (one on python-telegram-bot, one on aiogram) behind a round-robin
proxy; polling mode: three processes, of which one polls. In both, one process is killed
(SIGKILL) while members' messages and an admin's broadcast are being worked off. Every
message is answered, the sign-up bonus and check-in are credited once, every member gets the
broadcast exactly once, the scheduled jobs ran in one process at a time, and ``pointsmall
check`` passes.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.delivery import screen_to_json
from bot.running import Framework
from bot.sandbox import Sandbox, SandboxUser
from bot.screens import Screen
from bot.settings import parse_config
from core.db.database import Database
from core.mall import Mall
from tests.support.chat import TOKEN
from tests.support.processes import (
    ANSWERS,
    SCRIPT,
    BotProcess,
    free_port,
    process_config,
    progress,
    run_check,
    until,
)

MEMBERS = 24
NEWS = "Our spring menu is here."
FINISH_TIMEOUT = 240.0


@asynccontextmanager
async def round_robin(backends: list[str]) -> AsyncIterator[str]:
    """A load balancer in front of the processes' webhooks: each request to the next one;
    a backend that does not answer is a 502 (Telegram then sends the update again)."""
    turn = itertools.cycle(backends)

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-")}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
                session.post(
                    f"{next(turn)}/telegram",
                    data=body,
                    headers={**headers, "Content-Type": "application/json"},
                ) as answer,
            ):
                return web.Response(status=answer.status, body=await answer.read())
        except (aiohttp.ClientError, OSError, TimeoutError):
            return web.Response(status=502, text="bad gateway")

    app = web.Application()
    app.router.add_post("/telegram", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/telegram"
    finally:
        await runner.cleanup()


async def broadcast(mall: Mall) -> None:
    await mall.outbox.broadcast(
        key="admin:spring",
        payloads={"en": screen_to_json(Screen(NEWS))},
        default_language="en",
        now=datetime.now(UTC),
    )


async def check_the_end(
    database_url: str, config: str, users: list[SandboxUser], tmp_path: Path
) -> None:
    status, report = await run_check(config, tmp_path)
    assert status == 0, report
    db = Database.from_url(database_url)
    try:
        mall = Mall.build(db, parse_config(config))
        told = set()  # who got the news
        for user in users:
            assert (await mall.statements.balance(user.id)).balance == 110, user.first_name
            news = [m for m in user.bot_messages if m.text == NEWS]
            assert len(news) <= 1, f"{user.first_name} got the broadcast {len(news)} times"
            if news:
                told.add(user.id)
        # Sent once, or (a row whose call was under way when its process died) recorded
        # "uncertain" and never sent again: nobody is told twice, nothing is left pending.
        (news,) = await mall.outbox.recent(limit=1)
        assert news.pending == 0
        assert news.sent + news.uncertain == len(users)
        assert news.sent <= len(told) <= news.sent + news.uncertain
    finally:
        await db.dispose()


LEADS = "leading: the scheduled jobs run in this process"
POLLS = "this process polls Telegram for updates"


def logs_of(processes: list[BotProcess]) -> dict[str, str]:
    """What each process has logged so far, by its name."""
    return {
        p.name: "\n".join(path.read_text(errors="replace") for path in p.log_paths)
        for p in processes
    }


def saying(logs: dict[str, str], words: str) -> list[str]:
    """The processes whose logs say ``words``, once a line, in order of their logs."""
    return [name for name, text in logs.items() for line in text.splitlines() if words in line]


def scheduler_leads(processes: list[BotProcess]) -> list[str]:
    """Which process logs said they took the scheduler's lead, in order of their logs."""
    return saying(logs_of(processes), LEADS)


async def work_off_with_a_kill(
    processes: list[BotProcess],
    victim: BotProcess,
    users: list[SandboxUser],
    mall: Mall,
) -> dict[str, str]:
    """Work every member's script off while ``victim`` is killed; then stop the others.

    Returns the logs as they were when the work was done, before the orderly stops: a
    process stopping hands its locks to one still running, which is right, but not what
    the kill is about.
    """
    joined = ANSWERS["/start"]
    for user in users:
        user.send(SCRIPT[0])
    await until(lambda: all(any(joined(m.text) for m in u.bot_messages) for u in users), 120)
    for user in users:  # everyone has joined: the rest of their messages, and the news
        for text in SCRIPT[1:]:
            user.send(text)
    await broadcast(mall)
    await until(lambda: progress(users) >= 0.4, 60)
    await victim.kill()
    assert progress(users) < 1.0, "the kill came after all the work: nothing tested"
    try:
        async with asyncio.timeout(FINISH_TIMEOUT):
            while progress(users) < 1.0 or await mall.outbox.waiting():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    except TimeoutError:
        logs = "\n\n".join(f"--- {p.name}\n{p.log_tail()}" for p in processes)
        pytest.fail(f"not everything answered after the kill ({progress(users):.0%}):\n{logs}")
    if victim.name in scheduler_leads([victim]):  # another process takes over the jobs
        await until(lambda: len(scheduler_leads(processes)) >= 2, 40)
    await asyncio.sleep(2)  # time for a wrongly doubled message to show
    logged = logs_of(processes)
    for process in processes:
        if process is not victim:
            assert await process.stop() == 0, process.log_tail()
    return logged


@pytest.mark.slow
async def test_two_webhook_processes_behind_a_balancer_survive_losing_one(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share PostgreSQL; SQLite is one process's store")
    frameworks: list[Framework] = ["ptb", "aiogram"]
    ports = [free_port() for _ in frameworks]
    async with (
        Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox,
        round_robin([f"http://127.0.0.1:{port}" for port in ports]) as balancer,
    ):
        configs = [
            process_config(
                database_url=database_url,
                api_server=sandbox.api_server,
                framework=framework,
                port=port,
                webhook_url=balancer,
            )
            for framework, port in zip(frameworks, ports, strict=True)
        ]
        processes = [
            BotProcess(f"webhook-{framework}", tmp_path, config, TOKEN, port)
            for framework, config, port in zip(frameworks, configs, ports, strict=True)
        ]
        users = [sandbox.add_user(first_name=f"Member {i}") for i in range(MEMBERS)]
        db = Database.from_url(database_url)
        try:
            for process in processes:
                await process.start()
            mall = Mall.build(db, parse_config(configs[0]))
            await work_off_with_a_kill(processes, processes[0], users, mall)
        finally:
            for process in processes:
                await process.kill()
            await db.dispose()
        await check_the_end(database_url, configs[0], users, tmp_path)
        assert len(scheduler_leads(processes)) >= 1
        assert sandbox.violations == []


@pytest.mark.slow
async def test_three_polling_processes_survive_losing_the_one_that_polls(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes share PostgreSQL; SQLite is one process's store")
    async with Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox:
        ports = [free_port() for _ in range(3)]
        configs = [
            process_config(
                database_url=database_url,
                api_server=sandbox.api_server,
                framework="ptb" if i != 1 else "aiogram",
                port=port,
            )
            for i, port in enumerate(ports)
        ]
        processes = [
            BotProcess(f"polling-{i}", tmp_path, config, TOKEN, port)
            for i, (config, port) in enumerate(zip(configs, ports, strict=True))
        ]
        users = [sandbox.add_user(first_name=f"Member {i}") for i in range(MEMBERS)]
        db = Database.from_url(database_url)
        try:
            await processes[0].start()  # the first one up polls, and leads the jobs
            for process in processes[1:]:
                await process.start()
            mall = Mall.build(db, parse_config(configs[0]))
            logged = await work_off_with_a_kill(processes, processes[0], users, mall)
        finally:
            for process in processes:
                await process.kill()
            await db.dispose()
        await check_the_end(database_url, configs[0], users, tmp_path)
        polled = saying(logged, POLLS)
        assert "polling-0" in polled, polled
        assert len(polled) == 2, polled  # one other took over the polling
        leads = saying(logged, LEADS)
        assert "polling-0" in leads, leads
        assert len(leads) == 2, leads  # and one other took over the jobs
        assert sandbox.violations == []
