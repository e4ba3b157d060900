"""The Mall from the chat: shelves, pages, item cards, redeeming each kind of reward, stale buttons.

Each test plays a member through the sandbox and checks what they read and what the ledger did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.sandbox import PaymentRefused
from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import ChatFactory
from tests.conftest import at
from tests.support.chat import Chat, Member

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "catalog.toml"
RICH = "[members]\nsignup_bonus = 1000\n"

CATALOG = """
[[items]]
sku = "latte"
title = "Latte <large>"
description = "Any milk & any size."
category = "Drinks"
kind = "coupon"
price = 300
limit = { count = 1, per = "week" }
codes = ["LATTE-1", "LATTE-2", "LATTE-3"]

[[items]]
sku = "tea"
title = "Green tea"
category = "Drinks"
kind = "virtual"
price = 50
stock = 1

[[items]]
sku = "tote"
title = "Canvas tote"
category = "Goods"
kind = "physical"
price = 400
stock = 5

[[items]]
sku = "evening"
title = "Tasting evening"
category = "Goods"
kind = "service"
price = 600
approval_threshold = 500

[[items]]
sku = "beans"
title = "House beans"
category = "Goods"
kind = "virtual"
price = 200
cash = 2900

[[items]]
sku = "gold-night"
title = "Gold night"
category = "Perks"
kind = "service"
price = 100
min_tier = "Gold"

[[items]]
sku = "yacht"
title = "A yacht"
category = "Perks"
kind = "virtual"
price = 100000
"""


@pytest.fixture
async def mall_chat(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    """A mall whose members join with 1,000 points, stocked with CATALOG."""
    async with make_chat(RICH) as chat:
        await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
        yield chat


async def item_id(chat: Chat, sku: str) -> int:
    return (await chat.mall.catalog.get_item_by_sku(sku)).item_id


async def balance(chat: Chat, member: Member) -> tuple[int, int]:
    """(available, held) points."""
    found = await chat.mall.statements.balance(member.id)
    return found.balance, found.held


async def redemptions(chat: Chat, member: Member) -> list[tuple[str, str]]:
    page = await chat.mall.redemptions.list_for_member(member.id)
    return [(entry.sku, entry.status) for entry in page.entries]


async def open_item(member: Member, shelf: str, title: str) -> None:
    await member.send("/mall")
    await member.press(shelf)
    await member.press(title)


# --- Browsing --------------------------------------------------------------------------------


async def test_the_mall_lists_shelves_and_a_shelf_pages_its_items(make_chat: ChatFactory) -> None:
    snacks = "".join(
        f"[[items]]\nsku = 'snack-{n}'\ntitle = 'Snack {n}'\ncategory = 'Snacks'\n"
        f"kind = 'virtual'\nprice = {10 * n}\n"
        for n in range(1, 9)
    )
    async with make_chat(RICH) as chat:
        await load_catalog(chat.mall.db, chat.mall.config, CATALOG + snacks, chat.now)
        ann = chat.member("Ann")
        await ann.start()

        shelves = await ann.press("🛍 Mall")
        assert "PointsMall rewards" in shelves.text
        assert "Your balance: 1,000 points" in shelves.text
        assert "Pick a shelf:" in shelves.text
        assert ann.buttons(shelves)[:4] == ["Drinks (2)", "Goods (3)", "Perks (2)", "Snacks (8)"]

        first = await ann.press("Snacks (8)")
        assert "Snacks · page 1" in first.text
        assert "1. Snack 1" in first.text
        assert "   10 points" in first.text
        assert "6. Snack 6" in first.text
        assert "Snack 7" not in first.text
        assert "Next ▶️" in ann.buttons(first)
        assert "◀️ Previous" not in ann.buttons(first)

        second = await ann.press("Next ▶️")
        assert "Snacks · page 2" in second.text
        assert "7. Snack 7" in second.text
        assert "8. Snack 8" in second.text
        assert ann.buttons(second)[:2] == ["7. Snack 7", "8. Snack 8"]
        assert "Next ▶️" not in ann.buttons(second)

        back = await ann.press("◀️ Previous")
        assert "Snacks · page 1" in back.text


async def test_a_shelf_says_what_blocks_an_item(mall_chat: Chat) -> None:
    ann = mall_chat.member("Ann")
    await ann.start()
    await ann.send("/mall")

    perks = await ann.press("Perks (2)")

    assert "1. Gold night" in perks.text
    assert "🔒 Only for Gold members and above." in perks.text
    assert "2. A yacht" in perks.text
    assert "💸 You need 99,000 points more." in perks.text


async def test_the_item_card_shows_price_stock_limit_and_escapes_the_title(
    mall_chat: Chat,
) -> None:
    ann = mall_chat.member("Ann")
    await ann.start()
    await ann.send("/mall")
    await ann.press("Drinks (2)")

    card = await ann.press("1. Latte <large>")

    assert card.text.startswith("Latte <large>\nAny milk & any size.")
    assert "<b>Latte &lt;large&gt;</b>" in (card.html or "")
    assert "💰 Price: 300 points" in card.text
    assert "📦 3 left" in card.text
    assert "🔁 Limit: 1 a week per member (you've used 0)" in card.text
    assert "🎟 You get a coupon code right away." in card.text
    assert "✅ You can redeem this now." in card.text
    assert ann.buttons(card) == ["🎁 Redeem for 300 points", "⬅️ Back", "⬅️ Menu"]


async def test_the_card_of_a_tier_item_says_who_may_redeem_it(mall_chat: Chat) -> None:
    ann = mall_chat.member("Ann")
    await ann.start()

    await open_item(ann, "Perks (2)", "1. Gold night")

    assert "🏅 For Gold members and above" in ann.last.text
    assert "🔒 Only for Gold members and above." in ann.last.text
    assert not any(label.startswith("🎁 Redeem") for label in ann.buttons())


async def test_a_flash_sale_shows_its_price_and_time_left_and_sells_at_it(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    latte = await item_id(chat, "latte")
    await chat.mall.flash_sales.create_sale(
        latte,
        200,
        5,
        at("2026-03-02 08:00"),
        at("2026-03-02 11:15"),
        "first_come",
        now=chat.now,
    )
    ann = chat.member("Ann")
    await ann.start()

    await open_item(ann, "Drinks (2)", "1. Latte <large>")

    card = ann.last
    assert "💰 Price: 200 points (instead of 300 points)" in card.text
    assert "⚡ Flash sale: ends in 2 h 15 min (Mar 2 11:15)" in card.text
    assert "📦 3 left" in card.text  # the sale has 5, the coupon pool 3
    confirm = await ann.press("🎁 Redeem for 200 points (instead of 300 points)")
    assert "Balance: 1,000 points → 800 points" in confirm.text
    await ann.press("✅ Redeem")
    assert await balance(chat, ann) == (800, 0)


async def test_a_card_opened_before_its_sale_ended_says_the_sale_is_over(mall_chat: Chat) -> None:
    chat = mall_chat
    latte = await item_id(chat, "latte")
    await chat.mall.flash_sales.create_sale(
        latte, 200, 5, at("2026-03-02 08:00"), at("2026-03-02 10:00"), "first_come", now=chat.now
    )
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Drinks (2)", "1. Latte <large>")
    chat.now = at("2026-03-02 10:30")

    card = await ann.press("🎁 Redeem for 200 points (instead of 300 points)")

    assert ann.notices[-1] == (
        "The flash sale is over. Here is the item at its current price.",
        True,
    )
    assert "💰 Price: 300 points" in card.text
    assert "🎁 Redeem for 300 points" in ann.buttons(card)
    assert await balance(chat, ann) == (1000, 0)


@pytest.fixture
def cake(tmp_path: Path) -> tuple[Path, bytes]:
    """A small PNG on disk, and its bytes."""
    picture = tmp_path / "cake.png"
    Image.new("RGB", (64, 40), (200, 120, 60)).save(picture)
    return picture, picture.read_bytes()


async def test_an_item_with_a_picture_is_shown_as_a_photo(
    make_chat: ChatFactory, cake: tuple[Path, bytes]
) -> None:
    picture, content = cake
    catalog = (
        "[[items]]\nsku = 'cake'\ntitle = 'Cake'\ncategory = 'Sweets'\nkind = 'virtual'\n"
        f"price = 10\nphoto = '{picture}'\n"
    )
    async with make_chat() as chat:
        await load_catalog(chat.mall.db, chat.mall.config, catalog, chat.now)
        ann = chat.member("Ann")
        await ann.start()

        await open_item(ann, "Sweets (1)", "1. Cake")
        card = ann.last
        assert card.photo == content
        assert "💰 Price: 10 points" in card.text

        # Back to the shelf from a photo: the list comes as a new message.
        shelf = await ann.press("⬅️ Back")
        assert shelf.photo is None
        assert "Sweets · page 1" in shelf.text


async def test_the_demo_catalog_shows_its_pictures(chat: Chat) -> None:
    await load_catalog(chat.mall.db, chat.mall.config, EXAMPLE, chat.now)
    ann = chat.member("Ann")
    await ann.start()

    await open_item(ann, "Drinks (3)", "1. A latte on us")

    assert ann.last.photo is not None
    assert ann.last.photo.startswith(b"\x89PNG")
    assert "💰 Price: 300 points" in ann.last.text


# --- Redeeming -------------------------------------------------------------------------------


async def test_redeeming_a_coupon_shows_the_code_and_takes_points_and_a_code(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Drinks (2)", "1. Latte <large>")

    confirm = await ann.press("🎁 Redeem for 300 points")
    assert "Redeem Latte <large>?" in confirm.text
    assert "Price: 300 points" in confirm.text
    assert "Balance: 1,000 points → 700 points" in confirm.text
    assert ann.buttons(confirm) == ["✅ Redeem", "✖️ Not now", "⬅️ Menu"]

    done = await ann.press("✅ Redeem")

    assert "🎉 Redeemed Latte <large> for 300 points." in done.text
    assert "🎟 Your code: LATTE-1" in done.text
    assert "Your balance: 700 points" in done.text
    assert ann.notices[-1] == ("🎉 Redeemed!", False)
    assert await balance(chat, ann) == (700, 0)
    latte = await chat.mall.catalog.get_item_by_sku("latte")
    assert latte.free_codes == 2
    assert await redemptions(chat, ann) == [("latte", "completed")]


async def test_a_double_tapped_redeem_redeems_once(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Drinks (2)", "1. Latte <large>")
    confirm = await ann.press("🎁 Redeem for 300 points")

    first = ann.user.press("✅ Redeem", confirm)
    await ann.press("✅ Redeem", confirm)
    await chat.bot.handled.wait(first)

    assert await redemptions(chat, ann) == [("latte", "completed")]
    assert await balance(chat, ann) == (700, 0)
    assert ("Already redeemed: this was done once and charged once.", True) in ann.notices
    assert "🎟 Your code: LATTE-1" in ann.last.text


async def test_not_enough_points_at_the_confirmation_is_refused_and_nothing_changes(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Goods (3)", "2. Tasting evening")
    first = await ann.press("🎁 Redeem for 600 points")
    # A second confirmation, redeemed: 600 of her 1,000 points are held for the admin.
    await open_item(ann, "Goods (3)", "2. Tasting evening")
    await ann.press("🎁 Redeem for 600 points")
    await ann.press("✅ Redeem")
    assert await balance(chat, ann) == (400, 600)

    card = await ann.press("✅ Redeem", first)

    assert ann.notices[-1] == ("Not enough points: this needs 600, you have 400.", True)
    assert "💸 You need 200 points more." in card.text
    assert await balance(chat, ann) == (400, 600)
    assert await redemptions(chat, ann) == [("evening", "awaiting_approval")]


async def test_an_item_bought_out_under_an_open_confirmation_is_refused(mall_chat: Chat) -> None:
    chat = mall_chat
    ann, bob = chat.member("Ann"), chat.member("Bob")
    await ann.start()
    await bob.start()
    await open_item(ann, "Drinks (2)", "2. Green tea")
    confirm = await ann.press("🎁 Redeem for 50 points")
    await open_item(bob, "Drinks (2)", "2. Green tea")
    await bob.press("🎁 Redeem for 50 points")
    await bob.press("✅ Redeem")

    card = await ann.press("✅ Redeem", confirm)

    assert ann.notices[-1] == ("Sorry, that's sold out.", True)
    assert card.text.startswith("Sorry, that's sold out.")
    assert "😔 Sold out." in card.text
    assert not any(label.startswith("🎁 Redeem") for label in ann.buttons(card))
    assert await balance(chat, ann) == (1000, 0)
    assert await redemptions(chat, ann) == []


async def test_a_limit_reached_since_the_card_was_shown_is_refused(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Drinks (2)", "1. Latte <large>")
    old_card = ann.last
    await open_item(ann, "Drinks (2)", "1. Latte <large>")
    await ann.press("🎁 Redeem for 300 points")
    await ann.press("✅ Redeem")

    again = await ann.press("🎁 Redeem for 300 points", old_card)

    assert ann.notices[-1] == ("🚫 You've reached the limit for this item.", True)
    assert "🔁 Limit: 1 a week per member (you've used 1)" in again.text
    assert await balance(chat, ann) == (700, 0)
    assert await redemptions(chat, ann) == [("latte", "completed")]


async def test_a_tier_requirement_added_since_the_card_was_shown_is_refused(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Drinks (2)", "2. Green tea")
    chat.now += timedelta(minutes=1)
    gated = CATALOG.replace("price = 50\nstock = 1\n", 'price = 50\nstock = 1\nmin_tier = "Gold"\n')
    await load_catalog(chat.mall.db, chat.mall.config, gated, chat.now)

    card = await ann.press("🎁 Redeem for 50 points")

    assert ann.notices[-1] == ("🔒 Only for Gold members and above.", True)
    assert "🏅 For Gold members and above" in card.text
    assert await balance(chat, ann) == (1000, 0)


async def test_an_item_taken_off_the_shelf_while_its_card_is_open(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Drinks (2)", "2. Green tea")
    confirm = await ann.press("🎁 Redeem for 50 points")
    await open_item(ann, "Drinks (2)", "2. Green tea")
    card = ann.last
    chat.now += timedelta(minutes=1)
    await chat.mall.catalog.deactivate(await item_id(chat, "tea"), chat.now)

    stale = await ann.press("✅ Redeem", confirm)
    assert ann.notices[-1] == (
        "The price or terms changed since you opened this. Here is the item as it is now.",
        True,
    )
    assert "⛔ Not available right now." in stale.text

    await ann.press("🎁 Redeem for 50 points", card)
    assert ann.notices[-1] == ("⛔ Not available right now.", True)
    assert "⛔ Not available right now." in card.text
    assert await balance(chat, ann) == (1000, 0)
    assert await redemptions(chat, ann) == []


async def test_an_emptied_shelf_and_an_unknown_button_get_clear_answers(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    shelves = await ann.send("/mall")
    for sku in ("gold-night", "yacht"):
        await chat.mall.catalog.deactivate(await item_id(chat, sku), chat.now)

    reply = await ann.press("Perks (2)", shelves)

    assert ann.notices[-1] == (
        "Nothing is left on that shelf right now. Here are the shelves as they are now.",
        True,
    )
    assert ann.buttons(reply)[:2] == ["Drinks (2)", "Goods (3)"]


# --- Physical goods: the address ------------------------------------------------------------


async def test_a_physical_item_asks_for_the_address_and_stores_it(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Goods (3)", "1. Canvas tote")
    confirm = await ann.press("🎁 Redeem for 400 points")
    assert "📦 Next, you'll type the delivery address." in confirm.text

    question = await ann.press("✅ Redeem")
    assert question.text.startswith("📦 Where should we send Canvas tote?")
    assert "within 15 min" in question.text
    assert ann.buttons(question) == ["✖️ Cancel"]
    assert await balance(chat, ann) == (1000, 0)  # nothing taken before the address

    empty = await ann.send("   ")
    assert empty.text == "The address is empty. Please type the delivery address."

    done = await ann.send("1 Tea Street, Springfield <back door>")

    assert "🎉 Redeemed Canvas tote for 400 points." in done.text
    assert "📦 We'll send it to: 1 Tea Street, Springfield <back door>" in done.text
    assert await balance(chat, ann) == (600, 0)
    entry = (await chat.mall.redemptions.list_for_member(ann.id)).entries[0]
    assert (entry.status, entry.address) == ("completed", "1 Tea Street, Springfield <back door>")
    assert (await chat.mall.catalog.get_item_by_sku("tote")).stock == 4
    # The question's Cancel, pressed after the answer, has nothing left to cancel.
    await ann.press("✖️ Cancel", question)
    assert ann.notices[-1] == (
        "There is nothing to cancel: that question was already answered or has timed out.",
        True,
    )
    assert await redemptions(chat, ann) == [("tote", "completed")]

    changing = await ann.press("✏️ Change address")
    assert changing.text.startswith(
        f"📦 Type the new delivery address for redemption #{entry.redemption_id}."
    )
    updated = await ann.send("2 Coffee Road")
    assert (
        f"📦 Address for redemption #{entry.redemption_id} updated: 2 Coffee Road" in updated.text
    )
    assert (await chat.mall.redemptions.get(entry.redemption_id)).address == "2 Coffee Road"


async def test_cancelling_the_address_question_redeems_nothing(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Goods (3)", "1. Canvas tote")
    await ann.press("🎁 Redeem for 400 points")
    question = await ann.press("✅ Redeem")

    card = await ann.press("✖️ Cancel", question)

    assert ann.notices[-1] == ("Cancelled: nothing was redeemed.", False)
    assert card.text.startswith("Cancelled: nothing was redeemed.")
    assert await balance(chat, ann) == (1000, 0)
    assert await redemptions(chat, ann) == []
    # The question is gone: an address typed now is not taken as one.
    await ann.send("1 Tea Street")
    assert await redemptions(chat, ann) == []


# --- Waiting for an admin --------------------------------------------------------------------


async def test_an_approval_item_holds_the_points_and_cancel_gives_them_back(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Goods (3)", "2. Tasting evening")
    confirm = await ann.press("🎁 Redeem for 600 points")
    assert "👀 An admin approves this redemption." in confirm.text
    assert "(at most 3 days)" in confirm.text

    waiting = await ann.press("✅ Redeem")

    assert "⏳ Tasting evening is awaiting an admin's approval." in waiting.text
    assert (
        "600 points are held until then. If it isn't approved by Mar 5 09:00, "
        "they come back to you." in waiting.text
    )
    assert "Your balance: 400 points" in waiting.text
    assert await balance(chat, ann) == (400, 600)
    assert await redemptions(chat, ann) == [("evening", "awaiting_approval")]

    first = ann.user.press("✖️ Cancel the redemption", waiting)
    cancelled = await ann.press("✖️ Cancel the redemption", waiting)
    await chat.bot.handled.wait(first)

    assert "The redemption of Tasting evening is cancelled. 600 points are back" in cancelled.text
    assert await balance(chat, ann) == (1000, 0)
    assert await redemptions(chat, ann) == [("evening", "cancelled")]


async def test_cancelling_after_the_admin_approved_says_it_is_too_late(mall_chat: Chat) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_item(ann, "Goods (3)", "2. Tasting evening")
    await ann.press("🎁 Redeem for 600 points")
    waiting = await ann.press("✅ Redeem")
    entry = (await chat.mall.redemptions.list_for_member(ann.id)).entries[0]
    await chat.mall.redemptions.approve(entry.redemption_id, chat.now)

    reply = await ann.press("✖️ Cancel the redemption", waiting)

    assert ann.notices[-1] == (
        "This redemption can no longer be cancelled. Here is where it stands.",
        True,
    )
    assert "🎉 Redeemed Tasting evening for 600 points." in reply.text
    assert await balance(chat, ann) == (400, 0)


# --- Points + cash: Telegram Stars -----------------------------------------------------------


async def open_beans_invoice(chat: Chat, ann: Member) -> None:
    await open_item(ann, "Goods (3)", "3. House beans")
    assert "💰 Price: 200 points + CN¥29.00 (paid as 290 ⭐)" in ann.last.text
    confirm = await ann.press("🎁 Redeem for 200 points + CN¥29.00 (paid as 290 ⭐)")
    assert "⭐ Then you pay 290 Telegram Stars within 30 min." in confirm.text
    await ann.press("✅ Redeem")


async def test_points_and_cash_send_a_stars_invoice_and_the_payment_completes_it(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_beans_invoice(chat, ann)

    entry = (await chat.mall.redemptions.list_for_member(ann.id)).entries[0]
    invoice = ann.last.invoice
    assert invoice is not None
    assert (invoice["currency"], invoice["total_amount"]) == ("XTR", 290)
    assert invoice["payload"] == f"pay:{entry.redemption_id}"
    note = ann.messages[-2]
    assert "⭐ Almost done: pay 290 Stars for House beans" in note.text
    assert "within 30 min (by Mar 2 09:30)" in note.text
    assert "200 points are held until you pay" in note.text
    assert await balance(chat, ann) == (800, 200)

    done = await ann.pay()

    assert "✅ Payment received: 290 ⭐" in done.text
    assert "🎉 Redeemed House beans for 200 points." in done.text
    assert await balance(chat, ann) == (800, 0)
    paid = await chat.mall.redemptions.get(entry.redemption_id)
    assert paid.status == "completed"
    assert paid.payment_charge_id is not None


async def test_a_cancelled_redemption_refuses_its_payment_and_charges_nothing(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_beans_invoice(chat, ann)
    await ann.press("✖️ Cancel the redemption")
    assert await balance(chat, ann) == (1000, 0)

    with pytest.raises(PaymentRefused) as refused:
        await ann.pay()

    assert refused.value.error_message == (
        "This redemption was cancelled, so there is nothing to pay. Nothing was charged."
    )
    assert not any(message.payment for message in ann.user.messages)
    assert await balance(chat, ann) == (1000, 0)
    assert await redemptions(chat, ann) == [("beans", "cancelled")]


async def test_a_payment_after_the_time_to_pay_is_refused_and_the_points_come_back(
    mall_chat: Chat,
) -> None:
    chat = mall_chat
    ann = chat.member("Ann")
    await ann.start()
    await open_beans_invoice(chat, ann)
    chat.now += timedelta(minutes=31)

    with pytest.raises(PaymentRefused) as refused:
        await ann.pay()

    assert refused.value.error_message == (
        "The time to pay has run out and your points are back. Nothing was charged."
    )
    assert await balance(chat, ann) == (1000, 0)
    assert await redemptions(chat, ann) == [("beans", "cancelled")]


# --- What can I get? and Chinese -------------------------------------------------------------


async def test_what_can_i_get_lists_what_the_balance_allows_now(mall_chat: Chat) -> None:
    ann = mall_chat.member("Ann")
    await ann.start()
    await ann.send("/balance")

    reply = await ann.press("🛍 What can I get?")

    assert "🎯 What you can get now with 1,000 points · page 1" in reply.text
    assert "Latte <large>" in reply.text
    assert "Canvas tote" in reply.text
    assert "A yacht" not in reply.text
    assert "Gold night" not in reply.text
    card = await ann.press("1. Latte <large>")
    assert "💰 Price: 300 points" in card.text
    back = await ann.press("⬅️ Back")
    assert "🎯 What you can get now" in back.text


async def test_what_can_i_get_with_nothing_affordable(make_chat: ChatFactory) -> None:
    async with make_chat() as chat:
        await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
        ann = chat.member("Ann")
        await ann.start()
        await chat.mall.members.freeze(ann.id, "review")
        await ann.send("/balance")

        reply = await ann.press("🛍 What can I get?")

    assert "Nothing fits your balance of 100 points yet." in reply.text


async def test_the_mall_in_chinese(mall_chat: Chat) -> None:
    """A catalog without Chinese texts reads its own texts in a Chinese interface."""
    chat = mall_chat
    li = chat.member("李雷", language="zh-hans")
    await li.start()

    shelves = await li.press("🛍 商城")
    assert "🛍 PointsMall 积分商城" in shelves.text
    assert "你的余额：1,000 积分" in shelves.text
    assert "请选择货架：" in shelves.text

    shelf = await li.press("Drinks (2)")
    assert "Drinks · 第 1 页" in shelf.text
    card = await li.press("1. Latte <large>")
    assert "💰 价格：300 积分" in card.text
    assert "🔁 限兑：每人每周 1 次（你已兑换 0 次）" in card.text
    confirm = await li.press("🎁 用 300 积分兑换")
    assert "确认兑换 Latte <large>？" in confirm.text
    assert "余额：1,000 积分 → 700 积分" in confirm.text

    done = await li.press("✅ 确认兑换")

    assert "🎉 已用 300 积分兑换 Latte <large>。" in done.text
    assert "🎟 你的券码：LATTE-1" in done.text
    assert await balance(chat, li) == (700, 0)


BILINGUAL = """
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
kind = "coupon"
price = 300
codes = ["LATTE-1", "LATTE-2"]

[[items]]
sku = "scone"
title = "Scone"
description = "Baked this morning."
category = "Drinks"
kind = "virtual"
price = 50
"""


async def test_members_read_the_catalog_in_their_language(make_chat: ChatFactory) -> None:
    async with make_chat(RICH) as chat:
        await load_catalog(chat.mall.db, chat.mall.config, BILINGUAL, chat.now)
        li = chat.member("李雷", language="zh-hans")
        ann = chat.member("Ann")
        await li.start()
        await ann.start()

        shelves = await li.press("🛍 商城")
        assert li.buttons(shelves)[0] == "饮品 (2)"
        shelf = await li.press("饮品 (2)")
        assert "饮品 · 第 1 页" in shelf.text
        assert "1. 拿铁" in shelf.text
        assert "2. Scone" in shelf.text  # no Chinese title: its own
        assert li.buttons(shelf)[:2] == ["1. 拿铁", "2. Scone"]
        card = await li.press("1. 拿铁")
        assert card.text.startswith("拿铁\n任选奶品。")
        confirm = await li.press("🎁 用 300 积分兑换")
        assert "确认兑换 拿铁？" in confirm.text
        done = await li.press("✅ 确认兑换")
        assert "🎉 已用 300 积分兑换 拿铁。" in done.text
        mine = await li.send("/redemptions")
        assert "拿铁" in mine.text
        assert "Latte" not in mine.text
        await open_item(li, "饮品 (2)", "2. Scone")
        assert li.last.text.startswith("Scone\nBaked this morning.")  # fallback to the default

        shelves = await ann.press("🛍 Mall")
        assert ann.buttons(shelves)[0] == "Drinks (2)"
        shelf = await ann.press("Drinks (2)")
        assert "1. Latte" in shelf.text
        card = await ann.press("1. Latte")
        assert card.text.startswith("Latte\nAny milk.")
        await ann.press("🎁 Redeem for 300 points")
        done = await ann.press("✅ Redeem")
        assert "🎉 Redeemed Latte for 300 points." in done.text
        mine = await ann.send("/redemptions")
        assert "Latte" in mine.text
        assert "拿铁" not in mine.text


async def test_the_demo_catalog_in_chinese(chat: Chat) -> None:
    await load_catalog(chat.mall.db, chat.mall.config, EXAMPLE, chat.now)
    li = chat.member("李雷", language="zh-hans")
    await li.start()

    shelves = await li.press("🛍 商城")

    assert li.buttons(shelves)[:4] == ["图书 (3)", "饮品 (3)", "体验 (2)", "会员专享 (2)"]
    shelf = await li.press("饮品 (3)")
    assert "1. 请你喝一杯拿铁" in shelf.text
    assert "A latte on us" not in shelf.text


async def test_forged_or_outdated_button_data_gets_a_clear_answer(mall_chat: Chat) -> None:
    chat = mall_chat
    ann, bob = chat.member("Ann"), chat.member("Bob")
    await ann.start()
    await bob.start()
    stale = "This button is out of date. Open the menu to see what is there now."

    for data in ("rd:garbage", "si:0", "so:abc:0:m", "sc", "si:1:zz.9", "rx:x", "sx:q1"):
        await ann.press_data(data)
        assert ann.notices[-1] == (stale, True), data

    await ann.press_data("si:999999")
    assert ann.notices[-1] == ("That item is no longer in the mall.", True)

    # Bob's waiting redemption is not Ann's to cancel.
    await open_item(bob, "Goods (3)", "2. Tasting evening")
    await bob.press("🎁 Redeem for 600 points")
    await bob.press("✅ Redeem")
    entry = (await chat.mall.redemptions.list_for_member(bob.id)).entries[0]
    await ann.press_data(f"rx:{entry.redemption_id}")
    assert ann.notices[-1] == (stale, True)
    assert await redemptions(chat, bob) == [("evening", "awaiting_approval")]
    assert await balance(chat, bob) == (400, 600)
