"""What every way of running the bot shares: the schema upgraded, the mall, the languages.

And how a bot started before what it needs comes up anyway: :func:`open_runtime` with
``wait_for_database`` and :func:`wait_for_telegram` retry with backoff (1, 2, 4 ... 30 s),
logging one line per failed try.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.bot_queries import BotQueries
from bot.conversation import Clock, Conversation, utc_now
from bot.features.admin import ADMIN_COMMANDS
from bot.features.menu import COMMANDS
from bot.i18n import Languages, load_languages
from bot.redact import TELEGRAM_API, TelegramUnreachable, TokenRejected, api_host, mask
from bot.settings import Config
from core.db.database import Database
from core.db.migrate import upgrade
from core.mall import Mall

log = logging.getLogger(__name__)
FIRST_RETRY = 1.0
LAST_RETRY = 30.0
"""Seconds between tries: doubled after each failure, up to this."""
TELEGRAM_TIMEOUT = 10.0


@dataclass
class Runtime:
    config: Config
    db: Database
    mall: Mall
    languages: Languages
    clock: Clock

    def conversation(self, bot_username: str, queries: BotQueries | None = None) -> Conversation:
        return Conversation(
            self.mall, self.config, self.languages, bot_username, self.clock, queries=queries
        )

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


def _backoff() -> Iterator[float]:
    delay = FIRST_RETRY
    while True:
        yield delay
        delay = min(delay * 2, LAST_RETRY)


async def connect(db: Database, *, wait: bool = False) -> None:
    """Reach the database and upgrade its schema.

    If it cannot be reached: :class:`~core.db.database.DatabaseUnreachable` (one line naming
    host and port, or the file), or, with ``wait``, a warning of one line and another try after
    a backoff, as long as waiting can help (a refused connection, an unknown host, a server
    starting up; not a missing database or a refused password).
    """
    delays = _backoff()
    while True:
        try:
            await db.ping()
            await upgrade(db)
            return
        except Exception as exc:
            problem = db.explain(exc)
            if problem is None:
                raise
        if not (wait and problem.transient):
            raise problem from None
        delay = next(delays)
        log.warning("%s; trying again in %g s", problem, delay)
        await asyncio.sleep(delay)


@asynccontextmanager
async def open_runtime(
    config: Config,
    database_url: str | None = None,
    clock: Clock = utc_now,
    *,
    wait_for_database: bool = False,
) -> AsyncIterator[Runtime]:
    """Upgrade the schema, then yield the mall; the database is closed on the way out.

    An unreachable database is a one-line :class:`~core.db.database.DatabaseUnreachable`, or,
    with ``wait_for_database`` (``pointsmall run``), retried until it answers (see
    :func:`connect`). ``runtime.db.lost`` is set if the SQLite file is deleted or replaced
    while the runtime is open.
    """
    db = Database.from_url(database_url or config.database.effective_url())
    try:
        await connect(db, wait=wait_for_database)
        mall = Mall.build(db, config)
        # Paid redemptions ended before Stars refunds existed are owed theirs (a no-op after).
        await mall.star_refunds.record_unrefunded(clock())
        yield Runtime(config, db, mall, load_languages(config.mall.timezone), clock)
    finally:
        await db.dispose()


async def wait_for_telegram(token: str, api_server: str = "", *, wait: bool = True) -> str:
    """Ask the Bot API server who the bot is (``getMe``) until it answers; the bot's username.

    A refused token is :class:`~bot.redact.TokenRejected` at once. A server that cannot be
    reached (connection refused, unknown host, timeout, 5xx, 429) is logged in one line naming
    its host and tried again after a backoff, or, without ``wait``,
    :class:`~bot.redact.TelegramUnreachable`. The token appears in nothing logged or raised.
    """
    import httpx

    root = (api_server or TELEGRAM_API).rstrip("/")
    host = api_host(api_server)
    delays = _backoff()
    async with httpx.AsyncClient(timeout=TELEGRAM_TIMEOUT) as client:
        while True:
            try:
                response = await client.get(f"{root}/bot{token}/getMe")
            except httpx.HTTPError as exc:
                reason = str(exc).replace(token, mask(token)).strip() or type(exc).__name__
            else:
                if response.status_code in (401, 404):
                    raise TokenRejected(token, api_server)
                if response.status_code == 200:
                    username = response.json().get("result", {}).get("username", "")
                    return str(username)
                reason = f"HTTP {response.status_code}"
            problem = f"cannot reach the Bot API server at {host} ({reason.splitlines()[0]})"
            if not wait:
                raise TelegramUnreachable(problem)
            delay = next(delays)
            log.warning("%s; trying again in %g s", problem, delay)
            await asyncio.sleep(delay)
