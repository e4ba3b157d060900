"""What members who heard of a sale are told when an admin changes or cancels it.

Core's ``SaleWording``: each message rendered in the member's language and kept as JSON in the
outbox. The admin's sale screens (bot/features/admin_sales.py) hand it to core when a sale is
edited or cancelled; the scheduled jobs' screens (bot/jobs.py) are made the same way and say
the same, so :class:`~bot.jobs.JobScreens` builds on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.content import title as title_of
from bot.delivery import screen_to_json
from bot.features.member_links import BalanceScreen, SaleCard
from bot.i18n import LANGUAGE_NAMES, Html, Languages, Translator, plain
from bot.screens import Button, Keyboard, Screen
from bot.turn import MainMenu
from core.config import Config
from core.rewards.flash_sales import SaleView

# The balance screen, which messages about points given back link to.
BALANCE = BalanceScreen().pack()


class SaleNotices:
    """Sales changed or cancelled, in words, as outbox payloads."""

    def __init__(self, languages: Languages, config: Config) -> None:
        self._languages = languages
        self.config = config

    @property
    def languages(self) -> Sequence[str]:
        return tuple(LANGUAGE_NAMES)

    def _t(self, language: str) -> Translator:
        return self._languages[language]

    def _payload(self, t: Translator, text: Html, rows: Keyboard = ()) -> str:
        """A message's outbox payload: ``text`` and ``rows``, then the main menu's button."""
        menu = (Button(t("menu.back"), data=MainMenu().pack()),)
        return screen_to_json(Screen(text, (*rows, menu)))

    def sale_changed(self, language: str, sale: SaleView) -> str:
        """A sale a member heard of has new terms (``core.rewards.flash_sales.SaleWording``)."""
        t = self._t(language)
        if sale.mode == "draw":
            assert sale.entry_ends_at is not None
            how = t("jobs.sale.changed.draw", until=t.moment(sale.entry_ends_at))
        else:
            how = t("jobs.sale.changed.first_come")
        text = t(
            "jobs.sale.changed",
            title=title_of(t, sale),
            price=t.points(sale.sale_price),
            regular=t.points(sale.regular_price),
            quantity=t.number(sale.quantity),
            starts=t.moment(sale.starts_at),
            ends=t.moment(sale.ends_at),
        )
        rows = ((Button(plain(t("jobs.sale.see")), data=SaleCard(sale.sale_id).pack()),),)
        return self._payload(t, Html(f"{text}\n{how}"), rows)

    def sale_cancelled(self, language: str, sale: SaleView, returned: int | None) -> str:
        """A sale a member heard of (or entered: ``returned`` their held points) is off."""
        t = self._t(language)
        text = t("jobs.sale.cancelled", title=title_of(t, sale))
        if returned:
            back = t("jobs.sale.cancelled.returned", points=t.points(returned))
            text = Html(f"{text}\n{back}")
            return self._payload(t, text, ((Button(plain(t("menu.balance")), data=BALANCE),),))
        return self._payload(t, text)
