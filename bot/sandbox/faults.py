"""Telegram's bad minutes, on demand: 5xx, a proxy's 502, time-outs, 429 floods, dropped links.

A test (or, over ``/sandbox/faults``, another process) adds a fault for some methods, maybe
some chats, for a while or a number of calls; the Bot API route asks ``match()`` before it
runs a method, and a matching fault answers instead. A faulted call is recorded and checked
against the spec like any other but changes nothing in the world, except a time-out told to
go through after all (``then_perform``), which is what a call that timed out often did.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, get_args

from aiohttp import web

from bot.sandbox.params import json_object

FaultKind = Literal["server_error", "bad_gateway", "timeout", "flood", "drop"]
KINDS: frozenset[str] = frozenset(get_args(FaultKind))
# Calls the bot needs to hear of the world at all; a fault for "every method" spares them.
PROTECTED_METHODS = frozenset(
    {"getupdates", "setwebhook", "deletewebhook", "getwebhookinfo", "getme", "logout", "close"}
)
# Longer than the clients' read timeouts (python-telegram-bot 5 s, aiogram 60 s).
DEFAULT_HOLD = 65.0

_PROXY_PAGE = (
    "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n"
    "<center><h1>{status}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class FaultedCall:
    """One call a fault answered: which fault, how, and what the bot asked."""

    fault_id: int
    kind: FaultKind
    method: str
    params: dict[str, Any]
    at: float  # the injector's clock (time.monotonic)


@dataclass(eq=False)
class Fault:
    """A handle on one fault: its counters, and ``remove()`` to end it (also on ``with`` exit)."""

    id: int
    kind: FaultKind
    methods: frozenset[str] | None  # lower-cased; None: every method but PROTECTED_METHODS
    chat_ids: frozenset[str] | None  # str(chat id) or "@username" lower-cased; None: any chat
    until: float | None  # on the injector's clock; None: no time limit
    times: int | None  # calls it answers in all; None: no count limit
    retry_after: int
    hold: float
    then_perform: bool
    clock: Callable[[], float] = field(repr=False)
    answered: int = 0
    removed: bool = False

    @property
    def active(self) -> bool:
        if self.removed:
            return False
        if self.times is not None and self.answered >= self.times:
            return False
        return self.until is None or self.clock() < self.until

    @property
    def times_left(self) -> int | None:
        return None if self.times is None else max(0, self.times - self.answered)

    @property
    def seconds_left(self) -> float | None:
        return None if self.until is None else max(0.0, self.until - self.clock())

    def remove(self) -> None:
        """End the fault now: the server has recovered."""
        self.removed = True

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def matches(self, method: str, chat_keys: frozenset[str]) -> bool:
        name = method.lower()
        if self.methods is None:
            if name in PROTECTED_METHODS:
                return False
        elif name not in self.methods:
            return False
        return self.chat_ids is None or bool(self.chat_ids & chat_keys)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "methods": sorted(self.methods) if self.methods is not None else None,
            "chat_ids": sorted(self.chat_ids) if self.chat_ids is not None else None,
            "seconds_left": self.seconds_left,
            "times_left": self.times_left,
            "retry_after": self.retry_after,
            "hold": self.hold,
            "then_perform": self.then_perform,
            "answered": self.answered,
            "active": self.active,
        }


class Faults:
    """The faults a sandbox plays; ``Sandbox.faults``. The earliest-added matching one answers."""

    def __init__(
        self,
        known_method: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.log: list[FaultedCall] = []
        self._known_method = known_method
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()

    # -- the test's side ----------------------------------------------------------------

    def add(
        self,
        methods: str | Iterable[str] | None,
        kind: FaultKind = "server_error",
        seconds: float | None = 60.0,
        times: int | None = None,
        retry_after: int = 5,
        chat_ids: Iterable[int | str] | None = None,
        hold: float = DEFAULT_HOLD,
        then_perform: bool = False,
    ) -> Fault:
        """Answer calls to ``methods`` with ``kind`` for ``seconds`` and/or ``times`` calls.

        ``methods=None`` means every method except getUpdates, getMe and the webhook calls.
        With both ``seconds`` and ``times`` None the fault lasts until removed or cleared.
        ``hold`` and ``then_perform`` are for ``timeout`` (and ``then_perform`` for ``drop``).
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(sorted(KINDS))}, not {kind!r}")
        names = _method_names(methods)
        if names is not None:
            unknown = sorted(n for n in names if self._known_method and not self._known_method(n))
            if unknown:
                raise ValueError(f"no such Bot API method: {', '.join(unknown)}")
        if seconds is not None and not seconds > 0:
            raise ValueError("seconds must be positive (or None for no time limit)")
        if times is not None and (isinstance(times, bool) or int(times) != times or times < 1):
            raise ValueError("times must be a whole number of calls, at least 1 (or None)")
        if isinstance(retry_after, bool) or int(retry_after) != retry_after or retry_after < 1:
            raise ValueError("retry_after must be a whole number of seconds, at least 1")
        if not hold >= 0:
            raise ValueError("hold must be zero or more seconds")
        if then_perform and kind not in ("timeout", "drop"):
            raise ValueError("then_perform is for the timeout and drop kinds")
        fault = Fault(
            id=next(self._ids),
            kind=kind,
            methods=names,
            chat_ids=None if chat_ids is None else frozenset(_chat_key(c) for c in chat_ids),
            until=None if seconds is None else self.clock() + float(seconds),
            times=None if times is None else int(times),
            retry_after=int(retry_after),
            hold=float(hold),
            then_perform=bool(then_perform),
            clock=self.clock,
        )
        self._faults.append(fault)
        return fault

    def remove(self, fault: Fault | int) -> bool:
        """End one fault (a handle or its id); False if there was none such."""
        found = self.get(fault.id if isinstance(fault, Fault) else fault)
        if found is None:
            return False
        found.remove()
        self._faults.remove(found)
        return True

    def clear(self) -> int:
        """End every fault (the server recovers); how many there were."""
        removed = len(self._faults)
        for fault in self._faults:
            fault.remove()
        self._faults.clear()
        return removed

    def get(self, fault_id: int) -> Fault | None:
        return next((f for f in self._faults if f.id == fault_id), None)

    @property
    def all(self) -> list[Fault]:
        """Every fault added and not removed, expired ones too (their counters stay)."""
        return list(self._faults)

    @property
    def active(self) -> list[Fault]:
        return [f for f in self._faults if f.active]

    @property
    def answered(self) -> int:
        """Calls answered by a fault, in all (removed faults included)."""
        return len(self.log)

    def count(self, method: str | None = None, kind: FaultKind | None = None) -> int:
        """Faulted calls, maybe only of one method (any case) or one kind."""
        return sum(
            1
            for entry in self.log
            if (method is None or entry.method.lower() == method.lower())
            and (kind is None or entry.kind == kind)
        )

    # -- the server's side --------------------------------------------------------------

    def match(
        self, method: str, chat_id: Any, usernames: Callable[[], Mapping[int, str | None]]
    ) -> Fault | None:
        """The fault that answers this call, counted; None to run it normally.

        ``usernames()`` gives each member's id and username, so a fault for a chat's id
        also matches calls naming it by @username, and the other way round.
        """
        faults = [f for f in self._faults if f.active]
        if not faults:
            return None
        keys = call_keys(chat_id, usernames())
        for fault in faults:
            if fault.matches(method, keys):
                fault.answered += 1
                return fault
        return None

    async def answer(
        self,
        fault: Fault,
        request: web.Request,
        method: str,
        params: dict[str, Any],
        perform: Callable[[], Awaitable[web.Response]],
    ) -> web.StreamResponse:
        """The faulted response; ``perform()`` runs the call for real (then_perform only)."""
        self.log.append(FaultedCall(fault.id, fault.kind, method, params, self.clock()))
        if fault.kind == "server_error":
            return _telegram_error(500, "Internal Server Error")
        if fault.kind == "flood":
            return _telegram_error(
                429,
                f"Too Many Requests: retry after {fault.retry_after}",
                {"retry_after": fault.retry_after},
            )
        if fault.kind == "bad_gateway":
            return _proxy_page(502, "Bad Gateway")
        if fault.kind == "timeout":
            closing = await self._hold(fault.hold)
            if fault.then_perform and not closing:
                return await perform()
            return _proxy_page(504, "Gateway Time-out")
        # drop: the connection closes with no answer (after doing the call, if asked).
        if fault.then_perform:
            await perform()
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=502)  # never reaches the client

    async def _hold(self, seconds: float) -> bool:
        """Sleep ``seconds``; True if the sandbox began stopping meanwhile."""
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """The sandbox is stopping: held calls give up now (504, not performed)."""
        self._closing.set()

    def reopen(self) -> None:
        """The sandbox (re)starts: holds last their time again."""
        self._closing = asyncio.Event()


def _method_names(methods: str | Iterable[str] | None) -> frozenset[str] | None:
    if methods is None:
        return None
    names = [methods] if isinstance(methods, str) else list(methods)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError("methods must be method names (or None for every method)")
    return frozenset(n.lower() for n in names)


def _chat_key(chat_id: int | str) -> str:
    if isinstance(chat_id, bool) or not isinstance(chat_id, int | str):
        raise ValueError(f"a chat id is a number or an @username, not {chat_id!r}")
    text = str(chat_id).strip()
    return text.lower() if text.startswith("@") else str(int(text))


def call_keys(chat_id: Any, usernames: Mapping[int, str | None]) -> frozenset[str]:
    """What a call's chat_id is matched by: the chat's id and, if it has one, its @username."""
    if chat_id is None or chat_id == "" or isinstance(chat_id, bool):
        return frozenset()
    text = str(chat_id).strip()
    if text.startswith("@"):
        wanted = text[1:].lower()
        found = [i for i, name in usernames.items() if name and name.lower() == wanted]
        return frozenset({text.lower(), *map(str, found)})
    try:
        number = int(text)
    except ValueError:
        return frozenset({text})
    name = usernames.get(number)
    return frozenset({str(number), *([f"@{name.lower()}"] if name else [])})


def _telegram_error(
    code: int, description: str, parameters: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _proxy_page(code: int, reason: str) -> web.Response:
    """What nginx in front of the Bot API answers: HTML, not Telegram's JSON."""
    text = _PROXY_PAGE.format(status=f"{code} {reason}")
    return web.Response(status=code, text=text, content_type="text/html")


def fault_from_json(faults: Faults, body: dict[str, Any]) -> Fault:
    """``Faults.add`` from a control request's JSON body; ValueError on a bad one."""
    allowed = {
        "methods",
        "kind",
        "seconds",
        "times",
        "retry_after",
        "chat_ids",
        "hold",
        "then_perform",
    }
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(unknown)}")
    if "methods" not in body:
        raise ValueError('"methods" is required (a list of names, or null for every method)')
    if "kind" not in body:
        raise ValueError('"kind" is required')
    numbers = ("seconds", "times", "retry_after", "hold")
    for name in numbers:
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f'"{name}" must be a number')
    chat_ids = body.get("chat_ids")
    if chat_ids is not None and not isinstance(chat_ids, list):
        raise ValueError('"chat_ids" must be a list (or null for any chat)')
    then_perform = body.get("then_perform", False)
    if not isinstance(then_perform, bool):
        raise ValueError('"then_perform" must be true or false')
    kwargs: dict[str, Any] = {k: body[k] for k in ("seconds", "times") if k in body}
    for name in ("retry_after", "hold"):
        if body.get(name) is not None:
            kwargs[name] = body[name]
    return faults.add(
        methods=body["methods"],
        kind=body["kind"],
        chat_ids=chat_ids,
        then_perform=then_perform,
        **kwargs,
    )


def add_fault_routes(app: web.Application, faults: Faults) -> None:
    """``/sandbox/faults``: GET lists, POST adds, DELETE clears; ``/{id}`` for one fault."""

    def local_only(request: web.Request) -> None:
        if request.remote not in ("127.0.0.1", "::1"):
            raise web.HTTPForbidden(text="faults are set from this machine only")

    async def listing(request: web.Request) -> web.Response:
        local_only(request)
        return web.json_response(
            {"faults": [f.as_json() for f in faults.all], "answered": faults.answered}
        )

    async def create(request: web.Request) -> web.Response:
        local_only(request)
        body = await json_object(request)
        try:
            fault = fault_from_json(faults, body)
        except (TypeError, ValueError) as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response(fault.as_json(), status=201)

    async def clear(request: web.Request) -> web.Response:
        local_only(request)
        return web.json_response({"cleared": faults.clear()})

    def one(request: web.Request) -> Fault:
        local_only(request)
        try:
            found = faults.get(int(request.match_info["fault_id"]))
        except ValueError:
            found = None
        if found is None:
            raise web.HTTPNotFound(text="no such fault")
        return found

    async def show(request: web.Request) -> web.Response:
        return web.json_response(one(request).as_json())

    async def delete(request: web.Request) -> web.Response:
        fault = one(request)
        faults.remove(fault)
        return web.json_response(fault.as_json())

    app.router.add_get("/sandbox/faults", listing)
    app.router.add_post("/sandbox/faults", create)
    app.router.add_delete("/sandbox/faults", clear)
    app.router.add_get("/sandbox/faults/{fault_id}", show)
    app.router.add_delete("/sandbox/faults/{fault_id}", delete)
