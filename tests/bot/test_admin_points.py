"""An admin grants, deducts and records purchases from the chat; members are told why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.admin import mall_state, open_admin
from tests.support.chat import Chat, Member

CONFIRM, CANCEL = "✅ Confirm", "✖️ Cancel"


async def ann_joins(chat: Chat, language: str = "en") -> Member:
    ann = chat.member("Ann", language=language, username="ann")
    await ann.start()  # 100 points of sign-up bonus
    return ann


async def balance(chat: Chat, member: Member) -> int:
    return (await chat.mall.statements.balance(member.id)).balance


async def test_a_grant_by_command_is_confirmed_then_the_member_is_told_why(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)

    confirm = await admin.send("/grant @ann 50 Sorry for the outage")

    assert f"Grant 50 points to Ann (@ann, {ann.id})?" in confirm.text
    assert "Balance: 100 points → 150 points" in confirm.text
    assert "Reason: Sorry for the outage" in confirm.text
    assert admin.buttons(confirm) == [CONFIRM, CANCEL]
    assert await balance(chat, ann) == 100  # nothing happens before Confirm

    done = await admin.press(CONFIRM)

    assert f"Granted 50 points to Ann (@ann, {ann.id}). Balance now: 150 points." in done.text
    assert ann.last.text == "➕ You received 50 points: Sorry for the outage\nBalance: 150 points"
    assert await balance(chat, ann) == 150
    [entry] = await chat.mall.audit.latest(5, actor_id=admin.id)
    assert (entry.action, entry.target) == ("points.grant", f"member:{ann.id}")
    assert (entry.before, entry.after) == (
        {"balance": 100},
        {"balance": 150, "reason": "Sorry for the outage"},
    )
    history = await ann.send("/history")
    assert "+50" in history.text
    assert "Added by the mall" in history.text


async def test_a_negative_amount_by_id_deducts(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)

    confirm = await admin.send(f"/grant {ann.id} -30 Duplicate check-in")
    assert "Deduct 30 points from Ann" in confirm.text
    assert "Balance: 100 points → 70 points" in confirm.text
    await admin.press(CONFIRM)

    assert await balance(chat, ann) == 70
    assert (
        ann.last.text
        == "➖ 30 points taken from your balance: Duplicate check-in\nBalance: 70 points"
    )
    assert (await chat.mall.audit.latest(1))[0].action == "points.deduct"


async def test_a_double_tapped_confirm_grants_once(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    confirm = await admin.send("/grant @ann 50 Bonus")
    data = confirm.button(CONFIRM)
    assert data is not None
    assert data.callback_data is not None

    await admin.press(CONFIRM, confirm)
    told = len(ann.messages)
    again = await admin.press_data(data.callback_data, confirm)

    assert admin.notices[-1] == (
        "This confirmation was already used, cancelled or has expired: nothing more was done.",
        True,
    )
    assert "Points" in again.text
    assert await balance(chat, ann) == 150
    assert len(ann.messages) == told, "the member is told once"
    assert [e.action for e in await chat.mall.audit.latest(5)] == ["points.grant"]


async def test_the_guided_way_asks_member_amount_and_reason_and_refuses_bad_answers(
    chat: Chat,
) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    await admin.send("/admin")
    await admin.press("➕ Points")
    asked = await admin.press("➕➖ Grant / deduct")
    assert "Which member?" in asked.text

    unknown = await admin.send("@nobody")
    assert "No member matches “@nobody”." in unknown.text
    unknown = await admin.send("999999")
    assert "No member matches “999999”." in unknown.text
    amount = await admin.send("@ann")
    assert f"How many points for Ann (@ann, {ann.id})? They have 100 points." in amount.text

    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))
    for typed, problem in (
        ("abc", "“abc” is not a whole number of points."),
        ("1e9", "“1e9” is not a whole number of points."),
        ("12.5", "“12.5” is not a whole number of points."),
        ("0", "The amount can't be zero."),
        ("99999999999999", "The amount can be at most 1,000,000,000,000 points either way."),
    ):
        answer = await admin.send(typed)
        assert problem in answer.text, typed
        assert "How many points for Ann" in answer.text, "asked again"
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before

    reason = await admin.send("+25")
    assert "Send the reason for Ann" in reason.text
    confirm = await admin.send("Birthday")
    assert "Grant 25 points to Ann" in confirm.text

    again = await admin.send("what now?")  # a text while the confirmation is open
    assert "Press Confirm or Cancel below." in again.text
    assert "Grant 25 points to Ann" in again.text
    await admin.press(CONFIRM)
    assert await balance(chat, ann) == 125


async def test_the_member_card_starts_a_grant_with_the_member_filled_in(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    await admin.send("/member @ann")
    amount = await admin.press("➕➖ Grant / deduct")
    assert f"How many points for Ann (@ann, {ann.id})?" in amount.text
    await admin.send("-10")
    await admin.send("Correction")
    await admin.press(CONFIRM)
    assert await balance(chat, ann) == 90


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("/grant @nobody 50 Bonus", "No member matches “@nobody”."),
        ("/grant 999999 50 Bonus", "No member matches “999999”."),
        ("/grant @ann", "The amount is missing."),
        ("/grant @ann abc Bonus", "“abc” is not a whole number of points."),
        ("/grant @ann 0 Bonus", "The amount can't be zero."),
        ("/grant @ann 1e9 Bonus", "“1e9” is not a whole number of points."),
        ("/grant @ann 50", "A reason is needed, 1 to 200 characters."),
        ("/grant @ann -500 Clawback", "Ann (@ann, {id}) has only 100 points: 500 points can't"),
    ],
)
async def test_bad_grant_commands_are_refused_and_change_nothing(
    chat: Chat, command: str, problem: str
) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    before = await mall_state(chat, leave_out=())

    answer = await admin.send(command)

    assert problem.format(id=ann.id) in answer.text
    assert CONFIRM not in admin.buttons(answer)
    assert await mall_state(chat, leave_out=()) == before


async def test_a_deduction_that_no_longer_fits_is_refused_at_confirm(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    confirm = await admin.send("/grant @ann -80 Clawback")
    await chat.mall.adjustments.deduct(admin.id, ann.id, 50, "Earlier", "other-1", chat.now)
    # The refusal itself is recorded (operations), so a retry of this Confirm fails the same way.
    unchanged = ("pending_inputs", "operations")
    before = await mall_state(chat, leave_out=unchanged)

    answer = await admin.press(CONFIRM, confirm)

    assert "has only 50 points: 80 points can't be deducted. Nothing was changed." in answer.text
    assert admin.notices[-1] == ("Not done: nothing was changed.", True)
    assert await mall_state(chat, leave_out=unchanged) == before


async def test_cancel_changes_nothing(chat: Chat) -> None:
    admin = await open_admin(chat)
    await ann_joins(chat)
    before = await mall_state(chat, leave_out=())
    await admin.send("/grant @ann 50 Bonus")
    answer = await admin.press(CANCEL)
    assert "Cancelled: nothing was changed." in answer.text
    assert await mall_state(chat, leave_out=()) == before


async def test_a_confirmation_left_too_long_does_nothing(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    confirm = await admin.send("/grant @ann 50 Bonus")
    chat.now += timedelta(hours=1)
    await admin.press(CONFIRM, confirm)
    assert admin.notices[-1][1] is True
    assert await balance(chat, ann) == 100


async def test_a_chinese_member_is_told_in_chinese(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat, language="zh-hans")
    await admin.send("/grant @ann 5 生日快乐")
    await admin.press(CONFIRM)
    assert ann.last.text.startswith("➕ 你获得了 5")
    assert "生日快乐" in ann.last.text


async def test_a_purchase_recorded_by_an_admin_earns_by_the_rules(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    await admin.send("/admin")
    await admin.press("➕ Points")
    await admin.press("🧾 Record a purchase")
    asked = await admin.send("@ann")
    assert "Send the order id, the amount in CNY and the category" in asked.text

    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))
    for typed, problem in (
        ("A-1001 25.50", "Send three things"),
        ("A-1001 abc food", "“abc” is not an amount of money"),
        ("A-1001 0 food", "“0” is not an amount of money"),
        ("A-1001 1.005 food", "“1.005” is not an amount of money"),
        ("A/1001 25 food", "“A/1001” is not a valid order id"),
        ("A-1001 25 fo@d", "“fo@d” is not a valid category"),
    ):
        answer = await admin.send(typed)
        assert problem in answer.text, typed
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before

    confirm = await admin.send("A-1001 25.50 food")
    assert "Record order A-1001 for Ann" in confirm.text
    assert "Amount: CN¥25.50" in confirm.text
    done = await admin.press(CONFIRM)

    order = await chat.mall.purchases.order("A-1001")
    assert (order.member_id, order.amount_minor, order.category) == (ann.id, 2550, "food")
    assert order.points > 0
    earned = f"{order.points} points"
    assert f"Order A-1001 recorded for Ann (@ann, {ann.id}): {earned} earned" in done.text
    assert ann.last.text.startswith(f"🧾 Your purchase A-1001 earned you {earned}.")
    assert await balance(chat, ann) == 100 + order.points
    entry = (await chat.mall.audit.latest(1))[0]
    assert (entry.action, entry.after["order"]) == ("points.purchase", "A-1001")

    await admin.press("➕ Points", await admin.send("/admin"))
    await admin.press("🧾 Record a purchase")
    await admin.send("@ann")
    again = await admin.send("A-1001 25.50 food")
    assert "Order A-1001 is already recorded." in again.text


async def test_an_admin_reverses_a_purchase_and_the_member_is_told(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = await ann_joins(chat)
    bought = await chat.mall.purchases.record_purchase(ann.id, "A-7", 4000, "food", chat.now)
    await admin.send("/admin")
    await admin.press("➕ Points")
    await admin.press("↩️ Reverse a purchase")

    unknown = await admin.send("A-8")
    assert "No order A-8 is recorded." in unknown.text
    confirm = await admin.send("A-7")
    assert "Reverse order A-7 of Ann" in confirm.text
    assert f"Up to {bought.points} points will be taken back" in confirm.text
    done = await admin.press(CONFIRM)

    assert f"{bought.points} points taken back" in done.text
    assert ann.last.text.startswith("↩️ Your purchase A-7 was refunded")
    assert await balance(chat, ann) == 100
    assert (await chat.mall.audit.latest(1))[0].action == "points.reverse"

    await admin.press("➕ Points", await admin.send("/admin"))
    await admin.press("↩️ Reverse a purchase")
    again = await admin.send("A-7")
    assert "Order A-7 is already fully reversed." in again.text
