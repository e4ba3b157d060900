"""What the bot shows, as framework-neutral values, and what it asks an adapter to do.

A feature builds a :class:`Screen` (HTML text, inline buttons or a reply keyboard, optionally a
photo, a document or an invoice); the conversation turns it into outputs (:class:`Send`,
:class:`Edit`, :class:`Notice`, :class:`CheckoutAnswer`) that each adapter renders with its own
framework's objects.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from bot.i18n import Html


def _unparsed(obj: object, *names: str) -> None:
    """Button labels, callback answers and invoices are shown as they are, not as HTML:
    a translated text (escaped for HTML) is turned back into the characters it shows."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, Html):
            object.__setattr__(obj, name, html.unescape(value))


# Telegram's limits, checked where screens are built so that no language can exceed them.
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64


@dataclass(frozen=True)
class Button:
    """An inline button: either a request to the bot (``data``) or a link (``url``)."""

    text: str
    data: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        _unparsed(self, "text")
        if (self.data is None) == (self.url is None):
            raise ValueError(f"button {self.text!r} needs exactly one of data or url")
        if self.data is not None and len(self.data.encode()) > CALLBACK_DATA_LIMIT:
            raise ValueError(f"callback data {self.data!r} is over {CALLBACK_DATA_LIMIT} bytes")


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class ContactRequest:
    """A reply keyboard under the message box asking for the member's phone number.

    ``share`` is a button that sends the member's own contact (Telegram asks them to confirm and
    sends it with their user id), ``cancel`` a plain button that sends its text. The keyboard
    hides once used and shrinks to its buttons; it stays until a screen removes it
    (``Screen.remove_keyboard``).
    """

    share: str
    cancel: str

    def __post_init__(self) -> None:
        _unparsed(self, "share", "cancel")


@dataclass(frozen=True)
class Photo:
    """A picture to upload (``content``), or one Telegram can fetch itself (``ref``: a URL or
    the file id of a photo sent before)."""

    content: bytes | None = None
    filename: str = "photo.png"
    ref: str | None = None

    def __post_init__(self) -> None:
        if (self.content is None) == (self.ref is None):
            raise ValueError("a photo needs exactly one of content or ref")


@dataclass(frozen=True)
class Document:
    """A file to upload: its bytes (``content``), or a file on this machine (``path``), which
    the adapter reads as it uploads. A ``temporary`` file is deleted once the update's answers
    are made (sent or given up): see :func:`discard_temporary`."""

    content: bytes | None
    filename: str
    mime_type: str
    path: Path | None = None
    temporary: bool = False

    def __post_init__(self) -> None:
        if (self.content is None) == (self.path is None):
            raise ValueError("a document needs exactly one of content or path")
        if self.temporary and self.path is None:
            raise ValueError("only a file on disk can be temporary")

    @classmethod
    def file(
        cls, path: str | os.PathLike[str], filename: str, mime_type: str, *, temporary: bool
    ) -> Document:
        return cls(None, filename, mime_type, path=Path(path), temporary=temporary)


@dataclass(frozen=True)
class Invoice:
    """A payment in Telegram Stars; ``payload`` comes back with the pre-checkout and payment."""

    title: str
    description: str
    payload: str
    label: str
    amount: int
    currency: str = "XTR"

    def __post_init__(self) -> None:
        _unparsed(self, "title", "description", "label")


@dataclass(frozen=True)
class Screen:
    """One message: its text, and at most one keyboard.

    ``buttons`` are inline buttons on the message; ``contact_request`` a reply keyboard asking
    for the member's phone; ``remove_keyboard`` takes a reply keyboard away. A message carries
    one of them at most (Telegram's ``reply_markup`` is one of these), and an invoice only inline
    buttons. A screen with a reply keyboard (or its removal) can only be sent, never put in place
    of another message (:func:`edit_mode`).
    """

    text: str
    buttons: Keyboard = ()
    photo: Photo | None = None
    document: Document | None = None
    invoice: Invoice | None = None
    contact_request: ContactRequest | None = None
    remove_keyboard: bool = False

    def __post_init__(self) -> None:
        limit = CAPTION_LIMIT if self.has_media else TEXT_LIMIT
        if len(self.text) > limit:
            raise ValueError(f"screen text is {len(self.text)} characters, over {limit}")
        if self.contact_request is not None and self.remove_keyboard:
            raise ValueError("a screen cannot both show and remove a reply keyboard")
        if self.has_reply_keyboard and self.buttons:
            raise ValueError("a message carries inline buttons or a reply keyboard, not both")
        if self.has_reply_keyboard and self.invoice is not None:
            raise ValueError("an invoice carries inline buttons only")

    @property
    def has_media(self) -> bool:
        return self.photo is not None or self.document is not None

    @property
    def has_reply_keyboard(self) -> bool:
        """Whether the screen shows or removes the keyboard under the message box."""
        return self.contact_request is not None or self.remove_keyboard


@dataclass(frozen=True)
class Send:
    """A new message, to the member who acted unless ``chat_id`` names another chat."""

    screen: Screen
    chat_id: int | None = None


@dataclass(frozen=True)
class Edit:
    """Replace the message whose button was pressed (an adapter sends anew if it cannot)."""

    screen: Screen


@dataclass(frozen=True)
class Notice:
    """The answer to a button press: a toast, or an alert the member must dismiss."""

    text: str = ""
    alert: bool = False

    def __post_init__(self) -> None:
        _unparsed(self, "text")


@dataclass(frozen=True)
class CheckoutAnswer:
    ok: bool
    error: str | None = None

    def __post_init__(self) -> None:
        _unparsed(self, "error")


@dataclass(frozen=True)
class RefundStars:
    """Give back the Stars payment ``charge_id`` (its refund is recorded due in core): made
    right away, after the answers before it; a job tries again if Telegram refuses."""

    charge_id: str


Output = Send | Edit | Notice | CheckoutAnswer | RefundStars


@dataclass
class Outputs:
    """What one update produced, in order."""

    items: list[Output] = field(default_factory=list)

    def add(self, output: Output) -> None:
        self.items.append(output)

    @property
    def notice(self) -> Notice | None:
        return next((o for o in self.items if isinstance(o, Notice)), None)


def discard_temporary(outputs: list[Output]) -> None:
    """Delete the temporary files of the documents among ``outputs`` (those gone no matter)."""
    for output in outputs:
        screen = output.screen if isinstance(output, Send | Edit) else None
        document = screen.document if screen is not None else None
        if document is not None and document.temporary and document.path is not None:
            document.path.unlink(missing_ok=True)


def edit_mode(screen: Screen, target_has_media: bool) -> str:
    """How to show ``screen`` in place of a message: ``text``, ``caption`` or ``send`` anew.

    Telegram cannot turn a text message into a photo (or back), so media screens and text
    screens replacing media are sent as new messages; a short text on a media message edits its
    caption. An edited message keeps only inline buttons, so a screen with a reply keyboard (or
    its removal) is always sent anew.
    """
    if screen.has_media or screen.invoice is not None or screen.has_reply_keyboard:
        return "send"
    if target_has_media:
        return "caption" if len(screen.text) <= CAPTION_LIMIT else "send"
    return "text"
