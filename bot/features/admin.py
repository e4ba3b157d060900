"""The admins' side of the mall: ``/admin`` and its menu, ``/audit``, and what admin screens share.

An admin is a Telegram user id in ``[telegram] admins``. How an admin feature is written
(``bot/features/admin_*.py``, each with its own ``router`` and gettext domain):

- Register every command, button, question and upload with ``admin=True``
  (``@router.button("ait", admin=True)``). The conversation refuses anyone else before the
  handler runs, logs the attempt and writes it to the audit log (action ``denied``); the
  authorization test walks every such route as a member and expects refusal and no change.
- Its entry in the ``/admin`` menu is in :data:`SECTIONS` (a label key and the route of its
  first screen); its commands are in :data:`ADMIN_COMMANDS`, which only admins see in their
  command menu.
- An action is audited by core, not here: the feature passes the admin
  (``actor_id=turn.sender.user_id``) and the use case writes who did what to what, before
  and after (``core.audit.write_entry``) in the action's own transaction, so an action is
  never left without its entry.
- Its screens end with :func:`admin_screen`'s way back to the admin menu.
- A typed answer is asked with :func:`ask` (its Cancel button drops the question with
  :func:`drop_question`). An action confirmed with a button waits in the admin's open question
  with a :func:`new_nonce` that its Confirm button carries and that keys the action, so a
  double tap acts once; :func:`confirmed` finds the confirmation a press answers.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.i18n import Html, shorten
from bot.router import Router, Stale, callback, int_arg
from bot.screens import Button, Keyboard, Screen
from bot.turn import Turn
from core.audit import AuditRecord
from core.pending_inputs import JSON

router = Router()
ADMIN_ROUTE = "adm"
AUDIT_ROUTE = "aud"
# The /admin menu, two buttons a row: (label key, route of the section's first screen).
SECTIONS = (
    ("admin.menu.items", "ait"),
    ("admin.menu.sales", "asl"),
    ("admin.menu.boxes", "abx"),
    ("admin.menu.points", "apt"),
    ("admin.menu.members", "amb"),
    ("admin.menu.approvals", "aap"),
    ("admin.menu.claims", "acl"),
    ("admin.menu.flags", "afl"),
    ("admin.menu.stats", "ast"),
    ("admin.menu.export", "aex"),
    ("admin.menu.broadcast", "abc"),
    ("admin.menu.shop", "asp"),
    ("admin.menu.tasks", "atk"),
    ("admin.menu.member_days", "amd"),
    ("admin.menu.audit", AUDIT_ROUTE),
)
# The commands only admins see in their command menu (texts: command.<name>), in menu order.
ADMIN_COMMANDS = (
    "admin",
    "approvals",
    "member",
    "grant",
    "flags",
    "stats",
    "export",
    "shop",
    "tasks_admin",
    "audit",
)
AUDIT_PAGE = 15
# How long a typed answer or a confirmation waits.
QUESTION_TTL = timedelta(minutes=30)
_NONCE = re.compile(r"[A-Za-z0-9_-]{8}")
# A value longer than this is cut in the audit view (the entry itself keeps it whole).
_VALUE_IN_VIEW = 40


def back_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn.t("admin.back"), data=ADMIN_ROUTE),)


def admin_screen(turn: Turn, text: Html, rows: Keyboard = ()) -> Screen:
    """An admin screen whose last row leads back to the admin menu."""
    return Screen(text, (*rows, back_row(turn)))


def label(turn: Turn, keys: Mapping[str, str], name: str) -> Html:
    """The translated label of ``name`` from a table of text keys; a name without one as it is."""
    return turn.t(keys[name]) if name in keys else Html(name)


def two_a_row(buttons: Sequence[Button]) -> list[tuple[Button, ...]]:
    return [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]


def page_row(
    turn: Turn, route: str, page: int, has_more: bool, *args: object
) -> tuple[Button, ...]:
    """Previous/Next buttons to ``route`` (with ``args`` before the page), or none."""
    nav: list[Button] = []
    if page > 0:
        nav.append(Button(turn.t("nav.previous"), data=callback(route, *args, page - 1)))
    if has_more:
        nav.append(Button(turn.t("nav.next"), data=callback(route, *args, page + 1)))
    return tuple(nav)


# --- Questions and confirmations -----------------------------------------------------------------


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
    return secrets.token_urlsafe(6)


async def confirmed(
    turn: Turn, kind: str, args: tuple[str, ...]
) -> tuple[str, Mapping[str, JSON]] | None:
    """The nonce and draft of the open ``kind`` confirmation whose Confirm button was pressed.

    None when it is not open any more: done already (a second tap), cancelled, timed out, or
    replaced by another question. A button without a nonce is :class:`Stale`.
    """
    if not args or not _NONCE.fullmatch(args[0]):
        raise Stale(f"bad nonce in {args!r}")
    nonce = args[0]
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is None or pending.kind != kind or pending.data.get("nonce") != nonce:
        return None
    return nonce, pending.data


# --- The admin menu ------------------------------------------------------------------------------


def admin_menu(turn: Turn) -> Screen:
    t = turn.t
    buttons = [Button(t(key), data=route) for key, route in SECTIONS]
    rows = tuple(two_a_row(buttons))
    text = t("admin.menu.text", mall=turn.config.mall.name)
    return Screen(text, (*rows, (turn.menu_button(),)))


@router.command("admin", admin=True)
async def admin_command(turn: Turn) -> None:
    turn.send(admin_menu(turn))


@router.button(ADMIN_ROUTE, admin=True)
async def admin_button(turn: Turn, args: tuple[str, ...]) -> None:
    turn.show(admin_menu(turn))


# --- The audit log -----------------------------------------------------------------------------


@router.command("audit", admin=True)
async def audit_command(turn: Turn) -> None:
    turn.send(await _audit_screen(turn, 0))


@router.button(AUDIT_ROUTE, admin=True)
async def audit_button(turn: Turn, args: tuple[str, ...]) -> None:
    before = int_arg(args, 0) if args else 0
    turn.show(await _audit_screen(turn, before))


async def _audit_screen(turn: Turn, before_id: int) -> Screen:
    """The newest entries, or those older than entry ``before_id`` (an "Older" button)."""
    t = turn.t
    entries = await turn.mall.audit.latest(AUDIT_PAGE + 1, before_id=before_id or None)
    if before_id and not entries:
        raise Stale(f"no audit entries before {before_id}")
    shown = entries[:AUDIT_PAGE]
    if not shown:
        return admin_screen(turn, t("admin.audit.empty"))
    lines = [t("admin.audit.title")]
    lines += [_audit_line(turn, entry) for entry in shown]
    rows: list[tuple[Button, ...]] = []
    if len(entries) > AUDIT_PAGE:
        rows.append((Button(t("admin.audit.older"), data=f"{AUDIT_ROUTE}:{shown[-1].entry_id}"),))
    return admin_screen(turn, Html("\n\n".join(lines)), tuple(rows))


def _audit_line(turn: Turn, entry: AuditRecord) -> Html:
    t = turn.t
    change = _change(entry.before, entry.after)
    return t(
        "admin.audit.line",
        id=entry.entry_id,
        at=t.moment(entry.at),
        actor=entry.actor_id,
        action=entry.action,
        target=entry.target,
        change=change,
    )


def _change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    """``stock: 5 → 15, active: True → False``: only what differs, in a stable order."""
    parts = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key not in before:
            parts.append(f"{key}: {_short(new)}")
        elif key not in after:
            parts.append(f"{key}: {_short(old)} → ∅")
        else:
            parts.append(f"{key}: {_short(old)} → {_short(new)}")
    return ", ".join(parts)


def _short(value: object) -> str:
    return shorten(str(value), _VALUE_IN_VIEW)
