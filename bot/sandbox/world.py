"""Everything the sandbox remembers: members and their chats, files, queries, commands.

The Bot API routes (``api.py``) change it on the bot's behalf, ``SandboxUser`` on a
member's; both go through the helpers here so a chat looks the same whichever side wrote.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.sandbox.changes import ChangeSignal
from bot.sandbox.chats import DEFAULT_CHATS, ChatSeed, GroupChat, PollState, build_chats
from bot.sandbox.limits import FloodControl, FloodLimits
from bot.sandbox.messages import ChatMessage, StoredFile, buttons_of
from bot.sandbox.spec import ApiSpec
from bot.sandbox.updates import UpdateQueue

if TYPE_CHECKING:
    from bot.sandbox.users import SandboxUser

FIRST_USER_ID = 1_000_001
BOT_USERNAME = "pointsmall_sandbox_bot"


@dataclass
class CallbackQueryState:
    query_id: str
    user_id: int
    message_id: int
    answered: bool = False


@dataclass
class PreCheckout:
    query_id: str
    user_id: int
    answer: asyncio.Future[tuple[bool, str | None]]


@dataclass
class StarPayment:
    """A payment in Telegram Stars a member made: its charge id, and whether it was refunded."""

    charge_id: str
    user_id: int
    amount: int
    payload: str
    provider_charge_id: str
    refunded: bool = False


@dataclass
class World:
    token: str
    spec: ApiSpec
    flood_limits: FloodLimits | None = None
    clock: Callable[[], float] = time.time
    signal: ChangeSignal = field(default_factory=ChangeSignal)
    users_by_id: dict[int, SandboxUser] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    rate_limited: int = 0
    commands: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    menu_buttons: dict[int | None, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    files_by_path: dict[str, StoredFile] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQueryState] = field(default_factory=dict)
    pre_checkouts: dict[str, PreCheckout] = field(default_factory=dict)
    # Stars payments by charge id, and the refunds made (user id, charge id), in order.
    star_payments: dict[str, StarPayment] = field(default_factory=dict)
    refunds: list[tuple[int, str]] = field(default_factory=list)
    # The channels and groups the world starts with (see bot.sandbox.chats).
    chat_seeds: Sequence[ChatSeed] = DEFAULT_CHATS
    chats: dict[int, GroupChat] = field(init=False)
    # The polls the bot sent, by poll id.
    polls: dict[str, PollState] = field(default_factory=dict)
    updates: UpdateQueue = field(init=False)
    flood: FloodControl | None = field(init=False)
    bot_user: dict[str, Any] = field(init=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.updates = UpdateQueue(self.signal)
        self.chats = build_chats(self.chat_seeds)
        self.flood = FloodControl(self.flood_limits) if self.flood_limits else None
        bot_id = self.token.split(":", 1)[0]
        self.bot_user = {
            "id": int(bot_id) if bot_id.isdigit() else 123456,
            "is_bot": True,
            "first_name": "PointsMall Sandbox",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def now(self) -> int:
        return int(self.clock())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids)}{secrets.token_hex(4)}"

    def changed(self, user_id: int | None = None, kind: str = "chat") -> None:
        """Wake waiters; tell the page which chat changed."""
        self.signal.notify({"type": kind, "user_id": user_id})

    # -- files --------------------------------------------------------------------------

    def store_file(
        self,
        content: bytes,
        file_name: str,
        mime_type: str,
        folder: str,
        width: int = 0,
        height: int = 0,
    ) -> StoredFile:
        number = next(self._ids)
        suffix = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = StoredFile(
            file_id=f"SBX{folder[:3].upper()}{number}-{secrets.token_urlsafe(12)}",
            file_unique_id=f"sbxu{number}",
            content=content,
            file_name=file_name,
            mime_type=mime_type,
            file_path=f"{folder}/file_{number}.{suffix}",
            width=width,
            height=height,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    # -- Bot API objects ----------------------------------------------------------------

    def message_object(self, user: SandboxUser, message: ChatMessage) -> dict[str, Any]:
        """The Bot API ``Message`` for a chat message, in its current state."""
        raw: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self.bot_user if message.from_bot else user.as_user(),
            "chat": user.as_chat(),
            "date": message.date,
        }
        raw.update(message.raw)
        if message.poll_id is not None:  # its current counts, as Telegram shows them
            raw["poll"] = self.polls[message.poll_id].as_json()
        if message.edited:
            raw["edit_date"] = message.raw.get("edit_date", self.now())
        if message.reply_markup:
            raw["reply_markup"] = message.reply_markup
        return raw

    # -- channels, groups, polls ---------------------------------------------------------

    def group_chat(self, ref: int | str) -> GroupChat | None:
        """The channel or group ``ref`` names: its id, or '@username' (any case)."""
        text = str(ref).strip()
        if text.startswith("@"):
            wanted = text[1:].lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == wanted:
                    return chat
            return None
        try:
            return self.chats.get(int(text))
        except ValueError:
            return None

    def vote(self, user: SandboxUser, poll: PollState, option_ids: Sequence[int]) -> int | None:
        """``user`` votes (or takes their vote back); the ``poll_answer`` update's id, or None
        for an anonymous poll, whose votes the bot never learns one by one."""
        chosen = poll.vote(user.id, option_ids)
        self.changed(user.id if poll.chat_id == user.id else None)
        if poll.is_anonymous:
            return None
        return self.updates.push(
            "poll_answer",
            {
                "poll_id": poll.id,
                "user": user.as_user(),
                "option_ids": list(chosen),
                "option_persistent_ids": [poll.option_id(i) for i in chosen],
            },
        )

    def set_content(
        self,
        message: ChatMessage,
        text: str,
        entities: list[dict[str, Any]],
        html: str | None,
        markup: dict[str, Any] | None,
    ) -> None:
        """Text (or caption, for media) and buttons of a message, raw object included."""
        key = "caption" if message.has_caption else "text"
        message.text, message.entities, message.html = text, entities, html
        inline = markup if markup and "inline_keyboard" in markup else None
        message.reply_markup = inline
        message.buttons = buttons_of(inline)
        if message.invoice is not None:
            return
        for name in ("text", "entities", "caption", "caption_entities"):
            message.raw.pop(name, None)
        if text or key == "text":
            message.raw[key] = text
        if entities:
            message.raw["entities" if key == "text" else "caption_entities"] = entities
