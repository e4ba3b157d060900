"""The seeds that make draws verifiable: each box's server seed (committed by its published
hash, revealed when it rotates) and each member's client seed.

A rotation reveals the seed that signed the draws so far and commits a new one; it runs on the
schedule of ``[boxes] seed_rotation_days`` or when an admin asks. The draw itself
(``core.games.blind_boxes``) reads the current seed shared, so a rotation waits for draws in
progress and a revealed seed never signs a draw. Why the two seeds together keep the operator
honest is ``core.games.box_draws``'s docstring.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import BlindBox, BoxSeed, ClientSeed
from core.db.prepared import Prepared
from core.errors import InvalidInput, InvalidState, UnknownBox
from core.games import box_draws
from core.games.box_odds import box_id_of
from core.points.ledger import lock_member, require_member
from core.reporting.audit import write_entry


class BadClientSeed(InvalidInput):
    """A client seed must be 1 to 64 of ``A-Z a-z 0-9 _ - .``."""


def new_seed() -> str:
    """A fresh server seed from the system's secure random source: 64 hex characters."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class ClientSeedView:
    """A member's client seed; ``chosen``: they set it (else the mall made it at random)."""

    member_id: int
    client_seed: str
    chosen: bool
    updated_at: datetime


@dataclass(frozen=True)
class RevealedSeed:
    """A box's seed that signed draws from ``created_at`` until ``revealed_at``, now public."""

    version: int
    seed: str
    seed_hash: str
    created_at: datetime
    revealed_at: datetime


@dataclass(frozen=True)
class SeedRotation:
    """The seed that signed draws until now, revealed, and the hash of the one that follows."""

    box_id: int
    revealed_seed: str
    old_version: int
    old_hash: str
    new_version: int
    new_hash: str


class BoxSeeds:
    """Server seeds' rotation and members' client seeds (the base of ``BlindBoxes``)."""

    def __init__(
        self, db: Database, config: Config, *, seed_source: Callable[[], str] = new_seed
    ) -> None:
        self.db = db
        self.config = config
        # Server seeds must come from a secure source; tests pass a fixed one.
        self.seed_source = seed_source

    def rotates_at(self, created_at: datetime | None) -> datetime | None:
        """When the schedule reveals a seed committed at ``created_at`` (None: never)."""
        days = self.config.boxes.seed_rotation_days
        if not days or created_at is None:
            return None
        return created_at + timedelta(days=days)

    async def client_seed(self, member_id: int) -> ClientSeedView | None:
        """The member's client seed; None before they set one or make their first draw."""
        validation.member_id(member_id)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            return await client_seed_in(conn, member_id)

    async def set_client_seed(
        self, member_id: int, client_seed: str, now: datetime
    ) -> ClientSeedView:
        """Set the member's client seed for their next draws (on every box).

        Refused with ``invalid_input`` (field ``client_seed``) unless it is 1 to 64 of
        ``A-Z a-z 0-9 _ - .``. Setting the seed one has is no change; past draws keep theirs.
        """
        validation.member_id(member_id)
        validation.instant(now)
        if not box_draws.valid_client_seed(client_seed):
            raise BadClientSeed(
                "a client seed is 1 to 64 letters, digits, '_', '-' or '.'", field="client_seed"
            )
        async with self.db.write() as conn:
            # The member's row first, as every draw does: a draw and a change queue on it.
            await lock_member(conn, member_id)
            await put_client_seed(conn, member_id, client_seed, chosen=True, now=now)
            found = await client_seed_in(conn, member_id)
        assert found is not None
        return found

    async def rotate_due(self, now: datetime) -> tuple[SeedRotation, ...]:
        """Rotate every box whose seed is ``[boxes] seed_rotation_days`` old (for the job).

        Idempotent: a box rotated meanwhile (by an admin or another run) has a younger seed and
        is left alone. Nothing happens when the schedule is off (0 days).
        """
        validation.instant(now)
        days = self.config.boxes.seed_rotation_days
        if not days:
            return ()
        cutoff = now - timedelta(days=days)
        async with self.db.read() as conn:
            due = (
                await conn.execute(
                    select(BoxSeed.box_id)
                    .where(BoxSeed.revealed_at.is_(None), BoxSeed.created_at <= cutoff)
                    .order_by(BoxSeed.box_id)
                )
            ).scalars()
            box_ids = [int(box_id) for box_id in due]
        rotations = []
        for box_id in box_ids:
            rotation = await self._rotate(box_id, now, older_than=cutoff)
            if rotation is not None:
                rotations.append(rotation)
        return tuple(rotations)

    async def rotate_seed(
        self, box_id: int, now: datetime, *, actor_id: int | None = None
    ) -> SeedRotation:
        """Reveal the seed that signed the draws so far and start a new one, hash published.

        Draws in progress finish on the old seed first (they hold it shared); every later draw
        is signed by the new one, so a revealed seed never signs a draw. With ``actor_id``
        (the admin) the ``box.rotate_seed`` audit entry is written in the same transaction.
        """
        box_id_of(box_id)
        validation.instant(now)
        if actor_id is not None:
            validation.member_id(actor_id)
        rotation = await self._rotate(box_id, now, older_than=None, actor_id=actor_id)
        assert rotation is not None
        return rotation

    async def _rotate(
        self,
        box_id: int,
        now: datetime,
        *,
        older_than: datetime | None,
        actor_id: int | None = None,
    ) -> SeedRotation | None:
        fresh = self.seed_source()
        async with self.db.write() as conn:
            # Rotations of one box queue on its row. NO KEY UPDATE: a draw's inserts check their
            # box (KEY SHARE, PostgreSQL) while they hold its seed shared, which a full FOR
            # UPDATE here would block while waiting for that seed: a deadlock.
            found = (
                await conn.execute(
                    select(BlindBox.id).where(BlindBox.id == box_id).with_for_update(key_share=True)
                )
            ).first()
            if found is None:
                raise UnknownBox(f"no box {box_id}", box_id=box_id)
            current = await current_seed(conn, box_id, lock=False)
            if older_than is not None and (
                current.created_at is None or current.created_at > older_than
            ):
                return None
            revealed = (
                await conn.execute(
                    update(BoxSeed)
                    .where(
                        BoxSeed.box_id == box_id,
                        BoxSeed.version == current.version,
                        BoxSeed.revealed_at.is_(None),
                    )
                    .values(revealed_at=now)
                    .returning(BoxSeed.seed)
                )
            ).scalar_one()
            version = current.version + 1
            await conn.execute(
                insert(BoxSeed).values(
                    box_id=box_id,
                    version=version,
                    seed=fresh,
                    seed_hash=box_draws.seed_hash(fresh),
                    created_at=now,
                )
            )
            await conn.execute(
                update(BlindBox).where(BlindBox.id == box_id).values(seed_version=version)
            )
            rotation = SeedRotation(
                box_id=box_id,
                revealed_seed=str(revealed),
                old_version=current.version,
                old_hash=current.seed_hash,
                new_version=version,
                new_hash=box_draws.seed_hash(fresh),
            )
            if actor_id is not None:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="box.rotate_seed",
                    target=f"box:{box_id}",
                    now=now,
                    before={"version": rotation.old_version, "seed_hash": rotation.old_hash},
                    after={
                        "version": rotation.new_version,
                        "seed_hash": rotation.new_hash,
                        "revealed_seed": rotation.revealed_seed,
                    },
                )
        return rotation


@dataclass(frozen=True)
class ServerSeed:
    version: int
    seed: str
    seed_hash: str
    created_at: datetime | None = None


async def current_seed(conn: AsyncConnection, box_id: int, *, lock: bool) -> ServerSeed:
    """The box's unrevealed seed. ``lock``: hold it shared, so a rotation waits for this draw.

    On PostgreSQL a draw that queued behind a rotation finds the seed it waited for revealed
    and reads again, now seeing the new one.
    """
    statement = _LOCK_SEED if lock else _SEED
    for _ in range(3):
        row = await statement.first(conn, {"box_id": box_id})
        if row is not None:
            version, seed, seed_hash, created_at = row
            return ServerSeed(int(version), seed, seed_hash, created_at)
    raise InvalidState(f"box {box_id} has no unrevealed seed", box_id=box_id)


# Every draw reads its seed and its member's client seed: built once and run at the driver
# (see core.db.prepared on why).
_SEEDS = cast(Table, BoxSeed.__table__)
_CLIENT_SEEDS = cast(Table, ClientSeed.__table__)
_CURRENT_SEED = (
    select(_SEEDS.c.version, _SEEDS.c.seed, _SEEDS.c.seed_hash, _SEEDS.c.created_at)
    .where(_SEEDS.c.box_id == bindparam("box_id"), _SEEDS.c.revealed_at.is_(None))
    .order_by(_SEEDS.c.version.desc())
    .limit(1)
)
_SEED = Prepared(_CURRENT_SEED)
_LOCK_SEED = Prepared(_CURRENT_SEED.with_for_update(read=True))
_CLIENT_SEED = Prepared(
    select(_CLIENT_SEEDS.c.client_seed, _CLIENT_SEEDS.c.chosen, _CLIENT_SEEDS.c.updated_at).where(
        _CLIENT_SEEDS.c.member_id == bindparam("member_id")
    )
)
# What a draw reads with its member's lock (core.games.blind_boxes): their client seed, if any.
CLIENT_SEED_OF = (
    select(_CLIENT_SEEDS.c.client_seed)
    .where(_CLIENT_SEEDS.c.member_id == bindparam("member_id"))
    .scalar_subquery()
)


def _put_client_seed_statement(insert_: Callable[[Table], Any]) -> Prepared:
    statement = insert_(_CLIENT_SEEDS)
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=[_CLIENT_SEEDS.c.member_id],
            set_={
                "client_seed": statement.excluded.client_seed,
                "chosen": statement.excluded.chosen,
                "updated_at": statement.excluded.updated_at,
            },
        )
    )


_PUT_CLIENT_SEED = {
    "postgresql": _put_client_seed_statement(postgresql.insert),
    "sqlite": _put_client_seed_statement(sqlite.insert),
}


async def last_revealed(conn: AsyncConnection, box_id: int) -> RevealedSeed | None:
    row = (
        await conn.execute(
            select(BoxSeed)
            .where(BoxSeed.box_id == box_id, BoxSeed.revealed_at.is_not(None))
            .order_by(BoxSeed.version.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return RevealedSeed(int(row.version), row.seed, row.seed_hash, row.created_at, row.revealed_at)


async def client_seed_in(conn: AsyncConnection, member_id: int) -> ClientSeedView | None:
    row = await _CLIENT_SEED.first(conn, {"member_id": member_id})
    if row is None:
        return None
    client_seed, chosen, updated_at = row
    return ClientSeedView(member_id, client_seed, bool(chosen), updated_at)


async def put_client_seed(
    conn: AsyncConnection, member_id: int, client_seed: str, *, chosen: bool, now: datetime
) -> None:
    """Insert or replace the member's client seed (callers hold the member's row)."""
    await _PUT_CLIENT_SEED[conn.dialect.name].run(
        conn,
        {"member_id": member_id, "client_seed": client_seed, "chosen": chosen, "updated_at": now},
    )
