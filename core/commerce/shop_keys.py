"""The keys a shop signs its API requests with: created and revoked by the operator.

A key is an id (``pk_`` and 16 URL-safe characters, sent in ``X-PointsMall-Key``) and a secret
(32 random bytes, URL-safe base64), shown once when created. The secret is stored in the
database as is: checking an HMAC-SHA256 signature needs the secret itself (a hash of it would
not do), so the database must be guarded like the config's other secrets. Revoking is for
good; a revoked key's secret is never handed out again (:meth:`ShopKeys.secret_for`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import ShopKey
from core.errors import UnknownApiKey
from core.reporting.audit import write_entry

# last_used_at is a hint for the operator, not a log: written at most this often per key.
_USE_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedKey:
    """A new key; ``secret`` is shown this once."""

    key_id: str
    name: str
    secret: str
    created_at: datetime


@dataclass(frozen=True)
class KeyView:
    """A key as listed: never its secret."""

    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _key_id(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("pk_") or len(value) > 32:
        raise UnknownApiKey(f"no API key {str(value)[:32]!r}", key_id=str(value)[:32])
    return value


class ShopKeys:
    """Create, list and revoke the shop's API keys; look up a secret to check a signature."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def create_key(
        self, name: str, now: datetime, *, actor_id: int | None = None
    ) -> CreatedKey:
        """A new key named ``name`` (1-64 characters); audited when an admin ``actor_id`` asks."""
        label = validation.text(name, field="name", max_length=64)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        created = CreatedKey(
            key_id="pk_" + secrets.token_urlsafe(12),  # 12 bytes: 16 characters
            name=label,
            secret=secrets.token_urlsafe(32),
            created_at=now,
        )

        async def work(conn: AsyncConnection) -> CreatedKey:
            await conn.execute(
                insert(ShopKey).values(
                    key_id=created.key_id, name=label, secret=created.secret, created_at=now
                )
            )
            if actor_id is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="shop.key_create",
                    target=f"shop_key:{created.key_id}",
                    now=now,
                    after={"name": label},
                )
            return created

        return await self.db.transact(work)

    async def list_keys(self) -> tuple[KeyView, ...]:
        """Every key, the newest first, revoked ones too."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(ShopKey).order_by(ShopKey.created_at.desc(), ShopKey.key_id)
                )
            ).all()
        return tuple(_view(row) for row in rows)

    async def revoke_key(
        self, key_id: str, now: datetime, *, actor_id: int | None = None
    ) -> KeyView:
        """Stop accepting the key; revoking it again changes nothing. :class:`UnknownApiKey`."""
        _key_id(key_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)

        async def work(conn: AsyncConnection) -> KeyView:
            revoked = (
                await conn.execute(
                    update(ShopKey)
                    .where(ShopKey.key_id == key_id, ShopKey.revoked_at.is_(None))
                    .values(revoked_at=now)
                    .returning(ShopKey.key_id)
                )
            ).first()
            row = (await conn.execute(select(ShopKey).where(ShopKey.key_id == key_id))).first()
            if row is None:
                raise UnknownApiKey(f"no API key {key_id!r}", key_id=key_id)
            if revoked is not None and actor_id is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="shop.key_revoke",
                    target=f"shop_key:{key_id}",
                    now=now,
                    before={"name": row.name},
                    after={"revoked": True},
                )
            return _view(row)

        return await self.db.transact(work)

    async def secret_for(self, key_id: str) -> str | None:
        """The secret to check a request signed with ``key_id``; None if unknown or revoked."""
        if not isinstance(key_id, str) or not key_id.startswith("pk_") or len(key_id) > 32:
            return None
        async with self.db.read() as conn:
            secret = (
                await conn.execute(
                    select(ShopKey.secret).where(
                        ShopKey.key_id == key_id, ShopKey.revoked_at.is_(None)
                    )
                )
            ).scalar_one_or_none()
        return None if secret is None else str(secret)

    async def mark_used(self, key_id: str, now: datetime) -> None:
        """Note that a request with this key was accepted (at most once a minute per key)."""
        _key_id(key_id)
        validation.instant(now)
        async with self.db.write() as conn:
            await conn.execute(
                update(ShopKey)
                .where(
                    ShopKey.key_id == key_id,
                    or_(
                        ShopKey.last_used_at.is_(None),
                        ShopKey.last_used_at <= now - _USE_GRANULARITY,
                    ),
                )
                .values(last_used_at=now)
            )


def _view(row: Any) -> KeyView:
    return KeyView(row.key_id, row.name, row.created_at, row.revoked_at, row.last_used_at)
