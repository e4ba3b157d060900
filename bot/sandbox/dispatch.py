"""One Bot API call: record it, check it against the spec, run the method's handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.sandbox.errors import NOT_FOUND, ApiError, bad_request
from bot.sandbox.params import Params
from bot.sandbox.world import World

Handler = Callable[[World, Params], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}

# Telegram's own words for some missing fields; the rest get the generic one.
_MISSING = {
    "chat_id": "chat_id is empty",
    "text": "message text is empty",
    "callback_query_id": "query is too old and response timeout expired or query ID is invalid",
}


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name.lower()] = handler
        return handler

    return register


async def call(world: World, name: str, params: Params) -> Any:
    """The method's result, or ApiError carrying Telegram's error."""
    record(world, name, params)
    return await run(world, name, params)


def canonical_name(world: World, name: str) -> str:
    spec = world.spec.method(name)
    return spec.name if spec is not None else name


def known_method(world: World, name: str) -> bool:
    """A method the spec or the sandbox knows (any case)."""
    return world.spec.method(name) is not None or name.lower() in HANDLERS


def record(world: World, name: str, params: Params) -> tuple[str, dict[str, Any]]:
    """Note the call in ``world.requests`` and its breaches of the spec in ``violations``."""
    entry = (canonical_name(world, name), world.spec.decode(name, params.values))
    world.requests.append(entry)
    world.violations.extend(world.spec.check(name, params.names))
    world.signal.notify()
    return entry


async def run(world: World, name: str, params: Params) -> Any:
    """Run a recorded call: the method's result, or ApiError carrying Telegram's error."""
    spec = world.spec.method(name)
    canonical = spec.name if spec is not None else name
    handler = HANDLERS.get(name.lower())
    if spec is None and handler is None:
        raise NOT_FOUND
    if spec is not None:
        for field, required in spec.fields.items():
            if required and field not in params.values:
                raise bad_request(_MISSING.get(field, f'parameter "{field}" is required'))
    if handler is None:
        world.violations.append(f"{canonical}: the sandbox does not implement this method")
        raise bad_request(f"method {canonical} is not available in the sandbox")
    return await handler(world, params)


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def failure(error: ApiError) -> dict[str, Any]:
    return error.payload()
