"""Telegram's bad minutes: the answers that report a redemption still reach every member.

For a minute the Bot API server answers every call that puts a message in the chat with a 500,
a proxy's 502 page, a timeout, or 429 after 429; eight members have confirmed a redemption
just before. Each is charged once, and each is told once Telegram recovers: the reply policy
(``bot.delivery.ReplyPolicy``) keeps trying past the outage, on both frameworks.
"""

from __future__ import annotations

import asyncio
import time

from bot.sandbox import Sandbox
from core.rewards.catalog_file import load_catalog
from tests.bot.conftest import ChatFactory
from tests.support.chat import Member

CATALOG = """
[[items]]
sku = "tea"
title = "Green tea"
category = "Drinks"
kind = "virtual"
price = 50
stock = 100
"""
RICH = "[members]\nsignup_bonus = 1000\n"
# What puts an answer into the chat: every one of them fails during the outage.
ANSWERS = {"sendMessage", "editMessageText", "editMessageCaption", "sendPhoto"}
OUTAGE_SECONDS = 60.0


def outage(sandbox: Sandbox) -> None:
    """A minute of 500s, then 502 pages, then timeouts, then 429s, on every answer."""
    quarter = OUTAGE_SECONDS / 4
    clock = sandbox.faults.clock
    start = clock()

    def window(kind: str, index: int, **extra: object) -> None:
        sandbox.faults.add(methods=ANSWERS, kind=kind, seconds=quarter * (index + 1), **extra)

    # Added together, each ends at the end of its quarter; the earliest added answers first,
    # so each quarter is one kind of failure.
    window("server_error", 0)
    window("bad_gateway", 1)
    window("timeout", 2, hold=20.0)
    window("flood", 3, retry_after=4)
    assert clock() - start < 1


async def test_members_charged_during_an_outage_are_all_told_once_it_ends(
    make_chat: ChatFactory,
) -> None:
    async with make_chat(RICH) as chat:
        await load_catalog(chat.mall.db, chat.mall.config, CATALOG, chat.now)
        members: list[Member] = [chat.member(f"Member {i}") for i in range(8)]
        for member in members:
            await member.start()
            await member.send("/mall")
            await member.press("Drinks (1)")
            await member.press("1. Green tea")
            await member.press("🎁 Redeem for 50 points")

        outage(chat.sandbox)
        started = time.monotonic()
        pressed = [member.user.press("✅ Redeem") for member in members]
        await asyncio.gather(
            *(
                chat.bot.handled.wait(update_id, timeout=OUTAGE_SECONDS + 90)
                for update_id in pressed
            )
        )

        assert time.monotonic() - started >= OUTAGE_SECONDS - 20  # the outage was sat out
        assert chat.sandbox.faults.answered >= len(members)  # and it did refuse answers
        for member in members:
            told = [m for m in member.messages if "Redeemed Green tea for 50 points" in m.text]
            assert told, f"{member.user.first_name} was charged and never told"
            assert (await chat.mall.statements.balance(member.id)).balance == 950
            page = await chat.mall.redemptions.list_for_member(member.id)
            assert [entry.status for entry in page.entries] == ["completed"]
