"""The bot's update queue: long polling with offsets, or pushing to a webhook.

As on Telegram, an update stays queued until the bot confirms it (a later ``offset`` in
getUpdates, or a 2xx from its webhook); ``allowed_updates`` is remembered between calls and
an update of a kind the bot did not ask for is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.sandbox.changes import ChangeSignal
from bot.sandbox.errors import POLL_TERMINATED, WEBHOOK_ACTIVE, ApiError, bad_request

log = logging.getLogger(__name__)

# What Telegram sends when allowed_updates is empty or was never given.
DEFAULT_EXCLUDED = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


@dataclass
class PendingUpdate:
    update_id: int
    kind: str
    payload: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"update_id": self.update_id, self.kind: self.payload}


@dataclass
class Webhook:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


# Runs a method the bot put in its webhook response, as Telegram allows.
MethodRunner = Callable[[str, dict[str, Any]], Awaitable[Any]]


@dataclass
class UpdateQueue:
    signal: ChangeSignal
    next_id: int = 1
    pending: list[PendingUpdate] = field(default_factory=list)
    delivered: set[int] = field(default_factory=set)
    dropped: dict[int, str] = field(default_factory=dict)
    allowed: frozenset[str] | None = None
    webhook: Webhook | None = None
    closing: bool = False
    _poll_generation: int = 0
    _pusher: asyncio.Task[None] | None = None
    _method_runner: MethodRunner | None = None

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        update = PendingUpdate(self.next_id, kind, payload)
        self.next_id += 1
        self.pending.append(update)
        self.signal.notify({"type": "update", "update_id": update.update_id, "kind": kind})
        return update.update_id

    def _allows(self, kind: str) -> bool:
        if not self.allowed:
            return kind not in DEFAULT_EXCLUDED
        return kind in self.allowed

    def _drop_unwanted(self) -> None:
        kept = []
        for update in self.pending:
            if self._allows(update.kind):
                kept.append(update)
            else:
                self.dropped[update.update_id] = (
                    f"update {update.update_id} ({update.kind}) was dropped:"
                    f" the bot's allowed_updates are {sorted(self.allowed or [])}"
                )
        self.pending = kept

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            keep = self.pending[offset:]
            self._forget(self.pending[: len(self.pending) - len(keep)])
        else:
            self._forget([u for u in self.pending if u.update_id < offset])

    def _forget(self, updates: list[PendingUpdate]) -> None:
        gone = {u.update_id for u in updates}
        self.pending = [u for u in self.pending if u.update_id not in gone]
        self.delivered |= gone

    async def get_updates(
        self,
        offset: int | None,
        limit: int,
        timeout: float,  # noqa: ASYNC109 (getUpdates' own parameter)
        allowed_updates: list[str] | None,
    ) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        if not 1 <= limit <= 100:
            limit = 100
        if allowed_updates is not None:
            self.allowed = frozenset(allowed_updates)
        self._poll_generation += 1
        generation = self._poll_generation
        if offset is not None:
            self._confirm(offset)
        deadline = time.monotonic() + max(timeout, 0)
        while True:
            self._drop_unwanted()
            if self.pending or self.closing:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self.signal.wait(remaining)
            if generation != self._poll_generation:
                raise ApiError(409, POLL_TERMINATED)
        batch = self.pending[:limit]
        # Handed over; confirmed (forgotten) only by a later offset, as on Telegram.
        self.delivered |= {u.update_id for u in batch}
        if batch:
            self.signal.notify()
        return [u.as_json() for u in batch]

    # -- webhook ---------------------------------------------------------------------------

    def set_webhook(
        self,
        url: str,
        secret_token: str | None,
        max_connections: int,
        allowed_updates: list[str] | None,
        drop_pending: bool,
        runner: MethodRunner,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        host = urlsplit(url).hostname or ""
        if host != "localhost" and not _loopback(host):
            # The sandbox never sends anything off this machine.
            raise bad_request("bad webhook: the sandbox posts only to 127.0.0.1, ::1 or localhost")
        if drop_pending:
            self._forget(list(self.pending))
        if allowed_updates is not None:
            self.allowed = frozenset(allowed_updates)
        self.webhook = Webhook(url, secret_token or None, max_connections)
        self._method_runner = runner
        self._poll_generation += 1  # a waiting getUpdates ends with 409
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.get_running_loop().create_task(self._push_loop())
        self.signal.notify()

    async def delete_webhook(self, drop_pending: bool) -> None:
        self.webhook = None
        if drop_pending:
            self._forget(list(self.pending))
        await self._stop_pusher()

    async def close(self) -> None:
        self.closing = True
        self.webhook = None
        self.signal.notify()
        await self._stop_pusher()

    async def _stop_pusher(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None

    def webhook_info(self) -> dict[str, Any]:
        hook = self.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["ip_address"] = "127.0.0.1"
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
            if self.allowed:
                info["allowed_updates"] = sorted(self.allowed)
        return info

    async def _push_loop(self) -> None:
        backoff = 0.1
        # A fresh connection per update, so a bot's webhook server can stop at any time.
        connector = aiohttp.TCPConnector(force_close=True)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while self.webhook is not None:
                self._drop_unwanted()
                if not self.pending:
                    await self.signal.wait(1.0)
                    continue
                hook = self.webhook
                update = self.pending[0]
                error = await self._post(session, hook, update)
                if error is None:
                    backoff = 0.1
                    continue
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                log.info("webhook delivery of update %s failed: %s", update.update_id, error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _post(
        self, session: aiohttp.ClientSession, hook: Webhook, update: PendingUpdate
    ) -> str | None:
        """None when the bot took the update, else why not (as getWebhookInfo words it)."""
        headers = {SECRET_HEADER: hook.secret_token} if hook.secret_token else {}
        try:
            async with session.post(hook.url, json=update.as_json(), headers=headers) as resp:
                if not 200 <= resp.status < 300:
                    return f"Wrong response from the webhook: {resp.status} {resp.reason}"
                body = await resp.read()
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            return f"Connection failed: {error}"
        self._forget([update])
        self.signal.notify()
        await self._run_reply(resp.content_type, body)
        return None

    async def _run_reply(self, content_type: str, body: bytes) -> None:
        if content_type != "application/json" or not body or self._method_runner is None:
            return
        try:
            reply = json.loads(body)
        except ValueError:
            return
        if isinstance(reply, dict) and isinstance(reply.get("method"), str):
            params = {k: v for k, v in reply.items() if k != "method"}
            with contextlib.suppress(ApiError):
                await self._method_runner(reply["method"], params)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
