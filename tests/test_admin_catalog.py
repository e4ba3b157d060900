"""What admins do to the catalog from the chat, on both databases.

Adding and editing items (audited in the same transaction, refused whole), every item page by
page, a catalog file sent as a document, a coupon-code file, a blind box's prize table shown
before it is saved, and the latest flash sales.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.db.models import AuditEntry, BlindBox, BoxPrize, BoxSeed, CouponCode, Item
from core.errors import InvalidInput, MallError, SoldOut, UnknownBox, UnknownItem
from core.games.blind_boxes import BlindBoxes
from core.games.box_authoring import PrizeSpec
from core.games.box_odds import PrizeTable
from core.mall import Mall
from core.rewards.catalog import ItemSpec
from core.rewards.catalog_file import CatalogError, load_catalog_text, read_code_lines
from core.rewards.flash_sales import FlashSales
from core.rewards.redemptions import OfferChanged
from tests.conftest import at

ADMIN, OTHER_ADMIN, ANN = 1000, 1001, 3001
NOW = at("2026-03-02 10:00")


def spec(sku: str = "tote", **terms: object) -> ItemSpec:
    values: dict[str, object] = {
        "sku": sku,
        "title": sku.replace("-", " ").title(),
        "category": "Bags",
        "kind": "physical",
        "price_points": 300,
        "stock": 5,
        **terms,
    }
    return ItemSpec(**values)  # type: ignore[arg-type]


async def rows(mall: Mall, *models: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given tables, to compare before and after a refused request."""
    async with mall.db.read() as conn:
        return {
            model.__tablename__: [
                tuple(row)
                for row in await conn.execute(
                    select(model).order_by(*model.__table__.primary_key.columns)
                )
            ]
            for model in models
        }


async def count(mall: Mall, model: Any) -> int:
    async with mall.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(model))).scalar_one())


# --- Adding an item -----------------------------------------------------------------------------


async def test_an_added_item_is_in_the_audit_log_with_its_terms(mall: Mall):
    item = await mall.catalog.create_item(
        spec("tote", description="Canvas", limit_count=1, limit_period="week"),
        NOW,
        actor_id=ADMIN,
    )
    assert (item.sku, item.price_points, item.stock, item.active) == ("tote", 300, 5, True)
    assert item == await mall.catalog.get_item(item.item_id)
    (entry,) = await mall.audit.latest(5)
    assert (entry.actor_id, entry.action, entry.target, entry.at) == (
        ADMIN,
        "item.create",
        f"item:{item.item_id}",
        NOW,
    )
    assert entry.before == {}
    assert {k: entry.after[k] for k in ("sku", "stock", "price_points", "limit_period")} == {
        "sku": "tote",
        "stock": 5,
        "price_points": 300,
        "limit_period": "week",
    }
    voucher = await mall.catalog.create_item(spec("voucher", kind="coupon"), NOW, actor_id=ADMIN)
    assert voucher.free_codes == 0


async def test_a_taken_sku_or_a_bad_item_is_refused_and_nothing_is_written(mall: Mall):
    first = await mall.catalog.create_item(spec("tote"), NOW, actor_id=ADMIN)
    before = await rows(mall, Item, AuditEntry)

    with pytest.raises(InvalidInput) as taken:
        await mall.catalog.create_item(
            spec("tote", title="Other tote", price_points=1), NOW, actor_id=OTHER_ADMIN
        )
    assert (taken.value.details["field"], taken.value.details["reason"]) == ("sku", "taken")
    for bad in (
        spec("mug", price_points=0),  # free
        spec("mug", limit_count=2),  # a limit without a period
        spec("mug", cash_minor=500, approval_threshold=100),
        spec("mug", starts_at=NOW, ends_at=NOW - timedelta(days=1)),
        spec("mug", min_tier="Diamond"),
    ):
        with pytest.raises(InvalidInput):
            await mall.catalog.create_item(bad, NOW, actor_id=ADMIN)
    with pytest.raises(InvalidInput):
        await mall.catalog.create_item(spec("mug"), NOW, actor_id=0)
    assert await rows(mall, Item, AuditEntry) == before
    assert (await mall.catalog.get_item(first.item_id)).title == "Tote"


async def test_two_admins_adding_the_same_sku_at_once_make_one_item(mall: Mall):
    async def add(actor_id: int, title: str) -> str:
        try:
            await mall.catalog.create_item(spec("lamp", title=title), NOW, actor_id=actor_id)
        except InvalidInput as refused:
            return str(refused.details["reason"])
        return "created"

    outcomes = await asyncio.gather(*(add(ADMIN + n, f"Lamp {n}") for n in range(4)))
    assert sorted(outcomes) == ["created", "taken", "taken", "taken"]
    lamp = await mall.catalog.get_item_by_sku("lamp")
    entries = await mall.audit.latest(10)
    assert [(e.action, e.actor_id) for e in entries] == [
        ("item.create", ADMIN + outcomes.index("created"))
    ]
    assert entries[0].after["title"] == lamp.title
    assert await count(mall, Item) == 1


# --- Editing an item ----------------------------------------------------------------------------


async def test_an_edit_changes_only_what_it_names_and_audits_before_and_after(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", at("2026-03-01 08:00"))
    tote = await mall.catalog.create_item(spec("tote", price_points=80), NOW, actor_id=ADMIN)
    shown = await mall.redemptions.offer(ANN, tote.item_id, NOW)
    later = NOW + timedelta(minutes=5)

    edit = await mall.catalog.edit_item(
        tote.item_id, {"price_points": 90, "title": "Big tote"}, later, actor_id=OTHER_ADMIN
    )
    assert edit.before == tote
    assert edit.after == replace(tote, price_points=90, title="Big tote", updated_at=later)
    assert edit.after == await mall.catalog.get_item(tote.item_id)
    entry = (await mall.audit.latest(1))[0]
    assert (entry.actor_id, entry.action, entry.target) == (
        OTHER_ADMIN,
        "item.edit",
        f"item:{tote.item_id}",
    )
    assert (entry.before, entry.after) == (
        {"price_points": 80, "title": "Tote"},
        {"price_points": 90, "title": "Big tote"},
    )
    # Ann saw 80 points: her confirmation no longer holds.
    with pytest.raises(OfferChanged):
        await mall.redemptions.redeem(ANN, shown.token, later, address="Home")

    ends = at("2026-04-01 00:00")
    timed = await mall.catalog.edit_item(tote.item_id, {"ends_at": ends}, later, actor_id=ADMIN)
    assert timed.after.ends_at == ends
    entry = (await mall.audit.latest(1))[0]
    assert (entry.before, entry.after) == ({"ends_at": None}, {"ends_at": ends.isoformat()})


async def test_an_edit_that_names_other_fields_or_breaks_the_item_changes_nothing(mall: Mall):
    tote = await mall.catalog.create_item(
        spec("tote", starts_at=at("2026-03-01 00:00")), NOW, actor_id=ADMIN
    )
    cash = await mall.catalog.create_item(spec("beans", cash_minor=2900), NOW, actor_id=ADMIN)
    before = await rows(mall, Item, AuditEntry)
    for item_id, changes in (
        (tote.item_id, {}),
        (tote.item_id, {"stock": 100}),  # stock moves through restock
        (tote.item_id, {"sku": "bag"}),
        (tote.item_id, {"kind": "coupon", "title": "Tote"}),
        (tote.item_id, {"ends_at": at("2026-02-01 00:00")}),  # before it starts
        (tote.item_id, {"price_points": 0}),  # free
        (tote.item_id, {"limit_count": 3}),  # no period
        (tote.item_id, {"min_tier": "Diamond"}),
        (tote.item_id, {"title": " "}),
        (tote.item_id, {"active": "yes"}),
        (cash.item_id, {"approval_threshold": 100}),  # beside a cash part
    ):
        with pytest.raises(InvalidInput):
            await mall.catalog.edit_item(item_id, changes, NOW, actor_id=ADMIN)
    with pytest.raises(UnknownItem):
        await mall.catalog.edit_item(999, {"title": "Ghost"}, NOW, actor_id=ADMIN)
    assert await rows(mall, Item, AuditEntry) == before


async def test_two_admins_editing_one_item_at_once_leave_a_consistent_trail(mall: Mall):
    tote = await mall.catalog.create_item(spec("tote"), NOW, actor_id=ADMIN)
    edits = {ADMIN + n: {"price_points": 310 + n, "title": f"Tote {n}"} for n in range(6)}
    done = await asyncio.gather(
        *(
            mall.catalog.edit_item(tote.item_id, changes, NOW, actor_id=actor)
            for actor, changes in edits.items()
        )
    )
    assert len(done) == len(edits)
    trail = [e for e in reversed(await mall.audit.latest(20)) if e.action == "item.edit"]
    assert sorted(e.actor_id for e in trail) == sorted(edits)
    assert all(dict(e.after) == edits[e.actor_id] for e in trail)
    # Each edit saw the item as the one before it left it.
    assert trail[0].before == {"price_points": 300, "title": "Tote"}
    assert all(later.before == earlier.after for earlier, later in itertools.pairwise(trail))
    final = await mall.catalog.get_item(tote.item_id)
    assert {"price_points": final.price_points, "title": final.title} == trail[-1].after
    assert (final.stock, final.sku) == (5, "tote")


# --- Restocking and taking off the shelf ---------------------------------------------------------


async def test_concurrent_restocks_are_each_audited_with_the_stock_they_moved(mall: Mall):
    item = await mall.catalog.create_item(spec(stock=5), NOW, actor_id=1000)
    await asyncio.gather(
        *(mall.catalog.restock(item.item_id, n, NOW, actor_id=1000 + n) for n in (1, 2, 3, 4))
    )
    assert (await mall.catalog.get_item(item.item_id)).stock == 15
    entries = [e for e in await mall.audit.latest(10) if e.action == "item.restock"]
    assert len(entries) == 4
    moved = sorted(
        (e.before["stock"], e.after["stock"], e.actor_id - 1000) for e in reversed(entries)
    )
    # Each entry's before is the previous one's after: a chain from 5 to 15, whatever order.
    assert moved[0][0] == 5
    assert moved[-1][1] == 15
    assert all(a[1] == b[0] for a, b in itertools.pairwise(moved))
    assert all(after - before == n for before, after, n in moved)


async def test_a_refused_restock_and_a_second_deactivation_record_nothing(mall: Mall):
    item = await mall.catalog.create_item(spec(stock=None), NOW, actor_id=1000)
    with pytest.raises(MallError):
        await mall.catalog.restock(item.item_id, 3, NOW, actor_id=1000)
    first = await mall.catalog.deactivate(item.item_id, NOW, actor_id=1000)
    again = await mall.catalog.deactivate(item.item_id, NOW, actor_id=1001)
    assert not first.active
    assert not again.active
    actions = [(e.action, e.actor_id) for e in await mall.audit.latest(10)]
    assert actions == [("item.deactivate", 1000), ("item.create", 1000)]


# --- Every item ---------------------------------------------------------------------------------


async def test_all_items_pages_through_the_shelf_and_what_is_off_it(mall: Mall):
    made = [
        await mall.catalog.create_item(spec(sku, **terms), NOW, actor_id=ADMIN)
        for sku, terms in (
            ("tote", {}),
            ("retired", {"active": False}),
            ("winter", {"ends_at": at("2026-02-28 00:00")}),
            ("voucher", {"kind": "coupon", "stock": None}),
            ("mug", {}),
        )
    ]
    await mall.catalog.load_codes(made[3].item_id, ["V-1", "V-2"])
    await mall.members.join(ANN, "Ann", "en", at("2026-03-01 08:00"))
    shelf = await mall.catalog.list_items(ANN, NOW, page_size=10)
    assert {view.sku for view in shelf.items} == {"tote", "voucher", "mug"}

    pages = [await mall.catalog.all_items(page, page_size=2) for page in range(3)]
    assert [[i.sku for i in p.items] for p in pages] == [
        ["tote", "retired"],
        ["winter", "voucher"],
        ["mug"],
    ]
    assert [p.has_more for p in pages] == [True, True, False]
    assert pages[0].items[1].active is False
    assert pages[1].items[1].free_codes == 2
    assert (await mall.catalog.all_items(3, page_size=2)).items == ()
    for page, size in ((-1, 10), (0, 0), (0, 51), (True, 10)):
        with pytest.raises(InvalidInput):
            await mall.catalog.all_items(page, size)


# --- A catalog file or a code file sent as a document -------------------------------------------

GOOD = """\
[[items]]
sku = "tote"
title = "Canvas tote"
category = "Bags"
kind = "physical"
price = 300
stock = 4

[[items]]
sku = "latte"
title = "Latte"
category = "Drinks"
kind = "coupon"
price = 90
codes = ["L-1", "L-2"]
"""

BAD = (
    GOOD
    + """
[[items]]
sku = "mug"
title = "Mug"
category = "Goods"
kind = "physical"
price = -5

[[items]]
sku = "poster"
title = "Poster"
category = "Goods"
kind = "virtual"
price = 10
photo = "../secrets/poster.png"

[[items]]
sku = "beans"
title = "Beans"
category = "Goods"
kind = "coupon"
price = 10
codes_file = "codes.txt"
"""
)


async def test_an_uploaded_catalog_with_errors_writes_nothing_and_names_each_line(mall: Mall):
    tables = (Item, CouponCode, BlindBox, BoxPrize)
    empty = await rows(mall, *tables)
    with pytest.raises(CatalogError) as refused:
        await load_catalog_text(mall.db, mall.config, BAD, NOW)
    found = {(p.line, p.message.split(":")[0]) for p in refused.value.problems}
    lines = BAD.splitlines()
    assert {line for line, _ in found} >= {
        lines.index("price = -5") + 1,
        lines.index('photo = "../secrets/poster.png"') + 1,
        lines.index('codes_file = "codes.txt"') + 1,
    }
    assert await rows(mall, *tables) == empty  # the good items were not written either

    # Text that looks like a path is text all the same: the upload never reads the disk.
    with pytest.raises(CatalogError):
        await load_catalog_text(mall.db, mall.config, "/etc/hostname", NOW)
    with pytest.raises(CatalogError):
        await load_catalog_text(mall.db, mall.config, b"items = []", NOW)  # type: ignore[arg-type]
    assert await rows(mall, *tables) == empty

    loaded = await load_catalog_text(mall.db, mall.config, GOOD.replace("\n", "\r\n"), NOW)
    assert (loaded.items_created, loaded.codes_added) == (2, 2)
    again = await load_catalog_text(mall.db, mall.config, GOOD, NOW + timedelta(hours=1))
    assert (again.items_created, again.items_updated, again.items_unchanged) == (0, 0, 2)
    assert (await mall.catalog.get_item_by_sku("latte")).free_codes == 2


def test_a_code_file_is_read_line_by_line_whatever_its_line_endings():
    long_line = "X" * 50 + " Y"
    lines = read_code_lines(
        "\ufeffC-1\r\nC-2\r\n\r\n" + "Z" * 129 + f"\r\n{long_line}\r\nC-1\r\n C-3 \r\n"
    )
    assert lines.codes == ("C-1", "C-2", "C-3")
    assert (lines.blank, lines.repeats) == (1, ("C-1",))
    assert [p.line for p in lines.problems] == [4, 5]
    assert all(len(p.message) < 120 for p in lines.problems)  # a long line is shortened
    sheet = read_code_lines('Q-1,spring\n"Q,2",gift\nQ-3\n', first_cell=True)
    assert sheet.codes == ("Q-1", "Q,2", "Q-3")
    exported = read_code_lines("\ufeffCode,Note\nQ-1,spring\n", first_cell=True)
    assert (exported.codes, exported.problems) == (("Q-1",), ())  # a spreadsheet's header row
    assert read_code_lines("code\nQ-1\n").codes == ("code", "Q-1")  # a text file: all codes
    assert read_code_lines("") == read_code_lines("\ufeff")


# --- A blind box's prizes, shown before they are saved ------------------------------------------

_boxes = itertools.count(1)
_names = ("Small", "Big", "big", "Mug", "Gone", "Voucher", "Dry", "Dud")


def _prize(name: str, draw: st.DrawFn) -> PrizeSpec:
    weight = draw(st.integers(min_value=0, max_value=40))
    stock = draw(st.none() | st.integers(min_value=0, max_value=3))
    rare = draw(st.booleans())
    if name.casefold() in ("small", "big"):
        return PrizeSpec(name, "points", weight, points=draw(st.integers(1, 500)), stock=stock)
    if name == "Dud":
        return PrizeSpec(name, "consolation", weight, points=draw(st.none() | st.just(2)))
    kind = "coupon" if name in ("Voucher", "Dry") else "item"
    return PrizeSpec(name, kind, weight, item_id=-1, stock=stock, rare=rare)  # item set later


@st.composite
def _tables(draw: st.DrawFn) -> list[PrizeSpec]:
    names = draw(
        st.lists(st.sampled_from(_names), min_size=1, max_size=5, unique_by=lambda n: n.casefold())
    )
    return [_prize(name, draw) for name in names]


def _settled(preview: PrizeTable, stored: PrizeTable) -> PrizeTable:
    """The preview with the ids the save gave its new prizes (0 in a preview)."""
    assert len(preview.prizes) == len(stored.prizes)
    assert all(
        p.prize_id in (0, s.prize_id) for p, s in zip(preview.prizes, stored.prizes, strict=True)
    )
    prizes = tuple(
        replace(p, prize_id=s.prize_id) for p, s in zip(preview.prizes, stored.prizes, strict=True)
    )
    return replace(preview, prizes=prizes)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(tables=st.lists(_tables(), min_size=1, max_size=4))
async def test_the_prize_table_shown_before_saving_is_the_one_saved(
    mall: Mall, tables: list[list[PrizeSpec]]
):
    example = next(_boxes)
    items = {
        "Mug": spec(f"mug-{example}", stock=1),
        "Gone": spec(f"gone-{example}", stock=0),  # out of stock: not drawn
        "Voucher": spec(f"voucher-{example}", kind="coupon", stock=None),
        "Dry": spec(f"dry-{example}", kind="coupon", stock=None),  # no codes: not drawn
    }
    ids = {
        name: (await mall.catalog.create_item(item, NOW, actor_id=ADMIN)).item_id
        for name, item in items.items()
    }
    await mall.catalog.load_codes(ids["Voucher"], [f"V{example}-1"])
    boxes = BlindBoxes(mall.db, mall.config)
    box = await boxes.create_box(
        f"box-{example}", "Box", 50, [PrizeSpec("Small", "points", 1, points=5)], NOW, pity_after=4
    )
    member = ANN + example
    await mall.members.join(member, "Opener", "en", NOW)
    await mall.adjustments.grant(ADMIN, member, 10_000, "Testing", f"opener-{example}", NOW)
    tables_written = (BlindBox, BoxPrize, BoxSeed, Item, CouponCode)
    for step, table in enumerate(tables):
        prizes = [replace(p, item_id=ids[p.name]) if p.item_id else p for p in table]
        before = await rows(mall, *tables_written)
        refused: MallError | None = None
        try:
            preview = await boxes.preview_prizes(box.box_id, prizes)
        except MallError as error:
            refused = error
        assert await rows(mall, *tables_written) == before  # a preview writes nothing
        if refused is not None:  # saving the same table is refused the same way
            with pytest.raises(type(refused)) as also:
                await boxes.set_prizes(box.box_id, prizes, NOW)
            assert also.value.details == refused.details
            assert await rows(mall, *tables_written) == before
            continue
        stored = await boxes.set_prizes(box.box_id, prizes, NOW)
        assert _settled(preview, stored) == stored
        assert stored == await boxes.prize_table(box.box_id)
        # Draws use up prizes, items and codes: the next preview starts from what is left.
        for n in range(3):
            with contextlib.suppress(SoldOut):
                await boxes.open(member, box.box_id, f"open-{example}-{step}-{n}", NOW)


async def test_a_preview_refuses_what_saving_would_refuse(mall: Mall):
    boxes = BlindBoxes(mall.db, mall.config)
    box = await boxes.create_box("box", "Box", 50, [PrizeSpec("P", "points", 1, points=5)], NOW)
    tote = await mall.catalog.create_item(spec("tote"), NOW, actor_id=ADMIN)
    before = await rows(mall, BoxPrize)
    for prizes, field in (
        ([PrizeSpec("P", "points", 0, points=5)], "prizes"),  # weights sum to zero
        ([PrizeSpec("T", "coupon", 1, item_id=tote.item_id)], "prizes[0].item_id"),
        ([PrizeSpec("T", "item", 1, item_id=999)], "prizes[0].item_id"),
        ([PrizeSpec("P", "points", 1, points=1), PrizeSpec("p", "points", 1, points=1)], None),
    ):
        with pytest.raises(InvalidInput) as refused:
            await boxes.preview_prizes(box.box_id, prizes)
        assert field is None or refused.value.details["field"] == field
    with pytest.raises(UnknownBox):
        await boxes.preview_prizes(box.box_id + 1, [PrizeSpec("P", "points", 1, points=5)])
    assert await rows(mall, BoxPrize) == before


# --- The latest flash sales ---------------------------------------------------------------------


async def test_recent_sales_are_the_latest_to_end_listed_by_start(mall: Mall):
    mug = await mall.catalog.create_item(spec("mug", kind="virtual"), NOW, actor_id=ADMIN)
    sales = FlashSales(mall.db, mall.config)
    assert await sales.recent_sales(NOW) == ()
    hour = timedelta(hours=1)
    windows = {
        "long ago": (NOW - 48 * hour, NOW - 47 * hour, "first_come"),
        "ended": (NOW - 3 * hour, NOW - 2 * hour, "first_come"),
        "running": (NOW - hour, NOW + 5 * hour, "first_come"),
        "upcoming": (NOW + 2 * hour, NOW + 3 * hour, "first_come"),
        "draw": (NOW - hour, NOW + 4 * hour, "draw"),
    }
    made = {
        name: await sales.create_sale(
            mug.item_id,
            100,
            3,
            starts,
            ends,
            mode,
            entry_ends_at=starts + 2 * hour if mode == "draw" else None,
            now=NOW - 72 * hour,
        )
        for name, (starts, ends, mode) in windows.items()
    }
    names = {view.sale_id: name for name, view in made.items()}

    latest = await sales.recent_sales(NOW, limit=4)
    assert [names[v.sale_id] for v in latest] == ["ended", "running", "draw", "upcoming"]
    assert [v.phase for v in latest] == ["ended", "open", "entry", "upcoming"]
    everything = await sales.recent_sales(NOW)
    assert names[everything[0].sale_id] == "long ago"
    assert len(everything) == 5
    for limit in (0, 101, True, "5"):
        with pytest.raises(InvalidInput):
            await sales.recent_sales(NOW, limit=limit)  # type: ignore[arg-type]
