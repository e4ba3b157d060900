"""The catalog as admins keep it: items created, edited, restocked and switched off, coupon
codes loaded, shelves named; each change audited in its own transaction.

What members see (``core.rewards.shelf``) and whether they may redeem (``core.rewards.eligibility``)
only read what is kept here. Changing an item's terms moves its ``updated_at``, which invalidates
the confirmations shown before (see ``core.rewards.redemptions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import TiersSettings
from core.db.models import CouponCode, Item, Shelf
from core.errors import InvalidInput, InvalidState, UnknownItem
from core.reporting.audit import write_entry
from core.rewards.eligibility import ItemRecord, item_id_of, item_record, load_item, tier_rank
from core.rewards.inventory import free_codes
from core.rewards.shelf import Category, MemberShelf
from core.validation import clean_texts, page_args, text_problem, texts_problems

KINDS = ("physical", "coupon", "service", "virtual")
LIMIT_PERIODS = ("day", "week", "month", "ever")
SKU_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class ItemSpec:
    """What an admin (or the catalog file) says an item is; ``sku`` names it for good.

    ``active`` False switches the item off everywhere: off the shelf and out of every blind
    box's draw. ``listed`` False keeps it off the shelf only (no member can redeem it, it is in
    no listing) while a box can still give it as a prize: a prize-only item.

    ``stock`` is the number of units the item starts with (None: unlimited). Updating an item
    that already has a stock keeps the stock it has now: units come and go through
    redemptions and :meth:`Catalog.restock`, so loading the same file again never resets them.
    """

    sku: str
    title: str
    category: str
    kind: str
    price_points: int
    description: str = ""
    photo: str | None = None
    cash_minor: int = 0
    stock: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    min_tier: str | None = None
    limit_count: int | None = None
    limit_period: str | None = None
    approval_threshold: int | None = None
    active: bool = True
    listed: bool = True
    titles: Mapping[str, str] = dataclass_field(default_factory=dict)
    descriptions: Mapping[str, str] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class ItemRecordPage:
    """A page of every item, on the shelf or not, as stored (for admins)."""

    items: tuple[ItemRecord, ...]
    page: int
    has_more: bool


@dataclass(frozen=True)
class ItemEdit:
    """An item before and after an admin's edit."""

    before: ItemRecord
    after: ItemRecord


# What an admin may change on an item (stock moves through restock and redemptions).
EDITABLE = (
    "title",
    "description",
    "photo",
    "category",
    "price_points",
    "cash_minor",
    "starts_at",
    "ends_at",
    "min_tier",
    "limit_count",
    "limit_period",
    "approval_threshold",
    "active",
    "listed",
    "titles",
    "descriptions",
)


@dataclass(frozen=True)
class UpsertResult:
    """``status`` is ``created``, ``updated`` or ``unchanged``."""

    item_id: int
    sku: str
    status: str


async def items_by_sku(conn: AsyncConnection, skus: list[str]) -> dict[str, tuple[int, str]]:
    """(id, kind) of each of ``skus`` the catalog has (a catalog file's references)."""
    if not skus:
        return {}
    rows = await conn.execute(select(Item.sku, Item.id, Item.kind).where(Item.sku.in_(skus)))
    return {str(row.sku): (int(row.id), str(row.kind)) for row in rows}


# --- Writing items ---------------------------------------------------------------------------


def _bad_int(value: object, *, low: int, none_ok: bool, high: int = validation.MAX_AMOUNT) -> bool:
    if value is None:
        return not none_ok
    if isinstance(value, bool) or not isinstance(value, int):
        return True
    return not low <= value <= high


def item_problems(spec: ItemSpec, tiers: TiersSettings) -> list[tuple[str, str]]:
    """Everything wrong with ``spec``, as (field, what is wrong); empty when it is fine."""
    problems: list[tuple[str, str]] = []
    if not isinstance(spec.sku, str) or not SKU_PATTERN.fullmatch(spec.sku):
        problems.append(("sku", "must be 1-64 of A-Z a-z 0-9 _ . - starting with a letter/digit"))
    for field, value, limit, empty_ok in (
        ("title", spec.title, 200, False),
        ("category", spec.category, 64, False),
        ("description", spec.description, 4000, True),
    ):
        problem = text_problem(value, limit, allow_empty=empty_ok)
        if problem:
            problems.append((field, problem))
    for name, texts, limit, empty_ok in (
        ("titles", spec.titles, 200, False),
        ("descriptions", spec.descriptions, 4000, True),
    ):
        problems += texts_problems(name, texts, limit, allow_empty=empty_ok)
    if spec.photo is not None and text_problem(spec.photo, 500):
        problems.append(("photo", "must be a URL or file id of at most 500 characters"))
    if spec.kind not in KINDS:
        problems.append(("kind", f"must be one of {', '.join(KINDS)}"))
    if _bad_int(spec.price_points, low=0, none_ok=False):
        problems.append(("price", "must be a whole number of points >= 0"))
    if _bad_int(spec.cash_minor, low=0, none_ok=False):
        problems.append(("cash", "must be a whole number of minor currency units >= 0"))
    elif spec.price_points == 0 and spec.cash_minor == 0:
        problems.append(("price", "an item cannot be free: set a points price or a cash part"))
    if _bad_int(spec.stock, low=0, none_ok=True):
        problems.append(("stock", "must be a whole number >= 0 (leave it out for unlimited)"))
    for field, moment in (("starts", spec.starts_at), ("ends", spec.ends_at)):
        if moment is not None and (not isinstance(moment, datetime) or moment.tzinfo is None):
            problems.append((field, "must be a date-time with a time zone"))
    if (
        isinstance(spec.starts_at, datetime)
        and isinstance(spec.ends_at, datetime)
        and spec.starts_at.tzinfo is not None
        and spec.ends_at.tzinfo is not None
        and spec.ends_at <= spec.starts_at
    ):
        problems.append(("ends", "must be after starts"))
    if spec.min_tier is not None and tier_rank(spec.min_tier, tiers) == len(tiers.levels):
        names = ", ".join(level.name for level in tiers.levels)
        problems.append(("min_tier", f"must be one of the configured tiers ({names})"))
    if (spec.limit_count is None) != (spec.limit_period is None):
        problems.append(("limit", "needs both a count and a period"))
    if spec.limit_count is not None and _bad_int(
        spec.limit_count, low=1, none_ok=False, high=2**31 - 1
    ):
        problems.append(("limit.count", "must be a whole number >= 1"))
    if spec.limit_period is not None and spec.limit_period not in LIMIT_PERIODS:
        problems.append(("limit.per", f"must be one of {', '.join(LIMIT_PERIODS)}"))
    if spec.approval_threshold is not None:
        if _bad_int(spec.approval_threshold, low=1, none_ok=False):
            problems.append(("approval_threshold", "must be a whole number of points >= 1"))
        elif isinstance(spec.cash_minor, int) and spec.cash_minor > 0:
            # One wait per redemption: the hold either waits for the admin or for the payment.
            problems.append(("approval_threshold", "cannot be combined with a cash part"))
    if not isinstance(spec.active, bool):
        problems.append(("active", "must be true or false"))
    if not isinstance(spec.listed, bool):
        problems.append(("listed", "must be true or false"))
    return problems


def check_item(spec: ItemSpec, tiers: TiersSettings) -> None:
    """Refuse a malformed spec with :class:`InvalidInput` naming every problem."""
    problems = item_problems(spec, tiers)
    if problems:
        text = "; ".join(f"{field}: {message}" for field, message in problems)
        raise InvalidInput(f"item {spec.sku!r}: {text}", field=problems[0][0], problems=text)


_SPEC_COLUMNS = {
    "title": "title",
    "description": "description",
    "photo": "photo",
    "category": "category",
    "kind": "kind",
    "price_points": "price_points",
    "cash_minor": "cash_minor",
    "active": "active",
    "listed": "listed",
    "starts_at": "starts_at",
    "ends_at": "ends_at",
    "min_tier": "min_tier",
    "limit_count": "limit_count",
    "limit_period": "limit_period",
    "approval_threshold": "approval_threshold",
    "titles": "titles",
    "descriptions": "descriptions",
}


def spec_of(item: ItemRecord) -> ItemSpec:
    """What an admin would have to say to describe ``item`` as it is."""
    return ItemSpec(
        sku=item.sku,
        title=item.title,
        category=item.category,
        kind=item.kind,
        price_points=item.price_points,
        description=item.description,
        photo=item.photo,
        cash_minor=item.cash_minor,
        stock=item.stock,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        min_tier=item.min_tier,
        limit_count=item.limit_count,
        limit_period=item.limit_period,
        approval_threshold=item.approval_threshold,
        active=item.active,
        listed=item.listed,
        titles=item.titles,
        descriptions=item.descriptions,
    )


def item_terms(item: ItemRecord) -> dict[str, Any]:
    """The item's editable terms as plain JSON values (instants as ISO text), for the audit log."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name in EDITABLE
        for value in (getattr(item, name),)
    }


def _clean(spec: ItemSpec) -> dict[str, Any]:
    values: dict[str, Any] = {column: getattr(spec, name) for name, column in _SPEC_COLUMNS.items()}
    for name in ("title", "description", "category"):
        values[name] = values[name].strip()
    for name in ("titles", "descriptions"):
        values[name] = clean_texts(values[name])
    return values


async def upsert_item_row(conn: AsyncConnection, spec: ItemSpec, now: datetime) -> UpsertResult:
    """Insert the item, or update it in place if anything differs (``updated_at`` moves then).

    The caller validated ``spec``. Changing an item's terms invalidates confirmations shown
    before the change (see ``core.rewards.redemptions``), so an unchanged item is left untouched.
    """
    values = _clean(spec)
    row = (await conn.execute(select(Item).where(Item.sku == spec.sku))).first()
    if row is None:
        item_id = (
            await conn.execute(
                insert(Item)
                .values(sku=spec.sku, stock=spec.stock, created_at=now, updated_at=now, **values)
                .returning(Item.id)
            )
        ).scalar_one()
        return UpsertResult(int(item_id), spec.sku, "created")
    current = item_record(row)
    changed = {
        column: value for column, value in values.items() if getattr(current, column) != value
    }
    # Stock is set on creation only; switching between limited and unlimited is a term.
    if (spec.stock is None) != (current.stock is None):
        changed["stock"] = spec.stock
    if not changed:
        return UpsertResult(current.item_id, spec.sku, "unchanged")
    await conn.execute(
        update(Item).where(Item.id == current.item_id).values(updated_at=now, **changed)
    )
    return UpsertResult(current.item_id, spec.sku, "updated")


def clean_codes(codes: Iterable[object]) -> list[str]:
    """Coupon codes as given, stripped and without repeats; refuses a malformed one."""
    seen: dict[str, None] = {}
    for code in codes:
        if not isinstance(code, str) or not re.fullmatch(r"[!-~]{1,128}", code.strip()):
            raise InvalidInput(
                f"coupon code {code!r} must be 1-128 printable characters without spaces",
                field="codes",
            )
        seen.setdefault(code.strip(), None)
    return list(seen)


async def insert_codes(conn: AsyncConnection, item_id: int, codes: Sequence[str]) -> int:
    """Add the codes the item's pool does not have yet; returns how many were added."""
    if not codes:
        return 0
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    added = 0
    for start in range(0, len(codes), 500):
        chunk = codes[start : start + 500]
        statement = (
            dialect_insert(CouponCode)
            .values([{"item_id": item_id, "code": code} for code in chunk])
            .on_conflict_do_nothing(index_elements=[CouponCode.item_id, CouponCode.code])
            .returning(CouponCode.id)
        )
        added += len((await conn.execute(statement)).all())
    return added


class Catalog(MemberShelf):
    """The mall's rewards: kept by admins (or the catalog file); members browse them through
    the reads it inherits from :class:`~core.rewards.shelf.MemberShelf`."""

    async def upsert_item(self, spec: ItemSpec, now: datetime) -> UpsertResult:
        """Create the item named by ``spec.sku``, or bring it up to date with ``spec``."""
        check_item(spec, self.config.tiers)
        validation.instant(now)
        async with self.db.write() as conn:
            return await upsert_item_row(conn, spec, now)

    async def create_item(self, spec: ItemSpec, now: datetime, *, actor_id: int) -> ItemRecord:
        """Add a new item for an admin, written to the audit log with it; never overwrites one.

        Unlike :meth:`upsert_item`, a sku already taken is refused (``invalid_input``, reason
        ``taken``): an admin adding an item must not silently change another.
        """
        check_item(spec, self.config.tiers)
        validation.instant(now)
        validation.member_id(actor_id)
        taken = InvalidInput(
            f"an item {spec.sku!r} exists", field="sku", reason="taken", sku=spec.sku
        )
        try:
            async with self.db.write() as conn:
                found = (await conn.execute(select(Item.id).where(Item.sku == spec.sku))).first()
                if found is not None:
                    raise taken
                result = await upsert_item_row(conn, spec, now)
                item = await self._with_codes(conn, await load_item(conn, result.item_id))
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="item.create",
                    target=f"item:{item.item_id}",
                    now=now,
                    before={},
                    after={"sku": item.sku, "stock": item.stock, **item_terms(item)},
                )
                return item
        except IntegrityError:  # another admin took the sku meanwhile (PostgreSQL)
            raise taken from None

    async def edit_item(
        self, item_id: int, changes: Mapping[str, Any], now: datetime, *, actor_id: int
    ) -> ItemEdit:
        """Change some of an item's terms (names in :data:`EDITABLE`), audited with them.

        The item as a whole must still be valid afterwards (a window ending after it starts, no
        approval threshold beside a cash part...); confirmations shown before stop working.
        """
        item_id = item_id_of(item_id)
        validation.instant(now)
        validation.member_id(actor_id)
        unknown = sorted(set(changes) - set(EDITABLE))
        if not changes or unknown:
            raise InvalidInput(
                f"changes must name some of {', '.join(EDITABLE)}, got {unknown or 'none'}",
                field="changes",
            )
        async with self.db.write() as conn:
            await conn.execute(select(Item.id).where(Item.id == item_id).with_for_update())
            before = await load_item(conn, item_id)
            spec = replace(spec_of(before), **changes)
            check_item(spec, self.config.tiers)
            await upsert_item_row(conn, spec, now)
            after = await self._with_codes(conn, await load_item(conn, item_id))
            old, new = item_terms(before), item_terms(after)
            await write_entry(
                conn,
                actor_id=actor_id,
                action="item.edit",
                target=f"item:{item_id}",
                now=now,
                before={name: old[name] for name in changes},
                after={name: new[name] for name in changes},
            )
            return ItemEdit(await self._with_codes(conn, before), after)

    async def all_items(self, page: int = 0, page_size: int = 10) -> ItemRecordPage:
        """Every item, on the shelf or not, oldest first (coupons with their free codes)."""
        page, page_size = page_args(page, page_size)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(Item).order_by(Item.id).offset(page * page_size).limit(page_size + 1)
                )
            ).all()
            items = [await self._with_codes(conn, item_record(row)) for row in rows[:page_size]]
        return ItemRecordPage(tuple(items), page, len(rows) > page_size)

    async def get_item(self, item_id: int) -> ItemRecord:
        item_id = item_id_of(item_id)
        async with self.db.read() as conn:
            return await self._with_codes(conn, await load_item(conn, item_id))

    async def get_item_by_sku(self, sku: str) -> ItemRecord:
        if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
            raise UnknownItem(f"no item {sku!r}", sku=str(sku)[:64])
        async with self.db.read() as conn:
            item_id = (
                await conn.execute(select(Item.id).where(Item.sku == sku))
            ).scalar_one_or_none()
            if item_id is None:
                raise UnknownItem(f"no item {sku!r}", sku=sku)
            return await self._with_codes(conn, await load_item(conn, int(item_id)))

    async def _with_codes(self, conn: AsyncConnection, item: ItemRecord) -> ItemRecord:
        if item.kind != "coupon":
            return item
        return replace(item, free_codes=await free_codes(conn, item.item_id))

    async def deactivate(
        self, item_id: int, now: datetime, *, actor_id: int | None = None
    ) -> ItemRecord:
        """Switch the item off: off the shelf and out of every box's draw (``active`` false);
        confirmations already shown for it stop working.

        With ``actor_id`` (an admin), the audit log records it in the same transaction, unless
        the item was already off the shelf (nothing changed, nothing to record).
        """
        item_id = item_id_of(item_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        async with self.db.write() as conn:
            item = await load_item(conn, item_id)
            if item.active:
                await conn.execute(
                    update(Item).where(Item.id == item_id).values(active=False, updated_at=now)
                )
                if actor_id is not None:
                    await write_entry(
                        conn,
                        actor_id=actor_id,
                        action="item.deactivate",
                        target=f"item:{item_id}",
                        now=now,
                        before={"active": True},
                        after={"active": False},
                    )
            return await self._with_codes(conn, await load_item(conn, item_id))

    async def restock(
        self, item_id: int, quantity: int, now: datetime, *, actor_id: int | None = None
    ) -> ItemRecord:
        """Add ``quantity`` units to a limited item's stock (audited as :meth:`deactivate`)."""
        item_id = item_id_of(item_id)
        validation.amount(quantity, field="quantity")
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        async with self.db.write() as conn:
            result = await conn.execute(
                update(Item)
                .where(Item.id == item_id, Item.stock.is_not(None))
                .values(stock=Item.stock + quantity)
            )
            if not result.rowcount:
                await load_item(conn, item_id)  # unknown item
                raise InvalidState(
                    f"item {item_id} has unlimited stock", item_id=item_id, reason="unlimited"
                )
            item = await load_item(conn, item_id)
            if actor_id is not None:
                assert item.stock is not None  # limited: the update matched
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="item.restock",
                    target=f"item:{item_id}",
                    now=now,
                    before={"stock": item.stock - quantity},
                    after={"stock": item.stock},
                )
            return item

    async def load_codes(
        self,
        item_id: int,
        codes: Iterable[str],
        *,
        actor_id: int | None = None,
        now: datetime | None = None,
    ) -> int:
        """Add codes to a coupon item's pool, skipping those it has; returns how many were new.

        With ``actor_id`` (the admin who uploaded them, at ``now``) the ``item.codes`` audit
        entry, the pool's free codes before and after, is written in the same transaction as
        the codes.
        """
        item_id = item_id_of(item_id)
        cleaned = clean_codes(codes)
        if actor_id is not None:
            validation.member_id(actor_id)
            validation.instant(now)
        async with self.db.write() as conn:
            item = await load_item(conn, item_id)
            if item.kind != "coupon":
                raise InvalidState(
                    f"item {item_id} is not a coupon", item_id=item_id, reason="not_a_coupon"
                )
            before = await free_codes(conn, item_id) if actor_id is not None else 0
            added = await insert_codes(conn, item_id, cleaned)
            if actor_id is not None and now is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="item.codes",
                    target=f"item:{item_id}",
                    now=now,
                    before={"codes": before},
                    after={"codes": await free_codes(conn, item_id)},
                )
            return added

    async def shelves(self) -> tuple[Category, ...]:
        """Every shelf, by name: those items name (on the shelf or not) and those with names in
        other languages; ``count`` is the number of items naming it, any state."""
        async with self.db.read() as conn:
            counted = {
                str(name): int(count)
                for name, count in await conn.execute(
                    select(Item.category, func.count()).group_by(Item.category)
                )
            }
            named = {
                str(row.name): dict(row.names or {})
                for row in await conn.execute(select(Shelf.name, Shelf.names))
            }
        return tuple(
            Category(name, counted.get(name, 0), named.get(name, {}))
            for name in sorted(counted.keys() | named.keys())
        )

    async def set_shelf_names(
        self, name: str, names: Mapping[str, str], now: datetime, *, actor_id: int
    ) -> Category:
        """Set the shelf's names in other languages (the whole table; empty texts are left out,
        so they read the shelf's own name); audited with the admin who did it, in the same
        transaction. The same names change nothing and write no entry."""
        validation.instant(now)
        validation.member_id(actor_id)
        problem = text_problem(name, 64)
        if problem:
            raise InvalidInput(f"name {problem}", field="name")
        name = name.strip()
        problems = texts_problems("names", names, 64, allow_empty=True)
        if problems:
            where, message = problems[0]
            raise InvalidInput(f"{where} {message}", field=where)
        cleaned = clean_texts(names)
        try:
            count = await self._set_shelf_names(name, cleaned, now, actor_id)
        except IntegrityError:
            # Another admin named the shelf first (its row was inserted meanwhile): again.
            count = await self._set_shelf_names(name, cleaned, now, actor_id)
        return Category(name, count, cleaned)

    async def _set_shelf_names(
        self, name: str, cleaned: dict[str, str], now: datetime, actor_id: int
    ) -> int:
        async with self.db.write() as conn:
            row = (
                await conn.execute(select(Shelf.names).where(Shelf.name == name).with_for_update())
            ).first()
            before = dict(row.names or {}) if row is not None else {}
            if cleaned != before:
                if row is None:
                    await conn.execute(insert(Shelf).values(name=name, names=cleaned))
                else:
                    await conn.execute(
                        update(Shelf).where(Shelf.name == name).values(names=cleaned)
                    )
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="shelf.names",
                    target=f"shelf:{name}",
                    now=now,
                    before={"names": before},
                    after={"names": cleaned},
                )
            return int(
                (await conn.execute(select(func.count()).where(Item.category == name))).scalar_one()
            )
