"""Keeping the bot token (and the other secrets) out of everything the bot prints or logs.

The token is a password to the bot: whoever has it can read every member's messages and
speak as the mall. It is never printed, logged, or put in an exception message of ours; a token
Telegram rejects is named by its last four characters (:func:`mask`), and :class:`Redactor`,
installed on the log handlers by ``pointsmall``, replaces any secret that still reaches a log
line (a library's message, a traceback) with its masked form.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit

TELEGRAM_API = "https://api.telegram.org"
# A secret shorter than this is not looked for in log lines: it would mask ordinary words.
_SHORTEST = 8


def mask(secret: str) -> str:
    """At most the last four characters of ``secret``: ``…ABCD``."""
    return "…" + secret[-4:] if len(secret) >= 16 else "…"


def api_host(api_server: str) -> str:
    """The host (and port) of the Bot API server: ``api.telegram.org`` for ''."""
    return urlsplit(api_server or TELEGRAM_API).netloc


class TokenRejected(Exception):
    """Telegram (or the Bot API server) refused the bot token; the message shows only its tail."""

    def __init__(self, token: str, api_server: str = "") -> None:
        who = f"the Bot API server at {api_host(api_server)}" if api_server else "Telegram"
        super().__init__(
            f"{who} refused the bot token ending in {mask(token)}"
            " (check POINTSMALL_TELEGRAM_TOKEN, or telegram.token in the config)"
        )


class TelegramUnreachable(Exception):
    """The Bot API server could not be reached; one line naming its host, no token."""


def rejected_token(exc: BaseException) -> bool:
    """Whether ``exc`` is a framework's "this token is not valid" (401/404 on getMe)."""
    from aiogram.exceptions import TelegramUnauthorizedError
    from telegram.error import InvalidToken

    return isinstance(exc, InvalidToken | TelegramUnauthorizedError | TokenRejected)


def network_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a framework's "could not reach the Bot API server"."""
    from aiogram.exceptions import TelegramNetworkError
    from telegram.error import NetworkError, TimedOut

    return type(exc) in (NetworkError, TimedOut) or isinstance(
        exc, TelegramNetworkError | TelegramUnreachable
    )


class Redactor(logging.Filter):
    """Replaces each secret in a record's message, arguments and exception text."""

    def __init__(self, secrets: Iterable[tuple[str, str]]) -> None:
        """``secrets``: ``(secret, what to show instead)`` pairs."""
        super().__init__()
        self.secrets = [(secret, shown) for secret, shown in secrets if len(secret) >= _SHORTEST]

    def redact(self, text: str) -> str:
        for secret, shown in self.secrets:
            if secret in text:
                text = text.replace(secret, shown)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it; show its parts redacted
            message = f"{record.msg} {record.args}"
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install(secrets: Iterable[tuple[str, str]]) -> Redactor:
    """Put a :class:`Redactor` on every handler of the root logger (where every record ends)."""
    redactor = Redactor(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
