"""/notifications: a member turns announcements (flash sales, news) on or off.

Reminders about the member's own points are not announcements and come either way.
"""

from __future__ import annotations

from bot.i18n import plain
from bot.router import Router, Stale, callback
from bot.screens import Button, Screen
from bot.turn import Turn

router = Router()
ROUTE = "ntf"
SET_ROUTE = "ntfs"


def _screen(turn: Turn, on: bool) -> Screen:
    t = turn.t
    if on:
        text, label, value = t("notifications.on"), t("notifications.turn_off"), "0"
    else:
        text, label, value = t("notifications.off"), t("notifications.turn_on"), "1"
    return turn.with_menu(text, ((Button(plain(label), data=callback(SET_ROUTE, value)),),))


@router.command("notifications")
async def notifications_command(turn: Turn) -> None:
    profile = await turn.mall.members.profile(turn.member_id)
    turn.show(_screen(turn, profile.announcements))


@router.button(ROUTE)
async def notifications_button(turn: Turn, args: tuple[str, ...]) -> None:
    profile = await turn.mall.members.profile(turn.member_id)
    turn.show(_screen(turn, profile.announcements))


@router.button(SET_ROUTE)
async def set_notifications(turn: Turn, args: tuple[str, ...]) -> None:
    if args not in (("0",), ("1",)):
        raise Stale(f"bad announcements choice {args!r}")
    profile = await turn.mall.members.set_announcements(turn.member_id, args == ("1",))
    turn.notice(turn.t("notifications.changed"))
    turn.show(_screen(turn, profile.announcements))
