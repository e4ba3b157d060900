"""Shopify webhooks: the signature check and the ``orders/paid`` and ``refunds/create`` bodies.

Shopify signs each delivery with ``X-Shopify-Hmac-Sha256``: the base64 of the HMAC-SHA256 of
the raw request body, keyed with the app's client secret (shopify.dev, "Verify webhooks").
The body of ``orders/paid`` is the Admin REST ``Order`` resource and the body of
``refunds/create`` the ``Refund`` resource, unwrapped (no ``{"order": ...}`` envelope).

Decisions, from the Order resource's documentation:

* ``total_price`` is in the **shop** currency, which is ``currency``; ``presentment_currency`` is
  the customer's currency and goes with ``total_price_set.presentment_money``. So the event's
  currency is ``currency`` (or ``total_price_set.shop_money.currency_code`` when an API version
  leaves ``currency`` out), never ``presentment_currency``: that would pair an amount with the
  wrong currency.
* A line's amount is ``price`` x ``quantity`` less the discounts allocated to that line
  (``discount_allocations[].amount``), so that the lines add up to the order's subtotal, as
  WooCommerce's line ``total`` does.
* ``placed_at`` is ``processed_at`` (when the order was processed; differs from ``created_at``
  for imported orders), else ``created_at``.
* A refund's amount is what was actually given back: the successful (``status == "success"``)
  transactions of kind ``refund``. A refund without any refund transaction falls back to the sum
  of its ``refund_line_items`` subtotals (``subtotal_set.shop_money.amount``, else ``subtotal``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core.platforms.events import (
    Line,
    OrderEvent,
    PayloadError,
    RefundEvent,
    array,
    count,
    currency,
    element,
    identifier,
    money,
    money_value,
    obj,
    optional_obj,
    payload_object,
    telegram_id_in,
    text,
    timestamp,
)

TOPIC_ORDER_PAID = "orders/paid"
TOPIC_REFUND_CREATED = "refunds/create"
# The note attribute (cart attribute) a storefront sets to tie an order to a Telegram user.
TELEGRAM_ATTRIBUTE = "telegram_id"


def signature(secret: str, raw_body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value Shopify sends for this body."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, raw_body: bytes, header_hmac: str | None) -> bool:
    """Whether ``header_hmac`` is Shopify's signature of ``raw_body`` under ``secret``.

    Never raises: a missing, empty, non-ASCII or otherwise garbage header is simply ``False``,
    and so is an empty secret (a receiver without a secret accepts nothing).
    """
    if not secret or not isinstance(header_hmac, str):
        return False
    candidate = header_hmac.strip()
    if not candidate or not candidate.isascii():
        return False
    expected = signature(secret, raw_body)
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii"))


def parse_order(payload: Mapping[str, Any]) -> OrderEvent:
    """The ``orders/paid`` body as an :class:`OrderEvent`."""
    order = payload_object(payload)
    order_id = identifier(order, "id")
    total = money(order, "total_price")
    return OrderEvent(
        order_id=order_id,
        total=total,
        currency=_order_currency(order),
        phone=_phone(order),
        telegram_id=telegram_id_in(order, "note_attributes", "name", TELEGRAM_ATTRIBUTE),
        lines=tuple(
            _line(element(item, f"line_items[{index}]"), f"line_items[{index}]")
            for index, item in enumerate(array(order, "line_items"))
        ),
        placed_at=timestamp(order, "processed_at") or timestamp(order, "created_at"),
        display_name=text(order, "name"),
    )


def parse_refund(payload: Mapping[str, Any]) -> RefundEvent:
    """The ``refunds/create`` body as a :class:`RefundEvent`."""
    refund = payload_object(payload)
    return RefundEvent(
        order_id=identifier(refund, "order_id"),
        refund_id=identifier(refund, "id"),
        amount=_refund_amount(refund),
    )


def _order_currency(order: Mapping[str, Any]) -> str:
    code = currency(order, "currency")
    if code is not None:
        return code
    price_set = optional_obj(order, "total_price_set")
    if price_set is not None:
        shop_money = optional_obj(price_set, "shop_money", "total_price_set")
        if shop_money is not None:
            code = currency(shop_money, "currency_code", "total_price_set.shop_money")
            if code is not None:
                return code
    raise PayloadError("currency", "missing")


def _phone(order: Mapping[str, Any]) -> str | None:
    customer = optional_obj(order, "customer")
    if customer is not None and (phone := text(customer, "phone", "customer")):
        return phone
    billing = optional_obj(order, "billing_address")
    if billing is not None and (phone := text(billing, "phone", "billing_address")):
        return phone
    return text(order, "phone")


def _line(item: Mapping[str, Any], path: str) -> Line:
    quantity = count(item, "quantity", path)
    price = money(item, "price", path)
    discount = Decimal(0)
    for index, allocation in enumerate(array(item, "discount_allocations", path)):
        allocation_path = f"{path}.discount_allocations[{index}]"
        discount += money(element(allocation, allocation_path), "amount", allocation_path)
    amount = price * quantity - discount
    if amount < 0:
        raise PayloadError(f"{path}.discount_allocations", f"discounts exceed the line ({amount})")
    return Line(
        sku=text(item, "sku", path) or "",
        category=text(item, "product_type", path) or "",
        amount=amount,
        quantity=quantity,
    )


def _refund_amount(refund: Mapping[str, Any]) -> Decimal:
    refunded = Decimal(0)
    any_refund_transaction = False
    for index, item in enumerate(array(refund, "transactions")):
        path = f"transactions[{index}]"
        transaction = element(item, path)
        if text(transaction, "kind", path) != "refund":
            continue
        any_refund_transaction = True
        if text(transaction, "status", path) == "success":
            refunded += money(transaction, "amount", path)
    if any_refund_transaction:
        return refunded
    for index, item in enumerate(array(refund, "refund_line_items")):
        path = f"refund_line_items[{index}]"
        refunded += _line_subtotal(element(item, path), path)
    return refunded


def _line_subtotal(item: Mapping[str, Any], path: str) -> Decimal:
    subtotal_set = optional_obj(item, "subtotal_set", path)
    if subtotal_set is not None:
        shop_money = obj(subtotal_set, "shop_money", f"{path}.subtotal_set")
        return money(shop_money, "amount", f"{path}.subtotal_set.shop_money")
    return money_value(item.get("subtotal"), f"{path}.subtotal")
