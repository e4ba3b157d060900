"""A sale's Buy (first come) or Enter (draw) pressed by a member whose points fall short of the
sale price: the answer (an alert and the sale again, with the balance) as it was before Buy
became one core call (core/rewards/sale_press.py) and Enter stopped reading the balance apart.
The other answers of both buttons are told in tests/bot/test_sales.py."""

from __future__ import annotations

from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import ChatFactory
from tests.bot.test_sales import ITEMS
from tests.conftest import at


async def test_buying_short_of_points_says_so_with_the_balance_and_the_sale(
    make_chat: ChatFactory,
) -> None:
    async with make_chat("") as chat:
        await load_catalog(chat.mall.db, chat.mall.config, ITEMS, chat.now)
        tote = (await chat.mall.catalog.get_item_by_sku("tote")).item_id
        await chat.mall.flash_sales.create_sale(
            tote, 600, 3, chat.now, at("2026-03-02 11:15"), "first_come", now=chat.now
        )
        ann = chat.member("Ann")
        await ann.start()
        await ann.send("/sales")
        await ann.press("⚡ Canvas tote")

        reply = await ann.press("⚡ Buy for 600 points")

        short = "Not enough points: this needs 600 points, you have 100 points."
        assert ann.notices[-1] == (short, True)
        assert reply.text == (
            f"{short}\n\n⚡ Canvas tote\nSale price: 600 points (usually 1,200 points)\n"
            "First come, first served: 3 of 3 left.\n"
            "🟢 On now: ends in 2 h 15 min (Mar 2 11:15)."
        )
        assert ann.buttons(reply) == [
            "⚡ Buy for 600 points",
            "🔄 Refresh",
            "⬅️ All sales",
            "⬅️ Menu",
        ]
        assert (await chat.mall.statements.balance(ann.id)).balance == 100


async def test_entering_a_draw_short_of_points_says_so_with_the_balance_and_the_sale(
    make_chat: ChatFactory,
) -> None:
    async with make_chat("") as chat:
        await load_catalog(chat.mall.db, chat.mall.config, ITEMS, chat.now)
        tote = (await chat.mall.catalog.get_item_by_sku("tote")).item_id
        await chat.mall.flash_sales.create_sale(
            tote,
            600,
            2,
            at("2026-03-02 08:00"),
            at("2026-03-02 12:00"),
            "draw",
            entry_ends_at=at("2026-03-02 10:30"),
            now=at("2026-03-02 07:00"),
        )
        ann = chat.member("Ann")
        await ann.start()
        await ann.send("/sales")
        await ann.press("⚡ Canvas tote")

        reply = await ann.press("🎟 Enter the draw (600 points)")

        short = "Not enough points: this needs 600 points, you have 100 points."
        assert ann.notices[-1] == (short, True)
        assert reply.text.startswith(
            f"{short}\n\n⚡ Canvas tote\nSale price: 600 points (usually 1,200 points)\n"
            "🎟 A draw: 2 winners are picked at random from everyone who enters (0 so far)."
            " Entering holds 600 points until the draw; if you don't win, they come back.\n"
            "🟢 Entries close in 1 h 30 min (Mar 2 10:30).\n"
            "🔐 The draw's seed hash, published before entries: "
        )
        assert ann.buttons(reply) == [
            "🎟 Enter the draw (600 points)",
            "🔄 Refresh",
            "⬅️ All sales",
            "⬅️ Menu",
        ]
        held = await chat.mall.statements.balance(ann.id)
        assert (held.balance, held.held) == (100, 0)
