"""Links the shop shows after checkout: opening one links the shop's customer to the member,
once, and credits what was parked for them (core.commerce.shop_links). On both databases."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.commerce.shop import OrderIn
from core.commerce.shop_links import START_PREFIX, token_hash
from core.config import parse_config
from core.config_errors import ConfigError
from core.db.models import Base, ShopLinkToken
from core.errors import (
    InvalidInput,
    LinkExpired,
    LinkUnknown,
    LinkUsed,
    MallError,
    RefTaken,
    UnknownMember,
)
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

BOB, CAROL = 2002, 3003
REF = "shop-customer-7"
T0 = at("2026-03-01 08:00")
SHOP = "[shop]\npark_days = 30\n"
# Telegram's /start payload: at most 64 of A-Za-z0-9_-.
START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


@pytest.fixture
async def shop_mall(make_mall: MallFactory) -> Mall:
    mall = await make_mall(make_config(SHOP))
    await mall.members.join(BOB, "Bob", "en", T0)
    await mall.members.join(CAROL, "Carol", "en", T0)
    return mall


def order(order_id: str, total: str = "50.00", ref: str = REF) -> OrderIn:
    return OrderIn(order_id=order_id, customer={"ref": ref}, total=Decimal(total), currency="CNY")


async def balance(mall: Mall, member_id: int) -> int:
    return (await mall.statements.balance(member_id)).balance


async def stored(mall: Mall) -> list[tuple[object, ...]]:
    async with mall.db.read() as conn:
        rows = (await conn.execute(select(ShopLinkToken).order_by(ShopLinkToken.created_at))).all()
    return [tuple(row) for row in rows]


# --- Making links -------------------------------------------------------------------------------


async def test_a_link_is_a_new_random_token_each_time_kept_only_as_its_hash(shop_mall: Mall):
    first = await shop_mall.shop.create_link(REF, T0)
    second = await shop_mall.shop.create_link(REF, T0)

    assert first.token != second.token
    assert (first.ref, first.expires_at) == (REF, T0 + timedelta(days=7))
    for made in (first, second):
        assert len(made.token) >= 22
        assert START_PAYLOAD.fullmatch(START_PREFIX + made.token)
    everything: list[str] = []
    async with shop_mall.db.read() as conn:
        for table in Base.metadata.sorted_tables:
            everything += [str(tuple(row)) for row in (await conn.execute(select(table))).all()]
    dump = "\n".join(everything)
    assert first.token not in dump
    assert second.token not in dump
    assert token_hash(first.token) in dump
    assert [(row[1], row[4]) for row in await stored(shop_mall)] == [(REF, None), (REF, None)]


@pytest.mark.parametrize("ref", ["", "with space", "x" * 65, "ünicode", None, 7])
async def test_a_malformed_ref_makes_no_link(shop_mall: Mall, ref: object):
    with pytest.raises(InvalidInput) as refused:
        await shop_mall.shop.create_link(ref, T0)  # type: ignore[arg-type]
    assert refused.value.details == {"field": "ref"}
    assert await stored(shop_mall) == []


async def test_the_days_a_link_lives_are_configured_and_checked(make_mall: MallFactory):
    mall = await make_mall(make_config("[shop]\nlink_token_days = 2\n"))
    assert (await mall.shop.create_link(REF, T0)).expires_at == T0 + timedelta(days=2)
    assert parse_config("").shop.link_token_days == 7
    for value, expected in (
        ("0", "shop.link_token_days = 0: expected an integer >= 1"),
        ("366", "shop.link_token_days = 366: expected a number of days from 1 to 365"),
        ("'7'", "shop.link_token_days = '7': expected an integer"),
    ):
        with pytest.raises(ConfigError) as bad:
            parse_config(f"[shop]\nlink_token_days = {value}", source="config.toml")
        assert f"config.toml: {expected}" in str(bad.value)


# --- Opening links ------------------------------------------------------------------------------


async def test_opening_a_link_links_the_ref_and_credits_what_was_parked(shop_mall: Mall):
    await shop_mall.shop.accept_order(order("A-1"), at("2026-03-01 10:00"))
    await shop_mall.shop.accept_order(order("A-2", "20.00"), at("2026-03-01 10:05"))
    link = await shop_mall.shop.create_link(REF, at("2026-03-01 10:10"))

    linked = await shop_mall.shop.use_link(CAROL, link.token, at("2026-03-01 11:00"))

    assert (linked.member_id, linked.kind) == (CAROL, "ref")
    assert [(o.order_id, o.points) for o in linked.credited] == [("A-1", 50), ("A-2", 20)]
    assert await balance(shop_mall, CAROL) == 100 + 70
    assert await shop_mall.shop.member_for({"ref": REF}) == CAROL
    assert await shop_mall.shop.parked_orders() == ()
    (row,) = await stored(shop_mall)
    assert (row[4], row[5]) == (CAROL, at("2026-03-01 11:00"))
    # Orders for the ref that come later are the member's at once.
    later = await shop_mall.shop.accept_order(order("A-3", "5.00"), at("2026-03-02 10:00"))
    assert (later.status, later.telegram_id) == ("credited", CAROL)
    assert (await shop_mall.check()).ok


async def test_the_same_member_again_is_answered_the_same_and_nothing_twice(shop_mall: Mall):
    await shop_mall.shop.accept_order(order("A-1"), at("2026-03-01 10:00"))
    link = await shop_mall.shop.create_link(REF, at("2026-03-01 10:10"))
    first = await shop_mall.shop.use_link(CAROL, link.token, at("2026-03-01 11:00"))

    again = await shop_mall.shop.use_link(CAROL, link.token, at("2026-03-01 11:01"))
    # Even once the link has expired: it was theirs.
    much_later = await shop_mall.shop.use_link(CAROL, link.token, at("2026-04-01 11:00"))

    assert again == first
    assert much_later == first
    assert [o.points for o in first.credited] == [50]
    assert await balance(shop_mall, CAROL) == 100 + 50
    (row,) = await stored(shop_mall)
    assert row[5] == at("2026-03-01 11:00")


async def test_another_member_cannot_use_a_link_that_was_used(shop_mall: Mall):
    await shop_mall.shop.accept_order(order("A-1"), at("2026-03-01 10:00"))
    link = await shop_mall.shop.create_link(REF, at("2026-03-01 10:10"))
    await shop_mall.shop.use_link(CAROL, link.token, at("2026-03-01 11:00"))

    with pytest.raises(LinkUsed) as refused:
        await shop_mall.shop.use_link(BOB, link.token, at("2026-03-01 11:05"))

    assert refused.value.code == "link_used"
    assert await balance(shop_mall, BOB) == 100
    assert await shop_mall.shop.member_for({"ref": REF}) == CAROL


async def test_a_link_opened_too_late_has_expired_and_changes_nothing(shop_mall: Mall):
    await shop_mall.shop.accept_order(order("A-1"), at("2026-03-01 10:00"))
    link = await shop_mall.shop.create_link(REF, at("2026-03-01 10:10"))

    with pytest.raises(LinkExpired) as refused:
        await shop_mall.shop.use_link(CAROL, link.token, link.expires_at)

    assert refused.value.code == "link_expired"
    assert refused.value.details == {"expires_at": link.expires_at.isoformat()}
    assert await shop_mall.shop.member_for({"ref": REF}) is None
    assert [p.order_id for p in await shop_mall.shop.parked_orders()] == ["A-1"]
    assert [row[4] for row in await stored(shop_mall)] == [None]
    # A new link from the shop works; one second before its end is in time.
    fresh = await shop_mall.shop.create_link(REF, at("2026-03-09 10:00"))
    linked = await shop_mall.shop.use_link(
        CAROL, fresh.token, fresh.expires_at - timedelta(seconds=1)
    )
    assert [o.order_id for o in linked.credited] == ["A-1"]


async def test_links_long_expired_are_forgotten_but_their_member_is_answered_the_same(
    shop_mall: Mall,
):
    await shop_mall.shop.accept_order(order("A-1"), at("2026-03-01 10:00"))
    used = await shop_mall.shop.create_link(REF, at("2026-03-01 10:10"))
    unused = await shop_mall.shop.create_link("other-customer", at("2026-03-01 10:10"))
    linked = await shop_mall.shop.use_link(CAROL, used.token, at("2026-03-01 10:20"))

    assert await shop_mall.shop.forget_links(used.expires_at + timedelta(days=29)) == 0
    assert await shop_mall.shop.forget_links(used.expires_at + timedelta(days=31)) == 2

    assert await stored(shop_mall) == []
    again = await shop_mall.shop.use_link(CAROL, used.token, used.expires_at + timedelta(days=32))
    assert again == linked
    with pytest.raises(LinkUnknown):
        await shop_mall.shop.use_link(BOB, unused.token, used.expires_at + timedelta(days=32))


@pytest.mark.parametrize(
    "token",
    [
        "A" * 32,  # well formed, never made
        "short",
        "x" * 63,
        "has space in it and is long enough",
        "",
        None,
    ],
)
async def test_a_token_nobody_made_is_unknown(shop_mall: Mall, token: object):
    await shop_mall.shop.create_link(REF, T0)
    with pytest.raises(LinkUnknown) as refused:
        await shop_mall.shop.use_link(BOB, token, T0)  # type: ignore[arg-type]
    assert refused.value.code == "link_unknown"


async def test_the_start_payload_with_its_prefix_is_not_the_token(shop_mall: Mall):
    link = await shop_mall.shop.create_link(REF, T0)
    with pytest.raises(LinkUnknown):
        await shop_mall.shop.use_link(BOB, START_PREFIX + link.token, T0)
    assert (await shop_mall.shop.use_link(BOB, link.token, T0)).member_id == BOB


async def test_a_ref_another_member_linked_is_refused_and_the_link_stays_unused(
    shop_mall: Mall,
):
    await shop_mall.shop.link_ref(CAROL, REF, T0)
    link = await shop_mall.shop.create_link(REF, T0)
    await shop_mall.shop.accept_order(order("A-1"), at("2026-03-01 10:00"))  # Carol's at once

    with pytest.raises(RefTaken):
        await shop_mall.shop.use_link(BOB, link.token, at("2026-03-01 11:00"))

    assert [row[4] for row in await stored(shop_mall)] == [None]
    assert await balance(shop_mall, BOB) == 100
    # The member the ref is linked to may still open it: nothing more to credit.
    opened = await shop_mall.shop.use_link(CAROL, link.token, at("2026-03-01 11:05"))
    assert (opened.member_id, opened.credited) == (CAROL, ())
    assert await balance(shop_mall, CAROL) == 100 + 50


async def test_a_ref_linked_by_one_link_is_refused_by_another_members_other_link(
    shop_mall: Mall,
):
    first = await shop_mall.shop.create_link(REF, T0)
    second = await shop_mall.shop.create_link(REF, T0)
    await shop_mall.shop.use_link(CAROL, first.token, T0)
    with pytest.raises(RefTaken):
        await shop_mall.shop.use_link(BOB, second.token, T0)


async def test_someone_who_is_not_a_member_cannot_use_a_link(shop_mall: Mall):
    link = await shop_mall.shop.create_link(REF, T0)
    with pytest.raises(UnknownMember):
        await shop_mall.shop.use_link(4004, link.token, T0)
    assert (await shop_mall.shop.use_link(BOB, link.token, T0)).member_id == BOB


# --- At once ------------------------------------------------------------------------------------


async def test_ten_opens_at_once_by_the_same_member_credit_once(make_mall: MallFactory):
    malls = [await make_mall(make_config(SHOP)) for _ in range(4)]
    await malls[0].members.join(CAROL, "Carol", "en", T0)
    now = at("2026-03-01 10:00")
    for n in range(3):
        await malls[0].shop.accept_order(order(f"A-{n}", "10.00"), now)
    link = await malls[0].shop.create_link(REF, now)

    results = await asyncio.gather(
        *(malls[n % 4].shop.use_link(CAROL, link.token, now) for n in range(10))
    )

    assert len(set(results)) == 1
    assert [o.points for o in results[0].credited] == [10, 10, 10]
    assert await balance(malls[0], CAROL) == 100 + 30
    assert (await malls[0].check()).ok


async def test_two_members_opening_one_link_at_once_one_gets_it(make_mall: MallFactory):
    malls = [await make_mall(make_config(SHOP)) for _ in range(4)]
    await malls[0].members.join(BOB, "Bob", "en", T0)
    await malls[0].members.join(CAROL, "Carol", "en", T0)
    now = at("2026-03-01 10:00")
    await malls[0].shop.accept_order(order("A-1", "10.00"), now)
    link = await malls[0].shop.create_link(REF, now)
    who = [BOB if n % 2 else CAROL for n in range(10)]

    results = await asyncio.gather(
        *(malls[n % 4].shop.use_link(member, link.token, now) for n, member in enumerate(who)),
        return_exceptions=True,
    )

    winners = {r.member_id for r in results if not isinstance(r, BaseException)}
    assert len(winners) == 1
    (winner,) = winners
    losers = [r for r, member in zip(results, who, strict=True) if member != winner]
    assert all(isinstance(r, LinkUsed) for r in losers), losers
    assert all(not isinstance(r, BaseException) or isinstance(r, MallError) for r in results)
    assert await balance(malls[0], winner) == 100 + 10
    assert await balance(malls[0], BOB if winner == CAROL else CAROL) == 100
    assert (await malls[0].check()).ok


# --- Privacy ------------------------------------------------------------------------------------


async def test_the_links_a_member_used_are_exported_and_forgotten_on_erasure(shop_mall: Mall):
    link = await shop_mall.shop.create_link(REF, T0)
    unused = await shop_mall.shop.create_link("someone-else", T0)
    await shop_mall.shop.use_link(BOB, link.token, T0)

    exported = await shop_mall.privacy.export(BOB, T0)
    assert [row["ref"] for row in exported["shop_link_tokens_used"]] == [REF]
    await shop_mall.privacy.erase(BOB, at("2026-03-02 08:00"))

    assert [row[1] for row in await stored(shop_mall)] == ["someone-else"]
    with pytest.raises(LinkUnknown):
        await shop_mall.shop.use_link(CAROL, link.token, at("2026-03-02 09:00"))
    opened = await shop_mall.shop.use_link(CAROL, unused.token, at("2026-03-02 09:00"))
    assert (opened.member_id, opened.credited) == (CAROL, ())
    assert (await shop_mall.check()).ok
