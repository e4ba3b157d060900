"""The buttons one member screen shows of another's: those of the main menu (check-in, tasks,
boxes, invitations, redemptions, linking the shop, language; also in the jobs' messages), the
sales and one sale's card (from the blind boxes, the menu and the messages that tell of a sale),
telling the birthday (from the tasks, the privacy screen and the menu), Redeem (from a sale's
offer; handled by redeem.py), the balance screen (from the menu, the shop and the jobs'
messages; handled by balance.py).

Their data classes live here, not in the feature that handles them, so a feature links to
another's screen without importing it (the import contract in ``pyproject.toml``); the handler
registers the class from here (``@router.button(SalesPage)``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from bot.callback_data import MAX_INT_ARG, CallbackData, Chars, Ints, Page
from core.errors import InvalidInput
from core.growth.birthdays import check_date
from core.rewards.redemptions import is_token

BIRTHDAY_ROUTE = "bday"


class SalesPage(CallbackData, route="sales"):
    """A page of the current and upcoming sales."""

    page: Page = 0


class CheckIn(CallbackData, route="ci"):
    """Check in today (and see the calendar); handled by checkin.py."""


class TaskList(CallbackData, route="tasks"):
    """The member's tasks; handled by tasks.py."""


class BoxesPage(CallbackData, route="boxes"):
    """A page of the boxes on sale; handled by boxes.py."""

    page: Page = 0


class InviteScreen(CallbackData, route="inv"):
    """The member's invite link, QR code and totals; handled by invite.py."""


class RedemptionsPage(CallbackData, route="reds"):
    """A page of the member's redemptions; handled by redemptions.py."""

    page: Page = 0


class LinkPhone(CallbackData, route="lk"):
    """Link the member's shop account by sharing their phone number; handled by shop_link.py."""


class LanguageScreen(CallbackData, route="lang"):
    """The languages to choose from; handled by menu.py."""


class SaleCard(CallbackData, route="sale"):
    """One sale's terms and buttons (handled by sales.py)."""

    # 0 or anything past what the database holds was not made by us.
    sale_id: Annotated[int, Ints(1, MAX_INT_ARG)]


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
