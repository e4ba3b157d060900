"""Bot API methods on text messages: send, edit, delete, callback answers, chat actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.sandbox.chat_rules import (
    chat_of,
    checked_caption,
    ensure_can_write,
    formatted,
    reply_markup,
    throttle,
)
from bot.sandbox.dispatch import method
from bot.sandbox.errors import NOT_MODIFIED, bad_request, forbidden
from bot.sandbox.limits import MAX_TEXT
from bot.sandbox.messages import ChatMessage, reply_keyboard_of
from bot.sandbox.params import Params
from bot.sandbox.world import World

if TYPE_CHECKING:
    from bot.sandbox.users import SandboxUser

CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


def keep_reply_keyboard(user: SandboxUser, markup: dict[str, Any] | None) -> None:
    """A reply keyboard stays under the composer until another replaces or removes it."""
    if not markup:
        return
    if "keyboard" in markup:
        user.reply_keyboard = reply_keyboard_of(markup)
    elif markup.get("remove_keyboard"):
        user.reply_keyboard = None


@method("sendMessage")
async def send_message(world: World, params: Params) -> Any:
    user = chat_of(world, params)
    text, entities, html = formatted(
        world, params, "text", "entities", MAX_TEXT, "message is too long", required=True
    )
    markup = reply_markup(params)
    ensure_can_write(user)
    throttle(world, "sendMessage", user.id)
    message = user.new_message(from_bot=True)
    world.set_content(message, text, entities, html, markup)
    keep_reply_keyboard(user, markup)
    world.changed(user.id)
    return world.message_object(user, message)


def _message_to_edit(world: World, params: Params) -> tuple[SandboxUser, ChatMessage]:
    if params.has("inline_message_id"):
        raise bad_request("message to edit not found")
    user = chat_of(world, params)
    message_id = params.integer("message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    message = user.find(message_id)
    if message is None:
        raise bad_request("message to edit not found")
    if not message.from_bot:
        raise bad_request("message can't be edited")
    if user.blocked:
        raise forbidden("bot was blocked by the user")
    return user, message


def _apply_edit(
    world: World,
    user: SandboxUser,
    message: ChatMessage,
    method_name: str,
    content: tuple[str, list[dict[str, Any]], str | None],
    markup: dict[str, Any] | None,
) -> Any:
    text, entities, html = content
    if (text, entities, markup) == (message.text, message.entities, message.reply_markup):
        raise bad_request(NOT_MODIFIED)
    throttle(world, method_name, user.id)
    world.set_content(message, text, entities, html, markup)
    message.edited = True
    message.raw["edit_date"] = world.now()
    world.changed(user.id)
    return world.message_object(user, message)


@method("editMessageText")
async def edit_message_text(world: World, params: Params) -> Any:
    user, message = _message_to_edit(world, params)
    if message.has_caption or message.invoice is not None:
        raise bad_request("there is no text in the message to edit")
    content = formatted(
        world, params, "text", "entities", MAX_TEXT, "message is too long", required=True
    )
    return _apply_edit(world, user, message, "editMessageText", content, reply_markup(params))


@method("editMessageCaption")
async def edit_message_caption(world: World, params: Params) -> Any:
    user, message = _message_to_edit(world, params)
    if not message.has_caption:
        raise bad_request("there is no caption in the message to edit")
    content = checked_caption(world, params)
    return _apply_edit(world, user, message, "editMessageCaption", content, reply_markup(params))


@method("editMessageReplyMarkup")
async def edit_message_reply_markup(world: World, params: Params) -> Any:
    user, message = _message_to_edit(world, params)
    content = (message.text, message.entities, message.html)
    return _apply_edit(
        world, user, message, "editMessageReplyMarkup", content, reply_markup(params)
    )


@method("deleteMessage")
async def delete_message(world: World, params: Params) -> Any:
    user = chat_of(world, params)
    message_id = params.integer("message_id")
    message = user.find(message_id) if message_id is not None else None
    if message is None:
        raise bad_request("message to delete not found")
    message.deleted = True
    world.changed(user.id)
    return True


@method("answerCallbackQuery")
async def answer_callback_query(world: World, params: Params) -> Any:
    query = world.callback_queries.get(params.string("callback_query_id") or "")
    if query is None or query.answered:
        raise bad_request(QUERY_INVALID)
    text = params.string("text") or ""
    if len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answered = True
    user = world.users_by_id[query.user_id]
    show_alert = params.flag("show_alert")
    user.notices.append((text, show_alert))
    world.signal.notify(
        {"type": "notice", "user_id": user.id, "text": text, "show_alert": show_alert}
    )
    return True


@method("sendChatAction")
async def send_chat_action(world: World, params: Params) -> Any:
    user = chat_of(world, params)
    action = params.string("action") or ""
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    ensure_can_write(user)
    user.chat_actions.append(action)
    world.signal.notify({"type": "action", "user_id": user.id, "action": action})
    return True
