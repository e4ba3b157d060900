"""The frameworks the bot can run on, named without importing either (``pointsmall --help``
lists them, and must not pay for python-telegram-bot and aiogram to do so)."""

from __future__ import annotations

from typing import Literal

Framework = Literal["ptb", "aiogram"]
FRAMEWORKS: tuple[Framework, ...] = ("ptb", "aiogram")
