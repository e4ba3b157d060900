"""Inviting friends: invite codes for ``/start`` links, attribution, and rewards for both sides.

A member's invite code goes into their link (``/start CODE``). The friend who first starts the
bot through it is attributed to them, once, inside the friend's join (:func:`attribute`). Both
are rewarded when the friend qualifies (``[referrals] qualify_on``: on joining, after a number
of check-ins, after the first redemption, or after the first purchase; :func:`qualify` runs
inside those transactions).

Rules worth knowing:

- No cycles. Attribution happens only in the invitee's join, to a member who has invited
  nobody yet and has no referral of their own, so the last link of any would-be cycle is
  always refused.
- The monthly cap counts a referrer's invites that paid a reward this calendar month (mall
  time). Over the cap an invite is marked ``capped``: recorded and listed, nobody paid.
- A frozen side's reward is skipped, not postponed, and the referral completes for the other
  side: freezing is how an admin stops a suspected fraud, which should not collect its invite
  rewards on being unfrozen, while the honest friend it invited keeps theirs.
- The invitee's own transaction never fails or deadlocks because of the referrer: see
  :func:`_lock_referrer`. A reward that could not be settled there stays pending and is
  settled by the invitee's next event or by :meth:`Referrals.settle_qualified` (a job).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config, ReferralSettings
from core.db.database import Database
from core.db.models import CheckIn, InviteCode, Member, Order, Redemption, Referral, Transfer
from core.db.prepared import Prepared
from core.errors import InvalidInput, UnknownMember
from core.growth.task_rewards import advance
from core.points import rules
from core.points.earning import earn
from core.points.ledger import MemberLock, lock_member, require_member

ReferralEvent = Literal["checkin", "redemption", "purchase"]

# 10 characters of 64 give 60 random bits: unguessable, and short enough to type.
_CODE_ALPHABET = string.ascii_letters + string.digits + "_-"
_CODE_LENGTH = 10
_CODE_ATTEMPTS = 5
# Telegram's deep-link payload: at most 64 characters of A-Za-z0-9_-.
_CODE_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Redemption statuses that mean the member got what they redeemed.
_REDEEMED = ("completed", "fulfilled")
# How long the invitee's transaction waits for the referrer's account on PostgreSQL; below
# the server's deadlock_timeout (1 s by default), so our wait gives up before a deadlock is
# declared, and longer than any single-member use case holds an account.
_REFERRER_WAIT = "300ms"
_LOCK_NOT_AVAILABLE, _DEADLOCK_DETECTED = "55P03", "40P01"


def new_invite_code() -> str:
    """A fresh invite code from the system's secure random source."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


@dataclass(frozen=True)
class ReferralReward:
    """How a qualified referral was settled: ``rewarded`` (points as shown) or ``capped``.

    A side's points are 0 when it was frozen, its reward is configured as 0, or it was capped.
    ``invitee_balance`` is the invitee's balance after.
    """

    invitee_id: int
    referrer_id: int
    status: str
    invitee_points: int
    referrer_points: int
    invitee_balance: int


@dataclass(frozen=True)
class Invite:
    """One friend a member invited, with where their referral stands."""

    invitee_id: int
    display_name: str
    status: str
    invited_at: datetime


@dataclass(frozen=True)
class PaidInvite:
    """An invite that paid its referrer: who joined, and what the referrer got, when."""

    referrer_id: int
    invitee_id: int
    invitee_name: str
    points: int
    paid_at: datetime


@dataclass(frozen=True)
class InvitePage:
    """A referrer's invites, newest first, with their totals.

    ``counted_this_month`` is how many invites paid a reward this calendar month, against
    ``monthly_cap`` (0: no cap).
    """

    entries: tuple[Invite, ...]
    page: int
    has_more: bool
    pending: int
    rewarded: int
    capped: int
    counted_this_month: int
    monthly_cap: int


class Referrals:
    """Invite codes, and what a referrer sees of the friends they invited."""

    def __init__(
        self, db: Database, config: Config, *, new_code: Callable[[], str] = new_invite_code
    ) -> None:
        self.db = db
        self.config = config
        self._new_code = new_code

    async def invite_code(self, member_id: int) -> str:
        """The member's invite code: made on the first ask, the same ever after."""
        validation.member_id(member_id)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            code = await _code_of(conn, member_id)
        if code is not None:
            return code
        for _ in range(_CODE_ATTEMPTS):
            async with self.db.write() as conn:
                insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                # Whichever unique key conflicts (a concurrent first ask, or the rare code that
                # is taken), nothing is written; the read below tells which.
                await conn.execute(
                    insert_(InviteCode)
                    .values(member_id=member_id, code=self._new_code())
                    .on_conflict_do_nothing()
                )
                code = await _code_of(conn, member_id)
            if code is not None:
                return code
        raise RuntimeError(f"no free invite code after {_CODE_ATTEMPTS} attempts")

    async def resolve(self, code: object) -> int | None:
        """The member whose invite code this is; None for a malformed or unknown code."""
        if not isinstance(code, str) or _CODE_SHAPE.fullmatch(code) is None:
            return None
        async with self.db.read() as conn:
            found = (
                await conn.execute(select(InviteCode.member_id).where(InviteCode.code == code))
            ).scalar_one_or_none()
        return int(found) if found is not None else None

    async def invites(
        self, referrer_id: int, now: datetime, page: int = 0, page_size: int = 10
    ) -> InvitePage:
        """The friends the member invited, newest first, and how this month counts."""
        validation.member_id(referrer_id)
        validation.instant(now)
        if isinstance(page, bool) or not isinstance(page, int) or page < 0:
            raise InvalidInput(f"page must be a whole number >= 0, got {page!r}", field="page")
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= 100
        ):
            raise InvalidInput("page_size must be 1-100", field="page_size")
        async with self.db.read() as conn:
            await require_member(conn, referrer_id)
            rows = (
                await conn.execute(
                    select(
                        Referral.invitee_id,
                        Member.display_name,
                        Referral.status,
                        Referral.created_at,
                    )
                    .join(Member, Member.id == Referral.invitee_id)
                    .where(Referral.referrer_id == referrer_id)
                    .order_by(Referral.created_at.desc(), Referral.invitee_id.desc())
                    .offset(page * page_size)
                    .limit(page_size + 1)
                )
            ).all()
            by_status = {
                status: int(count)
                for status, count in await conn.execute(
                    select(Referral.status, func.count())
                    .where(Referral.referrer_id == referrer_id)
                    .group_by(Referral.status)
                )
            }
            counted = await _counted_this_month(conn, self.config, referrer_id, now)
        entries = tuple(
            Invite(int(row.invitee_id), row.display_name, row.status, row.created_at)
            for row in rows[:page_size]
        )
        return InvitePage(
            entries=entries,
            page=page,
            has_more=len(rows) > page_size,
            pending=by_status.get("pending", 0),
            rewarded=by_status.get("rewarded", 0),
            capped=by_status.get("capped", 0),
            counted_this_month=counted,
            monthly_cap=self.config.referrals.monthly_cap,
        )

    async def paid_since(self, since: datetime, *, limit: int = 1000) -> tuple[PaidInvite, ...]:
        """Invites whose referrer was paid at or after ``since``, the oldest first (a job tells
        the referrers). Read from the referrers' reward transfers through their ``created_at``
        index (credited to the referrer, their reference the invitee); a frozen referrer, paid
        nothing, is not listed."""
        validation.instant(since)
        async with self.db.read() as conn:
            paid = (
                await conn.execute(
                    select(
                        Transfer.credit_account_id,
                        Transfer.reference,
                        Transfer.amount,
                        Transfer.created_at,
                    )
                    .where(Transfer.created_at >= since, Transfer.code == "referral_referrer")
                    .order_by(Transfer.created_at, Transfer.id)
                    .limit(limit)
                )
            ).all()
            invitees = {int(row.reference) for row in paid}
            found = await conn.execute(
                select(Member.id, Member.display_name).where(Member.id.in_(invitees))
            )
            names = {int(member_id): str(name) for member_id, name in found}
        return tuple(
            PaidInvite(
                referrer_id=int(row.credit_account_id),
                invitee_id=int(row.reference),
                invitee_name=names.get(int(row.reference), ""),
                points=int(row.amount),
                paid_at=row.created_at,
            )
            for row in paid
        )

    async def settle_qualified(
        self, now: datetime, *, batch: int = 500
    ) -> tuple[ReferralReward, ...]:
        """Settle every pending referral whose invitee has qualified (a job; safe to repeat).

        Catches up the rewards that :func:`qualify` had to leave for later. Each referral is
        settled in its own transaction that locks both members in ascending id order.
        """
        validation.instant(now)
        settings = self.config.referrals
        settled: list[ReferralReward] = []
        after = 0
        while True:
            async with self.db.read() as conn:
                due = (
                    await conn.execute(
                        select(Referral.invitee_id, Referral.referrer_id)
                        .where(
                            Referral.status == "pending",
                            Referral.invitee_id > after,
                            _qualifies(settings, Referral.invitee_id),
                        )
                        .order_by(Referral.invitee_id)
                        .limit(batch)
                    )
                ).all()
            for invitee_id, referrer_id in due:
                async with self.db.write() as conn:
                    for member_id in sorted((invitee_id, referrer_id)):
                        await lock_member(conn, member_id)
                    # Checked again under the locks: the invitee's own event may have won.
                    still_due = await _pending_qualified_referrer(conn, settings, invitee_id)
                    reward = (
                        await _settle(
                            conn, self.config, invitee_id, referrer_id, now, referrer_locked=True
                        )
                        if still_due is not None
                        else None
                    )
                if reward is not None:
                    settled.append(reward)
            if len(due) < batch:
                return tuple(settled)
            after = due[-1].invitee_id


async def attribute(
    conn: AsyncConnection,
    config: Config,
    invitee_id: int,
    referrer_id: int | None,
    now: datetime,
) -> str | None:
    """Attribute a newcomer to the member whose link brought them; call inside their join.

    Returns the referral's status (``pending``, or ``rewarded``/``capped`` when the mall
    rewards on joining), or None when nothing was attributed: no or unknown referrer, a
    self-invite, or an invitee who is no newcomer (``now`` is not their join, they were
    attributed already, or they have invited someone).
    """
    validation.member_id(invitee_id)
    validation.instant(now)
    if referrer_id is None or referrer_id == invitee_id:
        return None
    validation.member_id(referrer_id)
    joined_at = (
        await conn.execute(select(Member.joined_at).where(Member.id == invitee_id))
    ).scalar_one_or_none()
    if joined_at is None:
        raise UnknownMember(f"no member {invitee_id}", member_id=invitee_id)
    if joined_at != now:
        return None  # attribution belongs to the join itself, never to a later start
    known = (
        await conn.execute(select(Member.id).where(Member.id == referrer_id))
    ).scalar_one_or_none()
    if known is None:
        return None
    already = (
        await conn.execute(
            select(Referral.invitee_id)
            .where(or_(Referral.invitee_id == invitee_id, Referral.referrer_id == invitee_id))
            .limit(1)
        )
    ).first()
    if already is not None:
        return None
    await conn.execute(
        insert(Referral).values(
            invitee_id=invitee_id, referrer_id=referrer_id, status="pending", created_at=now
        )
    )
    if config.referrals.qualify_on != "join":
        return "pending"
    reward = await _settle(conn, config, invitee_id, referrer_id, now, referrer_locked=False)
    return reward.status if reward is not None else "pending"


async def qualify(
    conn: AsyncConnection,
    config: Config,
    invitee_id: int,
    event: ReferralEvent,
    now: datetime,
) -> ReferralReward | None:
    """Reward the invitee and their referrer if this event qualifies the invitee's referral.

    Call inside the invitee's check-in, redemption or purchase transaction, after the
    invitee's account is locked and the check-in, completed redemption or order is written.
    Returns None when nothing was settled: no pending referral, not qualified yet, or the
    referrer's account was busy (then the next event or :meth:`Referrals.settle_qualified`
    settles it). It may wait for the referrer's account, on PostgreSQL never longer than
    ``_REFERRER_WAIT``.
    """
    validation.member_id(invitee_id)
    validation.instant(now)
    if event not in ("checkin", "redemption", "purchase"):
        raise InvalidInput(f"unknown referral event {event!r}", field="event")
    referrer_id = await _pending_qualified_referrer(conn, config.referrals, invitee_id)
    if referrer_id is None:
        return None
    return await _settle(conn, config, invitee_id, referrer_id, now, referrer_locked=False)


def _qualifies(
    settings: ReferralSettings, invitee: SQLColumnExpression[int]
) -> ColumnElement[bool]:
    """Whether the invitee has done what ``qualify_on`` asks, as SQL."""
    if settings.qualify_on == "checkins":
        checkins = (
            select(func.count())
            .select_from(CheckIn)
            .where(CheckIn.member_id == invitee, CheckIn.makeup.is_(False))
            .scalar_subquery()
        )
        return checkins >= settings.qualify_checkins
    if settings.qualify_on == "redemption":
        return (
            select(Redemption.id)
            .where(
                Redemption.member_id == invitee,
                Redemption.status.in_(_REDEEMED),
            )
            .exists()
        )
    if settings.qualify_on == "purchase":
        # The purchase qualifies when it is credited; a refund later does not take the invite
        # rewards back (a return window before qualifying would be a setting of its own).
        return select(Order.order_id).where(Order.member_id == invitee).exists()
    return true()


def pending_referral(invitee: ColumnElement[int]) -> Select[int]:
    """The invitee's pending referral, if any (use cases fold its ``exists()`` into their lock
    read and skip :func:`qualify` when it is false)."""
    return select(Referral.invitee_id).where(
        Referral.invitee_id == invitee, Referral.status == "pending"
    )


# Whether the invitee has a pending referral at all: built once, so the common case (most
# events are of members with none) costs one cheap, already compiled read.
_HAS_PENDING = Prepared(pending_referral(bindparam("invitee_id")).limit(1))


async def _pending_qualified_referrer(
    conn: AsyncConnection, settings: ReferralSettings, invitee_id: int
) -> int | None:
    """The referrer of the invitee's pending referral, if the invitee has qualified."""
    if await _HAS_PENDING.first(conn, {"invitee_id": invitee_id}) is None:
        return None
    found = (
        await conn.execute(
            select(Referral.referrer_id).where(
                Referral.invitee_id == invitee_id,
                Referral.status == "pending",
                _qualifies(settings, Referral.invitee_id),
            )
        )
    ).scalar_one_or_none()
    return int(found) if found is not None else None


async def _settle(
    conn: AsyncConnection,
    config: Config,
    invitee_id: int,
    referrer_id: int,
    now: datetime,
    *,
    referrer_locked: bool,
) -> ReferralReward | None:
    """Mark a qualified pending referral rewarded (paying both sides) or capped.

    Holds the referrer's lock while counting and marking, so two invitees of one referrer
    qualifying at once cannot both take the last place under the cap.
    """
    referrer = (
        await lock_member(conn, referrer_id)
        if referrer_locked
        else await _lock_referrer(conn, referrer_id)
    )
    if referrer is None:
        return None
    invitee = await lock_member(conn, invitee_id)  # held already: this reads it afresh
    settings = config.referrals
    capped = bool(settings.monthly_cap) and (
        await _counted_this_month(conn, config, referrer_id, now) >= settings.monthly_cap
    )
    status = "capped" if capped else "rewarded"
    claimed = (
        await conn.execute(
            update(Referral)
            .where(Referral.invitee_id == invitee_id, Referral.status == "pending")
            .values(status=status, rewarded_at=now)
            .returning(Referral.invitee_id)
        )
    ).first()
    if claimed is None:
        return None
    # The referrer's lock is held: an invite challenge this friend completes pays now (the
    # tasks job tells the referrer).
    await advance(conn, config, referrer_id, "invites", now)
    if capped:
        return ReferralReward(invitee_id, referrer_id, status, 0, 0, invitee.balance)
    invitee_points, invitee_balance = await _pay(
        conn,
        config,
        invitee,
        settings.invitee_reward,
        invitee_id=invitee_id,
        other=referrer_id,
        now=now,
    )
    referrer_points, _ = await _pay(
        conn,
        config,
        referrer,
        settings.referrer_reward,
        invitee_id=invitee_id,
        other=invitee_id,
        now=now,
    )
    return ReferralReward(
        invitee_id, referrer_id, status, invitee_points, referrer_points, invitee_balance
    )


async def _pay(
    conn: AsyncConnection,
    config: Config,
    member: MemberLock,
    amount: int,
    *,
    invitee_id: int,
    other: int,
    now: datetime,
) -> tuple[int, int]:
    """Credit one side's reward, unless it is 0 or the member is frozen: (points, balance)."""
    if amount == 0 or member.frozen:
        return 0, member.balance
    side = "invitee" if member.member_id == invitee_id else "referrer"
    earned = await earn(
        conn,
        config,
        member,
        amount=amount,
        code=f"referral_{side}",
        reference=str(other),
        # Derived from the invitee alone: a referral pays each side at most once, ever.
        key=f"referral:{invitee_id}:{side}",
        now=now,
        # A bonus, like the sign-up bonus: outside the daily cap and the tier window.
        counts_as_earning=False,
    )
    return earned.granted, earned.balance


async def _lock_referrer(conn: AsyncConnection, referrer_id: int) -> MemberLock | None:
    """Lock the referrer's account from inside the invitee's transaction, or give up: None.

    The house order is member accounts in ascending id order, but the invitee's account is
    locked already by the time we know the referrer, and their ids come in any order. Waiting
    without bound could deadlock on PostgreSQL: a job that locks accounts in ascending id order
    (the expiry run) may hold the referrer's account while it waits for the invitee's, and a
    redemption may hold a hot item row that the referrer's own redemption waits for. Crediting
    by conditional update alone would not help, since the UPDATE takes the same row lock.
    So we wait at most ``_REFERRER_WAIT`` in a savepoint: if the account stays busy (or the
    server declares a deadlock first), the savepoint rolls back, this transaction goes on
    without the reward, and the referral stays pending for the next event or the job, which
    locks both accounts in the house order. Chains of invites (A invited B, B invited C, and B
    and C check in at once) cannot deadlock even unbounded: each waits only for the account of
    someone who joined earlier. SQLite serializes writers, so nothing waits there.
    """
    if conn.dialect.name != "postgresql":
        return await lock_member(conn, referrer_id)
    previous = (await conn.execute(text("SELECT current_setting('lock_timeout')"))).scalar_one()
    set_timeout = text("SELECT set_config('lock_timeout', :wait, true)")
    try:
        async with conn.begin_nested():
            await conn.execute(set_timeout, {"wait": _REFERRER_WAIT})
            referrer = await lock_member(conn, referrer_id)
            await conn.execute(set_timeout, {"wait": previous})
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) not in (_LOCK_NOT_AVAILABLE, _DEADLOCK_DETECTED):
            raise
        return None  # the rollback to the savepoint restored lock_timeout as well
    return referrer


async def _counted_this_month(
    conn: AsyncConnection, config: Config, referrer_id: int, now: datetime
) -> int:
    """The referrer's invites that paid a reward (to either side) in the month of ``now``.

    Derived from the reward transfers (their keys name the invitee), so the count needs no
    column of its own; an invite that paid nobody (both sides frozen) does not count.
    """
    tz = config.mall.timezone
    first = rules.business_day(now, tz).replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    start, end = rules.start_of_day(first, tz), rules.start_of_day(next_first, tz)
    prefix = literal("referral:", String) + cast(Referral.invitee_id, String)
    paid = (
        select(Transfer.id)
        .where(
            or_(Transfer.key == prefix + ":invitee", Transfer.key == prefix + ":referrer"),
            Transfer.created_at >= start,
            Transfer.created_at < end,
        )
        .exists()
    )
    count = (
        await conn.execute(
            select(func.count())
            .select_from(Referral)
            .where(Referral.referrer_id == referrer_id, Referral.status == "rewarded", paid)
        )
    ).scalar_one()
    return int(count)


async def _code_of(conn: AsyncConnection, member_id: int) -> str | None:
    code = (
        await conn.execute(select(InviteCode.code).where(InviteCode.member_id == member_id))
    ).scalar_one_or_none()
    return str(code) if code is not None else None
