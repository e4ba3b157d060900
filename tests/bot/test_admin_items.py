"""The admin runs the catalog from the chat: adding, editing, restocking and taking items off
the shelf, loading the catalog file and coupon codes, and refusing bad answers and bad files."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from PIL import Image

from bot.features.admin_items import buttons, files
from bot.sandbox import ChatMessage
from core.reporting.audit import AuditRecord
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
    assert "Question 1 of 16" in first.text
    assert "what is it called" in first.text
    assert "✖️ Cancel" in admin.buttons(first)

    in_chinese = await admin.send("Flat white <hot>")
    assert "The title for members reading 简体中文" in in_chinese.text
    assert "⏭ Skip" in admin.buttons(in_chinese)
    await admin.send("热馥芮白")
    assert "⏭ Make one from the title" in admin.buttons()
    await admin.press("⏭ Make one from the title")
    await admin.send("Double ristretto & steamed milk.")
    assert "The description for members reading 简体中文" in admin.last.text
    await admin.press("⏭ Skip")  # no Chinese description: Chinese members read the English
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
    assert "🌐 简体中文: 热馥芮白" in summary.text
    assert "✏️ Title (简体中文)" in admin.buttons(summary)
    drafts = ("audit_log", "pending_inputs")
    assert await mall_state(chat, leave_out=drafts) == untouched, "nothing saved before Save"

    card = await admin.press("💾 Save")
    assert "Flat white <hot> was added" in card.text
    item = await chat.mall.catalog.get_item_by_sku("flat-white-hot")
    assert (item.kind, item.price_points, item.cash_minor, item.stock) == ("virtual", 250, 0, 12)
    assert (item.min_tier, item.limit_count, item.limit_period) == ("Silver", 2, "week")
    assert item.description == "Double ristretto & steamed milk."
    assert (dict(item.titles), dict(item.descriptions)) == ({"zh_Hans": "热馥芮白"}, {})
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
    assert "no blind box gives it as a prize any more" in ask.text, "all it does, said"
    assert "make it a 🎁 prize only instead" in ask.text
    assert "🎲 It is a prize in no blind box now." in ask.text
    assert admin.buttons(ask)[:3] == [
        "⏸ Yes, take it off",
        "🎁 Make it a prize only instead",
        "⬅️ Back to the item",
    ]
    assert (await chat.mall.catalog.get_item(tote.item_id)).active, "asked first, not done"
    done = await admin.press("⏸ Yes, take it off")
    assert "Switched off: taken off the shelf and out of every blind box" in done.text
    assert "▶️ Put back on the shelf" in admin.buttons(done)
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
    big = b"# padding\n" * (files.CATALOG_MAX_BYTES // 10 + 1)
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


STALE = "This button is out of date. Open the menu to see what is there now."


def button_data(message: ChatMessage, text: str) -> str:
    (data,) = [b.callback_data for row in message.buttons for b in row if b.text == text]
    assert data is not None
    return data


async def answer_up_to_the_price(admin: Member, title: str = "Gift card") -> ChatMessage:
    """The admin starts "Add item" and answers up to the price question (no SKU, no
    description, no photo, a virtual item in Gifts); returns the price question."""
    await admin.send("/admin")
    await admin.press("🎁 Items")
    await admin.press("➕ Add item")
    await admin.send(title)
    await admin.press("⏭ Skip")  # no Chinese title
    await admin.press("⏭ Make one from the title")
    await admin.press("⏭ Skip")  # no description
    await admin.press("⏭ Skip")  # no Chinese description
    await admin.press("⏭ Skip")  # no photo
    await admin.send("Gifts")
    return await admin.press("✨ Virtual")


async def answer_the_rest(admin: Member) -> ChatMessage:
    """Stock 5, on offer from 2026-03-10 10:00 to 2026-04-01 10:00, any tier, no limit, no
    approval: returns the summary."""
    await admin.send("5")
    await admin.send("2026-03-10 10:00")
    await admin.send("2026-04-01 10:00")
    await admin.press("Any tier")
    await admin.press("⏭ Skip")  # no limit
    return await admin.press("⏭ Skip")  # no approval


async def test_a_price_of_0_without_a_cash_part_is_refused_at_that_question(
    stocked: Chat,
) -> None:
    """Issue 15: 0 points (paid in cash only), cash part skipped, Save: every answer was lost."""
    chat = stocked
    admin = await open_admin(chat)
    price_question = await answer_up_to_the_price(admin)
    assert "0 if it is paid in cash only" in price_question.text
    await admin.send("0")
    refused = await admin.press("⏭ Skip")  # no cash part
    assert "An item cannot be free: its price is 0 points, so it needs a cash part" in refused.text
    assert "Type it in CNY" in refused.text
    assert "Question 10 of 16" in refused.text, "the cash part is asked again"
    assert "A cash part in CNY" in refused.text
    await admin.send("12.50")
    assert "How many are in stock?" in admin.last.text, "the form goes on from there"
    await admin.send("5")
    await admin.press("⏭ Skip")  # starts at once
    await admin.press("⏭ Skip")  # no end
    await admin.press("Any tier")
    await admin.press("⏭ Skip")  # no limit
    approval = await admin.send("100")
    assert "An item with a cash part cannot also wait for approval" in approval.text
    summary = await admin.press("⏭ Skip")
    assert "Gift card" in summary.text, "the answers before the refusal are kept"
    assert "Price: CN¥12.50" in summary.text
    assert "Stock: 5" in summary.text

    card = await admin.press("💾 Save")
    assert "Gift card was added" in card.text
    item = await chat.mall.catalog.get_item_by_sku("gift-card")
    assert (item.price_points, item.cash_minor, item.stock) == (0, 1250, 5)
    assert (item.category, item.kind, item.approval_threshold) == ("Gifts", "virtual", None)


async def test_the_rule_is_told_in_the_admins_language(stocked: Chat) -> None:
    admin = await open_admin(stocked, "李", language="zh-hans")
    await admin.press_data(buttons.NEW_ROUTE)
    question = await admin.send("礼品卡")
    assert "给使用简体中文的会员看的名称" in question.text
    await admin.press("⏭ 跳过")
    await admin.press("⏭ 由标题生成")
    await admin.press("⏭ 跳过")
    await admin.press("⏭ 跳过")
    await admin.press("⏭ 跳过")
    await admin.send("礼品")
    await admin.press("✨ 虚拟")
    await admin.send("0")
    refused = await admin.press("⏭ 跳过")
    assert "商品不能免费：积分价格为 0，所以必须有现金部分" in refused.text
    assert "第 10 题，共 16 题" in refused.text


async def test_the_summary_asks_any_answer_again_and_keeps_the_others(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await answer_up_to_the_price(admin)
    await admin.send("250")
    await admin.press("⏭ Skip")  # no cash part
    summary = await answer_the_rest(admin)
    edits = admin.buttons(summary)
    assert edits[:6] == [
        "✏️ Title",
        "✏️ Title (简体中文)",
        "✏️ SKU",
        "✏️ Description",
        "✏️ Description (简体中文)",
        "✏️ Photo",
    ]
    assert {"✏️ Price", "✏️ Cash part", "✏️ Offer starts", "✏️ Approval"} <= set(edits)
    assert {"💾 Save", "✖️ Cancel"} <= set(edits)
    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))
    first_save = button_data(summary, "💾 Save")

    price = await admin.press("✏️ Price", summary)
    assert "Its price in points" in price.text
    assert "Now: 250 points" in price.text
    assert "Question" not in price.text, "one question, not the form from the start"
    assert "↩️ Keep as it was" in admin.buttons(price)
    assert "✖️ Cancel" not in admin.buttons(price)
    summary = await admin.send("300")
    assert "check it, then Save" in summary.text
    assert "Price: 300 points" in summary.text
    assert "Gift card" in summary.text
    assert "Stock: 5" in summary.text
    assert "Gifts" in summary.text

    # The price of 0 beside no cash part is refused there too, and the draft stays as it was.
    await admin.press("✏️ Price", summary)
    free = await admin.send("0")
    assert "it has no cash part, so its price must be at least 1 point" in free.text
    summary = await admin.press("↩️ Keep as it was", free)
    assert "Price: 300 points" in summary.text

    # A start after the kept end is refused at the start.
    await admin.press("✏️ Offer starts", summary)
    late = await admin.send("2026-05-01 10:00")
    assert "The end must be after the start" in late.text
    summary = await admin.send("2026-03-12 10:00")
    assert "Price: 300 points" in summary.text

    # A choice asked again: the kind.
    await admin.press("✏️ Kind", summary)
    summary = await admin.press("🛎 Service")
    assert "Service" in summary.text
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before

    # Save on the first summary, shown before these changes, is out of date.
    await admin.press_data(first_save, summary)
    assert admin.notices[-1] == (STALE, True)
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before
    card = await admin.press("💾 Save", summary)
    assert "Gift card was added" in card.text
    item = await chat.mall.catalog.get_item_by_sku("gift-card")
    assert (item.kind, item.price_points, item.cash_minor, item.stock) == ("service", 300, 0, 5)
    assert (item.starts_at, item.ends_at) == (at("2026-03-12 10:00"), at("2026-04-01 10:00"))


async def test_a_save_the_catalog_refuses_keeps_the_draft(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await admin.send("/admin")
    await admin.press("🎁 Items")
    await admin.press("➕ Add item")
    await admin.send("Mug")
    await admin.press("⏭ Skip")  # no Chinese title
    await admin.send("mug")  # a free SKU now
    await admin.press("⏭ Skip")
    await admin.press("⏭ Skip")
    await admin.press("⏭ Skip")
    await admin.send("Goods")
    await admin.press("📦 Physical")
    await admin.send("150")
    await admin.press("⏭ Skip")
    summary = await answer_the_rest(admin)
    assert "SKU mug" in summary.text

    # Meanwhile another admin (here, the catalog file) takes the SKU.
    await stock(
        chat,
        CATALOG + '\n[[items]]\nsku = "mug"\ntitle = "Other mug"\n'
        'category = "Goods"\nkind = "physical"\nprice = 90\n',
    )
    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))
    refused = await admin.press("💾 Save", summary)
    assert "SKU mug is already another item's" in refused.text
    assert "check it, then Save" in refused.text, "the summary again, every answer kept"
    assert "Stock: 5" in refused.text
    assert "✏️ SKU" in admin.buttons(refused)
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before

    await admin.press("✏️ SKU", refused)
    summary = await admin.send("mug-2")
    assert "SKU mug-2" in summary.text
    card = await admin.press("💾 Save", summary)
    assert "Mug was added" in card.text
    item = await chat.mall.catalog.get_item_by_sku("mug-2")
    assert (item.title, item.price_points, item.stock) == ("Mug", 150, 5)
    assert (await chat.mall.catalog.get_item_by_sku("mug")).title == "Other mug"


async def test_the_admin_gives_an_item_its_chinese_title_and_members_read_it(
    stocked: Chat,
) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await item_card(admin, "✅ Canvas tote · 400 points")
    fields = await admin.press("✏️ Edit")
    assert {"Title (简体中文)", "Description (简体中文)"} <= set(admin.buttons(fields))
    question = await admin.press("Title (简体中文)")
    assert "The title for members reading 简体中文" in question.text
    edited = await admin.send("帆布袋")
    assert "🌐 简体中文: <b>帆布袋</b>" in (edited.html or "")
    await admin.press("✏️ Edit")
    await admin.press("Description (简体中文)")
    await admin.send("能装下六本书。")
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    assert (dict(tote.titles), dict(tote.descriptions)) == (
        {"zh_Hans": "帆布袋"},
        {"zh_Hans": "能装下六本书。"},
    )
    (entry, *_) = await audit(chat, "item.edit")
    assert entry.after == {"descriptions": {"zh_Hans": "能装下六本书。"}}

    li = chat.member("李雷", language="zh-hans")
    await li.start()
    await li.press_data(f"si:{tote.item_id}")
    assert li.last.text.startswith("帆布袋\n能装下六本书。")
    ann = chat.member("Ann")
    await ann.start()
    await ann.press_data(f"si:{tote.item_id}")
    assert ann.last.text.startswith("Canvas tote")

    # Skipping the question again takes the Chinese title away: the default is read again.
    await item_card(admin, "✅ Canvas tote · 400 points")
    await admin.press("✏️ Edit")
    await admin.press("Title (简体中文)")
    await admin.press("⏭ Skip")
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    assert dict(tote.titles) == {}


async def test_editing_one_field_is_checked_against_the_rest_of_the_item(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await item_card(admin, "✅ Canvas tote · 400 points")
    await admin.press("✏️ Edit")
    await admin.press("Price")
    before = await mall_state(chat)
    free = await admin.send("0")
    assert "it has no cash part, so its price must be at least 1 point" in free.text
    assert "Now: 400 points" in free.text, "the price is asked again"
    assert await mall_state(chat) == before
    edited = await admin.send("1")
    assert "Price: 1 point" in edited.text


BOXED = (
    CATALOG
    + """
[[boxes]]
sku = "lucky"
title = "Lucky box"
price = 100
prizes = [
  { name = "Ten points", kind = "points", points = 10, weight = 90 },
  { name = "A tote", kind = "item", item = "tote", weight = 10 },
]

[[boxes]]
sku = "spare"
title = "Spare box with a title far too long to be named in full on a confirmation"
price = 50
prizes = [
  { name = "Five points", kind = "points", points = 5, weight = 1 },
  { name = "A tote", kind = "item", item = "tote", weight = 1 },
]
"""
)


async def test_taking_an_item_off_the_shelf_names_its_boxes_and_offers_prize_only(
    make_chat: ChatFactory,
) -> None:
    async with make_chat() as chat:
        await stock(chat, BOXED)
        admin = await open_admin(chat)
        tote = await chat.mall.catalog.get_item_by_sku("tote")
        await item_card(admin, "✅ Canvas tote · 400 points")

        ask = await admin.press("⏸ Take off the shelf")
        assert "no blind box gives it as a prize any more" in ask.text
        assert (
            "🎲 It is a prize in 2 blind boxes: Lucky box, Spare box with a title far too long to…"
        ) in ask.text
        before = await mall_state(chat)

        card = await admin.press("🎁 Make it a prize only instead")
        assert "🎁 Now a prize only: off the shelf, still given by its blind boxes." in card.text
        assert "🎁 Prize only (not on the shelf): members can't redeem it" in card.text
        item = await chat.mall.catalog.get_item(tote.item_id)
        assert (item.active, item.listed) == (True, False)
        assert await mall_state(chat) != before
        (edit,) = await audit(chat, "item.edit")
        assert (edit.before, edit.after) == ({"listed": True}, {"listed": False})
        table = await chat.mall.boxes.prize_table((await chat.mall.boxes.list_boxes())[0].box_id)
        assert [p.out_reason for p in table.prizes] == [None, None], "still in the draw"

        # A prize-only item's own button switches it off: out of the boxes, said as such.
        assert "⏸ Take out of the blind boxes" in admin.buttons(card)
        assert "⏸ Take off the shelf" not in admin.buttons(card)
        ask = await admin.press("⏸ Take out of the blind boxes")
        assert "It is a prize only (not on the shelf)" in ask.text
        assert "🎁 Make it a prize only instead" not in admin.buttons(ask)
        done = await admin.press("⏸ Yes, take it off")
        assert "out of every blind box" in done.text
        again = await admin.press("▶️ Put back in the blind boxes")
        assert "back in its blind boxes, still a prize only" in again.text
        item = await chat.mall.catalog.get_item(tote.item_id)
        assert (item.active, item.listed) == (True, False)

        items = await admin.press("⬅️ Items")
        assert "🎁 Canvas tote · 400 points" in admin.buttons(items)


async def test_the_shelf_field_makes_an_item_a_prize_only_and_back(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    await item_card(admin, "✅ Canvas tote · 400 points")
    await admin.press("✏️ Edit")
    question = await admin.press("Shelf")
    assert "Where is Canvas tote?" in question.text
    assert "Now: ✅ On the shelf" in question.text
    assert admin.buttons(question)[:2] == ["✅ On the shelf", "🎁 Prize only"]
    typed = await admin.send("somewhere")
    assert "Please answer with one of the buttons" in typed.text

    card = await admin.press("🎁 Prize only")
    assert "✅ Saved." in card.text
    assert "🎁 Prize only (not on the shelf)" in card.text
    assert not (await chat.mall.catalog.get_item(tote.item_id)).listed
    (edit,) = await audit(chat, "item.edit")
    assert (edit.before, edit.after) == ({"listed": True}, {"listed": False})
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/mall")
    assert "Canvas tote" not in ann.last.text + " ".join(ann.buttons()), "not on the shelf"

    await admin.press("✏️ Edit")
    question = await admin.press("Shelf")
    assert "Now: 🎁 Prize only" in question.text
    typed_back = await admin.send("✅ on the shelf")
    assert "✅ Saved." in typed_back.text
    assert "✅ On the shelf" in typed_back.text
    assert (await chat.mall.catalog.get_item(tote.item_id)).listed


async def test_a_catalog_that_loads_with_warnings_shows_them(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await admin.send("/admin")
    await admin.press("🎁 Items")
    await admin.press("📄 Upload catalog")
    warned = (
        '[[items]]\nsku = "cap"\ntitle = "Cap"\ncategory = "Goods"\nkind = "physical"\n'
        "price = 150\nactive = false\n\n"
        '[[boxes]]\nsku = "lucky"\ntitle = "Lucky box"\nprice = 100\nprizes = [\n'
        '  { name = "Ten points", kind = "points", points = 10, weight = 90 },\n'
        '  { name = "A cap", kind = "item", item = "cap", weight = 10 },\n'
        "]\n"
    )
    loaded = await admin.send_document("catalog.toml", warned.encode(), "application/toml")
    assert "Catalog loaded: 1 items added" in loaded.text
    assert "⚠️ Loaded, but not all of it works as written (1):" in loaded.text
    assert "item 'cap' is switched off (active = false), so this prize is never drawn" in (
        loaded.text
    )
    assert "give it listed = false instead" in loaded.text
    assert "Nothing was changed" not in loaded.text
    assert (await chat.mall.catalog.get_item_by_sku("cap")).active is False


async def test_the_admin_names_a_shelf_in_chinese(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await admin.send("/admin")
    await admin.press("🎁 Items")
    shelves = await admin.press("🗂 Shelves")
    assert admin.buttons(shelves)[:2] == ["Drinks", "Goods"]
    ask = await admin.press("Drinks", shelves)
    assert "The shelf Drinks for members reading 简体中文" in ask.text
    assert "Clear" in admin.buttons(ask)
    saved = await admin.send("饮品")
    assert "The names of Drinks are saved." in saved.text
    assert "Drinks · 饮品" in admin.buttons(saved)
    (entry,) = await audit(chat, "shelf.names")
    assert (entry.actor_id, entry.target) == (admin.id, "shelf:Drinks")
    assert (entry.before, entry.after) == ({"names": {}}, {"names": {"zh_Hans": "饮品"}})

    li = chat.member("李雷", language="zh-hans")
    await li.start()
    mall = await li.press("🛍 商城")
    assert "饮品 (1)" in li.buttons(mall)
    ann = chat.member("Ann")
    await ann.start()
    mall = await ann.press("🛍 Mall")
    assert "Drinks (1)" in ann.buttons(mall)

    # Clearing it: Chinese members read the shelf's own name again.
    ask = await admin.press("Drinks · 饮品", saved)
    assert "Now: 饮品" in ask.text
    await admin.press("Clear", ask)
    assert (await chat.mall.catalog.shelves())[0].names == {}
