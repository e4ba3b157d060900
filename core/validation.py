"""Checks on what callers hand to the mall, raised before anything is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from core.config import is_language_code
from core.errors import InvalidAmount, InvalidInput, InvalidKey

# Far above any real balance, far below what a BIGINT holds: sums of many cannot overflow.
MAX_AMOUNT = 10**12
# The most rows one page of a listing may ask for.
MAX_PAGE_SIZE = 50

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


def text_problem(value: object, max_length: int, *, allow_empty: bool = False) -> str | None:
    """What is wrong with a free text an admin wrote (None: nothing), as :func:`text` checks it."""
    if not isinstance(value, str):
        return "must be text"
    cleaned = value.strip()
    if not cleaned and not allow_empty:
        return "must not be empty"
    if len(cleaned) > max_length:
        return f"must be at most {max_length} characters"
    if any(ord(c) < 32 and c not in "\n\t" for c in cleaned):
        return "must not contain control characters"
    return None


def texts_problems(
    name: str, texts: object, max_length: int, *, allow_empty: bool = False
) -> list[tuple[str, str]]:
    """What is wrong with ``texts``, a text by language, as (``name.language``, problem)."""
    if not isinstance(texts, Mapping):
        return [(name, 'must be a table of texts by language, such as { zh_Hans = "..." }')]
    problems: list[tuple[str, str]] = []
    for language, value in texts.items():
        where = f"{name}.{language}"
        if not is_language_code(language):
            message = "not a language code as the bot names it, such as 'en' or 'zh_Hans'"
            problems.append((where, message))
            continue
        problem = text_problem(value, max_length, allow_empty=allow_empty)
        if problem:
            problems.append((where, problem))
    return problems


def clean_texts(texts: Mapping[str, str]) -> dict[str, str]:
    """``texts`` as stored: each stripped, empty ones left out (they read the default)."""
    return {language: value.strip() for language, value in texts.items() if value.strip()}


def page_args(page: object, page_size: object) -> tuple[int, int]:
    """A page number from 0 and a page size of 1 to :data:`MAX_PAGE_SIZE`."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise InvalidInput(f"page must be a whole number >= 0, got {page!r}", field="page")
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= MAX_PAGE_SIZE
    ):
        raise InvalidInput(f"page_size must be 1-{MAX_PAGE_SIZE}", field="page_size")
    return page, page_size
