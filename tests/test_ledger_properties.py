"""The ledger's promises under random use: a Hypothesis state machine plays members, the shop,
admins and the nightly jobs against a model of every member's lots, and checks after each step
that the books balance and that the mall agrees with the model to the point.

The model is deliberately plain Python: lots with their expiry instants, drawn earliest expiry
first; the daily cap and the tier window; orders with what was reversed; holds with the lots
they drew. Every use case that carries a key is also tracked by key, so a replay is predicted
from the first outcome (the same result, or the same refusal) and must move nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from core.commerce.purchases import PurchaseResult, RefundResult
from core.db.database import Database
from core.errors import (
    AlreadyRefunded,
    Frozen,
    HoldNotPending,
    InsufficientPoints,
    KeyReused,
    MakeUpNotAllowed,
    MallError,
    UnknownHold,
    UnknownMember,
    UnknownOrder,
)
from core.growth.checkins import CheckInResult, MakeUpResult
from core.mall import Mall
from core.membership.members import JoinResult
from core.points.expiry import ExpiryReport
from core.points.holds import HoldResult
from tests.conftest import MallFactory, at
from tests.support.configs import make_config
from tests.support.databases import PostgresDatabase, SqliteTemplate

SHANGHAI = ZoneInfo("Asia/Shanghai")

# The rules the machine's mall runs under, restated for the model.
SIGNUP_BONUS = 100
REWARDS = (10, 10, 10, 10, 10, 10, 50)
MAKEUP_PRICE = 20
MAKEUPS_PER_MONTH = 2
MAKEUP_WINDOW_DAYS = 30
DAILY_CAP = 150
WINDOW_DAYS = 5
# name: (threshold, multiplier, validity days), lowest first
TIERS = {"Member": (0, Fraction(1), 6), "Silver": (60, Fraction(3, 2), 12)}
CATEGORY_MULTIPLIERS = {"food": Fraction(2)}
REDEMPTIONS = -2

CONFIG_TOML = """
[earning]
daily_cap = 150

[earning.category_multipliers]
food = 2

[tiers]
window_days = 5

[[tiers.levels]]
name = "Member"
threshold = 0
multiplier = 1
validity_days = 6

[[tiers.levels]]
name = "Silver"
threshold = 60
multiplier = 1.5
validity_days = 12
"""

ALICE, BOB, CAROL = 1001, 1002, 1003
MEMBERS = (ALICE, BOB, CAROL)
ORDER_IDS = tuple(f"O-{n}" for n in range(1, 7))
REFUND_IDS = ("full", "r-1", "r-2", "r-3")
CATEGORIES = ("food", "books", "toys")
UNKNOWN_HOLD = 999_999
STARTS = ("2026-03-03 09:00", "2026-03-27 22:30", "2026-02-27 23:50", "2026-04-01 00:00")

members = st.sampled_from((ALICE, ALICE, ALICE, BOB, BOB, BOB, CAROL))
picks = st.integers(min_value=0, max_value=10_000)
# A make-up's day: mostly the last few days (often across a month end), sometimes near the
# window's edge.
days_back_recent = st.integers(min_value=1, max_value=8)
days_back_far = st.integers(min_value=28, max_value=33)
minutes_forward = st.one_of(
    st.integers(min_value=0, max_value=180),  # within the day
    st.integers(min_value=20 * 60, max_value=28 * 60),  # about a day: across midnight
    st.integers(min_value=2 * 24 * 60, max_value=12 * 24 * 60),  # many days
)
order_amounts = st.one_of(
    st.integers(min_value=1, max_value=150), st.integers(min_value=150, max_value=30_000)
)
# Of the order's amount; None refunds what is left; over 100 asks for too much.
refund_percents = st.one_of(st.none(), st.integers(min_value=1, max_value=120))
hold_amounts = st.one_of(
    st.integers(min_value=1, max_value=40), st.integers(min_value=41, max_value=300)
)
hold_waits = st.sampled_from((5, 30, 600, 3 * 24 * 60, 10 * 24 * 60))  # minutes


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def business_day(now: datetime) -> date:
    return now.astimezone(SHANGHAI).date()


def tier_for(earned: int) -> str:
    reached = "Member"
    for name, (threshold, _, _) in TIERS.items():
        if earned >= threshold:
            reached = name
    return reached


@dataclass
class LotModel:
    seq: int
    amount: int
    remaining: int
    expires_at: datetime


@dataclass
class MemberModel:
    member_id: int
    joined_on: date
    frozen: bool = False
    lots: list[LotModel] = field(default_factory=list)
    checkins: dict[date, bool] = field(default_factory=dict)  # day: made up
    makeups_bought: list[date] = field(default_factory=list)  # the days they were bought on
    earned: dict[date, int] = field(default_factory=dict)

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def run_ending(self, day: date) -> int:
        """The streak on ``day``: consecutive checked-in days ending there."""
        count = 0
        while day - timedelta(days=count) in self.checkins:
            count += 1
        return count

    def earned_in_window(self, day: date) -> int:
        first = day - timedelta(days=WINDOW_DAYS - 1)
        return sum(points for d, points in self.earned.items() if first <= d <= day)

    def tier_on(self, day: date) -> str:
        """The tier the rolling window gives on ``day``: it lapses as earnings age out."""
        return tier_for(self.earned_in_window(day))


@dataclass
class OrderModel:
    member_id: int
    amount: int
    points: int
    day: date
    refunded: int = 0
    reversed: int = 0
    unrecovered: int = 0


@dataclass
class HoldModel:
    member_id: int
    amount: int
    status: str
    expires_at: datetime
    draws: list[tuple[LotModel, int]]


@dataclass(frozen=True)
class Sent:
    """A keyed request that reached the mall, kept to replay it later."""

    key: str
    args: tuple[Any, ...]


def ledger_machine(new_database_url: Any, dispose_database: Any) -> type[RuleBasedStateMachine]:
    """The machine class; each example runs on a fresh database from ``new_database_url``."""

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.url = self.sync(new_database_url())
            self.db = Database.from_url(self.url, pool_size=5)
            self.mall = Mall.build(self.db, make_config(CONFIG_TOML))
            self.now = at(STARTS[0])
            self.members: dict[int, MemberModel] = {}
            self.orders: dict[str, OrderModel] = {}
            self.holds: dict[int, HoldModel] = {}
            # key: (fingerprint, first result or the refusal's type)
            self.ops: dict[str, tuple[tuple[Any, ...], Any]] = {}
            self.lot_seq = 0
            self.key_seq = 0
            self.purchases_sent: list[Sent] = []
            self.holds_sent: list[Sent] = []
            self.settles_sent: list[Sent] = []
            self.refunds_sent: list[Sent] = []
            self.steps = 0

        def teardown(self) -> None:
            try:
                self.sync(self.db.dispose())
                dispose_database(self.url)
            finally:
                self.loop.close()

        # --- plumbing -----------------------------------------------------------------------

        def sync(self, coroutine: Any) -> Any:
            return self.loop.run_until_complete(coroutine)

        @property
        def today(self) -> date:
            return business_day(self.now)

        def fresh_key(self, prefix: str) -> str:
            self.key_seq += 1
            return f"{prefix}-{self.key_seq}"

        def ledger_state(self) -> tuple[Any, ...]:
            """Everything a request could move: balances, transfers, lots, holds."""

            async def read() -> tuple[Any, ...]:
                async with self.db.read() as conn:
                    balances = (
                        await conn.execute(text("SELECT id, balance FROM accounts ORDER BY id"))
                    ).all()
                    transfers = (await conn.execute(text("SELECT COUNT(*) FROM transfers"))).one()
                    lots = (
                        await conn.execute(text("SELECT id, remaining FROM lots ORDER BY id"))
                    ).all()
                    holds = (
                        await conn.execute(text("SELECT id, status FROM holds ORDER BY id"))
                    ).all()
                    orders = (
                        await conn.execute(
                            text(
                                "SELECT order_id, refunded_minor, points_reversed FROM orders"
                                " ORDER BY order_id"
                            )
                        )
                    ).all()
                return tuple(
                    tuple(tuple(row) for row in rows)
                    for rows in (balances, [transfers], lots, holds, orders)
                )

            return self.sync(read())

        def prior(self, key: str, fingerprint: tuple[Any, ...]) -> Any:
            """What a request with ``key`` must answer if the key was used: None if unused."""
            if key not in self.ops:
                return None
            first_fingerprint, outcome = self.ops[key]
            if first_fingerprint != fingerprint:
                return KeyReused
            return outcome

        def expect_refusal(self, error: type[MallError], call: Any) -> None:
            """The request is refused with ``error`` and moves nothing."""
            event(f"refused: {error.__name__}")
            before = self.ledger_state()
            with pytest.raises(error):
                self.sync(call())
            assert self.ledger_state() == before, f"refused with {error.__name__} yet wrote"

        def expect_replay(self, outcome: Any, call: Any, expected: Any = None) -> Any:
            """A repeated request answers as the first one did and moves nothing."""
            if isinstance(outcome, type) and issubclass(outcome, MallError):
                self.expect_refusal(outcome, call)
                return None
            event(f"replayed: {type(outcome).__name__}")
            before = self.ledger_state()
            result = self.sync(call())
            assert result == (outcome if expected is None else expected)
            assert self.ledger_state() == before, "a replay moved points"
            return result

        def record(self, key: str, fingerprint: tuple[Any, ...], outcome: Any) -> None:
            self.ops[key] = (fingerprint, outcome)
            if not isinstance(outcome, type):
                event(f"done: {type(outcome).__name__}")

        # --- model moves --------------------------------------------------------------------

        def credit(self, member: MemberModel, amount: int) -> None:
            validity = TIERS[member.tier_on(self.today)][2]
            self.lot_seq += 1
            expires_at = start_of_day(self.today + timedelta(days=validity))
            member.lots.append(LotModel(self.lot_seq, amount, amount, expires_at))

        def earn(self, member: MemberModel, amount: int) -> tuple[int, int]:
            """Credit earned points within the daily cap; returns (granted, capped)."""
            day = self.today
            grant = max(0, min(amount, DAILY_CAP - member.earned.get(day, 0)))
            if grant > 0:
                self.credit(member, grant)
                member.earned[day] = member.earned.get(day, 0) + grant
            return grant, amount - grant

        @staticmethod
        def debit(member: MemberModel, amount: int) -> list[tuple[LotModel, int]]:
            """Take ``amount`` from the open lots, earliest expiry first."""
            assert member.balance >= amount
            draws: list[tuple[LotModel, int]] = []
            left = amount
            for lot in sorted(member.lots, key=lambda lot: (lot.expires_at, lot.seq)):
                if left == 0:
                    break
                share = min(lot.remaining, left)
                if share:
                    lot.remaining -= share
                    draws.append((lot, share))
                    left -= share
            return draws

        # --- the clock ----------------------------------------------------------------------

        @initialize(start=st.sampled_from(STARTS))
        def open_the_mall(self, start: str) -> None:
            """Alice and Bob are members from the start; Carol may join on the way."""
            self.now = at(start)
            self.join(ALICE)
            self.join(BOB)

        @rule(minutes=minutes_forward)
        def time_passes(self, minutes: int) -> None:
            self.now += timedelta(minutes=minutes)

        # --- members ------------------------------------------------------------------------

        @rule(member_id=members)
        def join(self, member_id: int) -> None:
            """/start, the first time or again. (Nobody is invited: referral rewards are
            another feature's story and would only add credits the model does not follow.)"""
            key = f"join:{member_id}"
            first: JoinResult | None = self.prior(key, ("join", member_id))

            def call() -> Any:
                return self.mall.members.join(member_id, "Member", "en", self.now)

            if first is not None:
                again = dataclasses.replace(first, is_new=False, bonus=0)
                self.expect_replay(first, call, expected=again)
                return
            result: JoinResult = self.sync(call())
            assert (result.member_id, result.is_new, result.bonus, result.balance) == (
                member_id,
                True,
                SIGNUP_BONUS,
                SIGNUP_BONUS,
            )
            assert result.invited_by is None
            member = self.members[member_id] = MemberModel(member_id, joined_on=self.today)
            self.credit(member, SIGNUP_BONUS)
            self.record(key, ("join", member_id), result)

        @rule(member_id=members, frozen=st.sampled_from((True, False, False)))
        def admin_freezes_or_unfreezes(self, member_id: int, frozen: bool) -> None:
            def call() -> Any:
                if frozen:
                    return self.mall.members.freeze(member_id, "looks like a bot")
                return self.mall.members.unfreeze(member_id)

            if member_id not in self.members:
                self.expect_refusal(UnknownMember, call)
                return
            assert self.sync(call()).frozen is frozen
            self.members[member_id].frozen = frozen

        # --- check-ins ----------------------------------------------------------------------

        @rule(member_id=members)
        def check_in(self, member_id: int) -> None:
            day = self.today
            key = f"checkin:{member_id}:{day.isoformat()}"

            def call() -> Any:
                return self.mall.checkins.check_in(member_id, self.now)

            first = self.prior(key, ("checkin", member_id, day))
            if first is not None:
                self.expect_replay(
                    first, call, expected=dataclasses.replace(first, already_checked_in=True)
                )
                return
            member = self.members.get(member_id)
            if member is None:
                self.expect_refusal(UnknownMember, call)
                return
            if member.frozen:
                self.expect_refusal(Frozen, call)  # not recorded: the key is the day
                return
            streak = member.run_ending(day - timedelta(days=1)) + 1
            granted, capped = self.earn(member, REWARDS[(streak - 1) % len(REWARDS)])
            member.checkins[day] = False
            result: CheckInResult = self.sync(call())
            assert not result.already_checked_in
            assert (result.day, result.streak, result.reward, result.capped) == (
                day,
                streak,
                granted,
                capped,
            )
            assert result.balance == member.balance
            assert result.next_milestone_streak == (streak // 7 + 1) * 7
            assert result.next_open_at == start_of_day(day + timedelta(days=1))
            self.record(key, ("checkin", member_id, day), result)

        @rule(member_id=members, days_back=st.one_of(days_back_recent, days_back_far))
        def make_up(self, member_id: int, days_back: int) -> None:
            today = self.today
            day = today - timedelta(days=days_back)

            def call() -> Any:
                return self.mall.checkins.make_up(member_id, day, self.now)

            if days_back > MAKEUP_WINDOW_DAYS:  # whatever the month: only the window counts
                self.expect_refusal(MakeUpNotAllowed, call)
                return
            key = f"makeup:{member_id}:{day.isoformat()}"
            first = self.prior(key, ("makeup", member_id, day))
            if first is not None:
                self.expect_replay(first, call)
                return
            member = self.members.get(member_id)
            if member is None:
                self.expect_refusal(UnknownMember, call)
                return
            if member.frozen:
                self.expect_refusal(Frozen, call)
                return
            # Counted in the month they are bought, whichever day they fill.
            used = sum(1 for d in member.makeups_bought if d >= today.replace(day=1))
            if day < member.joined_on or day in member.checkins or used >= MAKEUPS_PER_MONTH:
                self.expect_refusal(MakeUpNotAllowed, call)
                return
            if member.balance < MAKEUP_PRICE:
                self.expect_refusal(InsufficientPoints, call)
                return
            self.debit(member, MAKEUP_PRICE)
            member.checkins[day] = True
            member.makeups_bought.append(today)
            streak = member.run_ending(today) or member.run_ending(today - timedelta(days=1))
            result = self.sync(call())
            assert result == MakeUpResult(
                day, MAKEUP_PRICE, streak, member.balance, MAKEUPS_PER_MONTH - used - 1
            )
            self.record(key, ("makeup", member_id, day), result)

        # --- purchases and refunds ----------------------------------------------------------

        def purchase(self, member_id: int, order_id: str, amount: int, category: str) -> None:
            key = f"purchase:{order_id}"
            fingerprint = ("purchase", member_id, order_id, amount, category)

            def call() -> Any:
                return self.mall.purchases.record_purchase(
                    member_id, order_id, amount, category, self.now
                )

            first = self.prior(key, fingerprint)
            if first is not None:
                self.expect_replay(first, call)
                return
            self.purchases_sent.append(Sent(key, (member_id, order_id, amount, category)))
            member = self.members.get(member_id)
            refusal = UnknownMember if member is None else Frozen if member.frozen else None
            if refusal is not None:
                self.expect_refusal(refusal, call)
                self.record(key, fingerprint, refusal)
                return
            assert member is not None
            tier = member.tier_on(self.today)
            multiplier = CATEGORY_MULTIPLIERS.get(category, Fraction(1)) * TIERS[tier][1]
            points = int(Fraction(amount, 100) * multiplier)  # floor: never negative
            granted, capped = self.earn(member, points) if points else (0, 0)
            self.orders[order_id] = OrderModel(member_id, amount, granted, self.today)
            result: PurchaseResult = self.sync(call())
            assert (result.order_id, result.points, result.capped) == (order_id, granted, capped)
            assert (result.tier_multiplier, result.balance) == (TIERS[tier][1], member.balance)
            assert result.tier == member.tier_on(self.today)
            self.record(key, fingerprint, result)

        @rule(
            member_id=members,
            order_id=st.sampled_from(ORDER_IDS),
            amount=order_amounts,
            category=st.sampled_from(CATEGORIES),
        )
        def shop_sends_an_order(
            self, member_id: int, order_id: str, amount: int, category: str
        ) -> None:
            self.purchase(member_id, order_id, amount, category)

        @precondition(lambda self: self.purchases_sent)
        @rule(pick=picks, extra=st.sampled_from((0, 0, 1, 500)))
        def shop_resends_an_order(self, pick: int, extra: int) -> None:
            """The same order again, or (``extra`` > 0) its id with another amount."""
            member_id, order_id, amount, category = self.purchases_sent[
                pick % len(self.purchases_sent)
            ].args
            if extra:
                call = self.mall.purchases.record_purchase
                self.expect_refusal(
                    KeyReused, lambda: call(member_id, order_id, amount + extra, category, self.now)
                )
                return
            self.purchase(member_id, order_id, amount, category)

        @precondition(lambda self: self.orders)
        @rule(pick=picks, refund_id=st.sampled_from(REFUND_IDS), percent=refund_percents)
        def shop_refunds_an_order(self, pick: int, refund_id: str, percent: int | None) -> None:
            """A full or partial refund, of an order the mall knows or (rarely) of one it
            never heard of."""
            known = sorted(self.orders)
            order_id = [*known, *known, "never-sold"][pick % (2 * len(known) + 1)]
            amount = None
            if percent is not None and order_id in self.orders:
                amount = max(1, self.orders[order_id].amount * percent // 100)
            self.refund(order_id, refund_id, amount)

        @precondition(lambda self: self.refunds_sent)
        @rule(pick=picks)
        def shop_resends_a_refund(self, pick: int) -> None:
            self.refund(*self.refunds_sent[pick % len(self.refunds_sent)].args)

        def refund(self, order_id: str, refund_id: str, amount: int | None) -> None:
            key = f"refund:{order_id}:{refund_id}"
            fingerprint = ("refund", order_id, refund_id, amount)

            def call() -> Any:
                return self.mall.purchases.refund_purchase(
                    order_id, self.now, refund_id=refund_id, amount_minor=amount
                )

            first = self.prior(key, fingerprint)
            if first is not None:
                self.expect_replay(first, call)
                return
            self.refunds_sent.append(Sent(key, (order_id, refund_id, amount)))
            order = self.orders.get(order_id)
            if order is None:
                self.expect_refusal(UnknownOrder, call)
                self.record(key, fingerprint, UnknownOrder)
                return
            left = order.amount - order.refunded
            refund = left if amount is None else amount
            if refund <= 0 or refund > left:
                self.expect_refusal(AlreadyRefunded, call)
                self.record(key, fingerprint, AlreadyRefunded)
                return
            member = self.members[order.member_id]
            refunded = order.refunded + refund
            due = order.points * refunded // order.amount - order.reversed - order.unrecovered
            taken = min(due, member.balance)
            if taken > 0:
                self.debit(member, taken)
                if order.day in member.earned:
                    member.earned[order.day] = max(0, member.earned[order.day] - taken)
            order.refunded = refunded
            order.reversed += taken
            order.unrecovered += due - taken
            result = self.sync(call())
            assert result == RefundResult(
                order_id, refund_id, refund, taken, due - taken, member.balance
            )
            self.record(key, fingerprint, result)

        # --- holds --------------------------------------------------------------------------

        def hold(self, key: str, member_id: int, amount: int, reference: str, wait: int) -> None:
            fingerprint = ("hold", member_id, amount, "redeem", reference, REDEMPTIONS)

            def call() -> Any:
                return self.mall.holds.hold(
                    member_id,
                    amount,
                    key=key,
                    code="redeem",
                    reference=reference,
                    now=self.now,
                    wait=timedelta(minutes=wait),
                )

            first = self.prior(key, fingerprint)
            if first is not None:
                self.expect_replay(first, call)
                return
            self.holds_sent.append(Sent(key, (member_id, amount, reference, wait)))
            member = self.members.get(member_id)
            refusal: type[MallError] | None = None
            if member is None:
                refusal = UnknownMember
            elif member.frozen:
                refusal = Frozen
            elif member.balance < amount:
                refusal = InsufficientPoints
            if refusal is not None:
                self.expect_refusal(refusal, call)
                self.record(key, fingerprint, refusal)
                return
            assert member is not None
            draws = self.debit(member, amount)
            expires_at = self.now + timedelta(minutes=wait)
            result: HoldResult = self.sync(call())
            assert result.hold_id not in self.holds
            assert result == HoldResult(
                result.hold_id, member_id, amount, "pending", member.balance, expires_at
            )
            self.holds[result.hold_id] = HoldModel(member_id, amount, "pending", expires_at, draws)
            self.record(key, fingerprint, result)

        @rule(member_id=members, amount=hold_amounts, wait=hold_waits)
        def member_redeems(self, member_id: int, amount: int, wait: int) -> None:
            self.hold(self.fresh_key("h"), member_id, amount, "item-1", wait)

        @precondition(lambda self: self.holds_sent)
        @rule(pick=picks, item=st.sampled_from(("item-1", "item-1", "item-2")))
        def member_double_taps_redeem(self, pick: int, item: str) -> None:
            """The confirm token again, for the same item or (a stale button) another one."""
            sent = self.holds_sent[pick % len(self.holds_sent)]
            member_id, amount, _, wait = sent.args
            self.hold(sent.key, member_id, amount, item, wait)

        def settle(self, key: str, hold_id: int, post: bool) -> None:
            kind = "hold_post" if post else "hold_void"
            fingerprint = (kind, hold_id)
            settle = self.mall.holds.post if post else self.mall.holds.void

            def call() -> Any:
                return settle(hold_id, key=key, now=self.now)

            first = self.prior(key, fingerprint)
            if first is not None:
                self.expect_replay(first, call)
                return
            self.settles_sent.append(Sent(key, (hold_id, post)))
            hold = self.holds.get(hold_id)
            refusal = UnknownHold if hold is None else None
            if hold is not None and hold.status != "pending":
                refusal = HoldNotPending
            if refusal is not None:
                self.expect_refusal(refusal, call)
                self.record(key, fingerprint, refusal)
                return
            assert hold is not None
            member = self.members[hold.member_id]
            self.settle_model(hold, post)
            result = self.sync(call())
            status = "posted" if post else "voided"
            assert result == HoldResult(
                hold_id, hold.member_id, hold.amount, status, member.balance
            )
            self.record(key, fingerprint, result)

        @staticmethod
        def settle_model(hold: HoldModel, post: bool) -> None:
            hold.status = "posted" if post else "voided"
            if not post:
                for lot, share in hold.draws:
                    lot.remaining += share

        @precondition(lambda self: self.holds)
        @rule(pick=picks, post=st.booleans())
        def admin_answers_a_hold(self, pick: int, post: bool) -> None:
            ids = [*self.holds, UNKNOWN_HOLD]
            self.settle(self.fresh_key("s"), ids[pick % len(ids)], post)

        @precondition(lambda self: self.settles_sent)
        @rule(pick=picks, variant=st.sampled_from(("same", "other_hold", "other_answer")))
        def admin_answer_is_redelivered(self, pick: int, variant: str) -> None:
            sent = self.settles_sent[pick % len(self.settles_sent)]
            hold_id, post = sent.args
            if variant == "other_hold":
                hold_id += 1
            elif variant == "other_answer":
                post = not post
            self.settle(sent.key, hold_id, post)

        @rule()
        def hold_timeout_job_runs(self) -> None:
            self.release_holds()

        def release_holds(self) -> None:
            due = sorted(
                (hold.expires_at, hold_id)
                for hold_id, hold in self.holds.items()
                if hold.status == "pending" and hold.expires_at <= self.now
            )
            expected = []
            for _, hold_id in due:
                hold = self.holds[hold_id]
                self.settle_model(hold, post=False)
                balance = self.members[hold.member_id].balance
                expected.append(HoldResult(hold_id, hold.member_id, hold.amount, "voided", balance))
                self.record(f"timeout:{hold_id}", ("hold_void", hold_id), expected[-1])
            assert self.sync(self.mall.holds.release_expired(self.now)) == expected
            if expected:
                event("holds released at their timeout")

        # --- expiry -------------------------------------------------------------------------

        def expire(self) -> ExpiryReport:
            expired = [
                (member.member_id, lot)
                for member in self.members.values()
                for lot in member.lots
                if lot.remaining > 0 and lot.expires_at <= self.now
            ]
            expected = ExpiryReport(
                len({member_id for member_id, _ in expired}),
                len(expired),
                sum(lot.remaining for _, lot in expired),
            )
            for _, lot in expired:
                lot.remaining = 0
            assert self.sync(self.mall.expire(self.now)) == expected
            return expected

        @rule()
        def expiry_job_runs_twice(self) -> None:
            """The second run, at the same instant, finds nothing left to expire."""
            if self.expire().points:
                event("points expired")
            before = self.ledger_state()
            assert self.sync(self.mall.expire(self.now)) == ExpiryReport(0, 0, 0)
            assert self.ledger_state() == before

        @rule(nights=st.integers(min_value=1, max_value=4))
        def nightly_jobs_run(self, nights: int) -> None:
            """At the ``nights``-th midnight from now (when lots expire): expiry, then the hold
            timeouts (a void puts points back into lots that may have just expired), then
            expiry again at the very same instant, which expires those."""
            self.now = start_of_day(self.today + timedelta(days=nights))
            self.expire()
            self.release_holds()
            if self.expire().points:
                event("points put back into expired lots expired again")

        # --- after every step ---------------------------------------------------------------

        @invariant()
        def books_balance_and_agree_with_the_model(self) -> None:
            report = self.sync(self.mall.check())
            assert report.ok, report.violations
            assert report.members == len(self.members)
            assert report.outstanding_points == sum(m.balance for m in self.members.values())

            async def read() -> tuple[dict[int, list[Any]], dict[int, tuple[int, int, bool]]]:
                lots: dict[int, list[Any]] = defaultdict(list)
                async with self.db.read() as conn:
                    rows = await conn.execute(
                        text(
                            "SELECT account_id, amount, remaining, expires_at FROM lots ORDER BY id"
                        )
                    )
                    for account_id, amount, remaining, expires_at in rows:
                        lots[int(account_id)].append((int(amount), int(remaining), expires_at))
                    accounts = {
                        int(row.id): (int(row.balance), int(row.held), bool(row.frozen))
                        for row in await conn.execute(
                            text(
                                """
                                SELECT a.id, a.balance, a.frozen,
                                       (SELECT COALESCE(SUM(h.amount), 0) FROM holds h
                                        WHERE h.account_id = a.id AND h.status = 'pending')
                                       AS held
                                FROM accounts a JOIN members m ON m.id = a.id
                                """
                            )
                        )
                    }
                return lots, accounts

            lots, accounts = self.sync(read())
            assert set(accounts) == set(self.members)
            for member_id, member in self.members.items():
                stored = [
                    (amount, remaining, as_instant(expires_at))
                    for amount, remaining, expires_at in lots[member_id]
                ]
                assert stored == [
                    (lot.amount, lot.remaining, lot.expires_at) for lot in member.lots
                ]
                held = sum(
                    hold.amount
                    for hold in self.holds.values()
                    if hold.member_id == member_id and hold.status == "pending"
                )
                assert accounts[member_id] == (member.balance, held, member.frozen)
            # And what a member reads on their balance and tier pages, one member a step.
            if self.members:
                self.steps += 1
                member_id = sorted(self.members)[self.steps % len(self.members)]
                member = self.members[member_id]
                balance = self.sync(self.mall.statements.balance(member_id))
                assert (balance.balance, balance.held, balance.frozen) == accounts[member_id]
                tier = self.sync(self.mall.statements.tier(member_id, self.now))
                assert (tier.tier, tier.earned_in_window) == (
                    member.tier_on(self.today),
                    member.earned_in_window(self.today),
                )

    return LedgerMachine


def as_instant(value: Any) -> datetime:
    """A raw ``expires_at`` (naive UTC; text on SQLite) as an aware instant."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def test_the_ledger_keeps_its_promises_under_random_use(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Members join, check in, shop, get refunds, redeem, get frozen, and the nightly jobs
    expire lots and release holds, in random order and at random times: after every step
    the books balance and every member's lots, tier and balance are what the model says."""
    if backend == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")

        async def new_database_url() -> str:
            return template.copy_url(tmp_path)

        def dispose_database(url: str) -> None:
            path = url.removeprefix("sqlite+aiosqlite:///")
            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)

    else:
        postgres: PostgresDatabase = request.getfixturevalue("postgres_database")

        async def new_database_url() -> str:
            await postgres.empty()
            return postgres.url

        def dispose_database(url: str) -> None:
            return None

    run_state_machine_as_test(
        ledger_machine(new_database_url, dispose_database),
        settings=settings(
            max_examples=40,
            stateful_step_count=50,
            deadline=None,
            derandomize=False,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


# --- Bugs the machine found, pinned down one by one ------------------------------------------

VALIDITY_10 = "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidity_days = 10"


async def test_expiry_rerun_at_the_same_instant_after_a_void(make_mall: MallFactory):
    """Carol's held points come back into lots that already expired; the nightly job is
    retried with the same instant and must expire them, not crash."""
    mall = await make_mall(make_config(VALIDITY_10))
    await mall.members.join(3003, "Carol", "en", at("2026-03-01 08:00"))  # 100, to 10 Mar
    held = await mall.holds.hold(
        3003, 60, key="h-1", code="redeem", reference="i-1", now=at("2026-03-05 10:00")
    )
    night = at("2026-03-12 00:00")
    assert (await mall.expire(night)).points == 40
    await mall.holds.void(held.hold_id, key="h-1-void", now=night)
    assert (await mall.expire(night)).points == 60
    assert (await mall.statements.balance(3003)).balance == 0
    assert (await mall.check()).ok


async def test_refunds_of_two_orders_never_share_a_key(mall: Mall):
    """The shop's order ids contain colons; a refund of one order must not be taken for the
    refund of another."""
    await mall.members.join(2002, "Bob", "en", at("2026-03-01 08:00"))
    now = at("2026-03-01 10:00")
    await mall.purchases.record_purchase(2002, "shop", 10_000, "food", now)
    await mall.purchases.record_purchase(2002, "shop:1", 20_000, "food", now)
    first = await mall.purchases.refund_purchase("shop", now, refund_id="1:full")
    second = await mall.purchases.refund_purchase("shop:1", now, refund_id="full")
    assert (first.points_taken, second.points_taken) == (100, 200)
    assert (await mall.statements.balance(2002)).balance == 100


async def test_a_lapsed_tier_no_longer_multiplies(mall: Mall):
    """Bob was Silver a year and a half ago and earned nothing since: today he is a Member,
    as his tier page says, and his purchase earns at the Member rate."""
    await mall.members.join(2002, "Bob", "en", at("2025-01-01 08:00"))
    big = await mall.purchases.record_purchase(2002, "big", 100_000, "food", at("2025-01-01 10:00"))
    assert big.tier == "Silver"
    later = at("2026-06-01 10:00")
    assert (await mall.statements.tier(2002, later)).tier == "Member"
    small = await mall.purchases.record_purchase(2002, "small", 10_000, "food", later)
    assert (small.tier_multiplier, small.points) == (1, 100)


async def test_a_receipt_of_no_points_shows_the_tier_the_member_has_now(mall: Mall):
    """Bob's Silver lapsed; his next order is too small to earn anything. Its receipt says
    Member, as his tier page does, not the Silver he no longer has."""
    await mall.members.join(2002, "Bob", "en", at("2025-01-01 08:00"))
    big = await mall.purchases.record_purchase(2002, "big", 100_000, "food", at("2025-01-01 10:00"))
    assert big.tier == "Silver"
    later = at("2026-06-01 10:00")
    assert (await mall.statements.tier(2002, later)).tier == "Member"
    tiny = await mall.purchases.record_purchase(2002, "tiny", 50, "food", later)
    assert (tiny.points, tiny.tier_multiplier) == (0, 1)
    assert tiny.tier == "Member"
