"""/start, the main menu, /help and /language."""

from __future__ import annotations

from typing import Annotated

from bot.callback_data import CallbackData, Codec
from bot.events import Command
from bot.features import shop_link  # a module import: /start hands shop links to it
from bot.features.claims import claim_code
from bot.features.main_menu import main_menu
from bot.features.member_days import bonus_line
from bot.features.member_links import LanguageScreen
from bot.features.start_links import CLAIM_PREFIX, INVITE_PREFIX
from bot.i18n import LANGUAGE_NAMES, Html, language_for
from bot.router import Router
from bot.screens import Button, Screen
from bot.turn import MainMenu, Turn

router = Router()

# The commands registered with Telegram (setMyCommands), in menu order; texts: command.<name>.
COMMANDS = (
    "menu",
    "checkin",
    "tasks",
    "balance",
    "mall",
    "boxes",
    "sales",
    "invite",
    "redemptions",
    "link",
    "claim",
    "language",
    "notifications",
    "birthday",
    "privacy",
    "help",
)
__all__ = ["JOIN_ROUTE", "join_screen", "router"]
JOIN_ROUTE = "join"


class Join(CallbackData, route=JOIN_ROUTE):
    """Join the mall (the one button open to someone who has not joined)."""


def _known_language(code: str) -> str:
    if code not in LANGUAGE_NAMES:
        raise ValueError(f"no language {code!r}")
    return code


class SetLanguage(CallbackData, route="setlang"):
    """Speak this language from now on."""

    code: Annotated[str, Codec(str, _known_language, max(len(c) for c in LANGUAGE_NAMES))]


def join_screen(turn: Turn) -> Screen:
    """For someone not (or no longer) a member: what the mall is, and the way in."""
    t = turn.t
    text = t("start.not_joined", mall=turn.config.mall.name)
    return Screen(text, ((Button(t("start.join"), data=Join().pack()),),))


@router.button(Join)
async def join_button(turn: Turn, data: Join) -> None:
    await _join(turn, "")


@router.command("start")
async def start(turn: Turn) -> None:
    action = turn.action
    assert isinstance(action, Command)
    await _join(turn, action.args.strip())


async def _join(turn: Turn, payload: str) -> None:
    invited_by = None
    if payload.startswith(INVITE_PREFIX):
        invited_by = await turn.mall.referrals.resolve(payload.removeprefix(INVITE_PREFIX))
    sender = turn.sender
    joined = await turn.mall.members.join(
        sender.user_id,
        sender.display_name,
        language_for(sender.language_code),
        turn.now,
        invited_by=invited_by,
        username=sender.username,
    )
    t = turn.t
    # Whoever writes to the bot can be written to: back after blocking it (Telegram's Restart
    # sends /start), or an admin whom a job tried to reach before they ever wrote (Telegram
    # refused that with "bot can't initiate conversation" and the chat was marked unreachable).
    await turn.mall.outbox.reachable(sender.user_id)
    if joined.is_new:
        intro = t("start.welcome", name=sender.first_name, mall=turn.config.mall.name)
        if joined.bonus:
            intro = Html(f"{intro}\n{t('start.bonus', points=t.points(joined.bonus))}")
        if joined.invited_by is not None:
            intro = Html(f"{intro}\n{t('start.invited')}")
        # Orders the shop sent for this Telegram id before the member joined wait no more.
        for order in await turn.mall.shop.credit_parked(sender.user_id, turn.now):
            if order.status == "credited":
                earned = t("orders.credited", order=order.order_id, points=t.points(order.points))
                intro = Html(f"{intro}\n{earned}")
                if order.member_day is not None and order.member_day.points:
                    intro = Html(f"{intro}\n{bonus_line(t, order.member_day)}")
    else:
        intro = t("start.welcome_back", name=sender.first_name)
        if payload.startswith(INVITE_PREFIX):
            intro = Html(f"{intro}\n{t('start.invite_only_new')}")
    turn.show(await main_menu(turn, intro))
    if payload.startswith(CLAIM_PREFIX):
        await claim_code(turn, payload.removeprefix(CLAIM_PREFIX))
    elif shop_link.is_shop_link(payload):
        await shop_link.open_link(turn, payload)


@router.screen("menu", MainMenu)
async def menu(turn: Turn) -> None:
    turn.show(await main_menu(turn))


@router.command("help")
async def help_(turn: Turn) -> None:
    t = turn.t
    lines: list[str] = [t("help.intro", mall=turn.config.mall.name)]
    lines += [f"/{name} - {t('command.' + name)}" for name in COMMANDS]
    turn.send(turn.with_menu(Html("\n".join(lines))))


def _language_screen(turn: Turn) -> Screen:
    rows = tuple(
        (Button(name, data=SetLanguage(code).pack()),) for code, name in LANGUAGE_NAMES.items()
    )
    return turn.with_menu(turn.t("language.choose"), rows)


@router.screen("language", LanguageScreen)
async def language(turn: Turn) -> None:
    turn.show(_language_screen(turn))


@router.button(SetLanguage)
async def set_language(turn: Turn, data: SetLanguage) -> None:
    await turn.mall.members.update_profile(turn.member_id, language=data.code)
    turn.member_changed()
    turn.t = turn.languages[data.code]
    turn.notice(turn.t("language.changed"))
    turn.show(await main_menu(turn))
