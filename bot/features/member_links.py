"""The buttons one member screen shows of another's: the sales (from the blind boxes and the
menu), telling the birthday (from the tasks, the privacy screen and the menu), Redeem (from a
sale's offer; handled by redeem.py), the balance screen (from the menu, the shop and the jobs'
messages; handled by balance.py).

Their data classes live here, not in the feature that handles them, so a feature links to
another's screen without importing it (the import contract in ``pyproject.toml``); the handler
registers the class from here (``@router.button(SalesPage)``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from bot.callback_data import CallbackData, Chars, Ints, Page
from core.birthdays import check_date
from core.errors import InvalidInput
from core.redemptions import is_token

BIRTHDAY_ROUTE = "bday"


class SalesPage(CallbackData, route="sales"):
    """A page of the current and upcoming sales."""

    page: Page = 0


class BirthdayStep(CallbackData, route=BIRTHDAY_ROUTE):
    """A step of telling the birthday: the overview, the months (``m``), a month's days
    (``d``, with the month), the confirmation (``s``) and telling the mall (``ok``), both with
    the month and day. A step without what it needs, or with what it does not, is refused."""

    step: Literal["view", "m", "d", "s", "ok"] = "view"
    month: Annotated[int, Ints(0, 12)] = 0
    day: Annotated[int, Ints(0, 31)] = 0

    def __post_init__(self) -> None:
        if self.step in ("view", "m") and (self.month or self.day):
            raise ValueError(f"{self.step!r} takes no date")
        if self.step == "d" and (not self.month or self.day):
            raise ValueError("a month's days take the month only")
        if self.step in ("s", "ok"):
            try:
                check_date(self.month, self.day)
            except InvalidInput:
                raise ValueError(f"no day {self.day} in month {self.month}") from None


class Redeem(CallbackData, route="rd"):
    """Redeem what the confirmation offered: core's confirm token, ``<item>.<sale>.<mac>``."""

    token: Annotated[str, Chars("0-9A-Za-z_.-", 60)]

    def __post_init__(self) -> None:
        if not is_token(self.token):  # its shape only: whose it is, core says when pressed
            raise ValueError(f"bad token {self.token!r}")


class BalanceScreen(CallbackData, route="bal"):
    """The balance, tier and expiry screen."""
