"""Birthdays: a member tells the day and month once; on the day they get ``[birthday] points``.

- No year is asked: the mall needs none, and a birth year is more than it should keep. The
  row goes when the member erases their account (``core.membership.privacy``).
- Changing it is limited: not before ``[birthday] change_after_days`` since it was last told
  (:class:`BirthdayLocked` says until when). Telling the same date again changes nothing.
- Born on 29 February: paid on 28 February in the years without a 29th.
- Paid by a job (``core.operations.jobs.Jobs.birthdays``) in the mall's time zone: it pays everyone
  whose birthday is today and who was not paid this year, so running it often (or at start) catches
  up a member who told today's date after an earlier run. ``paid_year`` is claimed with a
  conditional update in the payment's transaction and the transfer's key is
  ``birthday:<member>:<year>``: twice the job, two processes at once, or a changed date in
  the same year never pay a second time.
- The points are a gift, not an earning: through :func:`core.points.earning.earn` (so they expire by
  the member's tier, and a frozen member gets nothing) but outside the daily cap and the tier
  window, like the sign-up bonus. Risk control still counts them (they come from issuance).
  A frozen member is skipped while frozen, and paid if unfrozen before the day ends.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Account, Birthday, Member
from core.errors import BirthdayLocked, InvalidInput
from core.operations.outbox import dialect_insert
from core.points import rules
from core.points.earning import Earned, earn
from core.points.ledger import lock_member, require_member

BONUS_CODE = "birthday"
# A year with a 29 February, to check a day against its month.
_LEAP_YEAR = 2000


@dataclass(frozen=True)
class BirthdayView:
    """A member's birthday as they told it; ``changeable_from`` is the first day they may
    change it (today or earlier: now); ``paid_this_year`` whether this year's points went."""

    month: int
    day: int
    set_at: datetime
    changeable_from: date
    paid_this_year: bool
    changed: bool = True


@dataclass(frozen=True)
class DueBirthday:
    member_id: int
    language: str


def check_date(month: object, day: object) -> tuple[int, int]:
    """A day and month that exist in some year (29 February does)."""
    if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
        raise InvalidInput(f"month must be 1 to 12, got {month!r}", field="month")
    days = calendar.monthrange(_LEAP_YEAR, month)[1]
    if isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= days:
        raise InvalidInput(f"day must be 1 to {days} in month {month}, got {day!r}", field="day")
    return month, day


def birthdays_on(day: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays paid on ``day``: 28 February also pays 29 February's in a
    year without one."""
    found = [(day.month, day.day)]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        found.append((2, 29))
    return found


class Birthdays:
    """A member's birthday: told, changed (within limits), and paid by the job."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    def _view(self, row: Any, today: date, changed: bool = True) -> BirthdayView:
        set_at: datetime = row.set_at
        wait = timedelta(days=self.config.birthday.change_after_days)
        set_on = rules.business_day(set_at, self.config.mall.timezone)
        return BirthdayView(
            month=int(row.month),
            day=int(row.day),
            set_at=set_at,
            changeable_from=set_on + wait,
            paid_this_year=row.paid_year == today.year,
            changed=changed,
        )

    async def get(self, member_id: int, now: datetime) -> BirthdayView | None:
        """The member's birthday, None if they never told it."""
        validation.member_id(member_id)
        today = rules.business_day(now, self.config.mall.timezone)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            row = (
                await conn.execute(select(Birthday).where(Birthday.member_id == member_id))
            ).first()
        return None if row is None else self._view(row, today)

    async def tell(self, member_id: int, month: int, day: int, now: datetime) -> BirthdayView:
        """Set the member's birthday; a change before ``changeable_from`` is refused
        (:class:`BirthdayLocked`), the same date again changes nothing (``changed`` False)."""
        validation.member_id(member_id)
        validation.instant(now)
        month, day = check_date(month, day)
        today = rules.business_day(now, self.config.mall.timezone)
        async with self.db.write() as conn:
            await lock_member(conn, member_id)  # one telling at a time per member
            row = (
                await conn.execute(select(Birthday).where(Birthday.member_id == member_id))
            ).first()
            if row is not None:
                current = self._view(row, today, changed=False)
                if (current.month, current.day) == (month, day):
                    return current
                if today < current.changeable_from:
                    raise BirthdayLocked(
                        f"birthday may change from {current.changeable_from}",
                        until=current.changeable_from.isoformat(),
                    )
                await conn.execute(
                    update(Birthday)
                    .where(Birthday.member_id == member_id)
                    .values(month=month, day=day, set_at=now)
                )
            else:
                await conn.execute(
                    dialect_insert(conn, Birthday).values(
                        member_id=member_id, month=month, day=day, set_at=now, paid_year=None
                    )
                )
            row = (
                await conn.execute(select(Birthday).where(Birthday.member_id == member_id))
            ).one()
            return self._view(row, today)

    async def due(self, now: datetime, *, after: int = 0, limit: int = 500) -> list[DueBirthday]:
        """Members (not frozen, not erased) whose birthday is today and who were not paid this
        year, by id after ``after``."""
        today = rules.business_day(now, self.config.mall.timezone)
        matches = or_(
            *(and_(Birthday.month == m, Birthday.day == d) for m, d in birthdays_on(today))
        )
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(Birthday.member_id, Member.language)
                    .join(Member, Member.id == Birthday.member_id)
                    .join(Account, Account.id == Birthday.member_id)
                    .where(
                        matches,
                        or_(Birthday.paid_year.is_(None), Birthday.paid_year < today.year),
                        Member.deleted_at.is_(None),
                        Account.frozen.is_(False),
                        Birthday.member_id > after,
                    )
                    .order_by(Birthday.member_id)
                    .limit(limit)
                )
            ).all()
        return [DueBirthday(int(row.member_id), row.language) for row in rows]


async def pay(
    conn: AsyncConnection, config: Config, member_id: int, now: datetime
) -> Earned | None:
    """Pay this year's birthday points inside the caller's transaction; None if they were paid
    already (another run got there first), the birthday is not today, or the member is frozen."""
    points = config.birthday.points
    today = rules.business_day(now, config.mall.timezone)
    member = await lock_member(conn, member_id)
    if member.frozen or not points:
        return None
    matches = or_(*(and_(Birthday.month == m, Birthday.day == d) for m, d in birthdays_on(today)))
    claimed = await conn.execute(
        update(Birthday)
        .where(
            Birthday.member_id == member_id,
            matches,
            or_(Birthday.paid_year.is_(None), Birthday.paid_year < today.year),
        )
        .values(paid_year=today.year)
    )
    if not claimed.rowcount:
        return None
    return await earn(
        conn,
        config,
        member,
        amount=points,
        code=BONUS_CODE,
        reference=str(today.year),
        key=f"birthday:{member_id}:{today.year}",
        now=now,
        counts_as_earning=False,
    )
