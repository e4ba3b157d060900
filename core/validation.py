"""Checks on what callers hand to the mall, raised before anything is written."""

from __future__ import annotations

import re
from datetime import datetime

from core.errors import InvalidAmount, InvalidInput, InvalidKey

# Far above any real balance, far below what a BIGINT holds: sums of many cannot overflow.
MAX_AMOUNT = 10**12

_KEY = re.compile(r"[A-Za-z0-9_\-:.@#]{1,200}")
_REFERENCE = re.compile(r"[A-Za-z0-9_\-.:]{1,128}")


def amount(value: object, *, field: str = "amount", allow_zero: bool = False) -> int:
    """A whole number of points or minor currency units, positive and within bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{field} must be an integer, got {value!r}", field=field)
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_AMOUNT:
        raise InvalidAmount(
            f"{field} must be between {low} and {MAX_AMOUNT}, got {value}", field=field
        )
    return value


def key(value: object) -> str:
    """An idempotency key: 1-200 characters of letters, digits and ``_-:.@#``."""
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise InvalidKey(f"malformed key {value!r}", key=str(value)[:200])
    return value


def reference(value: object, *, field: str) -> str:
    """An id that comes from outside (an order id, a refund id): 1-128 of ``A-Za-z0-9_-.:``."""
    if not isinstance(value, str) or not _REFERENCE.fullmatch(value):
        raise InvalidKey(f"malformed {field} {value!r}", field=field)
    return value


def member_id(value: object) -> int:
    """A Telegram user id: a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise InvalidInput(
            f"member id must be a positive integer, got {value!r}", field="member_id"
        )
    return value


def text(value: object, *, field: str, max_length: int, allow_empty: bool = False) -> str:
    """A free text (a name, a reason) within its length, without control characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be text, got {value!r}", field=field)
    cleaned = value.strip()
    if (not cleaned and not allow_empty) or len(cleaned) > max_length:
        raise InvalidInput(f"{field} must be 1-{max_length} characters", field=field)
    if any(ord(c) < 32 and c not in "\n\t" for c in cleaned):
        raise InvalidInput(f"{field} contains control characters", field=field)
    return cleaned


def instant(value: object, *, field: str = "now") -> datetime:
    """A timezone-aware datetime: the ledger never guesses a wall clock's zone."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{field} must be a timezone-aware datetime", field=field)
    return value
