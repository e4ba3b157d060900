"""Admins write to every member, or to one tier: type the message, see it as members will,
confirm, then follow its progress (sent, failed, pending) with a refresh button.

The message goes through the outbox and the one sender (``bot.sender``), at Telegram's pace;
members who blocked the bot are skipped and counted. The confirmation waits in the admin's
open question with a fresh nonce, which is also the broadcast's key: a double tap sends once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from bot.callback_data import CallbackData, Id, Ints
from bot.content import tier_label, tier_name
from bot.delivery import screen_to_json
from bot.features.admin_questions import Nonce, ask, confirmed_or_back, drop_question, new_nonce
from bot.features.admin_screens import admin_screen
from bot.i18n import LANGUAGE_NAMES, Html, Translator, escape
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import MainMenu, Turn
from core.errors import InvalidInput
from core.operations.outbox import Progress

router = Router()
SECTION_ROUTE = "abc"
WRITE_ROUTE = "bcw"
CONFIRM_ROUTE = "bck"
CANCEL_ROUTE = "bcx"
PROGRESS_ROUTE = "bcp"
# More tiers than a mall defines.
MAX_TIERS = 100


class Broadcasts(CallbackData, route=SECTION_ROUTE):
    """The broadcast section: write one, the recent ones."""


class WriteBroadcast(CallbackData, route=WRITE_ROUTE):
    """Write to every member, or (``tier``, an index into the tiers) to one tier."""

    tier: Annotated[int | None, Ints(0, MAX_TIERS - 1)] = None


class ConfirmBroadcast(CallbackData, route=CONFIRM_ROUTE):
    """Send it: the preview open with this nonce."""

    nonce: Nonce


class CancelBroadcast(CallbackData, route=CANCEL_ROUTE):
    """Drop the open broadcast question."""


class BroadcastProgress(CallbackData, route=PROGRESS_ROUTE):
    """How far a broadcast got."""

    broadcast_id: Id


TEXT_INPUT = "admin.broadcast.text"
CONFIRM_INPUT = "admin.broadcast.confirm"
# Room left under Telegram's 4096 characters for the escaping of <, > and &.
MAX_TEXT = 3000
RECENT = 5


def _audience(turn: Turn, tier: str | None) -> Html:
    """Who a broadcast goes to; ``tier`` is a tier's identifier, shown in the admin's language."""
    t = turn.t
    if tier is None:
        return t("admin.broadcast.audience.all")
    return t("admin.broadcast.audience.tier", tier=tier_name(t, turn.config.tiers, tier))


def _stored_audience(turn: Turn, audience: str) -> Html:
    return _audience(turn, audience.removeprefix("tier:") if audience.startswith("tier:") else None)


def _line(turn: Turn, progress: Progress) -> Html:
    t = turn.t
    return t(
        "admin.broadcast.line",
        number=t.number(progress.broadcast_id),
        audience=_stored_audience(turn, progress.audience),
        sent=t.number(progress.sent),
        failed=t.number(progress.failed + progress.unreachable + progress.uncertain),
        pending=t.number(progress.pending),
    )


async def _section(turn: Turn, note: Html | None = None) -> Screen:
    t = turn.t
    lines = [note, ""] if note else []
    lines.append(t("admin.broadcast.title"))
    recent = await turn.mall.outbox.recent(RECENT)
    lines += ["", t("admin.broadcast.recent")]
    lines += [_line(turn, progress) for progress in recent] or [t("admin.broadcast.none")]
    tiers = turn.config.tiers.levels
    rows = (
        (Button(t("admin.broadcast.to_all"), data=WriteBroadcast().pack()),),
        *(
            (
                Button(
                    t("admin.broadcast.to_tier", tier=tier_label(t, tier)),
                    data=WriteBroadcast(i).pack(),
                ),
            )
            for i, tier in enumerate(tiers)
        ),
        (Button(t("admin.broadcast.refresh"), data=Broadcasts().pack()),),
    )
    return admin_screen(turn, Html("\n".join(lines)), rows)


def _cancel_row(t: Translator) -> tuple[tuple[Button, ...]]:
    return ((Button(t("admin.broadcast.cancel"), data=CancelBroadcast().pack()),),)


@router.button(Broadcasts, admin=True)
async def section_button(turn: Turn, pressed: Broadcasts) -> None:
    turn.show(await _section(turn))


@router.button(WriteBroadcast, admin=True)
async def write_button(turn: Turn, pressed: WriteBroadcast) -> None:
    tier: str | None = None
    index = pressed.tier
    if index is not None:
        levels = turn.config.tiers.levels
        if index >= len(levels):
            raise Stale(f"no tier {index}")
        tier = levels[index].name
    t = turn.t
    question = t("admin.broadcast.ask", audience=_audience(turn, tier), limit=t.number(MAX_TEXT))
    await ask(turn, TEXT_INPUT, {"tier": tier}, question, _cancel_row(t))


@router.button(CancelBroadcast, admin=True)
async def cancel_button(turn: Turn, pressed: CancelBroadcast) -> None:
    await drop_question(turn, "admin.broadcast.")
    turn.show(await _section(turn, turn.t("admin.broadcast.cancelled")))


@router.input(TEXT_INPUT, admin=True)
async def text_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    tier = data.get("tier")
    message = text.strip()
    if not message or len(message) > MAX_TEXT:
        problem = t(
            "admin.broadcast.too_long", length=t.number(len(message)), limit=t.number(MAX_TEXT)
        )
        await ask(turn, TEXT_INPUT, data, problem, _cancel_row(t))
        return
    draft = {"tier": tier, "text": message, "nonce": new_nonce()}
    await _confirmation(turn, draft)


@router.input(CONFIRM_INPUT, admin=True)
async def confirm_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    """Text while the preview is open: show it again, still waiting for a button."""
    await _confirmation(turn, dict(data))


async def _confirmation(turn: Turn, draft: dict[str, Any]) -> None:
    t = turn.t
    tier = draft.get("tier")
    count = await turn.mall.outbox.audience_size(tier)
    head = t("admin.broadcast.preview", audience=_audience(turn, tier), count=t.number(count))
    text = Html(f"{head}\n\n{escape(draft['text'])}")
    rows = (
        (
            Button(t("admin.broadcast.confirm"), data=ConfirmBroadcast(draft["nonce"]).pack()),
            Button(t("admin.broadcast.cancel"), data=CancelBroadcast().pack()),
        ),
    )
    await ask(turn, CONFIRM_INPUT, draft, text, rows)


@router.button(ConfirmBroadcast, admin=True)
async def confirm_button(turn: Turn, pressed: ConfirmBroadcast) -> None:
    nonce = pressed.nonce
    gone = turn.t("admin.broadcast.stale")
    draft = await confirmed_or_back(turn, CONFIRM_INPUT, nonce, gone, _section)
    if draft is None:
        return
    tier = draft.get("tier")
    tier_name = str(tier) if tier is not None else None
    body = escape(str(draft["text"]))
    payloads = {
        language: screen_to_json(
            Screen(
                body, ((Button(turn.languages[language]("menu.back"), data=MainMenu().pack()),),)
            )
        )
        for language in LANGUAGE_NAMES
    }
    try:
        broadcast_id = await turn.mall.outbox.broadcast(
            key=f"admin:{nonce}",
            payloads=payloads,
            default_language=next(iter(LANGUAGE_NAMES)),
            now=turn.now,
            created_by=turn.member_id,
            tier=tier_name,
            actor_id=turn.sender.user_id,
            text=str(draft["text"]),
        )
    finally:
        await turn.mall.inputs.clear(turn.member_id)
    turn.show(await _progress(turn, broadcast_id))


@router.button(BroadcastProgress, admin=True)
async def progress_button(turn: Turn, pressed: BroadcastProgress) -> None:
    turn.show(await _progress(turn, pressed.broadcast_id))


async def _progress(turn: Turn, broadcast_id: int) -> Screen:
    t = turn.t
    try:
        progress = await turn.mall.outbox.progress(broadcast_id)
    except InvalidInput:
        raise Stale(f"no broadcast {broadcast_id}") from None
    text = t(
        "admin.broadcast.progress",
        number=t.number(progress.broadcast_id),
        audience=_stored_audience(turn, progress.audience),
        sent=t.number(progress.sent),
        failed=t.number(progress.failed),
        unreachable=t.number(progress.unreachable),
        uncertain=t.number(progress.uncertain),
        pending=t.number(progress.pending),
        state=t("admin.broadcast.done" if progress.done else "admin.broadcast.sending"),
    )
    rows = (
        (
            Button(t("admin.broadcast.refresh"), data=BroadcastProgress(broadcast_id).pack()),
            Button(t("admin.broadcast.all"), data=Broadcasts().pack()),
        ),
    )
    return admin_screen(turn, text, rows)
