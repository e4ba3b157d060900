"""How a task reads, to members and to admins: its title, its reward, how often it can be done
and a challenge's progress."""

from __future__ import annotations

from bot.content import in_language
from bot.i18n import Html, Translator
from core.growth.tasks import TaskView

OPEN_TEXTS = {
    "once": "tasks.open_once",
    "day": "tasks.open_day",
    "week": "tasks.open_week",
    "month": "tasks.open_month",
}


_PROGRESS = {
    "checkins": "tasks.progress_checkins",
    "spend": "tasks.progress_spend",
    "redeem": "tasks.progress_redeem",
    "invites": "tasks.progress_invites",
}


def title(t: Translator, task: TaskView) -> str:
    return in_language(t, task.title, task.titles)


def reward_text(t: Translator, task: TaskView) -> Html:
    parts: list[str] = []
    if task.reward_points:
        parts.append(t("tasks.reward_points", points=t.points(task.reward_points)))
    if task.reward_item_title is not None:
        item = in_language(t, task.reward_item_title, task.reward_item_titles)
        parts.append(t("tasks.reward_item", item=item))
    return Html(" + ".join(parts))


def progress_text(t: Translator, task: TaskView, progress: int, currency: str) -> Html:
    target = task.target or 0
    if task.metric == "shop":
        done, goal = t.money(min(progress, target), currency), t.money(target, currency)
        return t("tasks.progress_money", done=done, target=goal)
    return t(
        _PROGRESS[task.metric or "checkins"],
        done=t.number(min(progress, target)),
        target=t.number(target),
    )
