"""Member days: recurring promotions that multiply what a check-in or a shop order pays.

A rule falls on a day of the month (``day_of_month``: every 8th) or a weekday (0 = Monday),
optionally only from ``starts_on`` until ``ends_on`` (inclusive, the mall's calendar). Rules
come from the catalog file (``[[member_days]]``, by name) and from the admin chat, and live in
``member_day_rules``: they are read when a check-in or an order is paid, so a change needs no
restart. Admin changes are audited in their own transaction.

How a bonus is paid:

- The multiplier applies to the reward of the cause only (the check-in's streak reward, the
  order's purchase points), never to other bonuses of the same request (an invite reward).
- Several rules on one day do not stack: the highest multiplier wins.
- The extra points are ``floor(base * percent / 100) - base``: a multiplier of 1.5 on 15
  points pays 7 more (22 in all); a fraction of a point is never paid.
- The extra is its own transfer (code ``member_day``) through :func:`core.points.earning.earn`, so
  the daily cap and tier expiry apply to it as to the points it multiplies, and risk control
  counts it as earned. Its key is ``member-day:<the cause's key>``, so a replayed check-in or
  order never pays it twice; its reference ends in ``:x<multiplier>`` (``checkin:2026-12-08:x2``)
  for the history's "Member day ×2".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Literal

from sqlalchemy import Exists, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import MemberDayRule
from core.errors import InvalidInput, MallError, MemberDayExists, UnknownMemberDay
from core.points import rules
from core.points.earning import earn
from core.points.ledger import MemberLock
from core.reporting.audit import write_entry

AppliesTo = Literal["checkin", "shop"]
APPLIES_TO: tuple[AppliesTo, ...] = ("checkin", "shop")
BONUS_CODE = "member_day"
# A multiplier is kept in hundredths: 200 is x2, 150 is x1.5. Above 1, at most 10.
MIN_PERCENT, MAX_PERCENT = 101, 1000


@dataclass(frozen=True)
class MemberDaySpec:
    """A member day as an admin or the catalog file gives it; exactly one of ``day_of_month``
    (1-31; a month without that day has none) and ``weekday`` (0 = Monday to 6 = Sunday)."""

    name: str
    applies_to: str
    multiplier: Decimal
    day_of_month: int | None = None
    weekday: int | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    starts_on: date | None = None
    ends_on: date | None = None
    active: bool = True


@dataclass(frozen=True)
class MemberDayView:
    rule_id: int
    name: str
    names: dict[str, str]
    day_of_month: int | None
    weekday: int | None
    applies_to: str
    percent: int
    starts_on: date | None
    ends_on: date | None
    active: bool

    @property
    def multiplier(self) -> str:
        """The multiplier as people write it: ``2``, ``1.5``."""
        return multiplier_text(self.percent)

    def falls_on(self, day: date) -> bool:
        """Whether the rule is on for ``day`` (paused rules never are)."""
        if not self.active:
            return False
        if self.starts_on is not None and day < self.starts_on:
            return False
        if self.ends_on is not None and day > self.ends_on:
            return False
        if self.day_of_month is not None:
            return day.day == self.day_of_month
        return day.weekday() == self.weekday


@dataclass(frozen=True)
class MemberDayBonus:
    """What a member day added to a check-in or an order: ``points`` granted (``capped`` cut
    by the daily cap), under the rule named ``name`` (``names`` by language)."""

    rule_id: int
    name: str
    names: dict[str, str]
    multiplier: str
    points: int
    capped: int
    balance: int


def multiplier_text(percent: int) -> str:
    value = Decimal(percent) / 100
    return format(value.normalize(), "f")


def to_percent(multiplier: object, *, field: str = "multiplier") -> int:
    """A multiplier (2, 1.5, "1.25") as hundredths, above 1 and at most 10."""
    if isinstance(multiplier, bool) or not isinstance(multiplier, int | float | Decimal | str):
        raise InvalidInput(f"{field} must be a number such as 2 or 1.5", field=field)
    try:
        number = Decimal(str(multiplier).strip())
    except InvalidOperation:
        raise InvalidInput(f"{field} must be a number such as 2 or 1.5", field=field) from None
    if not number.is_finite():
        raise InvalidInput(f"{field} must be a number such as 2 or 1.5", field=field)
    percent = number * 100
    if percent != percent.to_integral_value():
        raise InvalidInput(f"{field} has more than 2 decimals, got {multiplier}", field=field)
    if not MIN_PERCENT <= percent <= MAX_PERCENT:
        raise InvalidInput(f"{field} must be above 1 and at most 10, got {multiplier}", field=field)
    return int(percent)


def spec_problems(spec: MemberDaySpec) -> list[tuple[str, str]]:
    """Everything wrong with ``spec``, as (field, what is wrong)."""
    problems: list[tuple[str, str]] = []
    try:
        validation.text(spec.name, field="name", max_length=64)
    except MallError:
        problems.append(("name", "must be text of 1-64 characters"))
    problems += validation.texts_problems("names", spec.names, 64)
    if spec.applies_to not in APPLIES_TO:
        problems.append(("applies_to", "must be 'checkin' or 'shop'"))
    try:
        to_percent(spec.multiplier)
    except InvalidInput as error:
        problems.append(("multiplier", str(error).removeprefix("multiplier ")))
    if (spec.day_of_month is None) == (spec.weekday is None):
        problems.append(("day_of_month", "give exactly one of day_of_month and weekday"))
    elif spec.day_of_month is not None and (
        isinstance(spec.day_of_month, bool)
        or not isinstance(spec.day_of_month, int)
        or not 1 <= spec.day_of_month <= 31
    ):
        problems.append(("day_of_month", "must be a day of the month, 1 to 31"))
    elif spec.weekday is not None and (
        isinstance(spec.weekday, bool)
        or not isinstance(spec.weekday, int)
        or not 0 <= spec.weekday <= 6
    ):
        problems.append(("weekday", "must be 0 (Monday) to 6 (Sunday)"))
    if spec.starts_on is not None and spec.ends_on is not None and spec.ends_on < spec.starts_on:
        problems.append(("until", "must not be before from"))
    return problems


def _values(spec: MemberDaySpec) -> dict[str, Any]:
    problems = spec_problems(spec)
    if problems:
        where, what = problems[0]
        raise InvalidInput(f"{where} {what}", field=where)
    return {
        "name": spec.name.strip(),
        "names": validation.clean_texts(spec.names),
        "day_of_month": spec.day_of_month,
        "weekday": spec.weekday,
        "applies_to": spec.applies_to,
        "percent": to_percent(spec.multiplier),
        "starts_on": spec.starts_on,
        "ends_on": spec.ends_on,
        "active": spec.active,
    }


def _view(row: Any) -> MemberDayView:
    return MemberDayView(
        rule_id=int(row.id),
        name=row.name,
        names=dict(row.names or {}),
        day_of_month=row.day_of_month,
        weekday=row.weekday,
        applies_to=row.applies_to,
        percent=int(row.percent),
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        active=bool(row.active),
    )


def _audited(view: MemberDayView) -> dict[str, Any]:
    return {
        "name": view.name,
        "rule": f"day {view.day_of_month}"
        if view.day_of_month is not None
        else f"weekday {view.weekday}",
        "applies_to": view.applies_to,
        "multiplier": view.multiplier,
        "active": view.active,
    }


def any_rule_for(applies_to: AppliesTo) -> Exists:
    """Whether any active rule applies to ``applies_to``: false means :func:`pay_bonus` pays
    nothing whatever the day (use cases fold it into their lock read)."""
    return (
        select(MemberDayRule.id)
        .where(MemberDayRule.active.is_(True), MemberDayRule.applies_to == applies_to)
        .exists()
    )


async def rules_on(conn: AsyncConnection, day: date) -> list[MemberDayView]:
    """The active rules that fall on ``day``, the highest multiplier first."""
    rows = (
        await conn.execute(
            select(MemberDayRule)
            .where(MemberDayRule.active.is_(True))
            .order_by(MemberDayRule.percent.desc(), MemberDayRule.id)
        )
    ).all()
    return [view for view in map(_view, rows) if view.falls_on(day)]


async def pay_bonus(
    conn: AsyncConnection,
    config: Config,
    member: MemberLock,
    *,
    applies_to: AppliesTo,
    base: int,
    cause_key: str,
    reference: str,
    now: datetime,
    day: date | None = None,
) -> MemberDayBonus | None:
    """Pay the member-day extra on ``base`` points (inside the cause's transaction, the member
    locked by the caller) if a rule is on ``day`` (by default today); None when no rule is on
    or the extra rounds to nothing."""
    if base <= 0:
        return None
    if day is None:
        day = rules.business_day(now, config.mall.timezone)
    found = [rule for rule in await rules_on(conn, day) if rule.applies_to == applies_to]
    if not found:
        return None
    rule = found[0]
    total = (Decimal(base) * rule.percent / 100).to_integral_value(rounding=ROUND_FLOOR)
    extra = int(total) - base
    if extra <= 0:
        return None
    earned = await earn(
        conn,
        config,
        member,
        amount=extra,
        code=BONUS_CODE,
        reference=f"{reference}:x{rule.multiplier}",
        key=f"member-day:{cause_key}",
        now=now,
    )
    return MemberDayBonus(
        rule.rule_id,
        rule.name,
        rule.names,
        rule.multiplier,
        earned.granted,
        earned.capped,
        earned.balance,
    )


async def upsert_rules(conn: AsyncConnection, specs: list[MemberDaySpec], now: datetime) -> int:
    """The catalog file's member days, by name: inserted or updated; returns how many changed."""
    changed = 0
    for spec in specs:
        values = _values(spec)
        row = (
            await conn.execute(select(MemberDayRule).where(MemberDayRule.name == values["name"]))
        ).first()
        if row is None:
            await conn.execute(insert(MemberDayRule).values(**values, created_at=now))
            changed += 1
        elif any(getattr(row, key) != value for key, value in values.items()):
            await conn.execute(
                update(MemberDayRule).where(MemberDayRule.id == row.id).values(**values)
            )
            changed += 1
    return changed


class MemberDays:
    """Member days as admins keep them; what members get is paid by the check-in and the shop."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def list(self) -> tuple[MemberDayView, ...]:
        """Every member day, paused ones too, by name."""
        async with self.db.read() as conn:
            rows = (await conn.execute(select(MemberDayRule).order_by(MemberDayRule.name))).all()
        return tuple(map(_view, rows))

    async def on(self, now: datetime) -> tuple[MemberDayView, ...]:
        """The member days on today (the mall's calendar), the highest multiplier first."""
        validation.instant(now)
        day = rules.business_day(now, self.config.mall.timezone)
        async with self.db.read() as conn:
            return tuple(await rules_on(conn, day))

    async def get(self, rule_id: int) -> MemberDayView:
        async with self.db.read() as conn:
            return await _get(conn, rule_id)

    async def add(self, actor_id: int, spec: MemberDaySpec, now: datetime) -> MemberDayView:
        """Add a member day (audited); a name already taken is refused."""
        validation.instant(now)
        values = _values(spec)
        async with self.db.write() as conn:
            taken = (
                await conn.execute(
                    select(MemberDayRule.id).where(MemberDayRule.name == values["name"])
                )
            ).first()
            if taken is not None:
                raise MemberDayExists(f"a member day is named {values['name']!r}", name=spec.name)
            rule_id = (
                await conn.execute(
                    insert(MemberDayRule)
                    .values(**values, created_at=now)
                    .returning(MemberDayRule.id)
                )
            ).scalar_one()
            view = await _get(conn, int(rule_id))
            await write_entry(
                conn,
                actor_id=actor_id,
                action="member_day_add",
                target=f"member_day:{view.rule_id}",
                now=now,
                after=_audited(view),
            )
            return view

    async def set_active(
        self, actor_id: int, rule_id: int, active: bool, now: datetime
    ) -> MemberDayView:
        """Pause (or resume) a member day, audited."""
        validation.instant(now)
        async with self.db.write() as conn:
            before = await _get(conn, rule_id, lock=True)
            await conn.execute(
                update(MemberDayRule).where(MemberDayRule.id == rule_id).values(active=active)
            )
            after = await _get(conn, rule_id)
            await write_entry(
                conn,
                actor_id=actor_id,
                action="member_day_resume" if active else "member_day_pause",
                target=f"member_day:{rule_id}",
                now=now,
                before=_audited(before),
                after=_audited(after),
            )
            return after

    async def remove(self, actor_id: int, rule_id: int, now: datetime) -> MemberDayView:
        """Remove a member day for good, audited (bonuses it paid stay in the ledger)."""
        validation.instant(now)
        async with self.db.write() as conn:
            before = await _get(conn, rule_id, lock=True)
            await conn.execute(delete(MemberDayRule).where(MemberDayRule.id == rule_id))
            await write_entry(
                conn,
                actor_id=actor_id,
                action="member_day_remove",
                target=f"member_day:{rule_id}",
                now=now,
                before=_audited(before),
            )
            return before


async def _get(conn: AsyncConnection, rule_id: int, *, lock: bool = False) -> MemberDayView:
    if isinstance(rule_id, bool) or not isinstance(rule_id, int):
        raise InvalidInput("rule_id must be an integer", field="rule_id")
    query = select(MemberDayRule).where(MemberDayRule.id == rule_id)
    if lock:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise UnknownMemberDay(f"no member day {rule_id}", rule_id=rule_id)
    return _view(row)
