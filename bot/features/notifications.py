"""/notifications: a member turns announcements (flash sales, news) on or off.

Reminders about the member's own points are not announcements and come either way.
"""

from __future__ import annotations

from typing import Literal

from bot.callback_data import CallbackData
from bot.i18n import plain
from bot.router import Router
from bot.screens import Button, Screen
from bot.turn import Turn

router = Router()
ROUTE = "ntf"
SET_ROUTE = "ntfs"


class NotificationsScreen(CallbackData, route=ROUTE):
    """Whether announcements are on, with the button to switch."""


class SetNotifications(CallbackData, route=SET_ROUTE):
    """Announcements on ("1") or off ("0")."""

    on: Literal["0", "1"]


def _screen(turn: Turn, on: bool) -> Screen:
    t = turn.t
    value: Literal["0", "1"]
    if on:
        text, label, value = t("notifications.on"), t("notifications.turn_off"), "0"
    else:
        text, label, value = t("notifications.off"), t("notifications.turn_on"), "1"
    return turn.with_menu(text, ((Button(plain(label), data=SetNotifications(value).pack()),),))


@router.screen("notifications", NotificationsScreen)
async def notifications_command(turn: Turn) -> None:
    profile = await turn.mall.members.profile(turn.member_id)
    turn.show(_screen(turn, profile.announcements))


@router.button(SetNotifications)
async def set_notifications(turn: Turn, data: SetNotifications) -> None:
    profile = await turn.mall.members.set_announcements(turn.member_id, data.on == "1")
    turn.notice(turn.t("notifications.changed"))
    turn.show(_screen(turn, profile.announcements))
