"""One press of a first-come sale's Buy, one core call: the confirmation, or why there is none.

The sale's Buy button carries the sale. In a flash-sale burst every member presses it within a
second, so the bot makes one call per press and gets back everything its answer needs, read in
one read transaction (one snapshot), never the sale, the offer and the balance apart:

- the sale as the member sees it now, always: a refusal shows it again;
- no offer when the sale is not a first-come sale, or takes no purchase now (``sale.phase`` is
  not ``open``: not started, sold out, ended, cancelled), the bot words why from the phase;
- ``short`` when the member's ``balance`` falls short of the sale price: no offer;
- else the offer (as ``core.rewards.redemptions.Redemptions.offer`` makes it, at the sale's
  price), with the confirm token its Redeem button carries.

Any other reason the item cannot be redeemed (frozen, tier, limit, the item's own stock) is
raised with its error, as ``Redemptions.offer`` raises it. Whether the member may redeem is
``core.rewards.eligibility.assess``, the mall's one eligibility check. Nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import validation
from core.config import Config
from core.db.database import Database
from core.errors import InsufficientPoints
from core.rewards.eligibility import assess, load_item, read_member, refuse_if_blocked
from core.rewards.flash_sales import SaleView, read_sale, sale_id_of
from core.rewards.redemptions import Offer, Redemptions, offer_of


@dataclass(frozen=True)
class BuyResult:
    """What a Buy press came to: the ``offer``, or None with why.

    ``sale`` is the sale as seen at the press. Without an offer: ``short`` (``balance`` is the
    member's balance then), or else the sale takes no purchase now (its ``mode`` is not
    ``first_come`` or its ``phase`` is not ``open``).
    """

    sale: SaleView
    offer: Offer | None = None
    short: bool = False
    balance: int = 0


class SalePress:
    """A first-come sale's Buy button, pressed: the confirmation to show."""

    def __init__(self, db: Database, config: Config, redemptions: Redemptions) -> None:
        self.db = db
        self.config = config
        self.redemptions = redemptions

    async def buy(self, member_id: int, sale_id: int, now: datetime) -> BuyResult:
        """The confirmation for buying one unit of the sale at its price, or why there is none;
        :class:`~core.errors.UnknownSale` for a sale that does not exist."""
        validation.member_id(member_id)
        sale_id = sale_id_of(sale_id)
        validation.instant(now)
        async with self.db.read() as conn:
            sale = await read_sale(conn, sale_id, now)
            if sale.mode != "first_come" or sale.phase != "open":
                return BuyResult(sale)
            member = await read_member(conn, member_id)
            item = await load_item(conn, sale.item_id)
            view = await assess(conn, self.config, member, item, sale, now)
        try:
            refuse_if_blocked(view, member)
        except InsufficientPoints:
            return BuyResult(sale, short=True, balance=member.balance)
        # Made by the first offer ever, then kept: no statement after that.
        key = await self.redemptions.issuing_key(now)
        offer = offer_of(key, member, item, view, sale.sale_id, now)
        return BuyResult(sale, offer, balance=member.balance)
