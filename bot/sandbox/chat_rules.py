"""What Telegram checks before a message goes out: the chat, the text, the buttons, the pace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.sandbox.errors import (
    BLOCKED,
    CHAT_NOT_FOUND,
    NOT_STARTED,
    ApiError,
    bad_request,
    forbidden,
)
from bot.sandbox.html import EntityParseError, checked_url, parse_html, plain_text_of
from bot.sandbox.limits import LIMITED_METHODS, MAX_CALLBACK_DATA_BYTES, MAX_CAPTION
from bot.sandbox.params import Params
from bot.sandbox.world import World

if TYPE_CHECKING:
    from bot.sandbox.users import SandboxUser

_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def chat_of(world: World, params: Params) -> SandboxUser:
    """The private chat ``chat_id`` names (a member's id or @username)."""
    value = params.get("chat_id")
    if value is None or value == "":
        raise bad_request("chat_id is empty")
    text = str(value).strip()
    if text.startswith("@"):
        for user in world.users_by_id.values():
            if user.username and user.username.lower() == text[1:].lower():
                return user
        raise bad_request(CHAT_NOT_FOUND)
    try:
        chat_id = int(text)
    except ValueError:
        raise bad_request(CHAT_NOT_FOUND) from None
    found = world.users_by_id.get(chat_id)
    if found is None:
        raise bad_request(CHAT_NOT_FOUND)
    return found


def ensure_can_write(user: SandboxUser) -> None:
    if user.blocked:
        raise forbidden(BLOCKED)
    if not user.started:
        raise forbidden(NOT_STARTED)


def throttle(world: World, method: str, chat_id: int) -> None:
    """429 with retry_after when the flood limits (if switched on) are exceeded."""
    if world.flood is None or method.lower() not in LIMITED_METHODS:
        return
    wait = world.flood.retry_after(chat_id)
    if wait is not None:
        world.rate_limited += 1
        raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})


def formatted(
    world: World,
    params: Params,
    field: str,
    entities_field: str,
    limit: int,
    too_long: str,
    required: bool,
) -> tuple[str, list[dict[str, Any]], str | None]:
    """Plain text, entities and the markup as sent, checked as Telegram checks them."""
    markup = params.string(field) or ""
    if required and not markup.strip():
        raise bad_request("message text is empty")
    mode = (params.string("parse_mode") or "").lower()
    html: str | None = None
    if mode == "html":
        try:
            text, entities = parse_html(markup)
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
        html = markup
    elif mode in ("markdown", "markdownv2"):
        world.violations.append(f"{field}: the sandbox only parses parse_mode HTML, not {mode}")
        text, entities = markup, []
    elif mode:
        raise bad_request("unsupported parse_mode")
    else:
        text = markup
        given = params.structured(entities_field, "message entities")
        entities = [e for e in given if isinstance(e, dict)] if isinstance(given, list) else []
    text, entities = plain_text_of(text, entities)
    if required and not text:
        raise bad_request("message text is empty")
    if len(text) > limit:
        raise bad_request(too_long)
    return text, entities, html


def reply_markup(params: Params) -> dict[str, Any] | None:
    """The reply_markup, validated; inline keyboards as Telegram would store them."""
    markup = params.structured("reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return {"inline_keyboard": _inline_keyboard(markup["inline_keyboard"])}
    if "keyboard" in markup:
        _reply_keyboard(markup["keyboard"])
        return markup
    if "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


_REPLY_BUTTON_REQUESTS = (
    "request_contact",
    "request_location",
    "request_poll",
    "request_users",
    "request_chat",
    "web_app",
)


def _reply_keyboard(rows: Any) -> None:
    """A ``ReplyKeyboardMarkup``'s rows: texts, or buttons with a text and at most one request."""
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse reply keyboard markup JSON object")
    for row in rows:
        for button in row:
            if isinstance(button, str):
                continue
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request("can't parse keyboard button: KeyboardButton must be an Object")
            if not button["text"]:
                raise bad_request("keyboard button text must be non-empty")
            requests = [name for name in _REPLY_BUTTON_REQUESTS if button.get(name)]
            if len(requests) > 1:
                raise bad_request("can't parse keyboard button: too many button types")
            if "request_contact" in button and not isinstance(button["request_contact"], bool):
                raise bad_request(
                    'can\'t parse keyboard button: Field "request_contact" must be of type Boolean'
                )


def _inline_keyboard(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse inline keyboard button: Field \"inline_keyboard\" must be"
                          " of type Array")  # fmt: skip
    checked: list[list[dict[str, Any]]] = []
    for row in rows:
        out_row = []
        for button in row:
            if not isinstance(button, dict):
                raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must"
                                  " be an Object")  # fmt: skip
            if not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            actions = [a for a in _BUTTON_ACTIONS if a in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the"
                    " inline keyboard"
                )
            if "callback_data" in button:
                data = str(button["callback_data"]).encode("utf-8")
                if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button and checked_url(str(button["url"])) is None:
                raise bad_request("BUTTON_URL_INVALID")
            out_row.append(button)
        checked.append(out_row)
    return checked


def checked_caption(world: World, params: Params) -> tuple[str, list[dict[str, Any]], str | None]:
    """A media message's optional caption, checked as :func:`formatted` checks a text (sending
    a photo or document, and editing a caption)."""
    return formatted(
        world,
        params,
        "caption",
        "caption_entities",
        MAX_CAPTION,
        "message caption is too long",
        required=False,
    )
