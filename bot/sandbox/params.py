"""A Bot API request's parameters, whichever way the client encoded them.

Telegram accepts a query string, ``application/json``, ``x-www-form-urlencoded`` and
``multipart/form-data``; in the two form encodings every value is a string and complex
fields (reply_markup, prices...) are JSON text. Getters convert per field, as the real
server does, so handlers see one shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from bot.sandbox.errors import bad_request


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart request."""

    filename: str
    content_type: str
    content: bytes


class Params:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    @classmethod
    async def read(cls, request: web.Request) -> Params:
        values: dict[str, Any] = dict(request.query)
        ctype = request.content_type
        if request.can_read_body:
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError as error:
                    raise bad_request("can't parse JSON encoded request") from error
                if isinstance(body, dict):
                    values.update(body)
            elif ctype == "multipart/form-data":
                values.update(await _read_multipart(request))
            else:
                values.update((k, v) for k, v in (await request.post()).items())
        return cls(_resolve_attachments(values))

    @property
    def names(self) -> set[str]:
        return set(self.values)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, Upload):
            raise bad_request(f'parameter "{name}" must be a string')
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value))
        except ValueError:
            if name == "chat_id":
                raise bad_request("chat not found") from None
            raise bad_request(f'parameter "{name}" must be an integer') from None

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f'parameter "{name}" must be a number') from None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        return str(value).lower() in ("true", "1")

    def structured(self, name: str, what: str | None = None) -> Any:
        """An object or array field: native in JSON bodies, JSON text in form bodies."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {what or name} JSON object") from None
        return value

    def file(self, name: str) -> Upload | str | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, Upload):
            return value
        return str(value)


async def _read_multipart(request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is not None:
            content = await part.read(decode=False)
            values[part.name] = Upload(
                filename=part.filename,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                content=bytes(content),
            )
        else:
            values[part.name] = await part.text()
    return values


def _resolve_attachments(values: dict[str, Any]) -> dict[str, Any]:
    """Put ``attach://name`` parts in the field that names them, and drop the part itself."""
    referenced: set[str] = set()
    for key, value in list(values.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if isinstance(values.get(part), Upload):
                values[key] = values[part]
                referenced.add(part)
    return {k: v for k, v in values.items() if k not in referenced}


async def json_object(request: web.Request) -> dict[str, Any]:
    """The JSON object posted to the sandbox's own endpoints (the page's actions, the fault
    list); 400 for anything else. Not a Bot API call: those go through :class:`Params`."""
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body
