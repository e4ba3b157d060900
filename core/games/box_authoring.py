"""Boxes as admins author them: a box with its first seed, its terms, its prize table (checked,
previewed, written), and what it has paid out against what it should.

Each change is audited in its own transaction. A table's prizes are matched by name, so a
prize left out keeps its row for the draws that won it and only leaves the draw. The odds a
table gives are ``core.games.box_odds``'s; drawing from it is ``core.games.blind_boxes``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import case, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.db.models import BlindBox, BoxDraw, BoxPrize, BoxSeed, CouponCode, Item, Transfer
from core.errors import InvalidInput
from core.games import box_draws
from core.games.box_odds import (
    BoxSummary,
    PrizeOdds,
    PrizeRow,
    PrizeTable,
    bounded,
    box_id_of,
    odds_table,
    prize_rows,
    read_box,
)
from core.games.box_seeds import BoxSeeds
from core.points.accounts import SystemAccount
from core.reporting.audit import write_entry

PRIZE_KINDS = ("points", "item", "coupon", "consolation")
# The columns' own bounds: weights are INTEGER, names VARCHAR(100).
MAX_WEIGHT = 2**31 - 1
MAX_PITY = 100_000
TITLE_MAX = 200


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


@dataclass(frozen=True)
class CreatedBox:
    box_id: int
    sku: str
    seed_version: int
    seed_hash: str
    table: PrizeTable


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


class BoxAuthoring(BoxSeeds):
    """The admin's side of the boxes (``BlindBoxes`` adds the members' draws)."""

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
            bounded(pity_after, field="pity_after", low=1, high=MAX_PITY)
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
                table = odds_table(await read_box(conn, box_id), await prize_rows(conn, box_id))
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
        box_id_of(box_id)
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
            box = await read_box(conn, box_id)
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
        box_id_of(box_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        specs = _checked_specs(prizes)
        async with self.db.write() as conn:
            box = await read_box(conn, box_id)
            await _check_items(conn, specs)
            before = odds_table(box, await prize_rows(conn, box_id))
            await _write_prizes(conn, box_id, specs)
            after = odds_table(box, await prize_rows(conn, box_id))
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
        box_id_of(box_id)
        specs = _checked_specs(prizes)
        async with self.db.read() as conn:
            box = await read_box(conn, box_id)
            await _check_items(conn, specs)
            rows = await prize_rows(conn, box_id)
            items = await _item_facts(conn, {s.item_id for s in specs if s.item_id is not None})
        return odds_table(box, _planned(rows, specs, items))

    async def prize_table(self, box_id: int) -> PrizeTable:
        """The box's prizes with their current odds and the expected value (for admins)."""
        box_id_of(box_id)
        async with self.db.read() as conn:
            return odds_table(await read_box(conn, box_id), await prize_rows(conn, box_id))

    async def payout_report(self, box_id: int, since: datetime | None = None) -> PayoutReport:
        """Draws, points spent and paid out, item value and the ratio, beside the theory."""
        box_id_of(box_id)
        if since is not None:
            validation.instant(since, field="since")
        async with self.db.read() as conn:
            box = await read_box(conn, box_id)
            table = odds_table(box, await prize_rows(conn, box_id))
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


# --- The prize table as admins type it -------------------------------------------------------

# How much of an audit entry (``core.reporting.audit.MAX_STATE_CHARS``) a prize table's lines may
# fill.
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
        bounded(spec.weight, field=f"{where}.weight", low=0, high=MAX_WEIGHT)
        if spec.stock is not None:
            bounded(spec.stock, field=f"{where}.stock", low=0, high=validation.MAX_AMOUNT)
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
            bounded(spec.item_id, field=f"{where}.item_id", low=1, high=2**63 - 1)
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
    rows: Sequence[PrizeRow], specs: Sequence[PrizeSpec], items: dict[int, _ItemFacts]
) -> list[PrizeRow]:
    """The box's prize rows as :func:`_write_prizes` would leave them (new ones last, id 0)."""

    def prize(prize_id: int, spec: PrizeSpec) -> PrizeRow:
        facts = items.get(spec.item_id) if spec.item_id is not None else None
        return PrizeRow(
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
