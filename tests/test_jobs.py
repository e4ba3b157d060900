"""The scheduled jobs, called with an explicit ``now``: each does its work and tells each
member once, however often it runs, and a missed run happens once when the bot is back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select, update

from core.commerce.shop import ParkedOrder
from core.commerce.shop_orders import OrderIn
from core.db.database import Database
from core.db.models import CheckIn, JobRun, OutboxMessage
from core.growth.member_days import MemberDayView
from core.growth.referrals import PaidInvite
from core.mall import Mall
from core.operations.job_runs import JobRuns
from core.operations.jobs import Enqueued, Jobs
from core.points.holds import HoldResult
from core.reporting.reports import DayFigures, ExpiringMember, Liability
from core.rewards.catalog import Catalog, ItemSpec
from core.rewards.flash_sales import SaleView
from core.rewards.redemptions import Redemptions, RedemptionView
from core.rewards.shelf import Affordable
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

JOINED = at("2026-03-01 08:00")


class Words:
    """Plain payloads that say what the message was about."""

    languages: Sequence[str] = ("en", "zh_Hans")

    def expiry_reminder(
        self, language: str, member: ExpiringMember, lead_days: int, affordable: Affordable
    ) -> str:
        return f"{language} reminder {member.soonest_amount} {member.last_day} {lead_days}"

    def sale_announcement(self, language: str, sale: SaleView, opening: bool) -> str:
        return f"{language} sale {sale.sale_id} {'open' if opening else 'soon'}"

    def draw_outcome(self, language: str, sale: SaleView, won: bool) -> str:
        return f"{language} draw {sale.sale_id} {'won' if won else 'lost'}"

    def redemption_released(self, language: str, redemption: RedemptionView) -> str:
        return f"{language} released redemption {redemption.redemption_id}"

    def hold_released(self, language: str, hold: HoldResult) -> str:
        return f"{language} released hold {hold.hold_id}"

    def tier_up(self, language: str, tier: str) -> str:
        return f"{language} tier {tier}"

    def digest(self, language: str, day: DayFigures, liability: Liability) -> str:
        return f"{language} digest {day.day} issued {day.issued} owed {liability.outstanding}"

    def parked_expired(self, language: str, orders: Sequence[ParkedOrder]) -> str:
        return f"{language} parked gave up " + ",".join(o.order_id for o in orders)

    def referral_paid(self, language: str, invite: PaidInvite) -> str:
        return f"{language} invite paid {invite.invitee_name} {invite.points}"

    def birthday_paid(self, language: str, points: int) -> str:
        return f"{language} birthday {points}"

    def member_days(self, language: str, days: Sequence[MemberDayView]) -> str:
        return f"{language} member days " + ",".join(f"{d.name}x{d.multiplier}" for d in days)


class ReminderWords(Words):
    """Reminders that say every lot, the balance and each item offered."""

    def expiry_reminder(
        self, language: str, member: ExpiringMember, lead_days: int, affordable: Affordable
    ) -> str:
        lots = ",".join(f"{lot.last_day}:{lot.amount}" for lot in member.lots)
        offers = ",".join(f"{offer.title}:{offer.points}" for offer in affordable.offers)
        more = " and more" if affordable.more else ""
        return f"lots {lots} balance {affordable.balance} offers {offers}{more}"


async def outbox(mall: Mall) -> list[tuple[int, str]]:
    async with mall.db.read() as conn:
        rows = await conn.execute(
            select(OutboxMessage.chat_id, OutboxMessage.payload).order_by(OutboxMessage.id)
        )
        return [(int(chat), payload) for chat, payload in rows]


async def add_item(mall: Mall, sku: str, **terms: object) -> int:
    values: dict[str, object] = {
        "sku": sku,
        "title": sku.title(),
        "category": "Goods",
        "kind": "virtual",
        "price_points": 80,
        "stock": 10,
        **terms,
    }
    catalog = Catalog(mall.db, mall.config)
    spec = ItemSpec(**values)  # type: ignore[arg-type]
    return (await catalog.upsert_item(spec, JOINED)).item_id


async def test_expiry_run_twice_expires_once(mall: Mall) -> None:
    await mall.members.join(7001, "Ann", "en", JOINED)
    jobs = Jobs(mall, Words())
    later = JOINED + timedelta(days=400)

    first = await jobs.expire(later)
    second = await jobs.expire(later)

    assert (first.changed, second.changed) == (1, 0)
    assert (await mall.statements.balance(7001)).balance == 0
    assert (await mall.check()).ok


async def test_each_lead_reminds_once_per_expiry_date_even_after_a_restart(
    make_mall: MallFactory,
) -> None:
    mall = await make_mall()
    await mall.members.join(7001, "Ann", "zh_Hans", JOINED)
    await mall.members.join(7002, "Bo", "en", JOINED + timedelta(days=40))
    (soonest,) = await mall.statements.expiring(7001, JOINED, days=400)
    last_day = soonest.last_day
    month_before = at(f"{last_day - timedelta(days=30)} 10:00")

    assert (await Jobs(mall, Words()).remind(month_before)).messages == 1
    assert (await Jobs(mall, Words()).remind(month_before + timedelta(hours=1))).messages == 0
    # The bot restarts: new objects on the same database.
    restarted = Jobs(await make_mall(), Words())
    assert (await restarted.remind(month_before + timedelta(days=1))).messages == 0
    week_before = at(f"{last_day - timedelta(days=7)} 10:00")
    assert (await restarted.remind(week_before)).messages == 1
    assert (await restarted.remind(week_before + timedelta(days=1))).messages == 0

    assert await outbox(mall) == [
        (7001, f"zh_Hans reminder 100 {last_day} 30"),
        (7001, f"zh_Hans reminder 100 {last_day} 7"),
    ]


async def test_points_first_seen_within_a_week_get_one_reminder_not_one_per_lead(
    mall: Mall,
) -> None:
    await mall.members.join(7001, "Ann", "en", JOINED)
    (soonest,) = await mall.statements.expiring(7001, JOINED, days=400)
    five_days_before = at(f"{soonest.last_day - timedelta(days=5)} 10:00")
    jobs = Jobs(mall, Words())

    await jobs.remind(five_days_before)
    await jobs.remind(five_days_before + timedelta(days=1))
    await jobs.remind(at(f"{soonest.last_day} 10:00"))

    assert [payload for _, payload in await outbox(mall)] == [
        f"en reminder 100 {soonest.last_day} 7",
        f"en reminder 100 {soonest.last_day} 1",
    ]


TEN_DAYS_AND_GOLD = """
[[tiers.levels]]
name = "Member"
threshold = 0
multiplier = 1
validity_days = 10

[[tiers.levels]]
name = "Gold"
threshold = 100000
multiplier = 1
validity_days = 10

[jobs]
reminder_days = [10]
"""


async def redeem(mall: Mall, member_id: int, item_id: int, now: datetime) -> None:
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(member_id, item_id, now)
    await redemptions.redeem(member_id, offer.token, now)


async def test_a_reminder_lists_every_lot_and_offers_what_the_member_can_redeem_now(
    make_mall: MallFactory,
) -> None:
    mall = await make_mall(make_config(TEN_DAYS_AND_GOLD))
    ann, bo = 7001, 7002
    await mall.members.join(ann, "Ann", "en", JOINED)  # 100 points, 10 days
    for day in range(2, 9):  # a lot a day: 10 points six times, then 50
        await mall.checkins.check_in(ann, at(f"2026-03-0{day} 09:00"))
    await mall.members.join(bo, "Bo", "en", at("2026-03-07 08:00"))  # 100 points
    latte = await add_item(mall, "latte", price_points=60)  # redeemed lately: offered first
    once = await add_item(mall, "once", price_points=15, limit_count=1, limit_period="ever")
    await add_item(mall, "tea", price_points=30)
    cake = await add_item(mall, "cake", price_points=500)  # 40 under a flash sale now
    await add_item(mall, "soap", price_points=70)
    await add_item(mall, "jam", price_points=90)  # affordable, beyond the four offered
    await add_item(mall, "big", price_points=1000)  # too dear
    await add_item(mall, "mug", price_points=10, stock=0)  # sold out
    await add_item(mall, "pen", price_points=10, kind="coupon", stock=None)  # no codes left
    await add_item(mall, "lounge", price_points=10, min_tier="Gold")  # tier too low
    await add_item(mall, "prize", price_points=10, listed=False)  # a prize-only item
    await add_item(mall, "off", price_points=10, active=False)
    await add_item(mall, "cash", price_points=0, cash_minor=500)  # spends no points
    await mall.flash_sales.create_sale(
        cake, 40, 5, at("2026-03-08 00:00"), at("2026-03-09 00:00"), "first_come", now=JOINED
    )
    await redeem(mall, bo, latte, at("2026-03-07 12:00"))
    await redeem(mall, bo, once, at("2026-03-07 12:00"))  # Bo has 25 points left
    await redeem(mall, ann, once, at("2026-03-08 09:30"))  # Ann's limit reached: 195 left
    now = at("2026-03-08 10:00")
    ann_lots = await mall.statements.expiring(ann, now, days=10)
    (bo_lot,) = await mall.statements.expiring(bo, now, days=10)
    jobs = Jobs(mall, ReminderWords())

    assert (await jobs.remind(now)).messages == 2
    assert (await jobs.remind(now + timedelta(hours=1))).messages == 0

    assert len(ann_lots) == 8
    lots = ",".join(f"{lot.last_day}:{lot.amount}" for lot in ann_lots)
    assert await outbox(mall) == [
        (ann, f"lots {lots} balance 195 offers Latte:60,Tea:30,Cake:40,Soap:70 and more"),
        (bo, f"lots {bo_lot.last_day}:25 balance 25 offers "),
    ]
    assert (await mall.check()).ok


async def test_a_sale_is_announced_once_to_members_who_want_announcements(mall: Mall) -> None:
    for member_id in (7001, 7002, 7003):
        await mall.members.join(member_id, f"M{member_id}", "en", JOINED)
    await mall.members.set_announcements(7002, False)
    mug = await add_item(mall, "mug")
    starts = at("2026-03-06 20:00")
    sale = await mall.flash_sales.create_sale(
        mug, 30, 5, starts, starts + timedelta(hours=2), "first_come", now=JOINED
    )
    jobs = Jobs(mall, Words())

    before = await jobs.sales(starts - timedelta(minutes=1))
    opened = await jobs.sales(starts)
    again = await jobs.sales(starts + timedelta(minutes=1))

    assert (before.messages, opened.messages, again.messages) == (0, 2, 0)
    assert await outbox(mall) == [
        (7001, f"en sale {sale.sale_id} open"),
        (7003, f"en sale {sale.sale_id} open"),
    ]


async def test_a_sale_can_be_announced_ahead_too(make_mall: MallFactory) -> None:
    mall = await make_mall(make_config("[jobs]\nsale_notice_minutes = 30"))
    await mall.members.join(7001, "Ann", "zh_Hans", JOINED)
    mug = await add_item(mall, "mug")
    starts = at("2026-03-06 20:00")
    sale = await mall.flash_sales.create_sale(
        mug, 30, 5, starts, starts + timedelta(hours=2), "first_come", now=JOINED
    )
    jobs = Jobs(mall, Words())

    for minutes in (-31, -30, -10, 0, 5):
        await jobs.sales(starts + timedelta(minutes=minutes))

    assert await outbox(mall) == [
        (7001, f"zh_Hans sale {sale.sale_id} soon"),
        (7001, f"zh_Hans sale {sale.sale_id} open"),
    ]


async def test_the_draw_runs_when_entries_close_and_each_entrant_hears_the_outcome(
    mall: Mall,
) -> None:
    for member_id in (7001, 7002, 7003):
        await mall.members.join(member_id, f"M{member_id}", "en", JOINED)
    mug = await add_item(mall, "mug")
    starts = at("2026-03-06 20:00")
    closes = starts + timedelta(minutes=30)
    sale = await mall.flash_sales.create_sale(
        mug, 30, 1, starts, starts + timedelta(hours=2), "draw", closes, now=JOINED
    )
    for member_id in (7001, 7002):
        await mall.flash_sales.enter(sale.sale_id, member_id, starts + timedelta(minutes=1))
    jobs = Jobs(mall, Words())

    before = await jobs.sales(closes - timedelta(seconds=1), random.Random(4))
    drawn = await jobs.sales(closes, random.Random(4))
    again = await jobs.sales(closes + timedelta(minutes=1), random.Random(4))

    assert (before.changed, drawn.changed, again.changed) == (0, 1, 0)
    told = sorted(payload.split()[-1] for chat, payload in await outbox(mall) if "draw" in payload)
    assert told == ["lost", "won"]
    assert {chat for chat, payload in await outbox(mall) if "draw" in payload} == {7001, 7002}


async def test_entrants_are_told_even_if_the_run_that_drew_died_before_telling(
    mall: Mall,
) -> None:
    await mall.members.join(7001, "Ann", "en", JOINED)
    mug = await add_item(mall, "mug")
    starts = at("2026-03-06 20:00")
    closes = starts + timedelta(minutes=30)
    sale = await mall.flash_sales.create_sale(
        mug, 30, 1, starts, starts + timedelta(hours=2), "draw", closes, now=JOINED
    )
    await mall.flash_sales.enter(sale.sale_id, 7001, starts)
    # The draw happened, then the process died before the outbox rows were written.
    await mall.flash_sales.draw(sale.sale_id, closes, random.Random(1))

    await Jobs(mall, Words()).sales(closes + timedelta(minutes=1))

    assert await outbox(mall) == [(7001, f"en draw {sale.sale_id} won")]


async def test_a_redemption_waiting_too_long_is_released_and_the_member_told(mall: Mall) -> None:
    await mall.members.join(7001, "Ann", "en", JOINED)
    watch = await add_item(mall, "watch", price_points=60, approval_threshold=50)
    offer = await mall.redemptions.offer(7001, watch, JOINED)
    waiting = await mall.redemptions.redeem(7001, offer.token, JOINED)
    jobs = Jobs(mall, Words())
    hours = mall.config.redemptions.approval_timeout_hours

    early = await jobs.holds(JOINED + timedelta(hours=hours - 1))
    late = await jobs.holds(JOINED + timedelta(hours=hours, minutes=1))
    again = await jobs.holds(JOINED + timedelta(hours=hours, minutes=2))

    assert (early.messages, late.messages, again.messages) == (0, 1, 0)
    number = waiting.redemption.redemption_id
    assert await outbox(mall) == [(7001, f"en released redemption {number}")]
    assert (await mall.statements.balance(7001)).balance == 100


async def test_a_member_who_moved_up_a_tier_is_congratulated_once(mall: Mall) -> None:
    await mall.members.join(7001, "Ann", "zh_Hans", JOINED)
    await mall.members.join(7002, "Bo", "en", JOINED)
    await mall.purchases.record_purchase(7001, "order-1", 150_000, "Goods", JOINED)
    jobs = Jobs(mall, Words())

    first = await jobs.tiers(JOINED + timedelta(hours=20))
    second = await jobs.tiers(JOINED + timedelta(days=1, hours=20))

    assert (first.messages, second.messages) == (1, 0)
    assert await outbox(mall) == [(7001, "zh_Hans tier Silver")]
    assert (await mall.members.profile(7001)).tier == "Silver"


async def test_a_lapsed_tier_is_stored_and_climbing_back_is_congratulated_again(
    mall: Mall,
) -> None:
    await mall.members.join(7001, "Ann", "en", JOINED)
    await mall.purchases.record_purchase(7001, "order-1", 150_000, "Goods", JOINED)
    jobs = Jobs(mall, Words())
    await jobs.tiers(JOINED)
    year_later = JOINED + timedelta(days=400)

    lapsed = await jobs.tiers(year_later)
    await mall.purchases.record_purchase(7001, "order-2", 150_000, "Goods", year_later)
    back = await jobs.tiers(year_later + timedelta(days=1))

    assert lapsed.changed == 1
    assert back.messages == 1
    assert [payload for _, payload in await outbox(mall)] == ["en tier Silver", "en tier Silver"]


async def test_the_admins_get_yesterdays_figures_once_a_day(mall: Mall) -> None:
    await mall.members.join(7001, "Ann", "en", JOINED)
    jobs = Jobs(mall, Words())
    morning = at("2026-03-02 08:00")

    await jobs.digest(morning)
    await jobs.digest(morning + timedelta(hours=3))

    assert await outbox(mall) == [(1000, "en digest 2026-03-01 issued 100 owed 100")]


async def test_shop_orders_parked_too_long_are_given_up_and_reported_once(mall: Mall) -> None:
    jobs = Jobs(mall, Words())
    order = OrderIn("W-1", {"telegram_id": 4242}, Decimal("30.00"), mall.config.mall.currency)
    parked = await mall.shop.accept_order(order, JOINED)
    assert parked.status == "parked"

    early = await jobs.parked(JOINED + timedelta(days=mall.config.shop.park_days - 1))
    late = await jobs.parked(JOINED + timedelta(days=mall.config.shop.park_days, hours=1))
    again = await jobs.parked(JOINED + timedelta(days=mall.config.shop.park_days, hours=2))

    assert (early.changed, late.changed, again.changed) == (0, 1, 0)
    assert await outbox(mall) == [(1000, "en parked gave up W-1")]


async def test_a_referrer_is_told_once_when_an_invite_pays_and_the_job_settles_what_waited(
    make_mall: MallFactory,
) -> None:
    mall = await make_mall(
        make_config("[referrals]\nqualify_on = 'checkins'\nqualify_checkins = 1")
    )
    jobs = Jobs(mall, Words())
    await mall.members.join(7001, "Ann", "zh_Hans", JOINED)
    await mall.members.join(7002, "Bob", "en", JOINED, invited_by=7001)
    await mall.members.join(7003, "Cy", "en", JOINED, invited_by=7001)
    # Bob qualifies in his own check-in; Cy's check-in is written as if Ann's account had been
    # busy then, so his invite still waits for the job.
    await mall.checkins.check_in(7002, JOINED + timedelta(hours=1))
    async with mall.db.write() as conn:
        await conn.execute(
            insert(CheckIn).values(
                member_id=7003,
                day=(JOINED + timedelta(hours=1)).date(),
                streak=1,
                reward=0,
                makeup=False,
                created_at=JOINED + timedelta(hours=1),
            )
        )

    first = await jobs.referrals(JOINED + timedelta(hours=1, minutes=1))
    again = await jobs.referrals(JOINED + timedelta(hours=1, minutes=2))

    assert (first.messages, first.changed) == (2, 1)
    assert (again.messages, again.changed) == (0, 0)
    assert sorted(await outbox(mall)) == [
        (7001, "zh_Hans invite paid Bob 100"),
        (7001, "zh_Hans invite paid Cy 100"),
    ]
    assert (await mall.statements.balance(7001)).balance == 100 + 2 * 100
    assert (await mall.check()).ok


async def test_the_risk_job_flags_and_freezes_like_an_admins_scan(make_mall: MallFactory) -> None:
    mall = await make_mall(
        make_config("[risk]\nearn_limit = 500\nearn_score = 40\nauto_freeze_score = 40")
    )
    await mall.members.join(7001, "Ann", "en", JOINED)
    now = at("2026-03-02 12:00")
    await mall.purchases.record_purchase(7001, "A-1", 60_000, "food", now - timedelta(hours=1))
    jobs = Jobs(mall, Words())

    assert await jobs.risk(now) == Enqueued(0, 1)
    assert (await mall.members.profile(7001)).frozen
    assert (await mall.risk.flags()).total == 1
    assert await jobs.risk(now + timedelta(minutes=15)) == Enqueued(0, 0)  # frozen once


# --- On the clock: once per schedule, and a missed run once -----------------------------------


async def test_two_schedulers_on_one_database_run_each_schedule_once(database_url: str) -> None:
    from bot.jobs import JobScheduler, JobSpec, _daily

    databases = [Database.from_url(database_url) for _ in range(2)]
    ran: list[str] = []

    async def job(now: datetime) -> None:
        ran.append(now.isoformat())
        await asyncio.sleep(0)

    config = make_config()
    schedulers = [
        JobScheduler(
            JobRuns(db),
            [JobSpec("expiry", _daily("00:05", config.mall.timezone), job)],
            clock=lambda: JOINED,
            tz=config.mall.timezone,
        )
        for db in databases
    ]
    try:
        for day in range(3):
            fire = at(f"2026-03-0{day + 2} 00:05")
            results = await asyncio.gather(
                *(s.run("expiry", fire + timedelta(seconds=n)) for n, s in enumerate(schedulers))
            )
            assert sorted(results) == [False, True]
    finally:
        for db in databases:
            await db.dispose()
    assert len(ran) == 3


async def test_a_run_missed_while_down_runs_once_at_start(mall: Mall) -> None:
    from bot.jobs import JobScheduler, JobSpec, _daily

    ran: list[tuple[str, datetime]] = []

    def job(name: str):  # type: ignore[no-untyped-def]
        async def run(now: datetime) -> None:
            ran.append((name, now))

        return run

    tz = mall.config.mall.timezone
    specs = [
        JobSpec("expiry", _daily("00:05", tz), job("expiry")),
        JobSpec("digest", _daily("08:00", tz), job("digest")),
    ]
    scheduler = JobScheduler(mall.job_runs, specs, clock=lambda: JOINED, tz=tz)
    assert await scheduler.run("expiry", at("2026-03-01 00:05"))
    assert await scheduler.run("digest", at("2026-03-01 08:00"))

    # Down from Sunday 09:00 to Wednesday 07:00: three expiry runs missed, two digests.
    back = at("2026-03-04 07:00")
    assert await scheduler.catch_up(back) == ["expiry", "digest"]
    assert await scheduler.catch_up(back + timedelta(minutes=5)) == []
    # Up since 07:00: at 08:00 the digest is due again, expiry is not.
    assert await scheduler.catch_up(at("2026-03-04 08:00")) == ["digest"]
    assert [name for name, _ in ran] == ["expiry", "digest", "expiry", "digest", "digest"]


async def test_a_run_that_died_runs_again_at_start(mall: Mall) -> None:
    from bot.jobs import JobScheduler, JobSpec, _daily

    ran: list[datetime] = []

    async def job(now: datetime) -> None:
        ran.append(now)

    tz = mall.config.mall.timezone
    scheduler = JobScheduler(
        mall.job_runs, [JobSpec("expiry", _daily("00:05", tz), job)], clock=lambda: JOINED, tz=tz
    )
    assert await mall.job_runs.claim("expiry", at("2026-03-02 00:05"), at("2026-03-02 00:05"))
    async with mall.db.write() as conn:  # it never finished
        await conn.execute(update(JobRun).values(finished_at=None))

    assert await scheduler.catch_up(at("2026-03-02 00:20")) == ["expiry"]
    assert ran == [at("2026-03-02 00:20")]
