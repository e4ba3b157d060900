"""Shopify and WooCommerce webhooks: signatures and bodies, on the platforms' documented samples.

The samples and where they come from: tests/fixtures/README.md.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.platforms import shopify, woocommerce
from core.platforms.events import Line, OrderEvent, PayloadError, RefundEvent, load_json

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "hush-9f2c"  # any secret: the samples' real secrets are not published


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sample(name: str) -> dict[str, Any]:
    payload = json.loads(raw(name))
    assert isinstance(payload, dict)
    return payload


def documented_signature(secret: str, body: bytes) -> str:
    """Both platforms' documented algorithm: base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


SHOPIFY_WEBHOOK = "shopify/orders_paid_webhook_sample.json"
SHOPIFY_ORDER = "shopify/order_450789469.json"
SHOPIFY_REFUND = "shopify/refund_509562969.json"
WC_PROCESSING = "woocommerce/order_727_processing.json"
WC_COMPLETED = "woocommerce/order_727_completed.json"
WC_WITH_REFUNDS = "woocommerce/order_723_completed_with_refunds.json"

VERIFIERS = [
    pytest.param(shopify.verify, SHOPIFY_WEBHOOK, id="shopify"),
    pytest.param(woocommerce.verify, WC_COMPLETED, id="woocommerce"),
]
Verify = Callable[[str, bytes, str | None], bool]


# Signatures


@pytest.mark.parametrize(("verify", "name"), VERIFIERS)
def test_the_documented_signature_of_the_raw_body_is_accepted(verify: Verify, name: str) -> None:
    body = raw(name)
    assert verify(SECRET, body, documented_signature(SECRET, body))


@pytest.mark.parametrize(("verify", "name"), VERIFIERS)
def test_a_signature_for_another_secret_or_body_is_refused(verify: Verify, name: str) -> None:
    body = raw(name)
    good = documented_signature(SECRET, body)
    assert not verify("another-secret", body, good)
    assert not verify(SECRET, body.replace(b'"USD"', b'"EUR"'), good)
    # Re-serialising the parsed JSON changes the bytes: only the raw body is signed.
    reserialised = json.dumps(json.loads(body)).encode()
    assert reserialised != body
    assert not verify(SECRET, reserialised, good)


@pytest.mark.parametrize(("verify", "name"), VERIFIERS)
@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "not base64 at all!",
        "é" * 44,
        "\x00",
        "sha256=",
    ],
)
def test_missing_or_garbage_signatures_are_refused(
    verify: Verify, name: str, header: str | None
) -> None:
    assert verify(SECRET, raw(name), header) is False


@pytest.mark.parametrize(("verify", "name"), VERIFIERS)
def test_near_misses_are_refused(verify: Verify, name: str) -> None:
    body = raw(name)
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    good = base64.b64encode(digest).decode()
    flipped = ("A" if good[0] != "A" else "B") + good[1:]
    for header in (
        flipped,
        good[:-1],
        good + "=",
        digest.hex(),  # hex instead of base64
        base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode(),  # no key
    ):
        assert not verify(SECRET, body, header), header


@pytest.mark.parametrize(("verify", "name"), VERIFIERS)
def test_an_empty_secret_accepts_nothing(verify: Verify, name: str) -> None:
    body = raw(name)
    assert not verify("", body, documented_signature("", body))


@given(secret=st.text(max_size=40), body=st.binary(max_size=200), header=st.text(max_size=100))
def test_shopify_verify_never_raises(secret: str, body: bytes, header: str) -> None:
    assert shopify.verify(secret, body, header) in (True, False)


@given(secret=st.text(max_size=40), body=st.binary(max_size=200), header=st.text(max_size=100))
def test_woocommerce_verify_never_raises(secret: str, body: bytes, header: str) -> None:
    assert woocommerce.verify(secret, body, header) in (True, False)


# Shopify bodies


def test_shopify_orders_paid_webhook_sample() -> None:
    event = shopify.parse_order(sample(SHOPIFY_WEBHOOK))
    assert event == OrderEvent(
        order_id="820982911946154508",
        total=Decimal("403.00"),
        currency="USD",
        phone="555-555-BILL",  # customer.phone is null: the billing phone
        telegram_id=None,
        lines=(
            Line(sku="IPOD2008PINK", category="", amount=Decimal("199.00"), quantity=1),
            # 199.00 less the 5.00 discount allocated to this line
            Line(sku="IPOD2008PINK", category="", amount=Decimal("194.00"), quantity=1),
        ),
        placed_at=datetime(2019, 6, 4, 13, 53, 6, tzinfo=timezone(timedelta(hours=-4))),
        display_name="#9999",
    )
    assert str(event.total) == "403.00"
    assert sum(line.amount for line in event.lines) == Decimal("393.00")  # subtotal_price


def test_the_order_id_keeps_every_digit() -> None:
    # 820982911946154508 is above 2**53: a float would have made it ...500.
    assert shopify.parse_order(sample(SHOPIFY_WEBHOOK)).order_id == "820982911946154508"


def test_shopify_order_resource_sample() -> None:
    event = shopify.parse_order(sample(SHOPIFY_ORDER))
    assert event.order_id == "450789469"
    assert event.display_name == "#1001"
    assert event.total == Decimal("409.94")
    assert event.currency == "USD"
    assert event.phone == "555-625-1199"
    assert event.telegram_id is None  # its note attributes are an engraving and a colour
    assert [line.sku for line in event.lines] == ["IPOD2008GREEN", "IPOD2008RED", "IPOD2008BLACK"]
    assert all(line.amount == Decimal("199.00") for line in event.lines)
    assert event.placed_at == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)


def test_shopify_telegram_id_note_attribute_and_phones() -> None:
    order = sample(SHOPIFY_ORDER)
    order["note_attributes"].append({"name": "telegram_id", "value": "42"})
    order["customer"]["phone"] = "+8613800138000"
    order["processed_at"] = "2026-12-06T10:00:00+08:00"
    order["line_items"][0]["product_type"] = "tea"
    order["line_items"][0]["quantity"] = 3
    event = shopify.parse_order(order)
    assert event.telegram_id == 42
    assert event.phone == "+8613800138000"  # the customer's phone comes first
    assert event.placed_at == datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    assert event.lines[0] == Line("IPOD2008GREEN", "tea", Decimal("597.00"), 3)

    del order["customer"], order["billing_address"]
    order["phone"] = "+8613900139000"
    assert shopify.parse_order(order).phone == "+8613900139000"
    order["phone"] = None
    assert shopify.parse_order(order).phone is None


def test_shopify_currency_is_the_shop_currency_not_the_presentment_one() -> None:
    order = sample(SHOPIFY_WEBHOOK)
    order["presentment_currency"] = "EUR"
    assert shopify.parse_order(order).currency == "USD"
    del order["currency"]  # then the shop money of total_price_set
    assert shopify.parse_order(order).currency == "USD"


def test_shopify_refund_resource_sample() -> None:
    assert shopify.parse_refund(sample(SHOPIFY_REFUND)) == RefundEvent(
        order_id="450789469", refund_id="509562969", amount=Decimal("209.00")
    )


def test_shopify_refund_counts_only_successful_refund_transactions() -> None:
    refund = sample(SHOPIFY_REFUND)
    first = refund["transactions"][0]
    refund["transactions"] += [
        {**first, "id": 2, "amount": "50.00", "status": "failure"},
        {**first, "id": 3, "amount": "70.00", "kind": "sale"},
        {**first, "id": 4, "amount": "0.10"},
    ]
    assert shopify.parse_refund(refund).amount == Decimal("209.10")
    refund["transactions"][0]["status"] = "pending"
    refund["transactions"][3]["status"] = "error"
    assert shopify.parse_refund(refund).amount == Decimal(0)


def test_shopify_refund_without_transactions_falls_back_to_line_subtotals() -> None:
    refund = sample(SHOPIFY_REFUND)
    refund["transactions"] = []
    # Later API versions add these to each refund line (subtotal as a JSON number).
    refund["refund_line_items"][0]["subtotal"] = 199.0
    refund["refund_line_items"][0]["subtotal_set"] = {
        "shop_money": {"amount": "199.00", "currency_code": "USD"},
        "presentment_money": {"amount": "199.00", "currency_code": "USD"},
    }
    refund["refund_line_items"][1]["subtotal"] = "89.99"
    assert shopify.parse_refund(refund).amount == Decimal("288.99")

    # With load_json a JSON decimal is exact; with json.loads it is a float and refused.
    refund["refund_line_items"][1]["subtotal"] = 89.99
    with pytest.raises(PayloadError, match=r"^refund_line_items\[1\]\.subtotal: "):
        shopify.parse_refund(refund)
    body = json.dumps(refund).encode()
    assert shopify.parse_refund(load_json(body)).amount == Decimal("288.99")


# WooCommerce bodies


def test_woocommerce_processing_order_is_not_an_event() -> None:
    assert woocommerce.parse(sample(WC_PROCESSING)) == ()


@pytest.mark.parametrize("status", ["pending", "on-hold", "cancelled", "failed", "trash"])
def test_woocommerce_other_statuses_are_not_events(status: str) -> None:
    order = sample(WC_WITH_REFUNDS)
    order["status"] = status
    assert woocommerce.parse(order) == ()


def test_woocommerce_completed_order_sample() -> None:
    assert woocommerce.parse(sample(WC_COMPLETED)) == (
        OrderEvent(
            order_id="727",
            total=Decimal("29.35"),
            currency="USD",
            phone="(555) 555-5555",
            telegram_id=None,
            lines=(
                Line(sku="", category="", amount=Decimal("6.00"), quantity=2),
                Line(sku="Bar3", category="", amount=Decimal("12.00"), quantity=1),
            ),
            placed_at=datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC),  # date_paid_gmt
            display_name="727",
        ),
    )


def test_woocommerce_completed_order_with_partial_refunds_sample() -> None:
    order, *refunds = woocommerce.parse(sample(WC_WITH_REFUNDS))
    assert isinstance(order, OrderEvent)
    assert order.order_id == "723"
    assert order.total == Decimal("39.00")
    assert order.phone == "(11) 1111-1111"
    assert [line.amount for line in order.lines] == [Decimal("9.00"), Decimal("20.00")]
    # date_paid is null: the completion date, in GMT
    assert order.placed_at == datetime(2017, 3, 21, 19, 54, 51, tzinfo=UTC)
    assert refunds == [
        RefundEvent(order_id="723", refund_id="726", amount=Decimal("10.00")),
        RefundEvent(order_id="723", refund_id="724", amount=Decimal("9.00")),
    ]


def test_woocommerce_refunded_order_is_refunded_in_full() -> None:
    order = sample(WC_COMPLETED)
    order["status"] = "refunded"
    assert woocommerce.parse(order) == (
        RefundEvent(order_id="727", refund_id="wc-727-refunded", amount=Decimal("29.35")),
    )

    partly = sample(WC_WITH_REFUNDS)
    partly["status"] = "refunded"
    assert woocommerce.parse(partly) == (
        RefundEvent(order_id="723", refund_id="726", amount=Decimal("10.00")),
        RefundEvent(order_id="723", refund_id="724", amount=Decimal("9.00")),
        RefundEvent(order_id="723", refund_id="wc-723-refunded", amount=Decimal("20.00")),
    )

    # Refunded through refund entries that cover the whole total: nothing synthetic on top.
    partly["refunds"].append({"id": 730, "refund": "", "total": "-20.00"})
    refunds = [event for event in woocommerce.parse(partly) if isinstance(event, RefundEvent)]
    assert len(refunds) == len(woocommerce.parse(partly))
    assert [refund.refund_id for refund in refunds] == ["726", "724", "730"]
    assert sum((refund.amount for refund in refunds), Decimal(0)) == Decimal("39.00")


def test_woocommerce_telegram_id_meta_and_local_dates() -> None:
    order = sample(WC_COMPLETED)
    order["meta_data"].append({"id": 13200, "key": "telegram_id", "value": "42"})
    del order["date_paid_gmt"], order["date_completed_gmt"], order["date_created_gmt"]
    (event,) = woocommerce.parse(order)
    assert isinstance(event, OrderEvent)
    assert event.telegram_id == 42
    assert event.placed_at == datetime(2017, 3, 22, 16, 28, 8)  # site-local, no timezone
    order["meta_data"][-1]["value"] = 43
    (event,) = woocommerce.parse(order)
    assert isinstance(event, OrderEvent)
    assert event.telegram_id == 43


def test_woocommerce_ping() -> None:
    assert woocommerce.is_ping(b"webhook_id=15")
    assert not woocommerce.is_ping(raw(WC_COMPLETED))
    assert not woocommerce.is_ping(b"webhook_id=15&x=1")


# Malformed bodies


def mutated(name: str, change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    payload = copy.deepcopy(sample(name))
    change(payload)
    return payload


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = payload
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _delete(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload.pop(key)


SHOPIFY_ORDER_BAD = [
    (_delete("total_price"), "total_price"),
    (_set("total_price", 403.0), "total_price"),
    (_set("total_price", "403,00"), "total_price"),
    (_set("total_price", "NaN"), "total_price"),
    (_set("total_price", "-1.00"), "total_price"),
    (_set("total_price", "1e20"), "total_price"),
    (_delete("id"), "id"),
    (_set("id", True), "id"),
    (_set("id", 1.5), "id"),
    (_set("currency", "usd"), "currency"),
    (_set("currency", 840), "currency"),
    (_set("line_items", "IPOD"), "line_items"),
    (_set("line_items.1", "IPOD"), "line_items[1]"),
    (_set("line_items.1.price", None), "line_items[1].price"),
    (_set("line_items.0.quantity", "1"), "line_items[0].quantity"),
    (_set("line_items.0.sku", 7), "line_items[0].sku"),
    (
        _set("line_items.1.discount_allocations.0.amount", "500.00"),
        "line_items[1].discount_allocations",
    ),
    (
        _set("note_attributes", [{"name": "telegram_id", "value": "@ann"}]),
        "note_attributes[0].value",
    ),
    (
        _set("note_attributes", [{"name": "telegram_id", "value": "-42"}]),
        "note_attributes[0].value",
    ),
    (_set("customer", "john"), "customer"),
    (_set("customer.phone", 5555555555), "customer.phone"),
    (_set("created_at", "yesterday"), "created_at"),
]


@pytest.mark.parametrize(("change", "field"), SHOPIFY_ORDER_BAD)
def test_malformed_shopify_orders_name_the_field(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        shopify.parse_order(mutated(SHOPIFY_WEBHOOK, change))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_shopify_order_without_any_currency() -> None:
    def change(order: dict[str, Any]) -> None:
        del order["currency"], order["total_price_set"]

    with pytest.raises(PayloadError, match=r"^currency: missing"):
        shopify.parse_order(mutated(SHOPIFY_WEBHOOK, change))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_delete("order_id"), "order_id"),
        (_delete("id"), "id"),
        (_set("transactions.0.amount", None), "transactions[0].amount"),
        (_set("transactions.0.amount", 209.0), "transactions[0].amount"),
        (_set("transactions.0.kind", ["refund"]), "transactions[0].kind"),
        (_set("transactions", {"amount": "1"}), "transactions"),
    ],
)
def test_malformed_shopify_refunds_name_the_field(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        shopify.parse_refund(mutated(SHOPIFY_REFUND, change))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (_delete("status"), "status"),
        (_delete("total"), "total"),
        (_set("total", 29.35), "total"),
        (_delete("id"), "id"),
        (_delete("currency"), "currency"),
        (_set("billing", ["(555) 555-5555"]), "billing"),
        (_set("line_items.0.total", "-6.00"), "line_items[0].total"),
        (_set("line_items.1.quantity", 1.0), "line_items[1].quantity"),
        (_set("meta_data.0", "telegram_id=42"), "meta_data[0]"),
        (_set("meta_data.0", {"key": "telegram_id", "value": "4x2"}), "meta_data[0].value"),
        (_set("date_paid_gmt", "22/03/2017"), "date_paid_gmt"),
        (_set("refunds", [{"id": 9, "total": "ten"}]), "refunds[0].total"),
        (_set("refunds", [{"total": "-1.00"}]), "refunds[0].id"),
    ],
)
def test_malformed_woocommerce_orders_name_the_field(
    change: Callable[[dict[str, Any]], None], field: str
) -> None:
    with pytest.raises(PayloadError) as caught:
        woocommerce.parse(mutated(WC_COMPLETED, change))
    assert caught.value.field == field


@pytest.mark.parametrize("payload", [[], "order", None, 42])
def test_a_body_that_is_not_an_object(payload: Any) -> None:
    for parse in (shopify.parse_order, shopify.parse_refund, woocommerce.parse):
        with pytest.raises(PayloadError, match=r"^body: "):
            parse(payload)


@pytest.mark.parametrize("body", [b"", b"{", b"[1]", b'{"total": NaN}', b"\xff\xfe"])
def test_load_json_refuses_what_is_not_a_json_object(body: bytes) -> None:
    with pytest.raises(PayloadError, match=r"^body: "):
        load_json(body)


def test_load_json_reads_decimals_exactly() -> None:
    assert load_json(b'{"a": 0.1, "b": 820982911946154508}') == {
        "a": Decimal("0.1"),
        "b": 820982911946154508,
    }


def test_payload_error_is_a_value_error() -> None:
    assert issubclass(PayloadError, ValueError)


def test_the_platforms_package_needs_no_chat_or_http_framework() -> None:
    code = (
        "import sys, core.platforms, core.platforms.shopify, core.platforms.woocommerce\n"
        "bad = {'telegram', 'aiogram', 'aiohttp', 'sqlalchemy'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parent.parent,
    )
    assert done.stdout.strip() == "[]"
