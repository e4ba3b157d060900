"""Statements run at the driver (core.db.prepared) read, write and fail as ``conn.execute`` does.

The write path's hot statements skip SQLAlchemy's per-call machinery; these tests hold that
shortcut to SQLAlchemy's own results on both databases: the same rows with the same Python
types (UTC instants, dates, booleans), the same row counts, and the same exceptions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.db.models import Account, CheckIn, Transfer
from core.db.prepared import Prepared
from core.mall import Mall
from tests.conftest import at

ANN = 4004
_CHECKINS = cast(Table, CheckIn.__table__)
_TRANSFERS = cast(Table, Transfer.__table__)
_ACCOUNTS = cast(Table, Account.__table__)
_INSERT_CHECKIN = Prepared(insert(_CHECKINS))
_CHECKINS_OF = Prepared(
    select(_CHECKINS.c.day, _CHECKINS.c.makeup, _CHECKINS.c.created_at, _CHECKINS.c.streak)
    .where(_CHECKINS.c.member_id == bindparam("member_id"))
    .order_by(_CHECKINS.c.day)
)
_RESTREAK = Prepared(
    update(_CHECKINS)
    .where(_CHECKINS.c.member_id == bindparam("of_member"))
    .values(streak=bindparam("new_streak"))
)
_INSERT_TRANSFER = Prepared(insert(_TRANSFERS).returning(_TRANSFERS.c.id))


def _checkin(day: date, streak: int) -> dict[str, Any]:
    return {
        "member_id": ANN,
        "day": day,
        "streak": streak,
        "reward": 0,
        "makeup": streak == 2,
        "created_at": datetime(2026, 3, day.day, 2, 30, 15, 123456, tzinfo=UTC),
    }


async def test_rows_counts_and_types_match_sqlalchemys(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", at("2026-03-01 08:00"))

    async def both(conn: Any) -> tuple[list[Any], list[Any], int]:
        for n in (1, 2):
            await _INSERT_CHECKIN.run(conn, _checkin(date(2026, 3, n), n))
        fast = await _CHECKINS_OF.rows(conn, {"member_id": ANN})
        result = await conn.execute(_CHECKINS_OF.statement, {"member_id": ANN})
        slow = [tuple(row) for row in result]
        changed = await _RESTREAK.run(conn, {"of_member": ANN, "new_streak": 7})
        return fast, slow, changed

    fast, slow, changed = await mall.db.transact(both)
    assert fast == slow
    assert fast[0] == (date(2026, 3, 1), False, datetime(2026, 3, 1, 2, 30, 15, 123456, UTC), 1)
    assert [type(value) for value in fast[1]] == [date, bool, datetime, int]
    assert changed == 2


async def test_a_broken_constraint_is_sqlalchemys_integrity_error(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", at("2026-03-01 08:00"))
    transfer = {
        "key": "join:4004",  # the join's own transfer key: unique
        "debit_account_id": -1,
        "credit_account_id": ANN,
        "amount": 5,
        "code": "test",
        "reference": "x",
        "created_at": at("2026-03-01 09:00"),
    }

    async def again(conn: Any) -> None:
        await _INSERT_TRANSFER.scalar(conn, transfer)

    with pytest.raises(IntegrityError):
        await mall.db.transact(again)
    # The failed transaction left the connection usable.
    transfer["key"] = "test:4004"
    assert await mall.db.transact(lambda conn: _INSERT_TRANSFER.scalar(conn, transfer)) > 0


async def test_a_listener_sees_every_prepared_statement(mall: Mall):
    """With a ``before_cursor_execute`` listener on (the query-plan tests, the benches'
    round-trip counts), a prepared statement runs through SQLAlchemy, so it is seen."""
    await mall.members.join(ANN, "Ann", "en", at("2026-03-01 08:00"))
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    for engine in mall.db.sync_engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        rows = await mall.db.transact(lambda conn: _CHECKINS_OF.rows(conn, {"member_id": ANN}))
    finally:
        for engine in mall.db.sync_engines:
            event.remove(engine, "before_cursor_execute", record)
    assert rows == []
    assert any("FROM checkins" in statement for statement in seen)
