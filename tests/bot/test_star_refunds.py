"""Stars refunds through the sandbox, on both frameworks: a payment that lands after its
redemption timed out, an admin's refund from the redemption card (a double tap refunds once),
a paid redemption cancelled elsewhere, and Telegram refusing once before the job retries.
Each time ``refundStarPayment`` is called once per charge, the member is told in their
language, and the ledger and the payment record agree (``pointsmall check``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from bot.background import Background, background
from bot.running import open_messenger
from tests.bot.conftest import ChatFactory
from tests.support.admin import open_admin, stock
from tests.support.background import drained
from tests.support.chat import TOKEN, Chat, Member

CATALOG = """
[[items]]
sku = "beans"
title = "House beans"
category = "Goods"
kind = "virtual"
price = 200
cash = 2900
"""


@pytest.fixture
async def chat(make_chat: ChatFactory) -> AsyncIterator[Chat]:
    async with make_chat("[members]\nsignup_bonus = 1000\n") as opened:
        await stock(opened, CATALOG)
        yield opened


@asynccontextmanager
async def jobs(chat: Chat) -> AsyncIterator[Background]:
    """The outbox sender and the jobs, on the chat's framework (no schedule: tests run them)."""
    async with (
        open_messenger(TOKEN, chat.sandbox.api_server, framework=chat.framework) as messenger,
        background(chat.runtime, messenger, schedule=False) as running,
    ):
        yield running


async def redeem_beans(member: Member) -> int:
    await member.send("/mall")
    await member.press("Goods (1)")
    await member.press("1. House beans")
    await member.press("🎁 Redeem for 200 points + CN¥29.00 (paid as 290 ⭐)")
    await member.press("✅ Redeem")
    assert member.last.invoice is not None
    return int(member.last.invoice["payload"].split(":")[1])


def charges(member: Member) -> list[str]:
    return [m.payment["telegram_payment_charge_id"] for m in member.user.messages if m.payment]


def refund_lines(member: Member) -> list[str]:
    return [m.text for m in member.messages if "Stars refunded" in m.text or "退还" in m.text]


async def balance(chat: Chat, member: Member) -> tuple[int, int]:
    found = await chat.mall.statements.balance(member.id)
    return found.balance, found.held


async def test_a_payment_after_the_redemption_timed_out_is_refunded_and_the_member_told(
    chat: Chat,
) -> None:
    ann = chat.member("Ann")
    await ann.start()
    number = await redeem_beans(ann)

    async def times_out() -> None:  # approved at pre-checkout; the job runs before it lands
        chat.now += timedelta(minutes=31)
        await chat.mall.release_expired(chat.now)

    async with jobs(chat) as running:
        answer = await ann.pay(between=times_out)
        (charge,) = charges(ann)

        assert (
            f"Your payment reached us after redemption #{number} had ended, so it bought "
            "nothing: your ⭐ 290 Stars go back to you."
        ) in answer.text
        assert chat.sandbox.refunds == [(ann.id, charge)]
        assert [m.refund["total_amount"] for m in ann.user.messages if m.refund] == [290]
        await drained(chat.mall, running.sender)

    assert refund_lines(ann) == [f"⭐ 290 Stars refunded for #{number}."]
    refund = await chat.mall.star_refunds.get(charge)
    assert (refund.status, refund.reason, refund.stars) == ("refunded", "late", 290)
    assert (await chat.mall.redemptions.get(number)).status == "cancelled"
    assert await balance(chat, ann) == (1000, 0)
    assert (await chat.mall.check()).ok


async def test_the_admin_refunds_a_paid_redemption_from_its_card_once(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = chat.member("Ann", username="ann")
    await ann.start()
    number = await redeem_beans(ann)
    await ann.pay()
    (charge,) = charges(ann)
    assert await balance(chat, ann) == (800, 0)

    card = await admin.send("/member @ann")
    card = await admin.press(f"🧾 #{number}", card)
    assert f"🧾 Redemption #{number}: House beans" in card.text
    assert f"Paid: ⭐ 290 (charge {charge})" in card.text
    ask = await admin.press("↩️ Refund Stars", card)
    assert f"↩️ Refund #{number} (House beans) of Ann (@ann, {ann.id})?" in ask.text
    assert "200 points go back to their balance and ⭐ 290 Stars" in ask.text

    async with jobs(chat) as running:
        confirm = ask.button("✅ Cancel and refund")
        assert confirm is not None
        assert confirm.callback_data is not None
        done = await admin.press("✅ Cancel and refund", ask)
        await admin.press_data(confirm.callback_data, ask)  # a double tap
        await drained(chat.mall, running.sender)

    assert chat.sandbox.refunds == [(ann.id, charge)]
    assert admin.notices[-1] == ("This refund was done already, or cancelled.", True)
    assert f"↩️ #{number} cancelled; its Stars are being refunded." in done.text
    assert "⏳ ⭐ 290 being refunded" in done.text  # the card was drawn before the call
    assert "↩️ Refund Stars" not in admin.buttons(done)
    again = await admin.press(f"🧾 #{number}", await admin.send("/member @ann"))
    assert "↩️ ⭐ 290 refunded Mar 2 09:00" in again.text
    assert (await chat.mall.redemptions.get(number)).status == "cancelled"
    assert await balance(chat, ann) == (1000, 0)
    told = [m.text for m in ann.messages if "The mall cancelled your redemption" in m.text]
    assert told == [
        f"↩️ The mall cancelled your redemption #{number} of House beans: 200 points are back "
        "on your balance, and your ⭐ 290 Stars go back to you."
    ]
    assert refund_lines(ann) == [f"⭐ 290 Stars refunded for #{number}."]
    (entry,) = await chat.mall.audit.latest(1, actor_id=admin.id)
    assert (entry.action, entry.target) == ("redemption.refund_stars", f"redemption:{number}")
    assert (await chat.mall.check()).ok


async def test_a_paid_redemption_cancelled_elsewhere_is_settled_by_the_job_in_chinese(
    chat: Chat,
) -> None:
    ann = chat.member("安", language="zh-hans")
    await ann.start()
    number = await redeem_beans_zh(ann)
    await ann.pay()
    (charge,) = charges(ann)
    await chat.mall.redemptions.cancel(number, chat.now)  # an admin's cancel, not in a chat

    async with jobs(chat) as running:
        messenger = running_messenger(running)
        # A refund made before a crash lost its answer: Telegram says "already refunded".
        await messenger.refund_star_payment(ann.id, charge)
        assert await running.refunder.run_due(messenger, chat.now + timedelta(minutes=1)) == 1
        await drained(chat.mall, running.sender)

    assert chat.sandbox.refunds == [(ann.id, charge)]
    assert refund_lines(ann) == [f"⭐ 已为 #{number} 退还 290 颗星星。"]
    assert await balance(chat, ann) == (1000, 0)
    assert (await chat.mall.check()).ok


async def test_telegram_refusing_a_refund_once_leaves_it_to_the_job(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann = chat.member("Ann", username="ann")
    await ann.start()
    number = await redeem_beans(ann)
    await ann.pay()
    (charge,) = charges(ann)
    chat.sandbox.faults.add({"refundStarPayment"}, "server_error", seconds=None, times=1)

    card = await admin.send("/member @ann")
    await admin.press(f"🧾 #{number}", card)
    ask = await admin.press("↩️ Refund Stars")
    done = await admin.press("✅ Cancel and refund", ask)

    assert chat.sandbox.refunds == []
    assert "⏳ ⭐ 290 being refunded" in done.text
    card = await admin.press(f"🧾 #{number}", await admin.send("/member @ann"))
    assert "⏳ ⭐ 290 to refund: tried 1× so far, Telegram refused (last: " in card.text
    refund = await chat.mall.star_refunds.get(charge)
    assert (refund.status, refund.attempts) == ("refund_due", 1)
    assert await balance(chat, ann) == (1000, 0)  # the points are back already
    assert (await chat.mall.check()).ok

    async with jobs(chat) as running:
        assert await running.scheduler.run("refunds", chat.now)  # too early: not yet due
        assert chat.sandbox.refunds == []
        chat.now += timedelta(minutes=1)
        assert await running.scheduler.run("refunds", chat.now)
        await drained(chat.mall, running.sender)

    assert chat.sandbox.refunds == [(ann.id, charge)]
    assert (await chat.mall.star_refunds.get(charge)).status == "refunded"
    assert refund_lines(ann) == [f"⭐ 290 Stars refunded for #{number}."]
    assert (await chat.mall.check()).ok


async def redeem_beans_zh(member: Member) -> int:
    await member.send("/mall")
    shelf = next(b for b in member.buttons() if b.startswith("Goods"))
    await member.press(shelf)
    await member.press(next(b for b in member.buttons() if "House beans" in b))
    await member.press(next(b for b in member.buttons() if b.startswith("🎁")))
    await member.press(next(b for b in member.buttons() if b.startswith("✅")))
    assert member.last.invoice is not None
    return int(member.last.invoice["payload"].split(":")[1])


def running_messenger(running: Background):  # type: ignore[no-untyped-def]
    return running.sender.messenger
