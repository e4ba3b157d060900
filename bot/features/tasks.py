"""Tasks: the member's "🎯 Tasks" screen, a task's page, and the three ways one is done.

- Join a channel or group: "✅ I've joined" asks Telegram (``getChatMember``) whether the member
  is in the chat, and only then is the reward paid; the tasks job takes it back from a member
  who leaves before the task's ``keep_hours``.
- Answer a quiz or a survey: the bot sends a Telegram poll in the member's language
  (``sendPoll``, a quiz for a quiz) and the vote (``poll_answer``) is what pays.
- Challenges need no button: the use case that reaches the target pays (a check-in's answer
  says so; the tasks job tells of the others). Their page shows the progress.
"""

from __future__ import annotations

import html
import logging
from dataclasses import replace

from bot.bot_queries import PollSpec
from bot.callback_data import CallbackData, Id
from bot.content import in_language, tier_name
from bot.delivery import ChatUnavailable, DeliveryError
from bot.events import PollAnswer
from bot.features.member_links import BirthdayStep, TaskList
from bot.features.task_texts import OPEN_TEXTS, progress_text, reward_text, title
from bot.i18n import Html, Translator
from bot.router import Router
from bot.screens import Button, Keyboard, Screen
from bot.turn import Turn
from core.config import Config
from core.growth.task_rewards import TaskReward
from core.growth.tasks import MemberTask, PollAnswered

log = logging.getLogger(__name__)
router = Router()

TASK_ROUTE = "tk"
JOINED_ROUTE = "tkj"
POLL_ROUTE = "tkp"


class TaskCard(CallbackData, route=TASK_ROUTE):
    """One task's card."""

    task_id: Id


class TaskJoined(CallbackData, route=JOINED_ROUTE):
    """The "I joined" button: check a channel task now."""

    task_id: Id


class TaskPoll(CallbackData, route=POLL_ROUTE):
    """Send (again) a poll task's poll."""

    task_id: Id


# A screen lists at most this many tasks (a mall runs a handful at a time).
SHOWN = 20

_ICONS = {"channel": "📢", "quiz": "🧠", "survey": "📝", "challenge": "🏆"}
# Texts by a task's repeat (OPEN_TEXTS: how often it can be done), metric or kind.
_DONE = {
    "once": "tasks.done_once",
    "day": "tasks.done_day",
    "week": "tasks.done_week",
    "month": "tasks.done_month",
}
_START = {"quiz": "tasks.start_quiz", "survey": "tasks.start_survey"}


@router.screen("tasks", TaskList)
async def tasks_command(turn: Turn) -> None:
    await show_tasks(turn)


async def show_tasks(turn: Turn, intro: Html | None = None) -> None:
    t = turn.t
    standings = (await turn.mall.tasks.for_member(turn.member_id, turn.now))[:SHOWN]
    lines: list[str] = [] if intro is None else [intro, ""]
    lines.append(t("tasks.title"))
    if not standings and not turn.config.birthday.points:
        lines.append(t("tasks.none"))
    rows: list[tuple[Button, ...]] = []
    for standing in standings:
        lines.append(summary_line(t, standing, turn.config))
        label = f"{_ICONS.get(standing.task.kind, '•')} {title(t, standing.task)}"
        rows.append((Button(label, data=TaskCard(standing.task.task_id).pack()),))
    gift = turn.config.birthday.points
    if gift:  # the birthday is a way to earn too: told once, paid every year
        lines.append(t("tasks.birthday_line", points=t.points(gift)))
        rows.append((Button(t("birthday.button"), data=BirthdayStep().pack()),))
    turn.show(turn.with_menu(Html("\n".join(lines)), tuple(rows)))


def status_text(t: Translator, standing: MemberTask, config: Config) -> Html:
    task = standing.task
    if standing.done:
        return t(_DONE[task.repeat])
    if standing.revoked:
        return t("tasks.revoked_status")
    if not standing.tier_allowed:
        return t("tasks.needs_tier", tier=tier_name(t, config.tiers, task.min_tier or ""))
    if task.kind == "challenge" and standing.progress is not None and task.target:
        return progress_text(t, task, standing.progress, config.mall.currency)
    if standing.poll_sent:
        return t("tasks.poll_waiting")
    return t(OPEN_TEXTS[task.repeat])


def summary_line(t: Translator, standing: MemberTask, config: Config) -> Html:
    task = standing.task
    return t(
        "tasks.line",
        icon=_ICONS.get(task.kind, "•"),
        title=title(t, task),
        reward=reward_text(t, task),
        status=status_text(t, standing, config),
    )


@router.button(TaskCard)
async def task_button(turn: Turn, data: TaskCard) -> None:
    standing = await turn.mall.tasks.one_for_member(turn.member_id, data.task_id, turn.now)
    turn.show(task_screen(turn, standing))


def task_screen(turn: Turn, standing: MemberTask, intro: Html | None = None) -> Screen:
    t = turn.t
    task = standing.task
    lines: list[str] = [] if intro is None else [intro, ""]
    lines.append(t("tasks.heading", icon=_ICONS.get(task.kind, "•"), title=title(t, task)))
    description = in_language(t, task.description, task.descriptions)
    if description:
        lines.append(html.escape(description))
    lines.append(t("tasks.reward", reward=reward_text(t, task)))
    if task.ends_at is not None:
        lines.append(t("tasks.until", at=t.moment(task.ends_at)))
    lines.append(t("tasks.status", status=status_text(t, standing, turn.config)))
    rows: list[tuple[Button, ...]] = []
    if task.kind == "channel" and standing.revoked:
        lines.append(t("tasks.revoked_how", hours=t.number(task.keep_hours or 0)))
    elif task.kind == "channel" and not standing.done and standing.tier_allowed:
        if task.keep_hours:
            lines.append(t("tasks.channel_how", hours=t.number(task.keep_hours)))
        else:
            lines.append(t("tasks.channel_how_plain"))
        if task.chat_link:
            rows.append((Button(t("tasks.open_chat"), url=task.chat_link),))
        rows.append((Button(t("tasks.joined"), data=TaskJoined(task.task_id).pack()),))
    elif task.kind == "channel" and standing.done and task.keep_hours:
        lines.append(t("tasks.channel_keep", hours=t.number(task.keep_hours)))
    elif task.kind in ("quiz", "survey") and not standing.done and standing.tier_allowed:
        key = "tasks.resend_poll" if standing.poll_sent else _START[task.kind]
        rows.append((Button(t(key), data=TaskPoll(task.task_id).pack()),))
        if task.kind == "quiz" and task.poll is not None and not task.poll.paid_if_wrong:
            lines.append(t("tasks.quiz_rule"))
    rows.append((Button(t("tasks.back"), data=TaskList().pack()),))
    return turn.with_menu(Html("\n".join(lines)), tuple(rows))


@router.button(TaskJoined)
async def joined_button(turn: Turn, data: TaskJoined) -> None:
    t = turn.t
    standing = await turn.mall.tasks.one_for_member(turn.member_id, data.task_id, turn.now)
    task = standing.task
    if task.kind != "channel" or task.chat is None:
        turn.show(task_screen(turn, standing))
        return
    if not standing.done:
        try:
            membership = await turn.queries.chat_member(task.chat, turn.member_id)
        except ChatUnavailable:
            log.warning("task %s: the bot cannot see the members of %s", task.code, task.chat)
            turn.notice(t("tasks.cannot_check"), alert=True)
            return
        except DeliveryError:
            turn.notice(t("tasks.try_later"), alert=True)
            return
        if not membership.in_chat:
            turn.notice(t("tasks.not_joined_yet"), alert=True)
            return
    done = await turn.mall.tasks.complete_joined(turn.member_id, task.task_id, turn.now)
    intro = None if done.reward is None else reward_lines(t, done.reward)
    turn.notice(t("tasks.done_notice"))
    turn.show(task_screen(turn, done, intro))


@router.button(TaskPoll)
async def poll_button(turn: Turn, data: TaskPoll) -> None:
    t = turn.t
    standing = await turn.mall.tasks.poll_for(turn.member_id, data.task_id, turn.now)
    task = standing.task
    assert task.poll is not None  # poll_for refuses a task without one
    text = task.poll.in_language(t.language)
    quiz = task.kind == "quiz"
    spec = PollSpec(
        question=text.question,
        options=text.options,
        correct_option=task.poll.correct if quiz else None,
        explanation=text.explanation if quiz else "",
    )
    try:
        poll_id = await turn.queries.send_poll(turn.member_id, spec)
    except DeliveryError:
        turn.notice(t("tasks.try_later"), alert=True)
        return
    await turn.mall.tasks.record_poll(
        poll_id, turn.member_id, task.task_id, standing.period, turn.now
    )
    turn.notice(t("tasks.poll_sent"))
    sent = replace(standing, poll_sent=True)
    turn.show(task_screen(turn, sent, t("tasks.poll_below")))


@router.poll_answer()
async def poll_answered(turn: Turn, answer: PollAnswer) -> None:
    answered = await turn.mall.tasks.answer_poll(
        answer.poll_id, turn.member_id, answer.option_ids, turn.now
    )
    if answered is None:
        return
    turn.send(answer_screen(turn, answered))


def answer_screen(turn: Turn, answered: PollAnswered) -> Screen:
    t = turn.t
    name = in_language(t, answered.title, answered.titles)
    lines: list[str] = []
    if answered.correct is None:
        lines.append(t("tasks.survey_thanks", title=name))
    elif answered.correct:
        lines.append(t("tasks.quiz_right", title=name))
    else:
        lines.append(t("tasks.quiz_wrong", title=name))
    if answered.reward is not None:
        lines.append(reward_lines(t, answered.reward))
    back = ((Button(t("tasks.more"), data=TaskList().pack()),),)
    return turn.with_menu(Html("\n".join(lines)), back)


def reward_lines(t: Translator, reward: TaskReward) -> Html:
    """What a completed task paid, and the balance after: for the member's own answer and for
    the job's message alike."""
    name = in_language(t, reward.title, reward.titles)
    lines: list[str] = []
    if reward.points:
        lines.append(t("tasks.paid", title=name, points=t.points(reward.points)))
    elif not reward.item_title:
        lines.append(t("tasks.completed", title=name))
    if reward.capped:
        lines.append(t("tasks.capped", points=t.points(reward.capped)))
    if reward.item_title is not None:
        item = in_language(t, reward.item_title, reward.item_titles)
        key = "tasks.prize_missing" if reward.prize_missing else "tasks.prize"
        lines.append(t(key, item=item))
    lines.append(t("tasks.balance", balance=t.points(reward.balance)))
    return Html("\n".join(lines))


def task_rows(t: Translator) -> Keyboard:
    """The button that leads to the tasks, for other screens to offer."""
    return ((Button(t("tasks.more"), data=TaskList().pack()),),)
