"""The chat page: static files at ``/`` and the JSON API under ``/sandbox/api/`` behind it.

The page plays members; everything it does goes through the same ``SandboxUser`` methods
the tests use, and it learns of changes from a server-sent event stream.

Links are shown as a Telegram app shows them: a bare ``https://...`` or ``t.me/...`` in a
message's text is a link (the ``url`` entities Telegram would detect), and a link to this bot
(``https://t.me/<bot>?start=PAYLOAD``, ``t.me/<bot>?start=...``, ``tg://resolve?domain=<bot>``)
carries ``start``: the payload the page sends as ``/start PAYLOAD`` when it is clicked, as
Telegram would, instead of leaving the page for a t.me that does not know this bot.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from bot.sandbox.chats import GroupChat, VoteRefused
from bot.sandbox.errors import PaymentRefused
from bot.sandbox.html import utf16_len
from bot.sandbox.media import image_mime_type, image_size, mime_type_of
from bot.sandbox.messages import ChatMessage
from bot.sandbox.params import json_object
from bot.sandbox.users import SandboxUser

if TYPE_CHECKING:
    from bot.sandbox.server import Sandbox

STATIC = Path(__file__).with_name("static")
LANGUAGES = ("en", "zh-hans")
KEEPALIVE_SECONDS = 15.0
# Telegram's usernames: 5-32 letters, digits and underscores, starting with a letter.
USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")
USERNAME_RULE = "5-32 letters (a-z), digits and underscores, starting with a letter"
# A deep link's start parameter, as Telegram passes it on: up to 64 of A-Z a-z 0-9 _ -.
START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
TELEGRAM_HOSTS = ("t.me", "telegram.me", "www.t.me", "www.telegram.me")
# What Telegram links in plain text: http(s) addresses and t.me addresses without a scheme.
BARE_LINK = re.compile(r"(?<![\w@/.-])(?:https?://|(?:t|telegram)\.me/)[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}"
# Entities a detected link may sit inside (formatting); inside any other it is not a link.
FORMATTING = frozenset(
    (
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
    )
)


def add_page_routes(app: web.Application, sandbox: Sandbox) -> None:
    page = ChatPage(sandbox)
    app.router.add_get("/", page.index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/sandbox/api/users", page.list_users)
    app.router.add_post("/sandbox/api/users", page.create_user)
    app.router.add_get("/sandbox/api/users/{user_id}/chat", page.chat)
    app.router.add_post("/sandbox/api/users/{user_id}/send", page.send)
    app.router.add_post("/sandbox/api/users/{user_id}/press", page.press)
    app.router.add_post("/sandbox/api/users/{user_id}/contact", page.contact)
    app.router.add_post("/sandbox/api/users/{user_id}/pay", page.pay)
    app.router.add_post("/sandbox/api/users/{user_id}/upload", page.upload)
    app.router.add_post("/sandbox/api/users/{user_id}/block", page.block)
    app.router.add_get("/sandbox/api/users/{user_id}/messages/{message_id}/{kind}", page.media)
    app.router.add_post("/sandbox/api/users/{user_id}/vote", page.vote)
    app.router.add_get("/sandbox/api/users/{user_id}/chats", page.chats)
    app.router.add_post("/sandbox/api/users/{user_id}/chats/{chat}/{move:join|leave}", page.move)
    app.router.add_get("/sandbox/api/events", page.events)


def _user_json(user: SandboxUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "username": user.username,
        "language_code": user.language_code,
        "admin": user.admin,
        "blocked": user.blocked,
        "started": user.started,
        "phone_number": user.phone_number,
    }


def start_payload(url: str, bot_username: str) -> str | None:
    """What opening ``url`` in Telegram sends the bot ``bot_username``.

    The payload of ``/start PAYLOAD`` for a deep link to this bot (``""``: a link to its chat
    without a valid start parameter, which only opens the chat); None for any other link.
    """
    link = url.strip()
    if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", link):
        link = f"https://{link}"  # t.me/... as typed in a message
    try:
        parts = urlsplit(link)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    query = parse_qs(parts.query)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and host in TELEGRAM_HOSTS:
        name = parts.path.strip("/")
    elif scheme == "tg" and host == "resolve":
        name = query.get("domain", [""])[0]
    else:
        return None
    if not bot_username or name.lower() != bot_username.lower():
        return None
    payload = query.get("start", [""])[0]
    return payload if START_PAYLOAD.fullmatch(payload) else ""


def detected_links(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``url`` entities Telegram adds for the links written out in ``text``: each one not
    already inside a link, code or command (formatting around it is fine)."""
    found: list[dict[str, Any]] = []
    for match in BARE_LINK.finditer(text):
        link = match.group().rstrip(TRAILING)
        offset, length = utf16_len(text[: match.start()]), utf16_len(link)
        end = offset + length
        clear = all(
            other["offset"] + other["length"] <= offset
            or other["offset"] >= end
            or (
                other.get("type") in FORMATTING
                and other["offset"] <= offset
                and other["offset"] + other["length"] >= end
            )
            for other in entities
        )
        if clear:
            found.append({"type": "url", "offset": offset, "length": length})
    return found


def _entities_json(message: ChatMessage, bot_username: str) -> list[dict[str, Any]]:
    """The message's entities as the page shows them: Telegram's detected links added, and
    each link's ``start`` (see :func:`start_payload`)."""
    entities = [dict(e) for e in message.entities]
    entities += detected_links(message.text, entities)
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    units = message.text.encode("utf-16-le")
    for entity in entities:
        if entity.get("type") == "text_link":
            entity["start"] = start_payload(str(entity.get("url", "")), bot_username)
        elif entity.get("type") == "url":
            begin, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
            shown = units[begin:end].decode("utf-16-le", errors="replace")
            entity["start"] = start_payload(shown, bot_username)
    return entities


def _chat_json(chat: GroupChat, user: SandboxUser) -> dict[str, Any]:
    """A channel or group as a member sees it from the sidebar: theirs to join or leave."""
    standing = chat.standing(user.id)
    return {
        "id": chat.id,
        "type": chat.type,
        "title": chat.title,
        "username": chat.username,
        "bot_status": chat.bot_status,
        "members": sum(1 for m in chat.members.values() if m.in_chat),
        "status": standing.status,
        "in_chat": standing.in_chat,
    }


def _poll_json(user: SandboxUser, message: ChatMessage) -> dict[str, Any] | None:
    """The poll of a message, with the member's own vote; a quiz's answer shows once voted."""
    if message.poll_id is None:
        return None
    poll = user.poll(message)
    shown = poll.as_json()
    mine = poll.votes.get(user.id)
    if poll.type == "quiz" and mine is None and not poll.is_closed:
        shown.pop("correct_option_ids", None)
        shown.pop("explanation", None)
    shown["my_vote"] = None if mine is None else list(mine)
    shown["can_vote"] = not poll.is_closed and (mine is None or poll.allows_revoting)
    return shown


def _message_json(user: SandboxUser, message: ChatMessage, bot_username: str) -> dict[str, Any]:
    base = f"/sandbox/api/users/{user.id}/messages/{message.message_id}"
    document = None
    if message.document is not None:
        name, content, mime = message.document
        document = {"file_name": name, "mime_type": mime, "size": len(content)}
        document["url"] = f"{base}/document"
    return {
        "message_id": message.message_id,
        "from_bot": message.from_bot,
        "text": message.text,
        "entities": _entities_json(message, bot_username),
        "buttons": [
            [
                {
                    "text": b.text,
                    "callback_data": b.callback_data,
                    "url": b.url,
                    "start": None if b.url is None else start_payload(b.url, bot_username),
                }
                for b in row
            ]
            for row in message.buttons
        ],
        "photo": f"{base}/photo" if message.photo is not None else None,
        "document": document,
        "invoice": message.invoice,
        "payment": message.payment,
        "refund": message.refund,
        "contact": message.contact,
        "poll": _poll_json(user, message),
        "edited": message.edited,
        "date": message.date,
    }


class ChatPage:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._tasks: set[asyncio.Task[None]] = set()

    def _user(self, request: web.Request) -> SandboxUser:
        try:
            return self.sandbox.user(int(request.match_info["user_id"]))
        except (LookupError, ValueError):
            raise web.HTTPNotFound(text="no such member") from None

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def list_users(self, request: web.Request) -> web.Response:
        return web.json_response([_user_json(u) for u in self.sandbox.users])

    @property
    def _bot_username(self) -> str:
        return str(self.sandbox.bot_user.get("username") or "")

    async def create_user(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        name = str(body.get("first_name", "")).strip()
        language = str(body.get("language_code", "en"))
        if not name:
            raise web.HTTPBadRequest(text="a member needs a first name")
        if language not in LANGUAGES:
            raise web.HTTPBadRequest(text=f"language must be one of {', '.join(LANGUAGES)}")
        username = self._username(body.get("username"))
        user = self.sandbox.add_user(
            first_name=name[:64], username=username, language_code=language
        )
        return web.json_response(_user_json(user), status=201)

    def _username(self, value: object) -> str | None:
        """The optional username of a new member, checked as Telegram checks it (and free)."""
        if value is None:
            return None
        if not isinstance(value, str):
            raise web.HTTPBadRequest(text="a username is text")
        typed = value.strip()
        username = typed.removeprefix("@")
        if not username:
            return None
        if not USERNAME.fullmatch(username):
            problem = f'"{typed[:40]}" is not a Telegram username: {USERNAME_RULE}'
            raise web.HTTPBadRequest(text=problem)
        wanted = username.lower()
        if wanted == self._bot_username.lower():
            raise web.HTTPConflict(text=f"@{username} is the bot's username")
        for other in self.sandbox.users:
            if other.username and other.username.lower() == wanted:
                raise web.HTTPConflict(
                    text=f"@{username} is taken by {other.first_name} ({other.id})"
                )
        return username

    async def chat(self, request: web.Request) -> web.Response:
        user = self._user(request)
        bot = self._bot_username
        return web.json_response(
            {
                "user": _user_json(user),
                "bot": {"username": bot, "first_name": self.sandbox.bot_user.get("first_name")},
                "messages": [_message_json(user, m, bot) for m in user.messages if not m.deleted],
                "reply_keyboard": (
                    None
                    if user.reply_keyboard is None
                    else [
                        [{"text": b.text, "request_contact": b.request_contact} for b in row]
                        for row in user.reply_keyboard
                    ]
                ),
                "commands": [{"command": c, "description": d} for c, d in self._commands_for(user)],
            }
        )

    def _commands_for(self, user: SandboxUser) -> list[tuple[str, str]]:
        """The menu a Telegram app shows this member: narrowest scope, own language first."""
        language = (user.language_code or "")[:2]
        for scope in (f"chat:{user.id}", "all_private_chats", "default"):
            for code in (language, ""):
                found = self.sandbox.commands.get((scope, code))
                if found:
                    return found
        return []

    async def send(self, request: web.Request) -> web.Response:
        user = self._user(request)
        text = str((await json_object(request)).get("text", "")).strip()
        if not text:
            raise web.HTTPBadRequest(text="nothing to send")
        return web.json_response({"update_id": user.send(text)})

    async def press(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await json_object(request)
        message = user.find(int(body.get("message_id", 0)))
        if message is None:
            raise web.HTTPNotFound(text="that message is gone")
        try:
            update_id = user.press(str(body.get("text", "")), message=message)
        except (LookupError, ValueError) as error:
            raise web.HTTPBadRequest(text=str(error)) from None
        return web.json_response({"update_id": update_id})

    async def contact(self, request: web.Request) -> web.Response:
        """The member shares their own contact (a reply keyboard's request_contact button)."""
        user = self._user(request)
        return web.json_response({"update_id": user.share_contact()})

    async def pay(self, request: web.Request) -> web.Response:
        user = self._user(request)
        body = await json_object(request)
        message = user.find(int(body.get("message_id", 0)))
        if message is None or message.invoice is None:
            raise web.HTTPNotFound(text="no such invoice")
        task = asyncio.get_running_loop().create_task(self._pay(user, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response({"paying": message.message_id}, status=202)

    async def _pay(self, user: SandboxUser, message: ChatMessage) -> None:
        """Pay in the background: the bot has up to 10 s to answer the pre-checkout query."""
        try:
            await user.pay(message)
        except PaymentRefused as refused:
            self._notice(user, _client_text(user, "refused") + refused.error_message)
        except TimeoutError as error:
            self._notice(user, _client_text(user, "failed") + str(error))

    def _notice(self, user: SandboxUser, text: str) -> None:
        self.sandbox.world.signal.notify(
            {"type": "notice", "user_id": user.id, "text": text, "show_alert": True}
        )

    async def upload(self, request: web.Request) -> web.Response:
        user = self._user(request)
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise web.HTTPBadRequest(text="expected a file")
        content = upload.file.read()
        caption = str(form.get("caption", "")) or None
        if image_size(content) is not None and upload.content_type.startswith("image/"):
            update_id = user.send_photo(content, caption=caption)
        else:
            mime = mime_type_of(upload.filename, upload.content_type)
            update_id = user.send_document(upload.filename, content, mime, caption=caption)
        return web.json_response({"update_id": update_id})

    async def block(self, request: web.Request) -> web.Response:
        user = self._user(request)
        blocked = bool((await json_object(request)).get("blocked"))
        if blocked and not user.blocked:
            user.block()
        elif not blocked and user.blocked:
            user.unblock()
        return web.json_response(_user_json(user))

    async def vote(self, request: web.Request) -> web.Response:
        """Vote in a poll in the member's chat: ``{"message_id", "option_ids"}`` (``[]`` takes
        the vote back); 400 with the reason where Telegram's app would not let it happen."""
        user = self._user(request)
        body = await json_object(request)
        message = user.find(int(body.get("message_id", 0)))
        if message is None or message.poll_id is None:
            raise web.HTTPNotFound(text="no such poll")
        chosen = body.get("option_ids")
        if not isinstance(chosen, list) or any(type(i) is not int for i in chosen):
            raise web.HTTPBadRequest(text="option_ids is a list of option numbers")
        try:
            update_id = user.vote(chosen, message)
        except VoteRefused as refused:
            raise web.HTTPBadRequest(text=str(refused)) from None
        return web.json_response({"update_id": update_id})

    async def chats(self, request: web.Request) -> web.Response:
        user = self._user(request)
        return web.json_response([_chat_json(c, user) for c in self.sandbox.chats])

    async def move(self, request: web.Request) -> web.Response:
        """The member joins or leaves a channel or group (by id or username)."""
        user = self._user(request)
        ref = request.match_info["chat"]
        chat = self.sandbox.world.group_chat(ref if ref.lstrip("-").isdigit() else f"@{ref}")
        if chat is None:
            raise web.HTTPNotFound(text="no such channel or group")
        try:
            if request.match_info["move"] == "join":
                user.join(chat)
            else:
                user.leave(chat)
        except PermissionError as error:
            raise web.HTTPForbidden(text=str(error)) from None
        return web.json_response(_chat_json(chat, user))

    async def media(self, request: web.Request) -> web.Response:
        user = self._user(request)
        message = user.find(int(request.match_info["message_id"]))
        kind = request.match_info["kind"]
        if message is not None and kind == "photo" and message.photo is not None:
            return web.Response(body=message.photo, content_type=image_mime_type(message.photo))
        if message is not None and kind == "document" and message.document is not None:
            name, content, mime = message.document
            disposition = f"attachment; filename*=UTF-8''{_quote(name)}"
            return web.Response(
                body=content, content_type=mime, headers={"Content-Disposition": disposition}
            )
        raise web.HTTPNotFound()

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: which chat changed, notices, chat actions."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        queue = self.sandbox.world.signal.subscribe()
        try:
            await response.write(b": connected\n\n")
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_SECONDS):
                        event = await queue.get()
                except TimeoutError:
                    await response.write(b": keepalive\n\n")
                    continue
                if event.get("type") == "closing":
                    return response
                if event.get("type") == "update":
                    continue
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
        except ConnectionResetError:
            return response  # the page went away
        finally:
            self.sandbox.world.signal.unsubscribe(queue)


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# What the Telegram app itself says (not the bot), in the member's app language as Telegram's
# apps do: a Chinese member's chat shows no English but what the bot chose to write.
_CLIENT_TEXTS = {
    "en": {"refused": "Payment refused: ", "failed": "Payment failed: "},
    "zh": {"refused": "付款被拒绝：", "failed": "付款失败："},
}


def _client_text(user: SandboxUser, what: str) -> str:
    language = (user.language_code or "en")[:2]
    return _CLIENT_TEXTS.get(language, _CLIENT_TEXTS["en"])[what]
