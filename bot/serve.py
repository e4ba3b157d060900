"""``pointsmall run`` (Telegram or any Bot API server) and ``pointsmall sandbox`` (no network).

Both run the bot on the framework of ``[telegram] framework`` (or the sandbox's ``--framework``)
and, beside it, the outbox sender and the scheduled jobs (:mod:`bot.background`) with a
messenger on the same framework. ``run`` also opens the process's HTTP listener
(:mod:`bot.listener`: the webhook, ``/healthz``, ``/metrics``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from pydantic import SecretStr

from bot import shop_platforms
from bot.background import background
from bot.content import SPOKEN
from bot.listener import Listener, listening
from bot.running import Framework, open_messenger, running_bot
from bot.runtime import Runtime, open_runtime, wait_for_telegram
from bot.sandbox import Sandbox
from bot.settings import Config
from bot.shop_api import ShopApi
from core.db.database import Database, StoreLost
from core.rewards.catalog_file import CatalogError, load_catalog

log = logging.getLogger(__name__)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_CATALOG = EXAMPLES / "catalog.toml"
SANDBOX_TOKEN = "424242:sandbox-token-no-network-needed"
# The sandbox's admin when the config names none.
SANDBOX_ADMIN_ID = 1000
# The sandbox's phone hash key when the config sets none, so that "Link shop account" works in
# the demo; fixed, since changing it would unlink the demo's phones. Never a real mall's key.
SANDBOX_PHONE_HASH_KEY = "sandbox-phone-hash-key-for-the-demo-only"


class _Signals:
    """SIGINT and SIGTERM, heard from the moment the process starts.

    While the process starts (the database, Telegram, the bot and the jobs coming up), a signal
    cancels the start, so that what was opened closes in order; without this, a SIGTERM that
    came before serving began killed the process at once. Once :meth:`serving` is called, a
    signal sets :attr:`stop` and serving ends in order.
    """

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self._starting = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._received)

    def _received(self) -> None:
        self.stop.set()
        starting, self._starting = self._starting, None
        if starting is not None:
            log.info("stopping before the start was over")
            starting.cancel()

    def serving(self) -> None:
        """Started: a signal now sets :attr:`stop` instead of cancelling the start."""
        self._starting = None

    def cancelled_the_start(self) -> bool:
        """Whether a ``CancelledError`` came from a signal during the start (not from outside)."""
        return self.stop.is_set()


async def run(config: Config) -> int:
    telegram = config.telegram
    if telegram.token is None:
        print(
            "pointsmall: no bot token: set POINTSMALL_TELEGRAM_TOKEN (or telegram.token in the"
            " config) to the token @BotFather gave you, or try `pointsmall sandbox`",
            file=sys.stderr,
        )
        return 2
    token = telegram.token.get_secret_value()
    shop = ShopApi(rate=config.shop.api_requests_per_second, burst=config.shop.api_burst)
    signals = _Signals()
    try:
        async with (
            listening(
                config.http.host,
                config.http.port,
                webhook_expected=telegram.mode == "webhook",
                mounts=(shop.mount, partial(shop_platforms.mount, shop)),
            ) as listener,
            open_runtime(config, wait_for_database=True) as runtime,
        ):
            shop.runtime = runtime
            # The shop's links (POST /api/v1/links) name the bot: https://t.me/<username>?start=
            shop.bot_username = await wait_for_telegram(token, telegram.api_server)
            await _serve(runtime, listener, token, signals)
    except asyncio.CancelledError:
        if not signals.cancelled_the_start():
            raise
    return 0


async def _serve(runtime: Runtime, listener: Listener, token: str, signals: _Signals) -> None:
    config = runtime.config
    telegram = config.telegram
    async with (
        running_bot(
            runtime,
            token,
            telegram.api_server,
            webhook=telegram.mode == "webhook",
            listener=listener,
        ),
        open_messenger(
            token,
            telegram.api_server,
            framework=telegram.framework,
            connections=config.sender.concurrency,
        ) as messenger,
        background(runtime, messenger),
    ):
        signals.serving()
        await _until_stopped_or_lost(runtime.db, signals.stop)


async def _until_stopped_or_lost(db: Database, stop: asyncio.Event) -> None:
    """Until a signal stops the process; :class:`StoreLost` if the SQLite file goes first."""
    stopped = asyncio.create_task(stop.wait())
    lost = asyncio.create_task(db.lost.wait())
    try:
        await asyncio.wait({stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        lost.cancel()
    if db.lost.is_set():
        raise StoreLost(db.lost_reason)


async def sandbox(
    config: Config, port: int | None = None, framework: Framework | None = None
) -> int:
    admins = config.telegram.admins or (SANDBOX_ADMIN_ID,)
    shop = config.shop
    if shop.phone_hash_key is None:
        shop = shop.model_copy(update={"phone_hash_key": SecretStr(SANDBOX_PHONE_HASH_KEY)})
    config = config.model_copy(
        update={
            "telegram": config.telegram.model_copy(update={"admins": admins}),
            "shop": shop,
        }
    )
    server = Sandbox(
        token=SANDBOX_TOKEN,
        host="127.0.0.1",
        port=port or config.sandbox.port,
        admins=[(admin, "Admin" if i == 0 else f"Admin {i + 1}") for i, admin in enumerate(admins)],
    )
    await asyncio.to_thread(Path("var").mkdir, exist_ok=True)
    signals = _Signals()
    try:
        await _sandbox(config, server, framework, signals)
    except asyncio.CancelledError:
        if not signals.cancelled_the_start():
            raise
    return 0


async def _sandbox(
    config: Config, server: Sandbox, framework: Framework | None, signals: _Signals
) -> None:
    async with AsyncExitStack() as stack:
        await server.start()
        stack.push_async_callback(server.stop)
        runtime = await stack.enter_async_context(open_runtime(config, config.sandbox.database_url))
        try:
            loaded = await load_catalog(
                runtime.db, config, DEMO_CATALOG, datetime.now(UTC), languages=SPOKEN
            )
        except CatalogError as error:  # the demo is ours: a problem here is a bug to report
            log.error("the demo catalog did not load: %s", "; ".join(map(str, error.problems)))
        else:
            for warning in loaded.warnings:  # e.g. a demo prize no one can win
                log.warning("the demo catalog: %s", warning)
        chosen = framework or config.telegram.framework
        await stack.enter_async_context(
            running_bot(runtime, SANDBOX_TOKEN, server.api_server, framework=chosen)
        )
        messenger = await stack.enter_async_context(
            open_messenger(
                SANDBOX_TOKEN,
                server.api_server,
                framework=chosen,
                connections=config.sender.concurrency,
            )
        )
        await stack.enter_async_context(background(runtime, messenger))
        print(f"\n  PointsMall sandbox: open {server.page_url} in a browser (Ctrl-C stops)\n")
        signals.serving()
        await signals.stop.wait()
