"""Members claim points with a code: typed after /claim, or by opening the link of a QR code."""

from __future__ import annotations

from datetime import timedelta

from tests.support.admin import ADMIN_ID
from tests.support.chat import Chat


async def codes(chat: Chat, count: int = 2, points: int = 50, days: int = 30) -> tuple[str, ...]:
    made = await chat.mall.claims.generate(
        ADMIN_ID, count, points, chat.now + timedelta(days=days), chat.now
    )
    return made.codes


async def test_a_new_member_opening_a_code_link_joins_and_gets_the_points(chat: Chat) -> None:
    [code, _] = await codes(chat)
    ann = chat.member("Ann")
    await ann.start(f"c-{code}")
    welcome, claimed = ann.messages[-2], ann.messages[-1]
    assert "Welcome" in welcome.text
    assert "Code accepted: +50 points" in claimed.text
    assert "Your balance: 150 points" in claimed.text  # 100 for joining, 50 from the code

    again = await ann.start(f"c-{code}")
    assert "You claimed this code already: it gave you 50 points" in again.text
    assert (await chat.mall.statements.balance(ann.id)).balance == 150


async def test_a_code_works_once_whoever_claims_it(chat: Chat) -> None:
    [code, other] = await codes(chat)
    ann, bob = chat.member("Ann"), chat.member("Bob")
    await ann.start()
    await bob.start()
    assert "+50 points" in (await ann.send(f"/claim {code.lower()}")).text
    refused = await bob.send(f"/claim {code}")
    assert "That code was claimed already: each code works once." in refused.text
    assert (await chat.mall.statements.balance(bob.id)).balance == 100

    await bob.send("/claim")
    assert "Send me the code" in bob.last.text
    assert "+50 points" in (await bob.send(other)).text


async def test_wrong_codes_lock_claiming_until_a_time_the_member_is_told(chat: Chat) -> None:
    [code, _] = await codes(chat)
    ann = chat.member("Ann")
    await ann.start()
    for left in ("4", "3", "2", "1"):
        answer = await ann.send("/claim WRONGCODE123")
        assert f"after {left} more wrong codes" in answer.text
    locked = await ann.send("/claim WRONGCODE123")
    assert "Too many wrong codes. You can claim again from Mar 2 10:00." in locked.text
    assert "Too many wrong codes" in (await ann.send(f"/claim {code}")).text

    chat.now += timedelta(hours=1)
    assert "+50 points" in (await ann.send(f"/claim {code}")).text
    flagged = (await chat.mall.risk.flags()).members
    assert [m.member_id for m in flagged] == [ann.id]


async def test_an_expired_code_is_refused_in_the_members_language(chat: Chat) -> None:
    [code, _] = await codes(chat, days=1)
    li = chat.member("Li", language="zh-hans")
    await li.start()
    chat.now += timedelta(days=2)
    answer = await li.send(f"/claim {code}")
    assert "这个兑换码已于" in answer.text
    assert "过期" in answer.text
    assert (await chat.mall.statements.balance(li.id)).balance == 100


async def test_claim_is_in_the_help(chat: Chat) -> None:
    ann = chat.member("Ann")
    await ann.start()
    assert "/claim - Claim points with a code" in (await ann.send("/help")).text
