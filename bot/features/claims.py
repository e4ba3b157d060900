"""Claiming points with a code: ``/claim CODE``, ``/claim`` then the code, or the deep link
``/start c-CODE`` printed as a QR code on the admins' sheets (see ``bot.features.menu``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bot.callback_data import CallbackData
from bot.events import Command
from bot.router import Router
from bot.screens import Button
from bot.turn import Turn
from core.errors import ClaimExpired, ClaimLocked, UnknownClaimCode

router = Router()

# Deep links carry a claim code after this prefix: /start c-<code>.
CODE_INPUT = "claims.code"
ASK_ROUTE = "cl"
CODE_WAIT = timedelta(minutes=15)


class AskCode(CallbackData, route=ASK_ROUTE):
    """Ask for a claim code to type."""


@router.command("claim")
async def claim_command(turn: Turn) -> None:
    action = turn.action
    assert isinstance(action, Command)
    code = action.args.strip()
    if code:
        await claim_code(turn, code)
    else:
        await _ask(turn)


@router.button(AskCode)
async def ask_button(turn: Turn, pressed: AskCode) -> None:
    await _ask(turn)


@router.input(CODE_INPUT)
async def code_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    await claim_code(turn, text)


async def _ask(turn: Turn) -> None:
    await turn.mall.inputs.expect(turn.member_id, CODE_INPUT, {}, turn.now, CODE_WAIT)
    turn.show(turn.with_menu(turn.t("claims.ask")))


async def claim_code(turn: Turn, code: str) -> None:
    """Claim ``code`` for the member and say what it gave, or why it gave nothing.

    A code someone else claimed and a frozen account are refused by the conversation's usual
    answer (``error.already_claimed``, ``error.frozen``).
    """
    t = turn.t
    again = ((Button(t("claims.another"), data=AskCode().pack()),),)
    try:
        result = await turn.mall.claims.claim(turn.member_id, code, turn.now)
    except UnknownClaimCode as refused:
        left = int(refused.details.get("attempts_left", 1))
        turn.send(turn.with_menu(t("claims.unknown", left=t.number(left)), again))
        return
    except ClaimExpired as refused:
        text = t("claims.expired", at=t.moment(refused.details["expired_at"]))
        turn.send(turn.with_menu(text, again))
        return
    except ClaimLocked as refused:
        turn.send(turn.with_menu(t("claims.locked", until=t.moment(refused.details["until"]))))
        return
    key = "claims.repeated" if result.repeated else "claims.done"
    text = t(key, points=t.points(result.points), balance=t.points(result.balance))
    turn.send(turn.with_menu(text, again))
