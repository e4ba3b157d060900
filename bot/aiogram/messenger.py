"""The outbox sender's :class:`~bot.delivery.Messenger` on aiogram.

One API call per message, no retry of its own: the sender decides what an error means for
the row (``bot.sender``), so aiogram's errors are translated here and nowhere else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile

from bot import delivery
from bot.aiogram.adapter import HTML, markup
from bot.aiogram.app import build_bot
from bot.screens import Screen

# Bad requests that mean the chat is gone, not that the message is wrong.
_GONE = ("chat not found", "user is deactivated", "peer_id_invalid")


class AiogramMessenger:
    """Delivers outbox screens with an aiogram ``Bot``."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def deliver(self, chat_id: int, screen: Screen) -> None:
        try:
            if screen.photo is not None:
                photo = screen.photo
                await self.bot.send_photo(
                    chat_id=chat_id,
                    photo=(
                        BufferedInputFile(photo.content, photo.filename)
                        if photo.content is not None
                        else photo.ref or ""
                    ),
                    caption=screen.text,
                    parse_mode=HTML,
                    reply_markup=markup(screen.buttons),
                )
            else:
                await self.bot.send_message(
                    chat_id=chat_id,
                    text=screen.text,
                    parse_mode=HTML,
                    reply_markup=markup(screen.buttons),
                )
        except TelegramRetryAfter as error:
            raise delivery.RetryAfter(float(error.retry_after)) from error
        except TelegramForbiddenError as error:
            raise delivery.Unreachable(error.message) from error
        except TelegramBadRequest as error:
            if any(gone in error.message.lower() for gone in _GONE):
                raise delivery.Unreachable(error.message) from error
            raise delivery.Rejected(error.message) from error
        except TelegramEntityTooLarge as error:  # a network error by class, but final
            raise delivery.Rejected(error.message) from error
        except (TelegramNetworkError, TelegramServerError) as error:  # timeouts, 5xx
            raise delivery.TransientFailure(error.message) from error
        except ClientDecodeError as error:  # a garbled answer: the next try may read well
            raise delivery.TransientFailure(str(error)) from error
        except TelegramAPIError as error:
            raise delivery.Rejected(error.message) from error


@asynccontextmanager
async def open_messenger(
    token: str, api_server: str = "", *, connections: int = 16
) -> AsyncIterator[AiogramMessenger]:
    """A messenger with a ``Bot`` of its own, whichever framework answers the updates.

    ``api_server`` is ``[telegram] api_server`` ('' for Telegram's); ``connections`` bounds the
    calls in flight (keep it at least ``[sender] concurrency``).
    """
    bot = build_bot(token, api_server, connections=connections)
    try:
        yield AiogramMessenger(bot)
    finally:
        await bot.session.close()
