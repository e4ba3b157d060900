"""Points blind boxes: the list, a box's true odds and guarantee, opening one, verifying a draw.

Members need not trust the mall with their draws (issue 15): each member has a client seed
(``/seed``, or the "My client seed" button on a box), mixed into their draws with the box's
server seed, whose hash is on the box screen before the draws it signs; the last seed revealed
is on the box screen too, and ``/verify N`` says exactly what was hashed and gives a Python and
an openssl one-liner that redo the draw (see :mod:`core.games.box_draws`).

Opening is idempotent per Open button: each box screen puts a fresh nonce into its Open
button, and the nonce (with the member and the box) is the draw's key. So a double tap of one
button opens once, while Open on the next screen (it has a new nonce) opens again.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from bot.callback_data import MAX_INT_ARG, CallbackData, Chars, Ints
from bot.content import description, in_language, prize_name, title
from bot.events import Command
from bot.features.box_odds_texts import odds_places, percent
from bot.features.member_links import BoxesPage, SalesPage
from bot.i18n import Html, Translator, plain
from bot.lists import nav_rows, page_of
from bot.router import Router
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import DailyCapReached, InsufficientPoints, NotAvailable, SoldOut
from core.games import box_draws
from core.games.blind_boxes import (
    MISMATCH,
    NOT_YET_REVEALED,
    RECORD_MISSING,
    VERIFIED,
    BoxView,
    DrawResult,
    UnknownDraw,
    Verification,
)
from core.games.box_odds import ALL_WON, ITEM_SOLD_OUT, NO_CODES, WEIGHT_ZERO
from core.games.box_seeds import BadClientSeed, ClientSeedView

router = Router()
BOX_PAGE = 8
# A verification lists the pool it recomputes from; beyond this it says how many more.
POOL_LINES = 20
# Ids are 64-bit in the database; anything larger in a button was not made by us.
MAX_ID = 2**62
# Why a prize is out of the draw, as a member reads it: won out (its own stock, its item's
# stock or codes used up), or out for now for any other reason (switched off, no item).
WON_OUT = frozenset({ALL_WON, ITEM_SOLD_OUT, NO_CODES})


def new_nonce() -> str:
    return secrets.token_urlsafe(6)


BoxId = Annotated[int, Ints(1, MAX_INT_ARG)]
"""A box's (or a draw's) id: 0 or anything past what the database holds was not made by us."""


class BoxCard(CallbackData, route="box"):
    """One box: its prizes, odds and buttons."""

    box_id: BoxId


class OpenBox(CallbackData, route="bo"):
    """Open a box; the nonce keys the opening, so a double tap opens once."""

    box_id: BoxId
    nonce: Annotated[str, Chars("A-Za-z0-9_-", 16, min_len=8)]


class SeedScreen(CallbackData, route="bs"):
    """The member's client seed, from a box's card."""

    box_id: BoxId


class VerifyDraw(CallbackData, route="bv"):
    """Verify a draw."""

    draw_id: BoxId


# --- The list --------------------------------------------------------------------------------


@router.pages("boxes", BoxesPage)
async def _list(turn: Turn, page: int) -> None:
    turn.show(await list_screen(turn, page))


async def list_screen(turn: Turn, page: int = 0, note: Html | None = None) -> Screen:
    t = turn.t
    boxes = [box for box in await turn.mall.boxes.list_boxes() if box.active]
    balance = (await turn.mall.statements.balance(turn.member_id)).balance
    page, shown, more = page_of(boxes, page, BOX_PAGE)
    lines: list[str] = [note] if note else []
    lines.append(t("boxes.list.title"))
    lines.append(t("boxes.list.intro") if boxes else t("boxes.list.empty"))
    lines.append(t("boxes.balance", balance=t.points(balance)))
    rows: list[tuple[Button, ...]] = [
        (
            Button(
                plain(
                    t("boxes.list.button", title=title(t, box), price=t.points(box.price_points))
                ),
                data=BoxCard(box.box_id).pack(),
            ),
        )
        for box in shown
    ]
    rows += nav_rows(t, page, more, BoxesPage)
    return turn.with_menu(Html("\n".join(lines)), tuple(rows))


# --- One box ---------------------------------------------------------------------------------


@router.button(BoxCard)
async def box_button(turn: Turn, data: BoxCard) -> None:
    view = await turn.mall.boxes.describe(data.box_id, turn.member_id, turn.now)
    if not view.active:
        turn.notice(turn.t("boxes.closed_notice"), alert=True)
        turn.show(await list_screen(turn))
        return
    balance = (await turn.mall.statements.balance(turn.member_id)).balance
    turn.show(box_screen(turn, view, balance))


def openable(view: BoxView) -> bool:
    """Whether an Open button makes sense now (core checks again when it is pressed)."""
    cap_left = view.left_today is None or view.left_today >= view.price_points
    return view.active and not view.sold_out and cap_left


def box_screen(turn: Turn, view: BoxView, balance: int, note: Html | None = None) -> Screen:
    t = turn.t
    lines: list[str] = [note, ""] if note else []
    lines.append(t("boxes.box.title", title=title(t, view)))
    if about := description(t, view):
        lines.append(t("boxes.box.description", description=about))
    lines.append(t("boxes.box.price", price=t.points(view.price_points)))
    lines.append("")
    lines += odds_lines(t, view)
    lines.append("")
    lines += counter_lines(t, view)
    lines.append(
        t("boxes.box.seed", version=t.number(view.seed_version), hash=Html(view.seed_hash))
    )
    lines += seed_lines(t, view)
    lines.append(t("boxes.balance", balance=t.points(balance)))
    if view.sold_out:
        lines.append(t("boxes.box.sold_out"))
    rows: list[tuple[Button, ...]] = []
    if openable(view):
        rows.append((open_button(t, view),))
    rows.append((Button(t("boxes.seed.button"), data=SeedScreen(view.box_id).pack()),))
    rows.append((Button(t("boxes.back"), data=BoxesPage().pack()),))
    return turn.with_menu(Html("\n".join(lines)), tuple(rows))


def seed_lines(t: Translator, view: BoxView) -> list[str]:
    """When the current seed is revealed, the last revealed seed, and the member's client seed."""
    lines: list[str] = []
    if view.seed_rotates_at is not None:
        lines.append(t("boxes.box.rotates", when=t.moment(view.seed_rotates_at)))
    if view.revealed is not None:
        lines.append(
            t(
                "boxes.box.revealed",
                version=t.number(view.revealed.version),
                start=t.moment(view.revealed.created_at),
                end=t.moment(view.revealed.revealed_at),
                seed=Html(view.revealed.seed),
            )
        )
    if view.client_seed is None:
        lines.append(t("boxes.box.client_seed_none"))
    else:
        lines.append(t("boxes.box.client_seed", seed=view.client_seed.client_seed))
    return lines


def open_button(t: Translator, view: BoxView, again: bool = False) -> Button:
    price = t.points(view.price_points)
    label = t("boxes.open_again", price=price) if again else t("boxes.open", price=price)
    return Button(plain(label), data=OpenBox(view.box_id, new_nonce()).pack())


def odds_lines(t: Translator, view: BoxView) -> list[str]:
    """Each prize with its chance now, all to the same decimals; a prize out of the draw says
    why as a member would put it ("all won", or "not in the draw for now"); a prize weighted 0
    is no prize of the box at all, and is not listed."""
    lines: list[str] = [t("boxes.odds.title")]
    weights = [prize.weight for prize in view.prizes if prize.available]
    places = odds_places(weights, view.total_weight)
    for prize in view.prizes:
        if prize.weight <= 0 or prize.out_reason == WEIGHT_ZERO:
            continue
        if not prize.available:
            if prize.out_reason in WON_OUT:
                lines.append(t("boxes.odds.gone", name=prize_name(t, prize)))
            else:
                lines.append(t("boxes.odds.out", name=prize_name(t, prize)))
            continue
        chance = percent(t, prize.weight, view.total_weight, places)
        key = "boxes.odds.rare" if prize.rare else "boxes.odds.line"
        lines.append(t(key, name=prize_name(t, prize), chance=chance))
    return lines


def counter_lines(t: Translator, view: BoxView) -> list[str]:
    """The guarantee counter and today's spending against the daily cap."""
    lines: list[str] = []
    if view.pity_after is not None:
        if not view.guarantee_available:
            lines.append(t("boxes.guarantee.paused"))
        elif view.next_draw_guaranteed:
            lines.append(t("boxes.guarantee.next"))
        elif view.draws_until_guarantee is not None:
            lines.append(
                t.n(
                    "boxes.guarantee.within",
                    view.draws_until_guarantee,
                    since=t.number(view.since_rare),
                    pity=t.number(view.pity_after),
                )
            )
    if view.daily_cap is not None:
        lines.append(
            t(
                "boxes.cap.spent",
                spent=t.points(view.spent_today),
                cap=t.points(view.daily_cap),
            )
        )
        if view.left_today is not None and view.left_today < view.price_points:
            lines.append(t("boxes.cap.reached"))
    return lines


# --- Opening ---------------------------------------------------------------------------------


@router.button(OpenBox)
async def open_box(turn: Turn, data: OpenBox) -> None:
    box_id, nonce = data.box_id, data.nonce
    t = turn.t
    boxes = turn.mall.boxes
    try:
        result = await boxes.open(
            turn.member_id, box_id, f"{turn.member_id}.{box_id}.{nonce}", turn.now
        )
    except (InsufficientPoints, DailyCapReached, SoldOut) as refusal:
        # Say why on the box as it is now, with a fresh Open button if opening makes sense:
        # the refused button's key stays refused.
        view = await boxes.describe(box_id, turn.member_id, turn.now)
        balance = (await turn.mall.statements.balance(turn.member_id)).balance
        note = refusal_note(t, refusal, view, balance)
        turn.notice(plain(note), alert=True)
        turn.show(box_screen(turn, view, balance, note=note))
        return
    except NotAvailable:
        turn.notice(t("boxes.closed_notice"), alert=True)
        turn.show(await list_screen(turn, note=t("boxes.closed_notice")))
        return
    view = await boxes.describe(box_id, turn.member_id, turn.now)
    if result.replayed:
        turn.notice(t("boxes.replayed"))
    else:
        turn.show(Screen(t("boxes.opening", title=title(t, view))))
        turn.notice(plain(t("boxes.won.notice", prize=won_name(t, result))))
    turn.show(prize_screen(turn, view, result))


def refusal_note(
    t: Translator,
    refusal: InsufficientPoints | DailyCapReached | SoldOut,
    view: BoxView,
    balance: int,
) -> Html:
    if isinstance(refusal, InsufficientPoints):
        return t(
            "boxes.refused.points", price=t.points(view.price_points), balance=t.points(balance)
        )
    if isinstance(refusal, DailyCapReached):
        # The figures of the refusal itself: the cap may have changed since.
        spent, cap = refusal.details["spent_today"], refusal.details["daily_cap"]
        return t("boxes.refused.cap", spent=t.points(int(spent)), cap=t.points(int(cap)))
    return t("boxes.refused.sold_out")


def won_name(t: Translator, result: DrawResult) -> str:
    """The prize a draw gave, as ``t``'s reader reads it."""
    return in_language(t, result.prize_name, result.prize_names)


def prize_screen(turn: Turn, view: BoxView, result: DrawResult) -> Screen:
    t = turn.t
    won = won_name(t, result)
    item = in_language(t, result.item_title, result.item_titles) if result.item_title else won
    lines: list[str] = [t("boxes.won.title", title=title(t, view), prize=won)]
    if result.rare:
        lines.append(t("boxes.won.rare"))
    if result.by_guarantee:
        lines.append(t("boxes.won.by_guarantee"))
    if result.guarantee_missed:
        lines.append(t("boxes.won.guarantee_missed"))
    if result.points_won:
        lines.append(t("boxes.won.points", points=t.points(result.points_won)))
    if result.prize_kind == "coupon" and result.coupon_code is not None:
        lines.append(
            t(
                "boxes.won.coupon",
                item=item,
                code=result.coupon_code,
            )
        )
    elif result.prize_kind == "item":
        lines.append(t("boxes.won.item", item=item))
    elif result.prize_kind == "consolation" and not result.points_won:
        lines.append(t("boxes.won.consolation"))
    lines.append("")
    lines.append(
        t(
            "boxes.won.paid",
            price=t.points(result.price_points),
            balance=t.points(result.balance),
        )
    )
    lines += counter_lines(t, view)
    lines.append(t("boxes.won.draw", draw=str(result.draw_id)))
    rows: list[tuple[Button, ...]] = []
    if openable(view):
        rows.append((open_button(t, view, again=True),))
    rows.append((Button(t("boxes.verify_button"), data=VerifyDraw(result.draw_id).pack()),))
    rows.append((Button(t("boxes.back"), data=BoxesPage().pack()),))
    return turn.with_menu(Html("\n".join(lines)), tuple(rows))


# --- The member's client seed ----------------------------------------------------------------


@router.button(SeedScreen)
async def seed_button(turn: Turn, data: SeedScreen) -> None:
    box_id = data.box_id
    client = await turn.mall.boxes.client_seed(turn.member_id)
    turn.show(seed_screen(turn, client, box_id))


@router.command("seed")
async def seed_command(turn: Turn) -> None:
    action = turn.action
    assert isinstance(action, Command)
    text = action.args.strip()
    boxes = turn.mall.boxes
    t = turn.t
    if not text:
        turn.send(seed_screen(turn, await boxes.client_seed(turn.member_id)))
        return
    try:
        client = await boxes.set_client_seed(turn.member_id, text, turn.now)
    except BadClientSeed:
        current = await boxes.client_seed(turn.member_id)
        turn.send(seed_screen(turn, current, note=t("boxes.seed.bad")))
        return
    turn.send(seed_screen(turn, client, note=t("boxes.seed.done", seed=client.client_seed)))


def seed_screen(
    turn: Turn, client: ClientSeedView | None, box_id: int | None = None, note: Html | None = None
) -> Screen:
    t = turn.t
    lines: list[str] = [note, ""] if note else []
    lines.append(t("boxes.seed.title"))
    if client is None:
        lines.append(t("boxes.seed.none"))
    elif client.chosen:
        lines.append(t("boxes.seed.chosen", seed=client.client_seed))
    else:
        lines.append(t("boxes.seed.made", seed=client.client_seed))
    lines.append("")
    lines.append(t("boxes.seed.why"))
    lines.append("")
    lines.append(t("boxes.seed.usage", most=t.number(box_draws.CLIENT_SEED_MAX)))
    rows: list[tuple[Button, ...]] = []
    if box_id is not None:
        rows.append((Button(t("boxes.seed.back"), data=BoxCard(box_id).pack()),))
    rows.append((Button(t("boxes.back"), data=BoxesPage().pack()),))
    return turn.with_menu(Html("\n".join(lines)), tuple(rows))


# --- Verifying -------------------------------------------------------------------------------


@router.button(VerifyDraw)
async def verify_button(turn: Turn, data: VerifyDraw) -> None:
    await _verify(turn, data.draw_id)


@router.command("verify")
async def verify_command(turn: Turn) -> None:
    action = turn.action
    assert isinstance(action, Command)
    value = action.args.strip().lstrip("#")
    words = value.split()
    if len(words) == 2 and words[0].lower() == "sale":
        number = words[1].lstrip("#")
        if number.isascii() and number.isdigit() and 0 < int(number) < MAX_ID:
            await _verify_sale(turn, int(number))
            return
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < MAX_ID:
        turn.send(turn.with_menu(turn.t("boxes.verify.usage")))
        return
    await _verify(turn, int(value))


async def _verify(turn: Turn, draw_id: int) -> None:
    boxes = turn.mall.boxes
    verification = await boxes.verify_draw(draw_id)
    # A draw is the member's own business: someone else's reads as no draw at all.
    if verification.member_id != turn.member_id:
        raise UnknownDraw(f"draw {draw_id} is not member {turn.member_id}'s", draw_id=draw_id)
    view = await boxes.describe(verification.box_id, turn.member_id, turn.now)
    t = turn.t
    names = {p.prize_id: prize_name(t, p) for p in (await boxes.prize_table(view.box_id)).prizes}
    rows = (
        (
            Button(
                plain(t("boxes.verify.back", title=title(t, view))),
                data=BoxCard(view.box_id).pack(),
            ),
        ),
    )
    turn.show(turn.with_menu(verification_text(t, verification, title(t, view), names), rows))


def verification_text(
    t: Translator, found: Verification, title: str, names: dict[int, str]
) -> Html:
    prize = names.get(found.prize_id, str(found.prize_id))
    lines: list[str] = [
        t("boxes.verify.title", draw=str(found.draw_id), title=title),
        t(
            "boxes.verify.what",
            number=t.number(found.draw_number),
            prize=prize,
            version=t.number(found.seed_version),
        ),
        t("boxes.verify.hash", hash=Html(found.seed_hash)),
        "",
    ]
    what = _what_is_hashed(t, found)
    if found.status == NOT_YET_REVEALED:
        lines.append(t("boxes.verify.not_revealed"))
        lines.append(what)
        if found.seed_rotates_at is not None:
            lines.append(t("boxes.verify.reveal_on", when=t.moment(found.seed_rotates_at)))
        lines.append(t("boxes.verify.later", draw=str(found.draw_id)))
        return Html("\n".join(lines))
    if found.status == VERIFIED:
        lines.append(t("boxes.verify.verified"))
    elif found.status == MISMATCH:
        lines.append(t("boxes.verify.mismatch"))
    elif found.status == RECORD_MISSING:
        lines.append(t("boxes.verify.record_missing"))
    assert found.seed is not None
    lines.append(t("boxes.verify.seed", seed=Html(found.seed)))
    lines.append("")
    lines.append(t("boxes.verify.steps"))
    lines.append(t("boxes.verify.step_hash"))
    lines.append(Html(f"2. {what}"))
    if found.digest is not None:
        lines.append(t("boxes.verify.digest", digest=Html(found.digest)))
    if found.value is not None and found.pool:
        total = found.total_weight
        point = (found.value * total) >> box_draws.VALUE_BITS
        lines.append(
            t(
                "boxes.verify.step_value",
                value=str(found.value),
                prefix=Html(f"{found.value:016x}"),
            )
        )
        lines.append(
            t(
                "boxes.verify.how",
                value=str(found.value),
                total=str(total),
                point=str(point),
            )
        )
        start = 0
        for entry in found.pool[:POOL_LINES]:
            end = start + entry.weight
            key_name = names.get(entry.prize_id, str(entry.prize_id))
            line = t("boxes.verify.pool_line", name=key_name, start=str(start), end=str(end - 1))
            lines.append(f"<b>{line}</b>" if start <= point < end else line)
            start = end
        if len(found.pool) > POOL_LINES:
            lines.append(t.n("boxes.verify.pool_more", len(found.pool) - POOL_LINES))
        lines.append("")
        lines.append(
            t(
                "boxes.verify.python",
                recipe=box_draws.python_recipe(found.seed, found.message, total),
            )
        )
        lines.append(
            t("boxes.verify.openssl", recipe=box_draws.openssl_recipe(found.seed, found.message))
        )
    return Html("\n".join(lines))


async def _verify_sale(turn: Turn, sale_id: int) -> None:
    sales = turn.mall.flash_sales
    check = await sales.verify_draw(sale_id, turn.member_id)
    sale = await sales.get_sale(sale_id, turn.now)
    t = turn.t
    lines: list[str] = [
        t("sales.verify.title", sale=str(sale_id), title=sale.title),
        t("sales.verify.hash", hash=Html(check.seed_hash)),
        t(
            "sales.verify.hashed",
            message=check.message,
            client_seed=check.client_seed,
            sale=str(sale_id),
        ),
    ]
    if check.seed is None or check.ticket is None or check.rank is None:
        lines.append(t("sales.verify.pending"))
    else:
        lines += [
            t("sales.verify.seed", seed=Html(check.seed)),
            t("sales.verify.ticket", ticket=Html(check.ticket)),
            t(
                "sales.verify.rank",
                rank=t.number(check.rank),
                entrants=t.number(check.entrants),
                winning=t.number(check.winning),
            ),
            t("sales.verify.won") if check.won else t("sales.verify.lost"),
            "",
            t(
                "sales.verify.python",
                recipe=box_draws.python_hmac_recipe(check.seed, check.message),
            ),
            t("sales.verify.openssl", recipe=box_draws.openssl_recipe(check.seed, check.message)),
        ]
    rows = ((Button(t("sales.back"), data=SalesPage().pack()),),)
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


def _what_is_hashed(t: Translator, found: Verification) -> Html:
    """Exactly what the HMAC signs: key and message, as text, and where the message comes from."""
    if found.formula == box_draws.CLIENT_SEED_FORMULA:
        source = t(
            "boxes.verify.source_client",
            client_seed=found.client_seed or "",
            nonce=str(found.draw_number),
        )
    else:
        source = t("boxes.verify.source_member", number=t.number(found.draw_number))
    return t("boxes.verify.hashed", message=found.message, source=source)
