"""An admin's typed answers and confirmations, kept in their open question (``mall.inputs``).

A typed answer is asked with :func:`ask` (its Cancel button drops the question with
:func:`drop_question`). An action confirmed with a button waits in the admin's open question
with a :func:`new_nonce` that its Confirm button carries (a :data:`Nonce` field) and that keys
the action, so a double tap acts once; :func:`confirmed` finds the confirmation a press answers
(:func:`confirmed_or_back` also answers a press whose confirmation is gone).
The question lives in the store, not in memory, so the answer may reach another bot process.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Annotated

from bot.callback_data import Chars
from bot.i18n import Html
from bot.screens import Keyboard, Screen
from bot.turn import Turn
from core.membership.pending_inputs import JSON

# How long a typed answer or a confirmation waits.
QUESTION_TTL = timedelta(minutes=30)
_NONCE_BYTES = 6
Nonce = Annotated[str, Chars("A-Za-z0-9_-", 8, 8)]
"""A confirmation's nonce in a Confirm button (what :func:`new_nonce` makes)."""


async def ask(
    turn: Turn, kind: str, data: Mapping[str, JSON], question: Html, rows: Keyboard
) -> None:
    """Wait for the admin's typed answer (or button) of ``kind``, ``data`` kept with it."""
    await turn.mall.inputs.expect(turn.member_id, kind, dict(data), turn.now, QUESTION_TTL)
    turn.show(Screen(question, rows))


async def drop_question(turn: Turn, prefix: str) -> None:
    """Drop the admin's open question if its kind starts with ``prefix``, leaving any other."""
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is not None and pending.kind.startswith(prefix):
        await turn.mall.inputs.clear(turn.member_id)


def new_nonce() -> str:
    """A confirmation's nonce (8 characters, fit for callback data and idempotency keys)."""
    return secrets.token_urlsafe(_NONCE_BYTES)


async def confirmed(turn: Turn, kind: str, nonce: str) -> Mapping[str, JSON] | None:
    """The draft of the open ``kind`` confirmation whose Confirm button (carrying ``nonce``)
    was pressed.

    None when it is not open any more: done already (a second tap), cancelled, timed out, or
    replaced by another question.
    """
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is None or pending.kind != kind or pending.data.get("nonce") != nonce:
        return None
    return pending.data


async def confirmed_or_back(
    turn: Turn,
    kind: str,
    nonce: str,
    gone: Html,
    back: Callable[[Turn], Screen | Awaitable[Screen]],
) -> Mapping[str, JSON] | None:
    """:func:`confirmed`; when the confirmation is not open any more, None, and the admin is
    told so (``gone``, as an alert) and shown ``back(turn)``, where the confirmation came from."""
    draft = await confirmed(turn, kind, nonce)
    if draft is None:
        turn.notice(gone, alert=True)
        screen = back(turn)
        turn.show(screen if isinstance(screen, Screen) else await screen)
    return draft
