"""The admins' audit log: every admin action, and every refused attempt at one.

An entry says who acted, what they did, to what, when, and the state before and after as
small JSON objects (a balance, a stock level, an item's fields). Admins read the latest with
``/audit``; nothing in the mall ever updates or deletes an entry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import AuditEntry
from core.errors import InvalidInput

# A refused attempt at an admin command or button by someone who is not an admin.
DENIED = "denied"
# Who the audit log names for what the operator does at the command line (``pointsmall
# catalog load``): no Telegram account, so no member id; risk control's own actor is 0
# (``core.membership.risk.RISK_ACTOR``), a person's is positive.
OPERATOR_ACTOR = -1
MAX_STATE_CHARS = 4000
MAX_PAGE = 50


@dataclass(frozen=True)
class AuditRecord:
    entry_id: int
    at: datetime
    actor_id: int
    action: str
    target: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]


def _state(value: Mapping[str, Any] | None, field: str) -> str:
    text = json.dumps(dict(value or {}), ensure_ascii=False, sort_keys=True, default=str)
    if len(text) > MAX_STATE_CHARS:
        raise InvalidInput(f"{field} is over {MAX_STATE_CHARS} characters", field=field)
    return text


def operator_or_member(actor_id: object) -> int:
    """An actor of an action the command line may do too: :data:`OPERATOR_ACTOR`, or an
    admin's member id."""
    if type(actor_id) is int and actor_id == OPERATOR_ACTOR:
        return OPERATOR_ACTOR
    return validation.member_id(actor_id)


async def write_entry(
    conn: AsyncConnection,
    *,
    actor_id: int,
    action: str,
    target: str,
    now: datetime,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> int:
    """Add an entry inside the caller's transaction (so it stands or falls with the action)."""
    values = {
        "at": now,
        "actor_id": actor_id,
        "action": validation.text(action, field="action", max_length=48),
        "target": validation.text(target, field="target", max_length=64),
        "before": _state(before, "before"),
        "after": _state(after, "after"),
    }
    result = await conn.execute(insert(AuditEntry).values(**values).returning(AuditEntry.id))
    return int(result.scalar_one())


class Audit:
    """Write and read the audit log."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def record(
        self,
        actor_id: int,
        action: str,
        target: str,
        now: datetime,
        *,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> int:
        """Record an action that has just succeeded; returns the entry's id."""
        async with self.db.write() as conn:
            return await write_entry(
                conn,
                actor_id=actor_id,
                action=action,
                target=target,
                now=now,
                before=before,
                after=after,
            )

    async def denied(self, actor_id: int, attempt: str, now: datetime) -> int:
        """Record that someone who is not an admin tried an admin command or button."""
        return await self.record(actor_id, DENIED, attempt[:64], now)

    async def latest(
        self, limit: int = 20, *, before_id: int | None = None, actor_id: int | None = None
    ) -> tuple[AuditRecord, ...]:
        """The newest entries first (older than entry ``before_id``), optionally one person's."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", field="limit")
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if before_id is not None:
            query = query.where(AuditEntry.id < before_id)
        if actor_id is not None:
            query = query.where(AuditEntry.actor_id == actor_id)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return tuple(
            AuditRecord(
                entry_id=row.id,
                at=row.at,
                actor_id=row.actor_id,
                action=row.action,
                target=row.target,
                before=json.loads(row.before),
                after=json.loads(row.after),
            )
            for row in rows
        )
