"""Birthdays on both databases: told once, changed within limits, paid once a year on the day
(mall's calendar, Asia/Shanghai) however often or concurrently the job runs."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import select

from core.db.models import Birthday, Transfer
from core.errors import BirthdayLocked, InvalidInput
from core.mall import Mall
from core.operations.jobs import Jobs
from tests.conftest import MallFactory, at
from tests.support.configs import make_config
from tests.test_jobs import Words, outbox

ALICE = 1001
BOB = 1002
GIFT = """
[birthday]
points = 88
change_after_days = 365
"""


async def _birthday_transfers(mall: Mall, member_id: int) -> list[tuple[int, str]]:
    async with mall.db.read() as conn:
        rows = await conn.execute(
            select(Transfer.amount, Transfer.key).where(
                Transfer.credit_account_id == member_id, Transfer.code == "birthday"
            )
        )
        return [(int(amount), key) for amount, key in rows]


async def _messages(mall: Mall) -> list[str]:
    return [payload for _, payload in await outbox(mall)]


async def test_alice_is_paid_once_on_her_birthday_however_often_the_job_runs(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config(GIFT))
    jobs = Jobs(mall, Words())
    await mall.members.join(ALICE, "Alice", "zh_Hans", at("2026-03-01 08:00"))
    await mall.birthdays.tell(ALICE, 3, 8, at("2026-03-01 09:00"))

    assert (await jobs.birthdays(at("2026-03-07 23:59"))).changed == 0  # not yet
    first = await jobs.birthdays(at("2026-03-08 00:00"))  # midnight in Shanghai
    again = await jobs.birthdays(at("2026-03-08 12:00"))
    assert (first.changed, first.messages) == (1, 1)
    assert (again.changed, again.messages) == (0, 0)
    assert await _birthday_transfers(mall, ALICE) == [(88, f"birthday:{ALICE}:2026")]
    assert await _messages(mall) == ["zh_Hans birthday 88"]
    assert (await mall.statements.balance(ALICE)).balance == 100 + 88
    assert (await mall.birthdays.get(ALICE, at("2026-03-08 13:00"))).paid_this_year

    # Next year, again once.
    await jobs.birthdays(at("2027-03-08 10:00"))
    await jobs.birthdays(at("2027-03-08 11:00"))
    assert [key for _, key in await _birthday_transfers(mall, ALICE)] == [
        f"birthday:{ALICE}:2026",
        f"birthday:{ALICE}:2027",
    ]


async def test_two_processes_running_the_job_at_once_pay_once(make_mall: MallFactory):
    config = make_config(GIFT)
    first, second = await make_mall(config), await make_mall(config)
    for member in (ALICE, BOB):
        await first.members.join(member, str(member), "en", at("2026-03-01 08:00"))
        await first.birthdays.tell(member, 3, 8, at("2026-03-01 09:00"))
    results = await asyncio.gather(
        Jobs(first, Words()).birthdays(at("2026-03-08 09:00")),
        Jobs(second, Words()).birthdays(at("2026-03-08 09:00")),
    )
    assert sum(result.changed for result in results) == 2
    for member in (ALICE, BOB):
        assert len(await _birthday_transfers(first, member)) == 1
    assert len(await _messages(first)) == 2


async def test_telling_todays_date_after_the_first_run_is_caught_up_the_same_day(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config(GIFT))
    jobs = Jobs(mall, Words())
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await jobs.birthdays(at("2026-03-08 00:01"))
    await mall.birthdays.tell(ALICE, 3, 8, at("2026-03-08 15:00"))
    assert (await jobs.birthdays(at("2026-03-08 15:01"))).changed == 1
    assert len(await _birthday_transfers(mall, ALICE)) == 1


async def test_29_february_is_paid_on_28_february_in_other_years(make_mall: MallFactory):
    mall = await make_mall(make_config(GIFT))
    jobs = Jobs(mall, Words())
    await mall.members.join(ALICE, "Alice", "en", at("2026-02-01 08:00"))
    await mall.birthdays.tell(ALICE, 2, 29, at("2026-02-01 09:00"))
    assert (await jobs.birthdays(at("2026-02-27 12:00"))).changed == 0
    assert (await jobs.birthdays(at("2026-02-28 12:00"))).changed == 1  # 2026 has no 29th
    assert (await jobs.birthdays(at("2028-02-28 12:00"))).changed == 0  # 2028 has one
    assert (await jobs.birthdays(at("2028-02-29 12:00"))).changed == 1


async def test_changing_the_birthday_is_limited_and_never_pays_twice_a_year(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config(GIFT))
    jobs = Jobs(mall, Words())
    await mall.members.join(ALICE, "Alice", "en", at("2026-01-01 08:00"))
    told = await mall.birthdays.tell(ALICE, 1, 5, at("2026-01-02 09:00"))
    assert told.changeable_from == date(2027, 1, 2)
    same = await mall.birthdays.tell(ALICE, 1, 5, at("2026-01-03 09:00"))
    assert not same.changed
    with pytest.raises(BirthdayLocked) as refused:
        await mall.birthdays.tell(ALICE, 6, 1, at("2026-12-31 09:00"))
    assert refused.value.details == {"until": "2027-01-02"}
    await jobs.birthdays(at("2026-01-05 10:00"))
    # A year on, the change is allowed; it falls later in 2027 after 2027's payment...
    await jobs.birthdays(at("2027-01-05 10:00"))
    await mall.birthdays.tell(ALICE, 6, 1, at("2027-01-06 09:00"))
    assert (await jobs.birthdays(at("2027-06-01 10:00"))).changed == 0  # ...so not paid again
    assert [key for _, key in await _birthday_transfers(mall, ALICE)] == [
        f"birthday:{ALICE}:2026",
        f"birthday:{ALICE}:2027",
    ]


@pytest.mark.parametrize(("month", "day"), [(0, 1), (13, 1), (2, 30), (4, 31), (1, 0)])
async def test_a_date_that_does_not_exist_is_refused_naming_what(mall: Mall, month, day):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    with pytest.raises(InvalidInput) as refused:
        await mall.birthdays.tell(ALICE, month, day, at("2026-03-01 09:00"))
    assert refused.value.details["field"] == ("month" if month in (0, 13) else "day")


async def test_no_points_configured_pays_nothing(mall: Mall):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.birthdays.tell(ALICE, 3, 8, at("2026-03-01 09:00"))
    assert (await Jobs(mall, Words()).birthdays(at("2026-03-08 10:00"))).changed == 0
    assert await _birthday_transfers(mall, ALICE) == []


async def test_a_frozen_member_waits_and_is_paid_if_unfrozen_that_day(make_mall: MallFactory):
    mall = await make_mall(make_config(GIFT))
    jobs = Jobs(mall, Words())
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await mall.birthdays.tell(BOB, 3, 8, at("2026-03-01 09:00"))
    await mall.members.freeze(BOB, "review", now=at("2026-03-02 09:00"))
    assert (await jobs.birthdays(at("2026-03-08 10:00"))).changed == 0
    await mall.members.unfreeze(BOB, now=at("2026-03-08 11:00"))
    assert (await jobs.birthdays(at("2026-03-08 11:01"))).changed == 1


async def test_the_birthday_is_in_the_members_export_and_gone_when_they_erase(
    make_mall: MallFactory,
):
    mall = await make_mall(make_config(GIFT))
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.birthdays.tell(ALICE, 3, 8, at("2026-03-01 09:00"))
    await Jobs(mall, Words()).birthdays(at("2026-03-08 10:00"))
    exported = await mall.privacy.export(ALICE, at("2026-03-09 09:00"))
    (row,) = exported["birthdays"]
    assert (row["month"], row["day"], row["paid_year"]) == (3, 8, 2026)
    await mall.privacy.erase(ALICE, at("2026-03-09 10:00"))
    async with mall.db.read() as conn:
        left = (await conn.execute(select(Birthday))).all()
    assert left == []
    assert (await mall.check()).ok
