"""The admin schedules flash sales from the chat, and bad dates or prices change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

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
stock = 20

[[items]]
sku = "beans"
title = "House beans"
category = "Goods"
kind = "physical"
price = 200
cash = 2900
"""
# What the mall holds apart from the form's own draft and the audit log.
DRAFT = ("audit_log", "pending_inputs")


@pytest.fixture
async def stocked(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    async with make_chat() as chat:
        await stock(chat, CATALOG)
        yield chat


async def new_sale(admin: Member) -> None:
    await admin.send("/admin")
    await admin.press("⚡ Flash sales")
    await admin.press("➕ New sale")


async def test_the_admin_schedules_a_first_come_sale(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    before = await mall_state(chat, leave_out=DRAFT)
    await admin.send("/admin")
    empty = await admin.press("⚡ Flash sales")
    assert "No sales yet" in empty.text
    pick = await admin.press("➕ New sale")
    assert "Which item?" in pick.text
    assert "Canvas tote" in admin.buttons(pick)
    assert "House beans" not in admin.buttons(pick), "an item with a cash part cannot go on sale"
    cash_item = await admin.send("beans")
    assert "House beans has a cash part and cannot go on sale" in cash_item.text
    await admin.press("Canvas tote")

    assert "is not a whole number" in (await admin.send("1O0")).text
    assert "below the regular price, 400 points" in (await admin.send("450")).text
    await admin.send("250")
    await admin.send("10")
    past = await admin.send("2026-03-01 09:00")
    assert "is in the past" in past.text
    await admin.send("now")
    nonsense = await admin.send("next tuesday")
    assert "is not a date and time" in nonsense.text
    await admin.send("2026-03-05 22:00")
    summary = await admin.press("First come")
    assert "Item: Canvas tote (regular 400 points)" in summary.text
    assert "Sale price: 250 points" in summary.text
    assert "Quantity: 10" in summary.text
    assert await mall_state(chat, leave_out=DRAFT) == before, "nothing is saved before Save"

    listed = await admin.press("💾 Save")
    assert "The sale of Canvas tote is scheduled" in listed.text
    assert "Running" in listed.text
    assert "Canvas tote: 250 points (regular 400 points) · 10/10 left" in listed.text
    (sale,) = await chat.mall.flash_sales.current_and_upcoming(chat.now)
    assert (sale.sale_price, sale.quantity, sale.mode) == (250, 10, "first_come")
    assert (sale.starts_at, sale.ends_at) == (chat.now, at("2026-03-05 22:00"))
    (entry,) = [e for e in await chat.mall.audit.latest(10) if e.action == "sale.create"]
    assert entry.target == f"sale:{sale.sale_id}"
    assert entry.after["sale_price"] == 250

    # A member sees the sale price on the item's card.
    ann = chat.member("Ann")
    await ann.start()
    view = await chat.mall.catalog.item_view(ann.id, sale.item_id, chat.now)
    assert view.points == 250


async def test_a_draw_is_listed_upcoming_then_ended(stocked: Chat) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await new_sale(admin)
    await admin.press("Canvas tote")
    await admin.send("300")
    await admin.send("2")
    await admin.send("2026-03-03 10:00")
    backwards = await admin.send("2026-03-03 09:00")
    assert "The end must be after the start" in backwards.text
    await admin.send("2026-03-03 12:00")
    summary = await admin.press("Entry draw")
    assert "Entry draw: members enter until the end" in summary.text
    listed = await admin.press("💾 Save")
    assert "Upcoming" in listed.text
    assert "not started" in listed.text
    (sale,) = await chat.mall.flash_sales.current_and_upcoming(chat.now)
    assert (sale.mode, sale.entry_ends_at) == ("draw", at("2026-03-03 12:00"))

    chat.now = at("2026-03-03 13:00")
    await admin.send("/admin")
    later = await admin.press("⚡ Flash sales")
    assert "awaiting the draw" in later.text


async def test_a_summary_left_until_the_sale_is_over_asks_for_its_dates_again(
    stocked: Chat,
) -> None:
    chat = stocked
    admin = await open_admin(chat)
    await new_sale(admin)
    await admin.press("Canvas tote")
    await admin.send("300")
    await admin.send("2")
    await admin.send("now")
    await admin.send("2026-03-02 09:30")
    await admin.press("First come")
    chat.now += timedelta(minutes=45)
    before = await mall_state(chat, leave_out=DRAFT)
    again = await admin.press("💾 Save")
    assert "end passed while it waited" in again.text
    assert "When does it start?" in again.text
    assert await mall_state(chat, leave_out=DRAFT) == before


async def test_the_summary_asks_an_answer_again_and_a_refused_save_keeps_the_draft(
    stocked: Chat,
) -> None:
    chat = stocked
    await stock(
        chat,
        CATALOG + '\n[[items]]\nsku = "pen"\ntitle = "Pen"\ncategory = "Goods"\n'
        'kind = "physical"\nprice = 100\n',
    )
    admin = await open_admin(chat)
    await new_sale(admin)
    await admin.press("Canvas tote")
    await admin.send("300")
    await admin.send("10")
    await admin.send("2026-03-03 10:00")
    await admin.send("2026-03-03 12:00")
    summary = await admin.press("First come")
    assert "✏️ Sale price" in admin.buttons(summary)

    await admin.press("✏️ Sale price", summary)
    summary = await admin.send("350")
    assert "Sale price: 350 points" in summary.text
    assert "Quantity: 10" in summary.text, "the other answers are kept"

    # Another item must still cost more than the sale price.
    await admin.press("✏️ Item", summary)
    cheap = await admin.press("Pen")
    assert "below the regular price, 100 points" in cheap.text
    summary = await admin.press("↩️ Keep as it was", cheap)
    assert "Item: Canvas tote" in summary.text

    # A start after the end kept is refused at the start.
    await admin.press("✏️ Starts", summary)
    late = await admin.send("2026-03-03 13:00")
    assert "The end must be after the start" in late.text
    summary = await admin.press("↩️ Keep as it was", late)

    # The tote gets a cash part meanwhile: the mall refuses the sale, the draft stays.
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    await chat.mall.catalog.edit_item(
        tote.item_id, {"cash_minor": 500}, chat.now, actor_id=admin.id
    )
    refused = await admin.press("💾 Save", summary)
    assert "That input isn't valid." in refused.text
    assert "Sale price: 350 points" in refused.text
    assert "✏️ Item" in admin.buttons(refused)
    assert await chat.mall.flash_sales.current_and_upcoming(chat.now) == ()

    await chat.mall.catalog.edit_item(tote.item_id, {"cash_minor": 0}, chat.now, actor_id=admin.id)
    listed = await admin.press("💾 Save", refused)
    assert "The sale of Canvas tote is scheduled" in listed.text
    (sale,) = await chat.mall.flash_sales.current_and_upcoming(chat.now)
    assert (sale.sale_price, sale.quantity) == (350, 10)


PRIZE_ONLY = """
[[items]]
sku = "mug"
title = "Golden mug"
category = "Goods"
kind = "physical"
price = 900
listed = false

[[items]]
sku = "lamp"
title = "Reading lamp with a brass arm and a linen shade, signed by the maker"
category = "Goods"
kind = "physical"
price = 800
"""


async def test_a_prize_only_item_is_not_offered_for_a_sale(stocked: Chat) -> None:
    chat = stocked
    await stock(chat, CATALOG + PRIZE_ONLY)
    admin = await open_admin(chat)
    await new_sale(admin)
    offered = admin.buttons()
    assert "Canvas tote" in offered
    assert not any("Golden mug" in label for label in offered), "a prize only is left out"
    assert "Reading lamp with a brass arm and a lin…" in offered, "a long title is cut with …"

    typed = await admin.send("mug")
    assert "Golden mug is a prize only (not on the shelf), so it cannot go on sale" in typed.text
    assert "Which item?" in typed.text, "asked again"
    await admin.press("Canvas tote")
    await admin.send("300")
    await admin.send("10")
    await admin.send("now")
    await admin.send("2026-03-03 12:00")
    summary = await admin.press("First come")

    # The tote is made a prize only meanwhile: the mall refuses the sale and says why.
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    await chat.mall.catalog.edit_item(tote.item_id, {"listed": False}, chat.now, actor_id=admin.id)
    refused = await admin.press("💾 Save", summary)
    assert "That item is a prize only (not on the shelf)" in refused.text
    assert "Sale price: 300 points" in refused.text, "the draft is kept"
    assert await chat.mall.flash_sales.current_and_upcoming(chat.now) == ()
