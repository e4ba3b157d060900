"""Admins in the chat: the /admin menu, the audit log, and refusing everyone else.

The authorization test walks every admin command, button, question and upload that any
feature registers (``admin=True``), as a member, and expects each refused, logged in the audit
log, and nothing else in the mall changed: a new admin feature is covered the day it is added.
"""

from __future__ import annotations

from datetime import timedelta

from bot.features import build_router
from core.reporting.audit import DENIED
from tests.support.admin import ADMIN_ID, mall_state, open_admin
from tests.support.chat import Chat

NOT_ADMIN = "That is for the mall's admins only."


async def test_the_admin_opens_the_admin_menu_and_a_member_cannot(chat: Chat) -> None:
    admin = await open_admin(chat)
    menu = await admin.send("/admin")
    assert "admin" in menu.text
    assert "📜 Audit log" in admin.buttons(menu)
    assert "🏠 Menu" in admin.buttons(menu) or any("Menu" in b for b in admin.buttons(menu))

    ann = chat.member("Ann")
    await ann.start()
    answer = await ann.send("/admin")
    assert NOT_ADMIN in answer.text
    assert answer.buttons, "a refused member still gets a way back to the menu"


async def test_the_audit_log_shows_refused_attempts_newest_first(chat: Chat) -> None:
    admin = await open_admin(chat)
    empty = await admin.send("/audit")
    assert "empty" in empty.text

    ann = chat.member("Ann")
    await ann.start()
    await ann.send("/audit")
    chat.now += timedelta(minutes=1)
    await ann.press_data("adm")

    log = await admin.send("/audit")
    lines = log.text.split("\n\n")
    assert "newest first" in lines[0]
    assert f"<code>{ann.id}</code>" not in log.text  # plain text as a member reads it
    assert str(ann.id) in lines[1]
    assert "adm" in lines[1]
    assert DENIED in lines[1]
    assert str(ann.id) in lines[2]
    assert "commands:audit" in lines[2]


async def test_the_audit_log_pages_back_through_older_entries(chat: Chat) -> None:
    admin = await open_admin(chat)
    for minute in range(20):
        await chat.mall.audit.record(
            ADMIN_ID,
            "item.restock",
            "item:7",
            chat.now + timedelta(minutes=minute),
            before={"stock": minute},
            after={"stock": minute + 1},
        )
    first = await admin.send("/audit")
    assert "stock: 19 → 20" in first.text
    assert "stock: 4 → 5" not in first.text
    older = await admin.press("Older ▶️")
    assert "stock: 4 → 5" in older.text
    assert "stock: 0 → 1" in older.text
    assert "Older ▶️" not in admin.buttons(older)


async def test_no_member_gets_past_any_admin_route(chat: Chat) -> None:
    """Every admin route a feature registers, tried by a member: refused, logged, no change."""
    admin = await open_admin(chat)
    await admin.send("/admin")  # the admin's own use is not what this test is about
    ann = chat.member("Ann", username="ann")
    await ann.start()
    router = build_router()
    tried = 0
    last_entry = 0
    before = await mall_state(chat)

    for table, name in sorted(router.admin_only):
        if table == "commands":
            answer = await ann.send(f"/{name} @ann 100 because 2026-03-03")
            assert NOT_ADMIN in answer.text, name
        elif table == "buttons":
            await ann.press_data(f"{name}:1:1:1:1")
            assert ann.notices[-1] == (NOT_ADMIN, True), name
        elif table == "inputs":
            await chat.mall.inputs.expect(ann.id, name, {"id": 1}, chat.now, timedelta(hours=1))
            answer = await ann.send("100")
            assert NOT_ADMIN in answer.text, name
        else:
            assert table == "uploads"
            await chat.mall.inputs.expect(ann.id, name, {"id": 1}, chat.now, timedelta(hours=1))
            answer = await ann.send_document("codes.txt", b"CODE-1\nCODE-2\n", "text/plain")
            assert NOT_ADMIN in answer.text, name
            await chat.mall.inputs.clear(ann.id)
        (entry,) = await chat.mall.audit.latest(1, actor_id=ann.id)
        assert entry.entry_id > last_entry, f"{table}:{name} was not logged"
        assert entry.action == DENIED
        last_entry = entry.entry_id
        tried += 1

    assert tried >= 3, "the walk found the admin routes"
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == {
        table: rows for table, rows in before.items() if table != "pending_inputs"
    }
