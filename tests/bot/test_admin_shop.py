"""An admin runs the shop from the chat: the latest orders and refunds, parked orders, the API
keys (a secret shown once; revoking once however often it is pressed), and orders imported
from a CSV document (errors listed by line, nothing half imported, the same file twice once)."""

from __future__ import annotations

import re
from decimal import Decimal

from bot.features import admin_shop
from core.commerce.shop_orders import OrderIn, Source
from core.reporting.audit import DENIED
from tests.support.admin import mall_state, open_admin
from tests.support.chat import Chat, Member

NOT_ADMIN = "That is for the mall's admins only."
STRANGER = 4242
HEADER = "order_id,customer_phone,telegram_id,total,currency,category,placed_at\n"


def order(order_id: str, customer: dict[str, object], total: str, source: Source) -> OrderIn:
    return OrderIn(order_id, customer, Decimal(total), "CNY", source=source)


async def open_shop(admin: Member) -> None:
    await admin.send("/admin")
    section = await admin.press("🛒 Shop")
    assert "Shop" in section.text
    assert admin.buttons(section)[-1] == "⬅️ Admin menu"


async def actions(chat: Chat, actor_id: int) -> list[str]:
    return [entry.action for entry in await chat.mall.audit.latest(20, actor_id=actor_id)]


async def test_the_admin_sees_orders_refunds_and_parked_orders(chat: Chat) -> None:
    admin = await open_admin(chat)
    bob = chat.member("Bob", username="bob")
    await bob.start()
    shop = chat.mall.shop
    await shop.accept_order(order("A-1", {"telegram_id": bob.id}, "500.00", "api"), chat.now)
    # Bob spends his points at the shop's checkout before the order is refunded.
    hold = await shop.hold_for_checkout("H-1", {"telegram_id": bob.id}, 520, chat.now)
    await shop.capture(hold.hold_ref, "A-900", chat.now)
    refund = await shop.refund("A-1", "R-1", "500.00", chat.now)
    assert (refund.points_taken, refund.unrecovered) == (80, 420)
    await shop.accept_order(order("A-2", {"telegram_id": STRANGER}, "20.50", "shopify"), chat.now)
    await shop.accept_order(order("A-3", {"ref": "cust-7"}, "7.00", "woocommerce"), chat.now)

    await admin.send("/admin")
    section = await admin.press("🛒 Shop")
    assert "Orders: 3 (credited 1, parked 2, refunded before crediting 0, expired 0)" in (
        section.text
    )
    assert "Refunds: 1" in section.text
    assert "420 points could not be taken back by 1 refund(s)" in section.text
    assert "<b>420 points could not be taken back</b>" in (section.html or "")

    orders = await admin.press("🧾 Orders")
    lines = orders.text.split("\n\n")
    assert "newest first" in lines[0]
    assert [re.findall(r"A-\d", line)[0] for line in lines[1:]] == ["A-3", "A-2", "A-1"]
    assert "✅ credited · A-1 · CN¥500.00 · 500 points · refunded CN¥500.00 · API" in lines[3]
    assert f"Bob (@bob, {bob.id})" in lines[3]
    assert "⏳ parked · A-2 · CN¥20.50 · Shopify" in lines[2]
    assert f"not linked: Telegram id {STRANGER}" in lines[2]
    assert "parked until Apr 1" in lines[2]
    assert "not linked: shop customer cust-7" in lines[1]
    assert "WooCommerce" in lines[1]
    assert admin.buttons(orders)[-1] == "⬅️ Admin menu"

    refunds = await admin.press("↩️ Refunds", orders)
    assert "✅ applied · A-1 / R-1 · CN¥500.00 · took back 80 points" in refunds.text
    assert "⚠️ 420 points not taken back: already spent" in refunds.text
    assert "<b>420 points not taken back</b>" in (refunds.html or "")
    assert f"Bob (@bob, {bob.id})" in refunds.text
    assert admin.buttons(refunds)[-1] == "⬅️ Admin menu"

    await admin.press("🛒 Shop", refunds)
    parked = await admin.press("⏳ Parked orders")
    assert "Parked orders (2), oldest first" in parked.text
    assert f"A-2 · Telegram id {STRANGER} · CN¥20.50" in parked.text
    assert "A-3 · shop customer cust-7 · CN¥7.00" in parked.text
    assert "until Apr 1" in parked.text
    assert admin.buttons(parked)[-1] == "⬅️ Admin menu"


async def test_an_empty_shop_says_so(chat: Chat) -> None:
    admin = await open_admin(chat)
    section = await admin.send("/shop")
    assert "Orders: 0" in section.text
    assert "could not be taken back" not in section.text
    assert "No order from the shop yet" in (await admin.press("🧾 Orders")).text
    assert "No refund from the shop yet" in (await admin.press("↩️ Refunds")).text
    await admin.press("🛒 Shop")
    assert "No parked order" in (await admin.press("⏳ Parked orders")).text


async def test_a_key_shows_its_secret_once_and_a_double_tap_revokes_it_once(chat: Chat) -> None:
    admin = await open_admin(chat)
    await open_shop(admin)
    empty = await admin.press("🔑 API keys")
    assert "No API key yet" in empty.text
    await admin.press("➕ New key")
    too_long = await admin.send("x" * 65)
    assert "1 to 64 characters" in too_long.text
    created = await admin.send("Web shop")
    key_id = re.search(r"Key id: (pk_[A-Za-z0-9_-]+)", created.text)
    secret = re.search(r"Secret: ([A-Za-z0-9_-]+)", created.text)
    assert key_id is not None
    assert secret is not None
    assert f"<code>{secret.group(1)}</code>" in (created.html or "")
    assert "shown this once" in created.text
    assert await chat.mall.shop_keys.secret_for(key_id.group(1)) == secret.group(1)

    listing = await admin.press("🔑 API keys", created)
    assert "Web shop" in listing.text
    assert key_id.group(1) in listing.text
    assert "last used never" in listing.text
    assert secret.group(1) not in listing.text
    assert "🗑 Revoke Web shop" in admin.buttons(listing)

    confirm = await admin.press("🗑 Revoke Web shop", listing)
    assert "Revoke the key Web shop" in confirm.text
    button = confirm.button("🗑 Revoke")
    assert button is not None
    assert button.callback_data is not None
    done = await admin.press("🗑 Revoke", confirm)
    assert "Revoked Web shop" in done.text
    assert await chat.mall.shop_keys.secret_for(key_id.group(1)) is None
    await admin.press_data(button.callback_data, confirm)  # a double tap, or a replayed update
    assert admin.notices[-1] == ("That was done already, or cancelled.", True)
    (key,) = await chat.mall.shop_keys.list_keys()
    assert key.revoked_at is not None
    assert "🗑 Revoke Web shop" not in admin.buttons()
    assert "⛔" in admin.last.text
    assert await actions(chat, admin.id) == ["shop.key_revoke", "shop.key_create"]


async def test_cancelling_a_new_key_creates_nothing(chat: Chat) -> None:
    admin = await open_admin(chat)
    await open_shop(admin)
    await admin.press("🔑 API keys")
    await admin.press("➕ New key")
    cancelled = await admin.press("✖️ Cancel")
    assert "Cancelled" in cancelled.text
    assert await chat.mall.inputs.peek(admin.id, chat.now) is None
    assert await chat.mall.shop_keys.list_keys() == ()


async def test_a_csv_with_bad_rows_names_their_lines_and_imports_nothing(chat: Chat) -> None:
    admin = await open_admin(chat)
    bob = chat.member("Bob")
    await bob.start()
    await open_shop(admin)
    ask = await admin.press("📥 Import orders (CSV)")
    assert "order_id,customer_phone,telegram_id" in ask.text
    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))

    wrong = await admin.send_document("orders.txt", b"hello", "text/plain")
    assert "orders.txt is not a .csv file" in wrong.text
    big = HEADER.encode() + b"x" * admin_shop.CSV_MAX_BYTES
    too_large = await admin.send_document("orders.csv", big, "text/csv")
    assert "orders.csv is too large: at most 1,024 KB" in too_large.text
    latin = await admin.send_document("orders.csv", "café".encode("utf-16"), "text/csv")
    assert "not UTF-8 text" in latin.text
    bad = HEADER + (
        f"P-1,,{bob.id},10.00,CNY,,\n"  # line 2: fine
        f"P-2,,{bob.id},ten,CNY,,\n"  # line 3
        f"P-3,,{bob.id},5.00,USD,,\n"  # line 4
    )
    errors = await admin.send_document("orders.csv", bad.encode(), "text/csv")
    assert "orders.csv: 2 problem(s)" in errors.text
    assert "line 3: total must be a decimal amount" in errors.text
    assert "line 4: " in errors.text
    assert "line 2" not in errors.text
    assert "Nothing was imported" in errors.text
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before
    assert "shop.orders_imported" not in await actions(chat, admin.id)

    # The question is still open: the fixed file is sent at once.
    good = HEADER + (f"P-1,,{bob.id},10.00,CNY,,2026-03-01T10:00:00\nP-2,,{STRANGER},5.00,CNY,,\n")
    done = await admin.send_document("orders.csv", good.encode(), "text/csv")
    assert "orders.csv imported: 2 order(s) read" in done.text
    assert "credited now: 1 (10 points)" in done.text
    assert "parked until their customer links: 1" in done.text
    assert "known already, unchanged: 0" in done.text
    assert admin.buttons(done)[-1] == "⬅️ Admin menu"
    assert (await chat.mall.statements.balance(bob.id)).balance == 100 + 10
    (entry,) = await chat.mall.audit.latest(1, actor_id=admin.id)
    assert (entry.action, entry.target) == ("shop.orders_imported", "file:orders.csv")
    assert (entry.after["credited"], entry.after["parked"], entry.after["known"]) == (1, 1, 0)

    await admin.press("🛒 Shop", done)
    await admin.press("📥 Import orders (CSV)")
    again = await admin.send_document("orders.csv", good.encode(), "text/csv")
    assert "2 order(s) read" in again.text
    assert "credited now: 0 (0 points)" in again.text
    assert "known already, unchanged: 2" in again.text
    assert (await chat.mall.statements.balance(bob.id)).balance == 100 + 10
    assert await actions(chat, admin.id) == ["shop.orders_imported", "shop.orders_imported"]
    (entry,) = await chat.mall.audit.latest(1, actor_id=admin.id)
    assert entry.after["known"] == 2


async def test_a_member_is_refused_the_shop_section(chat: Chat) -> None:
    await open_admin(chat)
    ann = chat.member("Ann")
    await ann.start()
    answer = await ann.send("/shop")
    assert NOT_ADMIN in answer.text
    for data in ("asp", "aso", "asr", "asw", "akl", "akn", "akr:pk_x", "aky:abcdefgh", "asi"):
        await ann.press_data(data)
        assert ann.notices[-1] == (NOT_ADMIN, True), data
    assert await chat.mall.shop_keys.list_keys() == ()
    assert set(await actions(chat, ann.id)) == {DENIED}


async def test_the_shop_section_reads_in_chinese(chat: Chat) -> None:
    admin = await open_admin(chat, language="zh-hans")
    menu = await admin.send("/admin")
    assert "🛒 商城对接" in admin.buttons(menu)
    section = await admin.press("🛒 商城对接")
    assert "订单：0 笔" in section.text
    assert admin.buttons(section)[:5] == [
        "🧾 订单",
        "↩️ 退款",
        "⏳ 待关联订单",
        "🔑 API 密钥",
        "📥 导入订单（CSV）",
    ]
    await admin.press("🔑 API 密钥")
    await admin.press("➕ 新建密钥")
    created = await admin.send("官网商城")
    assert "密钥只显示这一次" in created.text
