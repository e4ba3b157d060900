"""My redemptions (each with its state and details, cancelling one that waits, confirming a
shipped reward arrived) and donations.

A redemption's state reads as its member understands it (core's ``RedemptionView.stage``): a
physical reward is "being prepared" until an admin marks it shipped, "shipped" until its member
taps "I got it" (or ``[redemptions] delivered_after_days`` pass), then "delivered".

A donation is confirmed before it is made; the confirm button carries the amount, the time it
was shown and a random nonce, and the nonce is the donation's idempotency key, so a double tap
gives once and an old confirmation (``DONATION_CONFIRM_VALID``) gives nothing.
"""

from __future__ import annotations

import html
import secrets
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from babel.dates import format_timedelta

from bot.callback_data import MAX_INT_ARG, CallbackData, Chars, Codec, Id, Ints, Page
from bot.content import cause, cause_description, title
from bot.features.member_links import RedemptionsPage
from bot.features.redemption_states import state_text
from bot.i18n import Html, Translator, plain, shorten
from bot.lists import nav_rows
from bot.router import Router, Stale
from bot.screens import Button, Keyboard
from bot.turn import Turn
from core.errors import InvalidState
from core.rewards.redemptions import AWAITING, SHIPPED, RedemptionView

router = Router()
REDEMPTIONS_PAGE = 8
# What the donate screen offers (each only when the balance covers it), besides "all".
DONATION_AMOUNTS = (10, 50, 100)
DONATION_CONFIRM_VALID = timedelta(minutes=30)
_TITLE_IN_BUTTON = 40
_AMOUNT = Ints(0, MAX_INT_ARG)


class RedemptionCard(CallbackData, route="myr"):
    """One of the member's redemptions, and the page of the list to go back to."""

    redemption_id: Id
    page: Page = 0


class AskCancel(CallbackData, route="myrx"):
    """Cancel a waiting redemption? (asks first)."""

    redemption_id: Id
    page: Page


class CancelRedemption(CallbackData, route="myrc"):
    """Yes, cancel it."""

    redemption_id: Id
    page: Page


class ConfirmReceived(CallbackData, route="myrg"):
    """I got it: a shipped reward arrived."""

    redemption_id: Id
    page: Page


class DonateScreen(CallbackData, route="don"):
    """The donation screen: the cause, the totals and the amounts."""


def _amount(text: str) -> int | Literal["all"]:
    return "all" if text == "all" else _AMOUNT.decode(text)


class DonateAmount(CallbackData, route="dona"):
    """An amount to donate (or "all" the balance), to confirm."""

    amount: Annotated[int | Literal["all"], Codec(str, _amount, _AMOUNT.max_len)]


class DonateConfirmed(CallbackData, route="donc"):
    """The confirmation: the amount, when it was shown (epoch seconds) and the nonce that keys
    the donation."""

    amount: Annotated[int, Ints(1, MAX_INT_ARG)]
    shown: Id
    nonce: Annotated[str, Chars("A-Za-z0-9_-", 11, min_len=11)]


# --- My redemptions ----------------------------------------------------------------------------


@router.pages("redemptions", RedemptionsPage)
async def _list(turn: Turn, page: int) -> None:
    t = turn.t
    found = await turn.mall.redemptions.list_for_member(
        turn.member_id, page=page, page_size=REDEMPTIONS_PAGE
    )
    rows: list[tuple[Button, ...]] = []
    if found.entries:
        lines = [t("reds.title", page=t.number(page + 1))]
        for entry in found.entries:
            lines.append(_list_line(turn, entry))
            label = f"#{entry.redemption_id} {_shorten(title(t, entry))}"
            rows.append((Button(label, data=RedemptionCard(entry.redemption_id, page).pack()),))
        text = Html("\n".join(lines))
    else:
        text = t("reds.empty") if page == 0 else t("reds.no_more")
    rows += nav_rows(t, page, found.has_more, RedemptionsPage)
    donating = cause(t, turn.config.donations)
    rows.append((Button(plain(t("reds.donate", cause=donating)), data=DonateScreen().pack()),))
    turn.show(turn.with_menu(text, tuple(rows)))


def _list_line(turn: Turn, entry: RedemptionView) -> Html:
    t = turn.t
    return t(
        "reds.line",
        id=entry.redemption_id,
        title=title(t, entry),
        state=state_text(t, entry, turn.now),
        price=_price(turn, entry),
        day=t.date(_day(turn, entry.created_at)),
    )


def _price(turn: Turn, entry: RedemptionView) -> Html:
    t = turn.t
    if not entry.cash_minor:
        return t.points(entry.points)
    cash = t.money(entry.cash_minor, turn.config.mall.currency)
    if not entry.points:
        return cash
    return t("reds.points_and_cash", points=t.points(entry.points), cash=cash)


def _shorten(text: str) -> str:
    return shorten(text, _TITLE_IN_BUTTON)


@router.button(RedemptionCard)
async def redemption_button(turn: Turn, data: RedemptionCard) -> None:
    redemption_id, page = data.redemption_id, data.page
    _detail(turn, await _own(turn, redemption_id), page)


async def _own(turn: Turn, redemption_id: int) -> RedemptionView:
    """The member's own redemption; someone else's (a forged button) is no button of theirs."""
    view = await turn.mall.redemptions.get(redemption_id)
    if view.member_id != turn.member_id:
        raise Stale(f"redemption {redemption_id} is not {turn.member_id}'s")
    return view


def _detail(turn: Turn, view: RedemptionView, page: int, intro: Html | None = None) -> None:
    t = turn.t
    lines: list[str] = [intro, ""] if intro else []
    lines += [
        t("reds.detail_title", id=view.redemption_id, title=title(t, view)),
        t("reds.detail_state", state=state_text(t, view, turn.now)),
        t("reds.detail_price", price=_price(turn, view)),
        t("reds.detail_when", at=t.moment(view.created_at)),
    ]
    if view.coupon_code:
        lines.append(t("reds.detail_code", code=view.coupon_code))
    if view.address:
        lines.append(t("reds.detail_address", address=view.address))
    if view.note:
        lines.append(t("reds.detail_note", note=view.note))
    rows: list[tuple[Button, ...]] = []
    if view.status in AWAITING and view.wait_ends_at is not None:
        lines.append(_wait_line(t, view, turn.now))
        rows.append((Button(t("reds.cancel"), data=AskCancel(view.redemption_id, page).pack()),))
    if view.kind == "physical" and view.fulfilled_at is not None:
        lines.append(t("reds.detail_shipped", at=t.moment(view.fulfilled_at)))
        if view.stage(turn.now) == SHIPPED:
            assert view.delivered_at is not None
            lines.append(t("reds.received_hint", day=t.date(_day(turn, view.delivered_at))))
            received = Button(
                t("reds.received"), data=ConfirmReceived(view.redemption_id, page).pack()
            )
            rows.append((received,))
        elif view.received_at is not None:
            lines.append(t("reds.detail_received", at=t.moment(view.received_at)))
        elif view.delivered_at is not None:
            day = t.date(_day(turn, view.delivered_at))
            lines.append(t("reds.detail_delivered", day=day))
    rows.append((Button(t("reds.back"), data=RedemptionsPage(page).pack()),))
    turn.show(turn.with_menu(Html("\n".join(lines)), tuple(rows)))


def _day(turn: Turn, moment: datetime) -> date:
    return moment.astimezone(turn.config.mall.timezone).date()


def _wait_line(t: Translator, view: RedemptionView, now: datetime) -> Html:
    assert view.wait_ends_at is not None
    left = max(view.wait_ends_at - now, timedelta(minutes=1))
    duration = Html(
        html.escape(format_timedelta(left, threshold=1, granularity="minute", locale=t.locale))
    )
    if view.status == "awaiting_payment":
        return t("reds.wait_payment", at=t.moment(view.wait_ends_at), left=duration)
    return t("reds.wait_approval", at=t.moment(view.wait_ends_at), left=duration)


@router.button(AskCancel)
async def ask_cancel(turn: Turn, data: AskCancel) -> None:
    redemption_id, page = data.redemption_id, data.page
    view = await _own(turn, redemption_id)
    t = turn.t
    if view.status not in AWAITING:
        turn.notice(t("reds.cannot_cancel"), alert=True)
        _detail(turn, view, page)
        return
    text = Html(
        "\n".join(
            [
                t("reds.cancel_ask", title=title(t, view)),
                t("reds.cancel_points", points=t.points(view.points))
                if view.points
                else t("reds.cancel_nothing_held"),
            ]
        )
    )
    rows: Keyboard = (
        (
            Button(t("reds.cancel_yes"), data=CancelRedemption(view.redemption_id, page).pack()),
            Button(t("reds.cancel_no"), data=RedemptionCard(view.redemption_id, page).pack()),
        ),
    )
    turn.show(turn.with_menu(text, rows))


@router.button(CancelRedemption)
async def cancel(turn: Turn, data: CancelRedemption) -> None:
    redemption_id, page = data.redemption_id, data.page
    view = await _own(turn, redemption_id)
    t = turn.t
    try:
        result = await turn.mall.redemptions.cancel(
            view.redemption_id, turn.now, member_id=turn.member_id
        )
    except InvalidState:
        # Approved, paid or timed out meanwhile: show where it stands now.
        turn.notice(t("reds.cannot_cancel"), alert=True)
        _detail(turn, await _own(turn, view.redemption_id), page)
        return
    turn.notice(t("reds.cancelled_notice"))
    intro = t("reds.cancelled", balance=t.points(result.balance))
    _detail(turn, result.redemption, page, intro)


@router.button(ConfirmReceived)
async def confirm_received(turn: Turn, data: ConfirmReceived) -> None:
    """The member taps "I got it": their shipped reward arrived."""
    redemption_id, page = data.redemption_id, data.page
    view = await _own(turn, redemption_id)
    t = turn.t
    try:
        result = await turn.mall.redemptions.confirm_receipt(
            turn.member_id, view.redemption_id, turn.now
        )
    except InvalidState:
        # Not shipped (a made-up or outdated button): show where it stands.
        turn.notice(t("reds.cannot_confirm"), alert=True)
        _detail(turn, view, page)
        return
    if result.replayed:
        # A double tap: the first press shows it delivered already; the same edit again is
        # one Telegram refuses.
        turn.notice(t("reds.received_already"))
        return
    turn.notice(t("reds.received_notice"))
    _detail(turn, result.redemption, page, t("reds.received_thanks"))


# --- Donations ---------------------------------------------------------------------------------


@router.button(DonateScreen)
async def donate(turn: Turn, data: DonateScreen) -> None:
    await _donate_screen(turn)


async def _donate_screen(turn: Turn, intro: Html | None = None) -> None:
    t = turn.t
    totals = await turn.mall.donations.totals(turn.member_id)
    balance = (await turn.mall.statements.balance(turn.member_id)).balance
    lines: list[str] = [intro, ""] if intro else []
    lines += [
        t("donate.title", cause=cause(t, turn.config.donations)),
        t("donate.description", description=cause_description(t, turn.config.donations)),
        "",
        t.n("donate.totals", totals.donors, total=t.points(totals.cause_total)),
        t("donate.mine", points=t.points(totals.member_total)),
        t("donate.balance", balance=t.points(balance)),
    ]
    rows: list[tuple[Button, ...]] = []
    if not totals.enabled:
        lines += ["", t("error.donations_closed")]
    elif balance <= 0:
        lines += ["", t("donate.nothing_to_give")]
    else:
        lines += ["", t("donate.choose")]
        amounts = [
            Button(plain(t.points(amount)), data=DonateAmount(amount).pack())
            for amount in DONATION_AMOUNTS
            if amount <= balance
        ]
        if amounts:
            rows.append(tuple(amounts))
        everything = plain(t("donate.all", points=t.points(balance)))
        rows.append((Button(everything, data=DonateAmount("all").pack()),))
    rows.append((Button(t("reds.back"), data=RedemptionsPage(0).pack()),))
    turn.show(turn.with_menu(Html("\n".join(lines)), tuple(rows)))


@router.button(DonateAmount)
async def donate_amount(turn: Turn, data: DonateAmount) -> None:
    t = turn.t
    settings = turn.config.donations
    balance = (await turn.mall.statements.balance(turn.member_id)).balance
    amount = balance if data.amount == "all" else data.amount
    if not settings.enabled or amount <= 0 or amount > balance:
        # Donations closed, or the balance went down since the amounts were offered.
        turn.notice(t("donate.amount_gone"), alert=True)
        await _donate_screen(turn)
        return
    shown = int(turn.now.timestamp())
    nonce = secrets.token_urlsafe(8)
    text = Html(
        "\n".join(
            [
                t("donate.confirm", points=t.points(amount), cause=cause(t, settings)),
                t("donate.balance_after", balance=t.points(balance - amount)),
            ]
        )
    )
    rows: Keyboard = (
        (
            Button(
                plain(t("donate.confirm_button", points=t.points(amount))),
                data=DonateConfirmed(amount, shown, nonce).pack(),
            ),
            Button(t("donate.cancel"), data=DonateScreen().pack()),
        ),
    )
    turn.show(turn.with_menu(text, rows))


@router.button(DonateConfirmed)
async def donate_confirmed(turn: Turn, data: DonateConfirmed) -> None:
    amount, shown, nonce = data.amount, data.shown, data.nonce
    age = int(turn.now.timestamp()) - shown
    if age < 0:
        raise Stale(f"donation confirmation from the future {data!r}")
    t = turn.t
    if age > DONATION_CONFIRM_VALID.total_seconds():
        turn.notice(t("donate.expired"), alert=True)
        await _donate_screen(turn)
        return
    result = await turn.mall.donations.donate(
        turn.member_id, amount, f"{turn.member_id}:{shown}:{nonce}", turn.now
    )
    turn.notice(t("donate.thanks_notice"))
    text = Html(
        "\n".join(
            [
                t(
                    "donate.thanks",
                    points=t.points(result.amount),
                    cause=cause(t, turn.config.donations),
                ),
                t("donate.mine", points=t.points(result.member_total)),
                t("donate.balance", balance=t.points(result.balance)),
            ]
        )
    )
    rows: Keyboard = ((Button(t("donate.again"), data=DonateScreen().pack()),),)
    turn.show(turn.with_menu(text, rows))
