"""Who is a member and in which language they read, kept per process for a few seconds.

Every update starts by finding its member (are they one? their chosen language; does
Telegram's name still match ours?). Reading that from the database was a third of the reads a
``/balance`` update made (issue 14's profile), for an answer that changes a few times in a
member's life. So each process keeps what it read for :data:`TTL_SECONDS`.

Why a stale entry is bounded and harmless:

- This process forgets a member the moment it changes what is kept: their language
  (``/language``), their name or username (the conversation's own update), their erasure
  (``/privacy``). Features call :meth:`KnownMembers.forget` right after such a change.
- A change made by another process (several processes on one PostgreSQL) is seen here within
  :data:`TTL_SECONDS` at most: until then the member reads this process's answers in their
  previous language, or a name update is made once more than needed.
- Nothing that moves points reads this cache: every use case checks the member in its own
  transaction. A member erased by another process who presses a button here within the window
  is refused by the use case (``UnknownMember``, worded like every refusal), not served.
- Only members are kept; someone unknown is read every time, so a join is seen at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from core.membership.members import MemberProfile, Members

# How long this process trusts what it read about a member (seconds).
TTL_SECONDS = 5.0
# Members kept at most; the oldest entry makes way (a burst of newcomers cannot grow it further).
MAX_KEPT = 10_000


@dataclass(frozen=True)
class Known:
    """What the conversation needs of a member before routing their update."""

    language: str
    display_name: str
    username: str | None

    @classmethod
    def of(cls, profile: MemberProfile) -> Known:
        return cls(profile.language, profile.display_name, profile.username)


class KnownMembers:
    """Members' :class:`Known` facts, read through ``members`` and kept ``ttl`` seconds."""

    def __init__(
        self,
        members: Members,
        *,
        ttl: float = TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.members = members
        self.ttl = ttl
        self.clock = clock
        self._kept: dict[int, tuple[float, Known]] = {}

    async def get(self, member_id: int) -> Known:
        """The member's facts; ``UnknownMember`` (never kept) for someone who is not one."""
        kept = self._kept.get(member_id)
        now = self.clock()
        if kept is not None and kept[0] > now:
            return kept[1]
        known = Known.of(await self.members.profile(member_id))
        self._keep(member_id, known, now)
        return known

    def remember(self, profile: MemberProfile) -> None:
        """Keep ``profile`` as this process just wrote it."""
        self._keep(profile.member_id, Known.of(profile), self.clock())

    def forget(self, member_id: int) -> None:
        """This process changed the member's language, name or membership: read it anew."""
        self._kept.pop(member_id, None)

    def _keep(self, member_id: int, known: Known, now: float) -> None:
        self._kept.pop(member_id, None)
        if len(self._kept) >= MAX_KEPT:
            del self._kept[next(iter(self._kept))]
        self._kept[member_id] = (now + self.ttl, known)
