"""The member bot under load, beside a bare echo bot on the same framework and the same server.

Run from the repository root::

    .venv/bin/python bench/bot.py                          # both frameworks, 50 members x 12
    .venv/bin/python bench/bot.py --framework aiogram      # one framework only
    .venv/bin/python bench/bot.py --members 20 --rounds 1  # a quick look

K simulated members talk to the bot through the sandbox's Bot API server over HTTP, each
following the same script: /start, check in, back to the menu, balance, history, the mall, a
category, an item, Redeem, confirm, the menu. Every member waits for the answer to one action
before the next, as a person does; the members run concurrently.

- **Maximum rate**: all members at once (closed loop): updates handled per second.
- **Latency at half that rate**: actions are started at half the maximum rate (open loop, evenly
  spaced); p50 and p99 from sending the update to the bot having answered it (its messages,
  edits and callback answers all made).

Each framework's mall (python-telegram-bot, aiogram) is measured beside plain echo bots on that
same framework and the same script: they answer a message with the same text and the script's
buttons, and a press with a callback answer and an edit, storing nothing.

- python-telegram-bot: its ``Application`` polling, updates handled one after another (its
  default, "sequential") and concurrently (``concurrent_updates``); the faster of the two is
  the baseline, so the ratio is against the strongest plain bot, not a handicapped one.
- aiogram: its ``Dispatcher`` polling with its defaults (each update handled as a task).
- The echo on our own processor: the mall's own path (getUpdates into the inbox, the workers,
  the adapter, the answering policy) with the conversation replaced by the same echo. Mall /
  this echo says what the mall's features cost; mall / plain echo what the whole stack costs.

Ratio = mall / the strongest plain echo, per framework. CPU ms per update is the process's CPU
time (server and members included, the same for every bot) over the updates of the closed loop:
steadier than rates on a shared machine. The inbox alone is measured too: the same number of
updates through ``core.operations.inbox`` without the bot. Everything runs in this one process and
event loop (server, bots, members), on a fresh SQLite store; nothing leaves 127.0.0.1. Speed is
reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# First, even when PYTHONPATH names it: this script's folder comes first otherwise, and its own
# name (bot.py) would shadow the bot package.
sys.path.insert(0, str(ROOT))

import aiogram.types  # noqa: E402
from aiogram import Bot, Dispatcher  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import ApplicationBuilder, ContextTypes, TypeHandler  # noqa: E402

from bot.events import Command, Event, Press, Text  # noqa: E402
from bot.i18n import Html  # noqa: E402
from bot.running import FRAMEWORKS, Framework, running_bot  # noqa: E402
from bot.runtime import open_runtime  # noqa: E402
from bot.sandbox import Sandbox, SandboxUser  # noqa: E402
from bot.screens import Button, Edit, Notice, Output, Screen, Send  # noqa: E402
from bot.serve import DEMO_CATALOG  # noqa: E402
from bot.settings import parse_config  # noqa: E402
from bot.tracking import Handled  # noqa: E402
from core.operations.inbox import Inbox, Received  # noqa: E402
from core.rewards.catalog_file import load_catalog  # noqa: E402

TOKEN = "777000:bench-token-for-the-sandbox-only"
# (kind, what): send a text, or press the button with this text on the newest message having it.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("send", "/start"),
    ("press", "✅ Check in"),
    ("press", "⬅️ Menu"),
    ("press", "💰 Balance"),
    ("press", "📜 History"),
    ("press", "⬅️ Menu"),
    ("press", "🛍 Mall"),
    ("send", "/balance"),
    ("send", "/menu"),
    ("press", "🎁 Blind boxes"),
    ("press", "⬅️ Menu"),
    ("send", "/checkin"),
)
ECHO_BUTTONS = sorted({what for kind, what in SCRIPT if kind == "press"})


@dataclass
class Figures:
    updates: int
    seconds: float
    latencies_ms: list[float]
    cpu_seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_ms(self) -> float:
        """The process's CPU time per update (server and members included)."""
        return self.cpu_seconds / self.updates * 1000

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


BotFactory = Callable[[Sandbox], AbstractAsyncContextManager[Handled]]


def mall_bot(framework: Framework, *, echo: bool = False) -> BotFactory:
    """The mall on ``framework``; with ``echo``, its own path (inbox, workers, adapter,
    answering) with the conversation replaced by the plain echo's answers."""

    @asynccontextmanager
    async def start(sandbox: Sandbox) -> AsyncIterator[Handled]:
        with tempfile.TemporaryDirectory() as folder:
            config = parse_config(
                f'[database]\nurl = "sqlite+aiosqlite:///{folder}/bench.db"\n'
                f'[telegram]\nframework = "{framework}"\n'
            )
            async with open_runtime(config) as runtime:
                await load_catalog(runtime.db, config, DEMO_CATALOG, runtime.clock())
                async with running_bot(runtime, TOKEN, sandbox.api_server) as bot:
                    if echo:
                        bot.conversation.handle = echo_outputs  # type: ignore[method-assign]
                    yield bot.handled

    return start


ECHO_SCREEN_BUTTONS = tuple((Button(text, data=f"e{i}"),) for i, text in enumerate(ECHO_BUTTONS))


async def echo_outputs(event: Event) -> list[Output]:
    """What the plain echo bots answer, as the conversation's outputs."""
    action = event.action
    if isinstance(action, Press):
        return [Notice(), Edit(Screen(Html(f"pressed {action.data}"), ECHO_SCREEN_BUTTONS))]
    if isinstance(action, Command):
        text = f"/{action.name} {action.args}".rstrip()
    else:
        text = action.text if isinstance(action, Text) else ""
    return [Send(Screen(Html(text), ECHO_SCREEN_BUTTONS))]


def ptb_echo_bot(*, concurrent: bool) -> BotFactory:
    @asynccontextmanager
    async def start(sandbox: Sandbox) -> AsyncIterator[Handled]:
        async with ptb_echo(sandbox, concurrent) as handled:
            yield handled

    return start


@asynccontextmanager
async def ptb_echo(sandbox: Sandbox, concurrent: bool) -> AsyncIterator[Handled]:
    """A plain python-telegram-bot echo: its Application, updates handled one after another
    (python-telegram-bot's default) or ``concurrent``-ly."""
    root = sandbox.api_server
    application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .concurrent_updates(concurrent)
        .build()
    )
    handled = Handled()
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=f"e{i}")] for i, text in enumerate(ECHO_BUTTONS)]
    )

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            if update.callback_query is not None:
                query = update.callback_query
                await query.answer()
                await query.edit_message_text(f"pressed {query.data}", reply_markup=keyboard)
            elif update.message is not None and update.message.text:
                await update.message.reply_text(update.message.text, reply_markup=keyboard)
        finally:
            handled.done(update.update_id)

    application.add_handler(TypeHandler(Update, echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(timeout=20)
    try:
        yield handled
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@asynccontextmanager
async def aiogram_echo_bot(sandbox: Sandbox) -> AsyncIterator[Handled]:
    """A plain aiogram echo: its Dispatcher's polling, each update handled as a task."""
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(sandbox.api_server)))
    handled = Handled()
    keyboard = aiogram.types.InlineKeyboardMarkup(
        inline_keyboard=[
            [aiogram.types.InlineKeyboardButton(text=text, callback_data=f"e{i}")]
            for i, text in enumerate(ECHO_BUTTONS)
        ]
    )

    async def echo(update: aiogram.types.Update) -> None:
        try:
            query, message = update.callback_query, update.message
            if query is not None and query.message is not None:
                await bot.answer_callback_query(query.id)
                await bot.edit_message_text(
                    text=f"pressed {query.data}",
                    chat_id=query.message.chat.id,
                    message_id=query.message.message_id,
                    reply_markup=keyboard,
                )
            elif message is not None and message.text:
                await bot.send_message(message.chat.id, message.text, reply_markup=keyboard)
        finally:
            handled.done(update.update_id)

    async def every_update(
        handler: Callable[..., Awaitable[Any]], event: Any, data: dict[str, Any]
    ) -> None:
        await echo(event)

    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(every_update)
    started = asyncio.Event()
    dispatcher.startup.register(started.set)
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot, polling_timeout=20, handle_signals=False, close_bot_session=False
        )
    )
    try:
        await started.wait()
        yield handled
    finally:
        await dispatcher.stop_polling()
        await task
        await bot.session.close()


# The echo each framework's flash-sale burst is measured beside (bench/burst.py), as before.
ECHO_BOTS: dict[str, BotFactory] = {
    "ptb": ptb_echo_bot(concurrent=True),
    "aiogram": aiogram_echo_bot,
}
# The plain echo bots of each framework; the fastest is the baseline of the framework's ratio.
PLAIN_ECHOES: dict[str, tuple[tuple[str, BotFactory], ...]] = {
    "ptb": (
        ("echo bot (ptb)", ptb_echo_bot(concurrent=False)),  # its default: sequential
        ("echo bot (ptb, concurrent)", ptb_echo_bot(concurrent=True)),
    ),
    "aiogram": (("echo bot (aiogram)", aiogram_echo_bot),),
}


async def act(user: SandboxUser, step: tuple[str, str], handled: Handled) -> float:
    kind, what = step
    started = time.perf_counter()
    update_id = user.send(what) if kind == "send" else user.press(what)
    await handled.wait(update_id, timeout=60)
    return (time.perf_counter() - started) * 1000


async def closed_loop(users: list[SandboxUser], handled: Handled) -> Figures:
    latencies: list[float] = []

    async def member(user: SandboxUser) -> None:
        for step in SCRIPT:
            latencies.append(await act(user, step, handled))

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(member(user) for user in users))
    return Figures(
        len(latencies), time.perf_counter() - started, latencies, time.process_time() - cpu
    )


async def open_loop(users: list[SandboxUser], handled: Handled, rate: float) -> Figures:
    """Start actions every 1/rate seconds, round-robin over members whose last one is done."""
    latencies: list[float] = []
    ready: asyncio.Queue[tuple[SandboxUser, int]] = asyncio.Queue()
    for user in users:
        ready.put_nowait((user, 0))
    total = len(users) * len(SCRIPT)
    tasks: set[asyncio.Task[None]] = set()

    async def one(user: SandboxUser, index: int) -> None:
        latencies.append(await act(user, SCRIPT[index], handled))
        if index + 1 < len(SCRIPT):
            ready.put_nowait((user, index + 1))

    started = time.perf_counter()
    for n in range(total):
        user, index = await ready.get()
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(one(user, index))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return Figures(len(latencies), time.perf_counter() - started, latencies)


async def measure(factory: BotFactory, members: int) -> tuple[Figures, Figures]:
    async with Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox:
        async with factory(sandbox) as handled:
            warm = [sandbox.add_user(first_name=f"Warm{i}", language_code="en") for i in range(5)]
            await closed_loop(warm, handled)
            users = [
                sandbox.add_user(first_name=f"Member{i}", language_code="en")
                for i in range(members)
            ]
            peak = await closed_loop(users, handled)
            users = [
                sandbox.add_user(first_name=f"Paced{i}", language_code="en") for i in range(members)
            ]
            paced = await open_loop(users, handled, peak.rate / 2)
        if sandbox.violations:
            raise SystemExit(f"spec violations: {sandbox.violations[:5]}")
    return peak, paced


async def inbox_cost(updates: int, members: int) -> float:
    """Seconds per update through the inbox alone, as the bot uses it: each update stored as
    it arrives, taken by a worker, marked done; ``members`` chats, on a fresh SQLite store."""
    with tempfile.TemporaryDirectory() as folder:
        config = parse_config(f'[database]\nurl = "sqlite+aiosqlite:///{folder}/inbox.db"\n')
        async with open_runtime(config) as runtime:
            inbox = Inbox(runtime.db, 1, lease=timedelta(seconds=30))
            now = datetime.now(UTC)
            started = time.perf_counter()
            for n in range(updates):
                payload = json.dumps({"update_id": n, "message": {"text": "/balance"}})
                await inbox.accept([Received(n, n % members, payload)], now)
                for taken in await inbox.take("bench", now, limit=64):
                    await inbox.done([taken.inbox_id], now)
            return (time.perf_counter() - started) / updates


def row(name: str, peak: Figures, paced: Figures) -> str:
    return (
        f"| {name} | {peak.rate:,.0f} | {peak.cpu_ms:.2f} | {peak.percentile(50):.1f}"
        f" | {peak.percentile(99):.1f} | {paced.rate:,.0f} | {paced.percentile(50):.1f}"
        f" | {paced.percentile(99):.1f} |"
    )


def verdict(met: bool) -> str:
    return "met" if met else "not met"


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for each bot")
    parser.add_argument(
        "--framework", choices=FRAMEWORKS, action="append", help="only this one (default: both)"
    )
    args = parser.parse_args(argv)
    frameworks: list[Framework] = args.framework or list(FRAMEWORKS)
    logging.basicConfig(level=logging.WARNING)
    # Every bot here shares one process, whose heap holds both frameworks, SQLAlchemy and the
    # sandbox: a full garbage collection walks all of it (270-290 ms of CPU), a pause that a bot
    # alone in its process would not have. Frozen once here, before any bot starts, so that
    # no bot pays for the others' objects and none is spared them by a freeze another made
    # (bot.running freezes the start-up heap of the process that runs the mall).
    gc.collect()
    gc.freeze()
    bots = [
        bot
        for framework in frameworks
        for bot in (
            *PLAIN_ECHOES[framework],
            (f"echo on our processor ({framework})", mall_bot(framework, echo=True)),
            (f"PointsMall ({framework})", mall_bot(framework)),
        )
    ]
    results: dict[str, tuple[Figures, Figures]] = {}
    for round_ in range(args.rounds):
        for name, factory in bots:
            print(f"round {round_ + 1}: {name}...", file=sys.stderr)
            peak, paced = await measure(factory, args.members)
            best = results.get(name)
            if best is None or peak.rate > best[0].rate:
                results[name] = (peak, paced)
    inbox_seconds = await inbox_cost(args.members * len(SCRIPT), args.members)
    print(f"command: python bench/bot.py {shlex.join(argv)}")
    print(f"machine: {platform.machine()}, {platform.python_version()}; best of {args.rounds}")
    print(
        f"{args.members} members x {len(SCRIPT)} actions, all at once, then paced at half the rate"
    )
    print()
    print(
        "| bot | max updates/s | CPU ms/update | p50 ms | p99 ms"
        " | paced updates/s | p50 ms | p99 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, _ in bots:
        print(row(name, *results[name]))
    for framework in frameworks:
        plain, echo = max(
            ((name, results[name]) for name, _ in PLAIN_ECHOES[framework]),
            key=lambda named: named[1][0].rate,
        )
        own = results[f"echo on our processor ({framework})"]
        mall = results[f"PointsMall ({framework})"]
        print()
        ratio, p99 = mall[0].rate / echo[0].rate, mall[1].percentile(99)
        print(
            f"{framework}: ratio mall / echo (max rate): {ratio:.2f} against the {plain}"
            f"  (aim: >= 0.7: {verdict(ratio >= 0.7)})"
        )
        print(
            f"{framework}: ratio mall / echo on our processor (max rate):"
            f" {mall[0].rate / own[0].rate:.2f}; CPU ms per update: mall {mall[0].cpu_ms:.2f},"
            f" our processor's echo {own[0].cpu_ms:.2f}, plain echo {echo[0].cpu_ms:.2f}"
        )
        print(
            f"{framework}: mall p99 at half its max rate: {p99:.1f} ms"
            f"  (aim: < 100 ms: {verdict(p99 < 100)})"
        )
        print(
            f"{framework}: median latency at max rate, mall:"
            f" {statistics.median(mall[0].latencies_ms):.1f} ms"
        )
        print(
            f"{framework}: the inbox alone: {inbox_seconds * 1000:.2f} ms per update"
            f" ({1 / inbox_seconds:,.0f} updates/s), {inbox_seconds * mall[0].rate:.0%} of the"
            " mall's time per update at its max rate"
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
