"""The catalog file's ``[[tasks]]``: tasks written as an admin thinks of them, checked whole.

A task is named by its ``code``; loading the file again updates it (a task the file leaves out
stays as it is: switch it off from the admin chat or with ``active = false``). Every problem is
reported with its line, as for items and boxes, and nothing is written while any remains.

    [[tasks]]
    code = "join-news"
    kind = "channel"                 # channel | quiz | survey | challenge
    title = "Join our news channel"
    titles = { zh_Hans = "关注我们的新闻频道" }
    points = 50                      # and/or prize = "<item sku>"
    repeat = "once"                  # once | day | week | month
    chat = "@pointsmall_news"        # channel: the chat; the bot must be an admin there
    keep_hours = 72                  # leaving within 72 hours takes the points back

    [[tasks]]
    code = "coffee-quiz"
    kind = "quiz"
    title = "Coffee quiz"
    points = 20
    question = "Where does the latte come from?"
    options = ["Italy", "France", "Japan"]
    answer = 1                       # the right option, counted from 1 (quiz only)
    texts.zh_Hans = { question = "拿铁来自哪里？", options = ["意大利", "法国", "日本"] }

    [[tasks]]
    code = "three-checkins"
    kind = "challenge"
    title = "Check in 3 times this week"
    points = 30
    repeat = "week"
    metric = "checkins"              # checkins | spend | redeem | invites | shop
    target = 3                       # shop: an amount of money, such as "49.90"
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.commerce.shop_orders import to_minor
from core.config import Config
from core.db.models import Task
from core.errors import MallError
from core.growth.task_rewards import KINDS, METRICS, REPEATS
from core.growth.tasks import PollContent, PollText
from core.points import rules
from core.rewards.catalog import items_by_sku

# A public chat's username as Telegram allows it, or a numeric chat id (-100... for channels).
_CHAT = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$|^-?\d{5,20}$")
_LINK = re.compile(r"^https://t\.me/[A-Za-z0-9_+/-]{2,100}$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# Telegram's limits for a poll.
QUESTION_MAX = 300
OPTION_MAX = 100
OPTIONS_MIN, OPTIONS_MAX = 2, 10
EXPLANATION_MAX = 200


class Problems(Protocol):
    """Where the catalog loader collects what is wrong (``core.rewards.catalog_file``)."""

    def add(
        self, table: str, index: int, sku: object, loc: Sequence[int | str], message: str
    ) -> None: ...

    def add_validation(
        self, table: str, index: int, sku: object, error: ValidationError
    ) -> None: ...

    def texts(
        self,
        table: str,
        index: int,
        sku: object,
        loc: Sequence[int | str],
        texts: Mapping[str, str],
        max_length: int,
        *,
        allow_empty: bool = False,
    ) -> bool: ...


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _PollText(_Model):
    question: str
    options: list[str]
    explanation: str = ""


class _Task(_Model):
    code: str
    kind: str
    title: str
    titles: dict[str, str] = {}
    description: str = ""
    descriptions: dict[str, str] = {}
    points: int = 0
    prize: str | None = None
    repeat: str = "once"
    starts: datetime | None = None
    ends: datetime | None = None
    min_tier: str | None = None
    active: bool = True
    chat: str | None = None
    link: str | None = None
    keep_hours: int | None = None
    question: str | None = None
    options: list[str] | None = None
    answer: int | None = None
    explanation: str | None = None
    paid_if_wrong: bool | None = None
    texts: dict[str, _PollText] = {}
    metric: str | None = None
    target: int | str | None = None


# Which keys belong to which kind: a key of another kind is a mistake worth naming.
_ONLY = {
    "chat": ("channel",),
    "link": ("channel",),
    "keep_hours": ("channel",),
    "question": ("quiz", "survey"),
    "options": ("quiz", "survey"),
    "texts": ("quiz", "survey"),
    "answer": ("quiz",),
    "explanation": ("quiz",),
    "paid_if_wrong": ("quiz",),
    "metric": ("challenge",),
    "target": ("challenge",),
}


@dataclass(frozen=True)
class TaskEntry:
    """A checked ``[[tasks]]`` table, as the ``tasks`` row it becomes."""

    code: str
    prize: str | None
    values: dict[str, Any]


def check_tasks(
    raw_tasks: list[Any], config: Config, file_items: Mapping[str, str], problems: Problems
) -> tuple[list[TaskEntry], dict[str, list[int]]]:
    """The file's tasks checked, and the prize skus not in the file (to look up): by task index."""
    entries: list[TaskEntry] = []
    outside: dict[str, list[int]] = {}
    seen: set[str] = set()
    tiers = {level.name for level in config.tiers.levels}
    for index, raw in enumerate(raw_tasks):
        if not isinstance(raw, dict):
            problems.add("tasks", index, None, (), "expected a table")
            continue
        try:
            model = _Task.model_validate(raw)
        except ValidationError as error:
            problems.add_validation("tasks", index, raw.get("code"), error)
            continue
        found: list[tuple[tuple[int | str, ...], str]] = []

        def bad(loc: tuple[int | str, ...], message: str) -> None:
            found.append((loc, message))  # noqa: B023 - used at once, in this iteration

        code = model.code
        if not _CODE.match(code):
            bad(("code",), "must be 1-64 lowercase letters, digits, '-' or '_'")
        elif code in seen:
            bad(("code",), f"task {code!r} appears twice in the file")
        seen.add(code)
        if model.kind not in KINDS:
            bad(("kind",), f"must be one of {', '.join(KINDS)}")
        if model.repeat not in REPEATS:
            bad(("repeat",), f"must be one of {', '.join(REPEATS)}")
        if not model.title.strip() or len(model.title) > 200:
            bad(("title",), "must be text of 1-200 characters")
        if len(model.description) > 1000:
            bad(("description",), "must be at most 1000 characters")
        if model.points < 0:
            bad(("points",), "must not be negative")
        if model.points == 0 and model.prize is None:
            bad(("points",), "a task rewards something: give points > 0 or a prize item")
        if model.prize is not None:
            kind = file_items.get(model.prize)
            if kind is None:
                outside.setdefault(model.prize, []).append(index)
            elif kind == "coupon":
                bad(("prize",), f"item {model.prize!r} is a coupon item; a task's prize is not")
        if model.min_tier is not None and model.min_tier not in tiers:
            bad(("min_tier",), f"no tier {model.min_tier!r} (tiers: {', '.join(sorted(tiers))})")
        tz = config.mall.timezone
        starts, ends = rules.on_mall_clock(model.starts, tz), rules.on_mall_clock(model.ends, tz)
        if starts is not None and ends is not None and ends <= starts:
            bad(("ends",), "must be after starts")
        for key, kinds in _ONLY.items():
            if key in raw and model.kind in KINDS and model.kind not in kinds:
                bad((key,), f"only for a task of kind {' or '.join(kinds)}")
        values: dict[str, Any] = {
            "kind": model.kind,
            "title": model.title.strip(),
            "titles": validation.clean_texts(model.titles),
            "description": model.description.strip(),
            "descriptions": validation.clean_texts(model.descriptions),
            "reward_points": model.points,
            "repeat": model.repeat,
            "starts_at": starts,
            "ends_at": ends,
            "min_tier": model.min_tier,
            "active": model.active,
            "chat": None,
            "chat_link": None,
            "keep_hours": None,
            "poll": {},
            "metric": None,
            "target": None,
        }
        if model.kind == "channel":
            _check_channel(model, values, bad)
        elif model.kind in ("quiz", "survey"):
            _check_poll(model, values, bad)
        elif model.kind == "challenge":
            _check_challenge(model, values, config, bad)
        ok = not found
        for loc, message in found:
            problems.add("tasks", index, code, loc, message)
        ok = problems.texts("tasks", index, code, ("titles",), model.titles, 200) and ok
        ok = (
            problems.texts("tasks", index, code, ("descriptions",), model.descriptions, 1000) and ok
        )
        if ok:
            entries.append(TaskEntry(code, model.prize, values))
    return entries, outside


def _check_channel(model: _Task, values: dict[str, Any], bad: Any) -> None:
    if model.chat is None:
        bad(("chat",), "a channel task names its chat: '@username' or the chat's numeric id")
        return
    chat = model.chat.strip()
    if not _CHAT.match(chat):
        bad(("chat",), "must be a chat's '@username' or its numeric id (such as -1001234567890)")
    link = model.link
    if link is None and chat.startswith("@"):
        link = f"https://t.me/{chat[1:]}"
    if link is None:
        bad(("link",), "a chat named by its id needs its invite link (https://t.me/...)")
    elif not _LINK.match(link):
        bad(("link",), "must be a Telegram link such as https://t.me/yourchannel")
    if model.keep_hours is not None and not 0 <= model.keep_hours <= 24 * 90:
        bad(("keep_hours",), "must be 0-2160 hours (90 days)")
    values.update(chat=chat, chat_link=link, keep_hours=model.keep_hours or None)


def _check_poll(model: _Task, values: dict[str, Any], bad: Any) -> None:
    question, options = model.question, model.options
    if question is None:
        bad(("question",), "a quiz or survey asks a question")
    elif not question.strip() or len(question) > QUESTION_MAX:
        bad(("question",), f"must be text of 1-{QUESTION_MAX} characters")
    if options is None:
        bad(("options",), f"a quiz or survey gives {OPTIONS_MIN}-{OPTIONS_MAX} options")
        return
    _check_options(options, ("options",), bad)
    correct = None
    if model.kind == "quiz":
        if model.answer is None:
            bad(("answer",), "a quiz names its right option, counted from 1")
        elif not 1 <= model.answer <= len(options):
            bad(("answer",), f"must be an option's number, 1-{len(options)}")
        else:
            correct = model.answer - 1
    explanation = (model.explanation or "").strip()
    if len(explanation) > EXPLANATION_MAX:
        bad(("explanation",), f"must be at most {EXPLANATION_MAX} characters")
    texts: dict[str, PollText] = {}
    for language, text in model.texts.items():
        loc: tuple[int | str, ...] = ("texts", language)
        if not text.question.strip() or len(text.question) > QUESTION_MAX:
            bad((*loc, "question"), f"must be text of 1-{QUESTION_MAX} characters")
        if len(text.options) != len(options):
            bad((*loc, "options"), f"must give the same {len(options)} options, in order")
        _check_options(text.options, (*loc, "options"), bad)
        if len(text.explanation) > EXPLANATION_MAX:
            bad((*loc, "explanation"), f"must be at most {EXPLANATION_MAX} characters")
        texts[language] = PollText(
            text.question.strip(), tuple(o.strip() for o in text.options), text.explanation.strip()
        )
    content = PollContent(
        question=(question or "").strip(),
        options=tuple(o.strip() for o in options),
        correct=correct,
        explanation=explanation,
        paid_if_wrong=bool(model.paid_if_wrong),
        texts=texts,
    )
    values["poll"] = content.to_json()


def _check_options(options: list[str], loc: tuple[int | str, ...], bad: Any) -> None:
    if not OPTIONS_MIN <= len(options) <= OPTIONS_MAX:
        bad(loc, f"must give {OPTIONS_MIN}-{OPTIONS_MAX} options")
    for number, option in enumerate(options):
        if not option.strip() or len(option) > OPTION_MAX:
            bad((*loc, number), f"must be text of 1-{OPTION_MAX} characters")
    stripped = [o.strip() for o in options]
    if len(set(stripped)) != len(stripped):
        bad(loc, "options must differ from each other")


def _check_challenge(model: _Task, values: dict[str, Any], config: Config, bad: Any) -> None:
    if model.metric is None or model.metric not in METRICS:
        bad(("metric",), f"a challenge counts one of {', '.join(METRICS)}")
        return
    if model.target is None:
        bad(("target",), "a challenge has a target to reach")
        return
    if model.metric == "shop":
        try:
            target = to_minor(model.target, config, field="target")
        except MallError as error:
            bad(("target",), str(error))
            return
    elif isinstance(model.target, int) and model.target > 0:
        target = model.target
    else:
        bad(("target",), "must be a whole number above 0")
        return
    values.update(metric=model.metric, target=target)


async def upsert_tasks(
    conn: AsyncConnection, entries: list[TaskEntry], now: datetime
) -> dict[str, int]:
    """Write the file's tasks (created, updated or unchanged, counted)."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    if not entries:
        return counts
    items = await items_by_sku(conn, sorted({e.prize for e in entries if e.prize is not None}))
    codes = [entry.code for entry in entries]
    existing = {
        str(row.code): row for row in await conn.execute(select(Task).where(Task.code.in_(codes)))
    }
    for entry in entries:
        values = dict(entry.values)
        values["reward_item_id"] = None if entry.prize is None else items[entry.prize][0]
        row = existing.get(entry.code)
        if row is None:
            await conn.execute(
                insert(Task).values(code=entry.code, created_at=now, updated_at=now, **values)
            )
            counts["created"] += 1
        elif any(getattr(row, key) != value for key, value in values.items()):
            await conn.execute(
                update(Task).where(Task.code == entry.code).values(updated_at=now, **values)
            )
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    return counts
