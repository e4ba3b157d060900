"""The audit log: entries stand or fall with the admin action that wrote them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import InvalidInput, UnknownMember
from core.mall import Mall
from core.reporting.audit import DENIED, MAX_STATE_CHARS, write_entry
from tests.conftest import at

ADMIN, MEMBER = 1000, 4004
NOON = at("2026-03-01 12:00")


async def test_entries_read_back_newest_first_with_their_states(mall: Mall):
    first = await mall.audit.record(
        ADMIN, "item.restock", "item:7", NOON, before={"stock": 5}, after={"stock": 15}
    )
    second = await mall.audit.denied(MEMBER, "buttons:ait", NOON + timedelta(minutes=1))
    entries = await mall.audit.latest(10)
    assert [e.entry_id for e in entries] == [second, first]
    assert entries[0].action == DENIED
    assert entries[0].target == "buttons:ait"
    assert entries[0].before == {}
    assert entries[0].after == {}
    assert entries[1].at == NOON
    assert (entries[1].actor_id, entries[1].before, entries[1].after) == (
        ADMIN,
        {"stock": 5},
        {"stock": 15},
    )
    assert [e.entry_id for e in await mall.audit.latest(10, before_id=second)] == [first]
    assert [e.entry_id for e in await mall.audit.latest(10, actor_id=MEMBER)] == [second]


async def test_an_entry_written_in_a_transaction_that_fails_is_gone_with_it(mall: Mall):
    class Boom(Exception):
        pass

    async def grant_then_fail() -> None:
        async with mall.db.write() as conn:
            await write_entry(conn, actor_id=ADMIN, action="points.grant", target="m:1", now=NOON)
            raise Boom

    with pytest.raises(Boom):
        await grant_then_fail()
    assert await mall.audit.latest(10) == ()


@pytest.mark.parametrize(
    ("action", "target", "before"),
    [
        ("", "item:7", {}),
        ("x" * 49, "item:7", {}),
        ("item.restock", "", {}),
        ("item.restock", "item:7", {"text": "x" * MAX_STATE_CHARS}),
    ],
)
async def test_bad_entries_are_refused_and_nothing_is_written(
    mall: Mall, action: str, target: str, before: dict[str, str]
):
    with pytest.raises(InvalidInput):
        await mall.audit.record(ADMIN, action, target, NOON, before=before)
    assert await mall.audit.latest(10) == ()


@pytest.mark.parametrize("limit", [0, 51, True])
async def test_a_page_size_out_of_range_is_refused(mall: Mall, limit: int):
    with pytest.raises(InvalidInput, match="limit"):
        await mall.audit.latest(limit)


async def test_an_admins_freeze_and_unfreeze_are_audited_with_the_state_they_changed(mall: Mall):
    await mall.members.join(MEMBER, "Dan", "en", NOON)
    await mall.members.freeze(MEMBER, "chargebacks", actor_id=ADMIN, now=NOON)
    await mall.members.freeze(MEMBER, "still checking", actor_id=ADMIN, now=NOON)
    await mall.members.unfreeze(MEMBER, actor_id=ADMIN, now=NOON + timedelta(hours=1))
    await mall.members.freeze(MEMBER, "by the risk rules")  # no actor: nothing recorded here

    unfrozen, again, frozen = await mall.audit.latest(10)
    assert (frozen.action, frozen.target) == ("member.freeze", f"member:{MEMBER}")
    assert (frozen.before, frozen.after) == (
        {"frozen": False},
        {"frozen": True, "reason": "chargebacks"},
    )
    assert again.before == {"frozen": True, "reason": "chargebacks"}
    assert again.after == {"frozen": True, "reason": "still checking"}
    assert unfrozen.action == "member.unfreeze"
    assert unfrozen.after == {"frozen": False}
    assert unfrozen.at == NOON + timedelta(hours=1)


async def test_a_refused_freeze_leaves_no_audit_entry(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.members.freeze(MEMBER, "who?", actor_id=ADMIN, now=NOON)
    with pytest.raises(InvalidInput):
        await mall.members.freeze(MEMBER, "no time", actor_id=ADMIN)
    assert await mall.audit.latest(10) == ()
