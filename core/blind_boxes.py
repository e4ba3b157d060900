"""Points blind boxes: true odds, a guarantee, verifiable draws, and what a box pays out.

A box has a points price and prizes (points, items, coupons, a consolation), each with a weight
and an optional stock. Rules worth knowing:

- Odds are always true. A prize is in the draw while its weight is above 0, its own stock (if
  any) is not used up, and for an item or coupon prize while the item is active and has stock
  or free codes left. The odds shown are recomputed from that, and a draw picks only among
  those prizes: a prize that runs out leaves the draw, never turns into a silent "no win".
  Why a prize is out of the draw is :attr:`PrizeOdds.out_reason` (one of :data:`OUT_REASONS`).
  An item that is not ``listed`` (a prize-only item, off the shelf) can still be drawn; an
  item that is not ``active`` is switched off everywhere, so its prize is never drawn.
- The guarantee: a member never makes more than ``pity_after`` draws in a row without a rare
  prize; the ``pity_after``-th is drawn among the rare prizes left (if none is left, it is an
  ordinary draw and says so). The counter (``box_streaks``) persists.
- Verifiable draws: see :mod:`core.box_draws`. The seed whose hash is published signs every
  draw until it is rotated; :meth:`BlindBoxes.rotate_seed` reveals it, and
  :meth:`BlindBoxes.rotate_due` does so on the schedule of ``[boxes] seed_rotation_days``. Each
  member's client seed (:meth:`BlindBoxes.set_client_seed`, or a random one made at their first
  draw) is mixed into their draws, with the draw number as nonce; every draw records its
  formula and client seed, so draws from before client seeds still verify. What a draw needs to be
  recomputed is its seed version and draw number (on ``box_draws``) and the pool it was drawn
  from. The schema has no column for the pool, so it is part of the :class:`DrawResult` the
  member receives, and that result is stored as the draw's idempotency record (``operations``);
  :meth:`BlindBoxes.verify_draw` reads it back through the price's transfer, whose key is the
  operation's key and whose reference names the box and the draw number.
- The ``BOX_POOL`` book takes the prices and pays the points prizes; its balance is derived and
  may go negative after a lucky streak: :meth:`BlindBoxes.payout_report` shows it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from pydantic import TypeAdapter
from sqlalchemy import case, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import box_draws, rules, validation
from core.accounts import SystemAccount
from core.audit import write_entry
from core.config import Config
from core.db.database import Database
from core.db.models import (
    BlindBox,
    BoxDraw,
    BoxPrize,
    BoxSeed,
    BoxStreak,
    ClientSeed,
    CouponCode,
    Item,
    Operation,
    Redemption,
    Transfer,
)
from core.earning import current_standing
from core.errors import (
    DailyCapReached,
    Frozen,
    InvalidInput,
    InvalidState,
    MallError,
    NotAvailable,
    SoldOut,
    UnknownBox,
)
from core.idempotency import run_once
from core.inventory import take_coupon_code, take_stock
from core.ledger import (
    credit_member,
    current_balance,
    debit_member,
    lock_member,
    require_member,
)
from core.task_rewards import advance_each

PRIZE_KINDS = ("points", "item", "coupon", "consolation")
# The columns' own bounds: weights are INTEGER, names VARCHAR(100).
MAX_WEIGHT = 2**31 - 1
MAX_PITY = 100_000
TITLE_MAX = 200
_PROBABILITY_PLACES = Decimal("0.000001")

# Why a prize is out of the draw: stable codes, in the order they are checked.
WEIGHT_ZERO = "weight_zero"  # weight 0: taken out of the draw (or left out of the table)
ALL_WON = "all_won"  # the prize's own stock is used up
NO_ITEM = "no_item"  # an item or coupon prize without its item
ITEM_INACTIVE = "item_inactive"  # its item is switched off (active false)
NO_CODES = "no_codes"  # its coupon item has no free code left
ITEM_SOLD_OUT = "item_sold_out"  # its item's stock is used up
OUT_REASONS = (WEIGHT_ZERO, ALL_WON, NO_ITEM, ITEM_INACTIVE, NO_CODES, ITEM_SOLD_OUT)


class UnknownDraw(MallError):
    code = "unknown_draw"


class BadClientSeed(InvalidInput):
    """A client seed must be 1 to 64 of ``A-Z a-z 0-9 _ - .``."""


def new_seed() -> str:
    """A fresh server seed from the system's secure random source: 64 hex characters."""
    return secrets.token_hex(32)


# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolEntry:
    """One prize of the pool a draw was made from."""

    prize_id: int
    weight: int


@dataclass(frozen=True)
class PrizeOdds:
    """A prize as members see it: its true chance now, ordinary and on a guaranteed draw.

    ``probability`` is ``weight / total_weight`` of the box rounded to 6 places (exact: those
    two numbers); 0 when the prize is out of the draw (``available`` False), and then
    ``out_reason`` says why (one of :data:`OUT_REASONS`; None while it is in the draw).
    """

    prize_id: int
    name: str
    kind: str
    points: int | None
    item_id: int | None
    item_title: str | None
    value: int
    weight: int
    stock: int | None
    rare: bool
    available: bool
    probability: Decimal
    guaranteed_probability: Decimal
    out_reason: str | None = None
    names: Mapping[str, str] = field(default_factory=dict)
    """The prize's name by language (``{"zh_Hans": "..."}``), read instead of ``name``."""
    item_titles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PrizeTable:
    """A box's prizes with their current odds, and its expected value for admins.

    ``expected_value`` is points paid out (items and coupons at their points price) per point
    spent, in the long run, guarantee included; above 1 the box costs the mall.
    """

    box_id: int
    price_points: int
    pity_after: int | None
    total_weight: int
    rare_weight: int
    prizes: tuple[PrizeOdds, ...]
    expected_value: Decimal
    pays_out_more_than_it_takes: bool


@dataclass(frozen=True)
class CreatedBox:
    box_id: int
    sku: str
    seed_version: int
    seed_hash: str
    table: PrizeTable


@dataclass(frozen=True)
class BoxSummary:
    box_id: int
    sku: str
    title: str
    price_points: int
    active: bool
    titles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClientSeedView:
    """A member's client seed; ``chosen``: they set it (else the mall made it at random)."""

    member_id: int
    client_seed: str
    chosen: bool
    updated_at: datetime


@dataclass(frozen=True)
class RevealedSeed:
    """A box's seed that signed draws from ``created_at`` until ``revealed_at``, now public."""

    version: int
    seed: str
    seed_hash: str
    created_at: datetime
    revealed_at: datetime


@dataclass(frozen=True)
class BoxView:
    """What the box screen shows a member: price, true odds, the published seed hash, their
    guarantee counter and today's spending on this box against the daily cap."""

    box_id: int
    sku: str
    title: str
    description: str
    price_points: int
    active: bool
    sold_out: bool
    prizes: tuple[PrizeOdds, ...]
    total_weight: int
    seed_version: int
    seed_hash: str
    pity_after: int | None
    guarantee_available: bool
    draws: int
    since_rare: int
    draws_until_guarantee: int | None
    next_draw_guaranteed: bool
    daily_cap: int | None
    spent_today: int
    left_today: int | None
    titles: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    # When the current seed was committed (its hash published) and when the schedule reveals it.
    seed_created_at: datetime | None = None
    seed_rotates_at: datetime | None = None
    # The last seed revealed (None before the first rotation).
    revealed: RevealedSeed | None = None
    # The member's client seed (None until they set one or make their first draw).
    client_seed: ClientSeedView | None = None


@dataclass(frozen=True)
class DrawResult:
    """One opening of a box: the prize, and everything needed to verify it later.

    ``pool`` is what the draw picked from (after the guarantee narrowed it to rare prizes, and
    without prizes that ran out). ``replayed`` marks the answer to a repeated Open button.
    """

    draw_id: int
    box_id: int
    member_id: int
    draw_number: int
    seed_version: int
    seed_hash: str
    value: int
    pool: tuple[PoolEntry, ...]
    prize_id: int
    prize_name: str
    prize_kind: str
    rare: bool
    points_won: int
    item_id: int | None
    item_title: str | None
    coupon_code: str | None
    redemption_id: int | None
    by_guarantee: bool
    guarantee_missed: bool
    price_points: int
    balance: int
    since_rare: int
    draws_until_guarantee: int | None
    spent_today: int
    replayed: bool = False
    prize_names: Mapping[str, str] = field(default_factory=dict)
    item_titles: Mapping[str, str] = field(default_factory=dict)
    # What the HMAC signed (core.box_draws); results stored before client seeds read as 1.
    formula: int = box_draws.MEMBER_FORMULA
    client_seed: str | None = None


@dataclass(frozen=True)
class SeedRotation:
    """The seed that signed draws until now, revealed, and the hash of the one that follows."""

    box_id: int
    revealed_seed: str
    old_version: int
    old_hash: str
    new_version: int
    new_hash: str


VERIFIED, MISMATCH, NOT_YET_REVEALED, RECORD_MISSING = (
    "verified",
    "mismatch",
    "not_yet_revealed",
    "record_missing",
)


@dataclass(frozen=True)
class Verification:
    """A past draw recomputed from its revealed seed.

    ``status``: ``verified``; ``mismatch`` (the seed or the recorded prize does not agree);
    ``not_yet_revealed`` (the seed still signs draws: nothing can be shown yet); or
    ``record_missing`` (the draw's pool record is gone).
    """

    draw_id: int
    box_id: int
    member_id: int
    draw_number: int
    seed_version: int
    seed_hash: str
    status: str
    seed: str | None
    pool: tuple[PoolEntry, ...]
    value: int | None
    prize_id: int
    recomputed_prize_id: int | None
    # The exact text the HMAC signed, by the draw's formula, and its client seed (formula 2).
    formula: int = box_draws.MEMBER_FORMULA
    client_seed: str | None = None
    message: str = ""
    # The HMAC in hex, once the seed is revealed; when the seed rotates on schedule.
    digest: str | None = None
    seed_rotates_at: datetime | None = None

    @property
    def total_weight(self) -> int:
        return sum(entry.weight for entry in self.pool)

    @property
    def point(self) -> int | None:
        """Where the value lands on the pool's cumulative weights: ``value * total >> 64``."""
        if self.value is None or not self.pool:
            return None
        return (self.value * self.total_weight) >> box_draws.VALUE_BITS

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED


@dataclass(frozen=True)
class PrizeCount:
    prize_id: int
    name: str
    kind: str
    draws: int


@dataclass(frozen=True)
class PayoutReport:
    """What a box took and paid since ``since`` (all time when None), and what it should.

    ``ratio`` is (points paid + item value) per point spent, None before any draw; item value
    counts each item or coupon prize at its item's current points price. ``pool_balance`` is
    the whole ``BOX_POOL`` book (every box, all time): prices in minus points prizes out.
    """

    box_id: int
    since: datetime | None
    draws: int
    points_spent: int
    points_paid: int
    item_value: int
    ratio: Decimal | None
    points_ratio: Decimal | None
    by_guarantee: int
    by_prize: tuple[PrizeCount, ...]
    expected_value: Decimal
    pays_out_more_than_it_takes: bool
    pool_balance: int


@dataclass(frozen=True)
class PrizeSpec:
    """A prize as an admin sets it: ``points`` for points (and optionally consolation) prizes,
    ``item_id`` for item and coupon prizes, ``stock`` None for unlimited."""

    name: str
    kind: str
    weight: int
    points: int | None = None
    item_id: int | None = None
    stock: int | None = None
    rare: bool = False
    names: Mapping[str, str] = field(default_factory=dict)
    """The prize's name in other languages, by language code (``core.validation.clean_texts``)."""


# --- The service -----------------------------------------------------------------------------


class BlindBoxes:
    """Opening boxes, their odds and guarantee, verifying draws, and the admin's prize table."""

    def __init__(
        self, db: Database, config: Config, *, seed_source: Callable[[], str] = new_seed
    ) -> None:
        self.db = db
        self.config = config
        # Server seeds must come from a secure source; tests pass a fixed one.
        self.seed_source = seed_source

    # --- Members ------------------------------------------------------------------------------

    async def list_boxes(self) -> tuple[BoxSummary, ...]:
        """Every box, active first."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(
                    BlindBox.id,
                    BlindBox.sku,
                    BlindBox.title,
                    BlindBox.price_points,
                    BlindBox.active,
                    BlindBox.titles,
                ).order_by(BlindBox.active.desc(), BlindBox.id)
            )
            return tuple(
                BoxSummary(
                    int(r.id),
                    r.sku,
                    r.title,
                    int(r.price_points),
                    bool(r.active),
                    dict(r.titles or {}),
                )
                for r in rows
            )

    async def describe(self, box_id: int, member_id: int, now: datetime) -> BoxView:
        """The box as the member sees it now: true odds, seed hash, their counter and cap."""
        _box_id(box_id)
        validation.member_id(member_id)
        validation.instant(now)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            box = await _box(conn, box_id)
            rows = await _prize_rows(conn, box_id)
            seed = await _current_seed(conn, box_id, lock=False)
            draws, since_rare = await _streak(conn, box_id, member_id)
            spent = await _spent_on(conn, self.config, box_id, member_id, now)
            revealed = await _last_revealed(conn, box_id)
            client = await client_seed_in(conn, member_id)
        table = _table(box, rows)
        due = box_draws.guarantee_due(since_rare, box.pity_after)
        return BoxView(
            box_id=box_id,
            sku=box.sku,
            title=box.title,
            description=box.description,
            price_points=int(box.price_points),
            active=bool(box.active),
            sold_out=table.total_weight == 0,
            prizes=tuple(p for p in table.prizes if p.weight > 0),
            total_weight=table.total_weight,
            seed_version=seed.version,
            seed_hash=seed.seed_hash,
            pity_after=box.pity_after,
            guarantee_available=table.rare_weight > 0,
            draws=draws,
            since_rare=since_rare,
            draws_until_guarantee=box_draws.draws_until_guarantee(since_rare, box.pity_after),
            next_draw_guaranteed=due and table.rare_weight > 0,
            daily_cap=box.daily_cap,
            spent_today=spent,
            left_today=None if box.daily_cap is None else max(0, box.daily_cap - spent),
            titles=box.titles,
            descriptions=box.descriptions,
            seed_created_at=seed.created_at,
            seed_rotates_at=self._rotates_at(seed.created_at),
            revealed=revealed,
            client_seed=client,
        )

    def _rotates_at(self, created_at: datetime | None) -> datetime | None:
        days = self.config.boxes.seed_rotation_days
        if not days or created_at is None:
            return None
        return created_at + timedelta(days=days)

    async def client_seed(self, member_id: int) -> ClientSeedView | None:
        """The member's client seed; None before they set one or make their first draw."""
        validation.member_id(member_id)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            return await client_seed_in(conn, member_id)

    async def set_client_seed(
        self, member_id: int, client_seed: str, now: datetime
    ) -> ClientSeedView:
        """Set the member's client seed for their next draws (on every box).

        Refused with ``invalid_input`` (field ``client_seed``) unless it is 1 to 64 of
        ``A-Z a-z 0-9 _ - .``. Setting the seed one has is no change; past draws keep theirs.
        """
        validation.member_id(member_id)
        validation.instant(now)
        if not box_draws.valid_client_seed(client_seed):
            raise BadClientSeed(
                "a client seed is 1 to 64 letters, digits, '_', '-' or '.'", field="client_seed"
            )
        async with self.db.write() as conn:
            # The member's row first, as every draw does: a draw and a change queue on it.
            await lock_member(conn, member_id)
            await put_client_seed(conn, member_id, client_seed, chosen=True, now=now)
            found = await client_seed_in(conn, member_id)
        assert found is not None
        return found

    async def open(self, member_id: int, box_id: int, key: str, now: datetime) -> DrawResult:
        """Open the box once per ``key`` (the token in the Open button): pay, draw, award.

        Refused, with nothing written: ``unknown_box``, ``not_available`` (inactive box),
        ``sold_out`` (no prize left in the draw), ``frozen``, ``daily_cap_reached`` and
        ``insufficient_points``. A refused key is refused again on retry.
        """
        validation.member_id(member_id)
        _box_id(box_id)
        validation.key(key)
        validation.instant(now)
        operation_key = f"box:{key}"
        validation.key(f"{operation_key}#prize")

        async def work(conn: AsyncConnection) -> DrawResult:
            return await self._open(conn, member_id, box_id, operation_key, now)

        outcome = await run_once(
            self.db,
            key=operation_key,
            kind="box_open",
            request={"member_id": member_id, "box_id": box_id},
            result_type=DrawResult,
            work=work,
            now=now,
        )
        if outcome.replayed:
            return replace(outcome.result, replayed=True)
        return outcome.result

    async def _open(
        self, conn: AsyncConnection, member_id: int, box_id: int, key: str, now: datetime
    ) -> DrawResult:
        box = await _box(conn, box_id)
        if not box.active:
            raise NotAvailable(f"box {box_id} is not open", box_id=box_id)
        # Refuse a sold-out box before taking any lock.
        rows = await _prize_rows(conn, box_id)
        if not any(row.available for row in rows):
            raise SoldOut(f"box {box_id} has no prize left", box_id=box_id)
        member = await lock_member(conn, member_id)
        if member.frozen:
            raise Frozen(f"member {member_id} is frozen", member_id=member_id)
        price = int(box.price_points)
        spent = await _spent_on(conn, self.config, box_id, member_id, now)
        if box.daily_cap is not None and spent + price > box.daily_cap:
            raise DailyCapReached(
                f"member {member_id} spent {spent} of {box.daily_cap} on box {box_id} today",
                box_id=box_id,
                daily_cap=int(box.daily_cap),
                spent_today=spent,
            )
        draw_number, since_rare = await _next_draw(conn, box_id, member_id)
        _, balance = await debit_member(
            conn,
            member_id=member_id,
            destination=SystemAccount.BOX_POOL,
            amount=price,
            code="box_draw",
            reference=_draw_reference(box_id, draw_number),
            key=key,
            now=now,
        )
        seed = await _current_seed(conn, box_id, lock=True)
        client = await client_seed_in(conn, member_id)
        if client is None:
            client_seed = box_draws.new_client_seed()
            await put_client_seed(conn, member_id, client_seed, chosen=False, now=now)
        else:
            client_seed = client.client_seed
        formula = box_draws.CLIENT_SEED_FORMULA
        message = box_draws.draw_message(
            formula, member_id=member_id, draw_number=draw_number, client_seed=client_seed
        )
        value = box_draws.hmac_value(seed.seed, message)
        choice, prize, taken_code = await _draw(conn, box, rows, member_id, value, since_rare, now)
        points_won = (prize.points or 0) if prize.kind in ("points", "consolation") else 0
        if points_won:
            tz = self.config.mall.timezone
            today = rules.business_day(now, tz)
            tier = (await current_standing(conn, self.config, member_id, today)).tier
            # A prize is no earning: it does not count toward the daily earning cap or the tier.
            balance = await credit_member(
                conn,
                member_id=member_id,
                source=SystemAccount.BOX_POOL,
                amount=points_won,
                code="box_prize",
                reference=_draw_reference(box_id, draw_number),
                key=f"{key}#prize",
                now=now,
                expires_at=rules.lot_expiry(
                    rules.business_day(now, tz), tier, self.config.expiry, tz
                ),
            )
        redemption_id: int | None = None
        if prize.kind == "item":
            assert prize.item_id is not None
            redemption_id = await _record_item_prize(
                conn, member_id, prize.item_id, box_id, draw_number, now
            )
        since_rare = 0 if prize.rare else since_rare + 1
        await conn.execute(
            update(BoxStreak)
            .where(BoxStreak.box_id == box_id, BoxStreak.member_id == member_id)
            .values(since_rare=since_rare)
        )
        draw_id = (
            await conn.execute(
                insert(BoxDraw)
                .values(
                    box_id=box_id,
                    member_id=member_id,
                    draw_number=draw_number,
                    seed_version=seed.version,
                    formula=formula,
                    client_seed=client_seed,
                    prize_id=prize.prize_id,
                    price_points=price,
                    points_won=points_won,
                    by_guarantee=choice.by_guarantee,
                    coupon_code_id=taken_code.code_id if taken_code else None,
                    redemption_id=redemption_id,
                    created_at=now,
                )
                .returning(BoxDraw.id)
            )
        ).scalar_one()
        if await advance_each(conn, self.config, member_id, ("spend",), now):
            balance = await current_balance(conn, member_id)
        return DrawResult(
            draw_id=int(draw_id),
            box_id=box_id,
            member_id=member_id,
            draw_number=draw_number,
            seed_version=seed.version,
            seed_hash=seed.seed_hash,
            value=value,
            pool=tuple(PoolEntry(prize_id, weight) for prize_id, weight in choice.pool),
            prize_id=prize.prize_id,
            prize_name=prize.name,
            prize_kind=prize.kind,
            rare=prize.rare,
            points_won=points_won,
            item_id=prize.item_id,
            item_title=prize.item_title,
            prize_names=prize.names,
            item_titles=prize.item_titles,
            coupon_code=taken_code.code if taken_code else None,
            redemption_id=redemption_id,
            by_guarantee=choice.by_guarantee,
            guarantee_missed=choice.guarantee_missed,
            price_points=price,
            balance=balance,
            since_rare=since_rare,
            draws_until_guarantee=box_draws.draws_until_guarantee(since_rare, box.pity_after),
            spent_today=spent + price,
            formula=formula,
            client_seed=client_seed,
        )

    # --- Verifying ----------------------------------------------------------------------------

    async def verify_draw(self, draw_id: int) -> Verification:
        """Recompute a past draw from its seed, once that seed has been revealed."""
        if isinstance(draw_id, bool) or not isinstance(draw_id, int) or draw_id <= 0:
            raise InvalidInput(
                f"draw id must be a positive integer, got {draw_id!r}", field="draw_id"
            )
        async with self.db.read() as conn:
            draw = (await conn.execute(select(BoxDraw).where(BoxDraw.id == draw_id))).one_or_none()
            if draw is None:
                raise UnknownDraw(f"no draw {draw_id}", draw_id=draw_id)
            seed = (
                await conn.execute(
                    select(
                        BoxSeed.seed, BoxSeed.seed_hash, BoxSeed.created_at, BoxSeed.revealed_at
                    ).where(BoxSeed.box_id == draw.box_id, BoxSeed.version == draw.seed_version)
                )
            ).one()
            recorded = await _recorded_result(conn, draw.box_id, draw.member_id, draw.draw_number)
        base = Verification(
            draw_id=draw_id,
            box_id=int(draw.box_id),
            member_id=int(draw.member_id),
            draw_number=int(draw.draw_number),
            seed_version=int(draw.seed_version),
            seed_hash=seed.seed_hash,
            status=NOT_YET_REVEALED,
            seed=None,
            pool=recorded.pool if recorded else (),
            value=None,
            prize_id=int(draw.prize_id),
            recomputed_prize_id=None,
            formula=int(draw.formula),
            client_seed=draw.client_seed,
            message=box_draws.draw_message(
                int(draw.formula),
                member_id=int(draw.member_id),
                draw_number=int(draw.draw_number),
                client_seed=draw.client_seed,
            ),
        )
        if seed.revealed_at is None:
            return replace(base, seed_rotates_at=self._rotates_at(seed.created_at))
        digest = box_draws.hmac_hex(seed.seed, base.message)
        value = box_draws.hmac_value(seed.seed, base.message)
        if recorded is None:
            return replace(base, status=RECORD_MISSING, seed=seed.seed, value=value, digest=digest)
        pool = [(entry.prize_id, entry.weight) for entry in recorded.pool]
        ok = box_draws.verify(seed.seed, seed.seed_hash, base.message, pool, base.prize_id)
        try:
            recomputed: int | None = box_draws.pick(value, pool)
        except ValueError:
            recomputed = None
        return replace(
            base,
            status=VERIFIED if ok and recorded.prize_id == base.prize_id else MISMATCH,
            seed=seed.seed,
            value=value,
            digest=digest,
            recomputed_prize_id=recomputed,
        )

    # --- Admins -------------------------------------------------------------------------------

    async def create_box(
        self,
        sku: str,
        title: str,
        price_points: int,
        prizes: Sequence[PrizeSpec],
        now: datetime,
        *,
        description: str = "",
        titles: Mapping[str, str] | None = None,
        descriptions: Mapping[str, str] | None = None,
        pity_after: int | None = None,
        daily_cap: int | None = None,
        active: bool = True,
        actor_id: int | None = None,
    ) -> CreatedBox:
        """A new box with its prizes and its first seed, whose hash is published at once.
        ``titles`` and ``descriptions`` are its texts in other languages, by language code.

        With ``actor_id`` (the admin) its ``box.create`` audit entry is written in the same
        transaction as the box."""
        validation.reference(sku, field="sku")
        if len(sku) > 64:
            raise InvalidInput("sku must be at most 64 characters", field="sku")
        title = validation.text(title, field="title", max_length=200)
        description = validation.text(
            description, field="description", max_length=4000, allow_empty=True
        )
        box_titles = _checked_texts("titles", titles or {}, TITLE_MAX, allow_empty=False)
        box_descriptions = _checked_texts(
            "descriptions", descriptions or {}, 4000, allow_empty=True
        )
        validation.amount(price_points, field="price_points")
        if pity_after is not None:
            _bounded(pity_after, field="pity_after", low=1, high=MAX_PITY)
        if daily_cap is not None:
            validation.amount(daily_cap, field="daily_cap")
        if not isinstance(active, bool):
            raise InvalidInput("active must be true or false", field="active")
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        specs = _checked_specs(prizes)
        seed = self.seed_source()
        try:
            async with self.db.write() as conn:
                taken = (await conn.execute(select(BlindBox.id).where(BlindBox.sku == sku))).first()
                if taken is not None:
                    raise InvalidInput(f"a box {sku!r} exists", field="sku", reason="taken")
                await _check_items(conn, specs)
                box_id = int(
                    (
                        await conn.execute(
                            insert(BlindBox)
                            .values(
                                sku=sku,
                                title=title,
                                description=description,
                                titles=box_titles,
                                descriptions=box_descriptions,
                                price_points=price_points,
                                pity_after=pity_after,
                                daily_cap=daily_cap,
                                active=active,
                                seed_version=1,
                                created_at=now,
                            )
                            .returning(BlindBox.id)
                        )
                    ).scalar_one()
                )
                await conn.execute(
                    insert(BoxSeed).values(
                        box_id=box_id,
                        version=1,
                        seed=seed,
                        seed_hash=box_draws.seed_hash(seed),
                        created_at=now,
                    )
                )
                await _write_prizes(conn, box_id, specs)
                table = _table(await _box(conn, box_id), await _prize_rows(conn, box_id))
                if actor_id is not None:
                    created: dict[str, object] = {
                        "sku": sku,
                        "title": title,
                        "price_points": price_points,
                        "active": active,
                    }
                    if description:
                        created["description"] = description
                    if box_titles:
                        created["titles"] = dict(box_titles)
                    if box_descriptions:
                        created["descriptions"] = dict(box_descriptions)
                    await write_entry(
                        conn,
                        actor_id=actor_id,
                        action="box.create",
                        target=f"box:{box_id}",
                        now=now,
                        after=created,
                    )
        except IntegrityError:
            # Another admin created the same sku in the meantime.
            raise InvalidInput(f"a box {sku!r} exists", field="sku", reason="taken") from None
        return CreatedBox(box_id, sku, 1, box_draws.seed_hash(seed), table)

    async def edit_box(
        self,
        box_id: int,
        now: datetime,
        *,
        actor_id: int,
        price_points: int | None = None,
        active: bool | None = None,
        title: str | None = None,
        description: str | None = None,
        titles: Mapping[str, str] | None = None,
        descriptions: Mapping[str, str] | None = None,
    ) -> BoxSummary:
        """Change a box's price, title, description or their texts in other languages
        (``titles``/``descriptions``: each replaces the whole table; empty texts are left out,
        so they read the default), or open (``active``) or close it to members; audited with
        the admin who did it, in the same transaction. Values equal to the box's change nothing
        and write no entry. A closed box is refused to members (``not_available``); its draws
        so far, its seed and its guarantee counters stay."""
        _box_id(box_id)
        validation.instant(now)
        validation.member_id(actor_id)
        if price_points is not None:
            validation.amount(price_points, field="price_points")
        if active is not None and not isinstance(active, bool):
            raise InvalidInput("active must be true or false", field="active")
        if title is not None:
            title = validation.text(title, field="title", max_length=TITLE_MAX)
        if description is not None:
            description = validation.text(
                description, field="description", max_length=4000, allow_empty=True
            )
        if titles is not None:
            titles = _checked_texts("titles", titles, TITLE_MAX, allow_empty=False)
        if descriptions is not None:
            descriptions = _checked_texts("descriptions", descriptions, 4000, allow_empty=True)
        async with self.db.write() as conn:
            await conn.execute(select(BlindBox.id).where(BlindBox.id == box_id).with_for_update())
            box = await _box(conn, box_id)
            before: dict[str, object] = {
                "price_points": box.price_points,
                "active": box.active,
                "title": box.title,
                "description": box.description,
                "titles": dict(box.titles),
                "descriptions": dict(box.descriptions),
            }
            given: dict[str, object] = {
                "price_points": price_points,
                "active": active,
                "title": title,
                "description": description,
                "titles": None if titles is None else dict(titles),
                "descriptions": None if descriptions is None else dict(descriptions),
            }
            after = {name: before[name] if given[name] is None else given[name] for name in before}
            changed = {name for name in after if after[name] != before[name]}
            if changed:
                await conn.execute(
                    update(BlindBox)
                    .where(BlindBox.id == box_id)
                    .values(**{name: after[name] for name in changed})
                )
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="box.edit",
                    target=f"box:{box_id}",
                    now=now,
                    before={name: before[name] for name in sorted(changed)},
                    after={name: after[name] for name in sorted(changed)},
                )
            price = after["price_points"]
            texts = after["titles"]
            return BoxSummary(
                box_id,
                box.sku,
                str(after["title"]),
                price if isinstance(price, int) else box.price_points,
                bool(after["active"]),
                texts if isinstance(texts, dict) else box.titles,
            )

    async def set_prizes(
        self,
        box_id: int,
        prizes: Sequence[PrizeSpec],
        now: datetime,
        *,
        actor_id: int | None = None,
        other_languages: Sequence[str] = (),
    ) -> PrizeTable:
        """Replace the box's prize table; returns the odds and expected value it results in.

        Prizes are matched by name: a new name is added, a known one updated (its stock set,
        which is how a prize is restocked), and a prize left out keeps its row for the draws
        that won it but leaves the draw (weight 0). Weights must be >= 0 and not all 0.

        With ``actor_id`` (the admin) the ``box.prizes`` audit entry, the table before and
        after as :func:`prize_lines` (names in ``other_languages``), is written in the same
        transaction as the table.
        """
        _box_id(box_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        specs = _checked_specs(prizes)
        async with self.db.write() as conn:
            box = await _box(conn, box_id)
            await _check_items(conn, specs)
            before = _table(box, await _prize_rows(conn, box_id))
            await _write_prizes(conn, box_id, specs)
            after = _table(box, await _prize_rows(conn, box_id))
            if actor_id is not None:
                skus = await _skus(conn, (*before.prizes, *after.prizes))
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="box.prizes",
                    target=f"box:{box_id}",
                    now=now,
                    before={"prizes": _fit(prize_lines(before.prizes, skus, other_languages))},
                    after={"prizes": _fit(prize_lines(after.prizes, skus, other_languages))},
                )
            return after

    async def preview_prizes(self, box_id: int, prizes: Sequence[PrizeSpec]) -> PrizeTable:
        """The odds and expected value :meth:`set_prizes` would give the box; writes nothing.

        Refused exactly as :meth:`set_prizes` would refuse the same table, so an admin sees
        what saving it would do before saving it.
        """
        _box_id(box_id)
        specs = _checked_specs(prizes)
        async with self.db.read() as conn:
            box = await _box(conn, box_id)
            await _check_items(conn, specs)
            rows = await _prize_rows(conn, box_id)
            items = await _item_facts(conn, {s.item_id for s in specs if s.item_id is not None})
        return _table(box, _planned(rows, specs, items))

    async def prize_table(self, box_id: int) -> PrizeTable:
        """The box's prizes with their current odds and the expected value (for admins)."""
        _box_id(box_id)
        async with self.db.read() as conn:
            return _table(await _box(conn, box_id), await _prize_rows(conn, box_id))

    async def rotate_due(self, now: datetime) -> tuple[SeedRotation, ...]:
        """Rotate every box whose seed is ``[boxes] seed_rotation_days`` old (for the job).

        Idempotent: a box rotated meanwhile (by an admin or another run) has a younger seed and
        is left alone. Nothing happens when the schedule is off (0 days).
        """
        validation.instant(now)
        days = self.config.boxes.seed_rotation_days
        if not days:
            return ()
        cutoff = now - timedelta(days=days)
        async with self.db.read() as conn:
            due = (
                await conn.execute(
                    select(BoxSeed.box_id)
                    .where(BoxSeed.revealed_at.is_(None), BoxSeed.created_at <= cutoff)
                    .order_by(BoxSeed.box_id)
                )
            ).scalars()
            box_ids = [int(box_id) for box_id in due]
        rotations = []
        for box_id in box_ids:
            rotation = await self._rotate(box_id, now, older_than=cutoff)
            if rotation is not None:
                rotations.append(rotation)
        return tuple(rotations)

    async def rotate_seed(
        self, box_id: int, now: datetime, *, actor_id: int | None = None
    ) -> SeedRotation:
        """Reveal the seed that signed the draws so far and start a new one, hash published.

        Draws in progress finish on the old seed first (they hold it shared); every later draw
        is signed by the new one, so a revealed seed never signs a draw. With ``actor_id``
        (the admin) the ``box.rotate_seed`` audit entry is written in the same transaction.
        """
        _box_id(box_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        rotation = await self._rotate(box_id, now, older_than=None, actor_id=actor_id)
        assert rotation is not None
        return rotation

    async def _rotate(
        self,
        box_id: int,
        now: datetime,
        *,
        older_than: datetime | None,
        actor_id: int | None = None,
    ) -> SeedRotation | None:
        fresh = self.seed_source()
        async with self.db.write() as conn:
            # Rotations of one box queue on its row.
            found = (
                await conn.execute(
                    select(BlindBox.id).where(BlindBox.id == box_id).with_for_update()
                )
            ).first()
            if found is None:
                raise UnknownBox(f"no box {box_id}", box_id=box_id)
            current = await _current_seed(conn, box_id, lock=False)
            if older_than is not None and (
                current.created_at is None or current.created_at > older_than
            ):
                return None
            revealed = (
                await conn.execute(
                    update(BoxSeed)
                    .where(
                        BoxSeed.box_id == box_id,
                        BoxSeed.version == current.version,
                        BoxSeed.revealed_at.is_(None),
                    )
                    .values(revealed_at=now)
                    .returning(BoxSeed.seed)
                )
            ).scalar_one()
            version = current.version + 1
            await conn.execute(
                insert(BoxSeed).values(
                    box_id=box_id,
                    version=version,
                    seed=fresh,
                    seed_hash=box_draws.seed_hash(fresh),
                    created_at=now,
                )
            )
            await conn.execute(
                update(BlindBox).where(BlindBox.id == box_id).values(seed_version=version)
            )
            rotation = SeedRotation(
                box_id=box_id,
                revealed_seed=str(revealed),
                old_version=current.version,
                old_hash=current.seed_hash,
                new_version=version,
                new_hash=box_draws.seed_hash(fresh),
            )
            if actor_id is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="box.rotate_seed",
                    target=f"box:{box_id}",
                    now=now,
                    before={"version": rotation.old_version, "seed_hash": rotation.old_hash},
                    after={
                        "version": rotation.new_version,
                        "seed_hash": rotation.new_hash,
                        "revealed_seed": rotation.revealed_seed,
                    },
                )
        return rotation

    async def payout_report(self, box_id: int, since: datetime | None = None) -> PayoutReport:
        """Draws, points spent and paid out, item value and the ratio, beside the theory."""
        _box_id(box_id)
        if since is not None:
            validation.instant(since, field="since")
        async with self.db.read() as conn:
            box = await _box(conn, box_id)
            table = _table(box, await _prize_rows(conn, box_id))
            window = [BoxDraw.box_id == box_id]
            if since is not None:
                window.append(BoxDraw.created_at >= since)
            rows = (
                await conn.execute(
                    select(
                        BoxPrize.id,
                        BoxPrize.name,
                        BoxPrize.kind,
                        func.count(BoxDraw.id).label("draws"),
                        func.coalesce(func.sum(BoxDraw.price_points), 0).label("spent"),
                        func.coalesce(func.sum(BoxDraw.points_won), 0).label("paid"),
                        func.coalesce(func.sum(func.coalesce(Item.price_points, 0)), 0).label(
                            "item_value"
                        ),
                        func.coalesce(
                            func.sum(case((BoxDraw.by_guarantee.is_(True), 1), else_=0)), 0
                        ).label("guaranteed"),
                    )
                    .join(BoxPrize, BoxPrize.id == BoxDraw.prize_id)
                    .outerjoin(Item, Item.id == BoxPrize.item_id)
                    .where(*window)
                    .group_by(BoxPrize.id, BoxPrize.name, BoxPrize.kind)
                    .order_by(BoxPrize.id)
                )
            ).all()
            pool_balance = await _book_balance(conn, SystemAccount.BOX_POOL)
        draws = sum(int(r.draws) for r in rows)
        spent = sum(int(r.spent) for r in rows)
        paid = sum(int(r.paid) for r in rows)
        item_value = sum(int(r.item_value) for r in rows if r.kind in ("item", "coupon"))
        return PayoutReport(
            box_id=box_id,
            since=since,
            draws=draws,
            points_spent=spent,
            points_paid=paid,
            item_value=item_value,
            ratio=_ratio(paid + item_value, spent),
            points_ratio=_ratio(paid, spent),
            by_guarantee=sum(int(r.guaranteed) for r in rows),
            by_prize=tuple(PrizeCount(int(r.id), r.name, r.kind, int(r.draws)) for r in rows),
            expected_value=table.expected_value,
            pays_out_more_than_it_takes=table.pays_out_more_than_it_takes,
            pool_balance=pool_balance,
        )


# --- The prize table as admins type it ---------------------------------------------------------

# How much of an audit entry (``core.audit.MAX_STATE_CHARS``) a prize table's lines may fill.
AUDIT_PRIZE_CHARS = 3500


def prize_lines(
    prizes: Sequence[PrizeOdds], skus: Mapping[int, str], other_languages: Sequence[str]
) -> list[str]:
    """The prizes in the draw as lines of the admins' typed format, to copy and edit (and as
    the audit log shows a table): ``name / 中文名: item mug weight 5 stock 2 rare``.

    ``skus`` names the prizes' items (an item not in it by its id); ``other_languages`` are
    the languages after the default whose names follow ``name``, in order.
    """
    lines = []
    for prize in prizes:
        if prize.weight <= 0:
            continue
        if prize.kind in ("item", "coupon") and prize.item_id is not None:
            what = f"{prize.kind} {skus.get(prize.item_id, str(prize.item_id))}"
        elif prize.kind == "points" or prize.points:
            what = f"{prize.kind} {prize.points}"
        else:
            what = "nothing"
        stock = f" stock {prize.stock}" if prize.stock is not None else ""
        rare = " rare" if prize.rare else ""
        others = [prize.names.get(language, "") for language in other_languages]
        while others and not others[-1]:
            others.pop()
        name = " / ".join([prize.name, *others])
        lines.append(f"{name}: {what} weight {prize.weight}{stock}{rare}")
    return lines


def _fit(lines: list[str]) -> list[str]:
    """As many lines as the audit log's entry holds, and "…" if some were left out."""
    kept: list[str] = []
    used = 0
    for line in lines:
        used += len(line) + 4
        if used > AUDIT_PRIZE_CHARS:
            return [*kept, "…"]
        kept.append(line)
    return kept


async def _skus(conn: AsyncConnection, prizes: Sequence[PrizeOdds]) -> dict[int, str]:
    ids = {prize.item_id for prize in prizes if prize.item_id is not None}
    if not ids:
        return {}
    rows = (await conn.execute(select(Item.id, Item.sku).where(Item.id.in_(ids)))).all()
    return {int(row.id): str(row.sku) for row in rows}


# --- Reading a box ---------------------------------------------------------------------------


async def prize_table_in(conn: AsyncConnection, box_id: int) -> PrizeTable:
    """The box's prize table as :meth:`BlindBoxes.prize_table` gives it, read on ``conn``
    (inside the caller's transaction: the catalog file checks what it just wrote)."""
    return _table(await _box(conn, _box_id(box_id)), await _prize_rows(conn, box_id))


def _box_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput(f"box id must be a positive integer, got {value!r}", field="box_id")
    return value


def _bounded(value: object, *, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{field} must be an integer {low}-{high}, got {value!r}", field=field)
    return value


@dataclass(frozen=True)
class _Box:
    box_id: int
    sku: str
    title: str
    description: str
    price_points: int
    pity_after: int | None
    daily_cap: int | None
    active: bool
    titles: Mapping[str, str] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)


async def _box(conn: AsyncConnection, box_id: int) -> _Box:
    row = (
        await conn.execute(
            select(
                BlindBox.sku,
                BlindBox.title,
                BlindBox.description,
                BlindBox.price_points,
                BlindBox.pity_after,
                BlindBox.daily_cap,
                BlindBox.active,
                BlindBox.titles,
                BlindBox.descriptions,
            ).where(BlindBox.id == box_id)
        )
    ).first()
    if row is None:
        raise UnknownBox(f"no box {box_id}", box_id=box_id)
    return _Box(
        box_id,
        row.sku,
        row.title,
        row.description,
        int(row.price_points),
        None if row.pity_after is None else int(row.pity_after),
        None if row.daily_cap is None else int(row.daily_cap),
        bool(row.active),
        dict(row.titles or {}),
        dict(row.descriptions or {}),
    )


@dataclass(frozen=True)
class _Prize:
    """A prize row with what decides whether it is in the draw."""

    prize_id: int
    name: str
    kind: str
    points: int | None
    item_id: int | None
    weight: int
    stock: int | None
    rare: bool
    item_title: str | None
    item_price: int | None
    item_stock: int | None
    item_active: bool
    has_code: bool
    names: Mapping[str, str] = field(default_factory=dict)
    item_titles: Mapping[str, str] = field(default_factory=dict)

    @property
    def out_reason(self) -> str | None:
        """Why the prize is out of the draw (see :data:`OUT_REASONS`), None if it is in it."""
        if self.weight <= 0:
            return WEIGHT_ZERO
        if self.stock is not None and self.stock <= 0:
            return ALL_WON
        if self.kind in ("item", "coupon"):
            if self.item_id is None:
                return NO_ITEM
            # Only active counts: an item that is not listed (prize only) is still given.
            if not self.item_active:
                return ITEM_INACTIVE
            if self.kind == "coupon":
                return None if self.has_code else NO_CODES
            if self.item_stock is not None and self.item_stock <= 0:
                return ITEM_SOLD_OUT
        return None

    @property
    def available(self) -> bool:
        """In the draw: weighted, not used up, and its item (if any) can still be given."""
        return self.out_reason is None

    @property
    def value(self) -> int:
        """What the prize pays out, in points (items and coupons at their price)."""
        if self.kind in ("item", "coupon"):
            return self.item_price or 0
        return self.points or 0

    def candidate(self) -> box_draws.Candidate:
        return box_draws.Candidate(self.prize_id, self.weight, self.rare, self.value)


async def _prize_rows(conn: AsyncConnection, box_id: int) -> list[_Prize]:
    has_code = (
        exists()
        .where(CouponCode.item_id == BoxPrize.item_id, CouponCode.taken_at.is_(None))
        .label("has_code")
    )
    rows = await conn.execute(
        select(
            BoxPrize.id,
            BoxPrize.name,
            BoxPrize.kind,
            BoxPrize.points,
            BoxPrize.item_id,
            BoxPrize.weight,
            BoxPrize.stock,
            BoxPrize.rare,
            Item.title,
            Item.price_points,
            Item.stock.label("item_stock"),
            Item.active,
            has_code,
            BoxPrize.names,
            Item.titles,
        )
        .outerjoin(Item, Item.id == BoxPrize.item_id)
        .where(BoxPrize.box_id == box_id)
        .order_by(BoxPrize.id)
    )
    return [
        _Prize(
            prize_id=int(r.id),
            name=r.name,
            kind=r.kind,
            points=None if r.points is None else int(r.points),
            item_id=None if r.item_id is None else int(r.item_id),
            weight=int(r.weight),
            stock=None if r.stock is None else int(r.stock),
            rare=bool(r.rare),
            item_title=r.title,
            item_price=None if r.price_points is None else int(r.price_points),
            item_stock=None if r.item_stock is None else int(r.item_stock),
            item_active=bool(r.active),
            has_code=bool(r.has_code),
            names=dict(r.names or {}),
            item_titles=dict(r.titles or {}),
        )
        for r in rows
    ]


def _probability(weight: int, total: int) -> Decimal:
    if total <= 0:
        return Decimal(0).quantize(_PROBABILITY_PLACES)
    chance = Fraction(weight, total)
    return (Decimal(chance.numerator) / Decimal(chance.denominator)).quantize(_PROBABILITY_PLACES)


def _table(box: _Box, rows: Sequence[_Prize]) -> PrizeTable:
    live = [row for row in rows if row.available]
    total = sum(row.weight for row in live)
    rare_total = sum(row.weight for row in live if row.rare)
    ev = box_draws.expected_value(
        box.price_points, [row.candidate() for row in live], box.pity_after
    )
    prizes = tuple(
        PrizeOdds(
            prize_id=row.prize_id,
            name=row.name,
            kind=row.kind,
            points=row.points,
            item_id=row.item_id,
            item_title=row.item_title,
            value=row.value,
            weight=row.weight,
            stock=row.stock,
            rare=row.rare,
            available=row.available,
            probability=_probability(row.weight if row.available else 0, total),
            guaranteed_probability=_probability(
                row.weight if row.available and row.rare else 0, rare_total
            ),
            out_reason=row.out_reason,
            names=row.names,
            item_titles=row.item_titles,
        )
        for row in rows
    )
    return PrizeTable(
        box_id=box.box_id,
        price_points=box.price_points,
        pity_after=box.pity_after,
        total_weight=total,
        rare_weight=rare_total,
        prizes=prizes,
        expected_value=ev,
        pays_out_more_than_it_takes=ev > 1,
    )


@dataclass(frozen=True)
class _Seed:
    version: int
    seed: str
    seed_hash: str
    created_at: datetime | None = None


async def _current_seed(conn: AsyncConnection, box_id: int, *, lock: bool) -> _Seed:
    """The box's unrevealed seed. ``lock``: hold it shared, so a rotation waits for this draw.

    On PostgreSQL a draw that queued behind a rotation finds the seed it waited for revealed
    and reads again, now seeing the new one.
    """
    for _ in range(3):
        query = (
            select(BoxSeed.version, BoxSeed.seed, BoxSeed.seed_hash, BoxSeed.created_at)
            .where(BoxSeed.box_id == box_id, BoxSeed.revealed_at.is_(None))
            .order_by(BoxSeed.version.desc())
            .limit(1)
        )
        if lock:
            query = query.with_for_update(read=True)
        row = (await conn.execute(query)).first()
        if row is not None:
            return _Seed(int(row.version), row.seed, row.seed_hash, row.created_at)
    raise InvalidState(f"box {box_id} has no unrevealed seed", box_id=box_id)


async def _streak(conn: AsyncConnection, box_id: int, member_id: int) -> tuple[int, int]:
    row = (
        await conn.execute(
            select(BoxStreak.draws, BoxStreak.since_rare).where(
                BoxStreak.box_id == box_id, BoxStreak.member_id == member_id
            )
        )
    ).first()
    return (0, 0) if row is None else (int(row.draws), int(row.since_rare))


async def _last_revealed(conn: AsyncConnection, box_id: int) -> RevealedSeed | None:
    row = (
        await conn.execute(
            select(BoxSeed)
            .where(BoxSeed.box_id == box_id, BoxSeed.revealed_at.is_not(None))
            .order_by(BoxSeed.version.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return RevealedSeed(int(row.version), row.seed, row.seed_hash, row.created_at, row.revealed_at)


async def client_seed_in(conn: AsyncConnection, member_id: int) -> ClientSeedView | None:
    row = (await conn.execute(select(ClientSeed).where(ClientSeed.member_id == member_id))).first()
    if row is None:
        return None
    return ClientSeedView(member_id, row.client_seed, bool(row.chosen), row.updated_at)


async def put_client_seed(
    conn: AsyncConnection, member_id: int, client_seed: str, *, chosen: bool, now: datetime
) -> None:
    """Insert or replace the member's client seed (callers hold the member's row)."""
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert_(ClientSeed).values(
        member_id=member_id, client_seed=client_seed, chosen=chosen, updated_at=now
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[ClientSeed.member_id],
            set_={"client_seed": client_seed, "chosen": chosen, "updated_at": now},
        )
    )


async def _next_draw(conn: AsyncConnection, box_id: int, member_id: int) -> tuple[int, int]:
    """Count the member's next draw on the box: (its number, draws since their last rare)."""
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert_(BoxStreak).values(box_id=box_id, member_id=member_id, draws=1, since_rare=0)
    row = (
        await conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[BoxStreak.box_id, BoxStreak.member_id],
                set_={"draws": BoxStreak.draws + 1},
            ).returning(BoxStreak.draws, BoxStreak.since_rare)
        )
    ).one()
    return int(row.draws), int(row.since_rare)


async def _spent_on(
    conn: AsyncConnection, config: Config, box_id: int, member_id: int, now: datetime
) -> int:
    """Points the member spent on the box during the mall's business day of ``now``."""
    tz = config.mall.timezone
    day = rules.business_day(now, tz)
    start, end = rules.start_of_day(day, tz), rules.start_of_day(day + timedelta(days=1), tz)
    total = (
        await conn.execute(
            select(func.coalesce(func.sum(BoxDraw.price_points), 0)).where(
                BoxDraw.box_id == box_id,
                BoxDraw.member_id == member_id,
                BoxDraw.created_at >= start,
                BoxDraw.created_at < end,
            )
        )
    ).scalar_one()
    return int(total)


# --- Drawing ---------------------------------------------------------------------------------


async def _draw(
    conn: AsyncConnection,
    box: _Box,
    rows: Sequence[_Prize],
    member_id: int,
    value: int,
    since_rare: int,
    now: datetime,
) -> tuple[box_draws.Choice, _Prize, _TakenCode | None]:
    """Pick a prize and take it. A prize another draw just used up leaves the pool and the
    same value is drawn again from what is left: deterministic, and recorded in the pool.

    ``rows`` is the prize table as read before the member was locked; the takes are
    conditional, so a stale row costs a retry, never a prize that is not there.
    """
    gone: set[int] = set()
    while True:
        if gone:
            rows = await _prize_rows(conn, box.box_id)
        live = [row for row in rows if row.available and row.prize_id not in gone]
        if not live:
            raise SoldOut(f"box {box.box_id} has no prize left", box_id=box.box_id)
        choice = box_draws.choose(
            value, [row.candidate() for row in live], since_rare, box.pity_after
        )
        prize = next(row for row in live if row.prize_id == choice.prize_id)
        taken = await _take_prize(conn, prize, member_id, now)
        if taken is not None:
            return choice, prize, taken.code
        gone.add(prize.prize_id)


@dataclass(frozen=True)
class _TakenCode:
    code_id: int
    code: str


@dataclass(frozen=True)
class _Taken:
    code: _TakenCode | None


async def _take_prize(
    conn: AsyncConnection, prize: _Prize, member_id: int, now: datetime
) -> _Taken | None:
    """Take one of the prize (its own stock, then its item's unit or code); None if gone."""
    # Unlimited prizes are not touched: their row must not become a lock every draw queues on.
    if prize.stock is not None:
        result = await conn.execute(
            update(BoxPrize)
            .where(BoxPrize.id == prize.prize_id, BoxPrize.stock >= 1)
            .values(stock=BoxPrize.stock - 1)
        )
        if not result.rowcount:
            return None
    if prize.kind == "item" and prize.item_id is not None:
        if await take_stock(conn, prize.item_id):
            return _Taken(None)
    elif prize.kind == "coupon" and prize.item_id is not None:
        code = await take_coupon_code(conn, prize.item_id, member_id, now)
        if code is not None:
            return _Taken(_TakenCode(code.code_id, code.code))
    else:
        return _Taken(None)
    if prize.stock is not None:
        await conn.execute(
            update(BoxPrize).where(BoxPrize.id == prize.prize_id).values(stock=BoxPrize.stock + 1)
        )
    return None


async def _record_item_prize(
    conn: AsyncConnection,
    member_id: int,
    item_id: int,
    box_id: int,
    draw_number: int,
    now: datetime,
) -> int:
    """An item won is fulfilled like any redemption: a completed one, for 0 points."""
    redemption_id = (
        await conn.execute(
            insert(Redemption)
            .values(
                member_id=member_id,
                item_id=item_id,
                confirm_token=f"box-{box_id}-{member_id}-{draw_number}",
                status="completed",
                points=0,
                cash_minor=0,
                created_at=now,
                updated_at=now,
            )
            .returning(Redemption.id)
        )
    ).scalar_one()
    return int(redemption_id)


def _draw_reference(box_id: int, draw_number: int) -> str:
    """The reference of a draw's transfers: with the member, it names the draw."""
    return f"box:{box_id}:{draw_number}"


_RESULT = TypeAdapter(DrawResult)


async def _recorded_result(
    conn: AsyncConnection, box_id: int, member_id: int, draw_number: int
) -> DrawResult | None:
    """The result the draw returned (and stored under its key), found through its price."""
    key = (
        await conn.execute(
            select(Transfer.key).where(
                Transfer.debit_account_id == member_id,
                Transfer.credit_account_id == int(SystemAccount.BOX_POOL),
                Transfer.code == "box_draw",
                Transfer.reference == _draw_reference(box_id, draw_number),
            )
        )
    ).scalar_one_or_none()
    if key is None:
        return None
    stored = (
        await conn.execute(
            select(Operation.result).where(Operation.key == key, Operation.status == "ok")
        )
    ).scalar_one_or_none()
    return None if stored is None else _RESULT.validate_json(stored)


async def _book_balance(conn: AsyncConnection, book: SystemAccount) -> int:
    """A system account's balance, derived from its transfers: in minus out."""
    credited = (
        await conn.execute(
            select(func.coalesce(func.sum(Transfer.amount), 0)).where(
                Transfer.credit_account_id == int(book)
            )
        )
    ).scalar_one()
    debited = (
        await conn.execute(
            select(func.coalesce(func.sum(Transfer.amount), 0)).where(
                Transfer.debit_account_id == int(book)
            )
        )
    ).scalar_one()
    return int(credited) - int(debited)


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


# --- Writing the prize table -----------------------------------------------------------------


def _checked_specs(prizes: object) -> list[PrizeSpec]:
    """The prize table, checked before anything is written."""
    if isinstance(prizes, str | bytes) or not isinstance(prizes, Sequence) or not prizes:
        raise InvalidInput("a box needs at least one prize", field="prizes")
    specs: list[PrizeSpec] = []
    names: set[str] = set()
    for index, spec in enumerate(prizes):
        where = f"prizes[{index}]"
        if not isinstance(spec, PrizeSpec):
            raise InvalidInput(f"{where} must be a PrizeSpec", field=where)
        name = validation.text(spec.name, field=f"{where}.name", max_length=100)
        if name.casefold() in names:
            raise InvalidInput(f"prize name {name!r} appears twice", field=f"{where}.name")
        names.add(name.casefold())
        if spec.kind not in PRIZE_KINDS:
            raise InvalidInput(
                f"{where}.kind must be one of {', '.join(PRIZE_KINDS)}, got {spec.kind!r}",
                field=f"{where}.kind",
            )
        _bounded(spec.weight, field=f"{where}.weight", low=0, high=MAX_WEIGHT)
        if spec.stock is not None:
            _bounded(spec.stock, field=f"{where}.stock", low=0, high=validation.MAX_AMOUNT)
        if not isinstance(spec.rare, bool):
            raise InvalidInput(f"{where}.rare must be true or false", field=f"{where}.rare")
        if spec.kind == "points" and spec.points is None:
            raise InvalidInput(f"{where} is a points prize without points", field=f"{where}.points")
        if spec.points is not None:
            if spec.kind not in ("points", "consolation"):
                raise InvalidInput(
                    f"{where}: only points and consolation prizes give points",
                    field=f"{where}.points",
                )
            validation.amount(spec.points, field=f"{where}.points")
        if spec.kind in ("item", "coupon"):
            if spec.item_id is None:
                raise InvalidInput(f"{where} needs an item", field=f"{where}.item_id")
            _bounded(spec.item_id, field=f"{where}.item_id", low=1, high=2**63 - 1)
        elif spec.item_id is not None:
            raise InvalidInput(
                f"{where}: only item and coupon prizes name an item", field=f"{where}.item_id"
            )
        names_in = _checked_texts(f"{where}.names", spec.names, 100, allow_empty=True)
        specs.append(replace(spec, name=name, names=names_in))
    if sum(spec.weight for spec in specs) <= 0:
        raise InvalidInput(
            "the weights sum to 0: nothing could be drawn", field="prizes", reason="zero_weights"
        )
    return specs


def _checked_texts(
    name: str, texts: object, max_length: int, *, allow_empty: bool
) -> dict[str, str]:
    """``texts`` (a text by language) as stored, or refused naming the first problem."""
    problems = validation.texts_problems(name, texts, max_length, allow_empty=allow_empty)
    if problems:
        where, problem = problems[0]
        raise InvalidInput(f"{where} {problem}", field=where)
    assert isinstance(texts, Mapping)
    return validation.clean_texts(texts)


async def _check_items(conn: AsyncConnection, specs: Sequence[PrizeSpec]) -> None:
    """Item prizes name existing items; coupon prizes name coupon items, item prizes others."""
    wanted = {spec.item_id for spec in specs if spec.item_id is not None}
    if not wanted:
        return
    kinds = {
        int(r.id): r.kind
        for r in await conn.execute(select(Item.id, Item.kind).where(Item.id.in_(wanted)))
    }
    for index, spec in enumerate(specs):
        if spec.item_id is None:
            continue
        where = f"prizes[{index}].item_id"
        kind = kinds.get(spec.item_id)
        if kind is None:
            raise InvalidInput(f"{where}: no item {spec.item_id}", field=where, reason="unknown")
        if (kind == "coupon") != (spec.kind == "coupon"):
            raise InvalidInput(
                f"{where}: a {spec.kind} prize cannot give a {kind} item",
                field=where,
                reason="kind_mismatch",
            )


@dataclass(frozen=True)
class _ItemFacts:
    title: str
    price: int
    stock: int | None
    active: bool
    has_code: bool


async def _item_facts(conn: AsyncConnection, item_ids: set[int]) -> dict[int, _ItemFacts]:
    """What decides whether the items prizes would give can be drawn, by item id."""
    if not item_ids:
        return {}
    has_code = (
        exists()
        .where(CouponCode.item_id == Item.id, CouponCode.taken_at.is_(None))
        .label("has_code")
    )
    rows = await conn.execute(
        select(Item.id, Item.title, Item.price_points, Item.stock, Item.active, has_code).where(
            Item.id.in_(item_ids)
        )
    )
    return {
        int(r.id): _ItemFacts(
            r.title,
            int(r.price_points),
            None if r.stock is None else int(r.stock),
            bool(r.active),
            bool(r.has_code),
        )
        for r in rows
    }


def _planned(
    rows: Sequence[_Prize], specs: Sequence[PrizeSpec], items: dict[int, _ItemFacts]
) -> list[_Prize]:
    """The box's prize rows as :func:`_write_prizes` would leave them (new ones last, id 0)."""

    def prize(prize_id: int, spec: PrizeSpec) -> _Prize:
        facts = items.get(spec.item_id) if spec.item_id is not None else None
        return _Prize(
            prize_id=prize_id,
            name=spec.name,
            kind=spec.kind,
            points=spec.points,
            item_id=spec.item_id,
            weight=spec.weight,
            stock=spec.stock,
            rare=spec.rare,
            item_title=facts.title if facts else None,
            item_price=facts.price if facts else None,
            item_stock=facts.stock if facts else None,
            item_active=facts.active if facts else False,
            has_code=facts.has_code if facts else False,
            names=spec.names,
        )

    by_name = {spec.name.casefold(): spec for spec in specs}
    known = {row.name.casefold() for row in rows}
    planned = [
        prize(row.prize_id, by_name[row.name.casefold()])
        if row.name.casefold() in by_name
        else replace(row, weight=0)
        for row in rows
    ]
    planned += [prize(0, spec) for spec in specs if spec.name.casefold() not in known]
    return planned


async def _write_prizes(conn: AsyncConnection, box_id: int, specs: Sequence[PrizeSpec]) -> None:
    existing = {
        row.name.casefold(): int(row.id)
        for row in await conn.execute(
            select(BoxPrize.id, BoxPrize.name).where(BoxPrize.box_id == box_id)
        )
    }
    kept: set[int] = set()
    for spec in specs:
        values = {
            "name": spec.name,
            "kind": spec.kind,
            "points": spec.points,
            "item_id": spec.item_id,
            "weight": spec.weight,
            "stock": spec.stock,
            "rare": spec.rare,
            "names": dict(spec.names),
        }
        prize_id = existing.get(spec.name.casefold())
        if prize_id is None:
            await conn.execute(insert(BoxPrize).values(box_id=box_id, **values))
        else:
            kept.add(prize_id)
            await conn.execute(update(BoxPrize).where(BoxPrize.id == prize_id).values(**values))
    # Prizes left out keep their rows (past draws name them) and leave the draw.
    retired = set(existing.values()) - kept
    if retired:
        await conn.execute(update(BoxPrize).where(BoxPrize.id.in_(retired)).values(weight=0))
