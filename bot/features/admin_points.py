"""Admins move a member's points by hand: grant or deduct with a reason, record a purchase so
the earning rules apply, and reverse a purchase.

Grant or deduct: ``/grant @ann 50 reason`` or ``/grant 1000001 -30 reason`` (a negative amount
deducts), or from the admin menu's Points section, which asks for the member, the amount and
the reason one typed answer at a time (the member card's button starts with the member filled
in). Every way ends on a confirmation: the member, their balance now and after, the reason,
and Confirm / Cancel.

The confirmation's details wait in the admin's open question (``admin.points.confirm``), and
its Confirm button carries a fresh nonce that must match them; the nonce is the idempotency
key of the grant, so a double tap grants once, and a Confirm pressed after the question was
answered or replaced says so instead of acting. Text typed while a confirmation is open shows
it again. The member is told what changed and why, in their own language.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.callback_data import CallbackData
from bot.events import Command
from bot.features.admin_links import AdjustPoints, MemberCard
from bot.features.admin_member_lookup import find_member, member_label, tell_member
from bot.features.admin_questions import Nonce, ask, confirmed_or_back, drop_question, new_nonce
from bot.features.admin_screens import admin_screen
from bot.i18n import Html, Translator, shorten
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core import validation
from core.errors import Frozen, InsufficientPoints, InvalidKey, UnknownMember, UnknownOrder
from core.membership.members import MemberProfile
from core.points.adjustments import MAX_REASON, Adjustment

router = Router()
SECTION_ROUTE = "apt"
PURCHASE_ROUTE = "app"
REVERSE_ROUTE = "apr"
CONFIRM_ROUTE = "apc"
CANCEL_ROUTE = "apx"


class PointsSection(CallbackData, route=SECTION_ROUTE):
    """The points section: grant or deduct, record or reverse a purchase."""


class RecordPurchase(CallbackData, route=PURCHASE_ROUTE):
    """Record a shop purchase for a member (asks who, then the order)."""


class ReversePurchase(CallbackData, route=REVERSE_ROUTE):
    """Reverse a recorded purchase (asks the order)."""


class ConfirmPoints(CallbackData, route=CONFIRM_ROUTE):
    """Yes, do it: the confirmation open with this nonce."""

    nonce: Nonce


class CancelPoints(CallbackData, route=CANCEL_ROUTE):
    """Drop the open points question or confirmation."""


MEMBER_INPUT = "admin.points.member"
AMOUNT_INPUT = "admin.points.amount"
REASON_INPUT = "admin.points.reason"
ORDER_INPUT = "admin.points.order"
REFUND_INPUT = "admin.points.refund"
CONFIRM_INPUT = "admin.points.confirm"
_AMOUNT = re.compile(r"[+-]?[0-9]{1,19}")
_MONEY = re.compile(r"[0-9]{1,15}(?:[.,][0-9]{1,6})?")


def _section(turn: Turn, note: Html | None = None) -> Screen:
    t = turn.t
    text = Html("\n\n".join([note, t("admin.points.title")] if note else [t("admin.points.title")]))
    rows = (
        (Button(t("admin.points.adjust"), data=AdjustPoints().pack()),),
        (
            Button(t("admin.points.purchase"), data=RecordPurchase().pack()),
            Button(t("admin.points.reverse"), data=ReversePurchase().pack()),
        ),
    )
    return admin_screen(turn, text, rows)


@router.button(PointsSection, admin=True)
async def section_button(turn: Turn, pressed: PointsSection) -> None:
    turn.show(_section(turn))


@router.button(CancelPoints, admin=True)
async def cancel_button(turn: Turn, pressed: CancelPoints) -> None:
    """Drop the open points question or confirmation (if it is still the open one)."""
    await drop_question(turn, "admin.points.")
    turn.show(_section(turn, turn.t("admin.points.cancelled")))


async def _ask(turn: Turn, kind: str, data: Mapping[str, Any], question: Html) -> None:
    """Ask the admin for a typed answer of ``kind``, with a way out."""
    cancel = Button(turn.t("admin.points.cancel"), data=CancelPoints().pack())
    await ask(turn, kind, data, question, ((cancel,),))


def _problem(problem: Html, question: Html) -> Html:
    return Html(f"{problem}\n\n{question}")


# --- Grant or deduct: the guided way ----------------------------------------------------------


@router.button(AdjustPoints, admin=True)
async def adjust_button(turn: Turn, pressed: AdjustPoints) -> None:
    if not pressed.member_id:
        await _ask(turn, MEMBER_INPUT, {"for": "adjust"}, turn.t("admin.points.ask_member"))
        return
    profile = await turn.mall.members.profile(pressed.member_id)
    await _ask_amount(turn, profile)


@router.input(MEMBER_INPUT, admin=True)
async def member_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    try:
        profile = await find_member(turn, text)
    except UnknownMember:
        problem = t("admin.points.unknown_member", typed=shorten(text.strip(), 64))
        await _ask(turn, MEMBER_INPUT, data, _problem(problem, t("admin.points.ask_member")))
        return
    if data.get("for") == "purchase":
        await _ask_order(turn, profile)
    else:
        await _ask_amount(turn, profile)


async def _ask_amount(turn: Turn, profile: MemberProfile, problem: Html | None = None) -> None:
    t = turn.t
    balance = (await turn.mall.statements.balance(profile.member_id)).balance
    question = t("admin.points.ask_amount", who=member_label(profile), balance=t.points(balance))
    data = {"member": profile.member_id}
    await _ask(turn, AMOUNT_INPUT, data, _problem(problem, question) if problem else question)


@router.input(AMOUNT_INPUT, admin=True)
async def amount_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    profile = await turn.mall.members.profile(int(data["member"]))
    amount, problem = _amount(turn.t, text)
    if problem is not None:
        await _ask_amount(turn, profile, problem)
        return
    question = turn.t("admin.points.ask_reason", who=member_label(profile))
    await _ask(turn, REASON_INPUT, {"member": profile.member_id, "amount": amount}, question)


@router.input(REASON_INPUT, admin=True)
async def reason_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    reason = text.strip()
    if not reason or len(reason) > MAX_REASON:
        question = _problem(
            t("admin.points.reason_length", max=t.number(MAX_REASON)),
            t("admin.points.ask_reason", who=member_label(await _profile(turn, data))),
        )
        await _ask(turn, REASON_INPUT, data, question)
        return
    await _confirm_adjustment(turn, await _profile(turn, data), int(data["amount"]), reason)


def _amount(t: Translator, text: str) -> tuple[int, Html | None]:
    """A signed whole number of points (negative deducts), or what is wrong with it."""
    cleaned = text.strip().replace("−", "-").replace(" ", "")
    if not _AMOUNT.fullmatch(cleaned):
        return 0, t("admin.points.amount_not_number", typed=shorten(text.strip(), 32))
    amount = int(cleaned)
    if amount == 0:
        return 0, t("admin.points.amount_zero")
    if abs(amount) > validation.MAX_AMOUNT:
        return 0, t("admin.points.amount_too_large", max=t.number(validation.MAX_AMOUNT))
    return amount, None


# --- Grant or deduct: the command -------------------------------------------------------------


@router.command("grant", admin=True)
async def grant_command(turn: Turn) -> None:
    t = turn.t
    typed = turn.action.args if isinstance(turn.action, Command) else ""
    if not typed.strip():
        await _ask(turn, MEMBER_INPUT, {"for": "adjust"}, t("admin.points.ask_member"))
        return
    parts = typed.split(maxsplit=2)
    usage = t("admin.points.usage")
    try:
        profile = await find_member(turn, parts[0])
    except UnknownMember:
        unknown = t("admin.points.unknown_member", typed=shorten(parts[0], 64))
        turn.show(admin_screen(turn, _problem(unknown, usage)))
        return
    if len(parts) < 2:
        turn.show(admin_screen(turn, _problem(t("admin.points.amount_missing"), usage)))
        return
    amount, problem = _amount(t, parts[1])
    if problem is not None:
        turn.show(admin_screen(turn, _problem(problem, usage)))
        return
    reason = parts[2].strip() if len(parts) > 2 else ""
    if not reason or len(reason) > MAX_REASON:
        too_long = t("admin.points.reason_length", max=t.number(MAX_REASON))
        turn.show(admin_screen(turn, _problem(too_long, usage)))
        return
    await _confirm_adjustment(turn, profile, amount, reason)


# --- Grant or deduct: the confirmation --------------------------------------------------------


async def _confirm_adjustment(turn: Turn, profile: MemberProfile, amount: int, reason: str) -> None:
    t = turn.t
    balance = (await turn.mall.statements.balance(profile.member_id)).balance
    if amount < 0 and -amount > balance:
        problem = t(
            "admin.points.too_few",
            who=member_label(profile),
            balance=t.points(balance),
            points=t.points(-amount),
        )
        turn.show(_on_card(turn, profile.member_id, problem))
        return
    who, points = member_label(profile), t.points(abs(amount))
    now, after = t.points(balance), t.points(balance + amount)
    if amount > 0:
        text = t(
            "admin.points.confirm_grant",
            who=who,
            points=points,
            balance=now,
            after=after,
            reason=reason,
        )
    else:
        text = t(
            "admin.points.confirm_deduct",
            who=who,
            points=points,
            balance=now,
            after=after,
            reason=reason,
        )
    draft = {"op": "adjust", "member": profile.member_id, "amount": amount, "reason": reason}
    await _confirmation(turn, draft, text)


async def _confirmation(turn: Turn, draft: dict[str, Any], text: Html) -> None:
    """Show ``text`` with Confirm and Cancel; the draft waits in the admin's open question."""
    nonce = str(draft.get("nonce") or new_nonce())
    t = turn.t
    rows = (
        (
            Button(t("admin.points.confirm"), data=ConfirmPoints(nonce).pack()),
            Button(t("admin.points.cancel"), data=CancelPoints().pack()),
        ),
    )
    await ask(turn, CONFIRM_INPUT, {**draft, "nonce": nonce, "text": text}, text, rows)


@router.input(CONFIRM_INPUT, admin=True)
async def confirm_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    """Text while a confirmation is open: show it again, still waiting for a button."""
    again = Html(f"{turn.t('admin.points.use_buttons')}\n\n{data['text']}")
    await _confirmation(turn, dict(data), again)


@router.button(ConfirmPoints, admin=True)
async def confirm_button(turn: Turn, pressed: ConfirmPoints) -> None:
    nonce = pressed.nonce
    gone = turn.t("admin.points.confirm_gone")
    draft = await confirmed_or_back(turn, CONFIRM_INPUT, nonce, gone, _section)
    if draft is None:
        return
    op = draft.get("op")
    try:
        if op == "adjust":
            await _adjust(turn, draft, nonce)
        elif op == "purchase":
            await _record_purchase(turn, draft)
        elif op == "reverse":
            await _reverse(turn, draft, nonce)
        else:
            raise Stale(f"unknown confirmation {op!r}")
    finally:
        await turn.mall.inputs.clear(turn.member_id)


async def _adjust(turn: Turn, draft: Mapping[str, Any], nonce: str) -> None:
    t = turn.t
    member_id, amount, reason = int(draft["member"]), int(draft["amount"]), str(draft["reason"])
    adjustments = turn.mall.adjustments
    use = adjustments.grant if amount > 0 else adjustments.deduct
    key = f"{turn.member_id}-{nonce}"
    try:
        done = await use(turn.member_id, member_id, abs(amount), reason, key, turn.now)
    except InsufficientPoints as refused:
        profile = await turn.mall.members.profile(member_id)
        problem = t(
            "admin.points.too_few",
            who=member_label(profile),
            balance=t.points(int(refused.details["balance"])),
            points=t.points(-amount),
        )
        turn.notice(t("admin.points.not_done"), alert=True)
        turn.show(_on_card(turn, member_id, problem))
        return
    profile = await turn.mall.members.profile(member_id)
    who, points, balance = member_label(profile), t.points(done.amount), t.points(done.balance)
    if done.kind == "grant":
        text = t("admin.points.granted", who=who, points=points, balance=balance)
    else:
        text = t("admin.points.deducted", who=who, points=points, balance=balance)
    if done.replayed:
        turn.notice(t("admin.points.confirm_gone"), alert=True)
        turn.show(_on_card(turn, member_id, text))
    else:
        await _done(turn, member_id, text, lambda theirs: _told_adjustment(theirs, done))


def _told_adjustment(t: Translator, done: Adjustment) -> Html:
    """What the member reads (in their language) about a grant or deduction."""
    points, balance = t.points(done.amount), t.points(done.balance)
    if done.kind == "grant":
        return t("admin.points.told_granted", points=points, reason=done.reason, balance=balance)
    return t("admin.points.told_deducted", points=points, reason=done.reason, balance=balance)


# --- Recording a purchase ---------------------------------------------------------------------


@router.button(RecordPurchase, admin=True)
async def purchase_button(turn: Turn, pressed: RecordPurchase) -> None:
    await _ask(turn, MEMBER_INPUT, {"for": "purchase"}, turn.t("admin.points.ask_member"))


async def _ask_order(turn: Turn, profile: MemberProfile, problem: Html | None = None) -> None:
    t = turn.t
    question = t(
        "admin.points.ask_order",
        who=member_label(profile),
        currency=turn.config.mall.currency,
    )
    data = {"member": profile.member_id}
    await _ask(turn, ORDER_INPUT, data, _problem(problem, question) if problem else question)


@router.input(ORDER_INPUT, admin=True)
async def order_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    profile = await _profile(turn, data)
    parts = text.split()
    if len(parts) != 3:
        await _ask_order(turn, profile, t("admin.points.order_shape"))
        return
    order_id, money, category = parts
    if not _is_reference(order_id):
        await _ask_order(turn, profile, t("admin.points.order_id_bad", typed=shorten(order_id, 64)))
        return
    minor = _minor_units(money, turn.config.earning.minor_per_unit)
    if minor is None:
        await _ask_order(turn, profile, t("admin.points.money_bad", typed=shorten(money, 32)))
        return
    if not _is_reference(category):
        await _ask_order(turn, profile, t("admin.points.category_bad", typed=shorten(category, 64)))
        return
    try:
        known = await turn.mall.purchases.order(order_id)
    except UnknownOrder:
        known = None
    if known is not None:
        await _ask_order(turn, profile, t("admin.points.order_exists", order=order_id))
        return
    if profile.frozen:
        problem = t("admin.points.member_frozen", who=member_label(profile))
        turn.show(_on_card(turn, profile.member_id, problem))
        return
    confirm = t(
        "admin.points.confirm_purchase",
        who=member_label(profile),
        order=order_id,
        amount=t.money(minor, turn.config.mall.currency),
        category=category,
    )
    draft = {
        "op": "purchase",
        "member": profile.member_id,
        "order": order_id,
        "minor": minor,
        "category": category,
    }
    await _confirmation(turn, draft, confirm)


async def _record_purchase(turn: Turn, draft: Mapping[str, Any]) -> None:
    t = turn.t
    member_id, order_id = int(draft["member"]), str(draft["order"])
    try:
        result = await turn.mall.purchases.record_purchase(
            member_id,
            order_id,
            int(draft["minor"]),
            str(draft["category"]),
            turn.now,
            actor_id=turn.sender.user_id,
        )
    except Frozen:
        profile = await turn.mall.members.profile(member_id)
        problem = t("admin.points.member_frozen", who=member_label(profile))
        turn.notice(t("admin.points.not_done"), alert=True)
        turn.show(_on_card(turn, member_id, problem))
        return
    await _reported(
        turn,
        member_id,
        lambda t, who: t(
            "admin.points.purchase_done",
            who=who,
            order=order_id,
            points=t.points(result.points),
            capped=t.points(result.capped),
            balance=t.points(result.balance),
        ),
        lambda t: t(
            "admin.points.told_purchase",
            order=order_id,
            points=t.points(result.points),
            balance=t.points(result.balance),
        ),
    )


def _is_reference(text: str) -> bool:
    try:
        validation.reference(text, field="reference")
    except InvalidKey:
        return False
    return True


def _minor_units(text: str, minor_per_unit: int) -> int | None:
    """``25.50`` in minor units (2550 when a unit has 100); None unless exact and positive."""
    if not _MONEY.fullmatch(text):
        return None
    try:
        minor = Decimal(text.replace(",", ".")) * minor_per_unit
    except InvalidOperation:
        return None
    if minor != minor.to_integral_value() or not 0 < minor <= validation.MAX_AMOUNT:
        return None
    return int(minor)


# --- Reversing a purchase ---------------------------------------------------------------------


@router.button(ReversePurchase, admin=True)
async def reverse_button(turn: Turn, pressed: ReversePurchase) -> None:
    await _ask(turn, REFUND_INPUT, {}, turn.t("admin.points.ask_refund"))


@router.input(REFUND_INPUT, admin=True)
async def refund_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    order_id = text.strip()
    question = t("admin.points.ask_refund")
    if not _is_reference(order_id):
        problem = t("admin.points.order_id_bad", typed=shorten(order_id, 64))
        await _ask(turn, REFUND_INPUT, data, _problem(problem, question))
        return
    try:
        order = await turn.mall.purchases.order(order_id)
    except UnknownOrder:
        problem = t("admin.points.order_unknown", order=order_id)
        await _ask(turn, REFUND_INPUT, data, _problem(problem, question))
        return
    if order.refundable_minor <= 0:
        problem = t("admin.points.order_refunded", order=order_id)
        await _ask(turn, REFUND_INPUT, data, _problem(problem, question))
        return
    profile = await turn.mall.members.profile(order.member_id)
    balance = (await turn.mall.statements.balance(order.member_id)).balance
    currency = turn.config.mall.currency
    confirm = t(
        "admin.points.confirm_reverse",
        order=order_id,
        who=member_label(profile),
        amount=t.money(order.refundable_minor, currency),
        category=order.category,
        at=t.moment(order.created_at),
        points=t.points(order.points_at_stake),
        balance=t.points(balance),
    )
    draft = {"op": "reverse", "member": order.member_id, "order": order_id}
    await _confirmation(turn, draft, confirm)


async def _reverse(turn: Turn, draft: Mapping[str, Any], nonce: str) -> None:
    member_id, order_id = int(draft["member"]), str(draft["order"])
    result = await turn.mall.purchases.refund_purchase(
        order_id, turn.now, refund_id=f"admin-{nonce}", actor_id=turn.sender.user_id
    )
    await _reported(
        turn,
        member_id,
        lambda t, who: t(
            "admin.points.reverse_done",
            who=who,
            order=order_id,
            points=t.points(result.points_taken),
            unrecovered=t.points(result.unrecovered),
            balance=t.points(result.balance),
        ),
        lambda t: t(
            "admin.points.told_reverse",
            order=order_id,
            points=t.points(result.points_taken),
            balance=t.points(result.balance),
        ),
    )


# --- Shared bits ------------------------------------------------------------------------------


async def _profile(turn: Turn, data: Mapping[str, Any]) -> MemberProfile:
    return await turn.mall.members.profile(int(data["member"]))


def _on_card(turn: Turn, member_id: int, text: Html) -> Screen:
    """``text`` with a way to the member's card."""
    back = Button(turn.t("admin.points.member_card"), data=MemberCard(member_id).pack())
    return admin_screen(turn, text, ((back,),))


async def _reported(
    turn: Turn,
    member_id: int,
    text: Callable[[Translator, str], Html],
    told: Callable[[Translator], Html],
) -> None:
    """After a purchase is recorded or reversed: the admin's ``text`` names the member (``who``),
    the member is ``told``."""
    profile = await turn.mall.members.profile(member_id)
    await _done(turn, member_id, text(turn.t, member_label(profile)), told)


async def _done(turn: Turn, member_id: int, text: Html, told: Callable[[Translator], Html]) -> None:
    """After a points change: tell the member (``told``), and show the admin ``text``."""
    await tell_member(turn, member_id, told)
    turn.notice(turn.t("admin.points.done_notice"))
    turn.show(_on_card(turn, member_id, text))
