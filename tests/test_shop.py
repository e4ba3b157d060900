"""The shop sends orders and refunds by itself; members link their shop identity; points pay at
the shop's checkout (issue 13, the core)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from core.commerce.shop import OrderIn, OrderLine
from core.config import parse_config
from core.config_errors import ConfigError
from core.db.models import Base
from core.errors import (
    Frozen,
    HoldNotPending,
    InvalidPhone,
    KeyReused,
    OrderConflict,
    PhoneMatchingOff,
    RefTaken,
    RefundExceedsOrder,
    UnknownApiKey,
    UnknownCustomer,
    WrongCurrency,
)
from core.mall import Mall
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

BOB, CAROL, ADMIN = 2002, 3003, 1000
PHONE = "+8613800138000"
HASH_KEY = "k" * 40
SHOP = f"""
[shop]
phone_hash_key = "{HASH_KEY}"
park_days = 30

[earning.category_multipliers]
tea = 2
"""
T0 = at("2026-03-01 08:00")


@pytest.fixture
async def shop_mall(make_mall: MallFactory) -> Mall:
    return await make_mall(make_config(SHOP))


def order(
    order_id: str = "A-1001",
    customer: dict[str, object] | None = None,
    total: str = "128.50",
    lines: tuple[OrderLine, ...] = (),
    currency: str = "CNY",
) -> OrderIn:
    return OrderIn(
        order_id=order_id,
        customer=customer or {"telegram_id": BOB},
        total=Decimal(total),
        currency=currency,
        lines=lines,
    )


async def balance(mall: Mall, member_id: int) -> int:
    return (await mall.statements.balance(member_id)).balance


# --- Keys ---------------------------------------------------------------------------------------


async def test_a_key_is_created_listed_used_and_revoked(mall: Mall):
    created = await mall.shop_keys.create_key("Online shop", T0, actor_id=ADMIN)
    assert created.key_id.startswith("pk_")
    assert len(created.key_id) == 19
    assert len(created.secret) >= 43
    assert await mall.shop_keys.secret_for(created.key_id) == created.secret
    (listed,) = await mall.shop_keys.list_keys()
    assert (listed.key_id, listed.name, listed.revoked_at) == (created.key_id, "Online shop", None)
    assert not hasattr(listed, "secret")
    await mall.shop_keys.mark_used(created.key_id, T0 + timedelta(minutes=5))
    revoked = await mall.shop_keys.revoke_key(
        created.key_id, T0 + timedelta(hours=1), actor_id=ADMIN
    )
    assert revoked.revoked_at == T0 + timedelta(hours=1)
    assert revoked.last_used_at == T0 + timedelta(minutes=5)
    assert await mall.shop_keys.revoke_key(created.key_id, T0 + timedelta(hours=2)) == revoked
    assert await mall.shop_keys.secret_for(created.key_id) is None
    assert await mall.shop_keys.secret_for("pk_nobody") is None
    with pytest.raises(UnknownApiKey):
        await mall.shop_keys.revoke_key("pk_nobody", T0)
    actions = [entry.action for entry in await mall.audit.latest()]
    assert actions == ["shop.key_revoke", "shop.key_create"]


# --- Orders -------------------------------------------------------------------------------------


async def test_an_order_for_a_member_earns_by_the_earning_rules(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    lines = (
        OrderLine("TEA-1", "tea", Decimal("88.50")),
        OrderLine("CUP-2", "cups", Decimal("40.00"), 2),
    )
    outcome = await shop_mall.shop.accept_order(order(lines=lines), at("2026-03-01 10:00"))
    # tea: 88.50 x 2 = 177 points; cups: 40 at 1 point a yuan.
    assert (outcome.status, outcome.points, outcome.telegram_id) == ("credited", 217, BOB)
    assert await balance(shop_mall, BOB) == 100 + 217
    assert (await shop_mall.purchases.order("A-1001")).category == "cups"
    assert (await shop_mall.purchases.order("A-1001:2")).points == 177


async def test_the_same_order_twice_earns_once_and_another_body_conflicts(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    first = await shop_mall.shop.accept_order(order(), at("2026-03-01 10:00"))
    again = await shop_mall.shop.accept_order(order(), at("2026-03-01 10:05"))
    assert first == again
    assert first.points == 128
    with pytest.raises(OrderConflict) as refused:
        await shop_mall.shop.accept_order(order(total="999.00"), at("2026-03-01 10:06"))
    assert refused.value.code == "order_conflict"
    assert isinstance(refused.value, KeyReused)
    with pytest.raises(WrongCurrency):
        await shop_mall.shop.accept_order(order("A-2", currency="USD"), at("2026-03-01 10:07"))
    assert await balance(shop_mall, BOB) == 100 + 128


async def test_twenty_deliveries_at_once_credit_once(make_mall: MallFactory):
    malls = [await make_mall(make_config(SHOP)) for _ in range(4)]
    await malls[0].members.join(BOB, "Bob", "en", T0)
    now = at("2026-03-01 10:00")
    outcomes = await asyncio.gather(
        *(malls[n % 4].shop.accept_order(order(), now) for n in range(20))
    )
    assert len(set(outcomes)) == 1
    assert outcomes[0].points == 128
    assert await balance(malls[0], BOB) == 100 + 128
    assert (await malls[0].check()).ok


# --- Refunds ------------------------------------------------------------------------------------


async def test_a_refund_takes_back_its_share_and_never_more_than_the_order(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    await shop_mall.shop.accept_order(order(total="100.00"), at("2026-03-01 10:00"))
    now = at("2026-03-02 10:00")
    refund = await shop_mall.shop.refund("A-1001", "R-1", Decimal("25.00"), now)
    assert (refund.status, refund.points_taken, refund.unrecovered) == ("applied", 25, 0)
    assert await shop_mall.shop.refund("A-1001", "R-1", Decimal("25.00"), now) == refund
    with pytest.raises(RefundExceedsOrder):
        await shop_mall.shop.refund("A-1001", "R-2", "75.01", now)
    last = await shop_mall.shop.refund("A-1001", "R-3", "75.00", now)
    assert last.points_taken == 75
    assert await balance(shop_mall, BOB) == 100
    assert (await shop_mall.check()).ok


async def test_a_refund_of_points_already_spent_takes_what_is_there(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    await shop_mall.shop.accept_order(order(total="500.00"), at("2026-03-01 10:00"))
    spent = await shop_mall.shop.hold_for_checkout("H-1", {"telegram_id": BOB}, 520, T0)
    await shop_mall.shop.capture(spent.hold_ref, "A-2000", at("2026-03-01 10:01"))
    refund = await shop_mall.shop.refund("A-1001", "R-1", "500.00", at("2026-03-02 10:00"))
    assert (refund.points_taken, refund.unrecovered) == (80, 420)
    assert await balance(shop_mall, BOB) == 0
    assert (await shop_mall.purchases.order("A-1001")).points_unrecovered == 420
    assert (await shop_mall.check()).ok


async def test_a_refund_before_its_order_is_netted_off_when_the_order_comes(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    early = await shop_mall.shop.refund("A-9", "R-1", "30.00", at("2026-03-01 09:00"))
    assert (early.status, early.points_taken) == ("pending", 0)
    outcome = await shop_mall.shop.accept_order(
        order("A-9", total="100.00"), at("2026-03-01 10:00")
    )
    assert (outcome.status, outcome.points, outcome.refunded_minor) == ("credited", 70, 3000)
    with pytest.raises(RefundExceedsOrder):
        await shop_mall.shop.refund("A-9", "R-2", "80.00", at("2026-03-01 11:00"))
    rest = await shop_mall.shop.refund("A-9", "R-3", "70.00", at("2026-03-01 11:00"))
    assert rest.points_taken == 70
    assert await balance(shop_mall, BOB) == 100


async def test_refunds_before_the_order_never_exceed_it(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    await shop_mall.shop.refund("A-9", "R-1", "60.00", at("2026-03-01 09:00"))
    await shop_mall.shop.refund("A-9", "R-2", "60.00", at("2026-03-01 09:01"))
    outcome = await shop_mall.shop.accept_order(
        order("A-9", total="100.00"), at("2026-03-01 10:00")
    )
    assert (outcome.points, outcome.refunded_minor) == (40, 6000)
    async with shop_mall.db.read() as conn:
        statuses = dict(
            (await conn.execute(text("SELECT refund_id, status FROM shop_refunds"))).all()
        )
    assert statuses == {"R-1": "netted", "R-2": "exceeded"}


# --- Linking and parked orders ------------------------------------------------------------------


async def test_an_order_for_an_unknown_phone_is_parked_and_credited_on_link(shop_mall: Mall):
    parked = await shop_mall.shop.accept_order(
        order(customer={"phone": PHONE}, total="100.00"), at("2026-03-01 10:00")
    )
    assert (parked.status, parked.points, parked.telegram_id) == ("parked", 0, None)
    await shop_mall.shop.refund("A-1001", "R-1", "20.00", at("2026-03-01 11:00"))
    await shop_mall.members.join(BOB, "Bob", "en", at("2026-03-02 08:00"))
    assert await shop_mall.shop.credit_parked(BOB, at("2026-03-02 08:00")) == []
    # Telegram gives the contact's number without the "+".
    linked = await shop_mall.shop.link_phone(BOB, "8613800138000", at("2026-03-02 09:00"))
    (credited,) = linked.credited
    assert (credited.order_id, credited.status, credited.points) == ("A-1001", "credited", 80)
    assert await balance(shop_mall, BOB) == 100 + 80
    again = await shop_mall.shop.link_phone(BOB, PHONE, at("2026-03-02 09:05"))
    assert again.credited == ()
    assert await shop_mall.shop.member_for({"phone": "13800138000"}) == BOB
    now_direct = await shop_mall.shop.accept_order(
        order("A-1002", customer={"phone": PHONE}, total="10.00"), at("2026-03-02 10:00")
    )
    assert (now_direct.status, now_direct.points) == ("credited", 10)
    assert (await shop_mall.check()).ok


async def test_a_phone_is_stored_only_as_a_keyed_hash(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    await shop_mall.shop.accept_order(order(customer={"phone": PHONE}), at("2026-03-01 10:00"))
    await shop_mall.shop.link_phone(BOB, PHONE, at("2026-03-01 11:00"))
    everything = []
    async with shop_mall.db.read() as conn:
        for table in Base.metadata.sorted_tables:
            everything += [str(tuple(row)) for row in (await conn.execute(select(table))).all()]
    dump = "\n".join(everything)
    assert "13800138000" not in dump
    assert "138 0013 8000" not in dump
    assert "phone:" in dump  # the hash is there


async def test_phones_are_refused_without_a_hash_key(mall: Mall):
    await mall.members.join(BOB, "Bob", "en", T0)
    with pytest.raises(PhoneMatchingOff):
        await mall.shop.link_phone(BOB, PHONE, T0)
    with pytest.raises(PhoneMatchingOff):
        await mall.shop.accept_order(order(customer={"phone": PHONE}), T0)


async def test_a_malformed_phone_is_refused(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    with pytest.raises(InvalidPhone):
        await shop_mall.shop.link_phone(BOB, "12", T0)


async def test_a_ref_links_once_and_credits_what_was_parked(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    await shop_mall.members.join(CAROL, "Carol", "en", T0)
    ref = {"ref": "shop-customer-7"}
    await shop_mall.shop.accept_order(order(customer=ref, total="50.00"), at("2026-03-01 10:00"))
    linked = await shop_mall.shop.link_ref(CAROL, "shop-customer-7", at("2026-03-01 11:00"))
    assert [o.points for o in linked.credited] == [50]
    assert (
        await shop_mall.shop.link_ref(CAROL, "shop-customer-7", at("2026-03-01 12:00"))
    ).credited == ()
    with pytest.raises(RefTaken):
        await shop_mall.shop.link_ref(BOB, "shop-customer-7", at("2026-03-01 12:00"))
    assert await shop_mall.shop.member_for(ref) == CAROL


async def test_an_order_for_a_telegram_id_that_joins_later_is_credited_on_joining(
    shop_mall: Mall,
):
    parked = await shop_mall.shop.accept_order(order(total="20.00"), at("2026-03-01 10:00"))
    assert parked.status == "parked"
    await shop_mall.members.join(BOB, "Bob", "en", at("2026-03-03 08:00"))
    (credited,) = await shop_mall.shop.credit_parked(BOB, at("2026-03-03 08:00"))
    assert (credited.points, credited.telegram_id) == (20, BOB)
    assert await shop_mall.shop.credit_parked(BOB, at("2026-03-03 08:01")) == []


async def test_parked_orders_expire_and_are_reported(shop_mall: Mall):
    await shop_mall.shop.accept_order(order(total="20.00"), at("2026-03-01 10:00"))
    assert [p.order_id for p in await shop_mall.shop.parked_orders()] == ["A-1001"]
    assert await shop_mall.shop.expire_parked(at("2026-03-31 09:59")) == []
    (expired,) = await shop_mall.shop.expire_parked(at("2026-03-31 10:00"))
    assert (expired.order_id, expired.customer, expired.total_minor) == (
        "A-1001",
        f"telegram_id:{BOB}",
        2000,
    )
    await shop_mall.members.join(BOB, "Bob", "en", at("2026-04-01 08:00"))
    assert await shop_mall.shop.credit_parked(BOB, at("2026-04-01 08:00")) == []
    assert await shop_mall.shop.expire_parked(at("2026-04-01 10:00")) == []


async def test_export_shows_the_links_and_erasure_forgets_them(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    await shop_mall.shop.link_phone(BOB, PHONE, T0)
    await shop_mall.shop.link_ref(BOB, "shop-customer-7", T0)
    await shop_mall.shop.accept_order(order(customer={"ref": "shop-customer-7"}), T0)
    exported = await shop_mall.privacy.export(BOB, T0)
    assert sorted(link["kind"] for link in exported["shop_links"]) == ["phone", "ref"]
    assert [o["order_id"] for o in exported["shop_orders"]] == ["A-1001"]
    await shop_mall.privacy.erase(BOB, at("2026-03-02 08:00"))
    assert await shop_mall.shop.member_for({"phone": PHONE}) is None
    assert await shop_mall.shop.member_for({"ref": "shop-customer-7"}) is None
    later = await shop_mall.shop.accept_order(
        order("A-2", customer={"phone": PHONE}), at("2026-03-02 09:00")
    )
    assert later.status == "parked"
    assert (await shop_mall.check()).ok


# --- Checkout holds -----------------------------------------------------------------------------


async def test_checkout_holds_are_captured_released_and_timed_out(make_mall: MallFactory):
    mall = await make_mall(make_config(SHOP + "\n[mall]\npoint_value_minor = 5\n"))
    await mall.members.join(BOB, "Bob", "en", T0)  # 100 points
    bob = {"telegram_id": BOB}
    held = await mall.shop.hold_for_checkout("H-1", bob, 30, T0)
    assert (held.points, held.value_minor, held.status) == (30, 150, "held")
    assert held.expires_at == T0 + timedelta(minutes=30)
    assert await mall.shop.hold_for_checkout("H-1", bob, 30, T0) == held
    captured = await mall.shop.capture("H-1", "A-1002", T0 + timedelta(minutes=1))
    assert (captured.status, captured.order_id) == ("captured", "A-1002")
    assert await mall.shop.capture("H-1", "A-1002", T0 + timedelta(minutes=2)) == captured
    with pytest.raises(HoldNotPending):
        await mall.shop.release("H-1", T0 + timedelta(minutes=3))
    assert await balance(mall, BOB) == 70

    await mall.shop.hold_for_checkout("H-2", bob, 20, T0)
    released = await mall.shop.release("H-2", T0 + timedelta(minutes=1))
    assert released.status == "released"
    assert await mall.shop.release("H-2", T0 + timedelta(minutes=2)) == released
    assert await balance(mall, BOB) == 70

    await mall.shop.hold_for_checkout("H-3", bob, 50, T0)
    assert await balance(mall, BOB) == 20
    timed_out = await mall.release_expired(T0 + timedelta(minutes=31))
    assert len(timed_out.holds) == 1
    assert (await mall.shop.checkout_hold("H-3")).status == "released"
    with pytest.raises(HoldNotPending):
        await mall.shop.capture("H-3", "A-1003", T0 + timedelta(minutes=32))
    assert (await mall.shop.release("H-3", T0 + timedelta(minutes=33))).status == "released"
    assert await balance(mall, BOB) == 70
    with pytest.raises(UnknownCustomer):
        await mall.shop.hold_for_checkout("H-4", {"telegram_id": CAROL}, 10, T0)
    assert (await mall.check()).ok


# --- CSV import ---------------------------------------------------------------------------------

HEADER = "order_id,customer_phone,telegram_id,total,currency,category,placed_at\n"


async def test_a_csv_with_bad_rows_imports_nothing_and_names_the_lines(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    bad = HEADER + (
        f"P-1,,{BOB},10.00,CNY,tea,2026-03-01T10:00:00\n"
        f"P-2,,{BOB},ten,CNY,,\n"
        f"P-3,{PHONE},{BOB},5.00,CNY,,\n"
        f"P-4,,{BOB},5.00,USD,,\n"
        f"P-1,,{BOB},10.00,CNY,tea,\n"
        f"P:5,,{BOB},5.00,CNY,,\n"
    )
    report = await shop_mall.shop.import_orders_csv(bad, at("2026-03-01 12:00"))
    assert not report.ok
    assert report.outcomes == ()
    assert [p.line for p in report.problems] == [3, 4, 5, 6, 7]
    assert "total" in report.problems[0].message
    assert "line 2" in report.problems[3].message
    assert await balance(shop_mall, BOB) == 100
    async with shop_mall.db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM shop_orders"))).scalar_one() == 0


async def test_a_good_csv_imports_once(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    good = HEADER + (f"P-1,,{BOB},10.00,CNY,tea,2026-03-01T10:00:00\nP-2,{PHONE},,5.00,CNY,,\n")
    report = await shop_mall.shop.import_orders_csv(good, at("2026-03-01 12:00"))
    assert report.ok
    assert (report.rows, report.credited, report.parked) == (2, 1, 1)
    assert await balance(shop_mall, BOB) == 100 + 20
    again = await shop_mall.shop.import_orders_csv(good, at("2026-03-01 13:00"))
    assert again.ok
    assert again.outcomes == report.outcomes
    assert (report.known, again.known) == (frozenset(), {"P-1", "P-2"})
    changed = good.replace("10.00", "11.00")
    refused = await shop_mall.shop.import_orders_csv(changed, at("2026-03-01 14:00"))
    assert [p.line for p in refused.problems] == [2]
    assert await balance(shop_mall, BOB) == 100 + 20


async def test_a_csv_without_the_columns_says_which(shop_mall: Mall):
    report = await shop_mall.shop.import_orders_csv("order_id,total\nA,1\n", T0)
    assert [p.line for p in report.problems] == [1]
    assert "customer_phone" in report.problems[0].message


async def test_orders_and_a_link_at_once_leave_nothing_parked(make_mall: MallFactory):
    malls = [await make_mall(make_config(SHOP)) for _ in range(3)]
    await malls[0].members.join(BOB, "Bob", "en", T0)
    now = at("2026-03-01 10:00")
    orders = [
        malls[n % 3].shop.accept_order(
            order(f"A-{n}", customer={"phone": PHONE}, total="10.00"), now
        )
        for n in range(12)
    ]
    link = malls[1].shop.link_phone(BOB, PHONE, now)
    await asyncio.gather(*orders[:6], link, *orders[6:])
    assert await malls[0].shop.parked_orders() == ()
    assert await balance(malls[0], BOB) == 100 + 12 * 10
    assert (await malls[0].check()).ok


async def test_a_frozen_members_order_is_refused_as_a_purchase_would_be(shop_mall: Mall):
    await shop_mall.members.join(BOB, "Bob", "en", T0)
    await shop_mall.members.freeze(BOB, "checking", actor_id=ADMIN, now=T0)
    with pytest.raises(Frozen):
        await shop_mall.shop.accept_order(order(), at("2026-03-01 10:00"))
    async with shop_mall.db.read() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM shop_orders"))).scalar_one() == 0


def test_the_shop_settings_name_their_mistakes():
    with pytest.raises(ConfigError) as short:
        parse_config('[shop]\nphone_hash_key = "too-short-a-secret"')
    assert "shop.phone_hash_key = <hidden>" in str(short.value)
    assert "too-short" not in str(short.value)
    with pytest.raises(ConfigError) as region:
        parse_config('[shop]\nphone_region = "XX"')
    assert "shop.phone_region = 'XX'" in str(region.value)
    config = parse_config("", {"POINTSMALL_PHONE_HASH_KEY": HASH_KEY})
    assert config.shop.phone_hash_key is not None
    assert config.shop.phone_hash_key.get_secret_value() == HASH_KEY
