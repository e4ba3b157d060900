"""Shop customers: who a customer of the shop is, kept without their phone in clear.

The shop names a customer as ``{"telegram_id": 42}``, ``{"phone": "+8613800138000"}`` or
``{"ref": "shop-customer-7"}``. The mall keys each by a *customer key*:

- ``tg:<id>``: the member with that Telegram id (member ids are Telegram ids),
- ``phone:<hex HMAC-SHA256([shop] phone_hash_key, E.164 number)>``: a phone is parsed with the
  ``phonenumbers`` library (a number without a country code is read as one of
  ``[shop] phone_region``) and only its keyed hash is stored, anywhere; without a
  ``phone_hash_key`` phones are refused (:class:`~core.errors.PhoneMatchingOff`) rather than
  hashed with a key an attacker could guess,
- ``ref:<reference>``: the shop's own id of the customer (1-64 of ``A-Za-z0-9_-.:``).

A ``shop_customers`` row per key says which member it is linked to. Every use case that
parks an order for a customer or links one locks that row first, so a link never misses an
order parked at the same moment.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

import phonenumbers
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import ShopSettings
from core.db.models import Member, ShopCustomer
from core.errors import InvalidInput, InvalidPhone, PhoneMatchingOff

CustomerKind = Literal["telegram", "phone", "ref"]

_REF = re.compile(r"[A-Za-z0-9_\-.:]{1,64}")
_FIELDS: Mapping[str, CustomerKind] = {"telegram_id": "telegram", "phone": "phone", "ref": "ref"}
_PREFIX: Mapping[CustomerKind, str] = {"telegram": "tg", "phone": "phone", "ref": "ref"}
_CUSTOMERS = cast(Table, ShopCustomer.__table__)


@dataclass(frozen=True)
class Customer:
    """A shop customer as the mall keys them; ``key`` never holds a phone in clear."""

    kind: CustomerKind
    key: str

    @property
    def telegram_id(self) -> int | None:
        return int(self.key.split(":", 1)[1]) if self.kind == "telegram" else None


def e164(phone: object, region: str) -> str:
    """The number in E.164 form (``+8613800138000``); :class:`InvalidPhone` if it is none.

    Telegram gives a contact's number without the ``+`` (``8613800138000``): a number that is
    not valid in ``region`` is tried once more as an international one.
    """
    if not isinstance(phone, str) or not 3 <= len(phone.strip()) <= 32:
        raise InvalidPhone(f"not a phone number: {phone!r}", field="phone")
    raw = phone.strip()
    candidates = [raw] if raw.startswith("+") else [raw, f"+{raw}"]
    readable: list[phonenumbers.PhoneNumber] = []
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            readable.insert(0, number)
            break
        if phonenumbers.is_possible_number(number):
            readable.append(number)
    if not readable:
        raise InvalidPhone("not a phone number of a known country", field="phone")
    return phonenumbers.format_number(readable[0], phonenumbers.PhoneNumberFormat.E164)


def phone_key(phone: object, settings: ShopSettings) -> str:
    """The customer key of a phone: its keyed hash. :class:`PhoneMatchingOff` without a key."""
    if settings.phone_hash_key is None:
        raise PhoneMatchingOff(
            "phones cannot be matched: set [shop] phone_hash_key or POINTSMALL_PHONE_HASH_KEY",
            field="phone",
        )
    number = e164(phone, settings.phone_region)
    key = settings.phone_hash_key.get_secret_value().encode()
    return "phone:" + hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


def reference(value: object) -> str:
    """A shop's customer reference: 1-64 of ``A-Za-z0-9_-.:``."""
    if not isinstance(value, str) or not _REF.fullmatch(value):
        raise InvalidInput(f"malformed customer ref {value!r}", field="ref")
    return value


def customer(value: object, settings: ShopSettings) -> Customer:
    """Read ``{"telegram_id": 42}``, ``{"phone": "..."}`` or ``{"ref": "..."}``."""
    if not isinstance(value, Mapping) or len(value) != 1:
        raise InvalidInput(
            "customer must be one of {telegram_id}, {phone} or {ref}", field="customer"
        )
    ((name, given),) = value.items()
    kind = _FIELDS.get(str(name))
    if kind == "telegram":
        return Customer(kind, f"tg:{validation.member_id(given)}")
    if kind == "phone":
        return Customer(kind, phone_key(given, settings))
    if kind == "ref":
        return Customer(kind, f"ref:{reference(given)}")
    raise InvalidInput(f"unknown customer field {name!r}", field="customer")


def kind_of(key: str) -> CustomerKind:
    prefix = key.split(":", 1)[0]
    return next(kind for kind, p in _PREFIX.items() if p == prefix)


async def lock_customer(conn: AsyncConnection, who: Customer, now: datetime) -> int | None:
    """Create the customer's row if need be and lock it; returns the linked member, if any.

    A ``tg:`` customer is linked when a member with that id exists (and was not erased).
    """
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    await conn.execute(
        insert(_CUSTOMERS)
        .values(customer_key=who.key, kind=who.kind, created_at=now)
        .on_conflict_do_nothing(index_elements=[_CUSTOMERS.c.customer_key])
    )
    linked = (
        await conn.execute(
            select(ShopCustomer.member_id)
            .where(ShopCustomer.customer_key == who.key)
            .with_for_update()
        )
    ).scalar_one()
    if who.telegram_id is not None:
        return await live_member(conn, who.telegram_id)
    return None if linked is None else int(linked)


async def linked_member(conn: AsyncConnection, who: Customer) -> int | None:
    """The member a customer is linked to (a read: locks nothing)."""
    if who.telegram_id is not None:
        return await live_member(conn, who.telegram_id)
    linked = (
        await conn.execute(
            select(ShopCustomer.member_id).where(ShopCustomer.customer_key == who.key)
        )
    ).scalar_one_or_none()
    return None if linked is None else int(linked)


async def live_member(conn: AsyncConnection, member_id: int) -> int | None:
    found = (
        await conn.execute(
            select(Member.id).where(Member.id == member_id, Member.deleted_at.is_(None))
        )
    ).scalar_one_or_none()
    return None if found is None else int(found)


async def keys_of(conn: AsyncConnection, member_id: int) -> list[str]:
    """Every customer key that is this member: their Telegram id and what they linked."""
    linked = (
        await conn.execute(
            select(ShopCustomer.customer_key)
            .where(ShopCustomer.member_id == member_id)
            .order_by(ShopCustomer.customer_key)
        )
    ).scalars()
    return [f"tg:{member_id}", *linked]
