"""What the admin reads about the shop: the latest orders and refunds, and the points refunds
could not take back (core.commerce.shop_views), on both databases."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from core.commerce.shop import OrderIn
from core.commerce.shop_orders import Source
from core.commerce.shop_views import MemberName
from core.errors import InvalidInput
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

BOB, CAROL, ADMIN = 2002, 3003, 1000
PHONE = "+8613800138000"
SHOP = f"""
[shop]
phone_hash_key = "{"k" * 40}"
park_days = 30
"""
T0 = at("2026-03-01 08:00")


@pytest.fixture
async def shop_mall(make_mall: MallFactory) -> Mall:
    mall = await make_mall(make_config(SHOP))
    await mall.members.join(BOB, "Bob", "en", T0, username="bob")
    return mall


def order(
    order_id: str, customer: dict[str, object], total: str, source: Source = "api"
) -> OrderIn:
    return OrderIn(
        order_id=order_id,
        customer=customer,
        total=Decimal(total),
        currency="CNY",
        source=source,
    )


async def test_orders_are_listed_newest_first_with_their_member_or_customer(
    shop_mall: Mall,
) -> None:
    shop = shop_mall.shop
    await shop.accept_order(order("A-1", {"telegram_id": BOB}, "100.00"), at("2026-03-01 10:00"))
    await shop.accept_order(
        order("A-2", {"telegram_id": CAROL}, "20.50", "shopify"), at("2026-03-01 11:00")
    )
    await shop.accept_order(
        order("A-3", {"phone": PHONE}, "5.00", "woocommerce"), at("2026-03-01 12:00")
    )
    await shop.accept_order(order("A-4", {"ref": "cust-7"}, "7.00", "csv"), at("2026-03-01 13:00"))
    await shop.refund("A-9", "R-1", "3.00", at("2026-03-01 14:00"))  # only a refund: no order

    listed = await shop_mall.shop_views.recent_orders(15)
    assert [o.order_id for o in listed] == ["A-4", "A-3", "A-2", "A-1"]
    a4, a3, a2, a1 = listed
    assert (a1.status, a1.source, a1.total_minor, a1.points) == ("credited", "api", 10000, 100)
    assert a1.member == MemberName(BOB, "Bob", "bob")
    assert a1.customer == f"telegram_id:{BOB}"
    assert a1.received_at == at("2026-03-01 10:00")
    assert a1.parked_until is None
    assert (a2.status, a2.source, a2.member, a2.customer) == (
        "parked",
        "shopify",
        None,
        f"telegram_id:{CAROL}",
    )
    assert a2.parked_until == at("2026-03-01 11:00") + timedelta(days=30)
    assert (a3.customer, a3.source) == ("phone", "woocommerce")
    assert (a4.customer, a4.source, a4.points) == ("ref:cust-7", "csv", 0)
    assert [o.order_id for o in await shop_mall.shop_views.recent_orders(2)] == ["A-4", "A-3"]


async def test_expired_and_refunded_orders_say_so(shop_mall: Mall) -> None:
    shop = shop_mall.shop
    await shop.accept_order(order("B-1", {"telegram_id": CAROL}, "10.00"), T0)
    await shop.refund("B-2", "R-1", "4.00", T0)  # the refund comes first, for the whole order
    await shop.accept_order(order("B-2", {"telegram_id": CAROL}, "4.00"), T0 + timedelta(hours=1))
    await shop.expire_parked(T0 + timedelta(days=31))
    listed = {o.order_id: o for o in await shop_mall.shop_views.recent_orders()}
    assert listed["B-1"].status == "expired"
    assert (listed["B-2"].status, listed["B-2"].refunded_minor) == ("refunded", 400)


async def test_refunds_show_what_they_could_not_take_back(shop_mall: Mall) -> None:
    shop = shop_mall.shop
    await shop.accept_order(order("A-1", {"telegram_id": BOB}, "500.00"), at("2026-03-01 10:00"))
    spent = await shop.hold_for_checkout("H-1", {"telegram_id": BOB}, 520, T0)
    await shop.capture(spent.hold_ref, "A-2000", at("2026-03-01 10:01"))
    await shop.refund("A-1", "R-1", "500.00", at("2026-03-02 10:00"))
    await shop.accept_order(order("A-2", {"ref": "cust-7"}, "30.00"), at("2026-03-02 11:00"))
    await shop.refund("A-2", "R-2", "10.00", at("2026-03-02 12:00"))
    await shop.refund("A-3", "R-3", "5.00", at("2026-03-02 13:00"))

    refunds = await shop_mall.shop_views.recent_refunds(15)
    assert [(r.order_id, r.refund_id, r.status) for r in refunds] == [
        ("A-3", "R-3", "pending"),
        ("A-2", "R-2", "netted"),
        ("A-1", "R-1", "applied"),
    ]
    applied = refunds[2]
    assert (applied.amount_minor, applied.points_taken, applied.unrecovered) == (50000, 80, 420)
    assert applied.member == MemberName(BOB, "Bob", "bob")
    assert applied.received_at == at("2026-03-02 10:00")
    assert refunds[0].member is None
    assert refunds[1].member is None
    assert len(await shop_mall.shop_views.recent_refunds(1)) == 1

    summary = await shop_mall.shop_views.summary()
    assert (summary.orders, summary.credited, summary.parked) == (2, 1, 1)
    assert (summary.refunds, summary.unrecovered_points, summary.refunds_unrecovered) == (
        3,
        420,
        1,
    )


async def test_the_summary_of_an_empty_shop_and_its_keys(shop_mall: Mall) -> None:
    empty = await shop_mall.shop_views.summary()
    assert (empty.orders, empty.refunds, empty.unrecovered_points, empty.active_keys) == (
        0,
        0,
        0,
        0,
    )
    first = await shop_mall.shop_keys.create_key("web", T0, actor_id=ADMIN)
    await shop_mall.shop_keys.create_key("pos", T0, actor_id=ADMIN)
    await shop_mall.shop_keys.revoke_key(first.key_id, T0, actor_id=ADMIN)
    assert (await shop_mall.shop_views.summary()).active_keys == 1
    assert await shop_mall.shop_views.recent_orders() == ()
    assert await shop_mall.shop_views.recent_refunds() == ()


async def test_an_erased_member_is_listed_without_a_name(shop_mall: Mall) -> None:
    await shop_mall.shop.accept_order(order("A-1", {"telegram_id": BOB}, "10.00"), T0)
    await shop_mall.privacy.erase(BOB, T0 + timedelta(hours=1))
    (listed,) = await shop_mall.shop_views.recent_orders()
    assert listed.member is not None
    assert (listed.member.name, listed.member.username) == (None, None)
    assert listed.member.member_id != BOB  # erasure leaves a surrogate, not their id


async def test_a_limit_out_of_range_is_refused(mall: Mall) -> None:
    for limit in (0, 101, True):
        with pytest.raises(InvalidInput):
            await mall.shop_views.recent_orders(limit)
        with pytest.raises(InvalidInput):
            await mall.shop_views.recent_refunds(limit)
