"""Telegram's flood limits, as token buckets: about 30 sends a second overall, 1 per chat.

Telegram documents the figures only loosely ("avoid sending more than one message per
second" to a chat, "about 30 messages per second" in bulk) and answers the excess with 429
and ``retry_after``; a bot must survive that, so the sandbox can play it when asked.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# What a message may hold, in characters after entity parsing, and what a button may carry.
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
# Methods that count against the flood limits.
LIMITED_METHODS = frozenset(
    {
        "sendmessage",
        "sendphoto",
        "senddocument",
        "sendinvoice",
        "editmessagetext",
        "editmessagecaption",
        "editmessagereplymarkup",
        "editmessagemedia",
    }
)


@dataclass(frozen=True)
class FloodLimits:
    """Rates in sends per second; bursts in sends that may go at once after a quiet spell."""

    overall_per_second: float = 30
    per_chat_per_second: float = 1
    overall_burst: int | None = None  # None: one second's worth
    per_chat_burst: int = 3


@dataclass
class TokenBucket:
    rate: float
    capacity: float
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity
        self.stamp = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_needed(self) -> float:
        """Seconds until one token is there (0 if now)."""
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self._refill()
        self.tokens -= 1


class FloodControl:
    """One overall bucket and one per chat; a send needs a token from both."""

    def __init__(self, limits: FloodLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        burst = limits.overall_burst or max(1, math.floor(limits.overall_per_second))
        self._overall = TokenBucket(limits.overall_per_second, burst, clock)
        self._chats: dict[int, TokenBucket] = {}

    def retry_after(self, chat_id: int) -> int | None:
        """None if the send may go (and it is counted), else whole seconds to wait (>= 1)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = TokenBucket(
                self.limits.per_chat_per_second, self.limits.per_chat_burst, self._clock
            )
            self._chats[chat_id] = chat
        wait = max(self._overall.wait_needed(), chat.wait_needed())
        if wait > 0:
            return max(1, math.ceil(wait))
        self._overall.take()
        chat.take()
        return None
