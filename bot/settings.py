"""The bot's settings: how it reaches Telegram, its HTTP listener, its inbox workers, the
sandbox and the sender, in the tables of the same TOML file as the mall's.

core never imports this module: the mall's rules read only ``core.config.Config``. The bot
reads the whole file once through :func:`load_config`, validating the mall's tables with core's
models and its own with these, so a mistake in either reads the same (``core.config_errors``)
and names its key. Of ``[telegram]`` and ``[sender]`` core keeps the keys its rules need (the
admins, the outbox's pace); the tables here extend those. Besides core's secrets,
``POINTSMALL_TELEGRAM_TOKEN`` sets ``telegram.token`` and ``POINTSMALL_WEBHOOK_SECRET`` sets
``telegram.webhook_secret``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, StrictInt, StrictStr, model_validator

from core import config as mall_config
from core.config import AdminSettings, Name, PaceSettings, Settings, load_file, parse_text
from core.config_errors import expected, rule


def _api_server(value: str) -> str:
    if value == "":
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        expected("'' (Telegram's own server) or an http(s) URL such as 'http://127.0.0.1:8081'")
    return value


_TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{20,}")


_SECRET_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,256}")


def _token(value: SecretStr | None) -> SecretStr | None:
    if value is not None and _TOKEN_SHAPE.fullmatch(value.get_secret_value()) is None:
        expected("a bot token as @BotFather gives it: digits, a colon, then the secret")
    return value


def _secret_token(value: SecretStr | None) -> SecretStr | None:
    if value is not None and _SECRET_TOKEN_SHAPE.fullmatch(value.get_secret_value()) is None:
        expected("16 to 256 characters of A-Z, a-z, 0-9, _ and -")
    return value


def _public_url(value: str) -> str:
    """https, or plain http to this machine (a self-hosted Bot API server beside the bot)."""
    if not value:
        return value
    parts = urlsplit(value)
    local = parts.scheme == "http" and (parts.hostname or "") in ("127.0.0.1", "::1", "localhost")
    if not parts.netloc or not (parts.scheme == "https" or local):
        expected(
            "'' or the public https URL Telegram sends updates to (plain http only to"
            " 127.0.0.1 or localhost, for a Bot API server on this machine)"
        )
    return value


class TelegramSettings(AdminSettings):
    """``[telegram]``: how the bot reaches Telegram, and (from :class:`AdminSettings`) who
    administers the mall."""

    token: Annotated[SecretStr | None, AfterValidator(_token)] = None
    """The bot token from @BotFather; None runs without Telegram (the sandbox)."""
    mode: Literal["polling", "webhook"] = "polling"
    api_server: Annotated[StrictStr, AfterValidator(_api_server)] = ""
    """'' for Telegram's server, or the URL of a self-hosted Bot API server (or the sandbox)."""
    framework: Literal["ptb", "aiogram"] = "ptb"
    webhook_url: Annotated[StrictStr, AfterValidator(_public_url)] = ""
    """Webhook mode: the public https URL (behind the load balancer) Telegram posts to; the
    proxy forwards it to ``POST /telegram`` on ``[http]``."""
    webhook_secret: Annotated[SecretStr | None, AfterValidator(_secret_token)] = None
    """Webhook mode: every request must carry it in X-Telegram-Bot-Api-Secret-Token."""

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and ({"webhook_listen", "webhook_port"} & data.keys()):
            rule(
                "webhook_listen and webhook_port are gone: the webhook is served by the one"
                " HTTP listener of each process, set with [http] host and port"
            )
        return data

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.mode == "webhook" and (not self.webhook_url or self.webhook_secret is None):
            rule(
                "mode = 'webhook' needs webhook_url and webhook_secret"
                " (or POINTSMALL_WEBHOOK_SECRET)"
            )
        return self


class HttpSettings(Settings):
    """``[http]``: the one HTTP listener of each process (aiohttp).

    It serves the Telegram webhook at ``POST /telegram`` (when ``[telegram] mode`` is
    ``webhook``), ``GET /healthz`` and ``GET /metrics`` (Prometheus). Put a reverse proxy with
    TLS in front of it; it speaks plain HTTP.
    """

    host: Name = "127.0.0.1"
    """The address to listen on ('0.0.0.0' for every interface)."""
    port: Annotated[StrictInt, Field(ge=0, le=65535)] = 8080
    """The port to listen on (0: any free port, for tests)."""


class InboxSettings(Settings):
    """``[inbox]``: updates stored before Telegram is told they arrived, then worked off.

    Every process of the bot works the inbox: several chats at once, each chat's updates in
    order. A process that dies leaves its updates to the others (or its restart) once their
    lease runs out.
    """

    workers: Annotated[StrictInt, Field(ge=1, le=256)] = 64
    """Updates of different chats handled at once in one process."""
    lease_seconds: Annotated[StrictInt, Field(ge=2, le=600)] = 30
    """How long an update taken by a process that died waits before another takes it."""
    retention_hours: Annotated[StrictInt, Field(ge=1, le=144)] = 48
    """Handled updates are kept this long (at most 6 days: Telegram may reuse an update id
    after a quiet week), so a re-delivery is recognised."""
    reply_deadline_minutes: Annotated[StrictInt, Field(ge=1, le=60)] = 10
    """How long an answer that Telegram refuses for a passing reason (429, 5xx, a timeout)
    is tried again before it is given up, logged and counted."""


class SandboxSettings(Settings):
    """``[sandbox]``: the local Bot API server and chat page of ``pointsmall sandbox``."""

    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 8081
    """The page is http://127.0.0.1:<port>/ and the bot's api_server points here."""
    database_url: StrictStr = "sqlite+aiosqlite:///var/sandbox.db"


class SenderSettings(PaceSettings):
    """``[sender]``: how bulk messages (reminders, announcements, broadcasts) go out: the pace
    (:class:`PaceSettings`, the outbox's) and how this process's sender calls Telegram."""

    concurrency: Annotated[StrictInt, Field(ge=1, le=64)] = 8
    """API calls in flight at once in one process."""


class Config(mall_config.Config):
    """The whole configuration file: the mall's tables (``core.config.Config``) and the bot's."""

    ENVIRONMENT: ClassVar[Mapping[str, tuple[str, str]]] = {
        "POINTSMALL_TELEGRAM_TOKEN": ("telegram", "token"),
        **mall_config.Config.ENVIRONMENT,
        "POINTSMALL_WEBHOOK_SECRET": ("telegram", "webhook_secret"),
    }
    SECRET_KEYS: ClassVar[frozenset[str]] = mall_config.Config.SECRET_KEYS | {
        "token",
        "webhook_secret",
    }

    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    inbox: InboxSettings = Field(default_factory=InboxSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)


def load_config(
    path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate the configuration file at ``path`` (defaults only when None).

    The secrets in ``environ`` (``os.environ`` by default) take precedence over the file.
    Raises ``ConfigError`` if the file cannot be read or anything in it is wrong.
    """
    return load_file(Config, path, environ)


def parse_config(
    text: str, environ: Mapping[str, str] | None = None, source: str = "<string>"
) -> Config:
    """Validate the TOML document ``text``; ``source`` names it in error messages."""
    return parse_text(Config, text, environ, source)
