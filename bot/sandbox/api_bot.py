"""Bot API methods about the bot itself: getMe, updates, webhook, commands, menu button."""

from __future__ import annotations

import re
from typing import Any

from bot.sandbox.dispatch import call, method
from bot.sandbox.errors import bad_request
from bot.sandbox.params import Params
from bot.sandbox.world import World

_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)


@method("getMe")
async def get_me(world: World, params: Params) -> Any:
    return world.bot_user


@method("getUpdates")
async def get_updates(world: World, params: Params) -> Any:
    allowed = params.structured("allowed_updates", "allowed updates")
    return await world.updates.get_updates(
        offset=params.integer("offset"),
        limit=params.integer("limit", 100) or 100,
        timeout=params.integer("timeout", 0) or 0,
        allowed_updates=allowed if isinstance(allowed, list) else None,
    )


@method("setWebhook")
async def set_webhook(world: World, params: Params) -> Any:
    url = params.string("url") or ""
    drop = params.flag("drop_pending_updates")
    if not url:
        await world.updates.delete_webhook(drop)
        return True
    allowed = params.structured("allowed_updates", "allowed updates")

    async def run(name: str, values: dict[str, Any]) -> Any:
        return await call(world, name, Params(values))

    world.updates.set_webhook(
        url,
        params.string("secret_token"),
        params.integer("max_connections", 40) or 40,
        allowed if isinstance(allowed, list) else None,
        drop,
        run,
    )
    return True


@method("deleteWebhook")
async def delete_webhook(world: World, params: Params) -> Any:
    await world.updates.delete_webhook(params.flag("drop_pending_updates"))
    return True


@method("getWebhookInfo")
async def get_webhook_info(world: World, params: Params) -> Any:
    return world.updates.webhook_info()


def scope_key(params: Params) -> tuple[str, str]:
    """(scope, language) as ``Sandbox.commands`` keys them; chat scopes name the chat."""
    scope = params.structured("scope", "BotCommandScope") or {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
        raise bad_request("can't parse BotCommandScope JSON object")
    kind = str(scope["type"])
    if kind in ("chat", "chat_administrators", "chat_member"):
        if "chat_id" not in scope:
            raise bad_request("chat_id is empty")
        kind = f"{kind}:{scope['chat_id']}"
        if "user_id" in scope:
            kind += f":{scope['user_id']}"
    language = params.string("language_code") or ""
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise bad_request("invalid language code specified")
    return kind, language


@method("setMyCommands")
async def set_my_commands(world: World, params: Params) -> Any:
    commands = params.structured("commands", "commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("can't parse commands JSON object")
    parsed: list[tuple[str, str]] = []
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand JSON object")
        command = str(item.get("command", "")).removeprefix("/")
        description = str(item.get("description", ""))
        if not _COMMAND.fullmatch(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description.strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        parsed.append((command, description))
    key = scope_key(params)
    if parsed:
        world.commands[key] = parsed
    else:
        world.commands.pop(key, None)
    world.changed(None, kind="commands")
    return True


@method("getMyCommands")
async def get_my_commands(world: World, params: Params) -> Any:
    commands = world.commands.get(scope_key(params), [])
    return [{"command": c, "description": d} for c, d in commands]


@method("deleteMyCommands")
async def delete_my_commands(world: World, params: Params) -> Any:
    world.commands.pop(scope_key(params), None)
    world.changed(None, kind="commands")
    return True


@method("setChatMenuButton")
async def set_chat_menu_button(world: World, params: Params) -> Any:
    button = params.structured("menu_button", "menu button") or {"type": "default"}
    if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
        raise bad_request("can't parse menu button JSON object")
    chat_id = params.integer("chat_id")
    if chat_id is not None and chat_id not in world.users_by_id:
        raise bad_request("chat not found")
    world.menu_buttons[chat_id] = button
    return True


@method("getChatMenuButton")
async def get_chat_menu_button(world: World, params: Params) -> Any:
    chat_id = params.integer("chat_id")
    return world.menu_buttons.get(chat_id) or world.menu_buttons.get(None) or {"type": "default"}
