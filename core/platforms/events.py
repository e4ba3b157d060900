"""The neutral events the shop platforms' webhooks are turned into, and the checks they share.

A platform module (``shopify``, ``woocommerce``) reads the platform's own JSON and produces
:class:`OrderEvent` and :class:`RefundEvent`; the HTTP layer does the rest. Nothing here touches
the network, the database or the chat.

Every reader validates the type of what it takes and raises :class:`PayloadError` whose message
starts with the path of the field (``line_items[1].price: ...``). Money is :class:`Decimal`,
built from the payload's decimal strings, never from a float; ids are strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

# Far above any real order, far below anything that overflows a minor-unit BIGINT.
MAX_MONEY = Decimal(10) ** 12
# A JSON integer id longer than this is not an id.
_MAX_ID_LENGTH = 128
_CURRENCY = re.compile(r"[A-Z]{3}")
# Decimal() also takes "NaN", "Infinity", "1_000" and surrounding blanks: money is stricter.
_MONEY = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


class PayloadError(ValueError):
    """A webhook body the mall cannot use. The message names the field first."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an order: what was bought, in which category, for how much in total."""

    sku: str
    category: str
    amount: Decimal
    quantity: int


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """A paid (Shopify) or completed (WooCommerce) order, in the shop's currency.

    ``display_name`` is what the shop shows for the order (Shopify's ``#1001``), for messages.
    ``placed_at`` is timezone-aware unless the payload only gave a site-local time.
    """

    order_id: str
    total: Decimal
    currency: str
    phone: str | None
    telegram_id: int | None
    lines: tuple[Line, ...]
    placed_at: datetime | None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class RefundEvent:
    """Money given back on an order. ``amount`` is positive, in the order's currency."""

    order_id: str
    refund_id: str
    amount: Decimal


Event = OrderEvent | RefundEvent


def load_json(raw_body: bytes) -> dict[str, Any]:
    """The JSON object of a webhook body, with JSON decimals read as :class:`Decimal`.

    Optional: ``json.loads`` works too, but then a number such as ``199.0`` arrives as a float,
    which the money readers refuse.
    """

    def no_constant(name: str) -> Any:
        raise PayloadError("body", f"{name} is not JSON")

    try:
        payload = json.loads(raw_body, parse_float=Decimal, parse_constant=no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError("body", f"not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise PayloadError("body", f"expected a JSON object, got {type(payload).__name__}")
    return payload


# The readers below take the object that holds the field, the key, and the path of the object
# (for messages): ``money(item, "price", "line_items[0]")`` complains about
# ``line_items[0].price``.


def path_of(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


def _describe(value: object) -> str:
    if value is None:
        return "null"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def payload_object(payload: object) -> Mapping[str, Any]:
    """The top-level payload, which must be a JSON object."""
    if not isinstance(payload, Mapping):
        raise PayloadError("body", f"expected a JSON object, got {type(payload).__name__}")
    return payload


def obj(holder: Mapping[str, Any], key: str, parent: str = "") -> Mapping[str, Any]:
    """A required nested object."""
    value = holder.get(key)
    if not isinstance(value, Mapping):
        problem = "missing" if value is None else f"expected an object, got {_describe(value)}"
        raise PayloadError(path_of(parent, key), problem)
    return value


def optional_obj(holder: Mapping[str, Any], key: str, parent: str = "") -> Mapping[str, Any] | None:
    """A nested object that may be absent or null."""
    value = holder.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise PayloadError(path_of(parent, key), f"expected an object, got {_describe(value)}")
    return value


def array(holder: Mapping[str, Any], key: str, parent: str = "") -> list[Any]:
    """An optional array: absent or null is empty."""
    value = holder.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(path_of(parent, key), f"expected an array, got {_describe(value)}")
    return value


def element(value: object, path: str) -> Mapping[str, Any]:
    """An array element that must be an object."""
    if not isinstance(value, Mapping):
        raise PayloadError(path, f"expected an object, got {_describe(value)}")
    return value


def identifier(holder: Mapping[str, Any], key: str, parent: str = "") -> str:
    """A required id: a positive JSON integer or a non-blank string, returned as a string."""
    value = holder.get(key)
    field = path_of(parent, key)
    if value is None:
        raise PayloadError(field, "missing")
    if isinstance(value, bool):
        raise PayloadError(field, f"expected an id, got {_describe(value)}")
    if isinstance(value, int):
        if value <= 0:
            raise PayloadError(field, f"expected a positive id, got {value}")
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise PayloadError(field, "empty")
    else:
        raise PayloadError(field, f"expected an id, got {_describe(value)}")
    if len(text) > _MAX_ID_LENGTH:
        raise PayloadError(field, f"longer than {_MAX_ID_LENGTH} characters")
    return text


def text(holder: Mapping[str, Any], key: str, parent: str = "") -> str | None:
    """An optional string: absent, null or blank is ``None``; surrounding blanks are dropped."""
    value = holder.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(path_of(parent, key), f"expected a string, got {_describe(value)}")
    value = value.strip()
    return value or None


def required_text(holder: Mapping[str, Any], key: str, parent: str = "") -> str:
    value = text(holder, key, parent)
    if value is None:
        raise PayloadError(path_of(parent, key), "missing")
    return value


def currency(holder: Mapping[str, Any], key: str, parent: str = "") -> str | None:
    """An optional ISO 4217 code (three capital letters)."""
    value = text(holder, key, parent)
    if value is not None and not _CURRENCY.fullmatch(value):
        raise PayloadError(path_of(parent, key), f"not an ISO 4217 code: {_describe(value)}")
    return value


def money_value(value: object, field: str, *, signed: bool = False) -> Decimal:
    """An amount from a decimal string (or a JSON integer, or a Decimal from :func:`load_json`).

    A float is refused: it has already lost the exact amount the shop sent.
    """
    if value is None:
        raise PayloadError(field, "missing")
    if isinstance(value, (bool, float)):
        raise PayloadError(field, f"expected a decimal string, got {_describe(value)}")
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        candidate = value.strip()
        if not _MONEY.fullmatch(candidate):
            raise PayloadError(field, f"not a decimal amount: {_describe(value)}")
        try:
            amount = Decimal(candidate)
        except InvalidOperation:  # pragma: no cover - the pattern only lets decimals through
            raise PayloadError(field, f"not a decimal amount: {_describe(value)}") from None
    else:
        raise PayloadError(field, f"expected a decimal string, got {_describe(value)}")
    if not amount.is_finite():
        raise PayloadError(field, f"not a finite amount: {_describe(value)}")
    if not signed and amount < 0:
        raise PayloadError(field, f"must not be negative, got {amount}")
    if abs(amount) > MAX_MONEY:
        raise PayloadError(field, f"implausibly large: {amount}")
    return amount


def money(
    holder: Mapping[str, Any], key: str, parent: str = "", *, signed: bool = False
) -> Decimal:
    return money_value(holder.get(key), path_of(parent, key), signed=signed)


def count(holder: Mapping[str, Any], key: str, parent: str = "") -> int:
    """A required quantity: a JSON integer, zero or more."""
    value = holder.get(key)
    field = path_of(parent, key)
    if value is None:
        raise PayloadError(field, "missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(field, f"expected an integer, got {_describe(value)}")
    if not 0 <= value <= 10**9:
        raise PayloadError(field, f"out of range: {value}")
    return value


def telegram_id_value(value: object, field: str) -> int | None:
    """A Telegram user id from a shop's custom field: a positive integer or its digits.

    Absent, null or blank is ``None``; anything else that is not a positive integer is refused.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise PayloadError(field, f"expected a Telegram user id, got {_describe(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        digits = value.strip()
        if not digits:
            return None
        if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
            raise PayloadError(field, f"expected a Telegram user id, got {_describe(value)}")
        number = int(digits)
    else:
        raise PayloadError(field, f"expected a Telegram user id, got {_describe(value)}")
    if not 0 < number < 2**63:
        raise PayloadError(field, f"expected a Telegram user id, got {_describe(value)}")
    return number


def telegram_id_in(
    holder: Mapping[str, Any], list_key: str, name_key: str, wanted: str
) -> int | None:
    """The Telegram id in a shop's list of custom fields (Shopify's ``note_attributes``,
    WooCommerce's ``meta_data``): the value of the entry whose ``name_key`` is ``wanted``."""
    for index, item in enumerate(array(holder, list_key)):
        path = f"{list_key}[{index}]"
        entry = element(item, path)
        name = text(entry, name_key, path)
        if name is not None and name.lower() == wanted:
            return telegram_id_value(entry.get("value"), f"{path}.value")
    return None


def timestamp(holder: Mapping[str, Any], key: str, parent: str = "") -> datetime | None:
    """An optional ISO 8601 date-time; absent, null or blank is ``None``."""
    value = text(holder, key, parent)
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(path_of(parent, key), f"not an ISO 8601 date-time: {value!r}") from None
