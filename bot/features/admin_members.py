"""Admins look a member up (``/member 42``, ``/member @ann``, or the admin menu's Members) and
freeze or unfreeze them with a reason.

The member card shows who they are, their points, tier and frozen state, their latest movements
and redemptions and their invites, with buttons to grant or deduct points (the points section,
member filled in), freeze (the reason is asked as a typed answer) or unfreeze, and page through
their history. Freezing and unfreezing are audited and the member is told why, in their own
language. How admin screens find a member from what an admin typed, and tell a member what an
admin did, is in ``admin_member_lookup``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from bot.callback_data import MAX_INT_ARG, CallbackData, Ints, Page
from bot.content import tier_name
from bot.events import Command
from bot.features.admin_links import AdjustPoints, AdminRedemptionCard, MemberCard, MemberId
from bot.features.admin_member_lookup import find_member, member_label, tell_member
from bot.features.admin_questions import ask, drop_question
from bot.features.admin_risk import flag_reason
from bot.features.admin_screens import admin_screen, back_row, page_row
from bot.features.history_lines import history_lines
from bot.features.redemption_states import state_text
from bot.i18n import Html, shorten
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import UnknownMember
from core.membership.members import MemberProfile

router = Router()
SECTION_ROUTE = "amb"
FREEZE_ROUTE = "amf"
UNFREEZE_ROUTE = "amu"
HISTORY_ROUTE = "amh"
CANCEL_ROUTE = "amx"


class FindMember(CallbackData, route=SECTION_ROUTE):
    """Which member? (asks for an id or @username)."""


class Freeze(CallbackData, route=FREEZE_ROUTE):
    """Freeze a member (asks the reason)."""

    member_id: MemberId


class Unfreeze(CallbackData, route=UNFREEZE_ROUTE):
    """Unfreeze a member."""

    member_id: MemberId


class MemberHistory(CallbackData, route=HISTORY_ROUTE):
    """A page of a member's movements."""

    member_id: MemberId
    page: Page


class CancelMemberQuestion(CallbackData, route=CANCEL_ROUTE):
    """Drop the member question: back to the card (``member_id``) or the admin menu (0)."""

    member_id: Annotated[int, Ints(0, MAX_INT_ARG)] = 0


FIND_INPUT = "admin.member.find"
FREEZE_INPUT = "admin.member.freeze"
CARD_LINES = 5
HISTORY_PAGE = 10
REASON_MAX = 500


# --- Looking a member up ----------------------------------------------------------------------


@router.button(FindMember, admin=True)
async def section_button(turn: Turn, pressed: FindMember) -> None:
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
    cancel = Button(turn.t("admin.member.cancel"), data=CancelMemberQuestion().pack())
    await ask(turn, FIND_INPUT, {}, question, ((cancel,), back_row(turn)))


@router.button(CancelMemberQuestion, admin=True)
async def cancel_button(turn: Turn, pressed: CancelMemberQuestion) -> None:
    """Drop the member question (if it is still the open one) and go back."""
    await drop_question(turn, "admin.member.")
    if pressed.member_id:
        turn.show(await card_screen(turn, pressed.member_id))
    else:
        turn.show(admin_screen(turn, turn.t("admin.member.cancelled")))


# --- The card ---------------------------------------------------------------------------------


@router.button(MemberCard, admin=True)
async def card_button(turn: Turn, pressed: MemberCard) -> None:
    turn.show(await card_screen(turn, pressed.member_id))


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
        freeze = Button(t("admin.member.unfreeze"), data=Unfreeze(member_id).pack())
    else:
        freeze = Button(t("admin.member.freeze"), data=Freeze(member_id).pack())
    # Redemptions paid in Stars open their card (their payment, a refund).
    paid = [
        Button(
            t("admin.member.paid_redemption", number=t.number(view.redemption_id)),
            data=AdminRedemptionCard(view.redemption_id).pack(),
        )
        for view in redemptions.entries
        if view.payment_charge_id is not None
    ]
    rows = (
        *(tuple(paid[i : i + 3]) for i in range(0, len(paid), 3)),
        (Button(t("admin.member.adjust"), data=AdjustPoints(member_id).pack()), freeze),
        (
            Button(t("admin.member.history"), data=MemberHistory(member_id, 0).pack()),
            Button(t("admin.member.another"), data=FindMember().pack()),
        ),
    )
    return admin_screen(turn, Html("\n".join(lines)), rows)


@router.button(MemberHistory, admin=True)
async def history_button(turn: Turn, pressed: MemberHistory) -> None:
    member_id, page = pressed.member_id, pressed.page
    t = turn.t
    profile = await turn.mall.members.profile(member_id)
    found = await turn.mall.statements.history(member_id, page=page, page_size=HISTORY_PAGE)
    if page and not found.entries:
        raise Stale(f"no history page {page} for {member_id}")
    lines = [t("admin.member.history_title", who=member_label(profile), page=t.number(page + 1))]
    lines += await history_lines(turn, found.entries) or [t("admin.member.none")]
    nav = page_row(turn, page, found.has_more, lambda to: MemberHistory(member_id, to))
    back = (Button(t("admin.member.back_to_card"), data=MemberCard(member_id).pack()),)
    rows = (tuple(nav), back) if nav else (back,)
    turn.show(admin_screen(turn, Html("\n".join(lines)), rows))


# --- Freezing ---------------------------------------------------------------------------------


@router.button(Freeze, admin=True)
async def freeze_button(turn: Turn, pressed: Freeze) -> None:
    member_id = pressed.member_id
    profile = await turn.mall.members.profile(member_id)
    if profile.frozen:
        turn.notice(turn.t("admin.member.already_frozen"), alert=True)
        turn.show(await card_screen(turn, member_id))
        return
    await _ask_reason(turn, profile, turn.t("admin.member.freeze_ask", who=member_label(profile)))


async def _ask_reason(turn: Turn, profile: MemberProfile, question: Html) -> None:
    cancel = Button(
        turn.t("admin.member.cancel"), data=CancelMemberQuestion(profile.member_id).pack()
    )
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


@router.button(Unfreeze, admin=True)
async def unfreeze_button(turn: Turn, pressed: Unfreeze) -> None:
    t = turn.t
    member_id = pressed.member_id
    profile = await turn.mall.members.profile(member_id)
    if not profile.frozen:
        turn.notice(t("admin.member.not_frozen_notice"), alert=True)
        turn.show(await card_screen(turn, member_id))
        return
    await turn.mall.members.unfreeze(member_id, actor_id=turn.sender.user_id, now=turn.now)
    await tell_member(turn, member_id, lambda t: t("admin.member.told_unfrozen"))
    turn.notice(t("admin.member.unfrozen_done"))
    turn.show(await card_screen(turn, member_id, t("admin.member.unfrozen_done")))
