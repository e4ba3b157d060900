"""Expiring points: what is left of lots past their date goes to the expiry book.

Set-based SQL in batches of members, so a run over millions of lots takes seconds and memory
that does not grow with the number of lots. Each batch locks its members' accounts first (the
fixed lock order) and only then reads what is left of their lots, so a spend running at the
same time on PostgreSQL can never be expired twice. Running it again expires nothing more
(unless a void has since put points back into an expired lot: those it expires).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BindParameter, bindparam, text

from core import validation
from core.db.database import Database
from core.db.types import UTCDateTime
from core.points.accounts import SystemAccount

# ``now`` is bound through the column's own type: on SQLite instants are text, and only the
# same formatting compares correctly at the exact instant.
_NOW = bindparam("now", type_=UTCDateTime)
_IDS: BindParameter[list[int]] = bindparam("ids", expanding=True)

_CANDIDATES = text(
    """
    SELECT account_id FROM lots
    WHERE remaining > 0 AND account_id > :after AND expires_at <= :now
    GROUP BY account_id ORDER BY account_id LIMIT :batch
    """
).bindparams(_NOW)
_LOCK = text("SELECT id FROM accounts WHERE id IN :ids ORDER BY id FOR UPDATE").bindparams(_IDS)
_TRANSFERS = text(
    """
    INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code, reference,
                           created_at)
    SELECT 'expiry:' || CAST(account_id AS VARCHAR(20)) || ':' || :run, account_id, :expiry,
           SUM(remaining), 'expiry', :stamp, :now
    FROM lots
    WHERE account_id IN :ids AND remaining > 0 AND expires_at <= :now
    GROUP BY account_id
    """
).bindparams(_IDS, _NOW)
_BALANCES = text(
    """
    UPDATE accounts SET balance = balance - COALESCE((
        SELECT SUM(remaining) FROM lots
        WHERE lots.account_id = accounts.id AND remaining > 0 AND expires_at <= :now
    ), 0)
    WHERE id IN :ids
    """
).bindparams(_IDS, _NOW)
_LOTS = text(
    """
    UPDATE lots SET remaining = 0
    WHERE account_id IN :ids AND remaining > 0 AND expires_at <= :now
    """
).bindparams(_IDS, _NOW)
_TOTAL = text(
    """
    SELECT COUNT(*), COALESCE(SUM(remaining), 0) FROM lots
    WHERE account_id IN :ids AND remaining > 0 AND expires_at <= :now
    """
).bindparams(_IDS, _NOW)


@dataclass(frozen=True)
class ExpiryReport:
    members: int
    lots: int
    points: int


async def expire_lots(db: Database, now: datetime, *, batch: int = 2000) -> ExpiryReport:
    """Expire every lot whose instant has come (``expires_at <= now``)."""
    validation.instant(now)
    stamp = now.isoformat()
    # A run's transfers need keys of their own: a void can put points back into lots that
    # already expired, and a second run at the same instant must expire them again.
    run = uuid.uuid4().hex
    members = lots = points = 0
    after = 0
    while True:
        async with db.write() as conn:
            base = {"now": now}
            ids = [
                int(row[0])
                for row in await conn.execute(_CANDIDATES, {**base, "after": after, "batch": batch})
            ]
            if not ids:
                break
            if not db.is_sqlite:
                await conn.execute(_LOCK, {"ids": ids})
            count, total = (await conn.execute(_TOTAL, {**base, "ids": ids})).one()
            params = {**base, "ids": ids}
            await conn.execute(
                _TRANSFERS,
                {**params, "run": run, "stamp": stamp, "expiry": int(SystemAccount.EXPIRY)},
            )
            await conn.execute(_BALANCES, params)
            await conn.execute(_LOTS, params)
        members += len(ids)
        lots += int(count)
        points += int(total)
        after = ids[-1]
    return ExpiryReport(members, lots, points)
