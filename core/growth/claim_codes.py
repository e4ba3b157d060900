"""Claim codes: batches of one-time codes worth points, printed or handed out by the mall.

An admin generates a batch (how many, points each, until when); each code credits the first
member who claims it (``/claim CODE`` or the deep link ``/start c-CODE``), and no one after.

- Codes are 12 characters of Crockford's base 32 (``0-9 A-Z`` without ``I L O U``): 60 random
  bits from the system's secure source, easy to read off a card, and short enough for a
  ``/start`` payload. Typing is forgiving: case, spaces and dashes do not matter, and ``O``,
  ``I`` and ``L`` are read as ``0``, ``1``, ``1``.
- The database keeps only each code's SHA-256: the codes leave once, in the result of
  :meth:`ClaimCodes.generate` (the admin's CSV and QR sheet), so a copy of the database holds
  nothing anyone could claim. A lost sheet cannot be printed again; a new batch is made instead.
- A claim credits the points through the ledger (issuance, key ``claim:<code id>``: one credit
  per code whatever happens), as a lot expiring by the member's tier; they do not count toward
  the daily earning cap or the tier window, as a sign-up bonus does not. The code row is taken
  with a conditional update, so of two members claiming one code at once exactly one wins; the
  same member claiming again is told what they got, and nothing moves.
- Every wrong code is recorded. ``[risk] wrong_claims_limit`` wrong codes within
  ``wrong_claims_window_minutes`` (counted since any earlier lock ended) lock claiming for
  ``claim_lock_minutes`` and raise a risk flag (``core.membership.risk``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import ClaimAttempt, ClaimBatch, ClaimCode, ClaimLock
from core.errors import (
    AlreadyClaimed,
    BatchExists,
    ClaimExpired,
    ClaimLocked,
    InvalidAmount,
    InvalidInput,
    MallError,
    UnknownClaimCode,
)
from core.membership.risk import WRONG_CLAIMS, raise_flag
from core.points.earning import earn
from core.points.ledger import MemberLock, lock_member
from core.reporting.audit import write_entry

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
MAX_BATCH = 1000
MAX_POINTS = 1_000_000
MAX_PAGE = 50
# What a member may type for a code: letters, digits, and separators that are dropped.
_TYPED = re.compile(r"[A-Za-z0-9\s-]{1,40}")
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    """A fresh claim code from the system's secure random source."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(typed: str) -> str | None:
    """The code as generated, from what a member typed; None if it cannot be one."""
    if not isinstance(typed, str) or not _TYPED.fullmatch(typed.strip()):
        return None
    code = re.sub(r"[\s-]", "", typed).upper().translate(_LOOKALIKES)
    if len(code) != CODE_LENGTH or any(c not in ALPHABET for c in code):
        return None
    return code


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class GeneratedBatch:
    """A new batch with its codes in clear: the only time they are ever seen."""

    batch_id: int
    count: int
    points: int
    expires_at: datetime
    created_at: datetime
    codes: tuple[str, ...]


@dataclass(frozen=True)
class BatchSummary:
    """A batch as the admin's list shows it: how many of its codes were claimed."""

    batch_id: int
    count: int
    points: int
    expires_at: datetime
    created_by: int
    created_at: datetime
    claimed: int


@dataclass(frozen=True)
class ClaimResult:
    """A claim that credited ``points`` (``repeated``: this member had claimed it before)."""

    batch_id: int
    points: int
    balance: int
    repeated: bool


class ClaimCodes:
    """Generating batches of claim codes, listing them, and members claiming codes."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def generate(
        self,
        actor_id: int,
        count: int,
        points: int,
        expires_at: datetime,
        now: datetime,
        *,
        key: str | None = None,
    ) -> GeneratedBatch:
        """Make ``count`` codes worth ``points`` each, claimable until ``expires_at``; audited.

        ``key`` names the request (a confirm button's token): asked again, it refuses with
        :class:`BatchExists` rather than make a second batch, since the first one's codes
        cannot be shown again.
        """
        _count(count)
        validation.amount(points, field="points")
        if points > MAX_POINTS:
            raise InvalidAmount(f"points must be at most {MAX_POINTS}", field="points")
        validation.instant(now)
        validation.instant(expires_at, field="expires_at")
        if expires_at <= now:
            raise InvalidInput("expires_at is not in the future", field="expires_at")
        batch_key = validation.key(key) if key is not None else f"batch:{secrets.token_hex(8)}"
        if len(batch_key) > 64:
            raise InvalidInput("key must be at most 64 characters", field="key")
        codes = tuple(new_code() for _ in range(count))

        async def work(conn: AsyncConnection) -> GeneratedBatch:
            existing = (
                await conn.execute(select(ClaimBatch.id).where(ClaimBatch.key == batch_key))
            ).scalar_one_or_none()
            if existing is not None:
                raise BatchExists(f"batch {existing} was made for {batch_key}", batch_id=existing)
            batch_id = (
                await conn.execute(
                    insert(ClaimBatch)
                    .values(
                        key=batch_key,
                        count=count,
                        points=points,
                        expires_at=expires_at,
                        created_by=actor_id,
                        created_at=now,
                    )
                    .returning(ClaimBatch.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(ClaimCode),
                [{"batch_id": batch_id, "code_hash": code_hash(code)} for code in codes],
            )
            await write_entry(
                conn,
                actor_id=actor_id,
                action="claims.generate",
                target=f"claims:batch-{batch_id}",
                now=now,
                after={"count": count, "points": points, "expires_at": expires_at.isoformat()},
            )
            return GeneratedBatch(int(batch_id), count, points, expires_at, now, codes)

        return await self.db.transact(work)

    async def batches(self, limit: int = 10) -> tuple[BatchSummary, ...]:
        """The newest batches first, each with how many of its codes were claimed."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
        claimed = (
            select(func.count(ClaimCode.id))
            .where(ClaimCode.batch_id == ClaimBatch.id, ClaimCode.claimed_by.is_not(None))
            .scalar_subquery()
        )
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        ClaimBatch.id,
                        ClaimBatch.count.label("size"),
                        ClaimBatch.points,
                        ClaimBatch.expires_at,
                        ClaimBatch.created_by,
                        ClaimBatch.created_at,
                        claimed.label("claimed"),
                    )
                    .order_by(ClaimBatch.id.desc())
                    .limit(limit)
                )
            ).all()
        return tuple(
            BatchSummary(
                int(row.id),
                int(row.size),
                int(row.points),
                row.expires_at,
                int(row.created_by),
                row.created_at,
                int(row.claimed),
            )
            for row in rows
        )

    async def claim(self, member_id: int, code: str, now: datetime) -> ClaimResult:
        """Credit the code's points to the member who claims it first.

        Refuses an unknown code (:class:`UnknownClaimCode`, counted), an expired one, one
        someone else claimed (:class:`AlreadyClaimed`), and any claim while locked after too
        many wrong codes (:class:`ClaimLocked`, with ``until``).
        """
        validation.member_id(member_id)
        validation.instant(now)
        normalized = normalize(code)
        digest = code_hash(normalized) if normalized is not None else None

        async def work(conn: AsyncConnection) -> ClaimResult | MallError:
            member = await lock_member(conn, member_id)
            until = await self._locked_until(conn, member_id, now)
            if until is not None:
                return ClaimLocked(f"claiming is locked until {until}", until=until)
            row = None
            if digest is not None:
                row = (
                    await conn.execute(
                        select(
                            ClaimCode.id,
                            ClaimCode.batch_id,
                            ClaimCode.claimed_by,
                            ClaimBatch.points,
                            ClaimBatch.expires_at,
                        )
                        .join(ClaimBatch, ClaimBatch.id == ClaimCode.batch_id)
                        .where(ClaimCode.code_hash == digest)
                    )
                ).first()
            if row is None:
                return await self._wrong_code(conn, member, now)
            result = ClaimResult(int(row.batch_id), int(row.points), member.balance, True)
            if row.claimed_by == member_id:
                return result
            if row.claimed_by is not None:
                return AlreadyClaimed("someone claimed this code first")
            if row.expires_at <= now:
                return ClaimExpired("the code has expired", expired_at=row.expires_at)
            taken = (
                await conn.execute(
                    update(ClaimCode)
                    .where(ClaimCode.id == row.id, ClaimCode.claimed_by.is_(None))
                    .values(claimed_by=member_id, claimed_at=now)
                    .returning(ClaimCode.id)
                )
            ).first()
            if taken is None:  # another member's claim committed since we looked
                return AlreadyClaimed("someone claimed this code first")
            earned = await earn(
                conn,
                self.config,
                member,
                amount=int(row.points),
                code="claim",
                reference=f"batch:{row.batch_id}",
                key=f"claim:{row.id}",
                now=now,
                counts_as_earning=False,
            )
            return ClaimResult(int(row.batch_id), earned.granted, earned.balance, False)

        outcome = await self.db.transact(work)
        if isinstance(outcome, MallError):  # raised after the commit: wrong codes stay counted
            raise outcome
        return outcome

    async def _locked_until(
        self, conn: AsyncConnection, member_id: int, now: datetime
    ) -> datetime | None:
        until = (
            await conn.execute(select(ClaimLock.until).where(ClaimLock.member_id == member_id))
        ).scalar_one_or_none()
        return until if until is not None and until > now else None

    async def _wrong_code(
        self, conn: AsyncConnection, member: MemberLock, now: datetime
    ) -> MallError:
        """Count a wrong code; the one that reaches the limit locks claiming and flags."""
        settings = self.config.risk
        member_id = member.member_id
        await conn.execute(insert(ClaimAttempt).values(member_id=member_id, at=now))
        since = now - timedelta(minutes=settings.wrong_claims_window_minutes)
        last_lock = (
            await conn.execute(select(ClaimLock.until).where(ClaimLock.member_id == member_id))
        ).scalar_one_or_none()
        if last_lock is not None and last_lock > since:
            since = last_lock - timedelta(microseconds=1)  # attempts from the lock's end count
        wrong = (
            await conn.execute(
                select(func.count(ClaimAttempt.id)).where(
                    ClaimAttempt.member_id == member_id, ClaimAttempt.at > since
                )
            )
        ).scalar_one()
        left = settings.wrong_claims_limit - int(wrong)
        if left > 0:
            return UnknownClaimCode("no such claim code", attempts_left=left)
        until = now + timedelta(minutes=settings.claim_lock_minutes)
        values: Mapping[str, object] = {"member_id": member_id, "until": until}
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(ClaimLock).values(**values)
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=[ClaimLock.member_id], set_={"until": statement.excluded.until}
            )
        )
        await raise_flag(conn, self.config, member, WRONG_CLAIMS, int(wrong), now)
        return ClaimLocked("too many wrong claim codes", until=until)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH:
        raise InvalidInput(f"count must be 1 to {MAX_BATCH}, got {value!r}", field="count")
    return value
