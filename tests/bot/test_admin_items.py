"""The admin runs the catalog from the chat: adding, editing, restocking and taking items off
the shelf, loading the catalog file and coupon codes, and refusing bad answers and bad files."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from bot.features import admin_items
from bot.sandbox import ChatMessage
from core.audit import AuditRecord
from tests.bot.conftest import ChatFactory
from tests.conftest import at
from tests.support.admin import mall_state, open_admin, stock
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "tote"
title = "Canvas tote"
category = "Goods"
kind = "physical"
price = 400
stock = 5

[[items]]
sku = "latte"
title = "Latte coupon"
category = "Drinks"
kind = "coupon"
price = 300
codes = ["L-1", "L-2"]
"""
NOT_A_NUMBER = "is not a whole number"


@pytest.fixture
async def stocked(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    """A mall with CATALOG."""
    async with make_chat() as chat:
        await stock(chat, CATALOG)
        yield chat


async def send_photo(member: Member, content: bytes) -> None:
    await member.bot.handled.wait(member.user.send_photo(content))


async def item_card(admin: Member, label: str) -> ChatMessage:
    """The admin opens the Items section from /admin and the item's card by its button."""
    await admin.send("/admin")
    await admin.press("🎁 Items")
    return await admin.press(label)


def png(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def audit(chat: Chat, action: str) -> list[AuditRecord]:
    return [entry for entry in await chat.mall.audit.latest(50) if entry.action == action]


async def test_the_admin_adds_an_item_one_answer_at_a_time(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await admin.send("/admin")
    items = await admin.press("🎁 Items")
    assert "✅ Canvas tote · 400 points" in admin.buttons(items)
    first = await admin.press("➕ Add item")
    assert "Question 1 of 14" in first.text
    assert "what is it called" in first.text
    assert "✖️ Cancel" in admin.buttons(first)

    await admin.send("Flat white <hot>")
    assert "⏭ Make one from the title" in admin.buttons()
    await admin.press("⏭ Make one from the title")
    await admin.send("Double ristretto & steamed milk.")
    photo_question = admin.last
    assert "Send its photo as a picture" in photo_question.text

    as_file = await admin.send_document("coffee.png", png(), "image/png")
    assert "Send the photo as a picture (not as a file)" in as_file.text
    await send_photo(admin, png())
    assert "Its category" in admin.last.text
    await admin.send("Drinks")
    kinds = admin.buttons()
    assert kinds[:4] == ["📦 Physical", "🎟 Coupon", "🛎 Service", "✨ Virtual"]
    await admin.press("✨ Virtual")

    before = await mall_state(chat)
    untouched = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))
    refused = await admin.send("two hundred")
    assert NOT_A_NUMBER in refused.text
    assert "Its price in points" in refused.text, "the same question is asked again"
    assert await mall_state(chat) == before
    await admin.send("250")
    await admin.press("⏭ Skip")  # no cash part
    await admin.send("12")  # stock

    past = await admin.send("2026-03-01 10:00")
    assert "is in the past" in past.text
    await admin.send("2026-03-10 10:00")
    backwards = await admin.send("2026-03-09 10:00")
    assert "The end must be after the start" in backwards.text
    await admin.send("2026-04-01 10:00")
    assert admin.buttons()[:3] == ["Member", "Silver", "Gold"]
    await admin.press("Silver")
    bad_limit = await admin.send("twice a week")
    assert "is not a limit" in bad_limit.text
    await admin.send("2 per week")
    summary = await admin.press("⏭ Skip")  # no approval
    assert "check it, then Save" in summary.text
    assert "Flat white <hot>" in summary.text
    assert "Stock: 12" in summary.text
    assert "Photo: yes" in summary.text
    drafts = ("audit_log", "pending_inputs")
    assert await mall_state(chat, leave_out=drafts) == untouched, "nothing saved before Save"

    card = await admin.press("💾 Save")
    assert "Flat white <hot> was added" in card.text
    item = await chat.mall.catalog.get_item_by_sku("flat-white-hot")
    assert (item.kind, item.price_points, item.cash_minor, item.stock) == ("virtual", 250, 0, 12)
    assert (item.min_tier, item.limit_count, item.limit_period) == ("Silver", 2, "week")
    assert item.description == "Double ristretto & steamed milk."
    assert (item.starts_at, item.ends_at) == (at("2026-03-10 10:00"), at("2026-04-01 10:00"))
    assert item.photo is not None
    assert item.photo.startswith("SBX"), "kept as the sandbox's (Telegram's) file id"
    ann = chat.member("Ann")
    await ann.start()
    await ann.press_data(f"si:{item.item_id}")
    assert ann.last.photo == png(), "members see the picture the admin sent"
    (created,) = await audit(chat, "item.create")
    assert created.actor_id == admin.id
    assert created.target == f"item:{item.item_id}"
    assert created.before == {}
    assert created.after["title"] == "Flat white <hot>"
    assert created.after["price_points"] == 250


async def test_cancel_leaves_nothing_behind(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    before = await mall_state(chat)
    await admin.send("/admin")
    await admin.press("🎁 Items")
    await admin.press("➕ Add item")
    await admin.send("Half-made")
    cancelled = await admin.press("✖️ Cancel")
    assert "nothing was saved" in cancelled.text
    assert await mall_state(chat) == before
    after = await admin.send("Just chatting")
    assert "Question" not in after.text, "the question is no longer waiting"


async def test_the_admin_edits_restocks_and_takes_an_item_off_the_shelf(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    card = await item_card(admin, "✅ Canvas tote · 400 points")
    assert "Stock: 5" in card.text
    assert "SKU tote" in card.text

    await admin.press("✏️ Edit")
    question = await admin.press("Price")
    assert "Now: 400 points" in question.text
    refused = await admin.send("-3")
    assert NOT_A_NUMBER in refused.text
    edited = await admin.send("350")
    assert "✅ Saved." in edited.text
    assert "Price: 350 points" in edited.text
    (edit,) = await audit(chat, "item.edit")
    assert (edit.before, edit.after) == ({"price_points": 400}, {"price_points": 350})

    await admin.press("📦 Restock")
    restocked = await admin.send("7")
    assert "7 added: 12 in stock now" in restocked.text
    (restock,) = await audit(chat, "item.restock")
    assert (restock.before, restock.after) == ({"stock": 5}, {"stock": 12})

    ask = await admin.press("⏸ Take off the shelf")
    assert "Take Canvas tote off the shelf?" in ask.text
    assert (await chat.mall.catalog.get_item(tote.item_id)).active, "asked first, not done"
    done = await admin.press("⏸ Yes, take it off")
    assert "Taken off the shelf" in done.text
    assert not (await chat.mall.catalog.get_item(tote.item_id)).active
    (off,) = await audit(chat, "item.deactivate")
    assert (off.before, off.after) == ({"active": True}, {"active": False})
    page = await chat.mall.catalog.all_items()
    assert [item.sku for item in page.items if not item.active] == ["tote"]


async def test_a_catalog_file_is_checked_before_anything_changes(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await admin.send("/admin")
    await admin.press("🎁 Items")
    ask = await admin.press("📄 Upload catalog")
    assert ".toml" in ask.text
    before = await mall_state(chat)

    pdf = await admin.send_document("catalog.pdf", b"%PDF-1.4 ...", "application/pdf")
    assert "catalog.pdf is not a file I take here: send a .toml document" in pdf.text
    big = b"# padding\n" * (admin_items.CATALOG_MAX_BYTES // 10 + 1)
    too_large = await admin.send_document("catalog.toml", big, "application/toml")
    assert "catalog.toml is too large: at most 256 KB" in too_large.text
    broken = (
        "[[items]]\n"  # 1
        'sku = "mug"\n'  # 2
        'title = "Mug"\n'  # 3
        'category = "Goods"\n'  # 4
        'kind = "spaceship"\n'  # 5
        "price = 100\n"  # 6
        "\n"  # 7
        "[[items]]\n"  # 8
        'sku = "cap"\n'  # 9
        'title = "Cap"\n'  # 10
        'category = "Goods"\n'  # 11
        'kind = "physical"\n'  # 12
        'price = "lots"\n'  # 13
    )
    errors = await admin.send_document("catalog.toml", broken.encode(), "application/toml")
    assert "Problems in the catalog (2)" in errors.text
    assert "line 5: items[0] (sku 'mug').kind: must be one of" in errors.text
    assert "line 13: items[1] (sku 'cap').price: expected an integer" in errors.text
    assert "Nothing was changed" in errors.text
    assert await mall_state(chat) == before

    fixed = broken.replace("spaceship", "physical").replace('"lots"', "150")
    fixed += '\n[[items]]\nsku = "tote"\ntitle = "Big canvas tote"\ncategory = "Goods"\n'
    fixed += 'kind = "physical"\nprice = 400\nstock = 5\n'
    loaded = await admin.send_document("catalog.toml", fixed.encode(), "application/toml")
    assert "Catalog loaded: 2 items added, 1 updated, 0 unchanged" in loaded.text
    assert (await chat.mall.catalog.get_item_by_sku("cap")).price_points == 150
    assert (await chat.mall.catalog.get_item_by_sku("tote")).title == "Big canvas tote"
    (entry,) = await audit(chat, "catalog.load")
    assert entry.after["items_created"] == 2
    assert entry.after["items_updated"] == 1


async def test_an_uploaded_catalog_cannot_read_the_bots_files(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await admin.send("/admin")
    await admin.press("🎁 Items")
    await admin.press("📄 Upload catalog")
    before = await mall_state(chat)
    sneaky = (
        '[[items]]\nsku = "x"\ntitle = "X"\ncategory = "Goods"\nkind = "coupon"\n'
        'price = 1\ncodes_file = "/etc/hostname"\n'
    )
    answer = await admin.send_document("c.toml", sneaky.encode(), "application/toml")
    assert "line 7: items[0] (sku 'x').codes_file: this file has no folder" in answer.text
    assert await mall_state(chat) == before


async def test_coupon_codes_come_from_a_text_file(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    latte = await chat.mall.catalog.get_item_by_sku("latte")
    card = await item_card(admin, "✅ Latte coupon · 300 points")
    assert "Coupon codes left: 2" in card.text
    ask = await admin.press("🎟 Upload coupon codes")
    assert ".txt or .csv" in ask.text
    before = await mall_state(chat)

    bad = await admin.send_document("codes.txt", b"L-3\nnot a code\nL-4\n", "text/plain")
    assert "line 2: 'not a code' is not a code" in bad.text
    assert await mall_state(chat) == before

    text = b"L-2\nL-3\n\nL-4\nL-3\n\nL-5\n"
    loaded = await admin.send_document("codes.txt", text, "text/plain")
    assert "3 codes added (1 were in the pool already); 5 free codes now" in loaded.text
    assert "2 blank lines skipped" in loaded.text
    assert "1 codes appeared more than once and were added once: L-3" in loaded.text
    assert (await chat.mall.catalog.get_item(latte.item_id)).free_codes == 5
    (entry,) = await audit(chat, "item.codes")
    assert (entry.before, entry.after) == ({"codes": 2}, {"codes": 5})

    await admin.press("🎟 Upload coupon codes")
    sheet = b"L-6,spring batch\nL-7,spring batch\n"
    from_csv = await admin.send_document("codes.csv", sheet, "text/csv")
    assert "2 codes added" in from_csv.text, "a CSV gives its first column"
    assert (await chat.mall.catalog.get_item(latte.item_id)).free_codes == 7


async def test_a_code_file_for_an_item_that_is_not_a_coupon_is_refused(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    card = await item_card(admin, "✅ Canvas tote · 400 points")
    assert "🎟 Upload coupon codes" not in admin.buttons(card)
    before = await mall_state(chat)
    answer = await admin.press_data(f"aic:{tote.item_id}", card)
    assert "Canvas tote is not a coupon item" in answer.text
    after_file = await admin.send_document("codes.txt", b"T-1\n", "text/plain")
    assert "can't do anything with that file" in after_file.text
    assert await mall_state(chat) == before
