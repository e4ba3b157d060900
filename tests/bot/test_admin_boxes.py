"""The admin edits a blind box's prizes (seeing the odds first) and rotates its seed."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.sandbox import ChatMessage
from core.db.models import BoxPrize, BoxSeed
from tests.bot.conftest import ChatFactory
from tests.support.admin import mall_state, open_admin, stock
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "mug"
title = "Golden mug"
category = "Goods"
kind = "physical"
price = 300
stock = 5

[[items]]
sku = "latte"
title = "Latte coupon"
category = "Drinks"
kind = "coupon"
price = 150
codes = ["L-1", "L-2"]

[[boxes]]
sku = "lucky"
title = "Lucky box"
price = 100
prizes = [
  { name = "Ten points", kind = "points", points = 10, weight = 90 },
  { name = "Golden mug", kind = "item", item = "mug", weight = 10, rare = true },
]
"""
DRAFT = ("audit_log", "pending_inputs")


@pytest.fixture
async def boxed(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    async with make_chat() as chat:
        await stock(chat, CATALOG)
        yield chat


async def open_box(admin: Member) -> ChatMessage:
    """The admin opens the Lucky box's card from /admin."""
    await admin.send("/admin")
    await admin.press("🎲 Blind boxes")
    return await admin.press("✅ Lucky box · 100 points")


async def prizes(chat: Chat) -> list[tuple[str, str, int, bool]]:
    async with chat.mall.db.read() as conn:
        rows = await conn.execute(select(BoxPrize).order_by(BoxPrize.id))
        return [(row.name, row.kind, row.weight, row.rare) for row in rows]


async def test_the_admin_sees_the_odds_before_saving_a_new_prize_table(boxed: Chat) -> None:
    chat = boxed
    admin = await open_admin(chat)
    card = await open_box(admin)
    assert "Ten points (10 points): weight 90, 90%" in card.text
    assert "Golden mug: item mug weight 10 rare" in card.text, "the table as lines to copy"
    ask = await admin.press("✏️ Edit prizes")
    assert "one prize a line" in ask.text
    before = await mall_state(chat, leave_out=DRAFT)

    zero = await admin.send("points 50 weight 0\nnothing weight 0")
    assert "The weights add up to 0" in zero.text
    assert await mall_state(chat, leave_out=DRAFT) == before

    bad = await admin.send(
        "points 50 weight 30\nitem mug weight five\ncoupon mug weight 5\nitem nosuch weight 1"
    )
    assert "line 2: I don't understand it" in bad.text
    assert "line 3: mug is not a coupon item" in bad.text
    assert "line 4: there is no item nosuch" in bad.text
    assert "line 1" not in bad.text
    assert await mall_state(chat, leave_out=DRAFT) == before

    table = "points 50 weight 30\nGolden mug: item mug weight 5 stock 2 rare\nnothing weight 65"
    preview = await admin.send(table)
    assert "before it is saved" in preview.text
    assert "50 points (50 points): weight 30, 30%" in preview.text
    assert "Golden mug (item: Golden mug): weight 5, 5%" in preview.text
    assert "Nothing (nothing): weight 65, 65%" in preview.text
    # Each box pays 50 points 30% of the time and a 300-point mug 5% of the time.
    expected = (50 * 30 + 300 * 5) / 100
    assert f"Expected value: {expected:g} points per box against a price of 100 points" in (
        preview.text
    )
    assert f"({expected / 100:.0%} paid back)" in preview.text
    assert await mall_state(chat, leave_out=DRAFT) == before, "a preview changes nothing"

    saved = await admin.press("💾 Save")
    assert "Prize table saved" in saved.text
    assert await prizes(chat) == [
        ("Ten points", "points", 0, False),  # left out: it leaves the draw, its row stays
        ("Golden mug", "item", 5, True),
        ("50 points", "points", 30, False),
        ("Nothing", "consolation", 65, False),
    ]
    (entry,) = [e for e in await chat.mall.audit.latest(10) if e.action == "box.prizes"]
    assert entry.before["prizes"] == [
        "Ten points: points 10 weight 90",
        "Golden mug: item mug weight 10 rare",
    ]
    assert "Golden mug: item mug weight 5 stock 2 rare" in entry.after["prizes"]


async def test_cancelling_a_previewed_table_changes_nothing(boxed: Chat) -> None:
    chat = boxed
    admin = await open_admin(chat)
    await open_box(admin)
    await admin.press("✏️ Edit prizes")
    before = await mall_state(chat, leave_out=DRAFT)
    await admin.send("coupon latte weight 1")
    cancelled = await admin.press("✖️ Cancel")
    assert "nothing was saved" in cancelled.text
    assert await mall_state(chat, leave_out=DRAFT) == before
    assert await chat.mall.inputs.peek(admin.id, chat.now) is None


async def test_rotating_the_seed_reveals_the_old_one_once(boxed: Chat) -> None:
    chat = boxed
    admin = await open_admin(chat)
    await open_box(admin)
    ask = await admin.press("🔄 Rotate seed")
    assert "Seed v1 will be revealed" in ask.text
    confirm = ask.button("🔄 Yes, rotate")
    assert confirm is not None
    confirm_data = confirm.callback_data or ""
    async with chat.mall.db.read() as conn:
        (first,) = (await conn.execute(select(BoxSeed))).all()
    assert first.revealed_at is None, "asked first, not done"

    done = await admin.press("🔄 Yes, rotate")
    async with chat.mall.db.read() as conn:
        seeds = (await conn.execute(select(BoxSeed).order_by(BoxSeed.version))).all()
    old, new = seeds
    assert old.revealed_at is not None
    assert old.seed in done.text
    assert old.seed_hash in done.text
    assert hashlib.sha256(old.seed.encode()).hexdigest() == old.seed_hash
    assert f"New seed v2, commitment {new.seed_hash}" in done.text
    assert new.seed not in done.text, "the new seed stays secret"
    (entry,) = [e for e in await chat.mall.audit.latest(10) if e.action == "box.rotate_seed"]
    assert (entry.before["version"], entry.after["version"]) == (1, 2)
    assert entry.after["revealed_seed"] == old.seed

    await admin.press_data(confirm_data)
    assert admin.notices[-1][0].startswith("This button is out of date.")
    async with chat.mall.db.read() as conn:
        assert len((await conn.execute(select(BoxSeed))).all()) == 2, "rotated once"


async def test_the_card_flags_a_prize_that_can_never_be_drawn_and_says_why(boxed: Chat) -> None:
    chat = boxed
    # The mug is taken off the shelf (switched off): that takes it out of the box too.
    await stock(chat, CATALOG.replace("price = 100\n", "price = 100\npity_after = 5\n"))
    mug = await chat.mall.catalog.get_item_by_sku("mug")
    await chat.mall.catalog.deactivate(mug.item_id, chat.now)
    admin = await open_admin(chat)

    card = await open_box(admin)

    assert (
        "• ⚠️ Golden mug (item: Golden mug): out of the draw, its item was taken off the shelf"
        " (⏸), which takes it out of every box too. For a prize that is never sold, load the"
        " item with listed = false instead"
    ) in card.text
    assert "⚠️ The guarantee is paused: no rare prize can be drawn." in card.text
    assert "Ten points (10 points): weight 90, 100%" in card.text

    # Made prize only (on no shelf, still in the box), the mug is back in the draw.
    await chat.mall.catalog.edit_item(
        mug.item_id, {"active": True, "listed": False}, chat.now, actor_id=admin.id
    )
    card = await admin.press("⬅️ Blind boxes")
    card = await admin.press("✅ Lucky box · 100 points")
    assert "Golden mug (item: Golden mug): weight 10, 10%, 100% on a guaranteed draw" in card.text
    assert "⚠️" not in card.text


async def test_the_admin_creates_prices_opens_and_closes_a_box_from_the_chat(boxed: Chat) -> None:
    chat = boxed
    admin = await open_admin(chat)
    await admin.send("/admin")
    listed = await admin.press("🎲 Blind boxes")
    ask = await admin.press("➕ New box", listed)
    assert "New blind box" in ask.text
    in_chinese = await admin.send("Bean box")
    assert "The title for members reading 简体中文" in in_chinese.text
    await admin.press("⏭ Skip")  # Chinese members read the English title
    await admin.press("⏭ Skip")  # no description
    await admin.press("⏭ Skip")
    assert "is not a whole number" in (await admin.send("lots")).text
    summary = await admin.send("120")
    assert "Title: Bean box" in summary.text
    assert "Price: 120 points a box" in summary.text
    assert len(await chat.mall.boxes.list_boxes()) == 1, "nothing is saved before Save"

    card = await admin.press("💾 Save", summary)
    assert "Bean box is created, closed" in card.text
    assert "⏸ Closed" in card.text
    (box,) = [b for b in await chat.mall.boxes.list_boxes() if b.title == "Bean box"]
    assert (box.sku, box.price_points, box.active) == ("bean-box", 120, False)

    # Its prizes, typed on its card: the placeholder leaves the draw.
    await admin.press("✏️ Edit prizes", card)
    preview = await admin.send("points 50 weight 60\nGolden mug: item mug weight 40")
    card = await admin.press("💾 Save", preview)
    table = await chat.mall.boxes.prize_table(box.box_id)
    assert {p.name: p.weight for p in table.prizes if p.weight} == {
        "50 points": 60,
        "Golden mug": 40,
    }

    # A member cannot open it while it is closed.
    ann = chat.member("Ann")
    await ann.start()
    member_view = await chat.mall.boxes.describe(box.box_id, ann.id, chat.now)
    assert not member_view.active

    ask = await admin.press("💰 Price", card)
    assert "The new price of Bean box in points, a box (now 120 points)" in ask.text
    card = await admin.send("90")
    assert "The price is changed." in card.text
    assert "Price: 90 points a box" in card.text

    (open_button,) = [b for row in card.buttons for b in row if b.text == "🔓 Open to members"]
    opened = await admin.press("🔓 Open to members", card)
    assert "The box is open to members." in opened.text
    assert "✅ Open to members" in opened.text
    # A second tap of the same button changes nothing more.
    again = await admin.press_data(open_button.callback_data or "", opened)
    assert "The box was open already." in again.text
    now_open = await chat.mall.boxes.describe(box.box_id, ann.id, chat.now)
    assert (now_open.active, now_open.price_points) == (True, 90)

    closed = await admin.press("🔒 Close", again)
    assert "The box is closed" in closed.text
    assert not (await chat.mall.boxes.describe(box.box_id, ann.id, chat.now)).active

    entries = [e for e in await chat.mall.audit.latest(20) if e.target == f"box:{box.box_id}"]
    assert [e.action for e in reversed(entries)] == [
        "box.create",
        "box.prizes",
        "box.edit",
        "box.edit",
        "box.edit",
    ]
    # Newest first: closed, opened, priced.
    assert [e.after for e in entries[:3]] == [
        {"active": False},
        {"active": True},
        {"price_points": 90},
    ]
    assert entries[0].actor_id == admin.id


async def test_a_box_and_its_prizes_in_chinese_from_the_chat(boxed: Chat) -> None:
    chat = boxed
    admin = await open_admin(chat)
    await admin.send("/admin")
    await admin.press("🎲 Blind boxes")
    await admin.press("➕ New box")
    await admin.send("Bean box")
    await admin.send("豆子盲盒")
    await admin.send("Beans of luck.")
    assert "The description for members reading 简体中文" in admin.last.text
    await admin.send("好运豆子。")
    summary = await admin.send("120")
    assert "Title (简体中文): 豆子盲盒" in summary.text
    assert "Description (简体中文): 好运豆子。" in summary.text
    card = await admin.press("💾 Save", summary)
    assert "Title (简体中文): 豆子盲盒" in card.text, "the card shows the Chinese title"
    (box,) = [b for b in await chat.mall.boxes.list_boxes() if b.title == "Bean box"]
    (entry,) = [e for e in await chat.mall.audit.latest(10) if e.action == "box.create"]
    assert entry.after is not None
    assert entry.after["titles"] == {"zh_Hans": "豆子盲盒"}

    ask = await admin.press("✏️ Edit prizes", card)
    assert "[name[ / 中文名]:]" in ask.text
    bad = await admin.send("A / B / C: points 5 weight 1")
    assert "line 1" in bad.text
    preview = await admin.send(
        "Fifty points / 五十积分: points 50 weight 60\nGolden mug / 金杯: item mug weight 40"
    )
    card = await admin.press("💾 Save", preview)
    assert "Fifty points / 五十积分: points 50 weight 60" in card.text, "as lines to copy"
    table = await chat.mall.boxes.prize_table(box.box_id)
    assert {p.name: dict(p.names) for p in table.prizes if p.weight} == {
        "Fifty points": {"zh_Hans": "五十积分"},
        "Golden mug": {"zh_Hans": "金杯"},
    }
    card = await admin.press("🔓 Open to members", card)

    li = chat.member("李雷", language="zh-hans")
    await li.start()
    await li.send("/boxes")
    screen = await li.press("豆子盲盒 · 120 积分")
    assert "豆子盲盒" in screen.text
    assert "好运豆子。" in screen.text
    assert "五十积分：60%" in screen.text
    assert "金杯：40%" in screen.text
    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/boxes")
    screen = await ann.press("Bean box · 120 points")
    assert "Beans of luck." in screen.text
    assert "Fifty points: 60%" in screen.text
    assert "Golden mug: 40%" in screen.text
    assert "豆子" not in screen.text
    assert "金杯" not in screen.text

    # Texts: skipping the Chinese title takes it away; the English one is changed.
    await admin.press("📝 Texts", card)
    await admin.send("Bean box deluxe")
    await admin.press("⏭ Skip")
    await admin.press("⏭ Skip")  # the description is taken away too
    summary = await admin.press("⏭ Skip")
    saved = await admin.press("💾 Save", summary)
    assert "The texts are saved." in saved.text
    view = await chat.mall.boxes.describe(box.box_id, ann.id, chat.now)
    assert (view.title, dict(view.titles), view.description, dict(view.descriptions)) == (
        "Bean box deluxe",
        {},
        "",
        {},
    )
    (entry, *_) = [e for e in await chat.mall.audit.latest(10) if e.action == "box.edit"]
    assert entry.actor_id == admin.id
    assert entry.after == {
        "description": "",
        "descriptions": {},
        "title": "Bean box deluxe",
        "titles": {},
    }
