"""python-telegram-bot's calls over aiohttp instead of httpx.

python-telegram-bot lets a bot bring its own networking (``telegram.request.BaseRequest``);
this one sends each call with aiohttp, which the process runs anyway (the listener, the
sandbox). The reason is httpcore's connection pool: with the inbox's workers answering many
chats at once it keeps one connection per call in flight, and on every request it starts and
every one it ends it walks all of them, polling each idle socket (``has_expired``) and counting
the idle ones once per idle connection. In issue 14's profile (30 members, our processor with
the echo) that walk was 36% of the event loop's time, and python-telegram-bot's whole request
path 2.9 ms per call against aiogram's 0.7 ms on aiohttp. aiohttp keeps idle connections in a
per-host queue and takes the newest, without looking at the rest.

A call without files goes as one JSON body (``application/json``, which the Bot API accepts for
every method): one ``json.dumps`` instead of JSON-encoding each parameter and then
percent-encoding them byte by byte into a form. A call with files goes as multipart form data,
as python-telegram-bot's own request sends it. Telegram's answer is python-telegram-bot's
business as before (``BaseRequest`` reads the status and the body); this class only raises
``TimedOut`` and ``NetworkError`` for what happened on the way.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

JSON = "application/json"


class AiohttpRequest(BaseRequest):
    """A ``BaseRequest`` on one aiohttp session with at most ``connections`` calls in flight.

    Timeouts are python-telegram-bot's four, mapped onto aiohttp's: ``pool`` + ``connect`` to get
    a connection (aiohttp's ``connect`` covers waiting for the pool), ``connect`` to open one,
    ``read`` between bytes of the answer, and all four together as the whole call's limit (aiohttp
    has no write timeout of its own).
    """

    __slots__ = ("_connections", "_session", "_timeouts")

    def __init__(
        self,
        connections: int,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._connections = connections
        self._timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts[0]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections),
                headers={"User-Agent": self.USER_AGENT},
                json_serialize=json.dumps,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read, write, connect, pool = (
            default if isinstance(given, DefaultValue) else given
            for given, default in zip(
                (read_timeout, write_timeout, connect_timeout, pool_timeout),
                self._timeouts,
                strict=True,
            )
        )
        timeout = aiohttp.ClientTimeout(
            total=_sum(read, write, connect, pool),
            connect=_sum(connect, pool),
            sock_connect=connect,
            sock_read=read,
        )
        body: Any = None
        headers: dict[str, str] | None = None
        if request_data is not None:
            if request_data.contains_files:
                body = _multipart(request_data)
            else:
                body = json.dumps(request_data.parameters).encode()
                headers = {"Content-Type": JSON}
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    """The parameters and files of a call that uploads, as python-telegram-bot's form."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form


def _sum(*timeouts: float | None) -> float | None:
    """The timeouts added up; None (no limit) if any is None."""
    if any(t is None for t in timeouts):
        return None
    return sum(t for t in timeouts if t is not None)
