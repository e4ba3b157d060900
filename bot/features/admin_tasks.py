"""Admins: the mall's tasks. A list with each task's completions of the last 30 days, a card
(what it asks, its reward, whether the bot can check its chat), pause and resume, a quiz's or
survey's answers as a chart and a CSV, and new or changed tasks sent as a ``[[tasks]]`` table
in the chat (checked whole, as the catalog file is: every problem named, nothing half loaded).
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bot.callback_data import CallbackData, Id
from bot.charts import poll_chart
from bot.features.admin_questions import ask, drop_question
from bot.features.admin_screens import admin_screen
from bot.features.admin_task_loading import bot_standing, load_as_admin, tasks_loaded
from bot.features.task_texts import OPEN_TEXTS, progress_text, reward_text, title
from bot.i18n import Html, shorten
from bot.router import Router
from bot.screens import Button, Document, Photo, Screen
from bot.turn import Turn
from core.growth.tasks import TaskFigures, TaskView
from core.rewards.catalog_file import CatalogError

router = Router()

LIST_ROUTE = "atk"
CARD_ROUTE = "atc"
TOGGLE_ROUTE = "atp"
RESULTS_ROUTE = "atr"
NEW_ROUTE = "atn"


class AdminTaskList(CallbackData, route=LIST_ROUTE):
    """Every task, for the admin."""


class AdminTaskCard(CallbackData, route=CARD_ROUTE):
    """One task's card, for the admin."""

    task_id: Id


class ToggleTask(CallbackData, route=TOGGLE_ROUTE):
    """Pause or resume a task."""

    task_id: Id


class TaskResults(CallbackData, route=RESULTS_ROUTE):
    """A poll task's results."""

    task_id: Id


class NewTask(CallbackData, route=NEW_ROUTE):
    """How to add a task."""


TOML_INPUT = "admin.tasks.toml"
FIGURES_DAYS = 30
# What a pasted [[tasks]] table may weigh (a message is at most 4,096 characters anyway).
PROBLEMS_SHOWN = 10

TEMPLATE = """[[tasks]]
code = "join-news"
kind = "channel"
title = "Join our news channel"
titles = { zh_Hans = "关注新闻频道" }
points = 50
chat = "@yourchannel"
keep_hours = 72"""


@router.command("tasks_admin", admin=True)
async def tasks_command(turn: Turn) -> None:
    turn.send(await _list(turn))


@router.button(AdminTaskList, admin=True)
async def list_button(turn: Turn, pressed: AdminTaskList) -> None:
    await drop_question(turn, TOML_INPUT)
    turn.show(await _list(turn))


async def _list(turn: Turn, intro: Html | None = None) -> Screen:
    t = turn.t
    tasks = await turn.mall.tasks.all()
    figures = await _figures(turn)
    lines: list[str] = [] if intro is None else [intro, ""]
    lines.append(t("admin.tasks.title", days=t.number(FIGURES_DAYS)))
    if not tasks:
        lines.append(t("admin.tasks.none"))
    rows: list[tuple[Button, ...]] = []
    for task in tasks:
        done = figures.get(task.task_id)
        lines.append(
            t(
                "admin.tasks.line",
                state="▶️" if task.active else "⏸",
                title=title(t, task),
                code=task.code,
                done=t.number(done.completions if done else 0),
                points=t.points(done.points if done else 0),
            )
        )
        label = shorten(f"{'▶️' if task.active else '⏸'} {task.title}", 60)
        rows.append((Button(label, data=AdminTaskCard(task.task_id).pack()),))
    rows.append((Button(t("admin.tasks.new"), data=NewTask().pack()),))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


async def _figures(turn: Turn) -> dict[int, TaskFigures]:
    since = turn.now - timedelta(days=FIGURES_DAYS)
    return {f.task_id: f for f in await turn.mall.tasks.figures(since)}


@router.button(AdminTaskCard, admin=True)
async def card_button(turn: Turn, pressed: AdminTaskCard) -> None:
    turn.show(await _card(turn, await turn.mall.tasks.get(pressed.task_id)))


async def _card(turn: Turn, task: TaskView, intro: Html | None = None) -> Screen:
    t = turn.t
    lines: list[str] = [] if intro is None else [intro, ""]
    lines += [
        t("admin.tasks.card", title=title(t, task), code=task.code),
        t("admin.tasks.kind", kind=t(_KINDS[task.kind])),
        t("admin.tasks.reward", reward=reward_text(t, task), repeat=t(OPEN_TEXTS[task.repeat])),
        t("admin.tasks.state_on") if task.active else t("admin.tasks.state_off"),
    ]
    if task.starts_at is not None or task.ends_at is not None:
        lines.append(
            t(
                "admin.tasks.window",
                starts=t.moment(task.starts_at) if task.starts_at else "—",
                ends=t.moment(task.ends_at) if task.ends_at else "—",
            )
        )
    if task.min_tier:
        lines.append(t("admin.tasks.tier", tier=task.min_tier))
    if task.kind == "channel" and task.chat is not None:
        lines.append(t("admin.tasks.chat", chat=task.chat, hours=t.number(task.keep_hours or 0)))
        lines.append((await bot_standing(turn.queries, t, task.chat))[1])
    if task.poll is not None:
        lines.append(t("admin.tasks.question", question=task.poll.question))
        for number, option in enumerate(task.poll.options, 1):
            right = " ✅" if task.poll.correct == number - 1 else ""
            lines.append(f"{number}. {html.escape(option)}{right}")
    if task.kind == "challenge" and task.target is not None:
        lines.append(
            t("admin.tasks.target", target=progress_text(t, task, 0, turn.config.mall.currency))
        )
    figures = (await _figures(turn)).get(task.task_id)
    lines.append(
        t(
            "admin.tasks.figures",
            days=t.number(FIGURES_DAYS),
            done=t.number(figures.completions if figures else 0),
            points=t.points(figures.points if figures else 0),
            revoked=t.number(figures.revoked if figures else 0),
        )
    )
    toggle = "admin.tasks.pause" if task.active else "admin.tasks.resume"
    rows: list[tuple[Button, ...]] = [(Button(t(toggle), data=ToggleTask(task.task_id).pack()),)]
    if task.poll is not None:
        rows.append((Button(t("admin.tasks.results"), data=TaskResults(task.task_id).pack()),))
    rows.append((Button(t("admin.tasks.back"), data=AdminTaskList().pack()),))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


@router.button(ToggleTask, admin=True)
async def toggle_button(turn: Turn, pressed: ToggleTask) -> None:
    task = await turn.mall.tasks.get(pressed.task_id)
    changed = await turn.mall.tasks.set_active(
        turn.member_id, task.task_id, not task.active, turn.now
    )
    key = "admin.tasks.resumed" if changed.active else "admin.tasks.paused"
    turn.notice(turn.t(key))
    turn.show(await _card(turn, changed))


@router.button(TaskResults, admin=True)
async def results_button(turn: Turn, pressed: TaskResults) -> None:
    t = turn.t
    results = await turn.mall.tasks.results(pressed.task_id)
    counts = [(option.text, option.votes) for option in results.options]
    png = await asyncio.to_thread(poll_chart, results.question, counts)
    answered = len(results.answers)
    caption = t(
        "admin.tasks.results_caption",
        code=results.code,
        sent=t.number(results.sent),
        answered=t.number(answered),
    )
    turn.send(Screen(caption, photo=Photo(content=png, filename=f"{results.code}.png")))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["member_id", "options", "answers", "answered_at"])
    for member_id, chosen, at in results.answers:
        texts = " | ".join(results.options[i].text for i in chosen if i < len(results.options))
        writer.writerow([member_id, " ".join(str(i + 1) for i in chosen), texts, at.isoformat()])
    document = Document(
        buffer.getvalue().encode("utf-8-sig"), f"{results.code}-answers.csv", "text/csv"
    )
    turn.send(Screen(t("admin.tasks.results_csv"), document=document))


@router.button(NewTask, admin=True)
async def new_button(turn: Turn, pressed: NewTask) -> None:
    await _ask_toml(turn, turn.t("admin.tasks.ask", template=TEMPLATE))


async def _ask_toml(turn: Turn, question: Html) -> None:
    rows = ((Button(turn.t("admin.tasks.back"), data=AdminTaskList().pack()),),)
    await ask(turn, TOML_INPUT, {}, question, rows)


@router.input(TOML_INPUT, admin=True)
async def toml_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    if "[[tasks]]" not in text:
        await _ask_toml(turn, t("admin.tasks.not_tasks", template=TEMPLATE))
        return
    try:
        report = await load_as_admin(turn, text, "tasks message")
    except CatalogError as error:
        shown = [
            t("admin.tasks.problem", where=p.where, line=p.line or "?", message=p.message)
            for p in error.problems[:PROBLEMS_SHOWN]
        ]
        heading = t("admin.tasks.invalid", count=t.number(len(error.problems)))
        await _ask_toml(turn, Html("\n".join([heading, *shown])))
        return
    await turn.mall.inputs.clear(turn.member_id)
    lines = await tasks_loaded(turn, report)
    turn.send(await _list(turn, Html("\n".join(lines))))


_KINDS = {
    "channel": "admin.tasks.kind_channel",
    "quiz": "admin.tasks.kind_quiz",
    "survey": "admin.tasks.kind_survey",
    "challenge": "admin.tasks.kind_challenge",
}
