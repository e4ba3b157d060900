"""WooCommerce webhooks: the signature check and the ``order.updated`` body.

WooCommerce signs each delivery with ``X-WC-Webhook-Signature``: the base64 of the
HMAC-SHA256 of the raw body, keyed with the webhook's secret (REST API docs, "Webhooks >
Delivery/payload"; ``WC_Webhook::generate_signature``). The body of an ``order`` topic "is
exactly the same as if requested via the REST API": the v3 ``Order`` resource.

``order.updated`` fires on every change of an order (and on ``woocommerce_order_refunded``), so
the same order arrives many times; :func:`parse` turns one delivery into the events it implies
and the receiver deduplicates them by order id and refund id:

* status ``completed`` -> an :class:`OrderEvent` (earn), then one :class:`RefundEvent` per entry
  of ``refunds`` (partial refunds, ``{"id": 726, "total": "-10.00"}``);
* status ``refunded`` -> one :class:`RefundEvent` per entry of ``refunds``, plus a refund
  ``wc-<order id>-refunded`` for whatever of ``total`` those entries do not cover (an order
  marked refunded by hand has no refund entries); no order event;
* any other status -> nothing.

A line's amount is its ``total`` (after discounts); ``placed_at`` is the GMT payment date, else
the GMT completion date, else the GMT creation date (the site-local fields only when no GMT one
is there, and then without a timezone).

When a webhook is created, WooCommerce first POSTs an unsigned form body ``webhook_id=<id>`` and
only activates the webhook if that answers 200: see :func:`is_ping`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.platforms.events import (
    Event,
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
    optional_obj,
    payload_object,
    required_text,
    telegram_id_in,
    text,
    timestamp,
)

TOPIC_ORDER_UPDATED = "order.updated"
STATUS_COMPLETED = "completed"
STATUS_REFUNDED = "refunded"
# The order meta key a checkout plugin or snippet sets to tie an order to a Telegram user.
TELEGRAM_META_KEY = "telegram_id"

_PING = re.compile(rb"webhook_id=\d{1,20}")


def signature(secret: str, raw_body: bytes) -> str:
    """The ``X-WC-Webhook-Signature`` value WooCommerce sends for this body."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify(secret: str, raw_body: bytes, header_signature: str | None) -> bool:
    """Whether ``header_signature`` is WooCommerce's signature of ``raw_body`` under ``secret``.

    Never raises: a missing, empty, non-ASCII or garbage header is ``False``, and so is an empty
    secret.
    """
    if not secret or not isinstance(header_signature, str):
        return False
    candidate = header_signature.strip()
    if not candidate or not candidate.isascii():
        return False
    expected = signature(secret, raw_body)
    return hmac.compare_digest(expected.encode("ascii"), candidate.encode("ascii"))


def is_ping(raw_body: bytes) -> bool:
    """Whether the body is the unsigned ``webhook_id=<id>`` ping sent when a webhook is saved.

    The receiver should answer it 200 without doing anything, or WooCommerce refuses to
    activate the webhook. It carries no signature, so it must never be treated as an order.
    """
    return _PING.fullmatch(raw_body.strip()) is not None


def parse(payload: Mapping[str, Any]) -> tuple[Event, ...]:
    """The events one ``order.updated`` delivery implies (see the module docstring)."""
    order = payload_object(payload)
    status = required_text(order, "status")
    if status not in (STATUS_COMPLETED, STATUS_REFUNDED):
        return ()
    order_id = identifier(order, "id")
    total = money(order, "total")
    refunds = _refunds(order, order_id)
    if status == STATUS_COMPLETED:
        return (_order_event(order, order_id, total), *refunds)
    uncovered = total - sum((refund.amount for refund in refunds), Decimal(0))
    if uncovered > 0:
        full = RefundEvent(order_id=order_id, refund_id=f"wc-{order_id}-refunded", amount=uncovered)
        return (*refunds, full)
    return tuple(refunds)


def _order_event(order: Mapping[str, Any], order_id: str, total: Decimal) -> OrderEvent:
    code = currency(order, "currency")
    if code is None:
        raise PayloadError("currency", "missing")
    billing = optional_obj(order, "billing")
    return OrderEvent(
        order_id=order_id,
        total=total,
        currency=code,
        phone=text(billing, "phone", "billing") if billing is not None else None,
        telegram_id=telegram_id_in(order, "meta_data", "key", TELEGRAM_META_KEY),
        lines=tuple(
            _line(element(item, f"line_items[{index}]"), f"line_items[{index}]")
            for index, item in enumerate(array(order, "line_items"))
        ),
        placed_at=_placed_at(order),
        display_name=text(order, "number"),
    )


def _refunds(order: Mapping[str, Any], order_id: str) -> list[RefundEvent]:
    events = []
    for index, item in enumerate(array(order, "refunds")):
        path = f"refunds[{index}]"
        refund = element(item, path)
        # WooCommerce lists refunds with negative totals ("-10.00").
        amount = abs(money(refund, "total", path, signed=True))
        if amount == 0:
            continue
        events.append(
            RefundEvent(order_id=order_id, refund_id=identifier(refund, "id", path), amount=amount)
        )
    return events


def _line(item: Mapping[str, Any], path: str) -> Line:
    return Line(
        sku=text(item, "sku", path) or "",
        category="",
        amount=money(item, "total", path),
        quantity=count(item, "quantity", path),
    )


def _placed_at(order: Mapping[str, Any]) -> datetime | None:
    for key in ("date_paid", "date_completed", "date_created"):
        gmt = timestamp(order, f"{key}_gmt")
        if gmt is not None:
            return gmt if gmt.tzinfo is not None else gmt.replace(tzinfo=UTC)
        local = timestamp(order, key)
        if local is not None:
            return local
    return None
