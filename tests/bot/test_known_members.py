"""What a process keeps of its members (bot.known_members): for seconds, forgotten on change."""

from __future__ import annotations

import pytest

from bot.known_members import KnownMembers
from core.errors import UnknownMember
from core.mall import Mall
from tests.conftest import at

ANN = 1001
JOINED = at("2026-03-01 08:00")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_change_from_elsewhere_is_seen_once_the_seconds_are_over(mall: Mall) -> None:
    await mall.members.join(ANN, "Ann", "en", JOINED)
    clock = Clock()
    known = KnownMembers(mall.members, ttl=5.0, clock=clock)
    assert (await known.get(ANN)).language == "en"
    # Another process changes her language: this one keeps what it read, for 5 s at most.
    await mall.members.update_profile(ANN, language="zh_Hans")
    clock.now += 4.9
    assert (await known.get(ANN)).language == "en"
    clock.now += 0.2
    assert (await known.get(ANN)).language == "zh_Hans"


async def test_a_change_made_here_is_seen_at_once(mall: Mall) -> None:
    await mall.members.join(ANN, "Ann", "en", JOINED)
    known = KnownMembers(mall.members, ttl=60.0, clock=Clock())
    assert (await known.get(ANN)).display_name == "Ann"
    known.remember(await mall.members.update_profile(ANN, display_name="Ann B", username="annb"))
    assert (await known.get(ANN)).display_name == "Ann B"
    await mall.members.update_profile(ANN, language="zh_Hans")
    known.forget(ANN)
    assert await known.get(ANN) == (await known.get(ANN))
    assert (await known.get(ANN)).language == "zh_Hans"


async def test_someone_unknown_is_not_kept_and_an_erased_member_is_forgotten(mall: Mall) -> None:
    known = KnownMembers(mall.members, ttl=60.0, clock=Clock())
    with pytest.raises(UnknownMember):
        await known.get(ANN)
    await mall.members.join(ANN, "Ann", "en", JOINED)
    assert (await known.get(ANN)).language == "en"
    await mall.privacy.erase(ANN, at("2026-03-02 08:00"))
    known.forget(ANN)
    with pytest.raises(UnknownMember):
        await known.get(ANN)
