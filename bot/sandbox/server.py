"""The sandbox: a local Bot API server, its members, and the chat page, on one aiohttp app."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from aiohttp import web

from bot.sandbox import (  # noqa: F401 (handlers)
    api_bot,
    api_chats,
    api_files,
    api_messages,
    api_payments,
)
from bot.sandbox.chats import DEFAULT_CHATS, ChatSeed, GroupChat
from bot.sandbox.dispatch import failure, known_method, ok, record, run
from bot.sandbox.errors import UNAUTHORIZED, ApiError
from bot.sandbox.faults import Faults, add_fault_routes
from bot.sandbox.limits import FloodLimits
from bot.sandbox.page import add_page_routes
from bot.sandbox.params import Params
from bot.sandbox.spec import ApiSpec
from bot.sandbox.users import SandboxUser
from bot.sandbox.world import FIRST_USER_ID, World

WORLD_KEY = web.AppKey("world", World)


class Sandbox:
    """Start it, point the bot's ``api_server`` at ``sandbox.api_server``, play members."""

    def __init__(
        self,
        token: str = "123456:sandbox",
        host: str = "127.0.0.1",
        port: int = 0,
        flood_limits: FloodLimits | None = None,
        spec: ApiSpec | None = None,
        admins: Sequence[tuple[int, str]] | None = None,
        chats: Sequence[ChatSeed] = DEFAULT_CHATS,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.world = World(
            token=token,
            spec=spec or ApiSpec.load(),
            flood_limits=flood_limits,
            chat_seeds=chats,
        )
        # Telegram's bad minutes, when a test asks: ``sandbox.faults.add(...)``.
        self.faults = Faults(known_method=lambda name: known_method(self.world, name))
        self._admins = list(admins or [])
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        for user_id, first_name in self._admins:
            if user_id not in self.world.users_by_id:
                self.add_user(first_name=first_name, user_id=user_id, admin=True)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app[WORLD_KEY] = self.world
        app.router.add_route("*", "/bot{token}/{method}", self._bot_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        add_page_routes(app, self)
        add_fault_routes(app, self.faults)
        self.faults.reopen()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        self.faults.close()
        await self.world.updates.close()
        self.world.signal.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- addresses and records ----------------------------------------------------------

    @property
    def api_server(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def page_url(self) -> str:
        return f"{self.api_server}/"

    @property
    def bot_user(self) -> dict[str, Any]:
        return self.world.bot_user

    @property
    def violations(self) -> list[str]:
        return self.world.violations

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        return self.world.requests

    @property
    def refunds(self) -> list[tuple[int, str]]:
        """The Stars refunds the bot made: (user id, charge id), in order."""
        return self.world.refunds

    @property
    def commands(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        return self.world.commands

    @property
    def rate_limited(self) -> int:
        return self.world.rate_limited

    # -- members ------------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        user_id: int | None = None,
        admin: bool = False,
        phone_number: str | None = None,
    ) -> SandboxUser:
        """A Telegram user; ``phone_number`` (digits, as Telegram gives a contact's) defaults to
        one made up from their id."""
        users = self.world.users_by_id
        if user_id is None:
            user_id = max([FIRST_USER_ID - 1, *users]) + 1
        if user_id in users:
            raise ValueError(f"user {user_id} exists already")
        user = SandboxUser(
            self.world,
            user_id,
            first_name,
            last_name,
            username,
            language_code,
            admin,
            phone_number=phone_number,
        )
        users[user_id] = user
        self.world.changed(user_id, kind="users")
        return user

    def chat(self, ref: int | str) -> GroupChat:
        """A channel or group by id or '@username': its members, the bot's standing there."""
        found = self.world.group_chat(ref)
        if found is None:
            raise LookupError(f"no sandbox channel or group {ref!r}")
        return found

    @property
    def chats(self) -> list[GroupChat]:
        return list(self.world.chats.values())

    def user(self, user_id: int) -> SandboxUser:
        try:
            return self.world.users_by_id[user_id]
        except KeyError:
            raise LookupError(f"no sandbox user {user_id}") from None

    @property
    def users(self) -> list[SandboxUser]:
        return list(self.world.users_by_id.values())

    async def delivered(self, update_id: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Until the bot has been handed the update (getUpdates or its webhook)."""
        queue = self.world.updates
        loop = asyncio.get_running_loop()

        def done() -> bool:
            return update_id in queue.delivered or update_id in queue.dropped

        if not await self.world.signal.wait_until(done, timeout, loop.time):
            raise TimeoutError(
                f"update {update_id} was not delivered within {timeout:g} s"
                f" ({len(queue.pending)} pending; is the bot polling?)"
            )
        if update_id in queue.dropped:
            raise LookupError(queue.dropped[update_id])

    async def request_made(
        self,
        method: str,
        timeout: float = 10,  # noqa: ASYNC109 (like delivered())
        after: int = 0,
    ) -> dict[str, Any]:
        """The parameters of the first ``method`` call at index ``after`` or later in requests."""
        loop = asyncio.get_running_loop()

        def found() -> dict[str, Any] | None:
            for name, params in self.requests[after:]:
                if name.lower() == method.lower():
                    return params
            return None

        if not await self.world.signal.wait_until(lambda: found() is not None, timeout, loop.time):
            raise TimeoutError(f"the bot did not call {method} within {timeout:g} s")
        params = found()
        assert params is not None
        return params

    # -- HTTP ---------------------------------------------------------------------------

    async def _bot_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json(failure(UNAUTHORIZED), UNAUTHORIZED.code)
        name = request.match_info["method"]
        try:
            params = await Params.read(request)
        except ApiError as error:
            return _json(failure(error), error.code)
        canonical, decoded = record(self.world, name, params)

        async def perform() -> web.Response:
            try:
                result = await run(self.world, name, params)
            except ApiError as error:
                return _json(failure(error), error.code)
            return _json(ok(result), 200)

        fault = self.faults.match(name, params.get("chat_id"), self._usernames)
        if fault is None:
            return await perform()
        return await self.faults.answer(fault, request, canonical, decoded, perform)

    def _usernames(self) -> dict[int, str | None]:
        return {user.id: user.username for user in self.world.users_by_id.values()}

    async def _file(self, request: web.Request) -> web.Response:
        stored = self.world.files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return _json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)
        return web.Response(body=stored.content, content_type=stored.mime_type)


def _json(body: dict[str, Any], status: int) -> web.Response:
    return web.json_response(body, status=status)
