"""The question the bot is waiting for a member to answer, kept where every bot process sees it.

When the bot asks a member to type something (the delivery address of redemption 42, a claim
code), the answer arrives as an ordinary text message, perhaps at another bot process behind
the same webhook. So the question lives in the database, one per member: asking again
replaces it, and :meth:`PendingInputs.take` hands it to exactly one reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Member
from core.db.models import PendingInput as PendingInputRow
from core.errors import InvalidInput, UnknownMember

JSON: TypeAlias = str | int | float | bool | list["JSON"] | dict[str, "JSON"] | None

_KIND = re.compile(r"[a-z][a-z0-9_.:-]{0,31}")
# The context of a question (ids, a step), not a document.
MAX_DATA_CHARS = 4000
MAX_TTL = timedelta(days=7)


@dataclass(frozen=True)
class PendingInput:
    """A question awaiting the member's next text: what it is, its context, until when."""

    kind: str
    data: Mapping[str, JSON]
    expires_at: datetime


class PendingInputs:
    """Ask a member for a text, and route their next message to that question."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def expect(
        self,
        member_id: int,
        kind: str,
        data: Mapping[str, JSON],
        now: datetime,
        ttl: timedelta,
    ) -> None:
        """Wait for the member's next text as the answer to ``kind``; replaces any earlier one."""
        validation.member_id(member_id)
        kind = _kind(kind)
        text = _data(data)
        validation.instant(now)
        if not isinstance(ttl, timedelta) or not timedelta(0) < ttl <= MAX_TTL:
            raise InvalidInput(f"ttl must be positive and at most {MAX_TTL}", field="ttl")
        values = {"member_id": member_id, "kind": kind, "data": text, "expires_at": now + ttl}
        try:
            async with self.db.write() as conn:
                known = (
                    await conn.execute(
                        select(Member.id).where(Member.id == member_id, Member.deleted_at.is_(None))
                    )
                ).first()
                if known is None:
                    raise UnknownMember(f"no member {member_id}", member_id=member_id)
                insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                statement = insert_(PendingInputRow).values(**values)
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[PendingInputRow.member_id],
                        set_={
                            "kind": statement.excluded.kind,
                            "data": statement.excluded.data,
                            "expires_at": statement.excluded.expires_at,
                        },
                    )
                )
        except IntegrityError as error:
            # The member's account was erased between the check and the write (PostgreSQL).
            raise UnknownMember(f"no member {member_id}", member_id=member_id) from error

    async def take(self, member_id: int, now: datetime) -> PendingInput | None:
        """The question the member's text answers, removed so no other process answers it too.

        None when there is none, or when it has expired (then it is removed all the same).
        """
        validation.member_id(member_id)
        validation.instant(now)
        async with self.db.write() as conn:
            row = (
                await conn.execute(
                    delete(PendingInputRow)
                    .where(PendingInputRow.member_id == member_id)
                    .returning(
                        PendingInputRow.kind, PendingInputRow.data, PendingInputRow.expires_at
                    )
                )
            ).first()
        if row is None or row.expires_at <= now:
            return None
        return _pending(row.kind, row.data, row.expires_at)

    async def peek(self, member_id: int, now: datetime) -> PendingInput | None:
        """The question the member has yet to answer, left in place; None if none or expired."""
        validation.member_id(member_id)
        validation.instant(now)
        async with self.db.read() as conn:
            return await open_question(conn, member_id, now)

    async def clear(self, member_id: int) -> None:
        """Forget the question (the member pressed Cancel, or went elsewhere)."""
        validation.member_id(member_id)
        async with self.db.write() as conn:
            await conn.execute(
                delete(PendingInputRow).where(PendingInputRow.member_id == member_id)
            )


async def open_question(
    conn: AsyncConnection, member_id: int, now: datetime
) -> PendingInput | None:
    """The member's unanswered question at ``now``, read in the caller's transaction."""
    row = (
        await conn.execute(
            select(PendingInputRow.kind, PendingInputRow.data, PendingInputRow.expires_at).where(
                PendingInputRow.member_id == member_id
            )
        )
    ).first()
    if row is None or row.expires_at <= now:
        return None
    return _pending(row.kind, row.data, row.expires_at)


def _pending(kind: str, data: str, expires_at: datetime) -> PendingInput:
    parsed = json.loads(data)
    assert isinstance(parsed, dict)
    return PendingInput(kind, parsed, expires_at)


def _kind(value: object) -> str:
    if not isinstance(value, str) or not _KIND.fullmatch(value):
        raise InvalidInput(
            f"kind must be 1-32 of a-z, 0-9 and _.:- starting with a letter, got {value!r}",
            field="kind",
        )
    return value


def _data(value: object) -> str:
    """The question's context as JSON text: an object of plain values, small."""
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidInput("data must be a mapping with text keys", field="data")
    try:
        text = json.dumps(dict(value), allow_nan=False, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as error:
        raise InvalidInput(f"data must be plain JSON values: {error}", field="data") from error
    if len(text) > MAX_DATA_CHARS:
        raise InvalidInput(f"data must be at most {MAX_DATA_CHARS} characters", field="data")
    return text
