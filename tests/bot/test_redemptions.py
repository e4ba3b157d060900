"""My redemptions from the chat: states, details, cancelling one that waits, and donating."""

from __future__ import annotations

from datetime import timedelta

from bot.sandbox import ChatMessage
from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import ChatFactory
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "latte"
title = "A latte on us"
category = "Drinks"
kind = "coupon"
price = 30
codes = ["LATTE-01", "LATTE-02", "LATTE-03"]

[[items]]
sku = "upgrade"
title = "<i>Size</i> upgrade & more"
category = "Drinks"
kind = "virtual"
price = 5

[[items]]
sku = "signed-book"
title = "Signed first edition"
category = "Books"
kind = "service"
price = 60
approval_threshold = 50

[[items]]
sku = "tote"
title = "Canvas tote"
category = "Books"
kind = "physical"
price = 20
"""


async def arrange(chat: Chat, name: str = "Ann", language: str = "en") -> Member:
    await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
    member = chat.member(name, language=language)
    await member.start()
    return member


async def redeem(chat: Chat, member: Member, sku: str, address: str | None = None) -> int:
    item = await chat.mall.catalog.get_item_by_sku(sku)
    offer = await chat.mall.redemptions.offer(member.id, item.item_id, chat.now)
    result = await chat.mall.redemptions.redeem(member.id, offer.token, chat.now, address=address)
    return result.redemption.redemption_id


def callback_data(message: ChatMessage, text: str) -> str:
    button = message.button(text)
    assert button is not None
    assert button.callback_data is not None
    return button.callback_data


async def balance(chat: Chat, member: Member) -> int:
    return (await chat.mall.statements.balance(member.id)).balance


async def test_each_redemption_is_listed_with_its_state_price_and_date(chat: Chat) -> None:
    ann = await arrange(chat)
    latte = await redeem(chat, ann, "latte")
    book = await redeem(chat, ann, "signed-book")

    reply = await ann.press("📦 My redemptions")

    assert "My redemptions (page 1)" in reply.text
    assert f"#{latte} A latte on us\n    ✅ completed · 30 points · Mar 2" in reply.text
    waiting = f"#{book} Signed first edition\n    ⏳ awaiting approval · 60 points · Mar 2"
    assert waiting in reply.text
    assert reply.text.index(f"#{book}") < reply.text.index(f"#{latte}")  # newest first
    assert ann.buttons(reply) == [
        f"#{book} Signed first edition",
        f"#{latte} A latte on us",
        "💚 Donate to Plant a tree",
        "⬅️ Menu",
    ]


async def test_nothing_redeemed_yet(chat: Chat) -> None:
    ann = await arrange(chat)

    reply = await ann.send("/redemptions")

    assert "You haven't redeemed anything yet." in reply.text


async def test_a_completed_coupon_shows_its_code(chat: Chat) -> None:
    ann = await arrange(chat)
    latte = await redeem(chat, ann, "latte")
    code = (await chat.mall.redemptions.get(latte)).coupon_code
    await ann.send("/redemptions")

    reply = await ann.press(f"#{latte} A latte on us")

    assert f"📦 A latte on us (#{latte})" in reply.text
    assert "State: ✅ completed" in reply.text
    assert "Price: 30 points" in reply.text
    assert "Redeemed: Mar 2 09:00" in reply.text
    assert code is not None
    assert f"Your code: {code}" in reply.text
    assert f"<code>{code}</code>" in (reply.html or "")
    assert ann.buttons(reply) == ["⬅️ My redemptions", "⬅️ Menu"]


async def test_the_address_and_title_are_shown_as_written(chat: Chat) -> None:
    ann = await arrange(chat)
    tote = await redeem(chat, ann, "tote", address="1 <b>Main</b> St & Sons")
    upgrade = await redeem(chat, ann, "upgrade")
    listing = await ann.send("/redemptions")
    assert f"#{upgrade} <i>Size</i> upgrade & more" in listing.text
    assert "&lt;i&gt;Size&lt;/i&gt; upgrade &amp; more" in (listing.html or "")

    reply = await ann.press(f"#{tote} Canvas tote")

    assert "Delivery address: 1 <b>Main</b> St & Sons" in reply.text
    assert "1 &lt;b&gt;Main&lt;/b&gt; St &amp; Sons" in (reply.html or "")


async def test_a_waiting_redemption_says_how_long_and_can_be_cancelled_once(chat: Chat) -> None:
    ann = await arrange(chat)
    book = await redeem(chat, ann, "signed-book")
    assert await balance(chat, ann) == 40
    await ann.send("/redemptions")
    detail = await ann.press(f"#{book} Signed first edition")
    assert "State: ⏳ awaiting approval" in detail.text
    assert "An admin will answer by Mar 5 09:00 (3 days left)" in detail.text

    ask = await ann.press("✖️ Cancel this redemption")
    assert "Cancel your redemption of Signed first edition?" in ask.text
    assert "The 60 points held for it go back to your balance." in ask.text
    first = ann.user.press("Yes, cancel it", ask)
    done = (await ann.press("Yes, cancel it", ask)).text
    await chat.bot.handled.wait(first)

    assert "↩️ Cancelled. Your balance: 100 points." in done
    assert "State: ↩️ cancelled" in done
    assert ann.notices[-1] == ("Redemption cancelled", False)
    assert await balance(chat, ann) == 100
    assert (await chat.mall.redemptions.get(book)).status == "cancelled"
    assert (await chat.mall.check()).ok


async def test_cancelling_after_the_admin_approved_shows_where_it_stands(chat: Chat) -> None:
    ann = await arrange(chat)
    book = await redeem(chat, ann, "signed-book")
    await ann.send("/redemptions")
    await ann.press(f"#{book} Signed first edition")
    ask = await ann.press("✖️ Cancel this redemption")
    await chat.mall.redemptions.approve(book, chat.now)

    reply = await ann.press("Yes, cancel it", ask)

    assert ann.notices[-1] == (
        "This redemption can't be cancelled any more; here is where it stands now.",
        True,
    )
    assert "State: ✅ completed" in reply.text
    assert "✖️ Cancel this redemption" not in ann.buttons(reply)
    assert await balance(chat, ann) == 40


async def test_someone_elses_redemption_cannot_be_opened_or_cancelled(chat: Chat) -> None:
    ann = await arrange(chat)
    book = await redeem(chat, ann, "signed-book")
    await ann.send("/redemptions")
    await ann.press(f"#{book} Signed first edition")
    ask = await ann.press("✖️ Cancel this redemption")
    bob = chat.member("Bob")
    await bob.start()
    stale = "This button is out of date. Open the menu to see what is there now."

    # Bob's client sends the very callback data of Ann's buttons.
    await bob.press_data(callback_data(ask, "Yes, cancel it"))
    assert bob.notices[-1] == (stale, True)
    await bob.press_data(callback_data(ask, "No, keep it"))
    assert bob.notices[-1] == (stale, True)
    assert (await chat.mall.redemptions.get(book)).status == "awaiting_approval"


async def test_malformed_buttons_get_a_clear_answer(chat: Chat) -> None:
    ann = await arrange(chat)
    stale = ("This button is out of date. Open the menu to see what is there now.", True)

    malformed = (
        "myr:x",
        "myr",
        "myrc:1",
        "reds:-1",
        "reds:99999999999",
        "dona:x",
        "donc:10",
        "donc:10:1:short",
        "donc:10:9999999999999999999:abcdefghijk",
    )
    for data in malformed:
        await ann.press_data(data)
        assert ann.notices[-1] == stale, data

    assert await balance(chat, ann) == 100


async def test_a_long_list_pages(chat: Chat) -> None:
    ann = await arrange(chat)
    ids = [await redeem(chat, ann, "upgrade") for _ in range(10)]

    first = await ann.send("/redemptions")

    assert f"#{ids[-1]} " in first.text
    assert f"#{ids[2]} " in first.text
    assert f"#{ids[1]} " not in first.text
    assert ann.buttons(first)[-3:] == ["Next ▶️", "💚 Donate to Plant a tree", "⬅️ Menu"]
    second = await ann.press("Next ▶️")
    assert "My redemptions (page 2)" in second.text
    assert f"#{ids[1]} " in second.text
    assert f"#{ids[0]} " in second.text
    detail = await ann.press(f"#{ids[0]} <i>Size</i> upgrade & more")
    assert "State: ✅ completed" in detail.text
    back = await ann.press("⬅️ My redemptions")
    assert "My redemptions (page 2)" in back.text


async def test_my_redemptions_in_chinese(chat: Chat) -> None:
    li = await arrange(chat, "李雷", "zh-hans")
    book = await redeem(chat, li, "signed-book")

    listing = (await li.press("📦 我的兑换")).text
    detail = (await li.press(f"#{book} Signed first edition")).text

    assert "⏳ 等待审核 · 60 积分 · 3月2日" in listing
    assert "状态：⏳ 等待审核" in detail
    assert "管理员将在 3月5日 09:00 前审核（还剩 3天）" in detail


# --- A physical reward: being prepared, shipped, delivered --------------------------------------


async def test_a_physical_reward_reads_prepared_then_shipped_then_delivered_once_confirmed(
    chat: Chat,
) -> None:
    ann = await arrange(chat)
    tote = await redeem(chat, ann, "tote", address="1 Main St")

    listing = await ann.send("/redemptions")
    assert (
        f"#{tote} Canvas tote\n    📦 approved, being prepared · 20 points · Mar 2" in listing.text
    )
    detail = await ann.press(f"#{tote} Canvas tote")
    assert "State: 📦 approved, being prepared" in detail.text
    assert ann.buttons(detail) == ["⬅️ My redemptions", "⬅️ Menu"]

    chat.now += timedelta(days=1)
    await chat.mall.redemptions.fulfil(tote, "SF Express SF1", chat.now)
    listing = await ann.send("/redemptions")
    assert f"#{tote} Canvas tote\n    🚚 shipped · 20 points · Mar 2" in listing.text
    detail = await ann.press(f"#{tote} Canvas tote")
    assert "State: 🚚 shipped" in detail.text
    assert "Shipped: Mar 3 09:00" in detail.text
    assert "Note from the mall: SF Express SF1" in detail.text
    assert "otherwise it counts as delivered on Mar 17." in detail.text
    assert ann.buttons(detail) == ["📬 I got it", "⬅️ My redemptions", "⬅️ Menu"]

    # Confirmed with a double tap: one edit, and the second press only says so.
    chat.now += timedelta(hours=2)
    before = len(chat.sandbox.requests)
    first = ann.user.press("📬 I got it", detail)
    done = await ann.press("📬 I got it", detail)
    await chat.bot.handled.wait(first)

    edits = [m for m, _ in chat.sandbox.requests[before:] if m.startswith("editMessage")]
    assert edits == ["editMessageText"]
    assert ann.notices[-2:] == [
        ("Thanks for confirming!", False),
        ("You have already confirmed receiving it.", False),
    ]
    assert done.text.startswith("📬 Glad it arrived. Enjoy!")
    assert "State: 📬 delivered" in done.text
    assert "You confirmed receiving it: Mar 3 11:00" in done.text
    assert ann.buttons(done) == ["⬅️ My redemptions", "⬅️ Menu"]
    view = await chat.mall.redemptions.get(tote)
    assert (view.status, view.received_at) == ("fulfilled", chat.now)
    listing = await ann.send("/redemptions")
    assert f"#{tote} Canvas tote\n    📬 delivered · 20 points · Mar 2" in listing.text


async def test_a_shipped_reward_counts_as_delivered_after_the_configured_days(
    make_chat: ChatFactory,
) -> None:
    async with make_chat("[redemptions]\ndelivered_after_days = 3\n") as chat:
        ann = await arrange(chat)
        tote = await redeem(chat, ann, "tote", address="1 Main St")
        await chat.mall.redemptions.fulfil(tote, "Posted", chat.now)

        chat.now += timedelta(days=3) - timedelta(minutes=1)
        await ann.send("/redemptions")
        detail = await ann.press(f"#{tote} Canvas tote")
        assert "State: 🚚 shipped" in detail.text
        assert "otherwise it counts as delivered on Mar 5." in detail.text

        chat.now += timedelta(minutes=1)
        await ann.send("/redemptions")
        detail = await ann.press(f"#{tote} Canvas tote")

        assert "State: 📬 delivered" in detail.text
        assert "Counted as delivered since Mar 5." in detail.text
        assert ann.buttons(detail) == ["⬅️ My redemptions", "⬅️ Menu"]
        assert (await chat.mall.redemptions.get(tote)).received_at is None


async def test_only_a_shipped_reward_of_ones_own_can_be_confirmed(chat: Chat) -> None:
    ann = await arrange(chat)
    tote = await redeem(chat, ann, "tote", address="1 Main St")
    latte = await redeem(chat, ann, "latte")
    await ann.send("/redemptions")

    for number in (tote, latte):
        reply = await ann.press_data(f"myrg:{number}:0")
        assert ann.notices[-1] == (
            "This redemption hasn't been shipped, so there is nothing to confirm;"
            " here is where it stands now.",
            True,
        )
        assert "📬 I got it" not in ann.buttons(reply)
    await chat.mall.redemptions.fulfil(tote, "Posted", chat.now)
    bob = chat.member("Bob")
    await bob.start()
    await bob.press_data(f"myrg:{tote}:0")
    assert bob.notices[-1] == (
        "This button is out of date. Open the menu to see what is there now.",
        True,
    )
    assert (await chat.mall.redemptions.get(tote)).received_at is None


async def test_a_physical_reward_in_chinese(chat: Chat) -> None:
    li = await arrange(chat, "李雷", "zh-hans")
    tote = await redeem(chat, li, "tote", address="北京路 1 号")
    listing = (await li.send("/redemptions")).text
    assert "📦 已批准，待发货 · 20 积分 · 3月2日" in listing
    await chat.mall.redemptions.fulfil(tote, "顺丰 SF1", chat.now)

    await li.send("/redemptions")
    detail = await li.press(f"#{tote} Canvas tote")
    assert "状态：🚚 已发货" in detail.text
    assert "收到后请点“📬 我已收到”；否则将从 3月16日 起视为已送达。" in detail.text
    done = await li.press("📬 我已收到")

    assert li.notices[-1] == ("已确认收货，谢谢！", False)
    assert "状态：📬 已送达" in done.text
    assert "您" not in detail.text + done.text


# --- Donations ---------------------------------------------------------------------------------


async def test_donating_shows_the_cause_and_confirms_with_the_balance_after(chat: Chat) -> None:
    ann = await arrange(chat)
    await ann.send("/redemptions")

    screen = await ann.press("💚 Donate to Plant a tree")

    assert "Plant a tree" in screen.text
    assert "Every 100 points donated plant one tree with our partner." in screen.text
    assert "Members have given 0 points so far (0 donors)." in screen.text
    assert "Your balance: 100 points." in screen.text
    assert ann.buttons(screen) == [
        "10 points",
        "50 points",
        "100 points",
        "All of it (100 points)",
        "⬅️ My redemptions",
        "⬅️ Menu",
    ]
    confirm = await ann.press("50 points")
    assert "Give 50 points to Plant a tree?" in confirm.text
    assert "Your balance afterwards: 50 points." in confirm.text
    assert ann.buttons(confirm) == ["💚 Give 50 points", "Not now", "⬅️ Menu"]


async def test_a_double_tapped_donation_gives_once(chat: Chat) -> None:
    ann = await arrange(chat)
    await ann.send("/redemptions")
    await ann.press("💚 Donate to Plant a tree")
    confirm = await ann.press("50 points")

    first = ann.user.press("💚 Give 50 points", confirm)
    thanks = await ann.press("💚 Give 50 points", confirm)
    await chat.bot.handled.wait(first)

    assert "💚 Thank you! You gave 50 points to Plant a tree." in thanks.text
    assert "You have given: 50 points." in thanks.text
    assert "Your balance: 50 points." in thanks.text
    assert await balance(chat, ann) == 50
    totals = await chat.mall.donations.totals(ann.id)
    assert (totals.cause_total, totals.donors, totals.member_total) == (50, 1, 50)
    again = await ann.press("💚 Give more")
    assert "Members have given 50 points so far (1 donor)." in again.text
    assert ann.buttons(again)[:2] == ["10 points", "50 points"]
    assert "100 points" not in ann.buttons(again)


async def test_giving_all_gives_the_balance_that_was_confirmed(chat: Chat) -> None:
    ann = await arrange(chat)
    await redeem(chat, ann, "latte")
    await ann.send("/redemptions")
    await ann.press("💚 Donate to Plant a tree")

    confirm = await ann.press("All of it (70 points)")
    assert "Give 70 points to Plant a tree?" in confirm.text
    assert "Your balance afterwards: 0 points." in confirm.text
    await ann.press("💚 Give 70 points")

    assert await balance(chat, ann) == 0
    empty = await ann.press("💚 Give more")
    assert "You have no points to give right now." in empty.text
    assert ann.buttons(empty) == ["⬅️ My redemptions", "⬅️ Menu"]


async def test_a_confirmation_the_balance_no_longer_covers_is_refused(chat: Chat) -> None:
    ann = await arrange(chat)
    await ann.send("/redemptions")
    await ann.press("💚 Donate to Plant a tree")
    confirm = await ann.press("All of it (100 points)")
    await redeem(chat, ann, "latte")

    await ann.press("💚 Give 100 points", confirm)

    assert ann.notices[-1] == ("Not enough points: this needs 100, you have 70.", True)
    assert await balance(chat, ann) == 70
    assert (await chat.mall.donations.totals(ann.id)).cause_total == 0


async def test_an_amount_button_the_balance_no_longer_covers_offers_again(chat: Chat) -> None:
    ann = await arrange(chat)
    await ann.send("/redemptions")
    screen = await ann.press("💚 Donate to Plant a tree")
    await redeem(chat, ann, "latte")

    reply = await ann.press("100 points", screen)

    assert ann.notices[-1] == ("You can't give that amount now. Here is what you can give.", True)
    assert "All of it (70 points)" in ann.buttons(reply)


async def test_an_old_confirmation_gives_nothing(chat: Chat) -> None:
    ann = await arrange(chat)
    await ann.send("/redemptions")
    await ann.press("💚 Donate to Plant a tree")
    confirm = await ann.press("10 points")
    chat.now += timedelta(hours=2)

    reply = await ann.press("💚 Give 10 points", confirm)

    assert ann.notices[-1] == (
        "That confirmation is too old, so nothing was given. Please choose again.",
        True,
    )
    assert "How much would you like to give?" in reply.text
    assert await balance(chat, ann) == 100


async def test_closed_donations_offer_no_amounts(make_chat: ChatFactory) -> None:
    async with make_chat("[donations]\nenabled = false\n") as chat:
        ann = await arrange(chat)
        await ann.send("/redemptions")

        screen = await ann.press("💚 Donate to Plant a tree")

        assert "Donations are closed right now." in screen.text
        assert ann.buttons(screen) == ["⬅️ My redemptions", "⬅️ Menu"]


async def test_the_cause_is_shown_as_written(make_chat: ChatFactory) -> None:
    extra = '[donations]\ncause = "Trees & <b>bees</b>"\ndescription = "1 < 2"\n'
    async with make_chat(extra) as chat:
        ann = await arrange(chat)
        listing = await ann.send("/redemptions")
        assert "💚 Donate to Trees & <b>bees</b>" in ann.buttons(listing)

        screen = await ann.press("💚 Donate to Trees & <b>bees</b>")

        assert "Trees & <b>bees</b>\n1 < 2" in screen.text
        assert "Trees &amp; &lt;b&gt;bees&lt;/b&gt;" in (screen.html or "")


async def test_donating_in_chinese(chat: Chat) -> None:
    li = await arrange(chat, "李雷", "zh-hans")
    await li.send("/redemptions")
    await li.press("💚 捐赠给植树公益")

    confirm = (await li.press("10 积分")).text
    thanks = (await li.press("💚 捐出 10 积分")).text

    assert "确定向植树公益捐出 10 积分 吗？" in confirm
    assert "捐赠后余额：90 积分。" in confirm
    assert "💚 谢谢你！你向植树公益捐出了 10 积分。" in thanks
