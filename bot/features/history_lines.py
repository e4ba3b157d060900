"""A movement of points in words: the member's history and an admin's view of a member read
the same lines.

A helper module (the import contract in ``pyproject.toml``): features read it, none owns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.content import in_language
from bot.i18n import Html, Translator
from bot.turn import Turn
from core.growth.member_days import BONUS_CODE as MEMBER_DAY_CODE
from core.points.statements import HistoryEntry

# Transfer codes whose reference is a task's code: their history line names the task.
TASK_CODES = ("task", "task_reversal")


def history_line(
    t: Translator, entry: HistoryEntry, tasks: Mapping[str, str] | None = None
) -> Html:
    """One movement; ``tasks`` names the tasks of task rewards by code, in the reader's
    language (:func:`history_lines` looks them up)."""
    sign = "+" if entry.amount > 0 else "−"
    why = _entry_reason(t, entry)
    task = (tasks or {}).get(entry.reference) if entry.code in TASK_CODES else None
    if task is not None:
        why = t("reason.task_named", reason=why, task=task)
    return t(
        "history.line",
        at=t.moment(entry.at),
        amount=Html(f"{sign}{t.number(abs(entry.amount))}"),
        reason=why,
    )


async def history_lines(turn: Turn, entries: Sequence[HistoryEntry]) -> list[Html]:
    """The lines of a history page, tasks named by their titles (one lookup per page)."""
    codes = {entry.reference for entry in entries if entry.code in TASK_CODES}
    names: dict[str, str] = {}
    if codes:
        found = await turn.mall.tasks.titles(codes)
        names = {code: in_language(turn.t, *texts) for code, texts in found.items()}
    return [history_line(turn.t, entry, names) for entry in entries]


def _entry_reason(t: Translator, entry: HistoryEntry) -> Html:
    """A member day's extra names its multiplier (its reference ends in ``:x2``)."""
    if entry.code == MEMBER_DAY_CODE:
        _, _, multiplier = entry.reference.rpartition(":x")
        if multiplier:
            return t("reason.member_day.times", multiplier=multiplier)
    return reason(t, entry.code)


def reason(t: Translator, code: str) -> Html:
    """Why points moved, in words; a code without wording yet still reads sensibly."""
    key = f"reason.{code}"
    text = t(key)
    return t("reason.other", code=code) if text == key else text
