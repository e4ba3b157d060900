"""The schema. Money-like rules live here as constraints, not only in Python.

Member accounts use the member's Telegram user id as their id; the mall's own books use small
negative ids (see ``core.points.accounts``). System accounts keep no running balance: theirs is
derived from the transfers, so no row becomes a hot spot that serializes the mall.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db.types import BigId, UTCDateTime

# A text members read, by language: ``{"zh_Hans": "拿铁"}``, beside the default text in its own
# column. A language it has no text for reads the default.
Texts = JSON()
_NO_TEXTS = text("'{}'")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """A book of points. ``balance`` is kept for member accounts only."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        CheckConstraint("kind IN ('member', 'system')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(8))
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    frozen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    frozen_reason: Mapped[str | None] = mapped_column(String(500))


class Member(Base):
    """A person who uses the mall, keyed by their Telegram user id."""

    __tablename__ = "members"
    # The members export reads those who joined in a window.
    __table_args__ = (Index("ix_members_joined_at", "joined_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id"), primary_key=True, autoincrement=False
    )
    display_name: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    invited_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("members.id"))
    tier: Mapped[str] = mapped_column(String(64))
    # Telegram's @username without the "@", lower-cased (Telegram's are case-insensitive), so
    # the plain index serves lookups on both databases.
    username: Mapped[str | None] = mapped_column(String(32), index=True)
    # Whether the member wants announcements (flash sales, news); reminders are not these.
    announcements: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Set when the member erased their account: the row is then a nameless surrogate.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Transfer(Base):
    """One movement of points between two accounts. Append-only: never edited or deleted."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        Index("ix_transfers_debit", "debit_account_id", "id"),
        Index("ix_transfers_credit", "credit_account_id", "id"),
        Index("ix_transfers_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    debit_account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accounts.id"))
    credit_account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lot(Base):
    """Points credited to a member together, with the instant they expire (None: never)."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_in_range"),
        Index(
            "ix_lots_open_by_account",
            "account_id",
            "expires_at",
            "id",
            sqlite_where=text("remaining > 0"),
            postgresql_where=text("remaining > 0"),
        ),
        Index(
            "ix_lots_open_by_expiry",
            "expires_at",
            sqlite_where=text("remaining > 0"),
            postgresql_where=text("remaining > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accounts.id"))
    transfer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("transfers.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LotDraw(Base):
    """How much a debit took from one lot, so a reversal can put it back with its expiry."""

    __tablename__ = "lot_draws"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    transfer_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("transfers.id"), primary_key=True
    )
    lot_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("lots.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class Hold(Base):
    """Points reserved (moved to escrow) until they are posted to a destination or voided."""

    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('pending', 'posted', 'voided')", name="status_known"),
        Index("ix_holds_pending_expiry", "status", "expires_at"),
        # The balance screen's "held" sum: one member's pending holds, not the mall's (issue 17).
        Index("ix_holds_account_status", "account_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accounts.id"))
    destination_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hold_transfer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("transfers.id"))
    settle_transfer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("transfers.id"))


class Operation(Base):
    """The idempotency record of one use case: its key, what was asked, and how it ended.

    ``status`` is ``pending`` only inside the transaction that claimed the key.
    """

    __tablename__ = "operations"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'ok', 'rejected')", name="status_known"),
        # `pointsmall check`'s no_pending_operations: empty when all is well, so nearly free.
        Index(
            "ix_operations_pending",
            "key",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # Retention (core.operations.retention) finds a kind's records past its window without a
        # scan.
        Index("ix_operations_kind_created", "kind", "created_at"),
    )

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))
    error_code: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerCheckpoint(Base):
    """Where the last clean ``pointsmall check`` got to: transfers up to ``transfer_id``.

    One row (``id`` 1). Every transfer up to ``transfer_id`` was committed when it was written,
    so the next check verifies the transfers after it against :class:`CheckpointBalance`.
    """

    __tablename__ = "ledger_checkpoint"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    transfer_id: Mapped[int] = mapped_column(BigInteger)
    # How many transfers there were up to ``transfer_id`` (the report's count, without a scan).
    transfers: Mapped[int] = mapped_column(BigInteger)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How it got here: 'built' anew from every transfer (there was none, or it was stale), or
    # moved on after a 'full' scan or an 'incremental' check of the transfers after it.
    mode: Mapped[str] = mapped_column(String(12))


class CheckpointBalance(Base):
    """An account's credits minus debits up to the checkpoint's transfer id.

    No foreign key to ``accounts``: checking one per row made writing a checkpoint of a
    hundred thousand accounts take seconds on PostgreSQL. An erasure hands the row to the
    member's surrogate with their transfers (``core.membership.privacy``).
    """

    __tablename__ = "checkpoint_balances"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    net: Mapped[int] = mapped_column(BigInteger)


class MemberDay(Base):
    """What a member earned on one business day: the daily cap and the tier window read it."""

    __tablename__ = "member_days"
    __table_args__ = (CheckConstraint("earned >= 0", name="earned_not_negative"),)

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    earned: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class CheckIn(Base):
    """A business day a member checked in (or made up for, at a price)."""

    __tablename__ = "checkins"
    __table_args__ = (
        CheckConstraint("reward >= 0", name="reward_not_negative"),
        CheckConstraint("streak > 0", name="streak_positive"),
        # The daily report: check-ins by their day, make-ups by when they were bought; a day's
        # check-ins by time too, for the part of today not rolled up by the hour.
        Index("ix_checkins_day", "day", "created_at"),
        Index("ix_checkins_created_at", "created_at"),
    )

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    streak: Mapped[int] = mapped_column(Integer)
    reward: Mapped[int] = mapped_column(BigInteger)
    makeup: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Order(Base):
    """A purchase the member made with money, and what it earned and gave back."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund_in_range"
        ),
        CheckConstraint("points >= 0", name="points_not_negative"),
        CheckConstraint(
            "points_reversed >= 0 AND points_unrecovered >= 0"
            " AND points_reversed + points_unrecovered <= points",
            name="reversal_in_range",
        ),
    )

    order_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    category: Mapped[str] = mapped_column(String(64))
    points: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_reversed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # What a refund should have taken back but the member had already spent.
    points_unrecovered: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- The mall: catalog, redemptions, flash sales, blind boxes, referrals ------------------------


class Item(Base):
    """A reward in the catalog. ``sku`` is the catalog file's stable name for it."""

    __tablename__ = "items"
    __table_args__ = (
        CheckConstraint("kind IN ('physical', 'coupon', 'service', 'virtual')", name="kind_known"),
        CheckConstraint("price_points >= 0 AND cash_minor >= 0", name="price_not_negative"),
        CheckConstraint("price_points > 0 OR cash_minor > 0", name="price_not_free"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint(
            "limit_period IS NULL OR limit_period IN ('day', 'week', 'month', 'ever')",
            name="limit_period_known",
        ),
        CheckConstraint("limit_count IS NULL OR limit_count > 0", name="limit_count_positive"),
        Index("ix_items_category", "category", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    titles: Mapped[dict[str, str]] = mapped_column(Texts, default=dict, server_default=_NO_TEXTS)
    descriptions: Mapped[dict[str, str]] = mapped_column(
        Texts, default=dict, server_default=_NO_TEXTS
    )
    photo: Mapped[str | None] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    price_points: Mapped[int] = mapped_column(BigInteger)
    cash_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # NULL: unlimited. Coupons are limited by their pool of codes instead.
    stock: Mapped[int | None] = mapped_column(BigInteger)
    # False switches the item off everywhere: off the shelf and out of every box's draw.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # False keeps it off the shelf (no member can redeem it) while a box can still give it.
    listed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    min_tier: Mapped[str | None] = mapped_column(String(64))
    limit_count: Mapped[int | None] = mapped_column(Integer)
    limit_period: Mapped[str | None] = mapped_column(String(8))
    # A redemption costing at least this many points waits for an admin's approval.
    approval_threshold: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Shelf(Base):
    """A shelf's name in other languages. Items name their shelf (``Item.category``) by its
    default name; a shelf without a row here reads that name in every language."""

    __tablename__ = "shelves"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    names: Mapped[dict[str, str]] = mapped_column(Texts, default=dict, server_default=_NO_TEXTS)


class CouponCode(Base):
    """One code of a coupon item's pool; taken by at most one redemption or box draw."""

    __tablename__ = "coupon_codes"
    __table_args__ = (
        Index("uq_coupon_codes_item_code", "item_id", "code", unique=True),
        Index(
            "ix_coupon_codes_free",
            "item_id",
            "id",
            sqlite_where=text("taken_at IS NULL"),
            postgresql_where=text("taken_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("items.id"))
    code: Mapped[str] = mapped_column(String(128))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    taken_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("members.id"))


class FlashSale(Base):
    """An item sold at a sale price, in its own quantity, within a time window.

    ``first_come``: members buy while ``remaining`` lasts. ``draw``: members enter between
    ``starts_at`` and ``entry_ends_at`` (their points held); then a draw picks the winners.
    """

    __tablename__ = "flash_sales"
    __table_args__ = (
        CheckConstraint("mode IN ('first_come', 'draw')", name="mode_known"),
        CheckConstraint("sale_price > 0", name="price_positive"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("remaining >= 0 AND remaining <= quantity", name="remaining_in_range"),
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
        CheckConstraint("status IN ('scheduled', 'drawn', 'cancelled')", name="status_known"),
        Index("ix_flash_sales_window", "starts_at", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("items.id"))
    sale_price: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(12))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entry_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(10), default="scheduled")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A draw's seed: its SHA-256 is published when the sale is scheduled, the seed once drawn
    # (core.rewards.flash_sales). None for sales scheduled before commit-reveal draws.
    draw_seed: Mapped[str | None] = mapped_column(String(64))
    draw_seed_hash: Mapped[str | None] = mapped_column(String(64))


class FlashSaleEntry(Base):
    """A member's entry in a draw-mode sale, with the hold that reserves the sale price."""

    __tablename__ = "flash_sale_entries"
    __table_args__ = (CheckConstraint("status IN ('entered', 'won', 'lost')", name="status_known"),)

    sale_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("flash_sales.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"), primary_key=True)
    hold_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("holds.id"))
    status: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The member's client seed when they entered: it goes into their ticket in the draw.
    client_seed: Mapped[str | None] = mapped_column(String(64))


class Redemption(Base):
    """A member's redemption of an item, and where it stands."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('completed', 'awaiting_approval', 'awaiting_payment', 'fulfilled',"
            " 'cancelled', 'rejected')",
            name="status_known",
        ),
        CheckConstraint("points >= 0 AND cash_minor >= 0", name="price_not_negative"),
        Index("ix_redemptions_member", "member_id", "item_id", "created_at"),
        Index("ix_redemptions_status", "status", "id"),
        # Risk control's "redemptions in an hour" and the reports scan by time.
        Index("ix_redemptions_created", "created_at"),
        # The per-item report: a window of redemptions in a few states, as one range per state
        # (without it SQLite reads every redemption in those states, whatever the window).
        Index("ix_redemptions_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    item_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("items.id"))
    flash_sale_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("flash_sales.id"))
    # The token put into the Redeem button when it was shown: one redemption per token.
    confirm_token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    points: Mapped[int] = mapped_column(BigInteger)
    cash_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Pending while approval or payment is awaited; the points were taken once it is posted.
    hold_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("holds.id"))
    # A direct spend (no wait): the transfer that took the points.
    transfer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("transfers.id"))
    coupon_code_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("coupon_codes.id"))
    address: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    payment_charge_id: Mapped[str | None] = mapped_column(String(128))
    # The Telegram Stars that payment brought (a refund gives back as many).
    paid_stars: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When an admin marked it handed over (physical goods: shipped), and when its member
    # confirmed receiving a shipped reward.
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StarRefund(Base):
    """A payment in Telegram Stars the mall keeps no goods for, and its refund
    (core.rewards.star_refunds).

    Keyed by Telegram's charge id: ``refund_due`` from the moment the mall knows (a payment
    that arrived after its redemption ended; a paid redemption cancelled or rejected, in the
    transaction that gave its points back), ``refunded`` once Telegram confirmed the refund.
    """

    __tablename__ = "star_refunds"
    __table_args__ = (
        CheckConstraint("status IN ('refund_due', 'refunded')", name="status_known"),
        CheckConstraint("reason IN ('late', 'cancelled', 'rejected')", name="reason_known"),
        CheckConstraint("stars > 0", name="stars_positive"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint(
            "(status = 'refunded') = (refunded_at IS NOT NULL)", name="refunded_when_refunded"
        ),
        Index("ix_star_refunds_due", "status", "next_attempt_at"),
    )

    charge_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    redemption_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("redemptions.id"), index=True
    )
    stars: Mapped[int] = mapped_column(BigInteger)
    # late: paid after the redemption ended; cancelled / rejected: the paid redemption was.
    reason: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12))
    # Calls Telegram refused so far, the last refusal, and when to try again.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BlindBox(Base):
    """A points blind box. ``seed_hash`` (SHA-256 of the current seed) is published."""

    __tablename__ = "blind_boxes"
    __table_args__ = (
        CheckConstraint("price_points > 0", name="price_positive"),
        CheckConstraint("pity_after IS NULL OR pity_after > 0", name="pity_positive"),
        CheckConstraint("daily_cap IS NULL OR daily_cap > 0", name="daily_cap_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    titles: Mapped[dict[str, str]] = mapped_column(Texts, default=dict, server_default=_NO_TEXTS)
    descriptions: Mapped[dict[str, str]] = mapped_column(
        Texts, default=dict, server_default=_NO_TEXTS
    )
    price_points: Mapped[int] = mapped_column(BigInteger)
    # After this many draws in a row without a rare prize, the next draw gives one.
    pity_after: Mapped[int | None] = mapped_column(Integer)
    # Points a member may spend on this box per business day.
    daily_cap: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    seed_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BoxSeed(Base):
    """A box's server seed: its hash is published at once, the seed itself once rotated."""

    __tablename__ = "box_seeds"

    box_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("blind_boxes.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seed: Mapped[str] = mapped_column(String(64))
    seed_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BoxPrize(Base):
    """One prize of a box. A prize whose stock runs out leaves the draw."""

    __tablename__ = "box_prizes"
    __table_args__ = (
        CheckConstraint("kind IN ('points', 'item', 'coupon', 'consolation')", name="kind_known"),
        CheckConstraint("weight >= 0", name="weight_not_negative"),
        CheckConstraint("stock IS NULL OR stock >= 0", name="stock_not_negative"),
        CheckConstraint("points IS NULL OR points > 0", name="points_positive"),
        Index("uq_box_prizes_box_name", "box_id", "name", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    box_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("blind_boxes.id"))
    name: Mapped[str] = mapped_column(String(100))
    names: Mapped[dict[str, str]] = mapped_column(Texts, default=dict, server_default=_NO_TEXTS)
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int | None] = mapped_column(BigInteger)
    item_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("items.id"))
    weight: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int | None] = mapped_column(BigInteger)
    rare: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class BoxDraw(Base):
    """One opening of a box: verifiable from the seed, the member and the draw number."""

    __tablename__ = "box_draws"
    __table_args__ = (
        Index("uq_box_draws_member_number", "box_id", "member_id", "draw_number", unique=True),
        Index("ix_box_draws_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    box_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("blind_boxes.id"))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    draw_number: Mapped[int] = mapped_column(Integer)
    seed_version: Mapped[int] = mapped_column(Integer)
    # What the HMAC signed (core.games.box_draws): 1: "member_id:draw_number"; 2:
    # "client_seed:nonce" with this client seed and the draw number as nonce.
    formula: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    client_seed: Mapped[str | None] = mapped_column(String(64))
    prize_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("box_prizes.id"))
    price_points: Mapped[int] = mapped_column(BigInteger)
    points_won: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    by_guarantee: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    coupon_code_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("coupon_codes.id"))
    redemption_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("redemptions.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClientSeed(Base):
    """A member's client seed, mixed into each of their box draws (``core.games.box_draws``).

    ``chosen``: the member typed it; otherwise the mall made a random one at their first draw.
    """

    __tablename__ = "client_seeds"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    client_seed: Mapped[str] = mapped_column(String(64))
    chosen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BoxStreak(Base):
    """Draws a member made on a box since their last rare prize (the guarantee counter)."""

    __tablename__ = "box_streaks"

    box_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("blind_boxes.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"), primary_key=True)
    draws: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    since_rare: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class InviteCode(Base):
    """The code in a member's invite link (``/start CODE``)."""

    __tablename__ = "invite_codes"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    code: Mapped[str] = mapped_column(String(64), unique=True)


class Referral(Base):
    """An invitee's attribution to the member who invited them, and its reward."""

    __tablename__ = "referrals"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'rewarded', 'capped')", name="status_known"),
        CheckConstraint("invitee_id <> referrer_id", name="not_self"),
        Index("ix_referrals_referrer", "referrer_id", "created_at"),
    )

    invitee_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    referrer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rewarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- The member bot: questions awaiting an answer, and erased accounts ---------------------------


class PendingInput(Base):
    """The question the bot asked a member, so their next text answers it in any bot process."""

    __tablename__ = "pending_inputs"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    kind: Mapped[str] = mapped_column(String(32))
    # A JSON object: what the answer is for (the redemption id, ...).
    data: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Erasure(Base):
    """A Telegram id whose account was erased, as a keyed hash (see ``core.membership.privacy``).

    Nothing else is stored, not even when: a date would link it to the anonymous remains.
    """

    __tablename__ = "erasures"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)


# --- Admins: what they did ---------------------------------------------------------------------


class AuditEntry(Base):
    """One admin action (or a refused attempt at one): who, what, on what, before and after.

    Each admin action's use case writes it in the transaction of the action itself
    (:func:`core.reporting.audit.write_entry`, given the admin as ``actor_id``), so an action is
    never left without its entry; a shop CSV import, one transaction per order, writes its summary
    right after them. A refused attempt is recorded on its own
    (:meth:`core.reporting.audit.Audit.denied`).
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The Telegram user id of whoever acted: an admin, or a non-admin refused (action "denied").
    actor_id: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(48))
    # What it was done to: "member:42", "item:7", "box:3", "claims:batch-5", ...
    target: Mapped[str] = mapped_column(String(64))
    # JSON objects of what changed (empty object when there was nothing before or after).
    before: Mapped[str] = mapped_column(Text)
    after: Mapped[str] = mapped_column(Text)


# --- Scheduled jobs and the outbox (issue 6) ---------------------------------------------------


class JobRun(Base):
    """The last scheduled run of each job that some process claimed, and when it finished.

    A run is claimed by moving ``due_at`` forward with a conditional update, so two processes
    never run one schedule twice; ``finished_at`` older than ``started_at`` is a run that died,
    which the next start runs again (every job is idempotent).
    """

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Broadcast(Base):
    """Messages sent as one: an admin's announcement, a sale opening, a draw's outcomes.

    ``key`` says what caused it ("sale-open:7", "admin:<token>"), so a cause enqueues once.
    Its progress is counted from its outbox rows.
    """

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Who it goes to, as admins read it: "all", "tier:Gold", "entrants".
    audience: Mapped[str] = mapped_column(String(96))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OutboxMessage(Base):
    """One message to one chat, rendered when it was enqueued, sent later by the sender.

    ``status``: ``pending`` (to send, not before ``not_before``), ``claimed`` (a sender took it
    for its slot ``slot_at``; back to pending once ``lease_until`` passes), ``sending`` (the API
    call is under way), then ``sent``, ``failed``, ``unreachable`` (the member blocked the bot)
    or ``uncertain`` (a sender died during the call: never sent again). See core.operations.outbox.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'claimed', 'sending', 'sent', 'failed', 'unreachable',"
            " 'uncertain')",
            name="status_known",
        ),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_outbox_status", "status", "id"),
        Index("ix_outbox_chat", "chat_id", "slot_at"),
        Index("ix_outbox_broadcast", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # What caused the message ("reminder:<member>:<day>:<lead>"): enqueued once per cause.
    key: Mapped[str] = mapped_column(String(128), unique=True)
    broadcast_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("broadcasts.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The screen as JSON (bot.delivery): opaque to core.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    # Transient failures so far (a 429 is not one).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(200))


class SenderPace(Base):
    """One row: the next free send slot of the whole bot, shared by every sender process."""

    __tablename__ = "sender_pace"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_slot: Mapped[datetime] = mapped_column(UTCDateTime)


class UnreachableChat(Base):
    """A chat whose member blocked the bot (403): bulk messages skip it."""

    __tablename__ = "unreachable_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(200))


class ExpiryReminder(Base):
    """A reminder enqueued: points of ``last_day`` expiring, ``lead_days`` ahead. Never twice."""

    __tablename__ = "expiry_reminders"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    last_day: Mapped[date] = mapped_column(Date, primary_key=True)
    lead_days: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TierNotice(Base):
    """The tier a member was last told about; moving above it earns a congratulation."""

    __tablename__ = "tier_notices"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    tier: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- Claim codes and risk flags (issue 5) -------------------------------------------------------


class ClaimBatch(Base):
    """Claim codes an admin generated together: how many, the points each, until when.

    ``key`` names the request that made it (the confirm button's token), so a repeated confirm
    makes no second batch.
    """

    __tablename__ = "claim_batches"
    __table_args__ = (
        CheckConstraint("count > 0", name="count_positive"),
        CheckConstraint("points > 0", name="points_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    count: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClaimCode(Base):
    """One claim code, kept as its SHA-256 only: the codes themselves leave with the admin's
    CSV and sheet, so a copy of the database holds no code anyone could claim."""

    __tablename__ = "claim_codes"
    __table_args__ = (Index("ix_claim_codes_batch", "batch_id", "claimed_by"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("claim_batches.id"))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The member who claimed it first; set once, by a conditional update.
    claimed_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("members.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClaimAttempt(Base):
    """A wrong claim code a member tried: too many in a while lock claiming (``claim_locks``)."""

    __tablename__ = "claim_attempts"
    __table_args__ = (
        Index("ix_claim_attempts_member", "member_id", "at"),
        Index("ix_claim_attempts_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ClaimLock(Base):
    """Until when a member may not claim, after too many wrong codes."""

    __tablename__ = "claim_locks"

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    until: Mapped[datetime] = mapped_column(UTCDateTime)


class RiskFlag(Base):
    """One risk rule that holds for a member (``core.membership.risk``): open until an admin clears
    it or freezes the member. A member has at most one open flag per rule; its ``measure`` is what
    the rule counted (points, redemptions, invites, wrong codes, cash-out invitees)."""

    __tablename__ = "risk_flags"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'cleared', 'frozen')", name="status_known"),
        CheckConstraint("score >= 0", name="score_not_negative"),
        Index(
            "uq_risk_flags_open",
            "member_id",
            "rule",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_risk_flags_status", "status", "member_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    rule: Mapped[str] = mapped_column(String(24))
    score: Mapped[int] = mapped_column(Integer)
    measure: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When an admin cleared it or froze the member, and who: activity before is reviewed.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(BigInteger)


# --- The inbox (issue 12) -----------------------------------------------------------------------


class InboxUpdate(Base):
    """An update from Telegram, stored before Telegram is told it arrived (see
    core.operations.inbox).

    ``status``: ``new`` (to handle; a worker holds it while ``lease_until`` is ahead), then
    ``done`` (answered) or ``failed`` (it took a process down ``attempts`` times: set aside so
    the chat's next updates go on). ``chat_key`` orders one member's updates: a worker takes an
    update only when no earlier one of the same chat is still ``new``.
    """

    __tablename__ = "inbox_updates"
    __table_args__ = (
        CheckConstraint("status IN ('new', 'done', 'failed')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("uq_inbox_updates_bot_update", "bot_id", "update_id", unique=True),
        # Only the waiting updates (a burst's worth, not the retention's): the take walks them
        # in arrival order and asks each chat for its first one (core.operations.inbox, migration
        # 0021).
        Index(
            "ix_inbox_updates_waiting",
            "bot_id",
            "id",
            sqlite_where=text("status = 'new'"),
            postgresql_where=text("status = 'new'"),
        ),
        Index(
            "ix_inbox_updates_chat_waiting",
            "bot_id",
            "chat_key",
            "update_id",
            sqlite_where=text("status = 'new'"),
            postgresql_where=text("status = 'new'"),
        ),
        Index("ix_inbox_updates_handled", "handled_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The bot's own user id (the token's first part): one database may serve several bots.
    bot_id: Mapped[int] = mapped_column(BigInteger)
    update_id: Mapped[int] = mapped_column(BigInteger)
    chat_key: Mapped[int | None] = mapped_column(BigInteger)
    # The update as Telegram sent it (JSON): opaque to core.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- The shop (issue 13, core.commerce.shop) ------------------------------------------------------


class ShopKey(Base):
    """A key the shop signs its API requests with. The secret is kept as is: verifying an
    HMAC needs it (it is shown once, when created, and never listed)."""

    __tablename__ = "shop_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShopCustomer(Base):
    """A customer of the shop as the mall knows them, and the member they are linked to.

    ``customer_key`` is ``tg:<telegram id>``, ``phone:<HMAC-SHA256 of the E.164 number>`` or
    ``ref:<the shop's reference>``: never a phone in clear. The row is also what an order and
    a link for the same customer both lock, so an order cannot be parked unseen by a link.
    A ``tg:`` customer is linked by the member id itself (``member_id`` stays empty).
    """

    __tablename__ = "shop_customers"
    __table_args__ = (CheckConstraint("kind IN ('telegram', 'phone', 'ref')", name="kind_known"),)

    customer_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    member_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("members.id"), index=True)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShopLinkToken(Base):
    """A link the shop showed a customer (``https://t.me/<bot>?start=s-<token>``): opening it
    links the shop's ``ref`` to the member who opened it, once (``core.commerce.shop_links``).

    Only the SHA-256 of the token is kept: someone who reads the database cannot open the
    links. ``used_by`` and ``used_at`` are set together, by the one member the link is theirs.
    """

    __tablename__ = "shop_link_tokens"
    __table_args__ = (
        CheckConstraint("(used_by IS NULL) = (used_at IS NULL)", name="used_together"),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    ref: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("members.id"), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShopOrder(Base):
    """An order the shop sent, whatever became of it.

    ``status``: ``awaiting`` (only refunds arrived so far), ``parked`` (no member linked to the
    customer yet; credited when one links, until ``parked_until``), ``credited`` (its parts are
    purchases in ``orders``), ``refunded`` (refunded in full before it was credited) or
    ``expired`` (parked too long). ``parts`` is the total split by earning category, as JSON
    ``[[category, amount_minor], ...]``; part 1 is the purchase ``order_id``, part n the
    purchase ``order_id:n``.
    """

    __tablename__ = "shop_orders"
    __table_args__ = (
        CheckConstraint(
            "status IN ('awaiting', 'parked', 'credited', 'refunded', 'expired')",
            name="status_known",
        ),
        CheckConstraint(
            "refunded_minor >= 0 AND (total_minor IS NULL"
            " OR (total_minor > 0 AND refunded_minor <= total_minor))",
            name="refund_in_range",
        ),
        CheckConstraint("points >= 0", name="points_not_negative"),
        Index("ix_shop_orders_customer", "customer_key", "status"),
        Index("ix_shop_orders_parked", "status", "parked_until"),
        # The admin chat's latest orders.
        Index("ix_shop_orders_received_at", "received_at"),
    )

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    source: Mapped[str | None] = mapped_column(String(16))
    customer_key: Mapped[str | None] = mapped_column(String(80))
    member_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("members.id"))
    total_minor: Mapped[int | None] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    parts: Mapped[str | None] = mapped_column(Text)
    points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    parked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ShopRefund(Base):
    """A refund the shop sent: ``pending`` until its order arrives, then ``applied`` (points
    taken back), ``netted`` (it came before the order was credited, and lowered what the order
    credits) or ``exceeded`` (it came before its order and would have refunded more than the
    order's total: nothing was done with it)."""

    __tablename__ = "shop_refunds"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "status IN ('pending', 'applied', 'netted', 'exceeded')", name="status_known"
        ),
        CheckConstraint("points_taken >= 0 AND unrecovered >= 0", name="points_not_negative"),
        # The admin chat's latest refunds.
        Index("ix_shop_refunds_received_at", "received_at"),
    )

    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))
    points_taken: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # What the refund should have taken back but the member had already spent.
    unrecovered: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CheckoutHold(Base):
    """Points held for a discount at the shop's checkout: a ledger hold, by the shop's id."""

    __tablename__ = "checkout_holds"

    hold_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    hold_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("holds.id"))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"), index=True)
    points: Mapped[int] = mapped_column(BigInteger)
    value_minor: Mapped[int] = mapped_column(BigInteger)
    # The shop's order the points paid for, once captured.
    order_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- Tasks: ways to earn beyond check-ins and purchases -----------------------------------------


class Task(Base):
    """Something a member does for a reward: join a chat, answer a quiz or survey, or reach a
    challenge's target. ``code`` is the catalog file's stable name for it.

    A channel task names its chat (``chat``: '@name' or a numeric id) and how long a member must
    stay (``keep_hours``); a quiz or survey keeps its question and options in ``poll``; a
    challenge counts ``metric`` up to ``target`` within each ``repeat`` period.
    """

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint("kind IN ('channel', 'quiz', 'survey', 'challenge')", name="kind_known"),
        CheckConstraint("repeat IN ('once', 'day', 'week', 'month')", name="repeat_known"),
        CheckConstraint("reward_points >= 0", name="reward_not_negative"),
        CheckConstraint("reward_points > 0 OR reward_item_id IS NOT NULL", name="reward_something"),
        CheckConstraint(
            "metric IS NULL OR metric IN ('checkins', 'spend', 'redeem', 'invites', 'shop')",
            name="metric_known",
        ),
        CheckConstraint("target IS NULL OR target > 0", name="target_positive"),
        Index("ix_tasks_kind", "kind", "metric"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    titles: Mapped[dict[str, str]] = mapped_column(Texts, default=dict, server_default=_NO_TEXTS)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    descriptions: Mapped[dict[str, str]] = mapped_column(
        Texts, default=dict, server_default=_NO_TEXTS
    )
    reward_points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reward_item_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("items.id"))
    repeat: Mapped[str] = mapped_column(String(8), default="once", server_default="once")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    min_tier: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    chat: Mapped[str | None] = mapped_column(String(100))
    chat_link: Mapped[str | None] = mapped_column(String(200))
    keep_hours: Mapped[int | None] = mapped_column(Integer)
    # {"question", "options", "correct", "explanation", "texts": {lang: {question, options,
    # explanation}}}; "correct" is set for a quiz, and "paid_if_wrong" says whether a wrong
    # answer still earns.
    poll: Mapped[dict[str, object]] = mapped_column(JSON, default=dict, server_default=_NO_TEXTS)
    metric: Mapped[str | None] = mapped_column(String(16))
    target: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TaskCompletion(Base):
    """A task a member completed in one period (``ever``, a day, an ISO week or a month), and
    its reward: at most one per task, member and period, paid in the completing transaction.

    A channel task is watched until ``watch_until``: leaving before it takes the reward back
    (``revoked_at``, with what could be taken and what the member had already spent).
    """

    __tablename__ = "task_completions"
    __table_args__ = (
        CheckConstraint(
            "points >= 0 AND points_taken >= 0 AND unrecovered >= 0", name="points_not_negative"
        ),
        Index("uq_task_completions_period", "task_id", "member_id", "period", unique=True),
        Index("ix_task_completions_member", "member_id", "completed_at"),
        # /stats and the export read a window of completions; risk control the last hours.
        Index("ix_task_completions_completed", "completed_at"),
        Index("ix_task_completions_watch", "watch_until"),
        Index("ix_task_completions_unnotified", "notified_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tasks.id"))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    period: Mapped[str] = mapped_column(String(16))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    points: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Points the daily earning cap kept back from the reward.
    capped: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The prize item given (a completed redemption for 0 points), if the task gives one.
    redemption_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("redemptions.id"))
    # The prize item had no unit (or code) left when the task was completed.
    prize_missing: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    watch_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the tasks job last asked Telegram whether the member is still in the chat.
    watch_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    points_taken: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    unrecovered: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # When the member was told (NULL: the tasks job will tell them).
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TaskPoll(Base):
    """A quiz or survey sent to a member as a Telegram poll, by the poll's id, and their answer."""

    __tablename__ = "task_polls"
    __table_args__ = (Index("uq_task_polls_period", "task_id", "member_id", "period", unique=True),)

    poll_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tasks.id"))
    member_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("members.id"))
    period: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The options chosen (a JSON list), once answered; the first answer counts.
    answer: Mapped[list[int] | None] = mapped_column(JSON)
    correct: Mapped[bool | None] = mapped_column(Boolean)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Roll-ups of closed business days (core.reporting.rollups) ------------------------------------


class RollupDay(Base):
    """A business day rolled up: its row says the day's other roll-ups are written.

    ``checkins`` (for the day), ``makeups`` (bought that day) and ``active_members`` as
    ``core.reporting.reports.DayFigures`` has them.
    """

    __tablename__ = "rollup_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    checkins: Mapped[int] = mapped_column(BigInteger)
    makeups: Mapped[int] = mapped_column(BigInteger)
    active_members: Mapped[int] = mapped_column(BigInteger)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class _Flows:
    """Transfers by pair of books and code: ``source`` and ``destination`` are a system
    account's id, or 0 for any member; how many, and how many points."""

    source: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    destination: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    transfers: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class RollupFlow(_Flows, Base):
    """A day's transfers by pair of books and code."""

    __tablename__ = "rollup_flows"

    day: Mapped[date] = mapped_column(Date, primary_key=True)


class RollupRedemption(Base):
    """Redemptions made on a day, by item and their status now (kept current by
    ``core.reporting.rollups.restate_redemption`` when a status changes later)."""

    __tablename__ = "rollup_redemptions"
    __table_args__ = (
        CheckConstraint("redemptions >= 0 AND points >= 0", name="counts_not_negative"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    item_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("items.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    redemptions: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)


class RollupBoxDraw(Base):
    """A day's box draws by prize: how many, points spent and won, how many by guarantee."""

    __tablename__ = "rollup_box_draws"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    prize_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("box_prizes.id"), primary_key=True)
    box_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("blind_boxes.id"))
    draws: Mapped[int] = mapped_column(BigInteger)
    spent: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger)
    guaranteed: Mapped[int] = mapped_column(BigInteger)


class RollupHour(Base):
    """An hour of an open business day rolled up (``core.reporting.rollup_hours``): from ``hour`` to
    ``ends`` (UTC), both within ``day``; its check-ins (for ``day``) and make-ups bought."""

    __tablename__ = "rollup_hours"
    __table_args__ = (Index("ix_rollup_hours_day", "day", "hour"),)

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    ends: Mapped[datetime] = mapped_column(UTCDateTime)
    day: Mapped[date] = mapped_column(Date)
    checkins: Mapped[int] = mapped_column(BigInteger)
    makeups: Mapped[int] = mapped_column(BigInteger)
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RollupHourFlow(_Flows, Base):
    """An hour's transfers by pair of books and code."""

    __tablename__ = "rollup_hour_flows"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class RollupDayMember(Base):
    """A member active in a rolled-up hour of an open day: the day's distinct active members
    are these and the ones the time since adds."""

    __tablename__ = "rollup_day_members"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class Birthday(Base):
    """A member's birthday (day and month, no year), told once; ``paid_year`` is the last year
    its points were paid, so the job pays each member once a year however often it runs."""

    __tablename__ = "birthdays"
    __table_args__ = (
        CheckConstraint("month BETWEEN 1 AND 12", name="month_valid"),
        CheckConstraint("day BETWEEN 1 AND 31", name="day_valid"),
        # The job's lookup: today's birthdays.
        Index("ix_birthdays_month_day", "month", "day"),
    )

    member_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("members.id"), primary_key=True, autoincrement=False
    )
    month: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_year: Mapped[int | None] = mapped_column(Integer)


class MemberDayRule(Base):
    """A recurring promotion ("member day"): on each day of month ``day_of_month`` (or each
    ``weekday``, 0 = Monday) between ``starts_on`` and ``ends_on``, what ``applies_to`` pays
    (a check-in's reward, a shop order's points) is multiplied by ``percent`` / 100.

    (``member_days`` is something else: what each member earned on each day.)
    """

    __tablename__ = "member_day_rules"
    __table_args__ = (
        CheckConstraint("percent > 100 AND percent <= 1000", name="percent_valid"),
        CheckConstraint("applies_to IN ('checkin', 'shop')", name="applies_to_known"),
        CheckConstraint("(day_of_month IS NULL) <> (weekday IS NULL)", name="one_rule"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    names: Mapped[dict[str, str]] = mapped_column(Texts, default=dict, server_default=_NO_TEXTS)
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    weekday: Mapped[int | None] = mapped_column(Integer)
    applies_to: Mapped[str] = mapped_column(String(8))
    percent: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
