"""Redeeming rewards: the confirmation a member is shown, and the one atomic step that follows.

A redemption is offered first (:meth:`Redemptions.offer`): the bot shows the price and a
Redeem button that carries a confirm token. The token is an HMAC over the member, the item,
the flash sale and the instant it was issued, so it cannot be forged, works for nobody else,
and fits in Telegram's callback data with room for a prefix (``item.sale.`` and 28 URL-safe
characters: about 33 characters for ids of a few digits). Redeeming with it
(:meth:`Redemptions.redeem`) runs once per token: a double tap replays the result.
A token stops working when the item's terms changed after it was shown (``offer_changed``).

Where the points go:

- no wait: debited at once to the redemptions book (``completed``);
- an approval (points at or above the item's threshold) or a cash part: held in escrow
  (``awaiting_approval`` / ``awaiting_payment``) until approved, paid, refused or timed out;
- cancelled or rejected after completion: given back into the lots they came from, with
  their original expiry dates.

A physical reward is then shipped (``fulfilled``, by an admin) and delivered: when its member
confirms receiving it (:meth:`Redemptions.confirm_receipt`), or ``[redemptions]
delivered_after_days`` after it was shipped. :meth:`RedemptionView.stage` names where a
redemption stands as its member understands it.

Stock, coupon codes and a sale's quantity are taken when the redemption is made (also while
it waits) and given back when it is cancelled or rejected. A coupon's code is shown once the
redemption is completed; a code already shown is not returned to the pool.

The signing key is a random secret kept in the database (one ``operations`` row, created the
first time a token is issued). Deleting that row invalidates every confirmation shown so far,
and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import CouponCode, FlashSale, Hold, Item, Redemption
from core.db.prepared import Prepared
from core.errors import (
    InvalidInput,
    InvalidState,
    InvalidToken,
    KeyReused,
    MallError,
    SoldOut,
    UnknownItem,
    UnknownRedemption,
    UnknownSale,
)
from core.growth.referrals import pending_referral, qualify
from core.growth.task_rewards import advance_each, any_challenge_on
from core.points.accounts import SystemAccount
from core.points.idempotency import marked, run_once
from core.points.ledger import (
    LockedRead,
    current_balance,
    debit_member,
    lock_member,
    place_hold,
    require_member,
    restore_debit,
    settle_hold,
)
from core.points.stored_secrets import kept_secret
from core.reporting.audit import write_entry
from core.reporting.rollups import restate_redemption
from core.rewards.eligibility import (
    ItemRecord,
    ItemView,
    MemberState,
    SaleTerms,
    assess,
    find_sale,
    item_id_of,
    load_item,
    read_member,
    refuse_if_blocked,
    units_left,
)
from core.rewards.inventory import (
    TakenCode,
    release_coupon_code,
    return_stock,
    take_coupon_code,
    take_stock,
)
from core.rewards.star_refunds import record_due, stars_for

AWAITING = ("awaiting_approval", "awaiting_payment")
ENDED = ("cancelled", "rejected")
GOT_IT = ("completed", "fulfilled")
# Where a physical reward stands once redeemed (RedemptionView.stage): being prepared (approved
# or paid, not shipped yet), shipped, delivered (receipt confirmed, or some days after shipping).
PREPARING, SHIPPED, DELIVERED = "preparing", "shipped", "delivered"

_SECRET_KEY = "secret:confirm-tokens"
# A redemption's reads folded into the member's lock: whether a pending invite or a challenge on
# redeeming or spending could apply at all (most redemptions have neither, and skip the reads).
_REDEEM_READ = LockedRead(
    pending_referral(bindparam("member_id")).exists(),
    or_(any_challenge_on("redeem"), any_challenge_on("spend")),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# item id . sale id (0: none) . base64url(issued ms [6] + nonce [3] + mac [12])
# At most 60 characters: it fits the redemptions' confirm_token column (64).
_TOKEN = re.compile(r"([1-9][0-9]{0,14})\.(0|[1-9][0-9]{0,14})\.([A-Za-z0-9_-]{28})")
_MAC_BYTES = 12
_MAX_ID = 10**15  # ids a token can carry


class _NotRecorded(Exception):
    """A refusal that ends a redemption's transaction without being recorded under its key
    (not a MallError, so run_once rolls the claim back with the rest)."""

    def __init__(self, error: MallError) -> None:
        super().__init__(str(error))
        self.error = error


def _needs_address(item: ItemRecord) -> None:
    """Refuse a physical reward redeemed without its delivery address."""
    if item.kind == "physical":
        raise InvalidInput("a delivery address is needed", field="address")


class OfferChanged(MallError):
    """The item's terms changed after the confirmation was shown, or it was shown too long ago
    (``[retention] confirm_token_days``): show the item again."""

    code = "offer_changed"


@dataclass(frozen=True)
class Offer:
    """The confirmation to show before a redemption; ``token`` goes into the Redeem button."""

    token: str
    item: ItemView
    points: int
    cash_minor: int
    balance_after: int
    needs_address: bool
    needs_approval: bool
    needs_payment: bool
    flash_sale_id: int | None


@dataclass(frozen=True)
class RedemptionView:
    """A redemption and where it stands.

    ``coupon_code`` is shown once the redemption is completed. ``wait_ends_at`` is when an
    awaiting redemption times out and its held points go back. ``fulfilled_at`` is when it was
    handed over (a physical reward: shipped); ``received_at`` when its member confirmed
    receiving it; ``delivered_at`` when a shipped physical reward counts as delivered (the
    confirmation, or ``[redemptions] delivered_after_days`` after shipping, whichever is first).
    """

    redemption_id: int
    member_id: int
    item_id: int
    sku: str
    title: str
    kind: str
    status: str
    points: int
    cash_minor: int
    flash_sale_id: int | None
    coupon_code: str | None
    address: str | None
    note: str | None
    payment_charge_id: str | None
    wait_ends_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # Defaults: results recorded (for replays) before these were kept still read.
    fulfilled_at: datetime | None = None
    received_at: datetime | None = None
    delivered_at: datetime | None = None
    # The Stars its payment brought (None: not paid in Stars).
    paid_stars: int | None = None
    # The item's title by language ({"zh_Hans": "拿铁"}), read instead of ``title``.
    titles: Mapping[str, str] = field(default_factory=dict)

    def stage(self, now: datetime) -> str:
        """Where it stands as its member understands it, at ``now``: the status, except that a
        physical reward reads ``preparing`` (completed, not shipped yet), ``shipped`` or
        ``delivered``, and any other completed or fulfilled one ``completed``."""
        if self.status not in GOT_IT:
            return self.status
        if self.kind != "physical":
            return "completed"
        if self.status == "completed":
            return PREPARING
        if self.delivered_at is not None and self.delivered_at <= now:
            return DELIVERED
        return SHIPPED


@dataclass(frozen=True)
class RedemptionResult:
    """What a use case did to a redemption, and the member's balance after it.

    ``replayed`` marks a repeated request (a double-tapped button) that changed nothing.
    """

    redemption: RedemptionView
    balance: int
    replayed: bool = False


@dataclass(frozen=True)
class RedemptionPage:
    entries: tuple[RedemptionView, ...]
    page: int
    has_more: bool


@dataclass(frozen=True)
class TokenClaims:
    """What a verified confirm token says: the item, the sale, when it was shown."""

    item_id: int
    sale_id: int | None
    issued_at: datetime


# --- Confirm tokens ----------------------------------------------------------------------------


def _mac(key: bytes, member_id: int, item_id: int, sale_id: int, body: bytes) -> bytes:
    message = f"{member_id}.{item_id}.{sale_id}.".encode() + body
    return hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES]


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def issue_token(
    key: bytes, member_id: int, item_id: int, sale_id: int | None, now: datetime
) -> str:
    """A confirm token for this member, item and sale, shown at ``now``."""
    body = _millis(now).to_bytes(6, "big") + secrets.token_bytes(3)
    raw = body + _mac(key, member_id, item_id, sale_id or 0, body)
    return f"{item_id}.{sale_id or 0}.{base64.urlsafe_b64encode(raw).decode()}"


def is_token(text: object) -> bool:
    """Whether ``text`` has a confirm token's shape (whose it is, only :func:`read_token` says)."""
    return isinstance(text, str) and _TOKEN.fullmatch(text) is not None


def read_token(key: bytes | None, member_id: int, token: object) -> TokenClaims:
    """Verify a confirm token for ``member_id``; :class:`InvalidToken` if it is not theirs."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    if key is None or match is None:
        raise InvalidToken("malformed or unknown confirm token")
    item_id, sale_id = int(match[1]), int(match[2])
    raw = base64.urlsafe_b64decode(match[3])
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(key, member_id, item_id, sale_id, body)):
        raise InvalidToken("confirm token was not issued to this member for this item")
    issued_at = _EPOCH + timedelta(milliseconds=int.from_bytes(body[:6], "big"))
    return TokenClaims(item_id, sale_id or None, issued_at)


def offer_of(
    key: bytes,
    member: MemberState,
    item: ItemRecord,
    view: ItemView,
    flash_sale_id: int | None,
    now: datetime,
) -> Offer:
    """The confirmation for ``member`` redeeming ``item`` as ``view`` (``assess``) sees it,
    with a confirm token signed with ``key``; or the error of its ``blocked_reason``."""
    refuse_if_blocked(view, member)
    token = issue_token(key, member.member_id, item.item_id, flash_sale_id, now)
    return Offer(
        token=token,
        item=view,
        points=view.points,
        cash_minor=item.cash_minor,
        balance_after=member.balance - view.points,
        needs_address=item.kind == "physical",
        needs_approval=view.needs_approval,
        needs_payment=item.cash_minor > 0,
        flash_sale_id=flash_sale_id,
    )


# --- Reading redemptions -----------------------------------------------------------------------


def _view_query() -> Any:
    return (
        select(
            Redemption,
            Item.sku,
            Item.title,
            Item.titles,
            Item.kind,
            CouponCode.code.label("coupon_code"),
            Hold.expires_at.label("hold_expires_at"),
        )
        .join(Item, Item.id == Redemption.item_id)
        .outerjoin(CouponCode, CouponCode.id == Redemption.coupon_code_id)
        .outerjoin(Hold, Hold.id == Redemption.hold_id)
    )


# Every redemption answers with its view: built once and run at the driver (core.db.prepared).
_VIEW_ONE = Prepared(_view_query().where(Redemption.id == bindparam("redemption_id")))


def _to_view(row: Any, config: Config) -> RedemptionView:
    """The view of a row of :func:`_view_query` (or of what a redemption just wrote)."""
    wait_ends_at = None
    if row.status in AWAITING:
        if row.hold_expires_at is not None:
            wait_ends_at = row.hold_expires_at
        else:  # a cash-only item: nothing held, the payment window still applies
            minutes = config.redemptions.payment_timeout_minutes
            wait_ends_at = row.created_at + timedelta(minutes=minutes)
    fulfilled_at = row.fulfilled_at if row.status == "fulfilled" else None
    delivered_at = None
    if fulfilled_at is not None and row.kind == "physical":
        days = config.redemptions.delivered_after_days
        delivered_at = fulfilled_at + timedelta(days=days)
        if row.received_at is not None:
            delivered_at = min(delivered_at, row.received_at)
    return RedemptionView(
        redemption_id=int(row.id),
        member_id=int(row.member_id),
        item_id=int(row.item_id),
        sku=row.sku,
        title=row.title,
        kind=row.kind,
        status=row.status,
        points=int(row.points),
        cash_minor=int(row.cash_minor),
        flash_sale_id=None if row.flash_sale_id is None else int(row.flash_sale_id),
        coupon_code=row.coupon_code if row.status in GOT_IT else None,
        address=row.address,
        note=row.note,
        payment_charge_id=row.payment_charge_id,
        wait_ends_at=wait_ends_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        fulfilled_at=fulfilled_at,
        received_at=row.received_at,
        delivered_at=delivered_at,
        paid_stars=None if row.paid_stars is None else int(row.paid_stars),
        titles=dict(row.titles or {}),
    )


async def redemption_view(
    conn: AsyncConnection, config: Config, redemption_id: int
) -> RedemptionView:
    row = await _VIEW_ONE.named(conn, {"redemption_id": redemption_id})
    if row is None:
        raise UnknownRedemption(f"no redemption {redemption_id}", redemption_id=redemption_id)
    return _to_view(row, config)


def _redemption_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise UnknownRedemption(f"no redemption {value!r}", redemption_id=str(value))
    return value


# --- Taking and giving back units --------------------------------------------------------------


async def take_sale_unit(conn: AsyncConnection, sale_id: int, quantity: int = 1) -> bool:
    """Take units of a sale's own quantity by conditional update; False when too few are left
    (or the sale was cancelled meanwhile: nothing is left of it)."""
    return bool(await _TAKE_SALE_UNITS.run(conn, {"sale_id": sale_id, "units": quantity}))


_SALES = cast(Table, FlashSale.__table__)
_TAKE_SALE_UNITS = Prepared(
    update(_SALES)
    .where(
        _SALES.c.id == bindparam("sale_id"),
        _SALES.c.status == "scheduled",
        _SALES.c.remaining >= bindparam("units"),
    )
    .values(remaining=_SALES.c.remaining - bindparam("units"))
)


async def take_units(
    conn: AsyncConnection, item: ItemRecord, member_id: int, now: datetime
) -> TakenCode | None:
    """Take one unit of the item (and a code, for coupons); returns the code.

    Raises :class:`SoldOut` when there is none; the caller's savepoint gives back what was
    taken before.
    """
    if not await take_stock(conn, item.item_id):
        raise SoldOut(f"item {item.item_id} is sold out", item_id=item.item_id)
    if item.kind != "coupon":
        return None
    code = await take_coupon_code(conn, item.item_id, member_id, now)
    if code is None:
        raise SoldOut(f"item {item.item_id} has no codes left", item_id=item.item_id)
    return code


async def give_back_units(
    conn: AsyncConnection,
    *,
    item_id: int,
    sale_id: int | None,
    code_id: int | None,
    code_shown: bool,
) -> None:
    """Return a cancelled redemption's unit to the item (and its sale); an unseen code too."""
    if sale_id is not None:
        await conn.execute(
            update(FlashSale)
            .where(FlashSale.id == sale_id, FlashSale.remaining < FlashSale.quantity)
            .values(remaining=FlashSale.remaining + 1)
        )
    await return_stock(conn, item_id)
    if code_id is not None and not code_shown:
        await release_coupon_code(conn, code_id)


async def insert_redemption(conn: AsyncConnection, **values: Any) -> int:
    """Record a redemption; ``values`` are its columns."""
    return int(await _INSERT_REDEMPTION.scalar(conn, values))


_INSERT_REDEMPTION = Prepared(insert(Redemption).returning(Redemption.id))


# --- The service -------------------------------------------------------------------------------


class Redemptions:
    """Members redeem rewards; admins approve, reject, fulfil; jobs release what timed out."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config
        self._key: bytes | None = None

    async def _signing_key(self, now: datetime | None) -> bytes | None:
        """The token key; created on first use when ``now`` is given (issuing), else None."""
        if self._key is None:
            # None: no token was ever issued, so whatever was sent is not one.
            self._key = await kept_secret(self.db, _SECRET_KEY, now)
        return self._key

    async def token_claims(self, member_id: int, token: object) -> TokenClaims:
        """What a confirm token shown to ``member_id`` offered; :class:`InvalidToken` if it is
        malformed, forged, or another member's."""
        validation.member_id(member_id)
        return read_token(await self._signing_key(None), member_id, token)

    async def offer(
        self, member_id: int, item_id: int, now: datetime, flash_sale_id: int | None = None
    ) -> Offer:
        """The confirmation for redeeming the item (at a first-come sale's price, if given).

        Refuses, with the error of the item's ``blocked_reason``, what redeem would refuse.
        """
        validation.member_id(member_id)
        item_id = item_id_of(item_id)
        validation.instant(now)
        if item_id >= _MAX_ID:
            raise UnknownItem(f"no item {item_id}", item_id=item_id)
        if flash_sale_id is not None and (
            isinstance(flash_sale_id, bool)
            or not isinstance(flash_sale_id, int)
            or not 0 < flash_sale_id < _MAX_ID
        ):
            raise UnknownSale(f"no sale {flash_sale_id!r}", sale_id=str(flash_sale_id))
        key = await self.issuing_key(now)
        async with self.db.read() as conn:
            member = await read_member(conn, member_id)
            item = await load_item(conn, item_id)
            sale = await _sale_of(conn, item, flash_sale_id)
            view = await assess(conn, self.config, member, item, sale, now)
        return offer_of(key, member, item, view, flash_sale_id, now)

    async def issuing_key(self, now: datetime) -> bytes:
        """The key confirm tokens are signed with (created on first use), for
        :func:`offer_of`."""
        key = await self._signing_key(now)
        assert key is not None
        return key

    async def redeem(
        self, member_id: int, token: str, now: datetime, address: str | None = None
    ) -> RedemptionResult:
        """Redeem what the confirm token offered: check, take the stock and the points, record.

        One transaction; once per token (a double tap replays the first result). Physical
        goods need the delivery ``address``.
        """
        validation.member_id(member_id)
        validation.instant(now)
        if address is not None:
            address = validation.text(address, field="address", max_length=500)
        claims = read_token(await self._signing_key(None), member_id, token)

        async def work(conn: AsyncConnection) -> RedemptionResult:
            return await self._redeem(conn, member_id, token, claims, now, address)

        try:
            outcome = await run_once(
                self.db,
                key=f"redeem:{token}",
                kind="redeem",
                request={"member_id": member_id, "token": token, "address": address},
                result_type=RedemptionResult,
                work=work,
                now=now,
            )
        except _NotRecorded as refused:
            raise refused.error from None
        except KeyReused:
            if address is None:
                # Pressed before with an address: without one, still the refusal that comes
                # before any other (as _redeem gives it to a first press).
                async with self.db.read() as conn:
                    _needs_address(await load_item(conn, claims.item_id))
            raise
        return marked(outcome)

    async def _redeem(
        self,
        conn: AsyncConnection,
        member_id: int,
        token: str,
        claims: TokenClaims,
        now: datetime,
        address: str | None,
    ) -> RedemptionResult:
        # Without an address, an unknown item and a physical one are refused first, and not
        # recorded under the token's key: the press with the address must still be answered.
        missing: UnknownItem | None = None
        try:
            item = await load_item(conn, claims.item_id)
        except UnknownItem as unknown:
            if address is None:
                raise _NotRecorded(unknown) from None
            missing = unknown
        else:
            if address is None:
                try:
                    _needs_address(item)
                except InvalidInput as needed:
                    raise _NotRecorded(needed) from None
        # A confirmation too old to tap: its record would be pruned by now
        # (core.operations.retention), so it is refused here, inside the use case, where a replay of
        # a recent tap never gets.
        if now - claims.issued_at > timedelta(days=self.config.retention.confirm_token_days):
            raise OfferChanged(
                f"the confirmation of item {claims.item_id} was shown too long ago",
                item_id=claims.item_id,
            )
        if missing is not None:
            raise missing
        if _millis(item.updated_at) > _millis(claims.issued_at):
            raise OfferChanged(
                f"item {item.item_id} changed since it was shown", item_id=item.item_id
            )
        sale = await _sale_of(conn, item, claims.sale_id)
        # Sold out: refused before any lock is taken.
        if (left := await units_left(conn, item, sale)) is not None and left <= 0:
            raise SoldOut(f"item {item.item_id} is sold out", item_id=item.item_id)
        lock, (invited, challenges) = await _REDEEM_READ.lock(conn, member_id)
        member = MemberState(member_id, lock.balance, lock.frozen, lock.tier)
        view = await assess(conn, self.config, member, item, sale, now)
        refuse_if_blocked(view, member)
        points, cash = view.points, item.cash_minor
        settings = self.config.redemptions
        hold_id = transfer_id = None
        hold_expires_at = None
        balance = member.balance
        if cash > 0 or view.needs_approval:
            status = "awaiting_payment" if cash > 0 else "awaiting_approval"
            wait = (
                timedelta(minutes=settings.payment_timeout_minutes)
                if cash > 0
                else timedelta(hours=settings.approval_timeout_hours)
            )
            if points > 0:
                hold_expires_at = (now + wait).astimezone(UTC)
                hold_id, balance = await place_hold(
                    conn,
                    member_id=member_id,
                    destination=SystemAccount.REDEMPTIONS,
                    amount=points,
                    code="redemption",
                    reference=item.sku,
                    key=f"redeem:{token}",
                    now=now,
                    expires_at=hold_expires_at,
                )
        else:
            status = "completed"
            transfer_id, balance = await debit_member(
                conn,
                member_id=member_id,
                destination=SystemAccount.REDEMPTIONS,
                amount=points,
                code="redemption",
                reference=item.sku,
                key=f"redeem:{token}",
                now=now,
            )
        # The hot rows last: the sale's quantity, the item's stock, the code pool.
        if sale is not None and not await take_sale_unit(conn, sale.sale_id):
            raise SoldOut(f"sale {sale.sale_id} is sold out", item_id=item.item_id)
        code = await take_units(conn, item, member_id, now)
        written: dict[str, Any] = {
            "member_id": member_id,
            "item_id": item.item_id,
            "flash_sale_id": sale.sale_id if sale else None,
            "confirm_token": token,
            "status": status,
            "points": points,
            "cash_minor": cash,
            "hold_id": hold_id,
            "transfer_id": transfer_id,
            "coupon_code_id": code.code_id if code else None,
            "address": address if item.kind == "physical" else None,
            # As the database gives instants back: in UTC.
            "created_at": now.astimezone(UTC),
            "updated_at": now.astimezone(UTC),
        }
        redemption_id = await insert_redemption(conn, **written)
        # Its view from what was just written, as _VIEW_ONE would read it back: one round trip
        # fewer while the hot rows above stay locked (tests compare the two).
        done = _to_view(
            SimpleNamespace(
                id=redemption_id,
                **written,
                note=None,
                payment_charge_id=None,
                paid_stars=None,
                fulfilled_at=None,
                received_at=None,
                sku=item.sku,
                title=item.title,
                titles=item.titles,
                kind=item.kind,
                coupon_code=code.code if code else None,
                hold_expires_at=hold_expires_at,
            ),
            self.config,
        )
        if status == "completed" and invited:
            referral = await qualify(conn, self.config, member_id, "redemption", now)
            if referral is not None:
                balance = referral.invitee_balance
        if challenges and await advance_each(
            conn, self.config, member_id, ("redeem", "spend"), now
        ):
            balance = await current_balance(conn, member_id)
        return RedemptionResult(done, balance)

    # --- Answering a redemption that waits, and undoing one -----------------------------------

    async def approve(
        self, redemption_id: int, now: datetime, *, actor_id: int | None = None
    ) -> RedemptionResult:
        """The admin approves: the held points are taken, the redemption is completed.

        With ``actor_id`` (the admin) its ``redemption.approve`` audit entry is written in the
        same transaction, so the approval and its entry stand or fall together; a replay
        writes none.
        """
        return await self._move(
            redemption_id,
            now,
            "approve",
            _Move(("awaiting_approval",), "completed"),
            actor_id=actor_id,
        )

    async def reject(
        self,
        redemption_id: int,
        now: datetime,
        note: str | None = None,
        *,
        only_awaiting_approval: bool = False,
        actor_id: int | None = None,
    ) -> RedemptionResult:
        """The admin refuses: held points are released, taken points refunded, stock returned.

        With ``actor_id`` (the admin) its ``redemption.reject`` audit entry is written in the
        same transaction as the refusal; a replay writes none.

        ``only_awaiting_approval`` answers the approval queue: the redemption must still be
        awaiting approval when the refusal is written (checked in the same transaction, after
        its member is locked), so a reject pressed while another admin approves it is refused
        (``invalid_state``) instead of undoing the approval.
        """
        if not isinstance(only_awaiting_approval, bool):
            raise InvalidInput(
                "only_awaiting_approval must be true or false", field="only_awaiting_approval"
            )
        allowed = ("awaiting_approval",) if only_awaiting_approval else (*AWAITING, "completed")
        return await self._move(
            redemption_id, now, "reject", _Move(allowed, "rejected", note=note), actor_id=actor_id
        )

    async def cancel(
        self,
        redemption_id: int,
        now: datetime,
        *,
        member_id: int | None = None,
        actor_id: int | None = None,
    ) -> RedemptionResult:
        """Cancel: a member (``member_id``) their own waiting redemption; an admin also a
        completed one (its points refunded into their original lots).

        With ``actor_id`` (the admin refunding a paid redemption) its
        ``redemption.refund_stars`` audit entry is written in the same transaction as the
        cancel; a replay writes none.
        """
        if member_id is not None:
            validation.member_id(member_id)
        allowed = AWAITING if member_id is not None else (*AWAITING, "completed")
        return await self._move(
            redemption_id,
            now,
            "cancel",
            _Move(allowed, "cancelled", owner=member_id),
            actor_id=actor_id,
        )

    async def confirm_payment(
        self, redemption_id: int, charge_id: str, now: datetime, stars: int | None = None
    ) -> RedemptionResult:
        """The cash part arrived (``stars`` Telegram Stars): the held points are taken, the
        redemption is completed. Refused (``invalid_state``) once it has ended, and
        (``key_reused``) for a second payment: see ``StarRefunds.payment_unmatched``."""
        charge = validation.text(charge_id, field="charge_id", max_length=128)
        if stars is not None and (isinstance(stars, bool) or not isinstance(stars, int)):
            raise InvalidInput("stars must be a whole number", field="stars")
        return await self._move(
            redemption_id,
            now,
            "payment",
            _Move(("awaiting_payment",), "completed", charge_id=charge, stars=stars),
        )

    async def fail_payment(self, redemption_id: int, now: datetime) -> RedemptionResult:
        """The payment failed or was abandoned: held points and stock go back."""
        return await self._move(
            redemption_id, now, "payment_failed", _Move(("awaiting_payment",), "cancelled")
        )

    async def fulfil(
        self, redemption_id: int, note: str, now: datetime, *, actor_id: int | None = None
    ) -> RedemptionResult:
        """Mark a completed redemption as handed over (shipped, served), with a note.

        With ``actor_id`` (the admin) its ``redemption.fulfil`` audit entry is written in the
        same transaction; a replay writes none.
        """
        text = validation.text(note, field="note", max_length=500)
        return await self._move(
            redemption_id,
            now,
            "fulfil",
            _Move(("completed",), "fulfilled", note=text),
            actor_id=actor_id,
        )

    async def confirm_receipt(
        self, member_id: int, redemption_id: int, now: datetime
    ) -> RedemptionResult:
        """The member says their shipped physical reward arrived: it reads delivered from now.

        Only their own, shipped, physical redemption (else :class:`UnknownRedemption` or
        :class:`InvalidState`); once: confirming again changes nothing (``replayed``).
        """
        validation.member_id(member_id)
        redemption_id = _redemption_id(redemption_id)
        validation.instant(now)
        async with self.db.write() as conn:
            owner = (
                await conn.execute(
                    select(Redemption.member_id).where(Redemption.id == redemption_id)
                )
            ).scalar_one_or_none()
            if owner is None or int(owner) != member_id:
                raise UnknownRedemption(
                    f"no redemption {redemption_id}", redemption_id=redemption_id
                )
            # Every change of a redemption locks its member first: this read is current.
            lock = await lock_member(conn, member_id)
            view = await redemption_view(conn, self.config, redemption_id)
            if view.received_at is not None:
                return RedemptionResult(view, lock.balance, replayed=True)
            if view.kind != "physical" or view.status != "fulfilled":
                raise InvalidState(
                    f"redemption {redemption_id} was not shipped",
                    redemption_id=redemption_id,
                    status=view.status,
                )
            await conn.execute(
                update(Redemption)
                .where(Redemption.id == redemption_id, Redemption.received_at.is_(None))
                .values(received_at=now, updated_at=now)
            )
            view = await redemption_view(conn, self.config, redemption_id)
            return RedemptionResult(view, lock.balance)

    async def release_expired(
        self, now: datetime, *, limit: int = 500
    ) -> tuple[RedemptionResult, ...]:
        """Cancel every waiting redemption past its timeout; its points and stock go back.

        Returns what it released, so members can be told. Safe to run from several processes.
        A hold voided meanwhile by the generic hold timeout is treated as timed out too.
        """
        validation.instant(now)
        unpaid_since = now - timedelta(minutes=self.config.redemptions.payment_timeout_minutes)
        released: list[RedemptionResult] = []
        while True:
            async with self.db.read() as conn:
                ids = (
                    await conn.execute(
                        select(Redemption.id)
                        .outerjoin(Hold, Hold.id == Redemption.hold_id)
                        .where(
                            Redemption.status.in_(AWAITING),
                            or_(
                                and_(
                                    Redemption.hold_id.is_not(None),
                                    or_(Hold.expires_at <= now, Hold.status != "pending"),
                                ),
                                and_(
                                    Redemption.hold_id.is_(None),
                                    Redemption.status == "awaiting_payment",
                                    Redemption.created_at <= unpaid_since,
                                ),
                            ),
                        )
                        .order_by(Redemption.id)
                        .limit(limit)
                    )
                ).scalars()
                batch = [int(i) for i in ids]
            for redemption_id in batch:
                try:
                    released.append(
                        await self._move(
                            redemption_id, now, "timeout", _Move(AWAITING, "cancelled")
                        )
                    )
                except InvalidState:
                    continue  # answered meanwhile
            if len(batch) < limit:
                return tuple(released)

    async def _move(
        self,
        redemption_id: int,
        now: datetime,
        op: str,
        move: _Move,
        *,
        actor_id: int | None = None,
    ) -> RedemptionResult:
        """Make ``move``, settling the redemption's points and units.

        With ``actor_id`` the admin's audit entry of ``op`` is written in the move's own
        transaction (not recorded again when the move is replayed).
        """
        redemption_id = _redemption_id(redemption_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        if move.note is not None:
            move = replace(move, note=validation.text(move.note, field="note", max_length=500))
        audit = (actor_id, _AUDIT_ACTIONS[op]) if actor_id is not None else None

        async def work(conn: AsyncConnection) -> RedemptionResult:
            return await _apply_move(conn, self.config, redemption_id, now, move, audit=audit)

        suffix = f":{move.owner}" if move.owner is not None else ""
        outcome = await run_once(
            self.db,
            key=f"redemption-{op}:{redemption_id}{suffix}",
            kind=f"redemption_{op}",
            request={
                "redemption_id": redemption_id,
                "note": move.note,
                "charge_id": move.charge_id,
            },
            result_type=RedemptionResult,
            work=work,
            now=now,
            # The key is the redemption itself: a refusal must not outlive the state behind it.
            record_rejection=False,
        )
        return marked(outcome)

    # --- Addresses and reading ------------------------------------------------------------------

    async def set_address(
        self, member_id: int, redemption_id: int, address: str, now: datetime
    ) -> RedemptionView:
        """The member gives (or corrects) where their physical reward should go."""
        validation.member_id(member_id)
        redemption_id = _redemption_id(redemption_id)
        text = validation.text(address, field="address", max_length=500)
        validation.instant(now)
        async with self.db.write() as conn:
            view = await redemption_view(conn, self.config, redemption_id)
            if view.member_id != member_id:
                raise UnknownRedemption(
                    f"no redemption {redemption_id}", redemption_id=redemption_id
                )
            if view.kind != "physical" or view.status not in (*AWAITING, "completed"):
                raise InvalidState(
                    f"redemption {redemption_id} takes no address now",
                    redemption_id=redemption_id,
                    status=view.status,
                )
            await conn.execute(
                update(Redemption)
                .where(Redemption.id == redemption_id)
                .values(address=text, updated_at=now)
            )
            return await redemption_view(conn, self.config, redemption_id)

    async def get(self, redemption_id: int) -> RedemptionView:
        redemption_id = _redemption_id(redemption_id)
        async with self.db.read() as conn:
            return await redemption_view(conn, self.config, redemption_id)

    async def list_for_member(
        self, member_id: int, page: int = 0, page_size: int = 10
    ) -> RedemptionPage:
        """The member's redemptions, newest first."""
        validation.member_id(member_id)
        page, page_size = validation.page_args(page, page_size)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            mine = Redemption.member_id == member_id
            return await self._page(conn, mine, Redemption.id.desc(), page, page_size)

    async def pending_approvals(self, page: int = 0, page_size: int = 10) -> RedemptionPage:
        """Redemptions waiting for an admin's approval, oldest first."""
        page, page_size = validation.page_args(page, page_size)
        waiting = Redemption.status == "awaiting_approval"
        async with self.db.read() as conn:
            return await self._page(conn, waiting, Redemption.id, page, page_size)

    async def awaiting_shipment(self, page: int = 0, page_size: int = 10) -> RedemptionPage:
        """Completed redemptions of physical goods not yet marked shipped, oldest first."""
        page, page_size = validation.page_args(page, page_size)
        unshipped = and_(Redemption.status == "completed", Item.kind == "physical")
        async with self.db.read() as conn:
            return await self._page(conn, unshipped, Redemption.id, page, page_size)

    async def _page(
        self, conn: AsyncConnection, where: Any, order: Any, page: int, page_size: int
    ) -> RedemptionPage:
        """One page of the redemptions ``where`` selects, in ``order``."""
        rows = (
            await conn.execute(
                _view_query()
                .where(where)
                .order_by(order)
                .offset(page * page_size)
                .limit(page_size + 1)
            )
        ).all()
        entries = tuple(_to_view(row, self.config) for row in rows[:page_size])
        return RedemptionPage(entries, page, len(rows) > page_size)


async def _sale_of(
    conn: AsyncConnection, item: ItemRecord, sale_id: int | None
) -> SaleTerms | None:
    """The first-come sale a redemption of ``item`` is made under, if any."""
    if sale_id is None:
        return None
    sale = await find_sale(conn, sale_id)
    if sale is None or sale.item_id != item.item_id:
        raise UnknownSale(f"no sale {sale_id} for item {item.item_id}", sale_id=sale_id)
    if sale.mode != "first_come":
        raise InvalidState(
            f"sale {sale_id} is a draw: enter it instead", sale_id=sale_id, reason="draw_sale"
        )
    return sale


# --- Moving a redemption, inside a caller's transaction --------------------------------------


async def cancel_waiting(
    conn: AsyncConnection, config: Config, redemption_id: int, now: datetime
) -> RedemptionResult:
    """Cancel a waiting redemption inside the caller's transaction (an account's erasure).

    Its held points go back into their lots and its unit to the item, as any cancel does.
    """
    return await _apply_move(conn, config, redemption_id, now, _Move(AWAITING, "cancelled"))


async def _apply_move(
    conn: AsyncConnection,
    config: Config,
    redemption_id: int,
    now: datetime,
    move: _Move,
    *,
    audit: tuple[int, str] | None = None,
) -> RedemptionResult:
    """Make ``move`` in the caller's transaction.

    ``audit`` (the admin, the action) writes the admin's audit entry in that transaction too.

    A paid redemption that ends (cancelled, rejected) keeps no goods for its payment: its
    refund is recorded due here, with the points given back (``core.rewards.star_refunds``).
    """
    found = (
        await conn.execute(select(Redemption.member_id).where(Redemption.id == redemption_id))
    ).scalar_one_or_none()
    allowed, to, owner = move.allowed, move.to, move.owner
    note, charge_id, stars = move.note, move.charge_id, move.stars
    if found is None or (owner is not None and found != owner):
        raise UnknownRedemption(f"no redemption {redemption_id}", redemption_id=redemption_id)
    lock = await lock_member(conn, int(found))
    # Every change of a redemption locks its member first: this read is current.
    row = (
        await conn.execute(
            select(Redemption, Item.sku)
            .join(Item, Item.id == Redemption.item_id)
            .where(Redemption.id == redemption_id)
        )
    ).one()
    if row.status not in allowed:
        raise InvalidState(
            f"redemption {redemption_id} is {row.status}",
            redemption_id=redemption_id,
            status=row.status,
        )
    balance = await _settle_points(conn, row, to, now, lock.balance)
    values: dict[str, Any] = {"status": to, "updated_at": now}
    if to == "fulfilled":
        values["fulfilled_at"] = now
    if note is not None:
        values["note"] = note
    if charge_id is not None:
        values["payment_charge_id"] = charge_id
        values["paid_stars"] = stars
    await conn.execute(
        update(Redemption)
        .where(Redemption.id == redemption_id, Redemption.status == row.status)
        .values(**values)
    )
    # After the update: a roll-up of its day written meanwhile is visible now
    # (core.reporting.rollups).
    await restate_redemption(
        conn,
        config.mall.timezone,
        item_id=int(row.item_id),
        created_at=row.created_at,
        points=int(row.points),
        old=row.status,
        new=to,
    )
    if to in ENDED:
        await give_back_units(
            conn,
            item_id=int(row.item_id),
            sale_id=row.flash_sale_id,
            code_id=row.coupon_code_id,
            code_shown=row.status in GOT_IT,
        )
        if row.payment_charge_id is not None:
            paid = row.paid_stars
            await record_due(
                conn,
                charge_id=row.payment_charge_id,
                member_id=int(found),
                redemption_id=redemption_id,
                stars=int(paid) if paid else stars_for(config, int(row.cash_minor)),
                reason=to,
                now=now,
            )
    elif to == "completed":
        # The member's first redemption may qualify the invite that brought them.
        referral = await qualify(conn, config, int(found), "redemption", now)
        if referral is not None:
            balance = referral.invitee_balance
    view = await redemption_view(conn, config, redemption_id)
    if audit is not None:
        actor_id, action = audit
        await write_entry(
            conn,
            actor_id=actor_id,
            action=action,
            target=f"redemption:{redemption_id}",
            now=now,
            **_audit_states(action, row, view, note),
        )
    return RedemptionResult(view, balance)


@dataclass(frozen=True)
class _Move:
    """A redemption's move: from one of ``allowed`` to ``to``; ``owner``: only the member's
    own; with the admin's ``note``, or the payment's ``charge_id`` and ``stars``."""

    allowed: tuple[str, ...]
    to: str
    owner: int | None = None
    note: str | None = None
    charge_id: str | None = None
    stars: int | None = None


# The audit log's action for each admin move (``Redemptions._move``'s ``op``).
_AUDIT_ACTIONS = {
    "approve": "redemption.approve",
    "reject": "redemption.reject",
    "fulfil": "redemption.fulfil",
    "cancel": "redemption.refund_stars",
}


def _audit_states(
    action: str, row: Any, done: RedemptionView, note: str | None
) -> dict[str, dict[str, Any]]:
    """The before and after an admin's audit view shows for a move from ``row`` to ``done``."""
    after: dict[str, Any] = {"status": done.status, "member": done.member_id}
    before: dict[str, Any] = {"status": row.status}
    if action == "redemption.approve":
        after["points"] = done.points
    elif action == "redemption.refund_stars":
        before["paid_stars"] = row.paid_stars
        after["points"] = done.points
        after["charge"] = row.payment_charge_id or ""
    else:  # reject, fulfil: the note the admin gave
        after["note"] = note or ""
    return {"before": before, "after": after}


async def _settle_points(
    conn: AsyncConnection, row: Any, to: str, now: datetime, balance: int
) -> int:
    """Post, void or refund the redemption's points for its move to ``to``."""
    redemption_id = int(row.id)
    if row.status in AWAITING:
        if row.hold_id is None:
            return balance  # a cash-only item: no points were held
        hold_status = (
            await conn.execute(select(Hold.status).where(Hold.id == row.hold_id))
        ).scalar_one()
        if hold_status == "pending":
            _, balance = await settle_hold(
                conn,
                hold_id=int(row.hold_id),
                post=to == "completed",
                key=f"redemption-settle:{redemption_id}",
                now=now,
            )
        elif to == "completed":
            # The generic hold timeout voided it: the wait is over, the points are back.
            raise InvalidState(
                f"redemption {redemption_id} timed out",
                redemption_id=redemption_id,
                status=row.status,
                reason="expired",
            )
        return balance
    if to in ENDED and row.points > 0:
        original = row.transfer_id
        if original is None:  # completed by posting its hold: the hold drew the lots
            original = (
                await conn.execute(select(Hold.hold_transfer_id).where(Hold.id == row.hold_id))
            ).scalar_one()
        _, balance = await restore_debit(
            conn,
            member_id=int(row.member_id),
            original_transfer_id=int(original),
            source=SystemAccount.REDEMPTIONS,
            amount=int(row.points),
            code="redemption_refund",
            reference=row.sku,
            key=f"redemption-refund:{redemption_id}",
            now=now,
        )
    return balance
