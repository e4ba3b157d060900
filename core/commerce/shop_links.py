"""Links the shop shows after checkout: "collect your points in Telegram".

The shop asks for a link for its customer reference (``POST /api/v1/links``, which calls
:func:`create_link`) and shows ``https://t.me/<bot>?start=s-<token>``. The member who opens it
is linked to that reference (:func:`use_link`), and the orders parked for it are credited at
once, as :meth:`core.commerce.shop.Shop.link_ref` would.

- A token is 32 URL-safe characters from :mod:`secrets` (192 random bits), so ``s-<token>``
  fits Telegram's ``/start`` payload (64 of ``A-Za-z0-9_-``). Only its SHA-256 is stored.
- Each call makes a new token; a link lives ``[shop] link_token_days`` (default 7 days).
- A link links one member, once. The refusals have stable codes for the chat to explain:
  ``link_unknown`` (no such link: never made, mistyped, or its member's data was erased),
  ``link_expired`` (not opened in time: the shop can show a new one), ``link_used`` (another
  member opened it first), and ``ref_taken`` (the reference is already linked to another
  member, by another link or :meth:`~core.commerce.shop.Shop.link_ref`). A refusal changes nothing:
  the link stays as it was.
- The member who used a link opening it again is answered what they were answered the first
  time, even after it expired (a double tap, a redelivered update); nothing is credited twice.
  That is an idempotency record (:func:`core.points.idempotency.run_once`) per token and member, in
  the transaction that links, credits and marks the link used.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.commerce.shop_customers import reference
from core.config import ShopSettings
from core.db.database import Database
from core.db.models import ShopLinkToken
from core.errors import LinkExpired, LinkUnknown, LinkUsed
from core.points.idempotency import run_once

__all__ = ["START_PREFIX", "ShopLink", "create_link", "forget_links", "token_hash", "use_link"]

START_PREFIX = "s-"
"""What the ``/start`` payload of a shop's link begins with: ``s-<token>``."""
TOKEN_BYTES = 24
"""Random bytes of a token: 32 characters of ``A-Za-z0-9_-``."""
_TOKEN = re.compile(r"[A-Za-z0-9_-]{22,62}")
FORGET_AFTER = timedelta(days=30)
"""Links are forgotten this long after they expired (then they are ``link_unknown``)."""
R = TypeVar("R")


@dataclass(frozen=True)
class ShopLink:
    """A new link for the shop to show: ``token`` goes into ``https://t.me/<bot>?start=s-<token>``
    (it is stored only as its hash: this is the one time it is seen)."""

    token: str
    ref: str
    expires_at: datetime


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


async def create_link(db: Database, settings: ShopSettings, ref: object, now: datetime) -> ShopLink:
    """A new link for the shop's customer reference (1-64 of ``A-Za-z0-9_-.:``; else
    :class:`~core.errors.InvalidInput`); every call makes another token."""
    checked = reference(ref)
    validation.instant(now)
    token = new_token()
    expires_at = now + timedelta(days=settings.link_token_days)

    async def work(conn: AsyncConnection) -> None:
        await conn.execute(
            insert(ShopLinkToken).values(
                token_hash=token_hash(token), ref=checked, created_at=now, expires_at=expires_at
            )
        )

    await db.transact(work)
    return ShopLink(token, checked, expires_at)


async def use_link(
    db: Database,
    member_id: int,
    token: object,
    now: datetime,
    *,
    link: Callable[[AsyncConnection, str], Awaitable[R]],
    result_type: type[R],
) -> R:
    """The member opened the link with ``token`` (the ``/start`` payload without ``s-``).

    ``link(conn, ref)`` links the reference to the member and credits what was parked, in this
    transaction (``core.commerce.shop`` passes its own linking, so it is the same as
    ``link_ref``'s). Refused with :class:`~core.errors.LinkUnknown`, :class:`~core.errors.LinkUsed`,
    :class:`~core.errors.LinkExpired`, or whatever ``link`` refuses (``ref_taken``,
    ``unknown_member``); then nothing changes. The member who used the link is answered the
    same again.
    """
    validation.member_id(member_id)
    validation.instant(now)
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise LinkUnknown("no such link")
    hashed = token_hash(token)

    async def work(conn: AsyncConnection) -> R:
        row = (
            await conn.execute(
                select(ShopLinkToken).where(ShopLinkToken.token_hash == hashed).with_for_update()
            )
        ).first()
        if row is None:
            raise LinkUnknown("no such link")
        if row.used_by is not None and row.used_by != member_id:
            raise LinkUsed("another member opened this link first")
        if row.used_by is None and now >= row.expires_at:
            raise LinkExpired("this link has expired", expires_at=row.expires_at.isoformat())
        result = await link(conn, str(row.ref))
        if row.used_by is None:
            await conn.execute(
                update(ShopLinkToken)
                .where(ShopLinkToken.token_hash == hashed)
                .values(used_by=member_id, used_at=now)
            )
        return result

    # The key is per token and member: the member's repeats replay the first answer; another
    # member's attempt runs, and meets ``used_by``. Refusals depend on the state (a link that
    # another member may still use, a reference that may be freed by an erasure): not kept.
    outcome = await run_once(
        db,
        key=f"shop-link:{hashed}@{member_id}",
        kind="shop_link",
        request={"token_hash": hashed, "member_id": member_id},
        result_type=result_type,
        work=work,
        now=now,
        record_rejection=False,
    )
    return outcome.result


async def forget_links(db: Database, now: datetime) -> int:
    """Delete the links that expired more than :data:`FORGET_AFTER` ago (a daily job): how many.

    A member who used one is still answered the same on opening it again (their idempotency
    record answers before the link is looked up)."""
    validation.instant(now)

    async def work(conn: AsyncConnection) -> int:
        done = await conn.execute(
            delete(ShopLinkToken).where(ShopLinkToken.expires_at < now - FORGET_AFTER)
        )
        return int(done.rowcount or 0)

    return await db.transact(work)
