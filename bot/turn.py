"""One update being handled: who acted, in which language, at what time, and what to answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.bot_queries import BotQueries, NoQueries
from bot.callback_data import CallbackData
from bot.events import Action, Press, Sender
from bot.i18n import Html, Languages, Translator
from bot.known_members import KnownMembers
from bot.screens import Button, Edit, Keyboard, Notice, Outputs, Screen, Send
from bot.settings import Config
from core.mall import Mall


class MainMenu(CallbackData, route="menu"):
    """The main menu (bot.features.menu), which every screen's last button opens."""


@dataclass
class Turn:
    mall: Mall
    config: Config
    sender: Sender
    action: Action
    now: datetime
    t: Translator
    languages: Languages
    # The link members share: https://t.me/<bot>?start=<payload>.
    bot_username: str
    out: Outputs = field(default_factory=Outputs)
    # getChatMember and sendPoll on the framework that carries this update (bot.bot_queries).
    queries: BotQueries = field(default_factory=NoQueries)
    # Handled before without finishing (bot.events.Event.retried): answer in full again.
    retried: bool = False
    # What this process keeps of members (bot.known_members); None where nothing is kept.
    known: KnownMembers | None = None

    @property
    def member_id(self) -> int:
        return self.sender.user_id

    @property
    def is_admin(self) -> bool:
        """One of the Telegram user ids in ``[telegram] admins``."""
        return self.sender.user_id in self.config.telegram.admins

    @property
    def pressed(self) -> bool:
        return isinstance(self.action, Press)

    def member_changed(self) -> None:
        """The member's language, name or membership just changed: read it anew next time."""
        if self.known is not None:
            self.known.forget(self.member_id)

    def show(self, screen: Screen) -> None:
        """Answer in place of the pressed message, or as a new message to a command or text."""
        self.out.add(Edit(screen) if self.pressed else Send(screen))

    def send(self, screen: Screen, chat_id: int | None = None) -> None:
        self.out.add(Send(screen, chat_id))

    def notice(self, text: str, *, alert: bool = False) -> None:
        self.out.add(Notice(text, alert))

    def menu_button(self) -> Button:
        return Button(self.t("menu.back"), data=MainMenu().pack())

    def with_menu(self, text: Html, rows: Keyboard = ()) -> Screen:
        """A screen whose last row leads back to the main menu."""
        return Screen(text, (*rows, (self.menu_button(),)))

    def deep_link(self, payload: str) -> str:
        return f"https://t.me/{self.bot_username}?start={payload}"
