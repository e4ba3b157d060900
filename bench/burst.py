"""A flash-sale burst through the bot: 2,000 members press Buy on a 100-unit sale within a second.

Run from the repository root::

    .venv/bin/python bench/burst.py                              # SQLite and PostgreSQL
    .venv/bin/python bench/burst.py --backend sqlite --members 200 --units 10   # a quick look
    .venv/bin/python bench/burst.py --framework aiogram

The bot (``--framework``, python-telegram-bot by default) runs against the sandbox's Bot API
server, as ``bench/bot.py`` drives it, on a fresh store: a SQLite file in a temporary directory,
or a scratch PostgreSQL database that the script creates on the server of ``--postgres-url``
and drops at the end (unless ``--keep``). ``--members`` members join with enough points; each
opens the first-come sale's screen (``/sales``, then the sale; not measured). Then, within one
second (evenly spaced), every member presses "⚡ Buy"; a member who gets the confirmation presses
"✅ Redeem" at once, as a person racing for the last units does. A member's *answer* is the one
that settles it: the redemption done, or "sold out" (at Buy, or at Redeem when the units went
meanwhile). Reported: the time from the first press until every member has an answer, p50/p99
of each member's latency (press of Buy to that answer), the units sold (exactly ``--units``,
counted in the store) and the members told it is sold out (all the others, read from their
chats); the ledger's invariants are checked afterwards.

Beside it, measured in the same run and the same way: the plain echo bot of the same framework
from ``bench/bot.py`` (its Application or Dispatcher, nothing stored), answering the same
members' two presses in the same one-second burst (a callback answer and an edit each). Ratio
= echo's time to answer everyone / the mall's. Nothing leaves 127.0.0.1; speed is reported,
never asserted; a wrong count (sold, told sold out) ends the script with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The repository first: bench/ (this script's folder) holds a bot.py that is not the package.
sys.path[:] = [str(ROOT), *(p for p in sys.path if p != str(ROOT))]
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.running import FRAMEWORKS, Framework, running_bot  # noqa: E402
from bot.runtime import Runtime, open_runtime  # noqa: E402
from bot.sandbox import Sandbox, SandboxUser  # noqa: E402
from bot.settings import parse_config  # noqa: E402
from bot.tracking import Handled  # noqa: E402
from core.db.models import Redemption  # noqa: E402
from core.rewards.catalog_file import load_catalog  # noqa: E402


def _bench_bot() -> ModuleType:
    """bench/bot.py (its echo bots), under a name that is not the ``bot`` package's."""
    spec = importlib.util.spec_from_file_location("bench_bot", BENCH / "bot.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


bench_bot = _bench_bot()
from ledger import drop_postgres, recreate_postgres  # noqa: E402

TOKEN = bench_bot.TOKEN
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/pointsmall_bench_burst"
PRICE = 80
SALE_PRICE = 30
BUY = f"⚡ Buy for {SALE_PRICE} points"
REDEEM = f"✅ Redeem for {SALE_PRICE} points"
# The echo's buttons (bench/bot.py's ECHO_BUTTONS): two presses per member, like Buy and Redeem.
ECHO_FIRST, ECHO_SECOND = "💰 Balance", "⬅️ Menu"
CATALOG = f"""
[[items]]
sku = "mug"
title = "Mug"
category = "Goods"
kind = "virtual"
price = {PRICE}
"""
CONFIG = """
[members]
signup_bonus = 1000
"""
# Setup (not measured): this many members at a time open the sale's screen.
SETUP_CONCURRENCY = 50
TIMEOUT = 300.0


class Answers:
    """When each update was handled (its answers made), with a future per awaited update.

    Waiting on ``Handled`` itself wakes every waiter on every update: with 2,000 members that is
    the client's own cost growing with the square of the burst, not the bot's.
    """

    def __init__(self, handled: Handled) -> None:
        self._futures: dict[int, asyncio.Future[float]] = {}
        self._early: dict[int, float] = {}
        original = handled.done

        def done(update_id: int) -> None:
            now = time.perf_counter()
            original(update_id)
            future = self._futures.pop(update_id, None)
            if future is None:
                self._early[update_id] = now
            elif not future.done():
                future.set_result(now)

        handled.done = done  # type: ignore[method-assign]

    def answered(self, update_id: int) -> Awaitable[float]:
        """The moment ``update_id`` was handled (call right after pressing)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if update_id in self._early:
            future.set_result(self._early.pop(update_id))
        else:
            self._futures[update_id] = future
        return asyncio.wait_for(future, TIMEOUT)


@dataclass
class Burst:
    members: int
    seconds: float  # first press to the last member's answer
    latencies_ms: list[float]
    outcomes: dict[str, int] = field(default_factory=dict)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def burst(
    users: list[SandboxUser],
    answers: Answers,
    first: str,
    then: Callable[[SandboxUser], str | None],
) -> Burst:
    """Every user presses ``first`` within one second; ``then`` names a second press (or None)
    once the first is answered. Latency: the first press to the last answer."""
    latencies: list[float] = []
    ends: list[float] = []
    started = time.perf_counter()
    spacing = 1.0 / len(users)

    async def member(n: int, user: SandboxUser) -> None:
        delay = started + n * spacing - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pressed = time.perf_counter()
        answered = await answers.answered(user.press(first))
        second = then(user)
        if second is not None:
            answered = await answers.answered(user.press(second))
        latencies.append((answered - pressed) * 1000)
        ends.append(answered)

    await asyncio.gather(*(member(n, user) for n, user in enumerate(users)))
    return Burst(len(users), max(ends) - started, latencies)


async def in_batches(
    users: list[SandboxUser], step: Callable[[SandboxUser], Awaitable[None]]
) -> None:
    for start in range(0, len(users), SETUP_CONCURRENCY):
        await asyncio.gather(*(step(user) for user in users[start : start + SETUP_CONCURRENCY]))


def has_button(user: SandboxUser, text: str) -> bool:
    try:
        last = user.last
    except AssertionError:
        return False
    return not last.deleted and last.button(text) is not None


def told_sold_out(user: SandboxUser) -> bool:
    """The member's last answer says sold out: the screen, or the alert on the press."""
    said = [user.last.text] + [text for text, _ in user.notices[-1:]]
    return any("sold out" in text.lower() for text in said)


async def mall_burst(framework: Framework, url: str, members: int, units: int) -> tuple[Burst, str]:
    config = parse_config(
        f'{CONFIG}\n[database]\nurl = "{url}"\n[telegram]\nframework = "{framework}"\n'
    )
    async with Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox:
        async with open_runtime(config) as runtime:
            sale_id, item_id = await open_sale(runtime, units)
            users = [
                sandbox.add_user(first_name=f"Member{n}", language_code="en")
                for n in range(members)
            ]
            now = runtime.clock()

            async def join(user: SandboxUser) -> None:
                user.started = True
                await runtime.mall.members.join(user.id, user.first_name, "en", now)

            await in_batches(users, join)
            async with running_bot(runtime, TOKEN, sandbox.api_server) as bot:
                answers = Answers(bot.handled)

                async def open_screen(user: SandboxUser) -> None:
                    await answers.answered(user.send("/sales"))
                    await answers.answered(user.press("⚡ Mug"))
                    if not has_button(user, BUY):
                        raise SystemExit(f"no Buy button for {user.first_name}: {user.last.text}")

                print(f"setup: {members} members open the sale...", file=sys.stderr)
                await in_batches(users, open_screen)
                print("the burst...", file=sys.stderr)
                result = await burst(
                    users, answers, BUY, lambda user: REDEEM if has_button(user, REDEEM) else None
                )
            async with runtime.db.read() as conn:
                buyers = set(
                    (
                        await conn.execute(
                            select(Redemption.member_id).where(
                                Redemption.flash_sale_id == sale_id,
                                Redemption.status == "completed",
                            )
                        )
                    ).scalars()
                )
                sold = (
                    await conn.execute(
                        select(func.count()).where(
                            Redemption.item_id == item_id, Redemption.status == "completed"
                        )
                    )
                ).scalar_one()
            report = await runtime.mall.check()
        if sandbox.violations:
            raise SystemExit(f"spec violations: {sandbox.violations[:5]}")
    refused = sum(1 for user in users if user.id not in buyers and told_sold_out(user))
    result.outcomes = {
        "sold": int(sold),
        "buyers": len(buyers),
        "told sold out": refused,
        "neither": sum(1 for u in users if u.id not in buyers and not told_sold_out(u)),
    }
    return result, "clean" if report.ok else f"NOT clean: {report}"


async def open_sale(runtime: Runtime, units: int) -> tuple[int, int]:
    mall, now = runtime.mall, runtime.clock()
    await load_catalog(runtime.db, runtime.config, CATALOG, now)
    item = await mall.catalog.get_item_by_sku("mug")
    sale = await mall.flash_sales.create_sale(
        item.item_id,
        SALE_PRICE,
        units,
        now - timedelta(minutes=1),
        now + timedelta(hours=1),
        "first_come",
        now=now,
    )
    return sale.sale_id, item.item_id


async def echo_burst(framework: Framework, members: int) -> Burst:
    factory: Callable[[Sandbox], AbstractAsyncContextManager[Handled]] = bench_bot.ECHO_BOTS[
        framework
    ]
    async with Sandbox(token=TOKEN, host="127.0.0.1", port=0) as sandbox:
        async with factory(sandbox) as handled:
            answers = Answers(handled)
            users = [
                sandbox.add_user(first_name=f"Echo{n}", language_code="en") for n in range(members)
            ]

            async def open_screen(user: SandboxUser) -> None:
                await answers.answered(user.send("hello"))

            await in_batches(users, open_screen)
            result = await burst(users, answers, ECHO_FIRST, lambda user: ECHO_SECOND)
        if sandbox.violations:
            raise SystemExit(f"spec violations: {sandbox.violations[:5]}")
    return result


@asynccontextmanager
async def store(backend: str, args: argparse.Namespace) -> AsyncIterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite+aiosqlite:///{folder}/burst.db"
        return
    name = make_url(args.postgres_url).database or "pointsmall_bench_burst"
    target = await recreate_postgres(args.postgres_url, name)
    try:
        yield target.url
    finally:
        if not args.keep:
            await drop_postgres(args.postgres_url, name)


def line(name: str, result: Burst) -> str:
    return (
        f"| {name} | {result.members:,} | {result.seconds:,.2f} | {result.percentile(50):,.0f}"
        f" | {result.percentile(99):,.0f} |"
    )


async def main(args: argparse.Namespace) -> int:
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    framework: Framework = args.framework
    print(f"echo bot ({framework})...", file=sys.stderr)
    echo = await echo_burst(framework, args.members)
    results: dict[str, tuple[Burst, str]] = {}
    for backend in backends:
        print(f"PointsMall ({framework}, {backend})...", file=sys.stderr)
        async with store(backend, args) as url:
            results[backend] = await mall_burst(framework, url, args.members, args.units)
    print(f"command: python bench/burst.py {shlex.join(sys.argv[1:])}")
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(
        f"{args.members:,} members press Buy on a {args.units:,}-unit first-come sale within one"
        " second; those shown the confirmation press Redeem at once"
    )
    print()
    print("| bot | members | s until all answered | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(line(f"echo bot ({framework}), two presses each", echo))
    for backend, (result, _) in results.items():
        print(line(f"PointsMall ({framework}, {backend})", result))
    print()
    good = True
    for backend, (result, ledger) in results.items():
        o = result.outcomes
        exact = (
            o["sold"] == args.units
            and o["buyers"] == args.units
            and o["told sold out"] == args.members - args.units
            and o["neither"] == 0
        )
        good = good and exact and ledger == "clean"
        print(
            f"{backend}: sold {o['sold']} (aim: exactly {args.units}), told sold out"
            f" {o['told sold out']} (aim: {args.members - args.units}), neither {o['neither']}:"
            f" {'met' if exact else 'NOT met'}; mall.check(): {ledger}"
        )
        print(
            f"{backend}: ratio echo / mall (time until all answered):"
            f" {echo.seconds / result.seconds:.2f}"
        )
    return 0 if good else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--framework", choices=FRAMEWORKS, default="ptb")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="the scratch database to (re)create; dropped at the end unless --keep",
    )
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if args.units >= args.members:
        parser.error("--units must be fewer than --members: the sale must sell out")
    return args


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(asyncio.run(main(parse_args())))
