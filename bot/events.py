"""What a member did, as the conversation sees it, whichever framework received it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sender:
    """The Telegram user behind an update (their private chat has the same id)."""

    user_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name or ''}".strip()
        return name[:128] or str(self.user_id)


@dataclass(frozen=True)
class Command:
    """``/name args``; ``args`` is everything after the command (a /start payload, a code)."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Press:
    """A button press: its callback data, and whether the pressed message carries media."""

    data: str
    message_id: int
    has_media: bool = False


@dataclass(frozen=True)
class Upload:
    """A document or photo the member sent; ``fetch`` downloads it (check ``size`` first).

    ``file_id`` is Telegram's id of the file: the bot can send it again by that id, from any
    process, without uploading it (an item's photo is kept that way). ``picture`` is True for
    a photo sent as a picture (Telegram's compressed photo), False for a document.
    """

    filename: str
    mime_type: str
    size: int
    fetch: Callable[[], Awaitable[bytes]]
    caption: str = ""
    file_id: str = ""
    picture: bool = False


@dataclass(frozen=True)
class PreCheckout:
    """Telegram asks whether to take a payment; must be answered within 10 seconds."""

    payload: str
    currency: str
    amount: int


@dataclass(frozen=True)
class Paid:
    payload: str
    currency: str
    amount: int
    charge_id: str


@dataclass(frozen=True)
class Contact:
    """A contact the member sent: their own when they pressed a button asking for it.

    ``user_id`` is the Telegram user the contact belongs to, as Telegram gives it (None for a
    contact without an account); it is the sender's own id only when they shared themselves, so
    a phone number is theirs, verified by Telegram, only then. The number is kept out of the
    dataclass's repr, which logs print.
    """

    phone_number: str = field(repr=False)
    user_id: int | None = None


@dataclass(frozen=True)
class PollAnswer:
    """A vote in a poll the bot sent (``poll_answer``); the event's sender is the voter.

    ``option_ids`` are the chosen options' indexes; empty when the voter took their vote back
    (a regular poll allows it, a quiz does not). It comes from the poll, not from a chat: the
    answers of its turn are messages to the voter's private chat.
    """

    poll_id: str
    option_ids: tuple[int, ...]


Action = Command | Text | Press | Upload | PreCheckout | Paid | Contact | PollAnswer


@dataclass(frozen=True)
class Event:
    """What a member did. ``retried``: this update was taken before without finishing (its
    process died, or handed it back on stopping), so what it did may be done already while its
    answer never reached the chat; a double tap is two updates, never a retry."""

    sender: Sender
    action: Action
    retried: bool = False
