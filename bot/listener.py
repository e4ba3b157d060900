"""The one HTTP listener of a bot process (aiohttp): webhook, health, metrics.

- ``POST /telegram`` (webhook mode): the secret token is checked in constant time, the body
  must be a JSON update (else 400), and the update is stored in the inbox before the 200;
  if the store is down the answer is 503 and Telegram sends the update again.
- ``GET /healthz``: 200 with a small JSON document (database, inbox backlog and lag, outbox
  depth); 503 when the database does not answer.
- ``GET /metrics``: prometheus-client's text format; the inbox and outbox gauges are read
  from the store at each scrape, so they are the bot's, not this process's.

The shop's API mounts here too (``listening(..., mounts=...)``, ``bot.shop_api``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot import metrics
from bot.receiving import received
from core.operations.inbox import Inbox
from core.operations.outbox import Outbox

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The largest update Telegram sends is far below this; anything bigger is not one.
MAX_UPDATE_BYTES = 1024 * 1024
# How long /healthz waits for the database before it says it is down.
HEALTH_TIMEOUT = 3.0


@dataclass
class Webhook:
    """Where ``POST /telegram`` puts updates, and the secret every request must carry."""

    inbox: Inbox
    secret: str
    clock: Callable[[], datetime]
    on_stored: Callable[[], None]


@dataclass
class Listener:
    """The running listener: its address, and the webhook once the bot attaches it."""

    app: web.Application
    host: str
    port: int
    inbox: Inbox | None = None
    outbox: Outbox | None = None
    clock: Callable[[], datetime] | None = None
    answered: Callable[[], Sequence[int]] = tuple
    """Updates this process answered but has not marked done yet: not waiting any more."""
    webhook: Webhook | None = field(default=None)
    webhook_expected: bool = False
    """Webhook mode: until the bot attaches the webhook, ``POST /telegram`` is a 503."""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


LISTENER_KEY = web.AppKey("listener", Listener)


async def _telegram(request: web.Request) -> web.Response:
    listener = request.app[LISTENER_KEY]
    hook = listener.webhook
    if hook is None:
        if listener.webhook_expected:  # still starting: Telegram (or the proxy) tries again
            return _error(503, "not ready yet; send it again")
        return _error(404, "this process takes no webhook (mode is not 'webhook')")
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), hook.secret.encode()):
        log.warning("webhook request without the right secret token from %s", request.remote)
        return _error(401, "wrong or missing secret token")
    if request.content_length is not None and request.content_length > MAX_UPDATE_BYTES:
        return _error(413, "an update is never this large")
    body = await request.read()
    if len(body) > MAX_UPDATE_BYTES:
        return _error(413, "an update is never this large")
    try:
        update = json.loads(body)
        if not isinstance(update, dict):
            raise ValueError("not a JSON object")
        stored = received(update)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        log.warning("webhook request that is no update: %s", error)
        return _error(400, f"not a Telegram update: {error}")
    try:
        added = await hook.inbox.accept([stored], hook.clock())
    except Exception:
        log.exception("could not store update %s; Telegram will send it again", stored.update_id)
        return _error(503, "the update could not be stored; send it again")
    metrics.UPDATES_RECEIVED.labels("webhook").inc(added)
    if added:
        hook.on_stored()
    return web.json_response({"ok": True})


async def _health(request: web.Request) -> web.Response:
    listener = request.app[LISTENER_KEY]
    if listener.inbox is None:  # the database or Telegram is not reached yet
        return web.json_response({"status": "starting"}, status=503)
    report: dict[str, Any] = {"status": "ok", "database": "ok"}
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            gauges = await _read_gauges(listener)
    except Exception as error:
        log.warning("health check: the database does not answer: %s", error)
        return web.json_response(
            {"status": "unavailable", "database": f"unreachable: {type(error).__name__}"},
            status=503,
        )
    report.update(gauges)
    return web.json_response(report)


async def _metrics(request: web.Request) -> web.Response:
    listener = request.app[LISTENER_KEY]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await _read_gauges(listener)
    except Exception as error:  # the counters are still worth reading
        log.warning("metrics: the store's gauges are not current: %s", error)
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _read_gauges(listener: Listener) -> dict[str, Any]:
    """Inbox backlog and outbox depth from the store, set on the gauges and returned."""
    found: dict[str, Any] = {}
    if listener.inbox is not None and listener.clock is not None:
        backlog = await listener.inbox.backlog(listener.clock(), answered=listener.answered())
        metrics.INBOX_WAITING.set(backlog.waiting)
        metrics.INBOX_LAG.set(backlog.oldest_seconds)
        found["inbox_waiting"] = backlog.waiting
        found["inbox_lag_seconds"] = round(backlog.oldest_seconds, 3)
    if listener.outbox is not None:
        depth = await listener.outbox.waiting()
        metrics.OUTBOX_DEPTH.set(depth)
        found["outbox_depth"] = depth
    return found


class ListenerError(Exception):
    """The listener could not start (the address is taken or not this machine's)."""


def _error(status: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "description": description}, status=status)


@asynccontextmanager
async def listening(
    host: str,
    port: int,
    *,
    webhook_expected: bool = False,
    mounts: Sequence[Callable[[web.Application], None]] = (),
) -> AsyncIterator[Listener]:
    """Serve on ``host``:``port`` (0: any free port) until the block ends.

    ``mounts`` add their routes before it starts (the shop's API, ``bot.shop_api``).
    """
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    listener = Listener(app, host, port, webhook_expected=webhook_expected)
    app[LISTENER_KEY] = listener
    app.router.add_post(WEBHOOK_PATH, _telegram)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/metrics", _metrics)
    for mount in mounts:
        mount(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            sock.close()
            raise ListenerError(
                f"cannot listen on {host}:{port} ([http]): {error.strerror}"
            ) from None
        listener.port = int(sock.getsockname()[1])
        await web.SockSite(runner, sock).start()
        log.info("listening on http://%s:%s (/healthz, /metrics)", host, listener.port)
        yield listener
    finally:
        await runner.cleanup()
