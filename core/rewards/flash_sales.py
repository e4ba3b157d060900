"""Flash sales: an item at a sale price, in a quantity of its own, within a time window.

Two modes:

- ``first_come``: members redeem through :class:`core.rewards.redemptions.Redemptions` with the
  sale's id (``offer(..., flash_sale_id=...)``) while the window is open and the quantity lasts.
- ``draw``: announcements reach members one after another, so the first to hear should not
  win by that alone. Members enter while the entry window is open (their points for the sale
  price are held, so every winner can pay); after it closes, :meth:`FlashSales.draw` picks the
  winners uniformly at random, turns their holds into completed redemptions and releases the
  losers' points.

  The draw is commit-reveal (issue 15): a sale gets a secret draw seed when it is scheduled,
  whose SHA-256 (:attr:`SaleView.draw_seed_hash`) is shown while entries are open; each entry
  records the member's client seed (:mod:`core.games.box_draws`, the one their box draws use). Each
  entrant's ticket is ``HMAC-SHA256(key=draw seed as text, msg=f"{client_seed}:{sale_id}")``
  in hex; winners are the lowest tickets (ties: lower member id). The seed is revealed once the
  sale is drawn, and :meth:`FlashSales.verify_draw` lets a member redo their ticket. Sales
  scheduled before this have no seed and are drawn with the ``rng`` the job passes.

Before a sale starts an admin may change its terms (:meth:`FlashSales.edit_sale`: price,
quantity, times, mode, checked as when it was scheduled); before or while it runs, cancel it
(:meth:`FlashSales.cancel_sale`: the entries' held points go back through the ledger's holds).
Members who were told of the sale (its announcements' outbox rows, and its entrants) are told
again, in the same transaction, through the outbox: the new terms, or that it is cancelled (and,
to an entrant, that the points held are back). A :class:`SaleWording` (the bot's) renders those
messages; each key names the sale, the change and the member, so a change is told once.
"Told" means an announcement a sender has started (sent, sending, uncertain): those not started
yet are superseded in the same transaction (marked ``failed``, error ``superseded: ...``), so
nobody hears "it is open" after "it is cancelled". A sale something was taken from (a unit, an
entry, the job's opening announcement) has started whatever the admin's clock says, and is not
edited. A cancelled sale counts no entrants: its entries' points are back.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import (
    Broadcast,
    FlashSale,
    FlashSaleEntry,
    Hold,
    Item,
    Member,
    OutboxMessage,
    Redemption,
)
from core.errors import (
    InvalidInput,
    InvalidState,
    NotAvailable,
    PrizeOnly,
    SoldOut,
    UnknownSale,
)
from core.games import box_draws
from core.games.box_seeds import client_seed_in, put_client_seed
from core.operations.outbox import Envelope, enqueue, enqueue_members, open_broadcast
from core.points.accounts import SystemAccount
from core.points.idempotency import marked, run_once
from core.points.ledger import lock_member, place_hold, settle_hold
from core.reporting.audit import write_entry
from core.rewards.eligibility import (
    MemberState,
    SaleTerms,
    assess,
    item_id_of,
    load_item,
    refuse_if_blocked,
    sale_terms,
)
from core.rewards.redemptions import insert_redemption, take_units

MODES = ("first_come", "draw")
# The announcements of a sale (``core.operations.jobs``): their broadcast keys are these and the
# sale's id.
ANNOUNCEMENT_KINDS = ("sale-soon", "sale-open")
# Outbox rows of an announcement that reached nobody: those members were never told.
_NOT_TOLD = ("failed", "unreachable")
# Outbox rows no sender has started: a cancellation or an edit supersedes them (below).
_NOT_STARTED = ("pending", "claimed")


@dataclass(frozen=True)
class SaleView(SaleTerms):
    """A sale as members and admins see it at one instant: its terms, its item, its phase.

    ``phase``: ``upcoming``, ``open`` (first come, units left), ``sold_out``, ``entry`` (draw,
    entries open), ``awaiting_draw``, ``drawn``, ``ended`` or ``cancelled``. ``seconds_left``
    counts down to the end of the phase (0 when it has no end).
    """

    sku: str
    title: str
    kind: str
    regular_price: int
    phase: str
    seconds_left: int
    entrants: int
    titles: Mapping[str, str] = field(default_factory=dict)
    """The item's title by language, read instead of ``title``."""
    # The draw seed's SHA-256 (published from the start), and the seed once the sale is drawn.
    draw_seed_hash: str | None = None
    draw_seed: str | None = None


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


@dataclass(frozen=True)
class SaleDrawCheck:
    """One entrant's ticket in a commit-reveal draw, recomputed once the seed is revealed.

    ``seed`` is None until the sale is drawn; ``tickets`` are every entrant's ticket then
    (lowest first), so a member sees where theirs fell; ``winning`` how many won.
    """

    sale_id: int
    member_id: int
    seed_hash: str
    seed: str | None
    client_seed: str
    message: str
    ticket: str | None
    rank: int | None
    entrants: int
    winning: int
    won: bool
    tickets: tuple[str, ...] = ()


@dataclass(frozen=True)
class SaleEdit:
    """An edit of a sale that had not started: the sale as it is now, and whom it told.

    ``changed`` is False when the terms given were the sale's already (nothing written)."""

    sale: SaleView
    changed: bool
    told: int


@dataclass(frozen=True)
class SaleCancellation:
    """A cancelled sale: the entrants whose held points came back (by member id), how many
    points that was, and how many members were told. ``already_cancelled``: an earlier call
    cancelled it; this one changed nothing and told nobody."""

    sale: SaleView
    released: tuple[int, ...]
    points_released: int
    told: int
    already_cancelled: bool = False


class SaleWording(Protocol):
    """How members are told that a sale they heard of changed, rendered to an outbox payload."""

    @property
    def languages(self) -> Sequence[str]:
        """Every language there is a rendering for; the first is the default."""
        ...

    def sale_changed(self, language: str, sale: SaleView) -> str:
        """The sale's new terms."""
        ...

    def sale_cancelled(self, language: str, sale: SaleView, returned: int | None) -> str:
        """The sale is cancelled; ``returned``: the points held for the member's entry."""
        ...


# What a sale's change says to a member: (the wording, their language, the sale now) -> text.
_Render = Callable[[SaleWording, str, SaleView], str]


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


def sale_id_of(value: object) -> int:
    """A sale id as given by a caller: a positive integer, or :class:`UnknownSale`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**62:
        raise UnknownSale(f"no sale {value!r}", sale_id=str(value))
    return value


async def _load_sale(conn: AsyncConnection, sale_id: int, *, lock: str = "") -> SaleTerms:
    """The sale's terms; ``lock`` ``share`` (an entry: a cancellation waits for it, and an entry
    that waited for a cancellation sees it) or ``update`` (a draw, a change, a cancellation).

    The sale row is the first lock of these use cases, before any member's account."""
    query = select(FlashSale).where(FlashSale.id == sale_id)
    if lock:
        query = query.with_for_update(read=lock == "share")
    row = (await conn.execute(query)).first()
    if row is None:
        raise UnknownSale(f"no sale {sale_id}", sale_id=sale_id)
    return sale_terms(row)


def _check_terms(
    sale_price: int,
    quantity: int,
    starts_at: datetime,
    ends_at: datetime,
    mode: str,
    entry_ends_at: datetime | None,
) -> None:
    """A sale's terms, as scheduled or edited: a window, and a draw's entries within it."""
    validation.amount(sale_price, field="sale_price")
    validation.amount(quantity, field="quantity")
    validation.instant(starts_at, field="starts_at")
    validation.instant(ends_at, field="ends_at")
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


async def _check_item(conn: AsyncConnection, item_id: int) -> None:
    """An item that can go on sale: listed, and without a cash part."""
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


def _terms_state(sale: SaleTerms) -> dict[str, Any]:
    """A sale's terms for the audit log."""
    return {
        "sale_price": sale.sale_price,
        "quantity": sale.quantity,
        "starts_at": sale.starts_at.isoformat(),
        "ends_at": sale.ends_at.isoformat(),
        "mode": sale.mode,
        "entry_ends_at": sale.entry_ends_at.isoformat() if sale.entry_ends_at else None,
        "status": sale.status,
    }


def _told(sale_id: int) -> Any:
    """The ids of the members a sale's announcements went (or go) to."""
    keys = [f"{kind}:{sale_id}" for kind in ANNOUNCEMENT_KINDS]
    return (
        select(OutboxMessage.chat_id)
        .join(Broadcast, Broadcast.id == OutboxMessage.broadcast_id)
        .where(Broadcast.key.in_(keys), OutboxMessage.status.not_in(_NOT_TOLD))
    )


async def _tell_again(
    conn: AsyncConnection,
    *,
    sale_id: int,
    key: str,
    wording: SaleWording,
    render: Callable[[str], str],
    entrants: Sequence[int] = (),
    to_entrant: Callable[[str], str] | None = None,
    now: datetime,
) -> int:
    """Tell a sale's entrants (``to_entrant(language)``, else ``render``) and the members its
    announcements reached (``render(language)``), once per member: the outbox key is ``key``
    and the member's id, so an entrant who was also announced to hears it once."""
    broadcast = await open_broadcast(conn, key=key, kind="sale-change", audience="told", now=now)
    if broadcast is None:
        return 0
    default = wording.languages[0]
    told = 0
    if entrants:
        rows = await conn.execute(
            select(Member.id, Member.language).where(
                Member.id.in_(list(entrants)), Member.deleted_at.is_(None)
            )
        )
        languages = {int(row.id): row.language for row in rows}
        speak = to_entrant or render
        envelopes = [
            Envelope(f"{key}:{member_id}", member_id, speak(language))
            for member_id, language in sorted(languages.items())
        ]
        told += await enqueue(conn, envelopes, now=now, broadcast_id=broadcast)
    told += await enqueue_members(
        conn,
        broadcast_id=broadcast,
        key_prefix=f"{key}:",
        payloads={language: render(language) for language in wording.languages},
        default_language=default,
        where=[Member.id.in_(_told(sale_id))],
        now=now,
    )
    return told


async def _supersede_announcements(
    conn: AsyncConnection, sale_id: int, why: str, now: datetime
) -> int:
    """Mark the sale's announcements no sender has started (``pending``, or ``claimed``:
    :meth:`core.operations.outbox.Outbox.start` then finds the row no longer theirs and skips it)
    ``failed``, with ``superseded: <why>`` as the error; how many.

    In the transaction of the cancellation or edit, so no member hears "the sale is open"
    after (or instead of) its correction; those members are then not told the correction
    either (:func:`_told` leaves ``failed`` rows out). ``failed`` rather than a status of its
    own: it is final for the sender and every sweep, and reports count these rows as not
    delivered, which they are; the error says why. The rows stay, so their keys still stop
    the announcement being enqueued again."""
    keys = [f"{kind}:{sale_id}" for kind in ANNOUNCEMENT_KINDS]
    result = await conn.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.broadcast_id.in_(select(Broadcast.id).where(Broadcast.key.in_(keys))),
            OutboxMessage.status.in_(_NOT_STARTED),
        )
        .values(status="failed", lease_until=None, error=f"superseded: {why}"[:200])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def _refuse_if_taken(conn: AsyncConnection, sale: SaleTerms) -> None:
    """A sale something was taken from has started, whatever the admin's clock says: a
    redemption or an entry whose clock was at its start may commit before an edit (it locks
    the sale row first, so the edit sees it here), and so may the job's opening
    announcement."""
    sale_id = sale.sale_id
    taken = sale.remaining != sale.quantity
    if not taken:
        found = (
            await conn.execute(
                select(
                    select(FlashSaleEntry.sale_id).where(FlashSaleEntry.sale_id == sale_id).exists()
                    | select(Redemption.id).where(Redemption.flash_sale_id == sale_id).exists()
                    | select(Broadcast.id).where(Broadcast.key == f"sale-open:{sale_id}").exists()
                )
            )
        ).scalar_one()
        taken = bool(found)
    if taken:
        raise InvalidState(
            f"sale {sale_id} has started: its terms can no longer change",
            sale_id=sale_id,
            reason="started",
        )


def _refuse_unless_upcoming(sale: SaleTerms, now: datetime) -> None:
    """Only a sale still to start can change its terms."""
    if sale.status != "scheduled":
        raise InvalidState(
            f"sale {sale.sale_id} is {sale.status}", sale_id=sale.sale_id, reason=sale.status
        )
    if now >= sale.starts_at:
        raise InvalidState(
            f"sale {sale.sale_id} has started: its terms can no longer change",
            sale_id=sale.sale_id,
            reason="started",
        )


async def sale_views(
    conn: AsyncConnection, where: list[Any], now: datetime
) -> tuple[SaleView, ...]:
    """The sales matching ``where`` as seen at ``now``, by start; inside the caller's
    transaction."""
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
            Item.titles,
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
                # A cancelled sale's entries keep their status (their points are
                # back): nobody is in its draw.
                entrants=0 if sale.status == "cancelled" else int(row.entrants),
                titles=dict(row.titles or {}),
                draw_seed_hash=row.draw_seed_hash,
                draw_seed=row.draw_seed if sale.status == "drawn" else None,
            )
        )
    return tuple(views)


async def read_sale(conn: AsyncConnection, sale_id: int, now: datetime) -> SaleView:
    """The sale as seen at ``now``, or :class:`UnknownSale`; inside the caller's transaction."""
    views = await sale_views(conn, [FlashSale.id == sale_id], now)
    if not views:
        raise UnknownSale(f"no sale {sale_id}", sale_id=sale_id)
    return views[0]


class FlashSales:
    """Admins schedule sales; members buy (first come) or enter (draw); a job runs draws."""

    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        seed_source: Callable[[], str] = lambda: secrets.token_hex(32),
    ) -> None:
        self.db = db
        self.config = config
        # Draw seeds must come from a secure source; tests pass a fixed one.
        self.seed_source = seed_source

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
        actor_id: int | None = None,
    ) -> SaleView:
        """Schedule a sale. A draw needs ``entry_ends_at`` within the sale's window.

        Items with a cash part cannot be put on sale: a drawn winner could not pay it. A
        prize-only item (``listed`` false: off the shelf, no member may redeem it) is refused
        with ``prize_only``. With ``actor_id`` (the admin) the ``sale.create`` audit entry is
        written in the same transaction as the sale.
        """
        item_id = item_id_of(item_id)
        _check_terms(sale_price, quantity, starts_at, ends_at, mode, entry_ends_at)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        seed = self.seed_source()
        async with self.db.write() as conn:
            await _check_item(conn, item_id)
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
                        draw_seed=seed,
                        draw_seed_hash=box_draws.seed_hash(seed),
                    )
                    .returning(FlashSale.id)
                )
            ).scalar_one()
            if actor_id is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="sale.create",
                    target=f"sale:{sale_id}",
                    now=now,
                    before={},
                    after={
                        "item_id": item_id,
                        "sale_price": sale_price,
                        "quantity": quantity,
                        "starts_at": starts_at.isoformat(),
                        "ends_at": ends_at.isoformat(),
                        "mode": mode,
                    },
                )
            return (await sale_views(conn, [FlashSale.id == sale_id], now))[0]

    async def edit_sale(
        self,
        sale_id: int,
        sale_price: int,
        quantity: int,
        starts_at: datetime,
        ends_at: datetime,
        mode: str,
        entry_ends_at: datetime | None = None,
        *,
        now: datetime,
        actor_id: int,
        wording: SaleWording | None = None,
    ) -> SaleEdit:
        """Change the terms of a sale that has not started, checked as :meth:`create_sale`
        checks them (its item stays); audited, and told (with ``wording``) to the members its
        announcements reached, in one transaction.

        Refused with ``invalid_state`` (``reason`` ``started``) once the sale has started, and
        (``reason`` its status) once it is cancelled. Terms equal to the sale's change nothing.
        """
        sale_id = sale_id_of(sale_id)
        _check_terms(sale_price, quantity, starts_at, ends_at, mode, entry_ends_at)
        validation.instant(now)
        validation.member_id(actor_id)
        async with self.db.write() as conn:
            before = await _load_sale(conn, sale_id, lock="update")
            _refuse_unless_upcoming(before, now)
            await _refuse_if_taken(conn, before)
            after = replace(
                before,
                sale_price=sale_price,
                quantity=quantity,
                remaining=quantity,
                starts_at=starts_at,
                ends_at=ends_at,
                mode=mode,
                entry_ends_at=entry_ends_at,
            )
            if after == before:
                view = (await sale_views(conn, [FlashSale.id == sale_id], now))[0]
                return SaleEdit(view, changed=False, told=0)
            await _check_item(conn, before.item_id)
            edited = await conn.execute(
                update(FlashSale)
                .where(
                    FlashSale.id == sale_id,
                    FlashSale.status == "scheduled",
                    FlashSale.starts_at > now,
                )
                .values(
                    sale_price=sale_price,
                    quantity=quantity,
                    # Nothing is sold before the start: the whole quantity is left.
                    remaining=quantity,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    mode=mode,
                    entry_ends_at=entry_ends_at,
                )
            )
            assert edited.rowcount == 1, "the sale row is locked"
            # An announcement not yet sent would give the old terms after the new ones.
            await _supersede_announcements(conn, sale_id, "the sale was edited", now)
            change = await write_entry(
                conn,
                actor_id=actor_id,
                action="sale.edit",
                target=f"sale:{sale_id}",
                now=now,
                before=_terms_state(before),
                after=_terms_state(after),
            )
            view, told = await self._view_and_tell(
                conn,
                sale_id,
                now,
                wording,
                # The audit entry's id names this change: each edit is told once.
                key=f"sale-edit:{sale_id}:{change}",
                render=lambda said, language, view: said.sale_changed(language, view),
            )
            return SaleEdit(view, changed=True, told=told)

    async def cancel_sale(
        self,
        sale_id: int,
        now: datetime,
        *,
        actor_id: int,
        wording: SaleWording | None = None,
    ) -> SaleCancellation:
        """Cancel a sale before it starts or while it runs, in one transaction: every entry's
        held points go back to its member (the hold voided through the ledger), the audit log
        records who did it, and (with ``wording``) its entrants and the members its
        announcements reached are told.

        A cancelled sale cancelled again changes nothing (``already_cancelled``). Refused with
        ``invalid_state`` for a drawn sale (``reason`` ``drawn``) and a first-come sale that
        has ended (``reason`` ``ended``): what members bought there stays theirs.
        """
        sale_id = sale_id_of(sale_id)
        validation.instant(now)
        validation.member_id(actor_id)
        async with self.db.write() as conn:
            # The sale first: an entry under way finishes before, or sees it cancelled after.
            sale = await _load_sale(conn, sale_id, lock="update")
            if sale.status == "cancelled":
                view = (await sale_views(conn, [FlashSale.id == sale_id], now))[0]
                return SaleCancellation(view, (), 0, 0, already_cancelled=True)
            if sale.status != "scheduled":
                raise InvalidState(
                    f"sale {sale_id} is {sale.status}", sale_id=sale_id, reason=sale.status
                )
            if sale.mode == "first_come" and now >= sale.ends_at:
                raise InvalidState(f"sale {sale_id} has ended", sale_id=sale_id, reason="ended")
            await conn.execute(
                update(FlashSale).where(FlashSale.id == sale_id).values(status="cancelled")
            )
            await _supersede_announcements(conn, sale_id, "the sale was cancelled", now)
            entries = (
                await conn.execute(
                    select(FlashSaleEntry.member_id, FlashSaleEntry.hold_id)
                    .join(Hold, Hold.id == FlashSaleEntry.hold_id)
                    .where(
                        FlashSaleEntry.sale_id == sale_id,
                        FlashSaleEntry.status == "entered",
                        Hold.status == "pending",
                    )
                    .order_by(FlashSaleEntry.member_id)
                )
            ).all()
            released: list[int] = []
            points = 0
            for entry in entries:
                member_id = int(entry.member_id)
                hold, _ = await settle_hold(
                    conn,
                    hold_id=int(entry.hold_id),
                    post=False,
                    key=f"sale-cancel:{sale_id}:{member_id}",
                    now=now,
                )
                released.append(member_id)
                points += hold.amount
            await write_entry(
                conn,
                actor_id=actor_id,
                action="sale.cancel",
                target=f"sale:{sale_id}",
                now=now,
                before=_terms_state(sale),
                after={"status": "cancelled", "released": len(released), "points": points},
            )
            view, told = await self._view_and_tell(
                conn,
                sale_id,
                now,
                wording,
                key=f"sale-cancel:{sale_id}",
                render=lambda said, language, view: said.sale_cancelled(language, view, None),
                entrants=released,
                to_entrant=lambda said, language, view: said.sale_cancelled(
                    language, view, view.sale_price
                ),
            )
            return SaleCancellation(view, tuple(released), points, told)

    async def _view_and_tell(
        self,
        conn: AsyncConnection,
        sale_id: int,
        now: datetime,
        wording: SaleWording | None,
        *,
        key: str,
        render: _Render,
        entrants: Sequence[int] = (),
        to_entrant: _Render | None = None,
    ) -> tuple[SaleView, int]:
        """The sale as it stands after an admin's change, and how many members were told of
        the change (none without ``wording``): see :func:`_tell_again`."""
        view = (await sale_views(conn, [FlashSale.id == sale_id], now))[0]
        if wording is None:
            return view, 0
        said = wording
        told = await _tell_again(
            conn,
            sale_id=sale_id,
            key=key,
            wording=said,
            render=lambda language: render(said, language, view),
            entrants=entrants,
            to_entrant=(
                None if to_entrant is None else lambda language: to_entrant(said, language, view)
            ),
            now=now,
        )
        return view, told

    async def get_sale(self, sale_id: int, now: datetime) -> SaleView:
        sale_id = sale_id_of(sale_id)
        validation.instant(now)
        async with self.db.read() as conn:
            return await read_sale(conn, sale_id, now)

    async def current_and_upcoming(self, now: datetime) -> tuple[SaleView, ...]:
        """Sales not over yet (draws until they are drawn), soonest first."""
        validation.instant(now)
        async with self.db.read() as conn:
            return await sale_views(
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
            return await sale_views(conn, [FlashSale.id.in_(ids)], now) if ids else ()

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

    async def enter(self, sale_id: int, member_id: int, now: datetime) -> EntryResult:
        """Enter the member in a draw, holding the sale price; once per member and sale.

        Refused like a redemption would be (frozen, tier, limit, points, sold out), and
        ``not_available`` outside the entry window.
        """
        sale_id = sale_id_of(sale_id)
        validation.member_id(member_id)
        validation.instant(now)
        key = f"sale-entry:{sale_id}:{member_id}"

        async def work(conn: AsyncConnection) -> EntryResult:
            sale = await _load_sale(conn, sale_id, lock="share")
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
            client = await client_seed_in(conn, member_id)
            if client is None:
                client_seed = box_draws.new_client_seed()
                await put_client_seed(conn, member_id, client_seed, chosen=False, now=now)
            else:
                client_seed = client.client_seed
            await conn.execute(
                insert(FlashSaleEntry).values(
                    sale_id=sale_id,
                    member_id=member_id,
                    hold_id=hold_id,
                    status="entered",
                    created_at=now,
                    client_seed=client_seed,
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
        sale_id = sale_id_of(sale_id)
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
        return marked(outcome)

    async def verify_draw(self, sale_id: int, member_id: int) -> SaleDrawCheck:
        """The member's ticket in a commit-reveal draw they entered, and where it fell.

        ``unknown_sale`` when the member did not enter it (or it is no such draw); before the
        draw, only the seed's hash and the text that will be signed.
        """
        sale_id = sale_id_of(sale_id)
        validation.member_id(member_id)
        async with self.db.read() as conn:
            sale = (
                await conn.execute(
                    select(FlashSale.status, FlashSale.draw_seed, FlashSale.draw_seed_hash).where(
                        FlashSale.id == sale_id, FlashSale.mode == "draw"
                    )
                )
            ).first()
            entries = (
                await conn.execute(
                    select(
                        FlashSaleEntry.member_id,
                        FlashSaleEntry.client_seed,
                        FlashSaleEntry.status,
                    ).where(FlashSaleEntry.sale_id == sale_id)
                )
            ).all()
        mine = next((e for e in entries if int(e.member_id) == member_id), None)
        if sale is None or sale.draw_seed_hash is None or mine is None or not mine.client_seed:
            raise UnknownSale(
                f"member {member_id} has no ticket in sale {sale_id}", sale_id=sale_id
            )
        check = SaleDrawCheck(
            sale_id=sale_id,
            member_id=member_id,
            seed_hash=sale.draw_seed_hash,
            seed=None,
            client_seed=mine.client_seed,
            message=ticket_message(mine.client_seed, sale_id),
            ticket=None,
            rank=None,
            entrants=len(entries),
            winning=sum(1 for e in entries if e.status == "won"),
            won=mine.status == "won",
        )
        if sale.status != "drawn" or sale.draw_seed is None:
            return check
        seed = str(sale.draw_seed)
        ticket = _ticket(seed, mine.client_seed, sale_id)
        tickets = sorted(_ticket(seed, str(e.client_seed), sale_id) for e in entries)
        return replace(
            check,
            seed=seed,
            ticket=ticket,
            rank=tickets.index(ticket) + 1,
            tickets=tuple(tickets),
        )

    async def _draw(
        self, conn: AsyncConnection, sale_id: int, now: datetime, rng: random.Random
    ) -> DrawResult:
        # The sale before the entrants' accounts, as a cancellation takes them.
        sale = await _load_sale(conn, sale_id, lock="update")
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
        draw_seed = (
            await conn.execute(select(FlashSale.draw_seed).where(FlashSale.id == sale_id))
        ).scalar_one()
        entries = (
            await conn.execute(
                select(
                    FlashSaleEntry.member_id,
                    FlashSaleEntry.hold_id,
                    FlashSaleEntry.client_seed,
                    Hold.status,
                )
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
        seeds = {int(e.member_id): e.client_seed for e in entries}
        if draw_seed is not None and all(seeds.values()):
            # Commit-reveal: the lowest tickets win (see the module's docstring).
            candidates.sort(key=lambda c: (_ticket(draw_seed, str(seeds[c[0]]), sale_id), c[0]))
        else:
            rng.shuffle(candidates)
        winners: list[Winner] = []
        for member_id, hold_id in candidates:
            code_id: int | None = None
            won = False
            if len(winners) < sale.quantity:
                try:
                    async with conn.begin_nested():
                        code = await take_units(conn, item, member_id, now)
                        code_id = code.code_id if code else None
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


def ticket_message(client_seed: str, sale_id: int) -> str:
    """The text an entrant's ticket signs: their client seed, a colon, the sale's number."""
    return f"{client_seed}:{sale_id}"


def _ticket(seed: str, client_seed: str, sale_id: int) -> str:
    return box_draws.hmac_hex(seed, ticket_message(client_seed, sale_id))
