"""Flash sales: an item at a sale price, in a quantity of its own, within a time window.

Two modes:

- ``first_come``: members redeem through :class:`core.redemptions.Redemptions` with the sale's
  id (``offer(..., flash_sale_id=...)``) while the window is open and the quantity lasts.
- ``draw``: announcements reach members one after another, so the first to hear should not
  win by that alone. Members enter while the entry window is open (their points for the sale
  price are held, so every winner can pay); after it closes, :meth:`FlashSales.draw` picks the
  winners uniformly at random, turns their holds into completed redemptions and releases the
  losers' points.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.accounts import SystemAccount
from core.catalog import (
    MemberState,
    SaleTerms,
    assess,
    item_id_of,
    load_item,
    refuse_if_blocked,
    sale_terms,
)
from core.config import Config
from core.db.database import Database
from core.db.models import FlashSale, FlashSaleEntry, Hold, Item
from core.errors import (
    InvalidInput,
    InvalidState,
    NotAvailable,
    PrizeOnly,
    SoldOut,
    UnknownSale,
)
from core.idempotency import run_once
from core.ledger import lock_member, place_hold, settle_hold
from core.redemptions import insert_redemption, take_units

MODES = ("first_come", "draw")


@dataclass(frozen=True)
class SaleView:
    """A sale as members and admins see it at one instant.

    ``phase``: ``upcoming``, ``open`` (first come, units left), ``sold_out``, ``entry`` (draw,
    entries open), ``awaiting_draw``, ``drawn``, ``ended`` or ``cancelled``. ``seconds_left``
    counts down to the end of the phase (0 when it has no end).
    """

    sale_id: int
    item_id: int
    sku: str
    title: str
    kind: str
    regular_price: int
    sale_price: int
    quantity: int
    remaining: int
    mode: str
    starts_at: datetime
    ends_at: datetime
    entry_ends_at: datetime | None
    status: str
    phase: str
    seconds_left: int
    entrants: int


@dataclass(frozen=True)
class EntryResult:
    """A member's entry in a draw: the sale price is held until the draw."""

    sale_id: int
    member_id: int
    hold_id: int
    points: int
    balance: int
    entry_ends_at: datetime
    already_entered: bool = False


@dataclass(frozen=True)
class Winner:
    member_id: int
    redemption_id: int


@dataclass(frozen=True)
class DrawResult:
    """Who won (in draw order) and who did not (by member id), so the bot can tell them."""

    sale_id: int
    winners: tuple[Winner, ...]
    losers: tuple[int, ...]
    replayed: bool = False


def _phase(sale: SaleTerms, now: datetime) -> tuple[str, datetime | None]:
    """The sale's phase at ``now`` and when it ends."""
    if sale.status != "scheduled":
        return sale.status, None
    if now < sale.starts_at:
        return "upcoming", sale.starts_at
    if sale.mode == "draw":
        assert sale.entry_ends_at is not None
        return (
            ("entry", sale.entry_ends_at) if now < sale.entry_ends_at else ("awaiting_draw", None)
        )
    if now >= sale.ends_at:
        return "ended", None
    return ("open", sale.ends_at) if sale.remaining > 0 else ("sold_out", sale.ends_at)


def _sale_id(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise UnknownSale(f"no sale {value!r}", sale_id=str(value))
    return value


async def _load_sale(conn: AsyncConnection, sale_id: int) -> SaleTerms:
    row = (await conn.execute(select(FlashSale).where(FlashSale.id == sale_id))).first()
    if row is None:
        raise UnknownSale(f"no sale {sale_id}", sale_id=sale_id)
    return sale_terms(row)


class FlashSales:
    """Admins schedule sales; members buy (first come) or enter (draw); a job runs draws."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def create_sale(
        self,
        item_id: int,
        sale_price: int,
        quantity: int,
        starts_at: datetime,
        ends_at: datetime,
        mode: str,
        entry_ends_at: datetime | None = None,
        *,
        now: datetime,
    ) -> SaleView:
        """Schedule a sale. A draw needs ``entry_ends_at`` within the sale's window.

        Items with a cash part cannot be put on sale: a drawn winner could not pay it. A
        prize-only item (``listed`` false: off the shelf, no member may redeem it) is refused
        with ``prize_only``.
        """
        item_id = item_id_of(item_id)
        validation.amount(sale_price, field="sale_price")
        validation.amount(quantity, field="quantity")
        validation.instant(starts_at, field="starts_at")
        validation.instant(ends_at, field="ends_at")
        validation.instant(now)
        if ends_at <= starts_at:
            raise InvalidInput("ends_at must be after starts_at", field="ends_at")
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}", field="mode")
        if mode == "draw":
            if entry_ends_at is None:
                raise InvalidInput("a draw needs entry_ends_at", field="entry_ends_at")
            validation.instant(entry_ends_at, field="entry_ends_at")
            if not starts_at < entry_ends_at <= ends_at:
                raise InvalidInput(
                    "entry_ends_at must be after starts_at and not after ends_at",
                    field="entry_ends_at",
                )
        elif entry_ends_at is not None:
            raise InvalidInput("only a draw has an entry window", field="entry_ends_at")
        async with self.db.write() as conn:
            item = await load_item(conn, item_id)
            if not item.listed:
                raise PrizeOnly(
                    f"item {item_id} is a prize only (not listed) and cannot be put on sale",
                    item_id=item_id,
                )
            if item.cash_minor > 0:
                raise InvalidInput(
                    f"item {item_id} has a cash part and cannot be put on sale", field="item_id"
                )
            sale_id = (
                await conn.execute(
                    insert(FlashSale)
                    .values(
                        item_id=item_id,
                        sale_price=sale_price,
                        quantity=quantity,
                        remaining=quantity,
                        mode=mode,
                        starts_at=starts_at,
                        ends_at=ends_at,
                        entry_ends_at=entry_ends_at,
                        status="scheduled",
                        created_at=now,
                    )
                    .returning(FlashSale.id)
                )
            ).scalar_one()
            return (await self._views(conn, [FlashSale.id == sale_id], now))[0]

    async def get_sale(self, sale_id: int, now: datetime) -> SaleView:
        sale_id = _sale_id(sale_id)
        validation.instant(now)
        async with self.db.read() as conn:
            views = await self._views(conn, [FlashSale.id == sale_id], now)
        if not views:
            raise UnknownSale(f"no sale {sale_id}", sale_id=sale_id)
        return views[0]

    async def current_and_upcoming(self, now: datetime) -> tuple[SaleView, ...]:
        """Sales not over yet (draws until they are drawn), soonest first."""
        validation.instant(now)
        async with self.db.read() as conn:
            return await self._views(
                conn,
                [
                    FlashSale.status == "scheduled",
                    or_(FlashSale.ends_at > now, FlashSale.mode == "draw"),
                ],
                now,
            )

    async def recent_sales(self, now: datetime, limit: int = 30) -> tuple[SaleView, ...]:
        """The latest sales by end (upcoming, running and ended alike), for admins; by start."""
        validation.instant(now)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise InvalidInput("limit must be 1 to 100", field="limit")
        async with self.db.read() as conn:
            latest = select(FlashSale.id).order_by(FlashSale.ends_at.desc(), FlashSale.id.desc())
            ids = list((await conn.execute(latest.limit(limit))).scalars())
            return await self._views(conn, [FlashSale.id.in_(ids)], now) if ids else ()

    async def due_draws(self, now: datetime) -> tuple[int, ...]:
        """Draw sales whose entry window has closed and that are not drawn yet (for the job)."""
        validation.instant(now)
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(FlashSale.id)
                .where(
                    FlashSale.mode == "draw",
                    FlashSale.status == "scheduled",
                    FlashSale.entry_ends_at <= now,
                )
                .order_by(FlashSale.entry_ends_at, FlashSale.id)
            )
            return tuple(int(sale_id) for sale_id in rows.scalars())

    async def _views(
        self, conn: AsyncConnection, where: list[Any], now: datetime
    ) -> tuple[SaleView, ...]:
        entrants = (
            select(func.count())
            .where(FlashSaleEntry.sale_id == FlashSale.id)
            .correlate(FlashSale)
            .scalar_subquery()
        )
        rows = await conn.execute(
            select(
                FlashSale,
                Item.sku,
                Item.title,
                Item.kind,
                Item.price_points,
                entrants.label("entrants"),
            )
            .join(Item, Item.id == FlashSale.item_id)
            .where(*where)
            .order_by(FlashSale.starts_at, FlashSale.id)
        )
        views = []
        for row in rows:
            sale = sale_terms(row)
            phase, until = _phase(sale, now)
            seconds = max(0, int((until - now).total_seconds())) if until else 0
            views.append(
                SaleView(
                    sale_id=sale.sale_id,
                    item_id=sale.item_id,
                    sku=row.sku,
                    title=row.title,
                    kind=row.kind,
                    regular_price=int(row.price_points),
                    sale_price=sale.sale_price,
                    quantity=sale.quantity,
                    remaining=sale.remaining,
                    mode=sale.mode,
                    starts_at=sale.starts_at,
                    ends_at=sale.ends_at,
                    entry_ends_at=sale.entry_ends_at,
                    status=sale.status,
                    phase=phase,
                    seconds_left=seconds,
                    entrants=int(row.entrants),
                )
            )
        return tuple(views)

    async def enter(self, sale_id: int, member_id: int, now: datetime) -> EntryResult:
        """Enter the member in a draw, holding the sale price; once per member and sale.

        Refused like a redemption would be (frozen, tier, limit, points, sold out), and
        ``not_available`` outside the entry window.
        """
        sale_id = _sale_id(sale_id)
        validation.member_id(member_id)
        validation.instant(now)
        key = f"sale-entry:{sale_id}:{member_id}"

        async def work(conn: AsyncConnection) -> EntryResult:
            sale = await _load_sale(conn, sale_id)
            if sale.mode != "draw":
                raise InvalidState(
                    f"sale {sale_id} is first come: redeem instead",
                    sale_id=sale_id,
                    reason="not_a_draw",
                )
            if not sale.open_at(now):
                raise NotAvailable(f"sale {sale_id} takes no entries now", sale_id=sale_id)
            item = await load_item(conn, sale.item_id)
            lock = await lock_member(conn, member_id)
            member = MemberState(member_id, lock.balance, lock.frozen, lock.tier)
            refuse_if_blocked(await assess(conn, self.config, member, item, sale, now), member)
            wait = timedelta(hours=self.config.redemptions.approval_timeout_hours)
            hold_id, balance = await place_hold(
                conn,
                member_id=member_id,
                destination=SystemAccount.REDEMPTIONS,
                amount=sale.sale_price,
                code="flash_sale",
                reference=item.sku,
                key=key,
                now=now,
                # Past the sale's end, so a draw run late still finds the points held.
                expires_at=sale.ends_at + wait,
            )
            await conn.execute(
                insert(FlashSaleEntry).values(
                    sale_id=sale_id,
                    member_id=member_id,
                    hold_id=hold_id,
                    status="entered",
                    created_at=now,
                )
            )
            assert sale.entry_ends_at is not None
            return EntryResult(
                sale_id, member_id, hold_id, sale.sale_price, balance, sale.entry_ends_at
            )

        outcome = await run_once(
            self.db,
            key=key,
            kind="sale_entry",
            request={"sale_id": sale_id, "member_id": member_id},
            result_type=EntryResult,
            work=work,
            now=now,
            # A refusal (not enough points yet) must not outlive its cause.
            record_rejection=False,
        )
        if outcome.replayed:
            return replace(outcome.result, already_entered=True)
        return outcome.result

    async def draw(self, sale_id: int, now: datetime, rng: random.Random) -> DrawResult:
        """Pick the winners of a draw whose entry window has closed; once per sale.

        Entrants are sorted by member id and shuffled with ``rng``, so a seed reproduces the
        draw. Winners (up to the quantity, while the item has units) get a completed
        redemption paid by their hold; the others get their points back. A second call
        returns the first result and changes nothing.
        """
        sale_id = _sale_id(sale_id)
        validation.instant(now)
        if not isinstance(rng, random.Random):
            raise InvalidInput("rng must be a random.Random", field="rng")

        async def work(conn: AsyncConnection) -> DrawResult:
            return await self._draw(conn, sale_id, now, rng)

        outcome = await run_once(
            self.db,
            key=f"sale-draw:{sale_id}",
            kind="sale_draw",
            request={"sale_id": sale_id},
            result_type=DrawResult,
            work=work,
            now=now,
            record_rejection=False,
        )
        if outcome.replayed:
            return replace(outcome.result, replayed=True)
        return outcome.result

    async def _draw(
        self, conn: AsyncConnection, sale_id: int, now: datetime, rng: random.Random
    ) -> DrawResult:
        sale = await _load_sale(conn, sale_id)
        if sale.mode != "draw":
            raise InvalidState(
                f"sale {sale_id} is not a draw", sale_id=sale_id, reason="not_a_draw"
            )
        if sale.status != "scheduled":
            raise InvalidState(
                f"sale {sale_id} is {sale.status}", sale_id=sale_id, status=sale.status
            )
        assert sale.entry_ends_at is not None
        if now < sale.entry_ends_at:
            raise NotAvailable(f"sale {sale_id} still takes entries", sale_id=sale_id)
        entries = (
            await conn.execute(
                select(FlashSaleEntry.member_id, FlashSaleEntry.hold_id, Hold.status)
                .join(Hold, Hold.id == FlashSaleEntry.hold_id)
                .where(FlashSaleEntry.sale_id == sale_id, FlashSaleEntry.status == "entered")
                .order_by(FlashSaleEntry.member_id)
            )
        ).all()
        # Every entrant's account before the item's row: the house lock order.
        for entry in entries:
            await lock_member(conn, int(entry.member_id))
        item = await load_item(conn, sale.item_id)
        # A hold voided meanwhile (the generic hold timeout) is an entry withdrawn.
        candidates = [(int(e.member_id), int(e.hold_id)) for e in entries if e.status == "pending"]
        losers = [int(e.member_id) for e in entries if e.status != "pending"]
        rng.shuffle(candidates)
        winners: list[Winner] = []
        for member_id, hold_id in candidates:
            code_id: int | None = None
            won = False
            if len(winners) < sale.quantity:
                try:
                    async with conn.begin_nested():
                        code_id = await take_units(conn, item, member_id, now)
                    won = True
                except SoldOut:
                    won = False
            await settle_hold(
                conn, hold_id=hold_id, post=won, key=f"sale-draw:{sale_id}:{member_id}", now=now
            )
            if won:
                redemption_id = await insert_redemption(
                    conn,
                    member_id=member_id,
                    item_id=item.item_id,
                    flash_sale_id=sale_id,
                    confirm_token=f"draw:{sale_id}:{member_id}",
                    status="completed",
                    points=sale.sale_price,
                    cash_minor=0,
                    hold_id=hold_id,
                    coupon_code_id=code_id,
                    created_at=now,
                    updated_at=now,
                )
                winners.append(Winner(member_id, redemption_id))
            else:
                losers.append(member_id)
        won_ids = [winner.member_id for winner in winners]
        if won_ids:
            await conn.execute(
                update(FlashSaleEntry)
                .where(FlashSaleEntry.sale_id == sale_id, FlashSaleEntry.member_id.in_(won_ids))
                .values(status="won")
            )
        if losers:
            await conn.execute(
                update(FlashSaleEntry)
                .where(FlashSaleEntry.sale_id == sale_id, FlashSaleEntry.member_id.in_(losers))
                .values(status="lost")
            )
        drawn = await conn.execute(
            update(FlashSale)
            .where(FlashSale.id == sale_id, FlashSale.status == "scheduled")
            .values(status="drawn", remaining=FlashSale.remaining - len(winners))
        )
        if not drawn.rowcount:
            raise InvalidState(f"sale {sale_id} was drawn meanwhile", sale_id=sale_id)
        return DrawResult(sale_id, tuple(winners), tuple(sorted(losers)))
