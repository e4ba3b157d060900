"""Loading the catalog file: all or nothing, every problem at once, and idempotent."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db.models import BlindBox, BoxPrize, BoxSeed, CouponCode, Item, Shelf
from core.errors import error_from_code
from core.games.blind_boxes import BlindBoxes
from core.mall import Mall
from core.rewards.catalog import Catalog
from core.rewards.catalog_file import CatalogError, load_catalog, load_catalog_text, read_code_lines
from core.rewards.redemptions import OfferChanged, Redemptions
from tests.conftest import at

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "catalog.toml"
NOW = at("2026-03-01 09:00")


async def everything(mall: Mall) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the catalog file writes, to compare before and after."""
    tables = {"items": Item, "codes": CouponCode, "boxes": BlindBox, "prizes": BoxPrize}
    async with mall.db.read() as conn:
        found = {
            name: [tuple(row) for row in await conn.execute(select(model).order_by(model.id))]
            for name, model in tables.items()
        }
        found["seeds"] = [tuple(row) for row in await conn.execute(select(BoxSeed))]
        shelves = select(Shelf).order_by(Shelf.name)
        found["shelves"] = [tuple(row) for row in await conn.execute(shelves)]
    return found


async def test_the_example_catalog_loads_and_loading_it_again_changes_nothing(mall: Mall):
    first = await load_catalog(mall.db, mall.config, EXAMPLE, NOW)
    assert (first.items_created, first.items_updated, first.items_unchanged) == (11, 0, 0)
    assert (first.codes_added, first.boxes_created) == (15, 1)
    before = await everything(mall)
    again = await load_catalog(mall.db, mall.config, str(EXAMPLE), at("2026-03-02 09:00"))
    assert (again.items_created, again.items_updated, again.items_unchanged) == (0, 0, 11)
    assert (again.codes_added, again.boxes_created, again.boxes_unchanged) == (0, 0, 1)
    assert await everything(mall) == before

    catalog = Catalog(mall.db, mall.config)
    beans = await catalog.get_item_by_sku("house-beans-250g")
    assert (beans.price_points, beans.cash_minor, beans.stock) == (900, 2900, 30)
    art = await catalog.get_item_by_sku("latte-art-class")
    assert art.starts_at == at("2026-03-01 00:00")  # written without an offset: mall time
    latte = await catalog.get_item_by_sku("latte-coupon")
    assert (latte.free_codes, latte.limit_count, latte.limit_period) == (10, 2, "week")
    assert (await catalog.get_item_by_sku("gold-tasting-night")).min_tier == "Gold"
    assert (await catalog.get_item_by_sku("signed-first-edition")).approval_threshold == 5000
    assert {item.kind for item in [beans, art, latte]} | {"virtual"} == {
        "physical",
        "service",
        "coupon",
        "virtual",
    }
    async with mall.db.read() as conn:
        seed = (await conn.execute(select(BoxSeed))).one()
        prizes = (await conn.execute(select(BoxPrize).order_by(BoxPrize.id))).all()
    assert seed.version == 1
    assert seed.seed_hash == hashlib.sha256(seed.seed.encode()).hexdigest()
    assert [(p.name, p.kind, p.rare) for p in prizes if p.rare] == [
        ("The golden mug", "item", True)
    ]
    assert {p.kind for p in prizes} == {"points", "item", "coupon", "consolation"}


async def test_the_example_boxs_rare_prize_can_be_won_but_not_bought(mall: Mall):
    """The golden mug is prize only (listed = false): off the shelf, in the Lucky Bean draw."""
    report = await load_catalog(mall.db, mall.config, EXAMPLE, NOW)
    assert report.warnings == ()
    await mall.members.join(1001, "Alice", "en", NOW)
    catalog = Catalog(mall.db, mall.config)
    mug = await catalog.get_item_by_sku("golden-mug")
    assert (mug.active, mug.listed, mug.stock) == (True, False, 3)
    shelf = await catalog.list_items(1001, NOW, page_size=50)
    assert "golden-mug" not in {view.sku for view in shelf.items}
    assert (await catalog.item_view(1001, mug.item_id, NOW)).blocked_reason == "not_available"
    boxes = BlindBoxes(mall.db, mall.config)
    (lucky,) = await boxes.list_boxes()
    view = await boxes.describe(lucky.box_id, 1001, NOW)
    assert [(p.name, p.out_reason) for p in view.prizes if not p.available] == []
    (golden,) = [p for p in view.prizes if p.rare]
    assert (golden.name, golden.probability, golden.guaranteed_probability) == (
        "The golden mug",
        Decimal("0.01"),
        Decimal(1),
    )
    assert view.guarantee_available, "the guarantee is not paused"


async def test_a_reload_updates_what_changed_and_never_refills_the_shelves(mall: Mall):
    text = EXAMPLE.read_text()
    await load_catalog(mall.db, mall.config, text, NOW)
    await mall.members.join(1001, "Alice", "en", NOW)
    await mall.purchases.record_purchase(1001, "o-1", 200_000, "books", NOW)
    catalog, redemptions = Catalog(mall.db, mall.config), Redemptions(mall.db, mall.config)
    tote = await catalog.get_item_by_sku("tote-bag")
    offer = await redemptions.offer(1001, tote.item_id, NOW)
    await redemptions.redeem(1001, offer.token, NOW, address="Upstairs")
    upgrade = await catalog.get_item_by_sku("size-upgrade")
    shown = await redemptions.offer(1001, upgrade.item_id, NOW)
    edited = (
        text.replace("price = 1200", "price = 1100")
        .replace("price = 80\n", "price = 90\n")
        .replace('"BOOK50-WP33"]', '"BOOK50-WP33", "BOOK50-NEW1"]')
        .replace("weight = 40 }", "weight = 45 }")
        .replace(
            '  { name = "A smile from the barista", names = { zh_Hans = "咖啡师的一个微笑" },'
            ' kind = "consolation", weight = 38 },\n',
            "",
        )
    )
    later = at("2026-03-02 09:00")
    report = await load_catalog(mall.db, mall.config, edited, later)
    assert (report.items_updated, report.items_unchanged, report.codes_added) == (2, 9, 1)
    assert (report.boxes_updated, report.boxes_unchanged) == (1, 0)
    tote = await catalog.get_item_by_sku("tote-bag")
    assert (tote.price_points, tote.stock, tote.updated_at) == (1100, 49, later)
    async with mall.db.read() as conn:
        weights = dict((await conn.execute(select(BoxPrize.name, BoxPrize.weight))).all())
    assert weights["50 points back"] == 45
    assert weights["A smile from the barista"] == 0  # out of the draw, still on record
    with pytest.raises(OfferChanged):  # Alice was shown the old price
        await redemptions.redeem(1001, shown.token, later)


BROKEN = """\
[[items]]
sku = "tea"
title = "Tea"
category = "Drinks"
kind = "virtual"
price = -5

[[items]]
sku = "scarf"
title = "Scarf"
category = "Goods"
kind = "gift"
price = 100

[[boxes]]
sku = "lucky"
title = "Lucky box"
price = 50
prizes = [
  { name = "Tea", kind = "item", item = "tea", weight = 5 },
  { name = "Unicorn", kind = "item", item = "unicorn", weight = 1 },
]
"""


async def test_three_mistakes_are_reported_together_with_where_they_are(mall: Mall):
    with pytest.raises(CatalogError) as refused:
        await load_catalog(mall.db, mall.config, BROKEN, NOW)
    problems = [str(problem) for problem in refused.value.problems]
    assert problems == [
        "line 6: items[0] (sku 'tea').price: must be a whole number of points >= 0",
        "line 12: items[1] (sku 'scarf').kind: must be one of physical, coupon, service, virtual",
        "line 21: boxes[0] (sku 'lucky').prizes[1].item: no item 'unicorn'",
    ]
    assert refused.value.code == "catalog_invalid"
    # The error survives the trip through a recorded rejection.
    rebuilt = error_from_code("catalog_invalid", refused.value.details)
    assert isinstance(rebuilt, CatalogError)
    assert [str(p) for p in rebuilt.problems] == problems
    async with mall.db.read() as conn:
        for model in (Item, BlindBox, BoxPrize):
            assert (await conn.execute(select(func.count()).select_from(model))).scalar() == 0


UNWINNABLE = """\
[[items]]
sku = "pin"
title = "Pin"
category = "Perks"
kind = "physical"
price = 500
active = false

[[items]]
sku = "cup"
title = "Cup"
category = "Perks"
kind = "physical"
price = 800
stock = 0

[[items]]
sku = "voucher"
title = "Voucher"
category = "Perks"
kind = "coupon"
price = 300

[[boxes]]
sku = "tricky"
title = "Tricky box"
price = 50
pity_after = 5
prizes = [
  { name = "Ten points", kind = "points", points = 10, weight = 90 },
  { name = "Pin", kind = "item", item = "pin", weight = 5, rare = true },
  { name = "Cup", kind = "item", item = "cup", weight = 5 },
  { name = "Voucher", kind = "coupon", item = "voucher", weight = 5 },
  { name = "Jackpot", kind = "points", points = 500, weight = 1, stock = 0 },
  { name = "Resting", kind = "points", points = 5, weight = 0 },
]

[[boxes]]
sku = "empty"
title = "Empty box"
price = 50

[[boxes.prizes]]
name = "Pin"
kind = "item"
item = "pin"
weight = 1
"""


async def test_prizes_that_can_never_be_drawn_load_with_a_warning_each(mall: Mall):
    report = await load_catalog(mall.db, mall.config, UNWINNABLE, NOW)
    assert (report.items_created, report.boxes_created) == (3, 2), "loaded all the same"
    tricky, empty = "boxes[0] (sku 'tricky')", "boxes[1] (sku 'empty')"
    switched_off = (
        "item 'pin' is switched off (active = false), so this prize is never drawn; to keep an"
        " item off the shelf but in a box, give it listed = false instead"
    )
    assert [str(warning) for warning in report.warnings] == [
        f"line 31: {tricky}.prizes[1].item: {switched_off}",
        f"line 32: {tricky}.prizes[2].item: item 'cup' is out of stock, so this prize is never"
        " drawn until it is restocked",
        f"line 33: {tricky}.prizes[3].item: coupon item 'voucher' has no free codes, so this"
        " prize is never drawn until codes are added",
        f"line 34: {tricky}.prizes[4].stock: none of this prize is left to win: it is out of"
        " the draw",
        f"line 35: {tricky}.prizes[5].weight: weight 0: this prize is never drawn",
        f"line 28: {tricky}.pity_after: no rare prize can be drawn, so the guarantee is never"
        " given",
        f"line 46: {empty}.prizes[0].item: {switched_off}",
        f"line 38: {empty}.prizes: no prize can be drawn",
    ]
    # Loading the same file again changes nothing and warns the same.
    again = await load_catalog(mall.db, mall.config, UNWINNABLE, NOW)
    assert again.boxes_unchanged == 2
    assert again.warnings == report.warnings
    # Prize only instead of switched off, and codes for the voucher (one line more from here):
    # the pin is drawn, and the guarantee gives it.
    fixed = UNWINNABLE.replace("active = false", "listed = false")
    fixed = fixed.replace("stock = 0\n", "stock = 4\n").replace(
        "price = 300\n", "price = 300\ncodes = ['V-1']\n"
    )
    report = await load_catalog(mall.db, mall.config, fixed, NOW)
    assert [str(warning) for warning in report.warnings] == [
        f"line 33: {tricky}.prizes[2].item: item 'cup' is out of stock, so this prize is never"
        " drawn until it is restocked",
        f"line 35: {tricky}.prizes[4].stock: none of this prize is left to win: it is out of"
        " the draw",
        f"line 36: {tricky}.prizes[5].weight: weight 0: this prize is never drawn",
    ], "the stock was set when the cup was created: a reload keeps it"
    boxes = BlindBoxes(mall.db, mall.config)
    table = await boxes.prize_table(next(b.box_id for b in await boxes.list_boxes()))
    assert [p.name for p in table.prizes if p.available] == ["Ten points", "Pin", "Voucher"]
    assert table.rare_weight == 5


MISTAKES = [
    ("[[items]]\nsku = 'tea'\n", "items[0] (sku 'tea').title: missing"),
    ("items = 3\n", "items: expected [[items]] tables"),
    ("[shop]\nname = 'x'\n", "shop: unknown key"),
    ("[[items]\nsku = 1\n", "line 1: invalid TOML"),
    (
        "[[items]]\nsku='t'\ntitle='T'\ncategory='C'\nkind='virtual'\nprice=1\ncodes=['A']\n",
        "line 7: items[0] (sku 't').codes: only coupon items have codes",
    ),
    (
        "[[items]]\nsku='t'\ntitle='T'\ncategory='C'\nkind='virtual'\nprice=1\nstarts=2026-03-01\n",
        "line 7: items[0] (sku 't').starts: expected a date-time",
    ),
    (
        "[[boxes]]\nsku='b'\ntitle='B'\nprice=5\npity_after=3\n"
        "[[boxes.prizes]]\nname='P'\nkind='points'\nweight=1\n",
        "line 6: boxes[0] (sku 'b').prizes[0].points: a points prize needs points >= 1",
    ),
]


async def test_each_kind_of_mistake_is_named(mall: Mall):
    for text, expected in MISTAKES:
        with pytest.raises(CatalogError) as refused:
            await load_catalog(mall.db, mall.config, text + "\n", NOW)
        found = [str(problem) for problem in refused.value.problems]
        assert any(expected in problem for problem in found), found


async def test_codes_can_come_from_a_file_beside_the_catalog(mall: Mall, tmp_path: Path):
    (tmp_path / "codes").mkdir()
    (tmp_path / "codes" / "latte.txt").write_text("# printed batch 7\nL-1\n\nL-2\nL-1\n")
    catalog_file = tmp_path / "shop.toml"
    catalog_file.write_text(
        "[[items]]\nsku = 'latte'\ntitle = 'Latte'\ncategory = 'Drinks'\nkind = 'coupon'\n"
        "price = 300\ncodes = ['L-0']\ncodes_file = 'codes/latte.txt'\n"
    )
    report = await load_catalog(mall.db, mall.config, catalog_file, NOW)
    assert report.codes_added == 3
    missing = tmp_path / "other.toml"
    missing.write_text(catalog_file.read_text().replace("latte.txt", "mocha.txt"))
    with pytest.raises(CatalogError) as refused:
        await load_catalog(mall.db, mall.config, missing, NOW)
    assert "line 8: items[0] (sku 'latte').codes_file: cannot read" in str(refused.value)
    with pytest.raises(CatalogError):
        await load_catalog(mall.db, mall.config, tmp_path / "nowhere.toml", NOW)


async def test_a_picture_file_is_found_beside_the_catalog_and_stored_absolute(
    mall: Mall, tmp_path: Path
):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "latte.png").write_bytes(b"\x89PNG picture")
    item = "[[items]]\nsku = '{sku}'\ntitle = 'T'\ncategory = 'C'\nkind = 'virtual'\nprice = 5\n"
    catalog_file = tmp_path / "shop.toml"
    catalog_file.write_text(
        item.format(sku="local")
        + "photo = 'photos/latte.png'\n"
        + item.format(sku="url")
        + "photo = 'https://example.com/latte.jpg'\n"
        + item.format(sku="file-id")
        + "photo = 'AgACAgIAAxkBAAIBZ2Xy_-0'\n"
    )
    await load_catalog(mall.db, mall.config, catalog_file, NOW)
    catalog = Catalog(mall.db, mall.config)
    local = await catalog.get_item_by_sku("local")
    assert local.photo == str((tmp_path / "photos" / "latte.png").resolve())
    assert (await catalog.get_item_by_sku("url")).photo == "https://example.com/latte.jpg"
    assert (await catalog.get_item_by_sku("file-id")).photo == "AgACAgIAAxkBAAIBZ2Xy_-0"
    # The same file loaded from elsewhere resolves to the same picture: nothing changes.
    again = await load_catalog(mall.db, mall.config, str(catalog_file), NOW)
    assert again.items_unchanged == 3

    missing = tmp_path / "other.toml"
    missing.write_text(item.format(sku="lost") + "photo = 'photos/mocha.png'\n")
    with pytest.raises(CatalogError) as refused:
        await load_catalog(mall.db, mall.config, missing, NOW)
    assert "line 7: items[0] (sku 'lost').photo: no picture file" in str(refused.value)
    assert "mocha.png" in str(refused.value)


async def test_the_example_catalogs_pictures_exist(mall: Mall):
    await load_catalog(mall.db, mall.config, EXAMPLE, NOW)
    catalog = Catalog(mall.db, mall.config)
    # Loading from a file refuses a missing picture, so these exist.
    latte = await catalog.get_item_by_sku("latte-coupon")
    assert latte.photo == str(EXAMPLE.parent / "photos" / "latte-coupon.png")


async def test_text_from_a_chat_loads_like_a_file_but_may_name_no_files(mall: Mall):
    """An admin's upload has no folder: codes are listed inline, pictures are URLs or file ids."""
    text = EXAMPLE.read_text() + (
        "\n[[items]]\nsku = 'pool'\ntitle = 'Pool'\ncategory = 'X'\nkind = 'coupon'\n"
        "price = 1\ncodes_file = '/etc/hostname'\n"
    )
    with pytest.raises(CatalogError) as refused:
        await load_catalog_text(mall.db, mall.config, text, NOW)
    problems = [str(problem) for problem in refused.value.problems]
    assert any("photo: must be a URL or a Telegram file id here" in p for p in problems)
    assert any("codes_file: this file has no folder" in p for p in problems)
    assert await everything(mall) == {name: [] for name in await everything(mall)}

    inline = (
        "[[items]]\nsku = 'mocha'\ntitle = 'Mocha'\ncategory = 'Drinks'\nkind = 'coupon'\n"
        "price = 200\nphoto = 'AgACAgIAAxkBAAIBZ2Xy_-0'\ncodes = ['M-1', 'M-2']\n"
    )
    # One line only (a file saved without line breaks) is text all the same, never a path.
    report = await load_catalog_text(mall.db, mall.config, "\ufeff" + inline, NOW)
    assert (report.items_created, report.codes_added) == (1, 2)
    mocha = await Catalog(mall.db, mall.config).get_item_by_sku("mocha")
    assert (mocha.photo, mocha.free_codes) == ("AgACAgIAAxkBAAIBZ2Xy_-0", 2)
    single = await load_catalog_text(mall.db, mall.config, "items = []", NOW)
    assert single.items_created == 0


def test_code_lines_report_blank_lines_repeats_and_bad_lines_by_number():
    lines = read_code_lines("A-1\n\nA-2\nA-1\nnot a code\n  \nA-3,first cell\n")
    assert lines.codes == ("A-1", "A-2")
    assert lines.blank == 2
    assert lines.repeats == ("A-1",)
    assert [(p.line, "not a code" in p.message) for p in lines.problems] == [(5, True), (7, True)]
    sheet = read_code_lines("A-1,spring\n\nA-2,spring\n", first_cell=True)
    assert (sheet.codes, sheet.blank, sheet.problems) == (("A-1", "A-2"), 1, ())
