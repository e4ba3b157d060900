"""One press of a card's Redeem, one core call: the confirmation, or why there is none.

The card's Redeem button carries the item and the sale the card showed (0: none). The bot
makes one call per press and gets back everything its answer needs, so that it never reads the
item, the balance and the offer apart:

- the item as the member sees it now (under its running first-come sale, if any) and their
  balance, always: the confirmation shows both, and a refusal shows the card again;
- ``sale_over`` when the card showed a sale that no longer runs (ended, or another took its
  place): no offer, the member should look at the card again before redeeming at another price;
- no offer when the item's ``blocked_reason`` says why it cannot be redeemed now (the bot words
  it from the card and the balance);
- else the offer (``core.rewards.redemptions.Redemptions.offer``), with the confirm token its Redeem
  button carries, at the running sale's price if one runs.

Whether the member may redeem is ``core.rewards.eligibility.assess``, the mall's one eligibility
check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core import validation
from core.config import Config
from core.db.database import Database
from core.rewards.eligibility import (
    ItemView,
    item_id_of,
    view_item,
)
from core.rewards.redemptions import Offer, Redemptions


@dataclass(frozen=True)
class OfferResult:
    """What a card's Redeem press came to: the ``offer``, or None with why in ``card``.

    ``card`` is the item as the member sees it now and ``balance`` their balance. Without an
    offer, either ``sale_over`` (the card's sale no longer runs) or ``card.blocked_reason``.
    """

    card: ItemView
    balance: int
    offer: Offer | None = None
    sale_over: bool = False


class OfferPress:
    """A card's Redeem button, pressed: the confirmation to show."""

    def __init__(self, db: Database, config: Config, redemptions: Redemptions) -> None:
        self.db = db
        self.config = config
        self.redemptions = redemptions

    async def press(
        self, member_id: int, item_id: int, shown_sale: int, now: datetime
    ) -> OfferResult:
        """The confirmation for redeeming the item at what the card showed (``shown_sale``: the
        sale it showed, 0 for none), or why there is none."""
        validation.member_id(member_id)
        item_id = item_id_of(item_id)
        validation.instant(now)
        async with self.db.read() as conn:
            member, card = await view_item(conn, self.config, member_id, item_id, now)
        running = card.sale.sale_id if card.sale is not None else 0
        if shown_sale and running != shown_sale:
            return OfferResult(card, member.balance, sale_over=True)
        if card.blocked_reason is not None:
            return OfferResult(card, member.balance)
        offer = await self.redemptions.offer(member_id, item_id, now, flash_sale_id=running or None)
        return OfferResult(card, member.balance, offer)
