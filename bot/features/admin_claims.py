"""Admins: claim code batches. Generate one in a short conversation (how many, points each,
the last day), confirm, and receive its codes as a CSV file and a printable PDF of QR codes;
the list shows each batch with how many of its codes were claimed."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Any

from bot.callback_data import CallbackData, Chars, Day, Id
from bot.features.admin_questions import ask
from bot.features.admin_screens import admin_screen
from bot.features.start_links import CLAIM_PREFIX
from bot.i18n import Html, shorten
from bot.qr_sheet import SheetEntry, page_count, render_pdf
from bot.router import Router
from bot.screens import Button, Document, Screen
from bot.turn import Turn
from core.growth.claim_codes import MAX_BATCH, MAX_POINTS, GeneratedBatch
from core.points import rules

router = Router()

LIST_ROUTE = "acl"
GENERATE_ROUTE = "acg"
CONFIRM_ROUTE = "acy"
CANCEL_ROUTE = "acx"
COUNT_INPUT = "admin.claims.count"
POINTS_INPUT = "admin.claims.points"
EXPIRY_INPUT = "admin.claims.expiry"
LISTED = 10
_NUMBER = re.compile(r"\d{1,9}")


class BatchList(CallbackData, route=LIST_ROUTE):
    """The latest batches of claim codes."""


class GenerateBatch(CallbackData, route=GENERATE_ROUTE):
    """Start a new batch (asks how many codes)."""


class ConfirmBatch(CallbackData, route=CONFIRM_ROUTE):
    """Make the batch: how many codes, their points, their last day and the token keying it."""

    count: Id  # core checks the batch's limits, and says which
    points: Id
    last_day: Day
    token: Annotated[str, Chars("A-Za-z0-9_-", 8, min_len=8)]


class CancelBatch(CallbackData, route=CANCEL_ROUTE):
    """Drop the batch being asked about."""


@router.button(BatchList, admin=True)
async def list_button(turn: Turn, pressed: BatchList) -> None:
    turn.show(await _batches(turn))


@router.button(CancelBatch, admin=True)
async def cancel_button(turn: Turn, pressed: CancelBatch) -> None:
    await turn.mall.inputs.clear(turn.member_id)
    turn.show(await _batches(turn))


@router.button(GenerateBatch, admin=True)
async def generate_button(turn: Turn, pressed: GenerateBatch) -> None:
    await _ask(
        turn, COUNT_INPUT, {}, turn.t("admin.claims.ask_count", max=turn.t.number(MAX_BATCH))
    )


@router.input(COUNT_INPUT, admin=True)
async def count_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    count = _number(text, MAX_BATCH)
    if count is None:
        problem = t(
            "admin.claims.bad_count", text=shorten(text.strip(), 40), max=t.number(MAX_BATCH)
        )
        await _ask(turn, COUNT_INPUT, {}, problem)
        return
    question = t("admin.claims.ask_points", count=t.number(count), max=t.number(MAX_POINTS))
    await _ask(turn, POINTS_INPUT, {"count": count}, question)


@router.input(POINTS_INPUT, admin=True)
async def points_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    count = int(data["count"])
    points = _number(text, MAX_POINTS)
    if points is None:
        problem = t(
            "admin.claims.bad_points", text=shorten(text.strip(), 40), max=t.number(MAX_POINTS)
        )
        await _ask(turn, POINTS_INPUT, {"count": count}, problem)
        return
    question = t(
        "admin.claims.ask_expiry",
        count=t.number(count),
        points=t.points(points),
        example=_example(turn),
    )
    await _ask(turn, EXPIRY_INPUT, {"count": count, "points": points}, question)


@router.input(EXPIRY_INPUT, admin=True)
async def expiry_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    count, points = int(data["count"]), int(data["points"])
    try:
        last_day = date.fromisoformat(text.strip())
    except ValueError:
        problem = t("admin.claims.bad_date", text=shorten(text.strip(), 40), example=_example(turn))
        await _ask(turn, EXPIRY_INPUT, dict(data), problem)
        return
    if last_day < _today(turn):
        await _ask(
            turn, EXPIRY_INPUT, dict(data), t("admin.claims.past_date", day=t.date(last_day))
        )
        return
    token = secrets.token_urlsafe(6)
    confirm = ConfirmBatch(count, points, last_day, token).pack()
    text = t(
        "admin.claims.confirm",
        count=t.number(count),
        points=t.points(points),
        last_day=t.date(last_day),
        total=t.points(count * points),
    )
    rows = (
        (
            Button(t("admin.claims.confirm_button"), data=confirm),
            Button(t("admin.claims.cancel"), data=BatchList().pack()),
        ),
    )
    turn.send(admin_screen(turn, text, rows))


@router.button(ConfirmBatch, admin=True)
async def confirm_button(turn: Turn, pressed: ConfirmBatch) -> None:
    count, points, last_day, token = pressed.count, pressed.points, pressed.last_day, pressed.token
    expires_at = rules.start_of_day(last_day + timedelta(days=1), turn.config.mall.timezone)
    made = await turn.mall.claims.generate(
        turn.sender.user_id, count, points, expires_at, turn.now, key=f"claims:{token}"
    )
    t = turn.t
    text = t(
        "admin.claims.generated",
        id=made.batch_id,
        count=t.number(made.count),
        points=t.points(made.points),
        last_day=t.date(last_day),
    )
    turn.show(Screen(text))
    entries = [SheetEntry(code, turn.deep_link(CLAIM_PREFIX + code)) for code in made.codes]
    csv_text = _csv(made, last_day, entries)
    pdf = await asyncio.to_thread(render_pdf, entries, f"#{made.batch_id} · {made.points}")
    turn.send(
        Screen(
            t("admin.claims.csv_caption", id=made.batch_id),
            document=Document(csv_text.encode(), f"claim-codes-{made.batch_id}.csv", "text/csv"),
        )
    )
    caption = t("admin.claims.sheet_caption", id=made.batch_id, pages=page_count(entries))
    turn.send(
        Screen(
            caption,
            ((Button(t("admin.menu.claims"), data=BatchList().pack()),),),
            document=Document(pdf, f"claim-codes-{made.batch_id}.pdf", "application/pdf"),
        )
    )


def _csv(made: GeneratedBatch, last_day: date, entries: list[SheetEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(("code", "points", "last_day", "link"))
    for entry in entries:
        writer.writerow((entry.code, made.points, last_day.isoformat(), entry.link))
    return buffer.getvalue()


async def _batches(turn: Turn) -> Screen:
    t = turn.t
    batches = await turn.mall.claims.batches(LISTED)
    generate = ((Button(t("admin.claims.generate"), data=GenerateBatch().pack()),),)
    if not batches:
        return admin_screen(turn, t("admin.claims.empty"), generate)
    tz = turn.config.mall.timezone
    lines = [t("admin.claims.title")]
    lines += [
        t(
            "admin.claims.batch",
            id=batch.batch_id,
            count=t.number(batch.count),
            points=t.points(batch.points),
            claimed=f"{t.number(batch.claimed)}/{t.number(batch.count)}",
            last_day=t.date(rules.business_day(batch.expires_at - timedelta(microseconds=1), tz)),
        )
        for batch in batches
    ]
    return admin_screen(turn, Html("\n".join(lines)), generate)


async def _ask(turn: Turn, kind: str, data: Mapping[str, Any], question: Html) -> None:
    cancel = ((Button(turn.t("admin.claims.cancel"), data=CancelBatch().pack()),),)
    await ask(turn, kind, data, question, cancel)


def _number(text: str, maximum: int) -> int | None:
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not _NUMBER.fullmatch(cleaned):
        return None
    value = int(cleaned)
    return value if 1 <= value <= maximum else None


def _today(turn: Turn) -> date:
    return rules.business_day(turn.now, turn.config.mall.timezone)


def _example(turn: Turn) -> str:
    return (_today(turn) + timedelta(days=30)).isoformat()
