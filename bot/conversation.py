"""From what a member did to what the bot answers: the layer both adapters share.

:meth:`Conversation.handle` takes one :class:`~bot.events.Event` and returns the outputs to
render. It finds (or registers) the member, picks their language, routes the action to the
feature that handles it, and makes sure every update is answered: a refused request gets the
mall's reason in the member's language, an out-of-date button says so, an unexpected error is
logged with its update and answered with an apology, every button press gets its
``answerCallbackQuery`` and every pre-checkout query its answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot.bot_queries import BotQueries, NoQueries
from bot.events import (
    Command,
    Contact,
    Event,
    Paid,
    PollAnswer,
    PreCheckout,
    Press,
    Text,
    Upload,
)
from bot.features import build_router
from bot.features.main_menu import main_menu
from bot.features.menu import JOIN_ROUTE, join_screen
from bot.i18n import Html, Languages, language_for, plain
from bot.known_members import KnownMembers
from bot.refusals import refusal_text
from bot.router import CommandHandler, Router, Stale, parse_callback
from bot.screens import CheckoutAnswer, Notice, Output
from bot.settings import Config
from bot.turn import Turn
from core.errors import MallError, UnknownMember
from core.mall import Mall

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# What someone who has not joined may do: join, or read what the mall is.
OPEN_COMMANDS = frozenset({"start", "help"})


class NotJoined(Exception):
    """Someone who has not joined (or deleted their account) did something other than join."""


class NotAdmin(Exception):
    """Someone who is not an admin used an admin command, button, question or upload."""


class Conversation:
    def __init__(
        self,
        mall: Mall,
        config: Config,
        languages: Languages,
        bot_username: str,
        clock: Clock = utc_now,
        router: Router | None = None,
        queries: BotQueries | None = None,
    ) -> None:
        self.mall = mall
        # The bot's whole configuration (the mall's tables and the bot's own): the mall was
        # built from it.
        self.config = config
        self.languages = languages
        self.bot_username = bot_username
        self.clock = clock
        self.router = router or build_router()
        # The adapter's getChatMember and sendPoll; without a bot, calling them is a mistake.
        self.queries: BotQueries = queries or NoQueries()
        self.known = KnownMembers(mall.members)

    async def handle(self, event: Event) -> list[Output]:
        now = self.clock()
        turn = Turn(
            mall=self.mall,
            config=self.config,
            sender=event.sender,
            action=event.action,
            now=now,
            t=self.languages[language_for(event.sender.language_code)],
            languages=self.languages,
            bot_username=self.bot_username,
            retried=event.retried,
            queries=self.queries,
            known=self.known,
        )
        try:
            language = await self._known_member(turn)
            if language is not None:
                turn.t = self.languages[language]
            await self._dispatch(turn)
        except NotJoined:
            if isinstance(turn.action, PollAnswer):  # a vote is no request to join: no answer
                log.info("poll answer from %s, who has not joined", event.sender.user_id)
            elif isinstance(turn.action, PreCheckout):
                turn.out.add(CheckoutAnswer(ok=False, error=turn.t("error.not_joined")))
            elif isinstance(turn.action, Press):  # an old button: leave its message as it is
                turn.notice(turn.t("error.not_joined"), alert=True)
            else:
                turn.send(join_screen(turn))
        except NotAdmin as exc:
            await self._denied(turn, str(exc))
        except Stale as exc:
            log.info("stale request from %s: %s", event.sender.user_id, exc)
            if isinstance(turn.action, PreCheckout):
                turn.out.add(CheckoutAnswer(ok=False, error=turn.t("error.stale_payment")))
            else:
                turn.notice(turn.t("error.stale_button"), alert=True)
        except MallError as exc:
            self._refused(turn, exc)
        except Exception:
            if isinstance(turn.action, Paid):
                # Money arrived: an apology would mark the update handled and lose the payment
                # (neither matched nor refunded). Raised, the update stays in the inbox and is
                # handled again (set aside as failed, and logged, after its last attempt).
                raise
            log.exception("update from %s failed: %r", event.sender.user_id, event.action)
            turn.out.items.clear()
            turn.send(turn.with_menu(turn.t("error.unexpected")))
            if isinstance(turn.action, PreCheckout):
                turn.out.add(CheckoutAnswer(ok=False, error=turn.t("error.unexpected")))
        if isinstance(turn.action, Press) and turn.out.notice is None:
            turn.out.add(Notice())
        return turn.out.items

    async def _known_member(self, turn: Turn) -> str | None:
        """The member's chosen language; None for a newcomer on their way in.

        Only ``/start`` (or the Join button) registers, and ``/help`` is open to all; anything
        else from someone unknown, such as an old button pressed after deleting their account,
        is answered with the way in.
        """
        sender = turn.sender
        try:
            known = await self.known.get(sender.user_id)
            if known.display_name != sender.display_name or known.username != sender.username:
                profile = await self.mall.members.update_profile(
                    sender.user_id, display_name=sender.display_name, username=sender.username
                )
                self.known.remember(profile)
        except UnknownMember:  # never joined, or erased (by another process since kept here)
            self.known.forget(sender.user_id)
            action = turn.action
            if (isinstance(action, Command) and action.name in OPEN_COMMANDS) or (
                isinstance(action, Press) and action.data == JOIN_ROUTE
            ):
                return None
            raise NotJoined from None
        return known.language

    async def _dispatch(self, turn: Turn) -> None:
        action = turn.action
        router = self.router
        if isinstance(action, Command):
            if action.name not in router.commands:  # a typo, or a command of another bot
                turn.send(await main_menu(turn, intro=turn.t("menu.unknown_text")))
                return
            self._guard(turn, "commands", action.name)
            await router.commands[action.name](turn)
        elif isinstance(action, Press):
            route, args = parse_callback(action.data)
            handler = router.buttons.get(route)
            if handler is None:
                raise Stale(f"unknown route {route!r}")
            self._guard(turn, "buttons", route)
            await handler(turn, args)
        elif isinstance(action, Text):
            pending = await self.mall.inputs.take(turn.member_id, turn.now)
            if pending is not None and pending.kind in router.inputs:
                self._guard(turn, "inputs", pending.kind)
                await router.inputs[pending.kind](turn, action.text, pending.data)
            elif pending is not None and pending.kind in router.uploads:
                # The question wants a file: it stays asked, and the member is told so.
                await self.mall.inputs.expect(
                    turn.member_id,
                    pending.kind,
                    pending.data,
                    turn.now,
                    pending.expires_at - turn.now,
                )
                turn.send(turn.with_menu(turn.t("menu.want_file")))
            elif (reply := self._reply_button(action.text)) is not None:
                label_key, pressed = reply
                self._guard(turn, "replies", label_key)
                await pressed(turn)
            else:
                turn.send(await main_menu(turn, intro=turn.t("menu.unknown_text")))
        elif isinstance(action, Upload):
            pending = await self.mall.inputs.peek(turn.member_id, turn.now)
            if pending is not None and pending.kind in router.uploads:
                self._guard(turn, "uploads", pending.kind)
                taken = await self.mall.inputs.take(turn.member_id, turn.now)
                if taken is None:  # answered meanwhile (another process, a double send)
                    raise Stale(f"question {pending.kind!r} already answered")
                await router.uploads[taken.kind](turn, action, taken.data)
            else:
                turn.send(await main_menu(turn, intro=turn.t("menu.unknown_upload")))
        elif isinstance(action, Contact):
            shared = router.contacts.get("contact")
            if shared is None:
                turn.send(await main_menu(turn, intro=turn.t("menu.unknown_text")))
            else:
                self._guard(turn, "contacts", "contact")
                await shared(turn, action)
        elif isinstance(action, PollAnswer):
            voted = router.poll_answers.get("poll_answer")
            if voted is None:
                log.info("poll answer from %s with no handler", turn.member_id)
            else:
                await voted(turn, action)
        elif isinstance(action, PreCheckout | Paid):
            route, args = parse_callback(action.payload)
            payment = router.payments.get(route)
            if payment is None:
                raise Stale(f"unknown payment route {route!r}")
            await payment(turn, args)
        else:  # pragma: no cover - the Action union is closed
            raise AssertionError(action)

    def _reply_button(self, text: str) -> tuple[str, CommandHandler] | None:
        """The reply keyboard button whose label (in any language) ``text`` is, if any."""
        for label_key, handler in self.router.replies.items():
            if any(text.strip() == plain(t(label_key)) for t in self.languages.all):
                return label_key, handler
        return None

    def _guard(self, turn: Turn, table: str, name: str) -> None:
        """Refuse an admin-only command, button, question or upload to anyone else."""
        if self.router.is_admin_only(table, name) and not turn.is_admin:
            raise NotAdmin(f"{table}:{name}")

    async def _denied(self, turn: Turn, what: str) -> None:
        """A non-admin tried an admin route: logged, written to the audit log, refused."""
        action = turn.action
        attempt = action.data if isinstance(action, Press) else what
        log.warning("refused admin %s to %s", attempt, turn.sender.user_id)
        await self.mall.audit.denied(turn.sender.user_id, attempt, turn.now)
        text = turn.t("error.not_admin")
        turn.out.items.clear()
        if isinstance(turn.action, Press):
            turn.notice(text, alert=True)
        else:
            turn.send(turn.with_menu(text))

    def _refused(self, turn: Turn, exc: MallError) -> None:
        text = refusal_text(turn.t, exc)
        if isinstance(turn.action, PreCheckout):
            turn.out.add(CheckoutAnswer(ok=False, error=str(text)))
        elif isinstance(turn.action, Press):
            turn.notice(text, alert=True)
            turn.show(turn.with_menu(Html(text)))
        else:
            turn.send(turn.with_menu(Html(text)))
