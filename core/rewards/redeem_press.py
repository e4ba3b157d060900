"""One Redeem press, one core call: what a member's press of a confirmation's Redeem comes to.

The button carries the confirm token core issued with the confirmation (core.rewards.redemptions
reads it, the one parser of its format). The bot makes one call per press, and one per typed
delivery address, and gets back everything its answer needs, so that it never re-checks what core
decides:

- the redemption, made now or replayed (a double tap, or a press handled again after a crash:
  ``Redemptions.redeem`` runs once per token and gives the first result again);
- ``address_needed`` for a physical reward pressed without its address: nothing is taken yet.
  The question is opened here (:data:`ADDRESS_QUESTION`), so the member's next text is the
  address; pressed again while it is open for the same token (a double tap), nothing changes
  and ``asked`` is false;
- a refusal that means the item no longer allows what the confirmation offered
  (:data:`CARD_REFUSALS`: sold out, a limit, the tier, the points, the sale, changed terms),
  with the item as the member sees it now and their balance, so that the bot can say why and
  show the item in the same answer.

Any other refusal (a forged token, a frozen account, an address that is not one) is raised, as
from every use case. Whether the member may redeem is ``core.rewards.eligibility.assess``, the
mall's one eligibility check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.errors import (
    AddressNeeded,
    InsufficientPoints,
    LimitReached,
    MallError,
    NotAvailable,
    SoldOut,
    TierTooLow,
    UnknownSale,
)
from core.membership.pending_inputs import PendingInputs, open_question
from core.rewards.eligibility import (
    ItemRecord,
    ItemView,
    MemberState,
    assess,
    load_item,
    read_member,
    refuse_if_blocked,
    running_sales,
)
from core.rewards.redemptions import OfferChanged, RedemptionResult, Redemptions

# The question a physical reward's press opens: its kind, and how long the address is waited for.
ADDRESS_QUESTION = "address"
ADDRESS_WAIT = timedelta(minutes=15)

# Refusals that mean "the item no longer allows what the confirmation offered": they come back
# with the item as it is now.
CARD_REFUSALS = (
    OfferChanged,
    NotAvailable,
    SoldOut,
    LimitReached,
    InsufficientPoints,
    TierTooLow,
    UnknownSale,
)


@dataclass(frozen=True)
class PressResult:
    """What a Redeem press came to: ``redeemed``, or a ``refusal`` with the item as it is now.

    ``refusal`` is :class:`~core.errors.AddressNeeded` (the address question is open) or one of
    :data:`CARD_REFUSALS` (nothing was redeemed). With a refusal, ``card`` is the item as the
    member sees it now and ``balance`` their balance; with ``redeemed``, both are in the
    redemption's result instead.
    """

    redeemed: RedemptionResult | None = None
    refusal: MallError | None = None
    card: ItemView | None = None
    balance: int = 0


class RedeemPress:
    """The Redeem button of a confirmation, pressed (or answered with an address)."""

    def __init__(
        self,
        db: Database,
        config: Config,
        redemptions: Redemptions,
        inputs: PendingInputs,
    ) -> None:
        self.db = db
        self.config = config
        self.redemptions = redemptions
        self.inputs = inputs

    async def press(
        self, member_id: int, token: str, now: datetime, address: str | None = None
    ) -> PressResult:
        """Redeem what the confirm ``token`` offered, or say what comes first or why not.

        Without ``address``, a physical reward opens the address question instead
        (``address_needed``); the address typed answers it with this call again.
        """
        validation.instant(now)
        claims = await self.redemptions.token_claims(member_id, token)
        if address is None:
            asked = await self._ask_address(member_id, token, claims.item_id, now)
            if asked is not None:
                return asked
        try:
            done = await self.redemptions.redeem(member_id, token, now, address)
        except CARD_REFUSALS as refusal:
            async with self.db.read() as conn:
                item = await load_item(conn, claims.item_id)
                card, member = await _as_seen(conn, self.config, member_id, item, now)
            return PressResult(refusal=refusal, card=card, balance=member.balance)
        return PressResult(redeemed=done)

    async def _ask_address(
        self, member_id: int, token: str, item_id: int, now: datetime
    ) -> PressResult | None:
        """For a physical reward: its address question, opened now or already open for this
        token, or why it cannot be redeemed now. None for any other kind of item."""
        async with self.db.read() as conn:
            item = await load_item(conn, item_id)
            if item.kind != "physical":
                return None
            pending = await open_question(conn, member_id, now)
            card, member = await _as_seen(conn, self.config, member_id, item, now)
        if (
            pending is not None
            and pending.kind == ADDRESS_QUESTION
            and pending.data.get("token") == token
        ):
            again = AddressNeeded(item_id=item_id, asked=False)
            return PressResult(refusal=again, card=card, balance=member.balance)
        try:
            refuse_if_blocked(card, member)
        except CARD_REFUSALS as refusal:
            return PressResult(refusal=refusal, card=card, balance=member.balance)
        await self.inputs.expect(
            member_id, ADDRESS_QUESTION, {"token": token, "item": item_id}, now, ADDRESS_WAIT
        )
        asked = AddressNeeded(item_id=item_id, asked=True)
        return PressResult(refusal=asked, card=card, balance=member.balance)


async def _as_seen(
    conn: AsyncConnection, config: Config, member_id: int, item: ItemRecord, now: datetime
) -> tuple[ItemView, MemberState]:
    """The item as the member sees it at ``now`` (under its running sale), and the member."""
    member = await read_member(conn, member_id)
    sale = (await running_sales(conn, [item.item_id], now)).get(item.item_id)
    return await assess(conn, config, member, item, sale, now), member
