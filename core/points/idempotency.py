"""Run a use case at most once per key, and answer every repetition the same way.

The key is claimed first, inside the use case's own transaction (``INSERT ... ON CONFLICT DO
NOTHING``): a concurrent request with the same key waits for the first to finish and then
replays its outcome. The work runs inside a savepoint, so a refused request can roll back what
it did and still record its refusal; a retry of a refused request is refused the same way
(TigerBeetle's ``id_already_failed``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import TypeAdapter
from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.db.database import Database
from core.db.models import Operation
from core.db.prepared import Prepared
from core.errors import KeyReused, MallError, error_from_code
from core.points.metrics import LEDGER_OPERATIONS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R")
D = TypeVar("D", bound="DataclassInstance")


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """A use case's result, and whether it is the replay of an earlier request."""

    result: R
    replayed: bool


def marked(outcome: Outcome[D]) -> D:
    """The outcome's result, with ``replayed=True`` when it answers a repeated request: for
    results (frozen dataclasses) that tell their caller so in a ``replayed`` field."""
    return replace(outcome.result, replayed=True) if outcome.replayed else outcome.result


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(result_type: type[R]) -> TypeAdapter[R]:
    """The (de)serializer of a result type, built once per type."""
    adapter = _ADAPTERS.get(result_type)
    if adapter is None:
        adapter = _ADAPTERS[result_type] = TypeAdapter(result_type)
    return adapter


def fingerprint(kind: str, request: Mapping[str, object]) -> str:
    """What was asked, hashed: the same key with a different request is a conflict."""
    canonical = json.dumps({"kind": kind, **request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_once(
    db: Database,
    *,
    key: str,
    kind: str,
    request: Mapping[str, object],
    result_type: type[R],
    work: Callable[[AsyncConnection], Awaitable[R]],
    now: datetime,
    record_rejection: bool = True,
) -> Outcome[R]:
    """Run ``work`` in one transaction unless ``key`` ran before; then replay its outcome.

    ``record_rejection=False`` is for keys derived from the state itself (a day's check-in):
    there a refusal (say, a frozen account) must not outlive the state that caused it.
    """
    validation.key(key)
    digest = fingerprint(kind, request)
    adapter = _adapter(result_type)

    async def once(conn: AsyncConnection) -> Outcome[R] | MallError:
        """One transaction: the outcome, or a refusal to raise once it is recorded."""
        if not await _claim(conn, key, kind, digest, now):
            return Outcome(await _replay(conn, key, digest, adapter), replayed=True)
        if not record_rejection:
            # A refusal is not kept, so it needs no savepoint: it rolls back the whole
            # transaction, the claim with it.
            result = await work(conn)
        else:
            await _SAVEPOINT.run(conn)
            try:
                result = await work(conn)
            except MallError as exc:
                await _ROLLBACK_TO_SAVEPOINT.run(conn)
                await _record_rejection(conn, key, exc)
                return exc
            await _RELEASE_SAVEPOINT.run(conn)
        await _FINISH.run(
            conn,
            {
                "op_key": key,
                "op_status": "ok",
                "op_error": None,
                "op_result": adapter.dump_json(result).decode(),
            },
        )
        return Outcome(result, replayed=False)

    for attempt in range(3):
        try:
            done = await db.transact(once)
        except IntegrityError:
            # Two first requests raced past the claim on a unique row of their own (PostgreSQL
            # READ COMMITTED); the loser retries and replays the winner's outcome.
            if attempt == 2:
                raise
            continue
        if isinstance(done, MallError):
            LEDGER_OPERATIONS.labels(kind, "rejected").inc()
            raise done
        LEDGER_OPERATIONS.labels(kind, "replayed" if done.replayed else "ok").inc()
        return done
    raise AssertionError("unreachable")


# Built once: every use case runs these (building a statement costs more than running it).
_OPERATIONS = cast(Table, Operation.__table__)
_CLAIM = {
    name: Prepared(
        insert(_OPERATIONS)
        .on_conflict_do_nothing(index_elements=[_OPERATIONS.c.key])
        .returning(_OPERATIONS.c.key)
    )
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_FINISH = Prepared(
    update(_OPERATIONS)
    .where(_OPERATIONS.c.key == bindparam("op_key"))
    .values(
        status=bindparam("op_status"),
        error_code=bindparam("op_error"),
        result=bindparam("op_result"),
    )
)

# The work's savepoint, at the driver like the rest: SQLAlchemy's begin_nested() compiles its
# SAVEPOINT and RELEASE anew on every call (a third of a hold's CPU on the SQLite writer).
# SQLAlchemy need not know of it: the work never ends the outer transaction, and an error
# other than a refusal rolls the whole transaction back, savepoint and all.
_SAVEPOINT = Prepared(text("SAVEPOINT pointsmall_work"))
_ROLLBACK_TO_SAVEPOINT = Prepared(text("ROLLBACK TO SAVEPOINT pointsmall_work"))
_RELEASE_SAVEPOINT = Prepared(text("RELEASE SAVEPOINT pointsmall_work"))
_OUTCOME = Prepared(
    select(
        _OPERATIONS.c.fingerprint,
        _OPERATIONS.c.status,
        _OPERATIONS.c.error_code,
        _OPERATIONS.c.result,
    ).where(_OPERATIONS.c.key == bindparam("op_key"))
)


async def _record_rejection(conn: AsyncConnection, key: str, exc: MallError) -> None:
    await _FINISH.run(
        conn,
        {
            "op_key": key,
            "op_status": "rejected",
            "op_error": exc.code,
            "op_result": json.dumps(exc.details, default=str),
        },
    )


async def _claim(conn: AsyncConnection, key: str, kind: str, digest: str, now: datetime) -> bool:
    values = {
        "key": key,
        "kind": kind,
        "fingerprint": digest,
        "status": "pending",
        "created_at": now,
    }
    return await _CLAIM[conn.dialect.name].first(conn, values) is not None


async def _replay(conn: AsyncConnection, key: str, digest: str, adapter: TypeAdapter[R]) -> R:
    row = await _OUTCOME.first(conn, {"op_key": key})
    assert row is not None, f"operation {key!r} claimed but not found"
    found_digest, status, error_code, result = row
    if found_digest != digest:
        raise KeyReused(f"key {key!r} was used for a different request", key=key)
    if status == "rejected":
        raise error_from_code(error_code or "mall_error", json.loads(result or "{}"))
    return adapter.validate_json(result or "null")
