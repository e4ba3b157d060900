"""Admins: risk flags. ``/flags`` (and the "Risk flags" section) scans recent activity, then
lists the flagged members with their score and reasons; each can be cleared, or frozen after
a confirmation. Both are written to the audit log by ``core.membership.risk``."""

from __future__ import annotations

from bot.callback_data import CallbackData, Id
from bot.features.admin_risk import flag_reason
from bot.features.admin_screens import admin_screen
from bot.i18n import Html, plain, shorten
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.membership.risk import (
    EARNED,
    INVITES,
    REDEMPTIONS,
    RING,
    WRONG_CLAIMS,
    FlaggedMember,
)

router = Router()

LIST_ROUTE = "afl"
CLEAR_ROUTE = "afc"
FREEZE_ROUTE = "afz"
CONFIRM_FREEZE_ROUTE = "afy"


class FlagList(CallbackData, route=LIST_ROUTE):
    """The flagged members (after a scan)."""


class ClearFlags(CallbackData, route=CLEAR_ROUTE):
    """Clear a member's flags (unfreezing a freeze the rules made)."""

    member_id: Id


class AskFreeze(CallbackData, route=FREEZE_ROUTE):
    """Freeze a flagged member? (asks first)."""

    member_id: Id


class ConfirmFreeze(CallbackData, route=CONFIRM_FREEZE_ROUTE):
    """Yes, freeze them."""

    member_id: Id


LISTED = 8
# How much of a name a button shows.
_NAME_IN_BUTTON = 18
# Each rule in a few words, for the reason a frozen member reads.
_RULE_NAMES = {
    EARNED: "admin.flags.name.earned",
    REDEMPTIONS: "admin.flags.name.redemptions",
    INVITES: "admin.flags.name.invites",
    WRONG_CLAIMS: "admin.flags.name.wrong_claims",
    RING: "admin.flags.name.referral_ring",
}


@router.screen("flags", FlagList, admin=True)
async def flags_command(turn: Turn) -> None:
    await turn.mall.risk.scan(turn.now)
    turn.show(await _flags_screen(turn))


@router.button(ClearFlags, admin=True)
async def clear_button(turn: Turn, pressed: ClearFlags) -> None:
    member_id = pressed.member_id
    name = (await turn.mall.members.profile(member_id)).display_name
    review = await turn.mall.risk.clear(turn.sender.user_id, member_id, turn.now)
    key = "admin.flags.cleared_unfrozen" if review.lifted else "admin.flags.cleared"
    turn.notice(turn.t(key, name=name))
    turn.show(await _flags_screen(turn))


@router.button(AskFreeze, admin=True)
async def freeze_button(turn: Turn, pressed: AskFreeze) -> None:
    member_id = pressed.member_id
    flagged = await _flagged(turn, member_id)
    t = turn.t
    text = t(
        "admin.flags.confirm_freeze",
        name=flagged.display_name,
        id=member_id,
        reason=_freeze_reason(turn, flagged),
    )
    rows = (
        (
            Button(t("admin.flags.freeze_yes"), data=ConfirmFreeze(member_id).pack()),
            Button(t("admin.flags.back"), data=FlagList().pack()),
        ),
    )
    turn.show(admin_screen(turn, text, rows))


@router.button(ConfirmFreeze, admin=True)
async def confirm_freeze_button(turn: Turn, pressed: ConfirmFreeze) -> None:
    member_id = pressed.member_id
    flagged = await _flagged(turn, member_id)
    reason = _freeze_reason(turn, flagged)
    await turn.mall.risk.freeze(turn.sender.user_id, member_id, reason, turn.now)
    turn.notice(turn.t("admin.flags.frozen_done", name=flagged.display_name))
    turn.show(await _flags_screen(turn))


async def _flags_screen(turn: Turn) -> Screen:
    t = turn.t
    listed = await turn.mall.risk.flags(LISTED)
    if not listed.members:
        return admin_screen(turn, t("admin.flags.empty"))
    blocks = [t.n("admin.flags.title", listed.total)]
    rows: list[tuple[Button, ...]] = []
    for member in listed.members:
        blocks.append(_member_block(turn, member))
        name = _short(member.display_name)
        rows.append(
            (
                Button(t("admin.flags.clear", name=name), data=ClearFlags(member.member_id).pack()),
                Button(
                    t("admin.flags.freeze", name=name),
                    data=AskFreeze(member.member_id).pack(),
                ),
            )
        )
    if listed.total > len(listed.members):
        blocks.append(t("admin.flags.more", count=t.number(listed.total - len(listed.members))))
    return admin_screen(turn, Html("\n\n".join(blocks)), tuple(rows))


def _member_block(turn: Turn, member: FlaggedMember) -> Html:
    t = turn.t
    handle = f"@{member.username} " if member.username else ""
    lines = [
        t(
            "admin.flags.member",
            name=member.display_name,
            handle=handle,
            id=member.member_id,
            score=t.number(member.score),
        )
    ]
    if member.frozen:
        lines.append(t("admin.flags.frozen", reason=member.frozen_reason or "-"))
    lines += [Html(f"• {flag_reason(turn, reason)}") for reason in member.reasons]
    return Html("\n".join(lines))


def _freeze_reason(turn: Turn, flagged: FlaggedMember) -> str:
    """The reason the member will read: the rules that flagged them, in the admin's words."""
    t = turn.t
    names = ", ".join(
        plain(t(_RULE_NAMES[reason.rule])) if reason.rule in _RULE_NAMES else reason.rule
        for reason in flagged.reasons
    )
    return plain(t("admin.flags.freeze_reason", rules=names))


async def _flagged(turn: Turn, member_id: int) -> FlaggedMember:
    """The member as the list shows them; Stale once no flag of theirs is open."""
    found = (await turn.mall.risk.flags(1, member_id=member_id)).members
    if not found:
        raise Stale(f"member {member_id} is not flagged")
    return found[0]


def _short(name: str) -> str:
    return shorten(name, _NAME_IN_BUTTON)
