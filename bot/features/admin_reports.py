"""Admins: ``/stats`` (a chart of the last 30 days with the liability, top items and blind-box
payouts) and ``/export`` (CSV files of members, ledger entries and redemptions for some days)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from bot.callback_data import CallbackData
from bot.charts import ChartLabels, DailyChart, daily_chart
from bot.features.admin_questions import ask
from bot.features.admin_screens import admin_screen
from bot.i18n import Html, Translator, plain
from bot.router import Router
from bot.screens import Button, Document, Photo, Screen
from bot.turn import Turn
from core.growth.birthdays import BONUS_CODE as BIRTHDAY_CODE
from core.growth.member_days import BONUS_CODE as MEMBER_DAY_CODE
from core.points import rules
from core.reporting.exports import MAX_DAYS

router = Router()

STATS_ROUTE = "ast"
EXPORT_ROUTE = "aex"
RANGE_ROUTE = "are"
TYPED_ROUTE = "art"
CANCEL_ROUTE = "arx"


class StatsScreen(CallbackData, route=STATS_ROUTE):
    """Today's figures and the liability."""


class ExportChoice(CallbackData, route=EXPORT_ROUTE):
    """Which days to export."""


class ExportRange(CallbackData, route=RANGE_ROUTE):
    """Export the last 7 or 30 days, or this month (``m``)."""

    days: Literal["7", "30", "m"]


class TypedRange(CallbackData, route=TYPED_ROUTE):
    """Export days the admin types."""


class CancelExport(CallbackData, route=CANCEL_ROUTE):
    """Drop the question of which days."""


RANGE_INPUT = "admin.export.range"
STATS_DAYS = 30
TOP_ITEMS = 5
# "2026-03-01 2026-03-31", also with a dash, "to" or ".." between.
_RANGE = re.compile(
    r"\s*(\d{4}-\d{2}-\d{2})\s*(?:\s|-|–|—|~|to|\.\.)\s*(\d{4}-\d{2}-\d{2})\s*", re.IGNORECASE
)


# --- /stats ------------------------------------------------------------------------------------


def chart_labels(t: Translator) -> ChartLabels:
    return ChartLabels(
        points_title=plain(t("admin.reports.chart.points")),
        members_title=plain(t("admin.reports.chart.members")),
        issued=plain(t("admin.reports.chart.issued")),
        redeemed=plain(t("admin.reports.chart.redeemed")),
        expired=plain(t("admin.reports.chart.expired")),
        checkins=plain(t("admin.reports.chart.checkins")),
        active_members=plain(t("admin.reports.chart.active")),
    )


async def stats_chart(turn: Turn, first: date, last: date) -> DailyChart:
    """The chart of ``first`` to ``last``, labelled in the admin's language (or English)."""
    days = await turn.mall.reports.daily(first, last)
    labels = [chart_labels(turn.t), chart_labels(turn.languages["en"])]
    return await asyncio.to_thread(daily_chart, days, labels)


@router.screen("stats", StatsScreen, admin=True)
async def _stats(turn: Turn) -> None:
    t = turn.t
    tz = turn.config.mall.timezone
    last = rules.business_day(turn.now, tz)
    first = last - timedelta(days=STATS_DAYS - 1)
    chart = await stats_chart(turn, first, last)
    caption = t(
        "admin.reports.caption",
        first=t.date(first),
        last=t.date(last),
        issued=t.points(sum(chart.series["issued"])),
        redeemed=t.points(sum(chart.series["redeemed"])),
        expired=t.points(sum(chart.series["expired"])),
        checkins=t.number(sum(chart.series["checkins"])),
        active=t.number(max(chart.series["active_members"])),
    )
    turn.send(Screen(caption, photo=Photo(content=chart.png, filename="stats.png")))
    sections = [
        await _liability(turn),
        await _bonuses(turn, first, last),
        await _top_items(turn, first, last),
        await _boxes(turn, first, last),
    ]
    tasks = await _tasks(turn, first, last)
    if tasks is not None:
        sections.append(tasks)
    turn.send(admin_screen(turn, Html("\n\n".join(sections))))


async def _bonuses(turn: Turn, first: date, last: date) -> Html:
    """Points given as birthday gifts and member-day extras in the period."""
    t = turn.t
    issued = await turn.mall.reports.issued_by_cause(first, last)
    birthday = sum(row.points for row in issued if row.code == BIRTHDAY_CODE)
    member_day = sum(row.points for row in issued if row.code == MEMBER_DAY_CODE)
    return t(
        "admin.reports.bonuses",
        birthday=t.points(birthday),
        member_day=t.points(member_day),
    )


async def _liability(turn: Turn) -> Html:
    t = turn.t
    owed = await turn.mall.reports.liability(turn.now)
    return t(
        "admin.reports.liability",
        points=t.points(owed.outstanding),
        money=t.money(owed.value_minor, owed.currency),
        balances=t.points(owed.member_balances),
        held=t.points(owed.held),
        overdue=t.points(owed.awaiting_expiry),
    )


async def _top_items(turn: Turn, first: date, last: date) -> Html:
    t = turn.t
    items = [i for i in await turn.mall.reports.redemptions_per_item(first, last) if i.redeemed]
    if not items:
        return t("admin.reports.top_none")
    lines = [t("admin.reports.top_title")]
    lines += [
        t(
            "admin.reports.top_line",
            rank=rank,
            title=item.title,
            count=t.number(item.redeemed),
            points=t.points(item.points),
        )
        for rank, item in enumerate(items[:TOP_ITEMS], start=1)
    ]
    return Html("\n".join(lines))


async def _boxes(turn: Turn, first: date, last: date) -> Html:
    """Each box's draws and payout ratio over the days (from the roll-ups), beside theory."""
    t = turn.t
    boxes = await turn.mall.boxes.list_boxes()
    if not boxes:
        return t("admin.reports.boxes_none")
    payouts = {p.box_id: p for p in await turn.mall.reports.box_payouts(first, last)}
    lines = [t("admin.reports.boxes_title")]
    for box in boxes:
        expected = _percent((await turn.mall.boxes.prize_table(box.box_id)).expected_value)
        report = payouts.get(box.box_id)
        if report is None or report.ratio is None:
            lines.append(t("admin.reports.box_idle", title=box.title, expected=expected))
        else:
            lines.append(
                t(
                    "admin.reports.box_line",
                    title=box.title,
                    draws=t.number(report.draws),
                    ratio=_percent(report.ratio),
                    expected=expected,
                )
            )
    return Html("\n".join(lines))


async def _tasks(turn: Turn, first: date, last: date) -> Html | None:
    """Each task's completions and points kept over the days; None when the mall has no task."""
    t = turn.t
    tasks = await turn.mall.tasks.all()
    if not tasks:
        return None
    tz = turn.config.mall.timezone
    since, until = rules.start_of_day(first, tz), rules.start_of_day(last + timedelta(days=1), tz)
    figures = {f.task_id: f for f in await turn.mall.tasks.figures(since, until)}
    lines = [t("admin.reports.tasks_title")]
    for task in tasks:
        done = figures.get(task.task_id)
        lines.append(
            t(
                "admin.reports.task_line",
                title=task.title,
                done=t.number(done.completions if done else 0),
                points=t.points(done.points if done else 0),
                revoked=t.number(done.revoked if done else 0),
            )
        )
    return Html("\n".join(lines))


def _percent(ratio: Decimal) -> str:
    return f"{(ratio * 100).quantize(Decimal('0.1'))}%"


# --- /export -----------------------------------------------------------------------------------


@router.screen("export", ExportChoice, admin=True)
async def export_command(turn: Turn) -> None:
    turn.show(_export_choice(turn))


@router.button(CancelExport, admin=True)
async def cancel_button(turn: Turn, pressed: CancelExport) -> None:
    await turn.mall.inputs.clear(turn.member_id)
    turn.show(_export_choice(turn))


@router.button(ExportRange, admin=True)
async def range_button(turn: Turn, pressed: ExportRange) -> None:
    today = rules.business_day(turn.now, turn.config.mall.timezone)
    ranges = {
        "7": today - timedelta(days=6),
        "30": today - timedelta(days=29),
        "m": today.replace(day=1),
    }
    await _export(turn, ranges[pressed.days], today)


@router.button(TypedRange, admin=True)
async def typed_button(turn: Turn, pressed: TypedRange) -> None:
    await _ask(turn, turn.t("admin.reports.export.ask", example=_example(turn)))


@router.input(RANGE_INPUT, admin=True)
async def range_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    dates = _dates(text)
    if dates is None:
        problem = t(
            "admin.reports.export.bad_range", text=text.strip()[:60], example=_example(turn)
        )
        await _ask(turn, problem)
        return
    first, last = dates
    if last < first:
        problem = t("admin.reports.export.end_before_start", start=t.date(first), end=t.date(last))
        await _ask(turn, problem)
        return
    if (last - first).days + 1 > MAX_DAYS:
        await _ask(turn, t("admin.reports.export.too_long", max=t.number(MAX_DAYS)))
        return
    await _export(turn, first, last)


def _dates(text: str) -> tuple[date, date] | None:
    match = _RANGE.fullmatch(text)
    if match is None:
        return None
    try:
        return date.fromisoformat(match[1]), date.fromisoformat(match[2])
    except ValueError:  # 2026-02-30
        return None


def _export_choice(turn: Turn) -> Screen:
    t = turn.t
    rows = (
        (
            Button(t("admin.reports.export.week"), data=ExportRange("7").pack()),
            Button(t("admin.reports.export.month"), data=ExportRange("30").pack()),
        ),
        (
            Button(t("admin.reports.export.this_month"), data=ExportRange("m").pack()),
            Button(t("admin.reports.export.typed"), data=TypedRange().pack()),
        ),
    )
    return admin_screen(turn, t("admin.reports.export.title"), rows)


async def _export(turn: Turn, first: date, last: date) -> None:
    """The CSVs as gzip documents, each in parts under Telegram's 50 MB upload limit;
    the parts are temporary files, deleted once sent (see ``bot.screens.discard_temporary``)."""
    t = turn.t
    export = await turn.mall.exports.export(first, last)
    try:
        captions = {
            "members": "admin.reports.export.members",
            "ledger": "admin.reports.export.ledger",
            "redemptions": "admin.reports.export.redemptions",
            "tasks": "admin.reports.export.tasks",
        }
        for file in export.files:
            for number, part in enumerate(file.parts, start=1):
                caption = t(captions[file.kind])
                if len(file.parts) > 1:
                    caption = Html(f"{caption} ({number}/{len(file.parts)})")
                document = Document.file(
                    part.path,
                    export_filename(file.kind, first, last, number, len(file.parts)),
                    "application/gzip",
                    temporary=True,
                )
                turn.send(Screen(caption, document=document))
    except BaseException:
        export.discard()
        raise
    summary = t(
        "admin.reports.export.done",
        first=t.date(first),
        last=t.date(last),
        members=t.number(export.members.rows),
        transfers=t.number(export.ledger.rows),
        redemptions=t.number(export.redemptions.rows),
    )
    turn.send(admin_screen(turn, summary))


def export_filename(kind: str, first: date, last: date, number: int, parts: int) -> str:
    """``ledger-2026-11-01_2026-11-30.csv.gz``; ``...part2.csv.gz`` when there are parts."""
    part = f".part{number}" if parts > 1 else ""
    return f"{kind}-{first.isoformat()}_{last.isoformat()}{part}.csv.gz"


async def _ask(turn: Turn, question: Html) -> None:
    cancel = ((Button(turn.t("admin.reports.export.cancel"), data=CancelExport().pack()),),)
    await ask(turn, RANGE_INPUT, {}, question, cancel)


def _example(turn: Turn) -> str:
    last = rules.business_day(turn.now, turn.config.mall.timezone)
    first = last.replace(day=1)
    return f"{first.isoformat()} {last.isoformat()}"
