"""The scheduled jobs in the chat: their screens, and APScheduler running them on the clock.

:class:`JobScreens` is the :class:`core.operations.jobs.Wording` of the bot: each message a job
enqueues is a :class:`~bot.screens.Screen` rendered in the member's language and kept as JSON in the
outbox. :class:`JobScheduler` runs :class:`core.operations.jobs.Jobs` at the times of ``[jobs]`` in
the mall's time zone (APScheduler 3, jobs defined here in code, no job store), claims each run in
``job_runs`` so a schedule runs once across processes, and at start runs once each job whose
run was missed while the bot was down (coalesced: once, not once per missed run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.content import tier_name
from bot.content import title as title_of
from bot.features.item_card import AffordablePage, ShelvesPage
from bot.features.member_days import member_day_line
from bot.features.member_links import CheckIn, InviteScreen, RedemptionsPage, SaleCard
from bot.features.notifications import NotificationsScreen
from bot.features.sale_notices import BALANCE, SaleNotices
from bot.features.shop import ITEM_BUTTON_TITLE, item_callback
from bot.i18n import Html, plain, shorten
from bot.screens import Button
from core.commerce.shop import ParkedOrder
from core.config import Config
from core.growth.member_days import MemberDayView
from core.growth.referrals import PaidInvite
from core.operations.job_runs import JobRuns
from core.operations.jobs import Jobs
from core.points.holds import HoldResult
from core.reporting.reports import DayFigures, ExpiringMember, Liability
from core.rewards.flash_sales import SaleView
from core.rewards.redemptions import RedemptionView
from core.rewards.shelf import Affordable

# The screens job messages link to (their buttons' callback data).
_INVITE = InviteScreen().pack()
log = logging.getLogger(__name__)
# Parked orders listed one by one in an admin's message; the rest are counted.
PARKED_SHOWN = 20
# Lines of an expiry reminder's lots: beyond them, the rest are summed in one line.
REMINDER_LOTS_SHOWN = 5


class JobScreens(SaleNotices):
    """What the jobs tell members and admins, as outbox payloads (a sale changed or cancelled:
    :class:`~bot.features.sale_notices.SaleNotices`, which the admin's sale screens use too)."""

    def expiry_reminder(
        self, language: str, member: ExpiringMember, lead_days: int, affordable: Affordable
    ) -> str:
        """Every lot that expires in the window, by day, and the items the member can redeem
        now as buttons that open their cards; the Mall whatever they can afford."""
        t = self._t(language)
        lines: list[str]
        if len(member.lots) <= 1:
            lines = [
                t(
                    "jobs.reminder",
                    points=t.points(member.soonest_amount),
                    day=t.date(member.last_day),
                )
            ]
        else:
            shown = member.lots
            if len(shown) > REMINDER_LOTS_SHOWN:
                shown = shown[: REMINDER_LOTS_SHOWN - 1]
            lines = [t("jobs.reminder.lots")]
            lines += [
                t("jobs.reminder.lot", points=t.points(lot.amount), day=t.date(lot.last_day))
                for lot in shown
            ]
            rest = member.lots[len(shown) :]
            if rest:
                points = t.points(sum(lot.amount for lot in rest))
                lines.append(t.n("jobs.reminder.lots_more", len(rest), points=points))
            lines.append(t("jobs.reminder.total", points=t.points(member.amount)))
        balance = t.points(affordable.balance)
        rows: list[tuple[Button, ...]] = []
        if affordable.offers:
            lines += ["", t("jobs.reminder.offers", balance=balance)]
            for offer in affordable.offers:
                price = t.points(offer.points)
                if offer.cash_minor:
                    cash = t.money(offer.cash_minor, self.config.mall.currency)
                    price = t("jobs.reminder.offer.cash", points=price, cash=cash)
                title = shorten(title_of(t, offer), ITEM_BUTTON_TITLE)
                label = t("jobs.reminder.offer", title=title, price=price)
                rows.append((Button(plain(label), data=item_callback(offer.item_id)),))
        else:
            lines += ["", t("jobs.reminder.no_offers", balance=balance)]
        mall = Button(plain(t("menu.mall")), data=ShelvesPage().pack())
        if affordable.more:
            more = Button(plain(t("jobs.reminder.affordable")), data=AffordablePage().pack())
            rows.append((mall, more))
        else:
            rows.append((mall,))
        return self._payload(t, Html("\n".join(lines)), tuple(rows))

    def sale_announcement(self, language: str, sale: SaleView, opening: bool) -> str:
        t = self._t(language)
        price = t.points(sale.sale_price)
        regular = t.points(sale.regular_price)
        if not opening:
            text = t(
                "jobs.sale.soon",
                title=title_of(t, sale),
                price=price,
                regular=regular,
                at=t.moment(sale.starts_at),
            )
        elif sale.mode == "draw":
            assert sale.entry_ends_at is not None
            text = t(
                "jobs.sale.draw",
                title=title_of(t, sale),
                price=price,
                regular=regular,
                quantity=t.number(sale.quantity),
                until=t.moment(sale.entry_ends_at),
            )
        else:
            text = t(
                "jobs.sale.open",
                title=title_of(t, sale),
                price=price,
                regular=regular,
                quantity=t.number(sale.quantity),
                until=t.moment(sale.ends_at),
            )
        rows = (
            (Button(plain(t("jobs.sale.see")), data=SaleCard(sale.sale_id).pack()),),
            (Button(plain(t("jobs.notifications")), data=NotificationsScreen().pack()),),
        )
        return self._payload(t, text, rows)

    def draw_outcome(self, language: str, sale: SaleView, won: bool) -> str:
        t = self._t(language)
        if won:
            text = t("jobs.draw.won", title=title_of(t, sale), price=t.points(sale.sale_price))
            rows = ((Button(plain(t("menu.redemptions")), data=RedemptionsPage().pack()),),)
        else:
            text = t("jobs.draw.lost", title=title_of(t, sale), price=t.points(sale.sale_price))
            rows = ((Button(plain(t("menu.balance")), data=BALANCE),),)
        return self._payload(t, text, rows)

    def redemption_released(self, language: str, redemption: RedemptionView) -> str:
        t = self._t(language)
        text = t(
            "jobs.released.redemption",
            number=t.number(redemption.redemption_id),
            title=title_of(t, redemption),
            points=t.points(redemption.points),
        )
        return self._payload(t, text, ((Button(plain(t("menu.balance")), data=BALANCE),),))

    def hold_released(self, language: str, hold: HoldResult) -> str:
        t = self._t(language)
        text = t("jobs.released.hold", points=t.points(hold.amount))
        return self._payload(t, text, ((Button(plain(t("menu.balance")), data=BALANCE),),))

    def tier_up(self, language: str, tier: str) -> str:
        t = self._t(language)
        text = t("jobs.tier_up", tier=tier_name(t, self.config.tiers, tier))
        return self._payload(t, text, ((Button(plain(t("menu.balance")), data=BALANCE),),))

    def referral_paid(self, language: str, invite: PaidInvite) -> str:
        t = self._t(language)
        text = t("jobs.referral_paid", name=invite.invitee_name, points=t.points(invite.points))
        return self._payload(t, text, ((Button(plain(t("menu.invite")), data=_INVITE),),))

    def birthday_paid(self, language: str, points: int) -> str:
        t = self._t(language)
        text = t("birthday.paid", points=t.points(points))
        return self._payload(t, text, ((Button(plain(t("menu.balance")), data=BALANCE),),))

    def member_days(self, language: str, days: Sequence[MemberDayView]) -> str:
        """Today's member days: each one's name and what it multiplies."""
        t = self._t(language)
        lines = [t("member_day.announce.title")]
        lines += [member_day_line(t, day) for day in days]
        rows = ((Button(plain(t("menu.checkin")), data=CheckIn().pack()),),)
        if any(day.applies_to == "checkin" for day in days):
            return self._payload(t, Html("\n".join(lines)), rows)
        return self._payload(t, Html("\n".join(lines)))

    def parked_expired(self, language: str, orders: Sequence[ParkedOrder]) -> str:
        t = self._t(language)
        currency = self.config.mall.currency
        shown = [
            t(
                "jobs.parked.order",
                order=order.order_id,
                customer=order.customer,
                total=t.money(order.total_minor - order.refunded_minor, currency),
                since=t.date(order.received_at.date()),
            )
            for order in orders[:PARKED_SHOWN]
        ]
        if len(orders) > PARKED_SHOWN:
            shown.append(t("jobs.parked.more", count=t.number(len(orders) - PARKED_SHOWN)))
        title = t("jobs.parked.title", count=t.number(len(orders)))
        return self._payload(t, Html("\n".join([title, *shown])))

    def digest(self, language: str, day: DayFigures, liability: Liability) -> str:
        t = self._t(language)
        lines = [
            t("jobs.digest.title", day=t.date(day.day)),
            t("jobs.digest.issued", points=t.points(day.issued)),
            t("jobs.digest.redeemed", points=t.points(day.redeemed)),
            t("jobs.digest.expired", points=t.points(day.expired)),
            t("jobs.digest.donated", points=t.points(day.donated)),
            t(
                "jobs.digest.checkins",
                checkins=t.number(day.checkins),
                makeups=t.number(day.makeups),
            ),
            t("jobs.digest.active", members=t.number(day.active_members)),
            t(
                "jobs.digest.liability",
                points=t.points(liability.outstanding),
                value=t.money(liability.value_minor, liability.currency),
            ),
        ]
        return self._payload(t, Html("\n".join(lines)))


# --- Running them on the clock -----------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """A job: its name (its row in ``job_runs``), when it runs, and what it does."""

    name: str
    trigger: CronTrigger | IntervalTrigger
    run: Callable[[datetime], Awaitable[object]]
    # For a job that runs every so often rather than at a time of day.
    every: timedelta | None = None

    def missed(self, last_due: datetime, now: datetime) -> bool:
        """Whether a run was scheduled after ``last_due`` and by ``now``."""
        if self.every is not None:
            return last_due + self.every <= now
        after = last_due + timedelta(seconds=1)
        upcoming = self.trigger.get_next_fire_time(None, after)
        return upcoming is not None and upcoming <= now


def _daily(at: str, tz: ZoneInfo) -> CronTrigger:
    clock = time.fromisoformat(at)
    return CronTrigger(hour=clock.hour, minute=clock.minute, timezone=tz)


def _hourly(at: str, tz: ZoneInfo) -> CronTrigger:
    """Every hour at ``at``'s minute (its hour is not used)."""
    return CronTrigger(minute=time.fromisoformat(at).minute, timezone=tz)


def job_specs(
    jobs: Jobs,
    config: Config,
    refunds: Callable[[datetime], Awaitable[object]] | None = None,
    tasks: Callable[[datetime], Awaitable[object]] | None = None,
) -> tuple[JobSpec, ...]:
    """The mall's jobs, at the times of ``[jobs]`` in ``[mall] timezone``; with ``refunds``,
    the Stars refunds Telegram refused so far are tried again as often as the holds; with
    ``tasks`` (``bot.task_watch``), channel tasks are watched and challenges told as often."""
    settings, tz = config.jobs, config.mall.timezone
    every = timedelta(minutes=settings.every_minutes)
    frequent = IntervalTrigger(minutes=settings.every_minutes, timezone=tz)
    extra: tuple[JobSpec, ...] = ()
    if refunds is not None:
        extra += (JobSpec("refunds", frequent, refunds, every),)
    if tasks is not None:
        extra += (JobSpec("tasks", frequent, tasks, every),)
    return (
        *extra,
        JobSpec("expiry", _daily(settings.expiry_time, tz), jobs.expire),
        JobSpec("tiers", _daily(settings.tiers_time, tz), jobs.tiers),
        JobSpec("rollups", _hourly(settings.rollups_time, tz), jobs.rollups),
        JobSpec("digest", _daily(settings.digest_time, tz), jobs.digest),
        JobSpec("parked", _daily(settings.digest_time, tz), jobs.parked),
        JobSpec("reminders", _daily(settings.reminder_time, tz), jobs.remind),
        JobSpec("member_days", _daily(settings.member_day_time, tz), jobs.member_days),
        JobSpec("birthdays", frequent, jobs.birthdays, every),
        JobSpec("retention", _daily(settings.retention_time, tz), jobs.retention),
        JobSpec("sales", frequent, jobs.sales, every),
        JobSpec("holds", frequent, jobs.holds, every),
        JobSpec("referrals", frequent, jobs.referrals, every),
        JobSpec("seeds", frequent, jobs.seeds, every),
        JobSpec(
            "risk",
            IntervalTrigger(minutes=config.risk.scan_minutes, timezone=tz),
            jobs.risk,
            timedelta(minutes=config.risk.scan_minutes),
        ),
    )


def _minute(at: datetime) -> datetime:
    """The scheduled instant a run belongs to: processes that fire together agree on it."""
    return at.replace(second=0, microsecond=0)


class JobScheduler:
    """Runs the jobs on the clock while this process leads (``core.operations.leader``)."""

    def __init__(
        self,
        runs: JobRuns,
        specs: Sequence[JobSpec],
        clock: Callable[[], datetime],
        tz: ZoneInfo,
        on_enqueued: Callable[[], object] = lambda: None,
    ) -> None:
        self.runs = runs
        self.specs = {spec.name: spec for spec in specs}
        self.clock = clock
        self.tz = tz
        self.on_enqueued = on_enqueued
        self._scheduler: AsyncIOScheduler | None = None
        # Set once the first start has caught up (what waits for it: tests, the sandbox).
        self.started = asyncio.Event()

    async def run(self, name: str, now: datetime, due: datetime | None = None) -> bool:
        """Run job ``name`` for the instant ``now`` unless its run at ``due`` (by default,
        ``now``'s minute) was taken already; True if it ran here."""
        spec = self.specs[name]
        if not await self.runs.claim(name, _minute(due or now), now):
            log.info("job %s at %s ran elsewhere", name, _minute(due or now))
            return False
        try:
            result = await spec.run(now)
        except Exception:
            log.exception("job %s failed; its next run will try again", name)
            return True
        await self.runs.finish(name, self.clock())
        log.info("job %s done: %s", name, result)
        self.on_enqueued()
        return True

    async def catch_up(self, now: datetime) -> list[str]:
        """Run once each job whose scheduled run was missed (or died) before ``now``."""
        ran = []
        for name, spec in self.specs.items():
            last = await self.runs.last(name)
            due = last is None or not last.finished or spec.missed(last.due_at, now)
            if due and await self.run(name, now):
                ran.append(name)
        return ran

    async def start(self) -> None:
        """Catch up, then run each job on its schedule."""
        await self.catch_up(self.clock())
        scheduler = AsyncIOScheduler(
            timezone=self.tz,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
        )
        for name, spec in self.specs.items():
            scheduler.add_job(self._fire, spec.trigger, args=[name], id=name, name=name)
        scheduler.start()
        self._scheduler = scheduler
        self.started.set()

    async def _fire(self, name: str) -> None:
        now = self.clock()
        await self.run(name, now)

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None
