"""Where commands, buttons, answers, contacts and poll votes are handled: features register here.

Callback data is ``route:arg:arg`` (at most 64 bytes). Every route is registered with its
:class:`~bot.callback_data.CallbackData` class (``@router.button(HistoryPage)``), and its
handler gets the parsed instance: data that does not parse is :class:`Stale` before the handler
runs. A button is a request, never a permission: handlers check everything again, and a button
whose arguments no longer make sense raises :class:`Stale`, which the member sees as a clear
"this button is out of date".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from bot.callback_data import MAX_INT_ARG, MAX_PAGE, SEPARATOR, CallbackData, Stale

if TYPE_CHECKING:
    from bot.events import Contact, PollAnswer, Upload
    from bot.turn import Turn

CommandHandler = Callable[["Turn"], Awaitable[None]]
ButtonHandler = Callable[["Turn", tuple[str, ...]], Awaitable[None]]
InputHandler = Callable[["Turn", str, Mapping[str, Any]], Awaitable[None]]
UploadHandler = Callable[["Turn", "Upload", Mapping[str, Any]], Awaitable[None]]
ContactHandler = Callable[["Turn", "Contact"], Awaitable[None]]
PollAnswerHandler = Callable[["Turn", "PollAnswer"], Awaitable[None]]
D = TypeVar("D", bound=CallbackData)
TypedHandler = Callable[["Turn", D], Awaitable[None]]
PageHandler = Callable[["Turn", int], Awaitable[None]]


class _Paged(Protocol):
    @property
    def page(self) -> int: ...


__all__ = ["MAX_INT_ARG", "MAX_PAGE", "SEPARATOR", "CallbackData", "Router", "Stale"]


def parse_callback(data: str) -> tuple[str, tuple[str, ...]]:
    """The route a button's data names and its fields, for the route's class to parse."""
    route, *args = data.split(SEPARATOR)
    return route, tuple(args)


@dataclass
class Router:
    commands: dict[str, CommandHandler] = field(default_factory=dict)
    buttons: dict[str, ButtonHandler] = field(default_factory=dict)
    inputs: dict[str, InputHandler] = field(default_factory=dict)
    # Invoice payloads are ``route:args`` too; the pre-checkout query and the payment come here.
    payments: dict[str, ButtonHandler] = field(default_factory=dict)
    # Files sent in answer to a question (``mall.inputs``), by the question's kind.
    uploads: dict[str, UploadHandler] = field(default_factory=dict)
    # A contact the member sent, asked for or not: one handler, registered as "contact".
    contacts: dict[str, ContactHandler] = field(default_factory=dict)
    # A vote in a poll the bot sent, from a member: one handler, registered as "poll_answer".
    poll_answers: dict[str, PollAnswerHandler] = field(default_factory=dict)
    # The text buttons of reply keyboards, by the key of their label (any language's label
    # matches): a text no question is waiting for goes here before "I did not understand".
    replies: dict[str, CommandHandler] = field(default_factory=dict)
    # What only admins may use, as ``(table, name)``: ("commands", "stats"), ("buttons", "ag").
    # The conversation refuses anyone else before the handler runs, whatever the callback data.
    admin_only: set[tuple[str, str]] = field(default_factory=set)

    def command(
        self, *names: str, admin: bool = False
    ) -> Callable[[CommandHandler], CommandHandler]:
        def register(handler: CommandHandler) -> CommandHandler:
            for name in names:
                self._add(self.commands, name, handler)
                self._restrict("commands", name, admin)
            return handler

        return register

    def button(
        self, route: type[D], *, admin: bool = False
    ) -> Callable[[TypedHandler[D]], TypedHandler[D]]:
        """A button's handler, by its callback data class."""

        def register(handler: TypedHandler[D]) -> TypedHandler[D]:
            self._add(self.buttons, route.route, _typed(route, handler))
            self._restrict("buttons", route.route, admin)
            return handler

        return register

    def screen(
        self, command: str, route: type[D], *, admin: bool = False
    ) -> Callable[[CommandHandler], CommandHandler]:
        """A screen's handler, ``(turn)``: shown by ``/command`` and by a button of ``route``
        (in place of the pressed message, as :meth:`~bot.turn.Turn.show` answers)."""

        def register(handler: CommandHandler) -> CommandHandler:
            async def pressed(turn: Turn, data: D) -> None:
                await handler(turn)

            self.command(command, admin=admin)(handler)
            self.button(route, admin=admin)(pressed)
            return handler

        return register

    def pages(
        self, command: str, route: type[D], *, admin: bool = False
    ) -> Callable[[PageHandler], PageHandler]:
        """A list's handler, ``(turn, page)``: ``/command`` shows its first page, a button of
        ``route`` (a callback data class with a ``page`` field) the page it carries."""
        if not any(f.name == "page" for f in route.fields_):
            raise TypeError(f"{route.__qualname__} has no page")

        def register(handler: PageHandler) -> PageHandler:
            async def first(turn: Turn) -> None:
                await handler(turn, 0)

            async def at(turn: Turn, data: D) -> None:
                await handler(turn, cast(_Paged, data).page)

            self.command(command, admin=admin)(first)
            self.button(route, admin=admin)(at)
            return handler

        return register

    def input(self, kind: str, *, admin: bool = False) -> Callable[[InputHandler], InputHandler]:
        def register(handler: InputHandler) -> InputHandler:
            self._add(self.inputs, kind, handler)
            self._restrict("inputs", kind, admin)
            return handler

        return register

    def upload(self, kind: str, *, admin: bool = False) -> Callable[[UploadHandler], UploadHandler]:
        """A file the member (or admin) sends in answer to a question of this kind."""

        def register(handler: UploadHandler) -> UploadHandler:
            self._add(self.uploads, kind, handler)
            self._restrict("uploads", kind, admin)
            return handler

        return register

    def contact(self) -> Callable[[ContactHandler], ContactHandler]:
        """The handler of every contact a member sends (there is one)."""

        def register(handler: ContactHandler) -> ContactHandler:
            self._add(self.contacts, "contact", handler)
            return handler

        return register

    def poll_answer(self) -> Callable[[PollAnswerHandler], PollAnswerHandler]:
        """The handler of every vote a member casts (or takes back) in the bot's polls."""

        def register(handler: PollAnswerHandler) -> PollAnswerHandler:
            self._add(self.poll_answers, "poll_answer", handler)
            return handler

        return register

    def reply(self, label_key: str) -> Callable[[CommandHandler], CommandHandler]:
        """A reply keyboard's text button, labelled with the text of ``label_key``: pressing it
        sends its label, routed here when no question takes the text first."""

        def register(handler: CommandHandler) -> CommandHandler:
            self._add(self.replies, label_key, handler)
            return handler

        return register

    def is_admin_only(self, table: str, name: str) -> bool:
        return (table, name) in self.admin_only

    def _restrict(self, table: str, name: str, admin: bool) -> None:
        if admin:
            self.admin_only.add((table, name))

    def payment(self, route: type[D]) -> Callable[[TypedHandler[D]], TypedHandler[D]]:
        """An invoice payload's handler (pre-checkout and payment), by its data class."""

        def register(handler: TypedHandler[D]) -> TypedHandler[D]:
            self._add(self.payments, route.route, _typed(route, handler))
            return handler

        return register

    def include(self, other: Router) -> None:
        for mine, theirs in (
            (self.commands, other.commands),
            (self.buttons, other.buttons),
            (self.inputs, other.inputs),
            (self.payments, other.payments),
            (self.uploads, other.uploads),
            (self.contacts, other.contacts),
            (self.poll_answers, other.poll_answers),
            (self.replies, other.replies),
        ):
            for name, handler in theirs.items():
                self._add(mine, name, handler)
        self.admin_only |= other.admin_only

    @staticmethod
    def _add(table: dict[str, Any], name: str, handler: Any) -> None:
        if name in table:
            raise ValueError(f"{name!r} is registered twice")
        table[name] = handler


def _typed(data_class: type[D], handler: TypedHandler[D]) -> ButtonHandler:
    """The handler as the conversation calls it, with the route's arguments: it gets them
    parsed into its class (or :class:`Stale` before it runs)."""

    async def parsed(turn: Turn, args: tuple[str, ...]) -> None:
        await handler(turn, data_class.from_args(args))

    parsed.__wrapped__ = handler  # type: ignore[attr-defined]
    return parsed
