"""Tasks: what members do for a reward beyond checking in and buying.

- **Channel or group**: the bot checks with Telegram that the member is in the chat before it
  calls :meth:`Tasks.complete_joined`; the completion is then watched for ``keep_hours``, and a
  member found gone before that loses the reward (:meth:`Tasks.revoke`, called by the job).
- **Quiz or survey**: sent as a Telegram poll (:meth:`Tasks.poll_for` then
  :meth:`Tasks.record_poll`), answered by the poll's answer (:meth:`Tasks.answer_poll`): a quiz
  pays for the right answer only unless it says ``paid_if_wrong``; a survey pays any answer.
- **Challenge**: counted from what the ledger already knows (``core.growth.task_rewards.advance``).

Tasks are defined in the catalog file (``[[tasks]]``, ``core.growth.tasks_file``) and switched on
and off from the admin chat.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Item, Member, Task, TaskCompletion, TaskPoll
from core.errors import InvalidInput, TaskDone, TaskNotReady, TierTooLow, UnknownTask
from core.growth.task_rewards import (
    TaskReward,
    completion_of,
    counting_window,
    is_open,
    measure,
    pay,
    period_of,
    reward_of,
    tier_allows,
)
from core.operations.outbox import Envelope, enqueue
from core.points import rules
from core.points.accounts import SystemAccount
from core.points.earning import add_earned, refresh_tier
from core.points.ledger import debit_member, lock_member, require_member
from core.reporting.audit import write_entry


@dataclass(frozen=True)
class PollText:
    """A quiz's or survey's question and options in one language."""

    question: str
    options: tuple[str, ...]
    explanation: str = ""


@dataclass(frozen=True)
class PollContent:
    """A quiz's or survey's question, options and, for a quiz, the right option."""

    question: str
    options: tuple[str, ...]
    correct: int | None = None
    explanation: str = ""
    paid_if_wrong: bool = False
    texts: dict[str, PollText] = field(default_factory=dict)

    def in_language(self, language: str) -> PollText:
        """The poll as a member reading ``language`` sees it (the default where none is given)."""
        return self.texts.get(language) or PollText(self.question, self.options, self.explanation)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> PollContent | None:
        if not body:
            return None
        texts = {
            language: PollText(
                str(text["question"]),
                tuple(str(o) for o in text["options"]),
                str(text.get("explanation", "")),
            )
            for language, text in dict(body.get("texts") or {}).items()
        }
        correct = body.get("correct")
        return cls(
            question=str(body["question"]),
            options=tuple(str(o) for o in body["options"]),
            correct=None if correct is None else int(correct),
            explanation=str(body.get("explanation", "")),
            paid_if_wrong=bool(body.get("paid_if_wrong", False)),
            texts=texts,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "options": list(self.options),
            "correct": self.correct,
            "explanation": self.explanation,
            "paid_if_wrong": self.paid_if_wrong,
            "texts": {
                language: {
                    "question": text.question,
                    "options": list(text.options),
                    "explanation": text.explanation,
                }
                for language, text in self.texts.items()
            },
        }


@dataclass(frozen=True)
class TaskView:
    """A task as members and admins read it."""

    task_id: int
    code: str
    kind: str
    title: str
    titles: dict[str, str]
    description: str
    descriptions: dict[str, str]
    reward_points: int
    reward_item_id: int | None
    reward_item_title: str | None
    reward_item_titles: dict[str, str]
    repeat: str
    starts_at: datetime | None
    ends_at: datetime | None
    min_tier: str | None
    active: bool
    chat: str | None
    chat_link: str | None
    keep_hours: int | None
    poll: PollContent | None
    metric: str | None
    target: int | None
    created_at: datetime

    def open_at(self, now: datetime) -> bool:
        return is_open(self, now)


@dataclass(frozen=True)
class MemberTask:
    """A task from one member's side: done in this period, how far along, whether they may."""

    task: TaskView
    period: str
    done: bool
    progress: int | None = None
    tier_allowed: bool = True
    poll_sent: bool = False
    reward: TaskReward | None = None
    # Completed this period, then taken back (the member left the chat too soon): it cannot
    # be done again until the next period.
    revoked: bool = False


@dataclass(frozen=True)
class PollAnswered:
    """A member's answer to a task's poll: right or wrong (None for a survey), and the reward."""

    task_id: int
    code: str
    title: str
    titles: dict[str, str]
    correct: bool | None
    correct_option: int | None
    reward: TaskReward | None


@dataclass(frozen=True)
class Watch:
    """A channel task's completion still being watched: is the member still in ``chat``?"""

    completion_id: int
    member_id: int
    chat: str


@dataclass(frozen=True)
class Revoked:
    """A reward taken back because the member left the chat too soon."""

    completion_id: int
    member_id: int
    task_id: int
    title: str
    titles: dict[str, str]
    points_taken: int
    unrecovered: int
    balance: int
    keep_hours: int


@dataclass(frozen=True)
class OptionCount:
    text: str
    votes: int


@dataclass(frozen=True)
class PollResults:
    """A survey's or quiz's answers so far: counts per option and every answer for the CSV."""

    task_id: int
    code: str
    question: str
    options: tuple[OptionCount, ...]
    answers: tuple[tuple[int, tuple[int, ...], datetime], ...]
    sent: int


@dataclass(frozen=True)
class TaskFigures:
    """Completions and points issued per task, for ``/stats`` and the reports."""

    task_id: int
    code: str
    title: str
    completions: int
    points: int
    revoked: int


# Members the tasks job asks Telegram about per run (every [jobs] every_minutes).
WATCHES_PER_RUN = 200


class Tasks:
    """Members' tasks and their rewards; admins switch them on and off and read the results."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    # --- Members --------------------------------------------------------------------------

    async def for_member(self, member_id: int, now: datetime) -> tuple[MemberTask, ...]:
        """Every open task, as this member stands with it (the Tasks screen)."""
        validation.member_id(member_id)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            tasks = (await conn.execute(_views().order_by(Task.id))).all()
            return tuple(
                [
                    await self._standing(conn, member_id, _view(row), now)
                    for row in tasks
                    if is_open(row, now)
                ]
            )

    async def one_for_member(self, member_id: int, task_id: int, now: datetime) -> MemberTask:
        validation.member_id(member_id)
        async with self.db.read() as conn:
            await require_member(conn, member_id)
            task = await _open_view(conn, task_id, now)
            return await self._standing(conn, member_id, task, now)

    async def _standing(
        self, conn: AsyncConnection, member_id: int, task: TaskView, now: datetime
    ) -> MemberTask:
        day = rules.business_day(now, self.config.mall.timezone)
        period = period_of(task.repeat, day)
        done = await completion_of(conn, task.task_id, member_id, period)
        tier = (await conn.execute(_member_tier(member_id))).scalar_one()
        progress = None
        if task.kind == "challenge" and task.metric is not None:
            window = counting_window(task, day, self.config)
            progress = await measure(conn, task.metric, member_id, window)
        sent = False
        if task.kind in ("quiz", "survey"):
            sent = (
                await conn.execute(
                    select(TaskPoll.poll_id).where(
                        TaskPoll.task_id == task.task_id,
                        TaskPoll.member_id == member_id,
                        TaskPoll.period == period,
                    )
                )
            ).first() is not None
        return MemberTask(
            task=task,
            period=period,
            done=done is not None and done.revoked_at is None,
            progress=progress,
            tier_allowed=tier_allows(task, tier, self.config),
            poll_sent=sent,
            revoked=done is not None and done.revoked_at is not None,
        )

    async def complete_joined(self, member_id: int, task_id: int, now: datetime) -> MemberTask:
        """Pay a channel task the bot has just seen the member in (its "Done" button).

        Pressed again in the same period, the first reward is answered (``done`` and its
        ``reward``) and nothing moves.
        """
        validation.member_id(member_id)
        validation.instant(now)

        async def work(conn: AsyncConnection) -> MemberTask:
            await lock_member(conn, member_id)
            task = await _open_view(conn, task_id, now)
            if task.kind != "channel":
                raise TaskNotReady(f"task {task.code!r} is not a chat to join", task=task.code)
            period = period_of(task.repeat, rules.business_day(now, self.config.mall.timezone))
            row = await _task_row(conn, task_id)
            earlier = await completion_of(conn, task_id, member_id, period)
            if earlier is not None:
                if earlier.revoked_at is not None:
                    raise TaskDone(f"task {task.code!r} was taken back", task=task.code)
                return MemberTask(task, period, True, reward=await reward_of(conn, row, earlier))
            watch = None
            if task.keep_hours:
                watch = now + timedelta(hours=task.keep_hours)
            reward = await pay(
                conn, self.config, row, member_id, period, now, notified=True, watch_until=watch
            )
            return MemberTask(task, period, True, reward=reward)

        return await self.db.transact(work)

    async def poll_for(self, member_id: int, task_id: int, now: datetime) -> MemberTask:
        """A quiz or survey the member may be sent now: open, allowed, not answered this period."""
        standing = await self.one_for_member(member_id, task_id, now)
        task = standing.task
        if task.kind not in ("quiz", "survey") or task.poll is None:
            raise TaskNotReady(f"task {task.code!r} has no poll", task=task.code)
        if not standing.tier_allowed:
            raise TierTooLow(
                f"task {task.code!r} needs tier {task.min_tier}", required=task.min_tier
            )
        async with self.db.read() as conn:
            answered = (
                await conn.execute(
                    select(TaskPoll.answered_at).where(
                        TaskPoll.task_id == task_id,
                        TaskPoll.member_id == member_id,
                        TaskPoll.period == standing.period,
                    )
                )
            ).scalar_one_or_none()
        if standing.done or answered is not None:
            raise TaskDone(f"task {task.code!r} is answered for {standing.period}", task=task.code)
        return standing

    async def record_poll(
        self, poll_id: str, member_id: int, task_id: int, period: str, now: datetime
    ) -> None:
        """Remember the poll just sent for the task, so its answer finds the task.

        Sent again before it was answered (the member lost the message), the new poll replaces
        the old one: only the latest counts, so one member cannot collect two answers.
        """
        validation.member_id(member_id)
        if not poll_id or len(poll_id) > 64:
            raise InvalidInput(f"poll id {poll_id!r} is not a Telegram poll id", field="poll_id")

        async def work(conn: AsyncConnection) -> None:
            await lock_member(conn, member_id)
            earlier = (
                await conn.execute(
                    select(TaskPoll.poll_id, TaskPoll.answered_at).where(
                        TaskPoll.task_id == task_id,
                        TaskPoll.member_id == member_id,
                        TaskPoll.period == period,
                    )
                )
            ).first()
            if earlier is not None and earlier.answered_at is not None:
                raise TaskDone(f"task {task_id} is answered for {period}", task=task_id)
            if earlier is not None:
                await conn.execute(
                    update(TaskPoll)
                    .where(TaskPoll.poll_id == earlier.poll_id)
                    .values(poll_id=poll_id, sent_at=now)
                )
            else:
                await conn.execute(
                    insert(TaskPoll).values(
                        poll_id=poll_id,
                        task_id=task_id,
                        member_id=member_id,
                        period=period,
                        sent_at=now,
                    )
                )

        await self.db.transact(work)

    async def answer_poll(
        self, poll_id: str, member_id: int, option_ids: tuple[int, ...], now: datetime
    ) -> PollAnswered | None:
        """Take a member's answer to a task's poll; None for a poll that is not a task's, not
        theirs, or a retracted vote. The first answer counts: a repeated update answers the
        same and pays nothing more.
        """
        validation.member_id(member_id)
        if not option_ids:
            return None

        async def work(conn: AsyncConnection) -> PollAnswered | None:
            sent = (await conn.execute(select(TaskPoll).where(TaskPoll.poll_id == poll_id))).first()
            if sent is None or int(sent.member_id) != member_id:
                return None
            await lock_member(conn, member_id)
            row = await _task_row(conn, int(sent.task_id))
            view = _view(await _view_row(conn, int(sent.task_id)))
            poll = view.poll
            if poll is None:
                return None
            earlier = await completion_of(conn, view.task_id, member_id, str(sent.period))
            if sent.answered_at is not None:
                reward = None if earlier is None else await reward_of(conn, row, earlier)
                correct = None if sent.correct is None else bool(sent.correct)
                return PollAnswered(
                    view.task_id, view.code, view.title, view.titles, correct, poll.correct, reward
                )
            correct = None if poll.correct is None else (poll.correct in option_ids)
            await conn.execute(
                update(TaskPoll)
                .where(TaskPoll.poll_id == poll_id)
                .values(answer=list(option_ids), correct=correct, answered_at=now)
            )
            reward = None
            earns = correct is not False or poll.paid_if_wrong
            if earns and earlier is None and is_open(row, now):
                reward = await pay(
                    conn, self.config, row, member_id, str(sent.period), now, notified=True
                )
            return PollAnswered(
                view.task_id, view.code, view.title, view.titles, correct, poll.correct, reward
            )

        return await self.db.transact(work)

    # --- Jobs -----------------------------------------------------------------------------

    async def watches(self, now: datetime, limit: int = WATCHES_PER_RUN) -> tuple[Watch, ...]:
        """Channel completions still inside their keep window, those looked at longest ago (or
        never) first, at most ``limit``: each is a ``getChatMember`` call, and Telegram's limits
        are the same for it as for messages, so a run looks at a batch and the next run goes on.
        Taking a batch marks it looked at."""

        async def work(conn: AsyncConnection) -> tuple[Watch, ...]:
            rows = (
                await conn.execute(
                    select(TaskCompletion.id, TaskCompletion.member_id, Task.chat)
                    .join(Task, Task.id == TaskCompletion.task_id)
                    .where(
                        TaskCompletion.watch_until > now,
                        TaskCompletion.revoked_at.is_(None),
                        Task.chat.is_not(None),
                    )
                    .order_by(
                        TaskCompletion.watch_checked_at.is_not(None),
                        TaskCompletion.watch_checked_at,
                        TaskCompletion.id,
                    )
                    .limit(limit)
                )
            ).all()
            if rows:
                await conn.execute(
                    update(TaskCompletion)
                    .where(TaskCompletion.id.in_([int(r.id) for r in rows]))
                    .values(watch_checked_at=now)
                )
            return tuple(Watch(int(r.id), int(r.member_id), str(r.chat)) for r in rows)

        return await self.db.transact(work)

    async def revoke(
        self, completion_id: int, now: datetime, tell: Callable[[str, Revoked], str] | None = None
    ) -> Revoked | None:
        """Take back a channel task's reward: the member left before ``keep_hours``.

        What the member has already spent cannot be taken; it is recorded as unrecovered. A
        completion already revoked, or past its watch, is left alone (None). ``tell`` renders
        the member's message (their language, the revocation) for the outbox, enqueued in the
        same transaction.
        """

        async def work(conn: AsyncConnection) -> Revoked | None:
            found = (
                await conn.execute(
                    select(TaskCompletion.member_id).where(TaskCompletion.id == completion_id)
                )
            ).scalar_one_or_none()
            if found is None:
                return None
            member = await lock_member(conn, int(found))
            done = (
                await conn.execute(select(TaskCompletion).where(TaskCompletion.id == completion_id))
            ).one()
            if done.revoked_at is not None or done.watch_until is None or done.watch_until <= now:
                return None
            task = await _task_row(conn, int(done.task_id))
            taken = min(int(done.points), member.balance)
            balance = member.balance
            if taken > 0:
                _, balance = await debit_member(
                    conn,
                    member_id=member.member_id,
                    destination=SystemAccount.ISSUANCE,
                    amount=taken,
                    code="task_reversal",
                    reference=str(task.code),
                    key=f"task_reversal:{completion_id}",
                    now=now,
                    require_active=False,
                )
                tz = self.config.mall.timezone
                await add_earned(
                    conn, member.member_id, rules.business_day(done.completed_at, tz), -taken
                )
                await refresh_tier(
                    conn, self.config, member.member_id, member.tier, rules.business_day(now, tz)
                )
            unrecovered = int(done.points) - taken
            await conn.execute(
                update(TaskCompletion)
                .where(TaskCompletion.id == completion_id)
                .values(revoked_at=now, points_taken=taken, unrecovered=unrecovered)
            )
            revoked = Revoked(
                completion_id,
                member.member_id,
                int(task.id),
                str(task.title),
                dict(task.titles or {}),
                taken,
                unrecovered,
                balance,
                int(task.keep_hours or 0),
            )
            if tell is not None:
                language = await _language(conn, member.member_id)
                envelope = Envelope(
                    f"task-revoked:{completion_id}", member.member_id, tell(language, revoked)
                )
                await enqueue(conn, [envelope], now=now)
            return revoked

        return await self.db.transact(work)

    async def tell_completed(
        self, now: datetime, tell: Callable[[str, TaskReward], str], limit: int = 200
    ) -> int:
        """Tell members of the tasks they completed with no answer of their own (a challenge
        met by a spend, an invite, a shop order): each once, enqueued in the outbox in their
        language, in the transaction that marks it told. Returns how many were told."""

        async def work(conn: AsyncConnection) -> int:
            rows = (
                await conn.execute(
                    select(TaskCompletion)
                    .where(TaskCompletion.notified_at.is_(None))
                    .order_by(TaskCompletion.id)
                    .limit(limit)
                )
            ).all()
            envelopes = []
            for done in rows:
                task = await _task_row(conn, int(done.task_id))
                reward = await reward_of(conn, task, done)
                language = await _language(conn, int(done.member_id))
                key = f"task-done:{done.id}"
                envelopes.append(Envelope(key, int(done.member_id), tell(language, reward)))
            if rows:
                await enqueue(conn, envelopes, now=now)
                await conn.execute(
                    update(TaskCompletion)
                    .where(TaskCompletion.id.in_([int(done.id) for done in rows]))
                    .values(notified_at=now)
                )
            return len(rows)

        return await self.db.transact(work)

    async def titles(self, codes: Collection[str]) -> dict[str, tuple[str, dict[str, str]]]:
        """Tasks' titles (default, by language) by code: what a history line names."""
        if not codes:
            return {}
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(Task.code, Task.title, Task.titles).where(Task.code.in_(list(codes)))
            )
            return {str(r.code): (str(r.title), dict(r.titles or {})) for r in rows}

    # --- Admins ---------------------------------------------------------------------------

    async def all(self) -> tuple[TaskView, ...]:
        async with self.db.read() as conn:
            return tuple(_view(row) for row in (await conn.execute(_views().order_by(Task.id))))

    async def get(self, task_id: int) -> TaskView:
        async with self.db.read() as conn:
            return _view(await _view_row(conn, task_id))

    async def set_active(
        self, actor_id: int, task_id: int, active: bool, now: datetime
    ) -> TaskView:
        """Switch a task on or off (members stop seeing it at once); audited."""

        async def work(conn: AsyncConnection) -> TaskView:
            before = _view(await _view_row(conn, task_id))
            await conn.execute(
                update(Task).where(Task.id == task_id).values(active=active, updated_at=now)
            )
            if before.active != active:
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="task.resume" if active else "task.pause",
                    target=f"task:{before.code}",
                    before={"active": before.active},
                    after={"active": active},
                    now=now,
                )
            return _view(await _view_row(conn, task_id))

        return await self.db.transact(work)

    async def results(self, task_id: int) -> PollResults:
        """A poll task's answers: counts per option (default texts) and each answer."""
        async with self.db.read() as conn:
            view = _view(await _view_row(conn, task_id))
            if view.poll is None:
                raise TaskNotReady(f"task {view.code!r} has no poll", task=view.code)
            rows = (
                await conn.execute(
                    select(
                        TaskPoll.member_id, TaskPoll.answer, TaskPoll.answered_at, TaskPoll.sent_at
                    )
                    .where(TaskPoll.task_id == task_id)
                    .order_by(TaskPoll.sent_at)
                )
            ).all()
        counts = [0] * len(view.poll.options)
        answers = []
        for row in rows:
            if row.answered_at is None:
                continue
            chosen = tuple(int(i) for i in (row.answer or []))
            for index in chosen:
                if 0 <= index < len(counts):
                    counts[index] += 1
            answers.append((int(row.member_id), chosen, row.answered_at))
        options = tuple(
            OptionCount(text, votes) for text, votes in zip(view.poll.options, counts, strict=True)
        )
        return PollResults(
            task_id, view.code, view.poll.question, options, tuple(answers), len(rows)
        )

    async def figures(
        self, since: datetime, until: datetime | None = None
    ) -> tuple[TaskFigures, ...]:
        """Completions, points kept (paid less taken back) and rewards taken back per task,
        completed in ``[since, until)`` (until now, by default)."""
        window = [TaskCompletion.completed_at >= since]
        if until is not None:
            window.append(TaskCompletion.completed_at < until)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        Task.id,
                        Task.code,
                        Task.title,
                        func.count(TaskCompletion.id),
                        func.coalesce(
                            func.sum(TaskCompletion.points - TaskCompletion.points_taken), 0
                        ),
                        func.count(TaskCompletion.revoked_at),
                    )
                    .join(TaskCompletion, TaskCompletion.task_id == Task.id)
                    .where(*window)
                    .group_by(Task.id, Task.code, Task.title)
                    .order_by(Task.id)
                )
            ).all()
        return tuple(
            TaskFigures(int(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in rows
        )


def _views() -> Any:
    return select(Task, Item.title.label("item_title"), Item.titles.label("item_titles")).outerjoin(
        Item, Item.id == Task.reward_item_id
    )


async def _view_row(conn: AsyncConnection, task_id: int) -> Any:
    row = (await conn.execute(_views().where(Task.id == task_id))).first()
    if row is None:
        raise UnknownTask(f"no task {task_id}", task_id=task_id)
    return row


async def _task_row(conn: AsyncConnection, task_id: int) -> Any:
    row = (await conn.execute(select(Task).where(Task.id == task_id))).first()
    if row is None:
        raise UnknownTask(f"no task {task_id}", task_id=task_id)
    return row


async def _open_view(conn: AsyncConnection, task_id: int, now: datetime) -> TaskView:
    task = _view(await _view_row(conn, task_id))
    if not is_open(task, now):
        raise UnknownTask(f"task {task_id} is not open", task_id=task_id)
    return task


def _member_tier(member_id: int) -> Any:
    return select(Member.tier).where(Member.id == member_id)


async def _language(conn: AsyncConnection, member_id: int) -> str:
    found = (await conn.execute(select(Member.language).where(Member.id == member_id))).scalar()
    return str(found or "en")


def _view(row: Any) -> TaskView:
    return TaskView(
        task_id=int(row.id),
        code=str(row.code),
        kind=str(row.kind),
        title=str(row.title),
        titles=dict(row.titles or {}),
        description=str(row.description),
        descriptions=dict(row.descriptions or {}),
        reward_points=int(row.reward_points),
        reward_item_id=None if row.reward_item_id is None else int(row.reward_item_id),
        reward_item_title=getattr(row, "item_title", None),
        reward_item_titles=dict(getattr(row, "item_titles", None) or {}),
        repeat=str(row.repeat),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        min_tier=row.min_tier,
        active=bool(row.active),
        chat=row.chat,
        chat_link=row.chat_link,
        keep_hours=row.keep_hours,
        poll=PollContent.from_json(dict(row.poll or {})),
        metric=row.metric,
        target=None if row.target is None else int(row.target),
        created_at=row.created_at,
    )
