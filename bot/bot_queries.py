"""What the bot asks Telegram about chats, and the polls it sends: the calls behind tasks.

A task that says "join our channel" is checked with ``getChatMember``; a quiz or a survey is a
Telegram poll sent with ``sendPoll`` whose votes come back as ``poll_answer`` updates
(:class:`bot.events.PollAnswer`). Both adapters implement :class:`BotQueries` (``turn.queries``
during a member's turn, the messenger outside one, for jobs), so features and jobs never see a
framework's objects.

Errors are :mod:`bot.delivery`'s; a chat the bot cannot look into (it does not exist, the bot
is not in it, or not an admin of a channel) is :class:`~bot.delivery.ChatUnavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# Telegram's limits on sendPoll.
QUESTION_LIMIT = 300
OPTION_LIMIT = 100
MIN_OPTIONS, MAX_OPTIONS = 2, 10
EXPLANATION_LIMIT = 200


@dataclass(frozen=True)
class PollSpec:
    """A poll to send. ``correct_option`` (an index into ``options``) makes it a quiz
    (Bot API ``type="quiz"``, ``correct_option_id``); ``explanation`` is what a quiz shows
    after a wrong answer. Votes are never anonymous: the bot must know who voted."""

    question: str
    options: tuple[str, ...]
    correct_option: int | None = None
    explanation: str = ""

    def __post_init__(self) -> None:
        if not 1 <= len(self.question) <= QUESTION_LIMIT:
            raise ValueError(f"a poll's question has 1 to {QUESTION_LIMIT} characters")
        if not MIN_OPTIONS <= len(self.options) <= MAX_OPTIONS:
            raise ValueError(f"a poll has {MIN_OPTIONS} to {MAX_OPTIONS} options")
        if any(not 1 <= len(option) <= OPTION_LIMIT for option in self.options):
            raise ValueError(f"a poll's option has 1 to {OPTION_LIMIT} characters")
        if self.correct_option is not None and not 0 <= self.correct_option < len(self.options):
            raise ValueError("a quiz's correct option must be one of its options")
        if self.explanation and self.correct_option is None:
            raise ValueError("only a quiz has an explanation")
        if len(self.explanation) > EXPLANATION_LIMIT:
            raise ValueError(f"a quiz's explanation has at most {EXPLANATION_LIMIT} characters")

    @property
    def is_quiz(self) -> bool:
        return self.correct_option is not None


class ChatMemberStatus(StrEnum):
    """``ChatMember.status`` as the Bot API names it."""

    CREATOR = "creator"
    ADMINISTRATOR = "administrator"
    MEMBER = "member"
    RESTRICTED = "restricted"
    LEFT = "left"
    KICKED = "kicked"


@dataclass(frozen=True)
class ChatMembership:
    """Someone's standing in a chat: Telegram's status, and whether they are in the chat.

    ``in_chat`` is True for the creator, an administrator and a member; for a restricted user
    it is the Bot API's ``is_member`` (a restricted user may have left, and still be listed as
    restricted); never for one who left or was banned.
    """

    status: ChatMemberStatus
    in_chat: bool

    @classmethod
    def of(cls, status: str, is_member: bool | None = None) -> ChatMembership:
        """From the Bot API's ``status`` and, for ``restricted``, its ``is_member``."""
        known = ChatMemberStatus(status)
        if known is ChatMemberStatus.RESTRICTED:
            return cls(known, bool(is_member))
        return cls(known, known in _IN_CHAT)

    @property
    def is_admin(self) -> bool:
        """The creator or an administrator (the bot must be one to see a channel's members)."""
        return self.status in (ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR)


_IN_CHAT = frozenset(
    {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER}
)


class BotQueries(Protocol):
    """The Bot API calls a task needs, the same on both frameworks."""

    async def chat_member(self, chat_id: int | str, user_id: int) -> ChatMembership:
        """``getChatMember``: ``user_id``'s standing in ``chat_id`` (an id or '@username').

        Raises :class:`~bot.delivery.ChatUnavailable` when the bot cannot look (no such chat,
        the bot is not in it, or a channel where it is not an admin), or another of
        :mod:`bot.delivery`'s errors."""
        ...

    async def bot_member(self, chat_id: int | str) -> ChatMembership:
        """The bot's own standing in ``chat_id`` (it must be an admin of a channel to check its
        members: see :attr:`ChatMembership.is_admin`). Errors as :meth:`chat_member`."""
        ...

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str:
        """``sendPoll`` (not anonymous, a quiz when ``poll.correct_option`` is set) to
        ``chat_id``; returns Telegram's id of the poll, which its votes carry."""
        ...


class NoQueries:
    """The queries of a conversation built without a bot (tests of the conversation alone):
    any call is a mistake, said plainly."""

    async def chat_member(self, chat_id: int | str, user_id: int) -> ChatMembership:
        raise RuntimeError("this conversation has no Bot API queries (pass queries=)")

    async def bot_member(self, chat_id: int | str) -> ChatMembership:
        raise RuntimeError("this conversation has no Bot API queries (pass queries=)")

    async def send_poll(self, chat_id: int, poll: PollSpec) -> str:
        raise RuntimeError("this conversation has no Bot API queries (pass queries=)")
