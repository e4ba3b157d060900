"""Channels and groups of the sandbox, and the polls the bot sends: members join, leave, vote.

A task that says "join our channel" needs a channel to join; a quiz needs a poll to answer.
The world holds a few chats (:data:`DEFAULT_CHATS`, or what ``Sandbox(chats=...)`` gives),
each with the bot's own standing in it (an admin of some, absent from one, so the bot's
checks meet what Telegram would say) and each member's. Members join and leave from the page
or the tests (``SandboxUser.join``); the Bot API methods (``api_chats``) read the same state.

Polls behave as Telegram's: a vote in a poll that is not anonymous is a ``poll_answer``
update naming the voter; a regular poll lets a vote be taken back (``option_ids`` empty) or
changed, a quiz takes one answer for good (``allows_revoting`` false); a stopped poll takes
none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

ChatType = Literal["channel", "supergroup", "group"]
# The statuses of ChatMember, and those that count as being in the chat.
STATUSES = frozenset({"creator", "administrator", "member", "restricted", "left", "kicked"})
IN_CHAT = frozenset({"creator", "administrator", "member"})
FIRST_CHAT_ID = -1001000000001


@dataclass(frozen=True)
class ChatSeed:
    """A chat the sandbox starts with: ``bot_status`` is the bot's standing there ('left':
    the bot is not in it)."""

    title: str
    type: ChatType = "channel"
    username: str | None = None
    bot_status: str = "administrator"


DEFAULT_CHATS = (
    ChatSeed("PointsMall News", "channel", "pointsmall_news", "administrator"),
    ChatSeed("PointsMall Lounge", "supergroup", "pointsmall_lounge", "administrator"),
    ChatSeed("PointsMall Deals", "channel", "pointsmall_deals", "left"),
)
"""@pointsmall_news and the group @pointsmall_lounge have the bot as an admin; the bot is not in
the channel @pointsmall_deals, so checking its members fails as on Telegram."""


@dataclass
class Membership:
    """Someone's standing in a chat; ``is_member`` matters for ``restricted`` only."""

    status: str
    is_member: bool = True
    until_date: int = 0

    @property
    def in_chat(self) -> bool:
        return self.status in IN_CHAT or (self.status == "restricted" and self.is_member)


@dataclass
class GroupChat:
    """A channel or a group: who is in it, and the bot's own standing."""

    id: int
    type: ChatType
    title: str
    username: str | None
    bot_status: str
    members: dict[int, Membership] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    _next_message_id: int = 1

    @property
    def bot_is_admin(self) -> bool:
        return self.bot_status in ("creator", "administrator")

    @property
    def bot_in_chat(self) -> bool:
        return self.bot_status in IN_CHAT

    def as_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type, "title": self.title}
        if self.username:
            chat["username"] = self.username
        return chat

    def standing(self, user_id: int) -> Membership:
        return self.members.get(user_id, Membership("left"))

    def join(self, user_id: int) -> bool:
        """The user joins (a banned user cannot); False if they were in already."""
        current = self.standing(user_id)
        if current.status == "kicked":
            raise PermissionError(f"user {user_id} is banned from {self.title}")
        if current.in_chat:
            return False
        if current.status == "restricted":
            current.is_member = True
        else:
            self.members[user_id] = Membership("member")
        return True

    def leave(self, user_id: int) -> bool:
        """The user leaves; False if they were not in it. A restricted user stays listed as
        restricted, no longer a member (``is_member`` false), as on Telegram."""
        current = self.standing(user_id)
        if not current.in_chat:
            return False
        if current.status == "restricted":
            current.is_member = False
        elif current.status == "creator":
            raise PermissionError("the creator of a chat cannot leave it in the sandbox")
        else:
            self.members[user_id] = Membership("left")
        return True

    def set_status(self, user_id: int, status: str, *, is_member: bool = True) -> None:
        """Make the user an admin, restrict them (in or out of the chat), ban them..."""
        if status not in STATUSES:
            raise ValueError(f"unknown chat member status {status!r}")
        if status == "restricted" and self.type == "channel":
            raise ValueError("only a group's members can be restricted")
        self.members[user_id] = Membership(status, is_member if status == "restricted" else True)

    def new_message_id(self) -> int:
        number = self._next_message_id
        self._next_message_id += 1
        return number


def build_chats(seeds: Sequence[ChatSeed]) -> dict[int, GroupChat]:
    chats: dict[int, GroupChat] = {}
    for index, seed in enumerate(seeds):
        if seed.bot_status not in STATUSES:
            raise ValueError(f"unknown bot status {seed.bot_status!r} for {seed.title}")
        chat_id = FIRST_CHAT_ID - index
        chats[chat_id] = GroupChat(chat_id, seed.type, seed.title, seed.username, seed.bot_status)
    return chats


class VoteRefused(ValueError):
    """A vote Telegram's app would not let the member cast (closed poll, a quiz answered...)."""


@dataclass
class PollState:
    """A poll the bot sent, where it is, and who voted what."""

    id: str
    chat_id: int
    message_id: int
    question: str
    options: list[str]
    type: str = "regular"
    is_anonymous: bool = True
    allows_multiple_answers: bool = False
    allows_revoting: bool = True
    correct_option_ids: list[int] | None = None
    explanation: str | None = None
    is_closed: bool = False
    votes: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def option_id(self, index: int) -> str:
        return f"{self.id}-{index}"

    def as_json(self) -> dict[str, Any]:
        """The Bot API ``Poll`` in its current state."""
        counts = [0] * len(self.options)
        for chosen in self.votes.values():
            for index in chosen:
                counts[index] += 1
        poll: dict[str, Any] = {
            "id": self.id,
            "question": self.question,
            "options": [
                {"persistent_id": self.option_id(i), "text": text, "voter_count": counts[i]}
                for i, text in enumerate(self.options)
            ],
            "total_voter_count": len(self.votes),
            "is_closed": self.is_closed,
            "is_anonymous": self.is_anonymous,
            "type": self.type,
            "allows_multiple_answers": self.allows_multiple_answers,
            "allows_revoting": self.allows_revoting,
            "members_only": False,
        }
        if self.correct_option_ids is not None:  # sent by the bot: it sees the answer
            poll["correct_option_ids"] = self.correct_option_ids
        if self.explanation:
            poll["explanation"] = self.explanation
        return poll

    def vote(self, user_id: int, option_ids: Sequence[int]) -> tuple[int, ...]:
        """Record ``user_id``'s vote (empty: take it back); VoteRefused when the app would not
        allow it."""
        chosen = tuple(sorted(set(option_ids)))
        if self.is_closed:
            raise VoteRefused("the poll is closed")
        if any(not 0 <= i < len(self.options) for i in chosen):
            raise VoteRefused(f"the poll has options 0 to {len(self.options) - 1}")
        if len(chosen) > 1 and not self.allows_multiple_answers:
            raise VoteRefused("the poll takes one answer")
        previous = self.votes.get(user_id)
        if previous is not None and not self.allows_revoting:
            what = "a quiz's answer" if self.type == "quiz" else "this poll's vote"
            raise VoteRefused(f"{what} cannot be changed or taken back")
        if not chosen:
            if previous is None:
                raise VoteRefused("there is no vote to take back")
            del self.votes[user_id]
        else:
            if previous == chosen:
                raise VoteRefused("that is the vote already cast")
            self.votes[user_id] = chosen
        return chosen
