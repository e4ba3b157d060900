"""Keys the mall makes for itself (the confirm tokens' signing key, the erasures' hash key):
random on first use, then the same for every process, kept in the database.

A key is the result of an ``operations`` row named for it, made through ``run_once``: when
several processes make the first one at once, one wins and the others read its key, so no
token signed by one process is refused by another. A key is never rotated here: changing it
would void every token (or hash) made with the old one.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import overload

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.database import Database
from core.db.models import Operation
from core.points.idempotency import run_once


async def stored_secret(conn: AsyncConnection, name: str) -> bytes | None:
    """The key called ``name``; None while it was never made."""
    stored = (
        await conn.execute(
            select(Operation.result).where(Operation.key == name, Operation.status == "ok")
        )
    ).scalar_one_or_none()
    return None if stored is None else bytes.fromhex(str(json.loads(stored)))


@overload
async def kept_secret(db: Database, name: str, now: datetime) -> bytes: ...


@overload
async def kept_secret(db: Database, name: str, now: None) -> bytes | None: ...


async def kept_secret(db: Database, name: str, now: datetime | None) -> bytes | None:
    """The key called ``name``, made at ``now`` if it does not exist yet; with ``now`` None it
    is only read (None while it was never made)."""
    async with db.read() as conn:
        stored = await stored_secret(conn, name)
    if stored is not None or now is None:
        return stored

    async def create(conn: AsyncConnection) -> str:
        return secrets.token_hex(32)

    # run_once makes the first secret the only one, even with several bot processes.
    outcome = await run_once(
        db, key=name, kind="secret", request={}, result_type=str, work=create, now=now
    )
    return bytes.fromhex(outcome.result)
