"""Conversation tests: the real bot, talking over HTTP to the sandbox's Bot API server.

A test plays members: ``ann = chat.member("Ann")``, ``await ann.send("/start")``,
``await ann.press("✅ Check in")``, then reads ``ann.last.text``. Each action returns once the
bot has finished handling it (its answers are in the chat), so no test sleeps or polls.
The mall's clock is the test's: ``chat.now = at("2026-03-02 09:00")``. The bot runs on the
framework the test asks for (``tests/bot/conftest.py`` runs every chat on both).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from bot.router import Router
from bot.running import Framework, RunningBot, running_bot
from bot.runtime import Runtime, open_runtime
from bot.sandbox import ChatMessage, Sandbox, SandboxUser
from bot.sandbox.chats import GroupChat, PollState
from bot.settings import Config
from core.mall import Mall

TOKEN = "123456:sandbox-token-for-the-tests"


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Member:
    """A member at the keyboard: every action waits until the bot has answered it."""

    user: SandboxUser
    bot: RunningBot

    @property
    def id(self) -> int:
        return self.user.id

    async def send(self, text: str) -> ChatMessage:
        await self._handled(self.user.send(text))
        return self.last

    async def start(self, payload: str = "") -> ChatMessage:
        return await self.send(f"/start {payload}".strip())

    async def press(self, text: str, message: ChatMessage | None = None) -> ChatMessage:
        """Press a button; returns the bot's new message, or the pressed one as edited."""
        target = message or next(
            (m for m in reversed(self.messages) if not m.deleted and text in self.buttons(m)),
            None,
        )
        before = len(self.messages)
        await self._handled(self.user.press(text, target))
        if len(self.messages) > before or target is None:
            return self.last
        return self.user.find(target.message_id) or self.last

    async def press_data(self, data: str, message: ChatMessage | None = None) -> ChatMessage:
        """Press a button carrying ``data`` whatever the screen shows: stale or forged presses."""
        await self._handled(self.user.press_data(data, message or self.last))
        return self.last

    async def share_contact(
        self, phone: str | None = None, user_id: int | None = None
    ) -> ChatMessage:
        """Send a contact: by default the member's own (what a request_contact button sends);
        with ``phone`` or ``user_id`` someone else's, or a number Telegram would not give."""
        if phone is None and user_id is None:
            update = self.user.share_contact()
        else:
            update = self.user.send_contact(
                phone or self.user.phone_number,
                self.user.first_name,
                self.user.id if user_id is None else user_id,
            )
        await self._handled(update)
        return self.last

    async def press_reply(self, text: str) -> ChatMessage:
        """Press a button of the reply keyboard under the message box (a text button sends its
        text; a request_contact button shares the member's contact)."""
        await self._handled(self.user.press_reply(text))
        return self.last

    @property
    def reply_keyboard(self) -> list[str] | None:
        """The labels of the reply keyboard under the message box, if one is shown."""
        keyboard = self.user.reply_keyboard
        return None if keyboard is None else [b.text for row in keyboard for b in row]

    @property
    def phone(self) -> str:
        """The member's phone number, as Telegram gives it (digits, no ``+``)."""
        return self.user.phone_number

    async def send_document(self, filename: str, content: bytes, mime_type: str) -> ChatMessage:
        await self._handled(self.user.send_document(filename, content, mime_type=mime_type))
        return self.last

    async def pay(
        self,
        message: ChatMessage | None = None,
        between: Callable[[], Awaitable[object]] | None = None,
    ) -> ChatMessage:
        """Pay an invoice; ``between`` runs after the bot agreed, before the payment lands."""
        await self._handled(await self.user.pay(message, between))
        return self.last

    def join(self, chat: GroupChat | int | str) -> bool:
        """Join a channel or group of the sandbox ('@pointsmall_news', an id); False if in it
        already. Telegram tells the bot nothing it asks for, so there is nothing to wait for."""
        return self.user.join(chat)

    def leave(self, chat: GroupChat | int | str) -> bool:
        """Leave a channel or group; False if not in it."""
        return self.user.leave(chat)

    @property
    def last_poll(self) -> ChatMessage:
        """The newest poll the bot sent to the member (its ``text`` is the question)."""
        return self.user.newest_poll()

    def poll(self, message: ChatMessage | None = None) -> PollState:
        """A poll in the member's chat (the newest by default): options, type, votes."""
        return self.user.poll(message)

    async def vote(
        self, option_ids: Sequence[int], message: ChatMessage | None = None
    ) -> ChatMessage | None:
        """Vote in a poll the bot sent (the newest by default); ``[]`` takes the vote back.
        Waits until the bot handled the vote; returns the bot's newest message, if any."""
        update_id = self.user.vote(option_ids, message)
        if update_id is not None:
            await self._handled(update_id)
        return self.user.last if self.messages else None

    @property
    def last(self) -> ChatMessage:
        return self.user.last

    @property
    def messages(self) -> list[ChatMessage]:
        return self.user.bot_messages

    @property
    def notices(self) -> list[tuple[str, bool]]:
        return self.user.notices

    def buttons(self, message: ChatMessage | None = None) -> list[str]:
        """The texts of the buttons on ``message`` (the newest bot message by default)."""
        shown = message or self.last
        return [button.text for row in shown.buttons for button in row]

    async def _handled(self, update_id: int) -> None:
        await self.bot.handled.wait(update_id)


@dataclass
class Chat:
    sandbox: Sandbox
    bot: RunningBot
    runtime: Runtime
    clock: Clock
    members: list[Member] = field(default_factory=list)
    framework: Framework = "ptb"
    """What the bot runs on (open a messenger for the outbox sender on the same)."""

    @property
    def mall(self) -> Mall:
        return self.runtime.mall

    @property
    def router(self) -> Router:
        """The running bot's router: a test registers a handler of its own here (with
        ``monkeypatch.setitem(chat.router.commands, name, handler)``, undone after it)."""
        return self.bot.conversation.router

    @property
    def now(self) -> datetime:
        return self.clock.now

    @now.setter
    def now(self, value: datetime) -> None:
        self.clock.now = value

    def member(
        self, first_name: str = "Ann", language: str = "en", username: str | None = None
    ) -> Member:
        user = self.sandbox.add_user(
            first_name=first_name, username=username, language_code=language
        )
        member = Member(user, self.bot)
        self.members.append(member)
        return member


@asynccontextmanager
async def open_chat(
    config: Config, database_url: str, now: datetime, framework: Framework = "ptb"
) -> AsyncIterator[Chat]:
    """The sandbox server, the mall on ``database_url`` and the bot on ``framework`` between."""
    sandbox = Sandbox(token=TOKEN, host="127.0.0.1", port=0)
    await sandbox.start()
    clock = Clock(now)
    try:
        async with (
            open_runtime(config, database_url, clock=clock) as runtime,
            running_bot(runtime, TOKEN, sandbox.api_server, framework=framework) as bot,
        ):
            yield Chat(sandbox, bot, runtime, clock, framework=framework)
    finally:
        await sandbox.stop()
    assert sandbox.violations == [], "requests Telegram would refuse or not understand"
