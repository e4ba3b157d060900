"""What a chat holds: messages as a member sees them, their buttons, and uploaded files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    """An inline keyboard button: a callback button, or a link."""

    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ReplyButton:
    """A button of the reply keyboard under the message box: it sends its text, or with
    ``request_contact`` the member's own contact."""

    text: str
    request_contact: bool = False


@dataclass
class ChatMessage:
    """One message in a private chat, in its current state (after edits).

    ``text`` is the plain text (or caption) after parsing entities; ``html`` is what the bot
    sent. ``raw`` is the Bot API ``Message`` object the server hands out for it.
    """

    message_id: int
    from_bot: bool
    text: str
    date: int
    html: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    buttons: list[list[Button]] = field(default_factory=list)
    photo: bytes | None = None
    document: tuple[str, bytes, str] | None = None
    invoice: dict[str, Any] | None = None
    payment: dict[str, Any] | None = None
    # Telegram's service message of a Stars refund (``refunded_payment``).
    refund: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    # A poll the bot sent (``World.polls``); the message's ``poll`` shows its current state.
    poll_id: str | None = None
    edited: bool = False
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    reply_markup: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def has_caption(self) -> bool:
        return self.photo is not None or self.document is not None

    def button(self, text: str) -> Button | None:
        for row in self.buttons:
            for button in row:
                if button.text == text:
                    return button
        return None

    def describe(self) -> str:
        who = "bot" if self.from_bot else "user"
        labels = [b.text for row in self.buttons for b in row]
        tail = f" buttons={labels}" if labels else ""
        if self.contact is not None:
            tail += f" contact={self.contact.get('phone_number')!r}"
        return f"#{self.message_id} {who}: {self.text!r}{tail}"


@dataclass(frozen=True)
class StoredFile:
    """A file someone uploaded; ``file_path`` is where the download route serves it."""

    file_id: str
    file_unique_id: str
    content: bytes
    file_name: str
    mime_type: str
    file_path: str
    width: int = 0
    height: int = 0

    @property
    def size(self) -> int:
        return len(self.content)


def buttons_of(markup: dict[str, Any] | None) -> list[list[Button]]:
    """The inline keyboard of a reply_markup (other keyboards show no buttons on a message)."""
    if not markup or "inline_keyboard" not in markup:
        return []
    return [
        [
            Button(
                text=str(b.get("text", "")),
                callback_data=b.get("callback_data"),
                url=b.get("url"),
            )
            for b in row
        ]
        for row in markup["inline_keyboard"]
    ]


def reply_keyboard_of(markup: dict[str, Any]) -> list[list[ReplyButton]]:
    """The buttons of a ``ReplyKeyboardMarkup`` (a button may be given as its text alone)."""
    return [
        [
            ReplyButton(b)
            if isinstance(b, str)
            else ReplyButton(str(b.get("text", "")), bool(b.get("request_contact")))
            for b in row
        ]
        for row in markup.get("keyboard", [])
    ]
