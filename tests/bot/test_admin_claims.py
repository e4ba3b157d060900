"""An admin generates a batch of claim codes in the chat and gets a CSV and a QR sheet to print."""

from __future__ import annotations

import csv
import io

from bot.qr_sheet import PER_PAGE
from tests.support.admin import mall_state, open_admin
from tests.support.chat import Chat, Member


async def generate(admin: Member, count: str, points: str, last_day: str) -> None:
    await admin.send("/admin")
    await admin.press("🎟 Claim codes")
    await admin.press("➕ Generate a batch")
    await admin.send(count)
    await admin.send(points)
    await admin.send(last_day)


async def test_an_admin_generates_a_batch_and_members_claim_its_codes(chat: Chat) -> None:
    admin = await open_admin(chat)
    await generate(admin, "25", "40", "2026-03-31")
    confirm = admin.last
    assert "<b>25</b> codes of <b>40 points</b>" in confirm.html
    assert "1,000 points" in confirm.text

    await admin.press("✅ Generate")
    sheet, table, done = admin.messages[-1], admin.messages[-2], admin.messages[-3]
    assert "Batch #1: 25 codes of 40 points" in done.text
    assert table.document is not None
    assert sheet.document is not None
    name, content, mime = table.document
    assert (name, mime) == ("claim-codes-1.csv", "text/csv")
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert len(rows) == 25
    assert len({r["code"] for r in rows}) == 25
    assert {(r["points"], r["last_day"]) for r in rows} == {("40", "2026-03-31")}
    assert all(r["link"] == f"https://t.me/{chat.bot.username}?start=c-{r['code']}" for r in rows)
    name, content, mime = sheet.document
    assert (name, mime) == ("claim-codes-1.pdf", "application/pdf")
    assert content.startswith(b"%PDF-")
    assert content.count(b"/Type /Page\n") == -(-25 // PER_PAGE) == 2
    assert "2 page(s)" in sheet.text

    ann = chat.member("Ann")
    await ann.start(f"c-{rows[0]['code']}")
    assert "+40 points" in ann.last.text
    await ann.send(f"/claim {rows[1]['code']}")

    listing = await admin.press("🎟 Claim codes", sheet)
    assert "#1 · 25 × 40 points · claimed 2/25 · through Mar 31" in listing.text
    entries = await chat.mall.audit.latest(5, actor_id=admin.id)
    assert entries[0].action == "claims.generate"
    assert entries[0].after["count"] == 25


async def test_pressing_generate_twice_makes_one_batch(chat: Chat) -> None:
    admin = await open_admin(chat)
    await generate(admin, "3", "10", "2026-04-30")
    confirm = admin.last
    button = confirm.button("✅ Generate")
    assert button is not None
    assert button.callback_data is not None
    await admin.press("✅ Generate", confirm)
    await admin.press_data(button.callback_data, confirm)  # a double tap, or a replayed update
    assert "generated already (#1)" in admin.notices[-1][0]
    assert len(await chat.mall.claims.batches()) == 1


async def test_bad_answers_are_asked_again_and_nothing_is_made(chat: Chat) -> None:
    admin = await open_admin(chat)
    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))
    await admin.send("/admin")
    await admin.press("🎟 Claim codes")
    await admin.press("➕ Generate a batch")
    answer = await admin.send("lots")
    assert "“lots” is not a number from 1 to 1,000" in answer.text
    answer = await admin.send("1001")
    assert "is not a number from 1 to 1,000" in answer.text
    await admin.send("10")
    answer = await admin.send("-5")
    assert "“-5” is not a number of points" in answer.text
    await admin.send("20")
    answer = await admin.send("31/03/2026")
    assert "is not a date like 2026-04-01" in answer.text
    answer = await admin.send("2026-03-01")
    assert "Mar 1 is already past" in answer.text
    await admin.press("✖️ Cancel")
    assert await chat.mall.inputs.peek(admin.id, chat.now) is None
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before
