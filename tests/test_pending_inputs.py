"""The bot asks a member to type something; their next text answers it, in any bot process."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.errors import InvalidInput, UnknownMember
from core.mall import Mall
from core.membership.pending_inputs import MAX_DATA_CHARS, PendingInput
from tests.conftest import MallFactory, at

DAN, ERIN = 4004, 4005
ASKED = at("2026-03-01 10:00")
TEN_MINUTES = timedelta(minutes=10)


async def test_dans_next_text_is_the_address_the_bot_asked_him_for(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    await mall.inputs.expect(
        DAN, "address", {"redemption_id": 42, "step": ["street", "city"]}, ASKED, TEN_MINUTES
    )
    expected = PendingInput(
        "address", {"redemption_id": 42, "step": ["street", "city"]}, ASKED + TEN_MINUTES
    )
    assert await mall.inputs.peek(DAN, ASKED + timedelta(minutes=1)) == expected
    assert await mall.inputs.take(DAN, ASKED + timedelta(minutes=2)) == expected
    # Answered: his following texts are ordinary messages again.
    assert await mall.inputs.take(DAN, ASKED + timedelta(minutes=3)) is None
    assert await mall.inputs.peek(DAN, ASKED + timedelta(minutes=3)) is None


async def test_a_new_question_replaces_the_one_dan_left_unanswered(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    await mall.inputs.expect(DAN, "address", {"redemption_id": 42}, ASKED, TEN_MINUTES)
    later = ASKED + timedelta(minutes=5)
    await mall.inputs.expect(DAN, "claim_code", {}, later, timedelta(hours=1))
    taken = await mall.inputs.take(DAN, later)
    assert taken == PendingInput("claim_code", {}, later + timedelta(hours=1))


async def test_a_question_dan_answers_too_late_is_gone(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    await mall.inputs.expect(DAN, "address", {"redemption_id": 42}, ASKED, TEN_MINUTES)
    expired = ASKED + TEN_MINUTES
    assert await mall.inputs.peek(DAN, expired) is None
    assert await mall.inputs.take(DAN, expired) is None
    # Taking it removed it: not even an earlier clock finds it now.
    assert await mall.inputs.peek(DAN, ASKED) is None


async def test_cancel_clears_the_question_and_erin_keeps_hers(mall: Mall):
    for member in (DAN, ERIN):
        await mall.members.join(member, f"M{member}", "en", at("2026-03-01 08:00"))
        await mall.inputs.expect(member, "address", {"member": member}, ASKED, TEN_MINUTES)
    await mall.inputs.clear(DAN)
    await mall.inputs.clear(DAN)  # nothing to clear: no harm
    assert await mall.inputs.peek(DAN, ASKED) is None
    erins = await mall.inputs.take(ERIN, ASKED)
    assert erins is not None
    assert erins.data == {"member": ERIN}


async def test_two_bot_processes_receive_dans_answer_and_only_one_takes_the_question(
    make_mall: MallFactory,
):
    first, second = await make_mall(), await make_mall()
    await first.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    for round_ in range(5):
        asked = ASKED + timedelta(hours=round_)
        await first.inputs.expect(DAN, "address", {"round": round_}, asked, TEN_MINUTES)
        taken = await asyncio.gather(*(m.inputs.take(DAN, asked) for m in (first, second) * 3))
        answered = [t for t in taken if t is not None]
        assert [t.data for t in answered] == [{"round": round_}]


async def test_the_bot_asks_only_members(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.inputs.expect(DAN, "address", {}, ASKED, TEN_MINUTES)
    assert await mall.inputs.take(DAN, ASKED) is None


@pytest.mark.parametrize(
    ("kind", "data", "ttl"),
    [
        ("", {}, TEN_MINUTES),
        ("Address", {}, TEN_MINUTES),
        ("a" * 33, {}, TEN_MINUTES),
        ("address", {"when": at("2026-03-01 10:00")}, TEN_MINUTES),
        ("address", {"ratio": float("nan")}, TEN_MINUTES),
        ("address", {1: "not a text key"}, TEN_MINUTES),
        ("address", ["not", "a", "mapping"], TEN_MINUTES),
        ("address", {"blob": "x" * MAX_DATA_CHARS}, TEN_MINUTES),
        ("address", {}, timedelta(0)),
        ("address", {}, timedelta(days=8)),
        ("address", {}, 600),
    ],
)
async def test_malformed_questions_are_refused(mall: Mall, kind: object, data: object, ttl: object):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    with pytest.raises(InvalidInput):
        await mall.inputs.expect(DAN, kind, data, ASKED, ttl)  # type: ignore[arg-type]
    assert await mall.inputs.peek(DAN, ASKED) is None
