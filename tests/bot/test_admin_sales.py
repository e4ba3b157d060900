"""The admin schedules flash sales from the chat, and bad dates or prices change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.jobs import JobScreens
from bot.sandbox import ChatMessage
from core.operations.jobs import Jobs
from tests.bot.conftest import ChatFactory
from tests.conftest import at
from tests.support.admin import mall_state, open_admin, stock
from tests.support.background import running_background
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


# --- Editing and cancelling a sale ---------------------------------------------------------------


async def open_card(admin: Member, sale_id: int, title: str = "Canvas tote") -> ChatMessage:
    await admin.send("/admin")
    await admin.press("⚡ Flash sales")
    return await admin.press(f"#{sale_id} {title}")


async def test_the_admin_edits_an_upcoming_sale_and_members_told_of_it_hear_again(
    make_chat: ChatFactory,
) -> None:
    async with make_chat("[jobs]\nsale_notice_minutes = 120") as chat:
        await stock(chat, CATALOG)
        ann, li = chat.member("Ann"), chat.member("Li", language="zh-hans")
        await ann.start()
        await li.start()
        tote = await chat.mall.catalog.get_item_by_sku("tote")
        starts = chat.now + timedelta(hours=1)
        sale = await chat.mall.flash_sales.create_sale(
            tote.item_id, 300, 10, starts, starts + timedelta(hours=2), "first_come", now=chat.now
        )
        async with running_background(chat) as background:
            await background.jobs.sales(chat.now)  # "coming up" to Ann and Li
            await background.sender.wait_idle()
        assert "Coming up: Canvas tote" in ann.last.text
        admin = await open_admin(chat)

        card = await open_card(admin, sale.sale_id)
        assert "Canvas tote: 300 points (regular 400 points)" in card.text
        assert admin.buttons(card)[:2] == ["✏️ Edit", "🛑 Cancel the sale"]
        summary = await admin.press("✏️ Edit", card)
        assert f"Flash sale #{sale.sale_id}" in summary.text
        assert "Sale price: 300 points" in summary.text
        assert "✏️ Item" not in admin.buttons(summary), "the item stays"
        await admin.press("✏️ Sale price", summary)
        summary = await admin.send("250")
        await admin.press("✏️ Starts", summary)
        summary = await admin.send("2026-03-02 11:00")
        assert "Sale price: 250 points" in summary.text
        assert "Quantity: 10" in summary.text

        saved = await admin.press("💾 Save", summary)
        assert "The sale is changed. Members told: 2." in saved.text
        (view,) = await chat.mall.flash_sales.current_and_upcoming(chat.now)
        assert (view.sale_price, view.starts_at) == (250, at("2026-03-02 11:00"))
        (entry,) = [e for e in await chat.mall.audit.latest(10) if e.action == "sale.edit"]
        assert (entry.actor_id, entry.after["sale_price"]) == (admin.id, 250)

        async with running_background(chat) as background:
            await background.sender.wait_idle()
        assert "A flash sale has changed: Canvas tote" in ann.last.text
        assert "250 points instead of 400 points" in ann.last.text
        assert "First come, first served." in ann.last.text
        assert "限时活动有变动" in li.last.text
        assert "您" not in li.last.text

        # Saving the same terms again changes nothing and tells nobody.
        again = await admin.press("✏️ Edit", saved)
        unchanged = await admin.press("💾 Save", again)
        assert "Nothing changed" in unchanged.text


async def test_an_edit_is_refused_once_the_sale_has_started(stocked: Chat) -> None:
    chat = stocked
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    starts = chat.now + timedelta(minutes=30)  # within the draft's hour
    sale = await chat.mall.flash_sales.create_sale(
        tote.item_id, 300, 10, starts, starts + timedelta(hours=2), "first_come", now=chat.now
    )
    admin = await open_admin(chat)
    card = await open_card(admin, sale.sale_id)
    summary = await admin.press("✏️ Edit", card)
    await admin.press("✏️ Sale price", summary)
    summary = await admin.send("200")

    chat.now = starts + timedelta(minutes=1)
    before = await mall_state(chat, leave_out=DRAFT)
    refused = await admin.press("💾 Save", summary)
    assert "This sale has started: its terms can no longer change" in refused.text
    assert "✏️ Edit" not in admin.buttons(refused)
    assert "🛑 Cancel the sale" in admin.buttons(refused)
    assert await mall_state(chat, leave_out=DRAFT) == before
    assert (await chat.mall.flash_sales.get_sale(sale.sale_id, chat.now)).sale_price == 300

    # The card of a started sale offers no edit, and a forged press is answered the same.
    forged = await admin.press_data(f"ase:{sale.sale_id}")
    assert "its terms can no longer change" in forged.text


async def test_cancelling_a_draw_gives_entrants_their_points_back_once(stocked: Chat) -> None:
    chat = stocked
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    ann, bo = chat.member("Ann"), chat.member("Bo")
    await ann.start()
    await bo.start()
    sale = await chat.mall.flash_sales.create_sale(
        tote.item_id,
        60,
        2,
        chat.now,
        chat.now + timedelta(hours=2),
        "draw",
        chat.now + timedelta(hours=2),
        now=chat.now,
    )
    async with running_background(chat) as background:
        await background.jobs.sales(chat.now)  # announced to Ann and Bo
        await background.sender.wait_idle()
    chat.now += timedelta(minutes=5)
    await chat.mall.flash_sales.enter(sale.sale_id, ann.id, chat.now)
    assert (await chat.mall.statements.balance(ann.id)).held == 60
    admin = await open_admin(chat)

    card = await open_card(admin, sale.sale_id)
    assert "Entrants: 1" in card.text
    assert "✏️ Edit" not in admin.buttons(card), "it has started"
    confirm = await admin.press("🛑 Cancel the sale", card)
    assert "Cancel the sale of Canvas tote?" in confirm.text
    assert "Its entrants (1) get the 60 points held for their entry back" in confirm.text
    (yes,) = [b for row in confirm.buttons for b in row if b.text == "🛑 Yes, cancel it"]
    assert yes.callback_data is not None

    done = await admin.press("🛑 Yes, cancel it", confirm)
    assert "The sale is cancelled. Entries released: 1 (60 points back). Members told: 2." in (
        done.text
    )
    assert "🛑 Cancel the sale" not in admin.buttons(done)
    assert "Entrants: 0" in done.text, "a cancelled sale has nobody in its draw"
    # A double tap (the same button again) cancels nothing more.
    again = await admin.press_data(yes.callback_data, confirm)
    assert ("That confirmation is no longer open.", True) in admin.notices
    assert "Flash sales" in again.text
    cancels = [e for e in await chat.mall.audit.latest(20) if e.action == "sale.cancel"]
    assert len(cancels) == 1
    assert (await chat.mall.statements.balance(ann.id)).held == 0
    assert (await chat.mall.flash_sales.get_sale(sale.sale_id, chat.now)).phase == "cancelled"

    async with running_background(chat) as background:
        await background.sender.wait_idle()
    assert "The flash sale of Canvas tote is cancelled." in ann.last.text
    assert "The 60 points held for your entry are back in your balance." in ann.last.text
    assert "The flash sale of Canvas tote is cancelled." in bo.last.text
    assert "held for your entry" not in bo.last.text
    told = [m for m in ann.messages if "is cancelled" in m.text]
    assert len(told) == 1
    assert (await chat.mall.check()).ok


async def test_a_sale_cancelled_before_its_announcement_went_out_is_never_announced(
    stocked: Chat,
) -> None:
    chat = stocked
    tote = await chat.mall.catalog.get_item_by_sku("tote")
    ann, bo = chat.member("Ann"), chat.member("Bo")
    await ann.start()
    await bo.start()
    sale = await chat.mall.flash_sales.create_sale(
        tote.item_id,
        60,
        2,
        chat.now,
        chat.now + timedelta(hours=2),
        "draw",
        chat.now + timedelta(hours=2),
        now=chat.now,
    )
    # The job announces it to Ann and Bo; no sender runs yet.
    jobs = Jobs(chat.mall, JobScreens(chat.runtime.languages, chat.runtime.config))
    assert (await jobs.sales(chat.now)).messages == 2
    await chat.mall.flash_sales.enter(sale.sale_id, ann.id, chat.now)
    admin = await open_admin(chat)
    card = await open_card(admin, sale.sale_id)
    confirm = await admin.press("🛑 Cancel the sale", card)
    done = await admin.press("🛑 Yes, cancel it", confirm)
    assert "Entries released: 1 (60 points back). Members told: 1." in done.text

    async with running_background(chat) as background:
        await background.sender.wait_idle()
    # Ann entered: she hears that it is cancelled and her points are back, and nothing else.
    assert not [m for m in ann.messages if "Canvas tote" in m.text and "cancelled" not in m.text]
    assert "The 60 points held for your entry are back in your balance." in ann.last.text
    # Bo heard nothing of it, and is told nothing.
    assert not [m for m in bo.messages if "Canvas tote" in m.text]
    sale_screen = await ann.press_data(f"sale:{sale.sale_id}")
    assert "cancelled" in sale_screen.text.lower()
    assert "(0 so far)" in sale_screen.text, "nobody is in a cancelled sale's draw"
    assert (await chat.mall.check()).ok
