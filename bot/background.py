"""What runs beside the chat: the outbox sender in every process, the scheduler in one.

``async with background(runtime, messenger):`` around a running bot starts both and stops
them on exit, waiting until they have stopped even if it is cancelled meanwhile (the
cancellation is raised after): a database step under way is finished, never cut off (see
``bot.sender``). The sender runs in every process (the outbox shares the work and the pace); the
scheduler only while this process holds the leader lock (``core.operations.leader``), which it tries
for again every :data:`CAMPAIGN_SECONDS`, so another process takes over when the leader dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from bot.delivery import Messenger
from bot.jobs import JobScheduler, JobScreens, job_specs
from bot.refunds import Refunder
from bot.runtime import Runtime
from bot.sender import Sender, uninterrupted
from bot.task_watch import TaskWatcher
from core.operations.jobs import Jobs
from core.operations.leader import Leader

log = logging.getLogger(__name__)
CAMPAIGN_SECONDS = 10.0


@dataclass
class Background:
    jobs: Jobs
    scheduler: JobScheduler
    sender: Sender
    leader: Leader
    refunder: Refunder


async def _lead(leader: Leader, scheduler: JobScheduler) -> None:
    """Run the scheduler while leading; try for the lead again and again."""
    try:
        while True:
            if await uninterrupted(leader.try_acquire()):
                if not scheduler.running:
                    log.info("leading: the scheduled jobs run in this process")
                    await uninterrupted(scheduler.start())
            elif scheduler.running:
                log.warning("lost the lead: the scheduled jobs stop here")
                scheduler.stop()
            await asyncio.sleep(CAMPAIGN_SECONDS)
    finally:
        scheduler.stop()


@contextlib.asynccontextmanager
async def background(
    runtime: Runtime, messenger: Messenger, *, schedule: bool = True
) -> AsyncIterator[Background]:
    """Start the sender (and, with ``schedule``, the campaign for the scheduler); stop both
    on exit, letting the sender finish the calls under way. Jobs see ``runtime.clock``."""
    config = runtime.config
    jobs = Jobs(runtime.mall, JobScreens(runtime.languages, config))
    sender = Sender(runtime.mall.outbox, messenger, concurrency=config.sender.concurrency)
    refunder = Refunder(runtime.mall, runtime.languages, runtime.clock, sender.wake)

    async def refunds(now: datetime) -> int:
        return await refunder.run_due(messenger, now)

    watcher = TaskWatcher(runtime.mall, runtime.languages, sender.wake)

    async def tasks_job(now: datetime) -> int:
        return await watcher.run(messenger, now)

    scheduler = JobScheduler(
        runtime.mall.job_runs,
        job_specs(jobs, config, refunds, tasks_job),
        clock=runtime.clock,
        tz=config.mall.timezone,
        on_enqueued=sender.wake,
    )
    leader = Leader(runtime.db)
    tasks = [asyncio.create_task(sender.run(), name="outbox-sender")]
    if schedule:
        tasks.append(asyncio.create_task(_lead(leader, scheduler), name="scheduler-lead"))
    try:
        yield Background(jobs, scheduler, sender, leader, refunder)
    finally:
        await uninterrupted(_stop(tasks, leader))


async def _stop(tasks: list[asyncio.Task[None]], leader: Leader) -> None:
    """Stop the campaign, then the sender (it finishes its calls), then give up the lead;
    then raise what a task died of, if one did. Waiting with ``asyncio.wait`` and not
    ``await task`` keeps a cancellation of the caller from being mistaken for the task's."""
    failures: list[BaseException] = []
    for task in reversed(tasks):
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled() and (error := task.exception()) is not None:
            failures.append(error)
    await leader.release()
    if failures:
        raise failures[0]
