"""The admins' side of the mall: ``/admin`` and its menu, and ``/audit``.

An admin is a Telegram user id in ``[telegram] admins``. How an admin feature is written
(``bot/features/admin_*.py``, each with its own ``router`` and gettext domain):

- Register every command, button, question and upload with ``admin=True``
  (``@router.button(AdminItems, admin=True)``), each button with its typed callback data
  (``bot/callback_data.py``). The conversation refuses anyone else before the handler runs,
  logs the attempt and writes it to the audit log (action ``denied``); the authorization test
  walks every such route as a member and expects refusal and no change.
- Its entry in the ``/admin`` menu is in :data:`SECTIONS` (a label key and the route of its
  first screen, a route whose data has no required field); its commands are in
  :data:`ADMIN_COMMANDS`, which only admins see in their command menu.
- An action is audited by core, not here: the feature passes the admin
  (``actor_id=turn.sender.user_id``) and the use case writes who did what to what, before
  and after (``core.reporting.audit.write_entry``) in the action's own transaction, so an action is
  never left without its entry.
- It imports no other feature, only the shared helpers: ``admin_screens`` (the way back to
  the admin menu, rows, paging), ``admin_questions`` (typed answers and confirmations),
  ``admin_forms`` (guided forms) and ``admin_links`` (the buttons one admin screen shows of
  another's), as the import contract in ``pyproject.toml`` checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.callback_data import CallbackData, Id
from bot.features.admin_screens import AdminMenu, admin_screen, two_a_row
from bot.i18n import Html, shorten
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.reporting.audit import AuditRecord

router = Router()
AUDIT_ROUTE = "aud"


class AuditPage(CallbackData, route=AUDIT_ROUTE):
    """The audit log: the newest entries, or those older than entry ``before_id``."""

    before_id: Id = 0


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
# A value longer than this is cut in the audit view (the entry itself keeps it whole).
_VALUE_IN_VIEW = 40


# --- The admin menu ------------------------------------------------------------------------------


def admin_menu(turn: Turn) -> Screen:
    t = turn.t
    buttons = [Button(t(key), data=route) for key, route in SECTIONS]
    rows = tuple(two_a_row(buttons))
    text = t("admin.menu.text", mall=turn.config.mall.name)
    return Screen(text, (*rows, (turn.menu_button(),)))


@router.screen("admin", AdminMenu, admin=True)
async def admin_command(turn: Turn) -> None:
    turn.show(admin_menu(turn))


# --- The audit log -----------------------------------------------------------------------------


@router.command("audit", admin=True)
async def audit_command(turn: Turn) -> None:
    turn.send(await _audit_screen(turn, 0))


@router.button(AuditPage, admin=True)
async def audit_button(turn: Turn, pressed: AuditPage) -> None:
    turn.show(await _audit_screen(turn, pressed.before_id))


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
        rows.append((Button(t("admin.audit.older"), data=AuditPage(shown[-1].entry_id).pack()),))
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
