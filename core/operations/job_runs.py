"""Who runs a scheduled job's run: one process, once, and a run missed while down once at start.

Every process of the bot may hold a scheduler (only the leader's runs, ``core.operations.leader``),
and a process that restarts asks again for the runs it missed. :class:`JobRuns` settles both with
one conditional write per run on ``job_runs``: the first to move a job's ``due_at`` forward owns
that run. What the jobs do is ``core.operations.jobs``; when they run is ``bot.jobs``'s schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from core import validation
from core.db.database import Database
from core.db.models import JobRun
from core.operations.outbox import dialect_insert


@dataclass(frozen=True)
class JobRunRecord:
    name: str
    due_at: datetime
    started_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


class JobRuns:
    """Each job's last claimed run: one process runs a given schedule, once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, name: str, due: datetime, now: datetime) -> bool:
        """Take the run of ``name`` scheduled at ``due``; False if it was taken already.

        A run is taken by moving ``due_at`` forward (or, for an unfinished run of the same
        instant, by a start after it died): one conditional write, atomic on both databases.
        """
        validation.instant(due, field="due")
        validation.instant(now)
        async with self.db.write() as conn:
            statement = dialect_insert(conn, JobRun).values(
                name=name, due_at=due, started_at=now, finished_at=None
            )
            statement = statement.on_conflict_do_update(
                index_elements=["name"],
                set_={"due_at": due, "started_at": now, "finished_at": None},
                where=JobRun.due_at < due,
            )
            result = await conn.execute(statement)
            return bool(result.rowcount)

    async def finish(self, name: str, now: datetime) -> None:
        async with self.db.write() as conn:
            await conn.execute(update(JobRun).where(JobRun.name == name).values(finished_at=now))

    async def last(self, name: str) -> JobRunRecord | None:
        async with self.db.read() as conn:
            row = (await conn.execute(select(JobRun).where(JobRun.name == name))).first()
        if row is None:
            return None
        return JobRunRecord(row.name, row.due_at, row.started_at, row.finished_at)
