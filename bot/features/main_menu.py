"""The main menu: a button to every member feature, the balance, and /admin's menu for admins.

Shown by /start, /menu, the menu's button and /language (bot/features/menu.py), after a shop is
linked (bot/features/shop_link.py), and by the conversation to text or a command it does not
know. Its buttons' data classes are the helper modules' (member_links, item_card,
admin_screens), so showing it imports no feature.
"""

from __future__ import annotations

from bot.features.admin_screens import AdminMenu
from bot.features.item_card import ShelvesPage
from bot.features.member_links import (
    BalanceScreen,
    BoxesPage,
    CheckIn,
    InviteScreen,
    LanguageScreen,
    LinkPhone,
    RedemptionsPage,
    SalesPage,
    TaskList,
)
from bot.i18n import Html
from bot.screens import Button, Screen
from bot.turn import Turn


async def main_menu(turn: Turn, intro: Html | None = None) -> Screen:
    """The main menu, with the balance; ``intro`` says first why it is shown."""
    t = turn.t
    last: tuple[Button, ...] = (Button(t("link_phone.menu"), data=LinkPhone().pack()),)
    if turn.is_admin:  # their way to /admin's menu
        last += (Button(t("menu.admin"), data=AdminMenu().pack()),)
    rows = (
        (
            Button(t("menu.checkin"), data=CheckIn().pack()),
            Button(t("menu.balance"), data=BalanceScreen().pack()),
        ),
        (Button(t("menu.tasks"), data=TaskList().pack()),),
        (
            Button(t("menu.mall"), data=ShelvesPage().pack()),
            Button(t("menu.boxes"), data=BoxesPage().pack()),
        ),
        (
            Button(t("menu.sales"), data=SalesPage().pack()),
            Button(t("menu.invite"), data=InviteScreen().pack()),
        ),
        (
            Button(t("menu.redemptions"), data=RedemptionsPage().pack()),
            Button(t("menu.language"), data=LanguageScreen().pack()),
        ),
        last,
    )
    balance = await turn.mall.statements.balance(turn.member_id)
    text = t("menu.text", balance=turn.t.points(balance.balance))
    return Screen(Html(f"{intro}\n\n{text}") if intro else text, rows)
