"""Admins look a member up (``/member 42``, ``/member @ann``, or the admin menu's Members) and
freeze or unfreeze them with a reason.

The member card shows who they are, their points, tier and frozen state, their latest movements
and redemptions and their invites, with buttons to grant or deduct points (the points section,
member filled in), freeze (the reason is asked as a typed answer) or unfreeze, and page through
their history. Freezing and unfreezing are audited and the member is told why, in their own
language. Also here: how the other admin screens find a member from what an admin typed, and
how they tell a member what an admin did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bot.content import tier_name
from bot.events import Command
from bot.features.admin import admin_screen, ask, back_row, drop_question, page_row
from bot.features.admin_flags import flag_reason
from bot.features.balance import history_lines
from bot.features.redemptions import state_text
from bot.i18n import Html, Translator, shorten
from bot.router import Router, Stale, callback, int_arg
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import UnknownMember
from core.members import MemberProfile

router = Router()
SECTION_ROUTE = "amb"
CARD_ROUTE = "amc"
# A redemption's card (bot/features/admin_approvals.py): aad:<redemption>.
REDEMPTION_ROUTE = "aad"
FREEZE_ROUTE = "amf"
UNFREEZE_ROUTE = "amu"
HISTORY_ROUTE = "amh"
CANCEL_ROUTE = "amx"
# The points section's grant/deduct question, with the member filled in (admin_points).
GRANT_ROUTE = "apg"
FIND_INPUT = "admin.member.find"
FREEZE_INPUT = "admin.member.freeze"
CARD_LINES = 5
HISTORY_PAGE = 10
REASON_MAX = 500
MAX_ID = 2**62
_MEMBER_ID = re.compile(r"[0-9]{1,19}")


# --- Finding a member, and telling them something ---------------------------------------------


async def find_member(turn: Turn, typed: str) -> MemberProfile:
    """The member an admin means by ``typed``: a Telegram id or an @username.

    Raises :class:`UnknownMember` (shown as ``error.unknown_member``) for anyone else.
    """
    text = typed.strip()
    if _MEMBER_ID.fullmatch(text):
        member_id = int(text)
        if not 0 < member_id < MAX_ID:
            raise UnknownMember(f"no member {text}", member_id=text)
        return await turn.mall.members.profile(member_id)
    return await turn.mall.members.find_by_username(text)


def member_label(profile: MemberProfile) -> str:
    """``Ann (@ann, 1000001)``: enough to be sure who it is (escaped where it is shown)."""
    handle = f"@{profile.username}, " if profile.username else ""
    return f"{profile.display_name} ({handle}{profile.member_id})"


async def tell_member(turn: Turn, member_id: int, text: Callable[[Translator], Html]) -> None:
    """Send the member a message in their own language.

    ``text`` builds it from the member's translator (call sites name it ``t`` inside the
    lambda, shadowing the admin's, so every key stays a literal ``t("...")`` call).
    """
    profile = await turn.mall.members.profile(member_id)
    theirs = turn.languages[profile.language]
    menu = Button(theirs("menu.back"), data="menu")
    turn.send(Screen(text(theirs), ((menu,),)), chat_id=member_id)


# --- Looking a member up ----------------------------------------------------------------------


@router.button(SECTION_ROUTE, admin=True)
async def section_button(turn: Turn, args: tuple[str, ...]) -> None:
    await _ask_who(turn, turn.t("admin.member.ask"))


@router.command("member", admin=True)
async def member_command(turn: Turn) -> None:
    typed = turn.action.args if isinstance(turn.action, Command) else ""
    if not typed.strip():
        await _ask_who(turn, turn.t("admin.member.ask"))
        return
    await _find_and_show(turn, typed)


@router.input(FIND_INPUT, admin=True)
async def find_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    await _find_and_show(turn, text)


async def _find_and_show(turn: Turn, typed: str) -> None:
    try:
        profile = await find_member(turn, typed)
    except UnknownMember:
        await _ask_who(turn, turn.t("admin.member.unknown", typed=shorten(typed.strip(), 64)))
        return
    turn.show(await card_screen(turn, profile.member_id))


async def _ask_who(turn: Turn, question: Html) -> None:
    cancel = Button(turn.t("admin.member.cancel"), data=CANCEL_ROUTE)
    await ask(turn, FIND_INPUT, {}, question, ((cancel,), back_row(turn)))


@router.button(CANCEL_ROUTE, admin=True)
async def cancel_button(turn: Turn, args: tuple[str, ...]) -> None:
    """Drop the member question (if it is still the open one) and go back."""
    await drop_question(turn, "admin.member.")
    if args:
        turn.show(await card_screen(turn, member_arg(args)))
    else:
        turn.show(admin_screen(turn, turn.t("admin.member.cancelled")))


# --- The card ---------------------------------------------------------------------------------


@router.button(CARD_ROUTE, admin=True)
async def card_button(turn: Turn, args: tuple[str, ...]) -> None:
    turn.show(await card_screen(turn, member_arg(args)))


async def card_screen(turn: Turn, member_id: int, note: Html | None = None) -> Screen:
    """Everything an admin needs to know about one member, with what they can do about it."""
    t, mall = turn.t, turn.mall
    profile = await mall.members.profile(member_id)
    balance = await mall.statements.balance(member_id)
    tier = await mall.statements.tier(member_id, turn.now)
    history = await mall.statements.history(member_id, page_size=CARD_LINES)
    redemptions = await mall.redemptions.list_for_member(member_id, page_size=CARD_LINES)
    invites = await mall.referrals.invites(member_id, turn.now, page_size=1)
    lines: list[str] = [note] if note else []
    if profile.username:
        title = t(
            "admin.member.title",
            name=profile.display_name,
            username=f"@{profile.username}",
            id=member_id,
        )
    else:
        title = t("admin.member.title_no_username", name=profile.display_name, id=member_id)
    lines.append(title)
    lines.append(t("admin.member.joined", at=t.moment(profile.joined_at)))
    lines.append(t("admin.member.balance", points=t.points(balance.balance)))
    if balance.held:
        lines.append(t("admin.member.held", points=t.points(balance.held)))
    lines.append(t("admin.member.tier", tier=tier_name(t, turn.config.tiers, tier.tier)))
    if balance.frozen:
        lines.append(t("admin.member.frozen", reason=balance.frozen_reason or "-"))
    else:
        lines.append(t("admin.member.not_frozen"))
    flagged = (await mall.risk.flags(1, member_id=member_id)).members
    if flagged:
        lines.append(t("admin.member.flags", score=t.number(flagged[0].score)))
        lines += [Html(f"• {flag_reason(turn, reason)}") for reason in flagged[0].reasons]
    else:
        lines.append(t("admin.member.no_flags"))
    lines.append("")
    lines.append(t("admin.member.movements"))
    if history.entries:
        lines += await history_lines(turn, history.entries)
    else:
        lines.append(t("admin.member.none"))
    lines.append(t("admin.member.redemptions"))
    if redemptions.entries:
        lines += [
            t(
                "admin.member.redemption_line",
                number=view.redemption_id,
                title=view.title,
                state=state_text(t, view, turn.now),
                points=t.points(view.points),
                day=t.date(view.created_at.astimezone(t.tz).date()),
            )
            for view in redemptions.entries
        ]
    else:
        lines.append(t("admin.member.none"))
    total = invites.pending + invites.rewarded + invites.capped
    lines.append(
        t(
            "admin.member.invites",
            count=t.number(total),
            pending=t.number(invites.pending),
            rewarded=t.number(invites.rewarded),
            capped=t.number(invites.capped),
        )
    )
    if balance.frozen:
        freeze = Button(t("admin.member.unfreeze"), data=callback(UNFREEZE_ROUTE, member_id))
    else:
        freeze = Button(t("admin.member.freeze"), data=callback(FREEZE_ROUTE, member_id))
    # Redemptions paid in Stars open their card (their payment, a refund).
    paid = [
        Button(
            t("admin.member.paid_redemption", number=t.number(view.redemption_id)),
            data=callback(REDEMPTION_ROUTE, view.redemption_id),
        )
        for view in redemptions.entries
        if view.payment_charge_id is not None
    ]
    rows = (
        *(tuple(paid[i : i + 3]) for i in range(0, len(paid), 3)),
        (Button(t("admin.member.adjust"), data=callback(GRANT_ROUTE, member_id)), freeze),
        (
            Button(t("admin.member.history"), data=callback(HISTORY_ROUTE, member_id, 0)),
            Button(t("admin.member.another"), data=SECTION_ROUTE),
        ),
    )
    return admin_screen(turn, Html("\n".join(lines)), rows)


@router.button(HISTORY_ROUTE, admin=True)
async def history_button(turn: Turn, args: tuple[str, ...]) -> None:
    member_id, page = member_arg(args), int_arg(args, 1)
    t = turn.t
    profile = await turn.mall.members.profile(member_id)
    found = await turn.mall.statements.history(member_id, page=page, page_size=HISTORY_PAGE)
    if page and not found.entries:
        raise Stale(f"no history page {page} for {member_id}")
    lines = [t("admin.member.history_title", who=member_label(profile), page=t.number(page + 1))]
    lines += await history_lines(turn, found.entries) or [t("admin.member.none")]
    nav = page_row(turn, HISTORY_ROUTE, page, found.has_more, member_id)
    back = (Button(t("admin.member.back_to_card"), data=callback(CARD_ROUTE, member_id)),)
    rows = (tuple(nav), back) if nav else (back,)
    turn.show(admin_screen(turn, Html("\n".join(lines)), rows))


# --- Freezing ---------------------------------------------------------------------------------


@router.button(FREEZE_ROUTE, admin=True)
async def freeze_button(turn: Turn, args: tuple[str, ...]) -> None:
    member_id = member_arg(args)
    profile = await turn.mall.members.profile(member_id)
    if profile.frozen:
        turn.notice(turn.t("admin.member.already_frozen"), alert=True)
        turn.show(await card_screen(turn, member_id))
        return
    await _ask_reason(turn, profile, turn.t("admin.member.freeze_ask", who=member_label(profile)))


async def _ask_reason(turn: Turn, profile: MemberProfile, question: Html) -> None:
    cancel = Button(turn.t("admin.member.cancel"), data=callback(CANCEL_ROUTE, profile.member_id))
    rows = ((cancel,), back_row(turn))
    await ask(turn, FREEZE_INPUT, {"member": profile.member_id}, question, rows)


@router.input(FREEZE_INPUT, admin=True)
async def freeze_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    member_id = int(data["member"])
    profile = await turn.mall.members.profile(member_id)
    reason = text.strip()
    if not reason or len(reason) > REASON_MAX:
        problem = t("admin.member.reason_length", max=t.number(REASON_MAX))
        await _ask_reason(turn, profile, problem)
        return
    if profile.frozen:  # frozen meanwhile by another admin: leave their reason alone
        turn.show(await card_screen(turn, member_id, t("admin.member.already_frozen")))
        return
    await turn.mall.members.freeze(member_id, reason, actor_id=turn.sender.user_id, now=turn.now)
    await tell_member(turn, member_id, lambda t: t("admin.member.told_frozen", reason=reason))
    turn.show(await card_screen(turn, member_id, t("admin.member.frozen_done")))


@router.button(UNFREEZE_ROUTE, admin=True)
async def unfreeze_button(turn: Turn, args: tuple[str, ...]) -> None:
    t = turn.t
    member_id = member_arg(args)
    profile = await turn.mall.members.profile(member_id)
    if not profile.frozen:
        turn.notice(t("admin.member.not_frozen_notice"), alert=True)
        turn.show(await card_screen(turn, member_id))
        return
    await turn.mall.members.unfreeze(member_id, actor_id=turn.sender.user_id, now=turn.now)
    await tell_member(turn, member_id, lambda t: t("admin.member.told_unfrozen"))
    turn.notice(t("admin.member.unfrozen_done"))
    turn.show(await card_screen(turn, member_id, t("admin.member.unfrozen_done")))


def member_arg(args: tuple[str, ...]) -> int:
    """The member id a button carries first, or :class:`Stale`."""
    member_id = int_arg(args, 0)
    if not 0 < member_id < MAX_ID:
        raise Stale(f"bad member id {member_id}")
    return member_id
