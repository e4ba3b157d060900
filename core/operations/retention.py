"""Pruning idempotency records once their cause can no longer be replayed.

Every use case leaves a row in ``operations`` (``core.points.idempotency``): its key, what was asked
and the first answer, so that a replay answers the same. Nothing else reads most of them, and
they are the largest table after the ledger (issue 17: 38% of the SQLite file at a million
members), so each kind whose replays end is pruned after its window (``[retention]``):

- ``checkin`` and ``makeup``: a check-in's key is the member and *today*, so only today
  replays it; a replayed make-up finds its day checked in and is refused. A few days.
- ``redeem``: the key is the confirm token in a Redeem button, which is refused once it is
  older than ``confirm_token_days`` (``core.rewards.redemptions``), so the record is kept as long.
- ``purchase`` and ``shop_order``: an order id the shop may resend for days, or in a CSV
  imported again later; past the window the order's own row refuses it as recorded before.

Every other kind is kept: sign-ups (one per member), refunds (a partial refund replayed after
its record went would take points again), holds, sale entries and draws, and the records that
are read again, such as a blind box draw's result (verifying a draw shows it) and the mall's
secrets (``secret:confirm-tokens``, ``secret:erasures``). The books need no operation: the
ledger stands on its transfers. The privacy export reads none either (no column of
``operations`` names a member).

Rows are deleted a batch at a time, each batch its own short transaction, so a run never holds
SQLite's writer or PostgreSQL's locks for long. The inbox's handled updates are pruned the same
way by its workers (``core.operations.inbox.Inbox.prune``, ``[inbox] retention_hours``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config, RetentionSettings
from core.db.database import Database
from core.db.models import Operation


def windows(settings: RetentionSettings) -> dict[str, timedelta]:
    """How long each pruned kind's records are kept; kinds not listed are kept for good."""
    checkin = timedelta(days=settings.checkin_days)
    token = timedelta(days=settings.confirm_token_days)
    order = timedelta(days=settings.order_days)
    return {
        "checkin": checkin,
        "makeup": checkin,
        "redeem": token,
        "purchase": order,
        "shop_order": order,
    }


@dataclass(frozen=True)
class Pruned:
    """What one run deleted: records by kind (kinds with none left out), and batches."""

    by_kind: tuple[tuple[str, int], ...]
    batches: int

    @property
    def operations(self) -> int:
        return sum(count for _, count in self.by_kind)


class Retention:
    """The pruning job's work, on the windows of ``[retention]``."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.settings = config.retention

    async def prune(self, now: datetime) -> Pruned:
        """Delete every pruned kind's records created before ``now`` less its window."""
        validation.instant(now)
        by_kind: list[tuple[str, int]] = []
        batches = 0
        for kind, window in windows(self.settings).items():
            removed, runs = await self._prune_kind(kind, now - window)
            batches += runs
            if removed:
                by_kind.append((kind, removed))
        return Pruned(tuple(by_kind), batches)

    async def _prune_kind(self, kind: str, before: datetime) -> tuple[int, int]:
        """(records deleted, batches run) of one kind, created before ``before``."""
        batch = self.settings.batch_size
        chosen = (
            select(Operation.key)
            .where(
                Operation.kind == kind,
                Operation.created_at < before,
                Operation.status != "pending",
            )
            .limit(batch)
            .scalar_subquery()
        )
        statement = delete(Operation).where(Operation.key.in_(chosen))

        async def one_batch(conn: AsyncConnection) -> int:
            return int((await conn.execute(statement)).rowcount or 0)

        removed = batches = 0
        while True:
            count = await self.db.transact(one_batch)
            batches += 1
            removed += count
            if count < batch:
                return removed, batches
