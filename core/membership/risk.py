"""Risk control: rules that flag a member for an admin's review, and freezing above a score.

The rules (``[risk]`` in the config; a rule whose score is 0 is off), each measured over recent
activity by one aggregate query over the whole mall:

- ``earned``: points the mall credited a member (issuance and box prizes; admin grants do not
  count) in the last ``earn_window_hours``, over ``earn_limit``.
- ``redemptions``: redemptions a member started in the last hour, over ``redemptions_per_hour``.
- ``invites``: invites of one referrer rewarded in the last ``invite_window_hours``, over
  ``invite_limit``.
- ``wrong_claims``: at least ``wrong_claims_limit`` wrong claim codes within
  ``wrong_claims_window_minutes`` (also raised at once by the claim that locks claiming).
- ``referral_ring``: at least ``ring_min_invitees`` of a referrer's invitees who joined in the
  last ``ring_window_days`` are cash-out accounts: they made no purchase, redeemed something,
  and hold less than ``100 - ring_spent_percent`` % of all the points ever credited to them.
  Such accounts live only to collect the sign-up and invite points and spend them on rewards,
  whose value goes to whoever runs them; it is the referrer who is flagged. The mall has no
  member-to-member transfer, so this is the trace such a ring leaves in the ledger.

A rule that holds opens a flag (one per member and rule, its measure kept up to date); the
member's score is the sum of their open flags' scores. At ``auto_freeze_score`` the member is
frozen at once, with a reason naming the rules, and the audit log says "risk" (actor 0) did it.
An admin then clears the flags (a freeze that risk made is lifted with them) or freezes the
member; either way the activity before that moment counts as reviewed and flags no one again.

Locks: a member's account first, then their flags, as every use case does, so a scan and a
claim that flags the same member cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config, RiskSettings
from core.db.database import Database
from core.db.models import (
    Account,
    ClaimAttempt,
    Member,
    Order,
    Redemption,
    Referral,
    RiskFlag,
    TaskCompletion,
    Transfer,
)
from core.errors import InvalidInput, NotFlagged
from core.points.accounts import SystemAccount
from core.points.ledger import MemberLock, lock_member
from core.reporting.audit import write_entry

# Who the audit log names for what risk control does by itself.
RISK_ACTOR = 0
# The start of the reason risk control gives a freeze; clearing the flags lifts only such one.
AUTO_FREEZE_PREFIX = "risk:"
EARNED = "earned"
REDEMPTIONS = "redemptions"
INVITES = "invites"
TASKS = "tasks"
WRONG_CLAIMS = "wrong_claims"
RING = "referral_ring"
RULES = (EARNED, REDEMPTIONS, INVITES, TASKS, WRONG_CLAIMS, RING)
MAX_PAGE = 50
_SPENT_ON_REWARDS = ("completed", "fulfilled", "awaiting_approval", "awaiting_payment")


def rule_score(settings: RiskSettings, rule: str) -> int:
    """What a rule adds to a member's score (0: the rule is off)."""
    scores = {
        EARNED: settings.earn_score,
        REDEMPTIONS: settings.redemption_score,
        INVITES: settings.invite_score,
        TASKS: settings.task_score,
        WRONG_CLAIMS: settings.wrong_claims_score,
        RING: settings.ring_score,
    }
    return scores[rule]


@dataclass(frozen=True)
class FlagReason:
    """One rule that holds for a member: what it counted, and since when it has held."""

    rule: str
    score: int
    measure: int
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class FlaggedMember:
    member_id: int
    display_name: str
    username: str | None
    score: int
    frozen: bool
    frozen_reason: str | None
    reasons: tuple[FlagReason, ...]


@dataclass(frozen=True)
class FlagList:
    """The flagged members with the highest scores first, and how many there are in all."""

    members: tuple[FlaggedMember, ...]
    total: int


@dataclass(frozen=True)
class ScanReport:
    """What a scan found: the members each rule flagged, and who it froze."""

    flagged: tuple[tuple[str, int], ...]
    frozen: tuple[int, ...]


@dataclass(frozen=True)
class Review:
    """An admin's decision on a flagged member: the rules it closed, and the freeze after."""

    member_id: int
    rules: tuple[str, ...]
    frozen: bool
    frozen_reason: str | None
    # Clearing lifted the freeze that risk control had made.
    lifted: bool = False


async def raise_flag(
    conn: AsyncConnection,
    config: Config,
    member: MemberLock,
    rule: str,
    measure: int,
    now: datetime,
) -> bool:
    """Open (or bring up to date) the member's flag for ``rule``, then freeze the member if
    their open flags now score ``auto_freeze_score``; returns whether they were frozen now.

    Runs in the caller's transaction, which has locked the member (``member``).
    """
    score = rule_score(config.risk, rule)
    if score == 0:
        return False
    await _upsert_flag(conn, member.member_id, rule, score, measure, now)
    return await _freeze_if_over(conn, config, member, now)


async def _upsert_flag(
    conn: AsyncConnection, member_id: int, rule: str, score: int, measure: int, now: datetime
) -> None:
    open_flag = and_(
        RiskFlag.member_id == member_id, RiskFlag.rule == rule, RiskFlag.status == "open"
    )
    updated = await conn.execute(
        update(RiskFlag).where(open_flag).values(score=score, measure=measure, last_at=now)
    )
    if updated.rowcount == 0:
        await conn.execute(
            insert(RiskFlag).values(
                member_id=member_id,
                rule=rule,
                score=score,
                measure=measure,
                status="open",
                first_at=now,
                last_at=now,
            )
        )


async def _freeze_if_over(
    conn: AsyncConnection, config: Config, member: MemberLock, now: datetime
) -> bool:
    threshold = config.risk.auto_freeze_score
    if threshold == 0 or member.frozen:
        return False
    rows = (
        await conn.execute(
            select(RiskFlag.rule, RiskFlag.score)
            .where(RiskFlag.member_id == member.member_id, RiskFlag.status == "open")
            .order_by(RiskFlag.score.desc(), RiskFlag.rule)
        )
    ).all()
    score = sum(int(row.score) for row in rows)
    if score < threshold:
        return False
    rules = [row.rule for row in rows]
    reason = f"{AUTO_FREEZE_PREFIX} {', '.join(rules)} (score {score})"
    await _set_frozen(conn, member.member_id, True, reason)
    await write_entry(
        conn,
        actor_id=RISK_ACTOR,
        action="risk.auto_freeze",
        target=f"member:{member.member_id}",
        now=now,
        before={"frozen": False},
        after={"frozen": True, "reason": reason, "score": score},
    )
    return True


async def _set_frozen(
    conn: AsyncConnection, member_id: int, frozen: bool, reason: str | None
) -> None:
    await conn.execute(
        update(Account).where(Account.id == member_id).values(frozen=frozen, frozen_reason=reason)
    )


class Risk:
    """Scanning for risky activity, the flags it raises, and an admin's review of them."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def scan(self, now: datetime) -> ScanReport:
        """Evaluate every rule over recent activity; open or update flags; freeze above the
        score. Safe to repeat: the scheduled job runs it, and so does ``/flags``."""
        validation.instant(now)
        settings = self.config.risk

        async def work(conn: AsyncConnection) -> ScanReport:
            reviewed = _reviewed()
            found: dict[int, dict[str, int]] = {}
            flagged: list[tuple[str, int]] = []
            for rule, query in _rule_queries(settings, reviewed, now):
                for member_id, measure in (await conn.execute(query)).all():
                    found.setdefault(int(member_id), {})[rule] = int(measure)
                    flagged.append((rule, int(member_id)))
            frozen: list[int] = []
            for member_id in sorted(found):  # one lock order across members: by id
                member = await lock_member(conn, member_id)
                for rule, measure in sorted(found[member_id].items()):
                    await _upsert_flag(
                        conn, member_id, rule, rule_score(settings, rule), measure, now
                    )
                if await _freeze_if_over(conn, self.config, member, now):
                    frozen.append(member_id)
            return ScanReport(tuple(sorted(flagged)), tuple(frozen))

        return await self.db.transact(work)

    async def flags(self, limit: int = 10, *, member_id: int | None = None) -> FlagList:
        """Members with open flags, highest score first (then the longest flagged); or only
        ``member_id``, if they have any."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
        is_open = RiskFlag.status == "open"
        if member_id is not None:
            is_open = and_(is_open, RiskFlag.member_id == validation.member_id(member_id))
        score = func.sum(RiskFlag.score).label("score")
        async with self.db.read() as conn:
            total = (
                await conn.execute(
                    select(func.count(func.distinct(RiskFlag.member_id))).where(is_open)
                )
            ).scalar_one()
            top = (
                await conn.execute(
                    select(RiskFlag.member_id, score, func.min(RiskFlag.first_at).label("since"))
                    .where(is_open)
                    .group_by(RiskFlag.member_id)
                    .order_by(score.desc(), "since", RiskFlag.member_id)
                    .limit(limit)
                )
            ).all()
            ids = [int(row.member_id) for row in top]
            people = {
                int(row.id): row
                for row in await conn.execute(
                    select(
                        Member.id,
                        Member.display_name,
                        Member.username,
                        Account.frozen,
                        Account.frozen_reason,
                    )
                    .join(Account, Account.id == Member.id)
                    .where(Member.id.in_(ids))
                )
            }
            reasons: dict[int, list[FlagReason]] = {}
            for row in await conn.execute(
                select(RiskFlag)
                .where(is_open, RiskFlag.member_id.in_(ids))
                .order_by(RiskFlag.score.desc(), RiskFlag.rule)
            ):
                reasons.setdefault(int(row.member_id), []).append(
                    FlagReason(
                        row.rule, int(row.score), int(row.measure), row.first_at, row.last_at
                    )
                )
        members = tuple(
            FlaggedMember(
                member_id=row.member_id,
                display_name=people[row.member_id].display_name,
                username=people[row.member_id].username,
                score=int(row.score),
                frozen=bool(people[row.member_id].frozen),
                frozen_reason=people[row.member_id].frozen_reason,
                reasons=tuple(reasons.get(row.member_id, ())),
            )
            for row in top
        )
        return FlagList(members, int(total))

    async def clear(self, actor_id: int, member_id: int, now: datetime) -> Review:
        """An admin found nothing wrong: close the member's flags, and lift a freeze that risk
        control made (an admin's own freeze stays). Audited."""
        validation.member_id(member_id)
        validation.instant(now)

        async def work(conn: AsyncConnection) -> Review:
            member = await lock_member(conn, member_id)
            reason = await _frozen_reason(conn, member)
            rules = await _close(conn, member_id, "cleared", actor_id, now)
            lift = member.frozen and (reason or "").startswith(AUTO_FREEZE_PREFIX)
            if lift:
                await _set_frozen(conn, member_id, False, None)
            frozen = member.frozen and not lift
            await write_entry(
                conn,
                actor_id=actor_id,
                action="risk.clear",
                target=f"member:{member_id}",
                now=now,
                before={"flags": ", ".join(rules), "frozen": member.frozen},
                after={"flags": "", "frozen": frozen},
            )
            return Review(member_id, rules, frozen, reason if frozen else None, lift)

        return await self.db.transact(work)

    async def freeze(self, actor_id: int, member_id: int, reason: str, now: datetime) -> Review:
        """An admin confirmed the risk: freeze the member with ``reason`` and close their flags.
        Audited."""
        validation.member_id(member_id)
        why = validation.text(reason, field="reason", max_length=500)
        validation.instant(now)

        async def work(conn: AsyncConnection) -> Review:
            member = await lock_member(conn, member_id)
            before = await _frozen_reason(conn, member)
            rules = await _close(conn, member_id, "frozen", actor_id, now)
            await _set_frozen(conn, member_id, True, why)
            await write_entry(
                conn,
                actor_id=actor_id,
                action="risk.freeze",
                target=f"member:{member_id}",
                now=now,
                before={"flags": ", ".join(rules), "frozen": member.frozen, "reason": before},
                after={"flags": "", "frozen": True, "reason": why},
            )
            return Review(member_id, rules, True, why)

        return await self.db.transact(work)


async def _frozen_reason(conn: AsyncConnection, member: MemberLock) -> str | None:
    if not member.frozen:
        return None
    reason = (
        await conn.execute(select(Account.frozen_reason).where(Account.id == member.member_id))
    ).scalar_one()
    return None if reason is None else str(reason)


async def _close(
    conn: AsyncConnection, member_id: int, status: str, actor_id: int, now: datetime
) -> tuple[str, ...]:
    """Close the member's open flags as ``status``; refuses a member with none open."""
    rows = (
        await conn.execute(
            update(RiskFlag)
            .where(RiskFlag.member_id == member_id, RiskFlag.status == "open")
            .values(status=status, closed_at=now, closed_by=actor_id)
            .returning(RiskFlag.rule)
        )
    ).all()
    if not rows:
        raise NotFlagged(f"member {member_id} has no open flag", member_id=member_id)
    return tuple(sorted(row.rule for row in rows))


# --- The rules, one aggregate query each ---------------------------------------------------------


def _reviewed() -> Subquery:
    """When each member's flags were last closed: activity before that is reviewed."""
    return (
        select(RiskFlag.member_id, func.max(RiskFlag.closed_at).label("since"))
        .where(RiskFlag.status != "open")
        .group_by(RiskFlag.member_id)
        .subquery("reviewed")
    )


def _unreviewed(reviewed: Subquery, at: Any) -> Any:
    return or_(reviewed.c.since.is_(None), at > reviewed.c.since)


def _per_member(
    reviewed: Subquery, member: Any, measure: Any, at: Any, since: datetime, *where: Any
) -> Select[int, int]:
    """``(member, measure)`` over each member's rows after ``since`` (``at``) that match
    ``where`` and no admin reviewed yet; a rule adds the ``having`` that flags."""
    return (
        select(member, measure)
        .outerjoin(reviewed, reviewed.c.member_id == member)
        .where(at > since, *where, _unreviewed(reviewed, at))
        .group_by(member)
    )


def _rule_queries(
    settings: RiskSettings, reviewed: Subquery, now: datetime
) -> Sequence[tuple[str, Select[int, int]]]:
    """(rule, query of ``(member id, measure)`` for the members it flags) for each rule on."""
    queries: list[tuple[str, Select[int, int]]] = []
    if settings.earn_score:
        earned = func.sum(Transfer.amount)
        queries.append(
            (
                EARNED,
                _per_member(
                    reviewed,
                    Transfer.credit_account_id,
                    earned,
                    Transfer.created_at,
                    now - timedelta(hours=settings.earn_window_hours),
                    Transfer.credit_account_id > 0,
                    Transfer.debit_account_id.in_(
                        (int(SystemAccount.ISSUANCE), int(SystemAccount.BOX_POOL))
                    ),
                ).having(earned > settings.earn_limit),
            )
        )
    if settings.redemption_score:
        count = func.count(Redemption.id)
        queries.append(
            (
                REDEMPTIONS,
                _per_member(
                    reviewed,
                    Redemption.member_id,
                    count,
                    Redemption.created_at,
                    now - timedelta(hours=1),
                ).having(count > settings.redemptions_per_hour),
            )
        )
    if settings.invite_score:
        count = func.count(Transfer.id)
        queries.append(
            (
                INVITES,
                _per_member(
                    reviewed,
                    Transfer.credit_account_id,
                    count,
                    Transfer.created_at,
                    now - timedelta(hours=settings.invite_window_hours),
                    Transfer.code == "referral_referrer",
                ).having(count > settings.invite_limit),
            )
        )
    if settings.task_score:
        count = func.count(TaskCompletion.id)
        queries.append(
            (
                TASKS,
                _per_member(
                    reviewed,
                    TaskCompletion.member_id,
                    count,
                    TaskCompletion.completed_at,
                    now - timedelta(hours=settings.task_window_hours),
                ).having(count > settings.task_limit),
            )
        )
    if settings.wrong_claims_score:
        count = func.count(ClaimAttempt.id)
        window = timedelta(minutes=settings.wrong_claims_window_minutes)
        queries.append(
            (
                WRONG_CLAIMS,
                _per_member(
                    reviewed, ClaimAttempt.member_id, count, ClaimAttempt.at, now - window
                ).having(count >= settings.wrong_claims_limit),
            )
        )
    if settings.ring_score:
        queries.append((RING, _ring_query(settings, reviewed, now)))
    return queries


def _ring_query(settings: RiskSettings, reviewed: Subquery, now: datetime) -> Select[int, int]:
    """Referrers with at least ``ring_min_invitees`` cash-out invitees joined in the window."""
    credited = (
        select(func.coalesce(func.sum(Transfer.amount), 0))
        .where(Transfer.credit_account_id == Referral.invitee_id)
        .scalar_subquery()
    )
    bought = exists().where(Order.member_id == Referral.invitee_id)
    redeemed = exists().where(
        Redemption.member_id == Referral.invitee_id,
        Redemption.status.in_(_SPENT_ON_REWARDS),
    )
    kept_percent = 100 - settings.ring_spent_percent
    cash_out = and_(
        ~bought,
        redeemed,
        credited > 0,
        Account.balance * 100 <= credited * kept_percent,
    )
    count: ColumnElement[int] = func.sum(case((cash_out, 1), else_=0))
    return (
        select(Referral.referrer_id, count)
        .join(Member, Member.id == Referral.invitee_id)
        .join(Account, Account.id == Referral.invitee_id)
        .outerjoin(reviewed, reviewed.c.member_id == Referral.referrer_id)
        .where(
            Member.joined_at > now - timedelta(days=settings.ring_window_days),
            _unreviewed(reviewed, Member.joined_at),
        )
        .group_by(Referral.referrer_id)
        .having(count >= settings.ring_min_invitees)
    )
