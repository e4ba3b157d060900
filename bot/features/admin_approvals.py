"""Admins answer the redemptions that wait for approval, and mark physical rewards shipped.

``/approvals`` (or the admin menu's Approvals) lists the queue, oldest first: who, what, for
how many points, since when, and how long until it times out and the held points go back.
Approve takes the held points; Reject asks for a reason as a typed answer (shown to the
member), or rejects without one from a button, and gives the points back. A second press on a
redemption that was already answered (by this admin, another, or the timeout) says what became
of it instead of acting.

A redemption's card (``aad:<id>``, from the member card) shows who, what, where it stands,
the Stars paid and their refunds. A paid redemption not yet handed over has "↩️ Refund Stars":
confirmed with a nonce (a double tap acts once), it cancels the redemption (the points go back,
as any cancel) and gives the Stars back through Telegram (``bot.refunds``); audited, and the
member is told.

"To ship" lists completed redemptions of physical goods; "Mark shipped" asks for a note
(a tracking number, say) and fulfils the redemption. Every answer is audited and the member is
told, in their own language.

Admins hear of a redemption that starts waiting for them from ``approval_notices.py`` (called
where a member redeems): a message to each admin through the outbox, in the admin's language,
with a button to the queue; its key names the redemption and the admin, so a replayed
redemption tells nobody twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from bot.callback_data import MAX_INT_ARG, CallbackData, Ints, Page
from bot.content import title as title_of
from bot.features.admin_links import AdminRedemptionCard, ApprovalQueue, MemberCard
from bot.features.admin_member_lookup import member_label, tell_member
from bot.features.admin_questions import Nonce, ask, confirmed, drop_question, new_nonce
from bot.features.admin_screens import admin_screen, page_row
from bot.features.approval_notices import WAITING
from bot.features.redemption_states import state_text
from bot.i18n import Html, Translator, plain
from bot.router import Router, Stale
from bot.screens import Button, Keyboard, RefundStars, Screen
from bot.turn import Turn
from core.errors import InvalidState
from core.rewards.redemptions import RedemptionPage, RedemptionResult, RedemptionView

router = Router()
APPROVE_ROUTE = "aaa"
REJECT_ROUTE = "aar"
REJECT_NOW_ROUTE = "aan"
SHIP_LIST_ROUTE = "aas"
SHIP_ROUTE = "aaf"
CANCEL_ROUTE = "aax"
REFUND_ROUTE = "aaz"
REFUND_CONFIRM_ROUTE = "aay"
RedemptionId = Annotated[int, Ints(1, MAX_INT_ARG)]


class Approve(CallbackData, route=APPROVE_ROUTE):
    """Approve a waiting redemption."""

    redemption_id: RedemptionId


class Reject(CallbackData, route=REJECT_ROUTE):
    """Reject a waiting redemption (asks the reason)."""

    redemption_id: RedemptionId


class RejectNow(CallbackData, route=REJECT_NOW_ROUTE):
    """Reject a waiting redemption without a reason."""

    redemption_id: RedemptionId


class ShipList(CallbackData, route=SHIP_LIST_ROUTE):
    """A page of the redemptions to ship."""

    page: Page = 0


class Ship(CallbackData, route=SHIP_ROUTE):
    """Mark a redemption shipped (asks the note)."""

    redemption_id: RedemptionId


class CancelApproval(CallbackData, route=CANCEL_ROUTE):
    """Drop the open reject question: back to the queue."""


class AskRefund(CallbackData, route=REFUND_ROUTE):
    """Cancel a redemption paid in Stars and give them back? (asks first)."""

    redemption_id: RedemptionId


class ConfirmRefund(CallbackData, route=REFUND_CONFIRM_ROUTE):
    """Yes, refund: the confirmation open with this nonce."""

    nonce: Nonce


REJECT_INPUT = "admin.approval.reject"
SHIP_INPUT = "admin.approval.ship"
REFUND_INPUT = "admin.approval.refund"
# What this section's questions' kinds start with (its Cancel drops only those).
QUESTION_PREFIX = "admin.approval."
PAGE = 5
NOTE_MAX = 500


# --- The queue --------------------------------------------------------------------------------


@router.pages("approvals", ApprovalQueue, admin=True)
async def approvals_command(turn: Turn, page: int) -> None:
    turn.show(await queue_screen(turn, page))


async def queue_screen(turn: Turn, page: int, note: Html | None = None) -> Screen:
    return await _list_screen(turn, _QUEUE, page, note)


async def _waiting_line(turn: Turn, view: RedemptionView) -> Html:
    t = turn.t
    profile = await turn.mall.members.profile(view.member_id)
    if view.wait_ends_at is None or view.wait_ends_at <= turn.now:
        left = t("admin.approvals.timed_out")
    else:
        seconds = int((view.wait_ends_at - turn.now).total_seconds())
        left = t("admin.approvals.times_out_in", left=t.duration(seconds))
    return t(
        "admin.approvals.line",
        number=t.number(view.redemption_id),
        title=view.title,
        who=member_label(profile),
        points=t.points(view.points),
        at=t.moment(view.created_at),
        left=left,
    )


@dataclass(frozen=True)
class _Listing:
    """A paged list of redemptions in one state: how to fetch a page, title it, show each entry
    and its buttons, page it, and lead to the other list."""

    fetch: Callable[[Turn, int], Awaitable[RedemptionPage]]
    title: Callable[[Translator, int], Html]
    empty: Callable[[Translator], Html]
    line: Callable[[Turn, RedemptionView], Awaitable[Html]]
    buttons: Callable[[Translator, RedemptionView], tuple[Button, ...]]
    to_page: Callable[[int], CallbackData]
    other: Callable[[Translator], Button]


async def _list_screen(turn: Turn, listing: _Listing, page: int, note: Html | None) -> Screen:
    t = turn.t
    found = await listing.fetch(turn, page)
    if page and not found.entries:  # the list shrank since the button was shown
        return await _list_screen(turn, listing, 0, note)
    lines: list[str] = [note] if note else []
    rows: list[tuple[Button, ...]] = []
    if found.entries:
        lines.append(listing.title(t, page))
        for view in found.entries:
            lines.append(await listing.line(turn, view))
            rows.append(listing.buttons(t, view))
    else:
        lines.append(listing.empty(t))
    nav = page_row(turn, page, found.has_more, listing.to_page)
    if nav:
        rows.append(nav)
    rows.append((listing.other(t),))
    return admin_screen(turn, Html("\n\n".join(lines)), tuple(rows))


def _answer_buttons(t: Translator, view: RedemptionView) -> tuple[Button, ...]:
    number = t.number(view.redemption_id)
    return (
        Button(
            t("admin.approvals.approve", number=number), data=Approve(view.redemption_id).pack()
        ),
        Button(t("admin.approvals.reject", number=number), data=Reject(view.redemption_id).pack()),
    )


def _ship_buttons(t: Translator, view: RedemptionView) -> tuple[Button, ...]:
    number = t.number(view.redemption_id)
    return (
        Button(
            t("admin.approvals.mark_shipped", number=number), data=Ship(view.redemption_id).pack()
        ),
    )


async def _waiting(turn: Turn, redemption_id: int) -> RedemptionView | None:
    """The redemption a button names, if it still waits; else the admin is told what it is."""
    view = await turn.mall.redemptions.get(redemption_id)
    if view.status == WAITING:
        return view
    await _already_answered(turn, view)
    return None


async def _already_answered(turn: Turn, view: RedemptionView) -> None:
    t = turn.t
    said = t(
        "admin.approvals.already",
        number=t.number(view.redemption_id),
        state=state_text(t, view, turn.now),
    )
    turn.notice(plain(said), alert=True)
    turn.show(await queue_screen(turn, 0, said))


async def _settled(
    turn: Turn,
    view: RedemptionView,
    answer: Awaitable[RedemptionResult],
    already: Callable[[Turn, RedemptionView], Awaitable[None]],
    told: Callable[[Translator, RedemptionView], Html],
) -> RedemptionView | None:
    """The redemption as ``answer`` left it, its member told ``told`` in their language; None
    when another answer came first (a moment ago, or this one replayed), the admin told by
    ``already``."""
    try:
        result = await answer
    except InvalidState:
        await already(turn, await turn.mall.redemptions.get(view.redemption_id))
        return None
    if result.replayed:
        await already(turn, result.redemption)
        return None
    done = result.redemption
    await tell_member(turn, done.member_id, lambda t: told(t, done))
    return done


async def _answered(
    turn: Turn,
    view: RedemptionView,
    answer: Awaitable[RedemptionResult],
    told: Callable[[Translator, RedemptionView], Html],
    said: Callable[[Translator, RedemptionView], Html],
) -> None:
    """An approval or a rejection settled (see :func:`_settled`): the admin is told ``said``,
    above the approval queue."""
    done = await _settled(turn, view, answer, _already_answered, told)
    if done is None:
        return
    text = said(turn.t, done)
    turn.notice(plain(text))
    turn.show(await queue_screen(turn, 0, text))


# --- Approving --------------------------------------------------------------------------------


def _told_approved(t: Translator, done: RedemptionView) -> Html:
    number, points = t.number(done.redemption_id), t.points(done.points)
    return t("admin.approvals.told_approved", number=number, title=title_of(t, done), points=points)


@router.button(Approve, admin=True)
async def approve_button(turn: Turn, pressed: Approve) -> None:
    view = await _waiting(turn, pressed.redemption_id)
    if view is None:
        return
    answer = turn.mall.redemptions.approve(
        view.redemption_id, turn.now, actor_id=turn.sender.user_id
    )
    await _answered(
        turn,
        view,
        answer,
        _told_approved,
        lambda t, done: t(
            "admin.approvals.approved", number=t.number(done.redemption_id), title=done.title
        ),
    )


# --- Rejecting --------------------------------------------------------------------------------


@router.button(Reject, admin=True)
async def reject_button(turn: Turn, pressed: Reject) -> None:
    view = await _waiting(turn, pressed.redemption_id)
    if view is not None:
        await _ask_reason(turn, view)


async def _ask_reason(turn: Turn, view: RedemptionView, problem: Html | None = None) -> None:
    t = turn.t
    profile = await turn.mall.members.profile(view.member_id)
    question = t(
        "admin.approvals.reject_ask",
        number=t.number(view.redemption_id),
        title=view.title,
        who=member_label(profile),
    )
    rows = (
        (
            Button(
                t("admin.approvals.reject_no_reason"),
                data=RejectNow(view.redemption_id).pack(),
            ),
        ),
        (Button(t("admin.approvals.cancel"), data=CancelApproval().pack()),),
    )
    await _ask(turn, REJECT_INPUT, view, question, problem, rows)


@router.input(REJECT_INPUT, admin=True)
async def reject_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    view = await turn.mall.redemptions.get(int(data["redemption"]))
    reason = text.strip()
    if not reason or len(reason) > NOTE_MAX:
        problem = turn.t("admin.approvals.note_length", max=turn.t.number(NOTE_MAX))
        await _ask_reason(turn, view, problem)
        return
    if view.status != WAITING:
        await _already_answered(turn, view)
        return
    await _reject(turn, view, reason)


@router.button(RejectNow, admin=True)
async def reject_now_button(turn: Turn, pressed: RejectNow) -> None:
    await drop_question(turn, QUESTION_PREFIX)
    view = await _waiting(turn, pressed.redemption_id)
    if view is not None:
        await _reject(turn, view, None)


async def _reject(turn: Turn, view: RedemptionView, reason: str | None) -> None:
    answer = turn.mall.redemptions.reject(
        view.redemption_id,
        turn.now,
        note=reason,
        only_awaiting_approval=True,
        actor_id=turn.sender.user_id,
    )

    def told(t: Translator, done: RedemptionView) -> Html:
        text = t(
            "admin.approvals.told_rejected",
            number=t.number(done.redemption_id),
            title=title_of(t, done),
            points=t.points(done.points),
        )
        if reason:
            text = Html(f"{text}\n{t('admin.approvals.told_reason', reason=reason)}")
        return Html(text)

    await _answered(
        turn,
        view,
        answer,
        told,
        lambda t, done: t(
            "admin.approvals.rejected", number=t.number(done.redemption_id), title=done.title
        ),
    )


@router.button(CancelApproval, admin=True)
async def cancel_button(turn: Turn, pressed: CancelApproval) -> None:
    await drop_question(turn, QUESTION_PREFIX)
    turn.show(await queue_screen(turn, 0))


async def _ask(
    turn: Turn,
    kind: str,
    view: RedemptionView,
    question: Html,
    problem: Html | None,
    rows: Keyboard,
) -> None:
    """Ask for a typed note on ``view`` (a reject reason, a shipping note), ``problem`` above."""
    text = Html(f"{problem}\n\n{question}") if problem else question
    await ask(turn, kind, {"redemption": view.redemption_id}, text, rows)


# --- Shipping ---------------------------------------------------------------------------------


@router.button(ShipList, admin=True)
async def ship_list_button(turn: Turn, pressed: ShipList) -> None:
    await drop_question(turn, QUESTION_PREFIX)
    turn.show(await ship_screen(turn, pressed.page))


async def ship_screen(turn: Turn, page: int, note: Html | None = None) -> Screen:
    return await _list_screen(turn, _TO_SHIP, page, note)


async def _ship_line(turn: Turn, view: RedemptionView) -> Html:
    t = turn.t
    profile = await turn.mall.members.profile(view.member_id)
    return t(
        "admin.approvals.ship_line",
        number=t.number(view.redemption_id),
        title=view.title,
        who=member_label(profile),
        address=view.address or "-",
        at=t.moment(view.updated_at),
    )


@router.button(Ship, admin=True)
async def ship_button(turn: Turn, pressed: Ship) -> None:
    view = await turn.mall.redemptions.get(pressed.redemption_id)
    if view.kind != "physical":
        raise Stale(f"redemption {view.redemption_id} is not shipped")
    if view.status != "completed":
        await _already_shipped(turn, view)
        return
    await _ask_note(turn, view)


async def _ask_note(turn: Turn, view: RedemptionView, problem: Html | None = None) -> None:
    t = turn.t
    question = t(
        "admin.approvals.ship_ask",
        number=t.number(view.redemption_id),
        title=view.title,
        address=view.address or "-",
    )
    cancel = Button(t("admin.approvals.cancel"), data=ShipList().pack())
    await _ask(turn, SHIP_INPUT, view, question, problem, ((cancel,),))


async def _already_shipped(turn: Turn, view: RedemptionView) -> None:
    t = turn.t
    said = t(
        "admin.approvals.not_to_ship",
        number=t.number(view.redemption_id),
        state=state_text(t, view, turn.now),
    )
    turn.notice(plain(said), alert=True)
    turn.show(await ship_screen(turn, 0, said))


@router.input(SHIP_INPUT, admin=True)
async def ship_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    view = await turn.mall.redemptions.get(int(data["redemption"]))
    note = text.strip()
    if not note or len(note) > NOTE_MAX:
        await _ask_note(turn, view, t("admin.approvals.note_length", max=t.number(NOTE_MAX)))
        return
    if view.status != "completed":
        await _already_shipped(turn, view)
        return
    answer = turn.mall.redemptions.fulfil(
        view.redemption_id, note, turn.now, actor_id=turn.sender.user_id
    )

    def told(t: Translator, done: RedemptionView) -> Html:
        number = t.number(done.redemption_id)
        return t("admin.approvals.told_shipped", number=number, title=title_of(t, done), note=note)

    done = await _settled(turn, view, answer, _already_shipped, told)
    if done is None:
        return
    said = t("admin.approvals.shipped", number=t.number(done.redemption_id), title=done.title)
    turn.show(await ship_screen(turn, 0, said))


# --- A redemption's card, and giving its Stars back --------------------------------------------


def _refundable(view: RedemptionView) -> bool:
    """Paid in Stars and not handed over: the admin may cancel it and give the Stars back."""
    return view.payment_charge_id is not None and view.status == "completed"


@router.button(AdminRedemptionCard, admin=True)
async def redemption_button(turn: Turn, pressed: AdminRedemptionCard) -> None:
    await drop_question(turn, QUESTION_PREFIX)
    turn.show(await redemption_card(turn, pressed.redemption_id))


async def redemption_card(turn: Turn, redemption_id: int, note: Html | None = None) -> Screen:
    t = turn.t
    view = await turn.mall.redemptions.get(redemption_id)
    profile = await turn.mall.members.profile(view.member_id)
    lines: list[str] = [note, ""] if note else []
    lines += [
        t("admin.redemption.title", number=t.number(view.redemption_id), title=view.title),
        t("admin.redemption.member", who=member_label(profile)),
        t("admin.redemption.state", state=state_text(t, view, turn.now)),
        t("admin.redemption.points", points=t.points(view.points)),
        t("admin.redemption.at", at=t.moment(view.created_at)),
    ]
    if view.payment_charge_id is not None:
        stars = view.paid_stars
        lines.append(
            t(
                "admin.redemption.paid",
                stars=t.number(stars) if stars is not None else "?",
                charge=view.payment_charge_id,
            )
        )
    for refund in await turn.mall.star_refunds.for_redemption(view.redemption_id):
        if refund.refunded_at is not None:
            lines.append(
                t(
                    "admin.redemption.refunded",
                    stars=t.number(refund.stars),
                    at=t.moment(refund.refunded_at),
                )
            )
        elif not refund.attempts:
            lines.append(t("admin.redemption.refund_pending", stars=t.number(refund.stars)))
        else:
            lines.append(
                t(
                    "admin.redemption.refund_due",
                    stars=t.number(refund.stars),
                    attempts=t.number(refund.attempts),
                    error=refund.last_error or "-",
                )
            )
    rows: list[tuple[Button, ...]] = []
    if _refundable(view):
        refund_button = Button(
            t("admin.redemption.refund"), data=AskRefund(view.redemption_id).pack()
        )
        rows.append((refund_button,))
    member = Button(t("admin.redemption.to_member"), data=MemberCard(view.member_id).pack())
    rows.append((member,))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


@router.button(AskRefund, admin=True)
async def refund_button(turn: Turn, pressed: AskRefund) -> None:
    t = turn.t
    view = await turn.mall.redemptions.get(pressed.redemption_id)
    if not _refundable(view):
        said = t(
            "admin.redemption.not_refundable",
            number=t.number(view.redemption_id),
            state=state_text(t, view, turn.now),
        )
        turn.notice(plain(said), alert=True)
        turn.show(await redemption_card(turn, view.redemption_id, said))
        return
    profile = await turn.mall.members.profile(view.member_id)
    nonce = new_nonce()
    question = t(
        "admin.redemption.refund_ask",
        number=t.number(view.redemption_id),
        title=view.title,
        who=member_label(profile),
        stars=t.number(view.paid_stars) if view.paid_stars is not None else "?",
        points=t.points(view.points),
    )
    rows = (
        (Button(t("admin.redemption.refund_confirm"), data=ConfirmRefund(nonce).pack()),),
        (Button(t("admin.approvals.cancel"), data=AdminRedemptionCard(view.redemption_id).pack()),),
    )
    await ask(
        turn, REFUND_INPUT, {"redemption": view.redemption_id, "nonce": nonce}, question, rows
    )


@router.button(ConfirmRefund, admin=True)
async def refund_confirm_button(turn: Turn, pressed: ConfirmRefund) -> None:
    t = turn.t
    draft = await confirmed(turn, REFUND_INPUT, pressed.nonce)
    if draft is None:  # done already (a second tap), cancelled or timed out
        turn.notice(plain(t("admin.redemption.refund_gone")), alert=True)
        return
    await turn.mall.inputs.clear(turn.member_id)
    redemption_id = int(str(draft["redemption"]))
    before = await turn.mall.redemptions.get(redemption_id)
    if not _refundable(before):
        await refund_button(turn, AskRefund(redemption_id))
        return
    try:
        result = await turn.mall.redemptions.cancel(
            redemption_id, turn.now, actor_id=turn.sender.user_id
        )
    except InvalidState:
        await refund_button(turn, AskRefund(redemption_id))
        return
    done = result.redemption
    refund = None
    if before.payment_charge_id is not None:
        refund = await turn.mall.star_refunds.get(before.payment_charge_id)
    if not result.replayed:
        stars = before.paid_stars
        await tell_member(
            turn,
            done.member_id,
            lambda t: t(
                "admin.redemption.told_refunding",
                number=t.number(done.redemption_id),
                title=title_of(t, done),
                points=t.points(done.points),
                stars=t.number(stars) if stars is not None else "?",
            ),
        )
    if refund is not None and not refund.refunded:
        turn.out.add(RefundStars(refund.charge_id))
    said = t("admin.redemption.refunding", number=t.number(done.redemption_id))
    turn.notice(plain(said))
    turn.show(await redemption_card(turn, done.redemption_id, said))


_QUEUE = _Listing(
    fetch=lambda turn, page: turn.mall.redemptions.pending_approvals(page, PAGE),
    title=lambda t, page: t("admin.approvals.title", page=t.number(page + 1)),
    empty=lambda t: t("admin.approvals.empty"),
    line=_waiting_line,
    buttons=_answer_buttons,
    to_page=ApprovalQueue,
    other=lambda t: Button(t("admin.approvals.to_ship"), data=ShipList().pack()),
)
_TO_SHIP = _Listing(
    fetch=lambda turn, page: turn.mall.redemptions.awaiting_shipment(page, PAGE),
    title=lambda t, page: t("admin.approvals.ship_title", page=t.number(page + 1)),
    empty=lambda t: t("admin.approvals.ship_empty"),
    line=_ship_line,
    buttons=_ship_buttons,
    to_page=ShipList,
    other=lambda t: Button(t("admin.approvals.queue"), data=ApprovalQueue().pack()),
)
