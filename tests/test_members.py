"""Joining the mall, profiles, freezing, and reading one's own statement."""

from __future__ import annotations

from datetime import date

import pytest

from core.errors import InvalidInput, UnknownMember
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

DAN, ERIN = 4004, 4005


async def test_dan_joins_once_and_gets_the_bonus_once(mall: Mall):
    first = await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    again = await mall.members.join(DAN, "Dan", "en", at("2026-03-02 08:00"))
    assert (first.is_new, first.bonus, first.balance) == (True, 100, 100)
    assert (again.is_new, again.bonus) == (False, 0)
    profile = await mall.members.profile(DAN)
    assert (profile.display_name, profile.tier, profile.frozen) == ("Dan", "Member", False)
    assert profile.joined_at == at("2026-03-01 08:00")


async def test_no_bonus_configured_means_no_transfer(make_mall: MallFactory):
    mall = await make_mall(make_config("[members]\nsignup_bonus = 0"))
    joined = await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    assert joined.balance == 0
    assert (await mall.statements.history(DAN)).entries == ()


async def test_an_invitation_is_recorded_once_and_never_by_oneself(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    erin = await mall.members.join(ERIN, "Erin", "en", at("2026-03-01 09:00"), invited_by=DAN)
    assert erin.invited_by == DAN
    self_invited = await mall.members.join(77, "Sam", "en", at("2026-03-01 09:00"), invited_by=77)
    assert self_invited.invited_by is None
    unknown = await mall.members.join(78, "Kim", "en", at("2026-03-01 09:00"), invited_by=999)
    assert unknown.invited_by is None
    # Dan cannot be attributed to Erin later: his join happened before.
    assert (
        await mall.members.join(DAN, "Dan", "en", at("2026-03-02 08:00"), ERIN)
    ).invited_by is None


async def test_profile_follows_the_members_name_and_language(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    profile = await mall.members.update_profile(DAN, display_name="Daniel", language="zh-hans")
    assert (profile.display_name, profile.language) == ("Daniel", "zh-hans")


async def test_freezing_says_why(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    frozen = await mall.members.freeze(DAN, "many accounts, one phone")
    assert (frozen.frozen, frozen.frozen_reason) == (True, "many accounts, one phone")
    balance = await mall.statements.balance(DAN)
    assert balance.frozen
    assert balance.frozen_reason == "many accounts, one phone"
    assert not (await mall.members.unfreeze(DAN)).frozen


async def test_history_pages_newest_first_with_reasons(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    for day in range(1, 13):
        await mall.checkins.check_in(DAN, at(f"2026-03-{day:02d} 09:00"))
    first = await mall.statements.history(DAN, page=0, page_size=5)
    assert [entry.reference for entry in first.entries] == [
        "2026-03-12", "2026-03-11", "2026-03-10", "2026-03-09", "2026-03-08",
    ]  # fmt: skip
    assert first.has_more
    last = await mall.statements.history(DAN, page=2, page_size=5)
    assert [(e.code, e.amount) for e in last.entries] == [
        ("checkin", 10), ("checkin", 10), ("signup_bonus", 100),
    ]  # fmt: skip
    assert not last.has_more


async def test_what_expires_when_groups_by_day_for_90_days(make_mall: MallFactory):
    mall = await make_mall(
        make_config(
            "[[tiers.levels]]\nname = 'Member'\nthreshold = 0\nmultiplier = 1\nvalidity_days = 60"
        )
    )
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    await mall.checkins.check_in(DAN, at("2026-03-01 09:00"))
    await mall.checkins.check_in(DAN, at("2026-03-02 09:00"))
    expiring = await mall.statements.expiring(DAN, at("2026-03-02 10:00"))
    assert [(e.last_day, e.amount) for e in expiring] == [
        (date(2026, 4, 29), 110),
        (date(2026, 4, 30), 10),
    ]
    assert await mall.statements.expiring(DAN, at("2026-03-02 10:00"), days=30) == ()


@pytest.mark.parametrize("name", ["Dan <b>", "李雷", "O'Brien & Sons"])
async def test_names_are_stored_as_given(mall: Mall, name: str):
    await mall.members.join(DAN, name, "en", at("2026-03-01 08:00"))
    assert (await mall.members.profile(DAN)).display_name == name


# --- Usernames and announcements ----------------------------------------------------------------


async def test_an_admin_finds_dan_by_his_username_however_it_is_typed(mall: Mall):
    joined = await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"), username="@Dan_S")
    assert joined.is_new
    assert (await mall.members.profile(DAN)).username == "dan_s"
    for typed in ("@Dan_S", "dan_s", "DAN_S", " @dan_S "):
        assert (await mall.members.find_by_username(typed)).member_id == DAN
    for unknown in ("@erin", "dan s", "", "@", "x" * 33):
        with pytest.raises(UnknownMember):
            await mall.members.find_by_username(unknown)


async def test_dan_changes_and_drops_his_username_and_erin_takes_it_over(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"), username="dan_s")
    await mall.members.join(ERIN, "Erin", "en", at("2026-03-01 09:00"))
    renamed = await mall.members.update_profile(DAN, display_name="Daniel")
    assert (renamed.display_name, renamed.username) == ("Daniel", "dan_s")  # left as it was
    assert (await mall.members.update_profile(DAN, username="DanTheMan")).username == "dantheman"
    assert (await mall.members.update_profile(DAN, username=None)).username is None
    with pytest.raises(UnknownMember):
        await mall.members.find_by_username("dantheman")
    # Telegram passed @dan_s on: whoever had it before has it no longer.
    await mall.members.update_profile(DAN, username="dan_s")
    taken = await mall.members.update_profile(ERIN, username="Dan_S")
    assert taken.username == "dan_s"
    assert (await mall.members.profile(DAN)).username is None
    assert (await mall.members.find_by_username("@dan_s")).member_id == ERIN


@pytest.mark.parametrize("username", ["dan-s", "dan s", "@@dan", "", "x" * 33, 42])
async def test_a_malformed_username_is_refused(mall: Mall, username: object):
    with pytest.raises(InvalidInput):
        await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"), username=username)  # type: ignore[arg-type]
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    with pytest.raises(InvalidInput):
        await mall.members.update_profile(DAN, username=username)  # type: ignore[arg-type]
    assert (await mall.members.profile(DAN)).username is None


async def test_dan_turns_announcements_off_and_on_again(mall: Mall):
    await mall.members.join(DAN, "Dan", "en", at("2026-03-01 08:00"))
    assert (await mall.members.profile(DAN)).announcements
    assert not (await mall.members.set_announcements(DAN, False)).announcements
    assert not (await mall.members.profile(DAN)).announcements
    assert (await mall.members.set_announcements(DAN, True)).announcements
    with pytest.raises(InvalidInput):
        await mall.members.set_announcements(DAN, "off")  # type: ignore[arg-type]


async def test_strangers_have_no_profile_to_change(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.members.set_announcements(DAN, False)
    with pytest.raises(UnknownMember):
        await mall.members.update_profile(DAN, username="dan_s")
