"""Points blind boxes as members open them: the draw, the guarantee, and verifying a draw.

The boxes are in four modules, one job each: this one draws; ``core.games.box_odds`` reads a box's
prize table and its true odds; ``core.games.box_seeds`` keeps the server and client seeds;
``core.games.box_authoring`` is the admin's side (boxes, prize tables, the payout report);
``core.games.box_draws`` is the pure math they share. :class:`BlindBoxes` gathers the three services
into the one ``mall.boxes``.

A box has a points price and prizes (points, items, coupons, a consolation), each with a weight
and an optional stock. Rules worth knowing:

- Odds are always true. A prize is in the draw while its weight is above 0, its own stock (if
  any) is not used up, and for an item or coupon prize while the item is active and has stock
  or free codes left. The odds shown are recomputed from that, and a draw picks only among
  those prizes: a prize that runs out leaves the draw, never turns into a silent "no win".
  Why a prize is out of the draw is :attr:`PrizeOdds.out_reason` (``box_odds.OUT_REASONS``).
  An item that is not ``listed`` (a prize-only item, off the shelf) can still be drawn; an
  item that is not ``active`` is switched off everywhere, so its prize is never drawn.
- The guarantee: a member never makes more than ``pity_after`` draws in a row without a rare
  prize; the ``pity_after``-th is drawn among the rare prizes left (if none is left, it is an
  ordinary draw and says so). The counter (``box_streaks``) persists.
- Verifiable draws: see :mod:`core.games.box_draws`. The seed whose hash is published signs every
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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import TypeAdapter
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.models import (
    BlindBox,
    BoxDraw,
    BoxPrize,
    BoxSeed,
    BoxStreak,
    Operation,
    Transfer,
)
from core.db.prepared import Prepared
from core.errors import (
    DailyCapReached,
    Frozen,
    InvalidInput,
    MallError,
    NotAvailable,
    SoldOut,
)
from core.games import box_draws
from core.games.box_authoring import BoxAuthoring
from core.games.box_odds import (
    BoxSummary,
    BoxTerms,
    PrizeOdds,
    PrizeRow,
    box_id_of,
    odds_table,
    prize_rows,
    read_box,
)
from core.games.box_seeds import (
    CLIENT_SEED_OF,
    ClientSeedView,
    RevealedSeed,
    client_seed_in,
    current_seed,
    last_revealed,
    put_client_seed,
)
from core.growth.task_rewards import advance_each, any_challenge_on
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.earning import EARNED_IN_WINDOW, standing_of, window_bounds
from core.points.idempotency import marked, run_once
from core.points.ledger import (
    LockedRead,
    credit_member,
    current_balance,
    debit_member,
    require_member,
)
from core.rewards.inventory import record_given_item, take_coupon_code, take_stock


class UnknownDraw(MallError):
    code = "unknown_draw"


@dataclass(frozen=True)
class PoolEntry:
    """One prize of the pool a draw was made from."""

    prize_id: int
    weight: int


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
    # What the HMAC signed (core.games.box_draws); results stored before client seeds read as 1.
    formula: int = box_draws.MEMBER_FORMULA
    client_seed: str | None = None


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


class BlindBoxes(BoxAuthoring):
    """Opening boxes, their odds and guarantee, and verifying draws; the admin's prize table
    and the seeds come from :class:`~core.games.box_authoring.BoxAuthoring` and
    :class:`~core.games.box_seeds.BoxSeeds`."""

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
        box_id_of(box_id)
        validation.member_id(member_id)
        validation.instant(now)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            box = await read_box(conn, box_id)
            rows = await prize_rows(conn, box_id)
            seed = await current_seed(conn, box_id, lock=False)
            draws, since_rare = await _streak(conn, box_id, member_id)
            spent = await _spent_on(conn, self.config, box_id, member_id, now)
            revealed = await last_revealed(conn, box_id)
            client = await client_seed_in(conn, member_id)
        table = odds_table(box, rows)
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
            seed_rotates_at=self.rotates_at(seed.created_at),
            revealed=revealed,
            client_seed=client,
        )

    async def open(self, member_id: int, box_id: int, key: str, now: datetime) -> DrawResult:
        """Open the box once per ``key`` (the token in the Open button): pay, draw, award.

        Refused, with nothing written: ``unknown_box``, ``not_available`` (inactive box),
        ``sold_out`` (no prize left in the draw), ``frozen``, ``daily_cap_reached`` and
        ``insufficient_points``. A refused key is refused again on retry.
        """
        validation.member_id(member_id)
        box_id_of(box_id)
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
        return marked(outcome)

    async def _open(
        self, conn: AsyncConnection, member_id: int, box_id: int, key: str, now: datetime
    ) -> DrawResult:
        box = await read_box(conn, box_id)
        if not box.active:
            raise NotAvailable(f"box {box_id} is not open", box_id=box_id)
        # Refuse a sold-out box before taking any lock.
        rows = await prize_rows(conn, box_id)
        if not any(row.available for row in rows):
            raise SoldOut(f"box {box_id} has no prize left", box_id=box_id)
        tz = self.config.mall.timezone
        today = rules.business_day(now, tz)
        member, (spent, draws, since_rare, client_seed, earned, challenges) = await _DRAW_READ.lock(
            conn,
            member_id,
            the_box=box_id,
            **_day_bounds(self.config, now),
            **window_bounds(self.config, today),
        )
        if member.frozen:
            raise Frozen(f"member {member_id} is frozen", member_id=member_id)
        price = int(box.price_points)
        spent = int(spent)
        if box.daily_cap is not None and spent + price > box.daily_cap:
            raise DailyCapReached(
                f"member {member_id} spent {spent} of {box.daily_cap} on box {box_id} today",
                box_id=box_id,
                daily_cap=int(box.daily_cap),
                spent_today=spent,
            )
        # The member's lock is held: no other draw of theirs moves the counter meanwhile.
        draw_number, since_rare = int(draws or 0) + 1, int(since_rare or 0)
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
        seed = await current_seed(conn, box_id, lock=True)
        if client_seed is None:
            client_seed = box_draws.new_client_seed()
            await put_client_seed(conn, member_id, client_seed, chosen=False, now=now)
        formula = box_draws.CLIENT_SEED_FORMULA
        message = box_draws.draw_message(
            formula, member_id=member_id, draw_number=draw_number, client_seed=client_seed
        )
        value = box_draws.hmac_value(seed.seed, message)
        choice, prize, taken_code = await _draw(conn, box, rows, member_id, value, since_rare, now)
        points_won = (prize.points or 0) if prize.kind in ("points", "consolation") else 0
        if points_won:
            tier = standing_of(self.config, int(earned)).tier
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
                expires_at=rules.lot_expiry(today, tier, self.config.expiry, tz),
            )
        redemption_id: int | None = None
        if prize.kind == "item":
            assert prize.item_id is not None
            redemption_id = await record_given_item(
                conn, member_id, prize.item_id, f"box-{box_id}-{member_id}-{draw_number}", now
            )
        since_rare = 0 if prize.rare else since_rare + 1
        counted = await _COUNT_DRAW[conn.dialect.name].scalar(
            conn, {"box_id": box_id, "member_id": member_id, "draws": 1, "since_rare": since_rare}
        )
        assert counted == draw_number, f"box {box_id}: draw {counted}, not {draw_number}"
        draw_id = await _INSERT_DRAW.scalar(
            conn,
            {
                "box_id": box_id,
                "member_id": member_id,
                "draw_number": draw_number,
                "seed_version": seed.version,
                "formula": formula,
                "client_seed": client_seed,
                "prize_id": prize.prize_id,
                "price_points": price,
                "points_won": points_won,
                "by_guarantee": choice.by_guarantee,
                "coupon_code_id": taken_code.code_id if taken_code else None,
                "redemption_id": redemption_id,
                "created_at": now,
            },
        )
        if challenges and await advance_each(conn, self.config, member_id, ("spend",), now):
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
            return replace(base, seed_rotates_at=self.rotates_at(seed.created_at))
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


# --- Reading a member's draws ----------------------------------------------------------------


async def _streak(conn: AsyncConnection, box_id: int, member_id: int) -> tuple[int, int]:
    row = (
        await conn.execute(
            select(BoxStreak.draws, BoxStreak.since_rare).where(
                BoxStreak.box_id == box_id, BoxStreak.member_id == member_id
            )
        )
    ).first()
    return (0, 0) if row is None else (int(row.draws), int(row.since_rare))


async def _spent_on(
    conn: AsyncConnection, config: Config, box_id: int, member_id: int, now: datetime
) -> int:
    """Points the member spent on the box during the mall's business day of ``now``."""
    params = {"the_box": box_id, "member_id": member_id, **_day_bounds(config, now)}
    return int(await _SPENT_ON.scalar(conn, params))


def _day_bounds(config: Config, now: datetime) -> dict[str, datetime]:
    """The bounds of :data:`_SPENT` for the mall's business day of ``now``."""
    tz = config.mall.timezone
    day = rules.business_day(now, tz)
    return {
        "day_start": rules.start_of_day(day, tz),
        "day_end": rules.start_of_day(day + timedelta(days=1), tz),
    }


# --- Drawing ---------------------------------------------------------------------------------


async def _draw(
    conn: AsyncConnection,
    box: BoxTerms,
    rows: Sequence[PrizeRow],
    member_id: int,
    value: int,
    since_rare: int,
    now: datetime,
) -> tuple[box_draws.Choice, PrizeRow, _TakenCode | None]:
    """Pick a prize and take it. A prize another draw just used up leaves the pool and the
    same value is drawn again from what is left: deterministic, and recorded in the pool.

    ``rows`` is the prize table as read before the member was locked; the takes are
    conditional, so a stale row costs a retry, never a prize that is not there.
    """
    gone: set[int] = set()
    while True:
        if gone:
            rows = await prize_rows(conn, box.box_id)
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
    conn: AsyncConnection, prize: PrizeRow, member_id: int, now: datetime
) -> _Taken | None:
    """Take one of the prize (its own stock, then its item's unit or code); None if gone."""
    # Unlimited prizes are not touched: their row must not become a lock every draw queues on.
    if prize.stock is not None and not await _TAKE_PRIZE.run(conn, {"prize_id": prize.prize_id}):
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
        await _GIVE_BACK_PRIZE.run(conn, {"prize_id": prize.prize_id})
    return None


# A draw's statements, built once and run at the driver (see core.db.prepared on why).
# Parameters never share a column's name.
_PRIZES = cast(Table, BoxPrize.__table__)
_STREAKS = cast(Table, BoxStreak.__table__)
_DRAWS = cast(Table, BoxDraw.__table__)
_TAKE_PRIZE = Prepared(
    update(_PRIZES)
    .where(_PRIZES.c.id == bindparam("prize_id"), _PRIZES.c.stock >= 1)
    .values(stock=_PRIZES.c.stock - 1)
)
_GIVE_BACK_PRIZE = Prepared(
    update(_PRIZES).where(_PRIZES.c.id == bindparam("prize_id")).values(stock=_PRIZES.c.stock + 1)
)
# Points a member spent on a box during one business day of the mall.
_SPENT = select(func.coalesce(func.sum(_DRAWS.c.price_points), 0)).where(
    _DRAWS.c.box_id == bindparam("the_box"),
    _DRAWS.c.member_id == bindparam("member_id"),
    _DRAWS.c.created_at >= bindparam("day_start"),
    _DRAWS.c.created_at < bindparam("day_end"),
)
_SPENT_ON = Prepared(_SPENT)
_STREAK_OF = (
    _STREAKS.c.box_id == bindparam("the_box"),
    _STREAKS.c.member_id == bindparam("member_id"),
)
# What a draw reads with the member's lock (core.points.ledger.LockedRead): what they spent on the
# box today, their counters on it (NULL before their first draw), their client seed (NULL before
# it is made), what they earned in the tier window, and whether a challenge counts spending.
_DRAW_READ = LockedRead(
    _SPENT.scalar_subquery(),
    select(_STREAKS.c.draws).where(*_STREAK_OF).scalar_subquery(),
    select(_STREAKS.c.since_rare).where(*_STREAK_OF).scalar_subquery(),
    CLIENT_SEED_OF,
    EARNED_IN_WINDOW.scalar_subquery(),
    any_challenge_on("spend"),
)


def _count_draw_statement(insert_: Callable[[Table], Any]) -> Prepared:
    """Count the draw and set the member's draws since their last rare prize; returns the
    number of the draw."""
    statement = insert_(_STREAKS)
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[_STREAKS.c.box_id, _STREAKS.c.member_id],
            set_={
                "draws": _STREAKS.c.draws + statement.excluded.draws,
                "since_rare": statement.excluded.since_rare,
            },
        ).returning(_STREAKS.c.draws)
    )


_COUNT_DRAW = {
    "postgresql": _count_draw_statement(postgresql.insert),
    "sqlite": _count_draw_statement(sqlite.insert),
}
_INSERT_DRAW = Prepared(insert(_DRAWS).returning(_DRAWS.c.id))


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
