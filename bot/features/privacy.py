"""/privacy: what the mall stores about the member, an export of it, and deleting the account.

Deleting is the one step in the bot that cannot be undone, so its button must be one the bot
showed this member, for this account, minutes ago: it carries the instant the confirmation was
shown and a MAC over the member, their join time and that instant (:func:`erase_seal`). A
forged button fails the MAC; an old one (``ERASE_CONFIRM_VALID``) is refused with a clear
answer; one shown before a deletion and a fresh /start fails too, since the join time changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Annotated

from bot.callback_data import CallbackData, Chars, Id
from bot.features.member_links import BirthdayStep
from bot.i18n import Html
from bot.router import Router, Stale
from bot.screens import Button, Document, Keyboard, Screen
from bot.settings import Config
from bot.turn import Turn
from core.rewards.redemptions import AWAITING

router = Router()
ERASE_CONFIRM_VALID = timedelta(minutes=5)
_SEAL_BYTES = 12
# Without a bot token (the sandbox) the seal key lives as long as the process; with one, every
# process behind a load balancer derives the same key from it.
_PROCESS_KEY = secrets.token_bytes(32)
_OPEN_REDEMPTIONS_PAGE = 50


class PrivacyScreen(CallbackData, route="pv"):
    """What the mall stores, with export and delete."""


class ExportData(CallbackData, route="pvx"):
    """Send the member's data as a file."""


class AskErase(CallbackData, route="pvd"):
    """Delete my account? (asks first)."""


class Erase(CallbackData, route="pvy"):
    """Yes, delete: the instant the confirmation was shown and its seal (:func:`erase_seal`)."""

    shown: Id
    seal: Annotated[str, Chars("A-Za-z0-9_-", 16, min_len=16)]


def seal_key(config: Config) -> bytes:
    token = config.telegram.token
    if token is None:
        return _PROCESS_KEY
    secret = token.get_secret_value().encode()
    return hmac.new(secret, b"pointsmall:erase-confirmation", hashlib.sha256).digest()


def erase_seal(key: bytes, member_id: int, joined_at: datetime, shown: int) -> str:
    """The MAC that makes a delete button this member's, for this account, shown at ``shown``."""
    joined_ms = round(joined_at.timestamp() * 1000)
    message = f"{member_id}.{joined_ms}.{shown}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:_SEAL_BYTES]
    return base64.urlsafe_b64encode(digest).decode()


@router.screen("privacy", PrivacyScreen)
async def privacy_command(turn: Turn) -> None:
    _overview(turn)


def _overview(turn: Turn) -> None:
    t = turn.t
    text = Html(
        "\n".join(
            [
                t("privacy.title"),
                "",
                t("privacy.stored"),
                t("privacy.stored_profile"),
                t("privacy.stored_points"),
                t("privacy.stored_redemptions"),
                t("privacy.stored_invites"),
                t("privacy.stored_activity"),
                t("privacy.stored_shop"),
                t("privacy.stored_birthday"),
                "",
                t("privacy.use"),
                t("privacy.options"),
            ]
        )
    )
    rows: Keyboard = (
        (Button(t("birthday.button"), data=BirthdayStep().pack()),),
        (Button(t("privacy.export"), data=ExportData().pack()),),
        (Button(t("privacy.delete"), data=AskErase().pack()),),
    )
    turn.show(turn.with_menu(text, rows))


@router.button(ExportData)
async def export(turn: Turn, pressed: ExportData) -> None:
    t = turn.t
    data = await turn.mall.privacy.export(turn.member_id, turn.now)
    content = json.dumps(data, ensure_ascii=False, indent=2).encode()
    document = Document(content, f"pointsmall-data-{turn.member_id}.json", "application/json")
    turn.notice(t("privacy.export_notice"))
    turn.send(Screen(t("privacy.export_caption", mall=turn.config.mall.name), document=document))


@router.button(AskErase)
async def ask_erase(turn: Turn, data: AskErase) -> None:
    t = turn.t
    mall = turn.mall
    profile = await mall.members.profile(turn.member_id)
    balance = await mall.statements.balance(turn.member_id)
    open_redemptions = await _open_redemptions(turn)
    shown = int(turn.now.timestamp())
    seal = erase_seal(seal_key(turn.config), turn.member_id, profile.joined_at, shown)
    minutes = int(ERASE_CONFIRM_VALID.total_seconds() // 60)
    lines: list[str] = [
        t("privacy.erase_title"),
        "",
        t("privacy.erase_lose"),
        t("privacy.erase_balance", balance=t.points(balance.balance)),
    ]
    if balance.held:
        lines.append(t("privacy.erase_held", points=t.points(balance.held)))
    if open_redemptions:
        lines.append(t.n("privacy.erase_redemptions", open_redemptions))
    lines += [
        t("privacy.erase_profile"),
        "",
        t("privacy.erase_kept"),
        t("privacy.erase_return"),
        "",
        t.n("privacy.erase_valid", minutes),
    ]
    rows: Keyboard = (
        (Button(t("privacy.erase_yes"), data=Erase(shown, seal).pack()),),
        (Button(t("privacy.erase_no"), data=PrivacyScreen().pack()),),
    )
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


async def _open_redemptions(turn: Turn) -> int:
    """How many of the member's redemptions still wait (deleting the account cancels them)."""
    count, page = 0, 0
    while True:
        found = await turn.mall.redemptions.list_for_member(
            turn.member_id, page=page, page_size=_OPEN_REDEMPTIONS_PAGE
        )
        count += sum(1 for entry in found.entries if entry.status in AWAITING)
        if not found.has_more:
            return count
        page += 1


@router.button(Erase)
async def erase(turn: Turn, data: Erase) -> None:
    shown, seal = data.shown, data.seal
    profile = await turn.mall.members.profile(turn.member_id)
    expected = erase_seal(seal_key(turn.config), turn.member_id, profile.joined_at, shown)
    if not hmac.compare_digest(seal, expected):
        raise Stale("erase confirmation not issued to this account")
    t = turn.t
    age = int(turn.now.timestamp()) - shown
    if age < 0:
        raise Stale(f"erase confirmation from the future {data!r}")
    if age > ERASE_CONFIRM_VALID.total_seconds():
        turn.notice(t("privacy.erase_expired"), alert=True)
        _overview(turn)
        return
    result = await turn.mall.privacy.erase(turn.member_id, turn.now)
    turn.member_changed()
    lines: list[str] = [t("privacy.erased")]
    if result.forfeited:
        lines.append(t("privacy.erased_points", points=t.points(result.forfeited)))
    if result.cancelled_redemptions:
        lines.append(t.n("privacy.erased_redemptions", result.cancelled_redemptions))
    lines += ["", t("privacy.erased_restart")]
    # No buttons: any press would be a new member's, and /start is how to come back.
    turn.show(Screen(Html("\n".join(lines))))
