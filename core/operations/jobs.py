"""What the scheduled jobs do, each an async method taking the instant it runs for.

The jobs (expiry, reminders, flash sales, holds, tiers, the admins' digest) call the same
services as members do and put what members should hear into the outbox
(``core.operations.outbox``), in the transaction that records why, so a job run twice, or again
after a restart, sends nobody anything twice. Core knows no chat app: the words come from a
:class:`Wording` the bot layer supplies, which renders a message in a member's language to an opaque
payload.

Tests call these methods with an explicit ``now`` and move time without sleeping; the bot's
scheduler (``bot.jobs``) calls them on the clock, and ``core.operations.job_runs`` makes sure one
schedule runs once across processes and that a run missed while down happens once at start.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import String, and_, bindparam, cast, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.commerce.shop import ParkedOrder
from core.db.models import (
    Broadcast,
    ExpiryReminder,
    FlashSale,
    Member,
    MemberDay,
    TierNotice,
)
from core.errors import MallError
from core.growth import birthdays
from core.growth.member_days import MemberDayView
from core.growth.referrals import PaidInvite
from core.mall import Mall
from core.operations.outbox import (
    Envelope,
    dialect_insert,
    enqueue,
    enqueue_members,
    open_broadcast,
)
from core.operations.retention import Retention
from core.points import rules
from core.points.holds import HoldResult
from core.reporting.reports import DayFigures, ExpiringMember, Liability
from core.rewards.eligibility import tier_rank
from core.rewards.flash_sales import DrawResult, SaleView
from core.rewards.redemptions import RedemptionView
from core.rewards.shelf import Affordable, OfferShelf

log = logging.getLogger(__name__)
BATCH = 500
# Items a reminder offers as buttons (those the member can redeem now, most wanted first).
REMINDER_OFFERS = 4


class Wording(Protocol):
    """What the jobs say, rendered in a language to an outbox payload (the bot's screens)."""

    @property
    def languages(self) -> Sequence[str]:
        """Every language there is a rendering for; the first is the default."""
        ...

    def expiry_reminder(
        self, language: str, member: ExpiringMember, lead_days: int, affordable: Affordable
    ) -> str: ...

    def sale_announcement(self, language: str, sale: SaleView, opening: bool) -> str: ...

    def draw_outcome(self, language: str, sale: SaleView, won: bool) -> str: ...

    def redemption_released(self, language: str, redemption: RedemptionView) -> str: ...

    def hold_released(self, language: str, hold: HoldResult) -> str: ...

    def tier_up(self, language: str, tier: str) -> str: ...

    def digest(self, language: str, day: DayFigures, liability: Liability) -> str: ...

    def parked_expired(self, language: str, orders: Sequence[ParkedOrder]) -> str: ...

    def referral_paid(self, language: str, invite: PaidInvite) -> str: ...

    def birthday_paid(self, language: str, points: int) -> str: ...

    def member_days(self, language: str, days: Sequence[MemberDayView]) -> str: ...


# --- The jobs ----------------------------------------------------------------------------------


# How far back the referrals job looks for invites that paid (the outbox key makes each told
# once): a few runs' worth, so a slow or skipped run loses nobody's news.
REFERRALS_LOOKBACK = timedelta(hours=1)


@dataclass(frozen=True)
class Enqueued:
    """What a job put in the outbox (and, for expiry and tiers, what it changed)."""

    messages: int
    changed: int = 0


class Jobs:
    """The scheduled jobs of one mall; every method is idempotent."""

    def __init__(self, mall: Mall, wording: Wording) -> None:
        self.mall = mall
        self.db = mall.db
        self.config = mall.config
        self.wording = wording
        self.default_language = wording.languages[0]

    # -- expiry -------------------------------------------------------------------------

    async def expire(self, now: datetime) -> Enqueued:
        """Expire what is left of lots past their date (``mall.expire``)."""
        report = await self.mall.expire(now)
        return Enqueued(0, report.lots)

    # -- retention ----------------------------------------------------------------------

    async def retention(self, now: datetime) -> Enqueued:
        """Prune idempotency records past their replay window (``core.operations.retention``), a
        batch per transaction; ``changed`` counts the records deleted."""
        pruned = await Retention(self.db, self.config).prune(now)
        return Enqueued(0, pruned.operations)

    # -- risk control -------------------------------------------------------------------

    async def risk(self, now: datetime) -> Enqueued:
        """Run risk control's rules over recent activity: flags, and freezes above the score.

        ``changed`` counts the members frozen; admins review the flags with ``/flags``.
        """
        report = await self.mall.risk.scan(now)
        return Enqueued(0, len(report.frozen))

    # -- box seeds ----------------------------------------------------------------------

    async def seeds(self, now: datetime) -> Enqueued:
        """Reveal box seeds that are ``[boxes] seed_rotation_days`` old and commit new ones.

        The reveal is announced where members look for it, on each box's screen; ``changed``
        counts the boxes rotated.
        """
        rotations = await self.mall.boxes.rotate_due(now)
        return Enqueued(0, len(rotations))

    # -- reminders ----------------------------------------------------------------------

    async def remind(self, now: datetime) -> Enqueued:
        """Remind members whose points expire soon: once per member, expiry date and lead.

        For a member whose soonest points are ``d`` days from their last day, the lead is the
        smallest configured one of at least ``d``; a reminder goes unless one with that lead,
        or a smaller one, went for that date already (points earned late get one reminder,
        not one for each larger lead too).

        A reminder lists every lot in the window (by day) and offers the items the member can
        redeem now: the shelf is read once per run, then each batch of members is matched
        against it with a few queries (:class:`core.rewards.shelf.OfferShelf`).
        """
        validation.instant(now)
        leads = sorted(set(self.config.jobs.reminder_days))
        if not leads:
            return Enqueued(0)
        today = rules.business_day(now, self.config.mall.timezone)
        async with self.db.read() as conn:
            shelf = await OfferShelf.read(conn, now)
        sent = 0
        batch: list[ExpiringMember] = []
        async for member in self.mall.reports.expiring_members_iter(now, leads[-1], batch=BATCH):
            batch.append(member)
            if len(batch) >= BATCH:
                sent += await self._remind(batch, leads, today, shelf, now)
                batch = []
        if batch:
            sent += await self._remind(batch, leads, today, shelf, now)
        return Enqueued(sent)

    async def _remind(
        self,
        members: list[ExpiringMember],
        leads: list[int],
        today: date,
        shelf: OfferShelf,
        now: datetime,
    ) -> int:
        due: dict[int, tuple[ExpiringMember, int]] = {}
        for member in members:
            days_left = (member.last_day - today).days
            lead = next((lead for lead in leads if days_left <= lead), None)
            if lead is not None:
                due[member.member_id] = (member, lead)
        if not due:
            return 0
        async with self.db.write() as conn:
            done = (
                await conn.execute(
                    select(
                        ExpiryReminder.member_id, ExpiryReminder.last_day, ExpiryReminder.lead_days
                    ).where(ExpiryReminder.member_id.in_(list(due)))
                )
            ).all()
            for member_id, last_day, lead_days in done:
                found = due.get(int(member_id))
                if found is not None and found[0].last_day == last_day and lead_days <= found[1]:
                    del due[int(member_id)]
            if not due:
                return 0
            await conn.execute(
                dialect_insert(conn, ExpiryReminder)
                .values(
                    [
                        {
                            "member_id": member_id,
                            "last_day": member.last_day,
                            "lead_days": lead,
                            "created_at": now,
                        }
                        for member_id, (member, lead) in due.items()
                    ]
                )
                .on_conflict_do_nothing()
            )
            affordable = await shelf.affordable(conn, self.config, list(due), REMINDER_OFFERS)
            nothing = Affordable(0, (), False)
            return await enqueue(
                conn,
                [
                    Envelope(
                        f"reminder:{member_id}:{member.last_day.isoformat()}:{lead}",
                        member_id,
                        self.wording.expiry_reminder(
                            member.language, member, lead, affordable.get(member_id, nothing)
                        ),
                    )
                    for member_id, (member, lead) in due.items()
                ],
                now=now,
            )

    # -- flash sales --------------------------------------------------------------------

    async def sales(self, now: datetime, rng: random.Random | None = None) -> Enqueued:
        """Announce sales opening (and, if configured, soon to open); run due draws and tell
        each entrant the outcome."""
        validation.instant(now)
        notice = timedelta(minutes=self.config.jobs.sale_notice_minutes)
        sent = 0
        for sale in await self.mall.flash_sales.current_and_upcoming(now):
            if sale.phase in ("open", "entry"):
                sent += await self._announce(sale, "sale-open", True, now)
            elif sale.phase == "upcoming" and notice and sale.starts_at - notice <= now:
                sent += await self._announce(sale, "sale-soon", False, now)
        drawn = 0
        for sale_id in await self._draws_to_tell(now):
            try:
                result = await self.mall.flash_sales.draw(
                    sale_id, now, rng or random.SystemRandom()
                )
            except MallError as error:
                log.warning("draw of sale %s refused: %s", sale_id, error)
                continue
            sent += await self._tell_entrants(result, now)
            drawn += 1
        return Enqueued(sent, drawn)

    async def _announce(self, sale: SaleView, kind: str, opening: bool, now: datetime) -> int:
        key = f"{kind}:{sale.sale_id}"
        payloads = {
            language: self.wording.sale_announcement(language, sale, opening)
            for language in self.wording.languages
        }
        return await self._to_announcements(key, kind, payloads, now)

    async def _to_announcements(
        self, key: str, kind: str, payloads: Mapping[str, str], now: datetime
    ) -> int:
        """One broadcast under ``key`` to every member who takes announcements, in their
        language; 0 when ``key`` was broadcast before (so each announcement goes out once)."""
        async with self.db.write() as conn:
            broadcast = await open_broadcast(
                conn, key=key, kind=kind, audience="announcements", now=now
            )
            if broadcast is None:
                return 0
            return await enqueue_members(
                conn,
                broadcast_id=broadcast,
                key_prefix=f"{key}:",
                payloads=payloads,
                default_language=self.default_language,
                where=[Member.announcements.is_(True)],
                now=now,
            )

    async def _draws_to_tell(self, now: datetime) -> list[int]:
        """Draws due now, and draws done whose entrants were not told (a run that died)."""
        due = list(await self.mall.flash_sales.due_draws(now))
        told = exists().where(
            Broadcast.key == literal("draw:", String) + cast(FlashSale.id, String(20))
        )
        async with self.db.read() as conn:
            untold = (
                await conn.execute(
                    select(FlashSale.id)
                    .where(FlashSale.mode == "draw", FlashSale.status == "drawn", ~told)
                    .order_by(FlashSale.id)
                )
            ).scalars()
            due += [int(sale_id) for sale_id in untold if int(sale_id) not in due]
        return due

    async def _tell_entrants(self, result: DrawResult, now: datetime) -> int:
        sale = await self.mall.flash_sales.get_sale(result.sale_id, now)
        outcomes = {winner.member_id: True for winner in result.winners}
        outcomes.update({member_id: False for member_id in result.losers})
        async with self.db.write() as conn:
            broadcast = await open_broadcast(
                conn, key=f"draw:{sale.sale_id}", kind="draw", audience="entrants", now=now
            )
            if broadcast is None:
                return 0
            languages = await _languages(conn, list(outcomes))
            return await enqueue(
                conn,
                [
                    Envelope(
                        f"draw:{sale.sale_id}:{member_id}",
                        member_id,
                        self.wording.draw_outcome(
                            languages.get(member_id, self.default_language), sale, won
                        ),
                    )
                    for member_id, won in outcomes.items()
                ],
                now=now,
                broadcast_id=broadcast,
            )

    # -- referrals ----------------------------------------------------------------------

    async def referrals(self, now: datetime) -> Enqueued:
        """Settle the invites whose friend qualified while their referrer's account was busy
        (``Referrals.settle_qualified``), and tell each referrer an invite paid them: once per
        invite (the outbox key), for invites paid within :data:`REFERRALS_LOOKBACK`.

        ``changed`` counts the invites settled here."""
        validation.instant(now)
        settled = await self.mall.referrals.settle_qualified(now)
        paid = await self.mall.referrals.paid_since(now - REFERRALS_LOOKBACK)
        if not paid:
            return Enqueued(0, len(settled))
        async with self.db.write() as conn:
            languages = await _languages(conn, [invite.referrer_id for invite in paid])
            sent = await enqueue(
                conn,
                [
                    Envelope(
                        f"referral-paid:{invite.invitee_id}",
                        invite.referrer_id,
                        self.wording.referral_paid(
                            languages.get(invite.referrer_id, self.default_language), invite
                        ),
                    )
                    for invite in paid
                ],
                now=now,
            )
        return Enqueued(sent, len(settled))

    # -- birthdays ----------------------------------------------------------------------

    async def birthdays(self, now: datetime) -> Enqueued:
        """Pay ``[birthday] points`` to every member whose birthday is today and who was not
        paid this year, and tell each (``core.growth.birthdays``): once a year per member however
        often, or in how many processes, it runs. ``changed`` counts the members paid."""
        validation.instant(now)
        if not self.config.birthday.points:
            return Enqueued(0)
        year = rules.business_day(now, self.config.mall.timezone).year
        sent = paid = 0
        after = 0
        while due := await self.mall.birthdays.due(now, after=after, limit=BATCH):
            for member in due:
                async with self.db.write() as conn:
                    earned = await birthdays.pay(conn, self.config, member.member_id, now)
                    if earned is None or not earned.granted:
                        continue
                    paid += 1
                    sent += await enqueue(
                        conn,
                        [
                            Envelope(
                                f"birthday:{member.member_id}:{year}",
                                member.member_id,
                                self.wording.birthday_paid(member.language, earned.granted),
                            )
                        ],
                        now=now,
                    )
            after = due[-1].member_id
        return Enqueued(sent, paid)

    # -- member days --------------------------------------------------------------------

    async def member_days(self, now: datetime) -> Enqueued:
        """Announce today's member days to members who take announcements, each in their
        language, once a day (the broadcast's key is the day)."""
        validation.instant(now)
        days = await self.mall.member_days.on(now)
        if not days:
            return Enqueued(0)
        today = rules.business_day(now, self.config.mall.timezone)
        key = f"member-day:{today.isoformat()}"
        payloads = {
            language: self.wording.member_days(language, days)
            for language in self.wording.languages
        }
        return Enqueued(await self._to_announcements(key, "member-day", payloads, now))

    # -- holds --------------------------------------------------------------------------

    async def holds(self, now: datetime) -> Enqueued:
        """Release holds past their timeout (``mall.release_expired``) and tell the members."""
        released = await self.mall.release_expired(now)
        envelopes: list[tuple[str, int, RedemptionView | HoldResult]] = [
            (
                f"released:redemption:{r.redemption.redemption_id}",
                r.redemption.member_id,
                r.redemption,
            )
            for r in released.redemptions
        ]
        envelopes += [(f"released:hold:{h.hold_id}", h.member_id, h) for h in released.holds]
        if not envelopes:
            return Enqueued(0)
        async with self.db.write() as conn:
            languages = await _languages(conn, [member_id for _, member_id, _ in envelopes])
            rendered = []
            for key, member_id, what in envelopes:
                language = languages.get(member_id, self.default_language)
                if isinstance(what, RedemptionView):
                    payload = self.wording.redemption_released(language, what)
                else:
                    payload = self.wording.hold_released(language, what)
                rendered.append(Envelope(key, member_id, payload))
            sent = await enqueue(conn, rendered, now=now)
        return Enqueued(sent, len(envelopes))

    # -- tiers --------------------------------------------------------------------------

    async def tiers(self, now: datetime) -> Enqueued:
        """Recompute every member's tier from the points earned in the window; congratulate
        those above the tier they were last told about.

        A tier lapses when its earnings age out; the stored tier (``members.tier``) follows,
        changed only if nobody changed it meanwhile (an earning that moved the member).
        """
        validation.instant(now)
        tiers = self.config.tiers
        day = rules.business_day(now, self.config.mall.timezone)
        first = day - timedelta(days=tiers.window_days - 1)
        lowest = tiers.levels[0].name
        earned = (
            select(func.coalesce(func.sum(MemberDay.earned), 0))
            .where(MemberDay.member_id == Member.id, MemberDay.day >= first, MemberDay.day <= day)
            .correlate(Member)
            .scalar_subquery()
        )
        congratulated = changed = 0
        after = 0
        while True:
            async with self.db.write() as conn:
                rows = (
                    await conn.execute(
                        select(Member.id, Member.tier, Member.language, TierNotice.tier, earned)
                        .outerjoin(TierNotice, TierNotice.member_id == Member.id)
                        .where(Member.id > after, Member.deleted_at.is_(None))
                        .order_by(Member.id)
                        .limit(BATCH)
                    )
                ).all()
                if not rows:
                    break
                moves: list[dict[str, object]] = []
                notices: list[dict[str, object]] = []
                envelopes: list[Envelope] = []
                for member_id, stored, language, told, points in rows:
                    tier = rules.tier_for(int(points), tiers).name
                    if tier != stored:
                        moves.append({"member": member_id, "old": stored, "new": tier})
                    told = told or lowest
                    if tier == told:
                        continue
                    notices.append({"member_id": member_id, "tier": tier, "updated_at": now})
                    if tier_rank(tier, tiers) > tier_rank(told, tiers):
                        envelopes.append(
                            Envelope(
                                f"tier:{member_id}:{tier}:{day.isoformat()}",
                                int(member_id),
                                self.wording.tier_up(language, tier),
                            )
                        )
                if moves:
                    result = await conn.execute(
                        update(Member)
                        .where(Member.id == bindparam("member"), Member.tier == bindparam("old"))
                        .values(tier=bindparam("new"))
                        .execution_options(synchronize_session=False),
                        moves,
                    )
                    changed += int(result.rowcount or 0)
                if notices:
                    statement = dialect_insert(conn, TierNotice).values(notices)
                    await conn.execute(
                        statement.on_conflict_do_update(
                            index_elements=["member_id"],
                            set_={
                                "tier": statement.excluded.tier,
                                "updated_at": statement.excluded.updated_at,
                            },
                        )
                    )
                congratulated += await enqueue(conn, envelopes, now=now)
            after = int(rows[-1][0])
        return Enqueued(congratulated, changed)

    # -- roll-ups -----------------------------------------------------------------------

    async def rollups(self, now: datetime) -> Enqueued:
        """Roll up every business day that ended and is not rolled up yet
        (``core.reporting.rollups``); ``changed`` counts the days written."""
        run = await self.mall.rollups.roll(now)
        return Enqueued(0, len(run.days))

    # -- digest -------------------------------------------------------------------------

    async def digest(self, now: datetime) -> Enqueued:
        """Yesterday's figures (business day) to every admin, once per admin and day."""
        validation.instant(now)
        admins = self.config.telegram.admins
        if not admins:
            return Enqueued(0)
        yesterday = rules.business_day(now, self.config.mall.timezone) - timedelta(days=1)
        (figures,) = await self.mall.reports.daily(yesterday, yesterday)
        liability = await self.mall.reports.liability(now)
        async with self.db.write() as conn:
            languages = await _languages(conn, list(admins))
            sent = await enqueue(
                conn,
                [
                    Envelope(
                        f"digest:{yesterday.isoformat()}:{admin}",
                        admin,
                        self.wording.digest(
                            languages.get(admin, self.default_language), figures, liability
                        ),
                    )
                    for admin in admins
                ],
                now=now,
            )
        return Enqueued(sent)

    async def parked(self, now: datetime) -> Enqueued:
        """Shop orders that waited ``[shop] park_days`` for their customer to link: given up
        and listed to every admin. Each order is given up once, so each is reported once.
        The shop's links long expired are forgotten in the same run."""
        validation.instant(now)
        await self.mall.shop.forget_links(now)
        expired = await self.mall.shop.expire_parked(now)
        admins = self.config.telegram.admins
        if not expired or not admins:
            return Enqueued(0, changed=len(expired))
        batch = f"{expired[0].order_id}:{len(expired)}:{now:%Y%m%d%H%M}"
        async with self.db.write() as conn:
            languages = await _languages(conn, list(admins))
            sent = await enqueue(
                conn,
                [
                    Envelope(
                        f"parked:{batch}:{admin}"[:128],
                        admin,
                        self.wording.parked_expired(
                            languages.get(admin, self.default_language), expired
                        ),
                    )
                    for admin in admins
                ],
                now=now,
            )
        return Enqueued(sent, changed=len(expired))


async def _languages(conn: AsyncConnection, member_ids: list[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    rows = await conn.execute(
        select(Member.id, Member.language).where(
            and_(Member.id.in_(member_ids), Member.deleted_at.is_(None))
        )
    )
    return {int(member_id): language for member_id, language in rows}
