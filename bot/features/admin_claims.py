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
from datetime import date, datetime, timedelta
from typing import Any

from bot.features.admin import admin_screen, ask
from bot.features.claims import CLAIM_PREFIX
from bot.i18n import Html, shorten
from bot.qr_sheet import SheetEntry, page_count, render_pdf
from bot.router import Router, Stale, callback, int_arg
from bot.screens import Button, Document, Screen
from bot.turn import Turn
from core import rules
from core.claim_codes import MAX_BATCH, MAX_POINTS, GeneratedBatch

router = Router()

LIST_ROUTE = "acl"
GENERATE_ROUTE = "acg"
CONFIRM_ROUTE = "acy"
CANCEL_ROUTE = "acx"
COUNT_INPUT = "admin.claims.count"
POINTS_INPUT = "admin.claims.points"
EXPIRY_INPUT = "admin.claims.expiry"
LISTED = 10
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8}")
_NUMBER = re.compile(r"\d{1,9}")


@router.button(LIST_ROUTE, admin=True)
async def list_button(turn: Turn, args: tuple[str, ...]) -> None:
    turn.show(await _batches(turn))


@router.button(CANCEL_ROUTE, admin=True)
async def cancel_button(turn: Turn, args: tuple[str, ...]) -> None:
    await turn.mall.inputs.clear(turn.member_id)
    turn.show(await _batches(turn))


@router.button(GENERATE_ROUTE, admin=True)
async def generate_button(turn: Turn, args: tuple[str, ...]) -> None:
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
    confirm = callback(CONFIRM_ROUTE, count, points, last_day.strftime("%Y%m%d"), token)
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
            Button(t("admin.claims.cancel"), data=LIST_ROUTE),
        ),
    )
    turn.send(admin_screen(turn, text, rows))


@router.button(CONFIRM_ROUTE, admin=True)
async def confirm_button(turn: Turn, args: tuple[str, ...]) -> None:
    count, points = int_arg(args, 0), int_arg(args, 1)
    try:
        last_day = datetime.strptime(args[2], "%Y%m%d").date()
    except (IndexError, ValueError):
        raise Stale(f"bad day in {args!r}") from None
    token = args[3] if len(args) > 3 else ""
    if not _TOKEN.fullmatch(token):
        raise Stale(f"bad token in {args!r}")
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
            ((Button(t("admin.menu.claims"), data=LIST_ROUTE),),),
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
    generate = ((Button(t("admin.claims.generate"), data=GENERATE_ROUTE),),)
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
    cancel = ((Button(turn.t("admin.claims.cancel"), data=CANCEL_ROUTE),),)
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
