"""Content in members' languages: the catalog's titles, descriptions, shelf and prize names
are a default text plus texts by language, loaded from the catalog file and read back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.errors import InvalidInput
from core.games.blind_boxes import BlindBoxes
from core.games.box_authoring import PrizeSpec
from core.mall import Mall
from core.rewards.catalog import Catalog, spec_of
from core.rewards.catalog_file import CatalogError, load_catalog
from core.rewards.flash_sales import FlashSales
from core.rewards.redemptions import Redemptions
from tests.conftest import at

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "catalog.toml"
NOW = at("2026-03-01 09:00")

LATTE = """\
[[shelves]]
name = "Drinks"
names = { zh_Hans = "饮品" }

[[items]]
sku = "latte"
title = "Latte"
titles = { zh_Hans = "拿铁" }
description = "Any milk."
descriptions = { zh_Hans = "任选奶品。" }
category = "Drinks"
kind = "virtual"
price = 100

[[items]]
sku = "scone"
title = "Scone"
category = "Drinks"
kind = "virtual"
price = 50

[[boxes]]
sku = "bean"
title = "Bean box"
titles = { zh_Hans = "豆子盲盒" }
description = "A scoop."
descriptions = { zh_Hans = "抽一勺。" }
price = 10
prizes = [
  { name = "A latte", names = { zh_Hans = "一杯拿铁" }, kind = "item", item = "latte", weight = 1 },
]
"""


async def test_a_catalog_with_texts_by_language_reads_back_as_written(mall: Mall):
    report = await load_catalog(mall.db, mall.config, LATTE, NOW, languages=("en", "zh_Hans"))
    assert (report.items_created, report.boxes_created) == (2, 1)
    catalog = Catalog(mall.db, mall.config)
    latte = await catalog.get_item_by_sku("latte")
    assert (latte.title, dict(latte.titles)) == ("Latte", {"zh_Hans": "拿铁"})
    assert dict(latte.descriptions) == {"zh_Hans": "任选奶品。"}
    scone = await catalog.get_item_by_sku("scone")
    assert (dict(scone.titles), dict(scone.descriptions)) == ({}, {})
    (shelf,) = await catalog.categories(NOW)
    assert (shelf.name, shelf.items, dict(shelf.names)) == ("Drinks", 2, {"zh_Hans": "饮品"})

    await mall.members.join(1001, "Alice", "zh_Hans", NOW)
    await mall.purchases.record_purchase(1001, "o-1", 100_000, "books", NOW)
    view = await catalog.item_view(1001, latte.item_id, NOW)
    assert (dict(view.titles), dict(view.descriptions)) == (
        {"zh_Hans": "拿铁"},
        {"zh_Hans": "任选奶品。"},
    )
    listed = await catalog.list_items(1001, NOW, category="Drinks")
    assert [dict(v.titles) for v in listed.items] == [{"zh_Hans": "拿铁"}, {}]

    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(1001, latte.item_id, NOW)
    done = await redemptions.redeem(1001, offer.token, NOW)
    assert dict(done.redemption.titles) == {"zh_Hans": "拿铁"}
    (mine,) = (await redemptions.list_for_member(1001)).entries
    assert dict(mine.titles) == {"zh_Hans": "拿铁"}

    boxes = BlindBoxes(mall.db, mall.config)
    (box,) = await boxes.list_boxes()
    assert dict(box.titles) == {"zh_Hans": "豆子盲盒"}
    described = await boxes.describe(box.box_id, 1001, NOW)
    assert (dict(described.titles), dict(described.descriptions)) == (
        {"zh_Hans": "豆子盲盒"},
        {"zh_Hans": "抽一勺。"},
    )
    (prize,) = described.prizes
    assert (prize.name, dict(prize.names)) == ("A latte", {"zh_Hans": "一杯拿铁"})
    assert dict(prize.item_titles) == {"zh_Hans": "拿铁"}
    won = await boxes.open(1001, box.box_id, "k1", NOW)
    assert (dict(won.prize_names), dict(won.item_titles)) == (
        {"zh_Hans": "一杯拿铁"},
        {"zh_Hans": "拿铁"},
    )
    # A repeated Open button reads the recorded result back, texts and all.
    again = await boxes.open(1001, box.box_id, "k1", NOW)
    assert again.replayed
    assert dict(again.prize_names) == {"zh_Hans": "一杯拿铁"}


async def test_reloading_changes_only_the_texts_that_changed(mall: Mall):
    await load_catalog(mall.db, mall.config, LATTE, NOW)
    again = await load_catalog(mall.db, mall.config, LATTE, NOW)
    assert (again.items_unchanged, again.boxes_unchanged) == (2, 1)
    edited = (
        LATTE.replace('titles = { zh_Hans = "拿铁" }\n', "")
        .replace('"饮品"', '"咖啡"')
        .replace('"一杯拿铁"', '"拿铁一杯"')
    )
    later = at("2026-03-02 09:00")
    report = await load_catalog(mall.db, mall.config, edited, later)
    assert (report.items_updated, report.items_unchanged, report.boxes_updated) == (1, 1, 1)
    catalog = Catalog(mall.db, mall.config)
    latte = await catalog.get_item_by_sku("latte")
    assert (dict(latte.titles), latte.updated_at) == ({}, later)
    (shelf,) = await catalog.categories(later)
    assert dict(shelf.names) == {"zh_Hans": "咖啡"}
    (box,) = await BlindBoxes(mall.db, mall.config).list_boxes()
    table = await BlindBoxes(mall.db, mall.config).prize_table(box.box_id)
    assert [dict(p.names) for p in table.prizes] == [{"zh_Hans": "拿铁一杯"}]


async def test_the_example_catalog_has_chinese_for_everything_members_read(mall: Mall):
    await load_catalog(mall.db, mall.config, EXAMPLE, NOW, languages=("en", "zh_Hans"))
    catalog = Catalog(mall.db, mall.config)
    items = (await catalog.all_items(page_size=50)).items
    assert items
    assert all("zh_Hans" in item.titles for item in items)
    assert all("zh_Hans" in item.descriptions for item in items if item.description)
    shelves = await catalog.categories(NOW)
    assert shelves
    assert all("zh_Hans" in shelf.names for shelf in shelves)
    boxes = BlindBoxes(mall.db, mall.config)
    for box in await boxes.list_boxes():
        assert "zh_Hans" in box.titles
        table = await boxes.prize_table(box.box_id)
        assert all("zh_Hans" in prize.names for prize in table.prizes)
        assert not any("您" in text for prize in table.prizes for text in prize.names.values())
    assert not any("您" in text for item in items for text in [*item.titles.values()])


async def test_a_flash_sale_carries_its_items_texts(mall: Mall):
    await load_catalog(mall.db, mall.config, LATTE, NOW)
    latte = await Catalog(mall.db, mall.config).get_item_by_sku("latte")
    sales = FlashSales(mall.db, mall.config)
    start, end = at("2026-03-02 09:00"), at("2026-03-03 09:00")
    sale = await sales.create_sale(latte.item_id, 50, 5, start, end, "first_come", now=NOW)
    assert dict(sale.titles) == {"zh_Hans": "拿铁"}


BAD_LANGUAGES = """\
[[items]]
sku = "latte"
title = "Latte"
titles = { "zh-CN" = "拿铁", zh_Hans = "" }
category = "Drinks"
kind = "virtual"
price = 100

[[shelves]]
name = "Drinks"
names = { fr = "Boissons" }

[[boxes]]
sku = "bean"
title = "Bean box"
descriptions = { zh_Hans = 3 }
price = 10
prizes = [
  { name = "A latte", kind = "item", item = "latte", weight = 1 },
  { name = "Points", names = { Chinese = "积分" }, kind = "points", points = 5, weight = 1 },
]
"""


async def test_a_text_in_a_bad_language_names_the_key_and_its_line(mall: Mall):
    with pytest.raises(CatalogError) as refused:
        await load_catalog(mall.db, mall.config, BAD_LANGUAGES, NOW, languages=("en", "zh_Hans"))
    assert [str(problem) for problem in refused.value.problems] == [
        "line 4: items[0] (sku 'latte').titles.zh-CN: not a language code as the bot names it,"
        " such as 'en' or 'zh_Hans'",
        "line 4: items[0] (sku 'latte').titles.zh_Hans: must not be empty",
        "line 16: boxes[0] (sku 'bean').descriptions.zh_Hans: expected a string, got 3",
        "line 11: shelves[0].names.fr: the bot has no language 'fr' (it speaks en, zh_Hans)",
    ]


async def test_without_the_bots_languages_any_well_formed_code_loads(mall: Mall):
    text = LATTE.replace('zh_Hans = "饮品"', 'fr = "Boissons"')
    await load_catalog(mall.db, mall.config, text, NOW)
    (shelf,) = await Catalog(mall.db, mall.config).categories(NOW)
    assert dict(shelf.names) == {"fr": "Boissons"}


async def test_a_prize_name_in_a_bad_language_points_at_the_prizes_line(mall: Mall):
    text = LATTE.replace('names = { zh_Hans = "一杯拿铁" }', 'names = { Chinese = "一杯拿铁" }')
    with pytest.raises(CatalogError) as refused:
        await load_catalog(mall.db, mall.config, text, NOW)
    (problem,) = refused.value.problems
    assert problem.line == 30
    assert problem.where == "boxes[0] (sku 'bean').prizes[0].names.Chinese"


async def test_an_admin_edits_an_items_texts_by_language(mall: Mall):
    await load_catalog(mall.db, mall.config, LATTE, NOW)
    catalog = Catalog(mall.db, mall.config)
    latte = await catalog.get_item_by_sku("latte")
    edit = await catalog.edit_item(
        latte.item_id, {"titles": {"zh_Hans": " 热拿铁 "}}, NOW, actor_id=1
    )
    assert dict(edit.after.titles) == {"zh_Hans": "热拿铁"}
    with pytest.raises(InvalidInput, match=r"titles\.zh-CN"):
        await catalog.edit_item(latte.item_id, {"titles": {"zh-CN": "拿铁"}}, NOW, actor_id=1)
    assert spec_of(edit.after) == replace(spec_of(latte), titles={"zh_Hans": "热拿铁"})


async def test_an_admin_gives_a_box_and_its_prizes_texts_by_language(mall: Mall):
    await load_catalog(mall.db, mall.config, LATTE, NOW)
    boxes = BlindBoxes(mall.db, mall.config)
    await mall.members.join(1, "Ann", "en", NOW)
    latte = await Catalog(mall.db, mall.config).get_item_by_sku("latte")
    prizes = [
        PrizeSpec("A latte", "item", 1, item_id=latte.item_id, names={"zh_Hans": " 一杯拿铁 "}),
        PrizeSpec("Nothing", "consolation", 1, names={"zh_Hans": ""}),
    ]
    created = await boxes.create_box(
        "cup",
        "Cup box",
        20,
        prizes,
        NOW,
        titles={"zh_Hans": " 杯子盲盒 "},
        descriptions={"zh_Hans": ""},
    )
    view = await boxes.describe(created.box_id, 1, NOW)
    assert (dict(view.titles), dict(view.descriptions)) == ({"zh_Hans": "杯子盲盒"}, {})
    table = await boxes.prize_table(created.box_id)
    assert {p.name: dict(p.names) for p in table.prizes} == {
        "A latte": {"zh_Hans": "一杯拿铁"},
        "Nothing": {},
    }
    with pytest.raises(InvalidInput, match=r"titles\.zh-CN"):
        await boxes.create_box("cup2", "Cup", 20, prizes, NOW, titles={"zh-CN": "杯子"})
    with pytest.raises(InvalidInput, match=r"titles\.zh_Hans"):
        await boxes.create_box("cup2", "Cup", 20, prizes, NOW, titles={"zh_Hans": " "})
    with pytest.raises(InvalidInput, match=r"prizes\[0\]\.names\.zh_Hans"):
        await boxes.set_prizes(
            created.box_id, [replace(prizes[0], names={"zh_Hans": "x" * 101})], NOW
        )

    edited = await boxes.edit_box(
        created.box_id,
        NOW,
        actor_id=1,
        title="Mug box",
        titles={"zh_Hans": "马克杯盲盒"},
        descriptions={"zh_Hans": " 一个杯子。 "},
    )
    assert (edited.title, dict(edited.titles)) == ("Mug box", {"zh_Hans": "马克杯盲盒"})
    view = await boxes.describe(created.box_id, 1, NOW)
    assert dict(view.descriptions) == {"zh_Hans": "一个杯子。"}
    (entry, *_) = [e for e in await mall.audit.latest(10) if e.action == "box.edit"]
    assert entry.actor_id == 1
    assert entry.before == {
        "descriptions": {},
        "title": "Cup box",
        "titles": {"zh_Hans": "杯子盲盒"},
    }
    assert entry.after == {
        "descriptions": {"zh_Hans": "一个杯子。"},
        "title": "Mug box",
        "titles": {"zh_Hans": "马克杯盲盒"},
    }
    # The same texts again change nothing and write no entry.
    await boxes.edit_box(created.box_id, NOW, actor_id=1, titles={"zh_Hans": "马克杯盲盒"})
    assert len([e for e in await mall.audit.latest(10) if e.action == "box.edit"]) == 1
    with pytest.raises(InvalidInput, match=r"descriptions\.fr-FR"):
        await boxes.edit_box(created.box_id, NOW, actor_id=1, descriptions={"fr-FR": "x"})


async def test_an_admin_names_a_shelf_by_language(mall: Mall):
    await load_catalog(mall.db, mall.config, LATTE, NOW)
    await mall.members.join(1, "Ann", "en", NOW)
    catalog = Catalog(mall.db, mall.config)
    assert [(s.name, s.items, dict(s.names)) for s in await catalog.shelves()] == [
        ("Drinks", 2, {"zh_Hans": "饮品"})
    ]
    shelf = await catalog.set_shelf_names("Drinks", {"zh_Hans": " 饮料 "}, NOW, actor_id=1)
    assert (shelf.items, dict(shelf.names)) == (2, {"zh_Hans": "饮料"})
    # A shelf no item names yet gets its row.
    await catalog.set_shelf_names("Snacks", {"zh_Hans": "小吃"}, NOW, actor_id=1)
    (drinks,) = [c for c in await catalog.categories(NOW) if c.name == "Drinks"]
    assert dict(drinks.names) == {"zh_Hans": "饮料"}
    assert [s.name for s in await catalog.shelves()] == ["Drinks", "Snacks"]
    entries = [e for e in await mall.audit.latest(10) if e.action == "shelf.names"]
    assert [(e.target, e.before, e.after) for e in entries] == [
        ("shelf:Snacks", {"names": {}}, {"names": {"zh_Hans": "小吃"}}),
        ("shelf:Drinks", {"names": {"zh_Hans": "饮品"}}, {"names": {"zh_Hans": "饮料"}}),
    ]
    # Clearing it: its own name is read again; the same names again write nothing.
    await catalog.set_shelf_names("Drinks", {}, NOW, actor_id=1)
    await catalog.set_shelf_names("Drinks", {"zh_Hans": ""}, NOW, actor_id=1)
    assert len([e for e in await mall.audit.latest(10) if e.action == "shelf.names"]) == 3
    assert dict((await catalog.shelves())[0].names) == {}
    with pytest.raises(InvalidInput, match=r"names\.zh_Hans"):
        await catalog.set_shelf_names("Drinks", {"zh_Hans": "x" * 65}, NOW, actor_id=1)
