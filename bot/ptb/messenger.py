"""The outbox sender's :class:`~bot.delivery.Messenger` on python-telegram-bot.

One API call per message, no retry of its own: the sender decides what an error means for
the row (``bot.sender``), so Telegram's errors are translated here and nowhere else.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot import delivery
from bot.ptb.adapter import markup
from bot.screens import Screen

log = logging.getLogger(__name__)
# Bad requests that mean the chat is gone, not that the message is wrong.
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid")


class PtbMessenger:
    """Delivers outbox screens with a python-telegram-bot ``Bot``."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def deliver(self, chat_id: int, screen: Screen) -> None:
        try:
            if screen.photo is not None:
                await self.bot.send_photo(
                    chat_id=chat_id,
                    photo=screen.photo.ref or screen.photo.content or b"",
                    caption=screen.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup(screen.buttons),
                )
            else:
                await self.bot.send_message(
                    chat_id=chat_id,
                    text=screen.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup(screen.buttons),
                )
        except RetryAfter as error:
            with warnings.catch_warnings():  # int today, a timedelta in a later major version
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                wait = error.retry_after
            seconds = wait if isinstance(wait, int | float) else wait.total_seconds()
            raise delivery.RetryAfter(float(seconds)) from error
        except Forbidden as error:
            raise delivery.Unreachable(error.message) from error
        except BadRequest as error:
            if any(gone in error.message.lower() for gone in _GONE):
                raise delivery.Unreachable(error.message) from error
            raise delivery.Rejected(error.message) from error
        except NetworkError as error:  # timeouts, connection errors, 5xx
            raise delivery.TransientFailure(error.message) from error
        except TelegramError as error:
            raise delivery.Rejected(error.message) from error


@asynccontextmanager
async def open_messenger(
    token: str, api_server: str = "", *, connections: int = 16
) -> AsyncIterator[PtbMessenger]:
    """A messenger with a ``Bot`` of its own, whichever framework answers the updates.

    ``api_server`` is ``[telegram] api_server`` ('' for Telegram's); ``connections`` bounds the
    calls in flight (keep it at least ``[sender] concurrency``).
    """
    root = api_server.rstrip("/") if api_server else "https://api.telegram.org"
    bot = Bot(
        token,
        base_url=f"{root}/bot",
        base_file_url=f"{root}/file/bot",
        request=HTTPXRequest(connection_pool_size=connections),
    )
    async with bot:
        yield PtbMessenger(bot)
