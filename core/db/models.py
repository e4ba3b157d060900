"""The schema. Money-like rules live here as constraints, not only in Python.

Member accounts use the member's Telegram user id as their id; the mall's own books use small
negative ids (see ``core.accounts``). System accounts keep no running balance: theirs is derived
from the transfers, so no row becomes a hot spot that serializes the mall.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
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

    id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id"), primary_key=True, autoincrement=False
    )
    display_name: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime)
    invited_by: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("members.id"))
    tier: Mapped[str] = mapped_column(String(64))


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
    )

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))
    error_code: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


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
