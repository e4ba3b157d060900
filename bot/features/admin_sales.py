"""Flash sales from the chat: the list of sales, scheduling a new one, editing and cancelling.

The section (``asl``) lists the latest sales, upcoming, running and ended; a sale's card
(``asv``) has ✏️ Edit while it has not started (the same form, opened on its summary with the
sale's terms: any answer but the item given again, then Save) and 🛑 Cancel until it is over
(a confirmation whose button carries a nonce: a double tap cancels once). Both are core use
cases that write the audit log and tell the members who heard of the sale (its announcements,
its entrants) again through the outbox, in the same transaction. "New sale" is a guided
conversation (:mod:`bot.features.admin_forms`): the item (picked from the list, or its sku
typed), the sale price, the quantity, the start ("now" allowed) and end on the mall's clock,
and the mode: first come, or an entry draw whose entries close when the sale ends (the draw
follows). A summary is saved with Save, and written to the audit log; any answer can be given
again from it (another item must still cost more than the sale price, a start must still come
before the end). Announcing a sale is the scheduled job's work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.callback_data import CallbackData, Id
from bot.features.admin_forms import (
    EXAMPLE_MOMENT,
    Choice,
    Draft,
    Form,
    FormPress,
    Invalid,
    Step,
    ends_after_start,
    int_value,
    moment_value,
    starts_before_end,
    whole_number,
)
from bot.features.admin_questions import Nonce, ask, confirmed_or_back, new_nonce
from bot.features.admin_screens import admin_screen, label, two_a_row
from bot.features.sale_notices import SaleNotices
from bot.i18n import Html, plain, shorten
from bot.refusals import refusal_text
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import InvalidState, MallError, UnknownItem, UnknownSale
from core.membership.pending_inputs import JSON
from core.rewards.eligibility import ItemRecord
from core.rewards.flash_sales import MODES, SaleView

router = Router()

LIST_ROUTE = "asl"
NEW_ROUTE = "asn"
FORM_ROUTE = "asf"
FORM_KIND = "admin.sale.form"
CARD_ROUTE = "asv"
EDIT_ROUTE = "ase"
CANCEL_ROUTE = "asc"
CANCEL_CONFIRM_ROUTE = "asy"


class AdminSales(CallbackData, route=LIST_ROUTE):
    """Every flash sale, for the admin."""


class NewSale(CallbackData, route=NEW_ROUTE):
    """The form of a new sale."""


class SaleForm(FormPress, route=FORM_ROUTE):
    """A button of the sale form."""


class AdminSaleCard(CallbackData, route=CARD_ROUTE):
    """One sale's card, to edit or cancel it."""

    sale_id: Id


class EditSale(CallbackData, route=EDIT_ROUTE):
    """A sale's terms, on the form's summary."""

    sale_id: Id


class CancelSale(CallbackData, route=CANCEL_ROUTE):
    """Cancel a sale? (asks first)."""

    sale_id: Id


class ConfirmCancelSale(CallbackData, route=CANCEL_CONFIRM_ROUTE):
    """Yes, cancel it: the confirmation open with this nonce."""

    nonce: Nonce


CANCEL_INPUT = "admin.sale.cancel"
# The steps an edit may answer again: every one but the item.
EDIT_STEPS = ("price", "quantity", "starts", "ends", "mode")
SALES_SHOWN = 20
# Items offered as buttons when picking one; any other is typed by its sku.
ITEMS_OFFERED = 12
# An item's title on its button, at most (cut with "…").
TITLE_IN_BUTTON = 40
_PHASE_GROUPS = (
    ("upcoming",),
    ("open", "sold_out", "entry", "awaiting_draw"),
    ("ended", "drawn", "cancelled"),
)


@router.button(AdminSales, admin=True)
async def list_button(turn: Turn, pressed: AdminSales) -> None:
    turn.show(await _list_screen(turn))


async def _list_screen(turn: Turn, intro: Html | None = None) -> Screen:
    t = turn.t
    sales = await turn.mall.flash_sales.recent_sales(turn.now, SALES_SHOWN)
    lines = [*([intro, ""] if intro else []), t("admin.sales.title")]
    if not sales:
        lines.append(t("admin.sales.none"))
    headings = (
        t("admin.sales.group.upcoming"),
        t("admin.sales.group.running"),
        t("admin.sales.group.ended"),
    )
    for heading, phases in zip(headings, _PHASE_GROUPS, strict=True):
        shown = [sale for sale in sales if sale.phase in phases]
        if shown:
            lines += ["", heading]
            lines += [_sale_line(turn, sale) for sale in shown]
    # A card for each sale an admin can still change or cancel.
    cards = [
        Button(
            plain(t("admin.sales.open_card", id=sale.sale_id, title=shorten(sale.title, 30))),
            data=AdminSaleCard(sale.sale_id).pack(),
        )
        for sale in sales
        if _cancellable(sale)
    ]
    rows = [*two_a_row(cards), (Button(plain(t("admin.sales.new")), data=NewSale().pack()),)]
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


def _editable(sale: SaleView) -> bool:
    return sale.phase == "upcoming"


def _cancellable(sale: SaleView) -> bool:
    """Not over: not cancelled or drawn, and a first-come sale not past its end."""
    return sale.phase in ("upcoming", "open", "sold_out", "entry", "awaiting_draw")


def _sale_line(turn: Turn, sale: SaleView) -> Html:
    t = turn.t
    return t(
        "admin.sales.line",
        id=sale.sale_id,
        title=sale.title,
        price=t.points(sale.sale_price),
        regular=t.points(sale.regular_price),
        left=t.number(sale.remaining),
        quantity=t.number(sale.quantity),
        starts=t.moment(sale.starts_at),
        ends=t.moment(sale.ends_at),
        mode=_mode_label(turn, sale.mode),
        phase=label(turn, PHASE_LABELS, sale.phase),
    )


# --- Scheduling a sale ---------------------------------------------------------------------------


def _can_go_on_sale(item: ItemRecord) -> bool:
    """On the shelf (switched on, not a prize only) and without a cash part."""
    return item.active and item.listed and not item.cash_minor


async def _offered(turn: Turn) -> list[ItemRecord]:
    """Items that can be put on sale (the first ones)."""
    page = await turn.mall.catalog.all_items(0, 50)
    return [item for item in page.items if _can_go_on_sale(item)][:ITEMS_OFFERED]


async def _item_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    return [
        Choice(shorten(item.title, TITLE_IN_BUTTON), str(item.item_id), item.item_id)
        for item in await _offered(turn)
    ]


async def _item(turn: Turn, text: str, draft: Draft) -> JSON:
    """A typed sku (or an item's number)."""
    try:
        if text.isascii() and text.isdigit():
            item = await turn.mall.catalog.get_item(int(text))
        else:
            item = await turn.mall.catalog.get_item_by_sku(text)
    except UnknownItem:
        raise Invalid(turn.t("admin.sales.no_item", sku=shorten(text, 64))) from None
    if item.cash_minor:
        raise Invalid(turn.t("admin.sales.cash_item", title=item.title))
    if not item.active:
        raise Invalid(turn.t("admin.sales.inactive_item", title=item.title))
    if not item.listed:
        raise Invalid(turn.t("admin.sales.prize_only_item", title=item.title))
    return item.item_id


async def _chosen_item(turn: Turn, draft: Draft) -> ItemRecord:
    return await turn.mall.catalog.get_item(int_value(draft, "item"))


async def _price(turn: Turn, text: str, draft: Draft) -> JSON:
    price = whole_number(turn, text, low=1)
    item = await _chosen_item(turn, draft)
    if price >= item.price_points:
        raise Invalid(turn.t("admin.sales.not_cheaper", regular=turn.t.points(item.price_points)))
    return price


async def _quantity(turn: Turn, text: str, draft: Draft) -> JSON:
    return whole_number(turn, text, low=1, high=1_000_000)


async def _check(turn: Turn, draft: Draft, name: str, value: JSON) -> None:
    """An item picked again from the summary must still cost more than the sale price given."""
    price = draft.answer("price")
    if name == "item" and isinstance(value, int) and isinstance(price, int):
        item = await turn.mall.catalog.get_item(value)
        if price >= item.price_points:
            regular = turn.t.points(item.price_points)
            raise Invalid(turn.t("admin.sales.not_cheaper", regular=regular))


async def _mode_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    return [Choice(plain(_mode_label(turn, mode)), mode, mode) for mode in MODES]


def _mode_label(turn: Turn, mode: str) -> Html:
    if mode == "draw":
        return turn.t("admin.sales.mode.draw")
    return turn.t("admin.sales.mode.first_come")


PHASE_LABELS = {
    "upcoming": "admin.sales.phase.upcoming",
    "open": "admin.sales.phase.open",
    "sold_out": "admin.sales.phase.sold_out",
    "entry": "admin.sales.phase.entry",
    "awaiting_draw": "admin.sales.phase.awaiting_draw",
    "drawn": "admin.sales.phase.drawn",
    "ended": "admin.sales.phase.ended",
    "cancelled": "admin.sales.phase.cancelled",
}


async def _summary(turn: Turn, draft: Draft) -> Html | None:
    t = turn.t
    values = draft.values
    item = await _chosen_item(turn, draft)
    starts, ends = moment_value(draft, "starts"), moment_value(draft, "ends")
    mode = str(values["mode"])
    price, quantity = int_value(draft, "price"), int_value(draft, "quantity")
    sale_id = draft.context.get("sale")
    lines = [
        t("admin.sales.summary.edit_title", id=sale_id)
        if isinstance(sale_id, int)
        else t("admin.sales.summary.title"),
        t("admin.sales.summary.item", title=item.title, regular=t.points(item.price_points)),
        t("admin.sales.summary.price", price=t.points(price)),
        t("admin.sales.summary.quantity", quantity=t.number(quantity)),
        t("admin.sales.summary.window", starts=t.moment(starts), ends=t.moment(ends)),
        t("admin.sales.summary.mode.draw")
        if mode == "draw"
        else t("admin.sales.summary.mode.first_come"),
    ]
    return Html("\n".join(lines))


async def _save(turn: Turn, draft: Draft) -> None:
    sale_id = draft.context.get("sale")
    if isinstance(sale_id, int):
        await _save_edit(turn, draft, sale_id)
        return
    values = draft.values
    starts, ends = moment_value(draft, "starts"), moment_value(draft, "ends")
    item_id, price = int_value(draft, "item"), int_value(draft, "price")
    quantity, mode = int_value(draft, "quantity"), str(values.get("mode"))
    # Time has passed since the questions: a start that was "now" is now, not the past.
    starts = max(starts, turn.now)
    if ends <= turn.now:
        # The window went by while the summary waited: its dates are asked again.
        kept = {name: value for name, value in values.items() if name not in ("starts", "ends")}
        problem = turn.t("admin.sales.ended_meanwhile")
        await FORM.start(turn, ["starts", "ends"], kept, draft.context, problem=problem)
        return
    sale = await turn.mall.flash_sales.create_sale(
        item_id,
        price,
        quantity,
        starts,
        ends,
        mode,
        ends if mode == "draw" else None,
        now=turn.now,
        actor_id=turn.sender.user_id,
    )
    turn.show(await _list_screen(turn, turn.t("admin.sales.created", title=sale.title)))


async def _save_edit(turn: Turn, draft: Draft, sale_id: int) -> None:
    """Save an edit; a sale that started meanwhile keeps its terms (its card says so)."""
    starts, ends = moment_value(draft, "starts"), moment_value(draft, "ends")
    price, quantity = int_value(draft, "price"), int_value(draft, "quantity")
    mode = str(draft.values.get("mode"))
    starts = max(starts, turn.now)
    if ends <= turn.now:
        kept = {
            name: value for name, value in draft.values.items() if name not in ("starts", "ends")
        }
        problem = turn.t("admin.sales.ended_meanwhile")
        await FORM.start(turn, ["starts", "ends"], kept, draft.context, problem=problem)
        return
    try:
        edited = await turn.mall.flash_sales.edit_sale(
            sale_id,
            price,
            quantity,
            starts,
            ends,
            mode,
            ends if mode == "draw" else None,
            now=turn.now,
            actor_id=turn.member_id,
            wording=SaleNotices(turn.languages, turn.config),
        )
    except InvalidState as refused:
        turn.show(await _card(turn, sale_id, _refused(turn, refused)))
        return
    if not edited.changed:
        intro = turn.t("admin.sales.unchanged")
    else:
        intro = turn.t("admin.sales.edited", count=turn.t.number(edited.told))
    turn.show(await _card(turn, sale_id, intro))


def _home(turn: Turn, draft: Draft) -> Button:
    sale_id = draft.context.get("sale")
    if isinstance(sale_id, int):
        return Button(plain(turn.t("admin.sales.back_to_sale")), data=AdminSaleCard(sale_id).pack())
    return Button(plain(turn.t("admin.sales.back")), data=AdminSales().pack())


FORM = Form(
    router,
    name="sale",
    press=SaleForm,
    kind=FORM_KIND,
    steps=(
        Step(
            "item",
            lambda turn, draft: turn.t("admin.sales.ask.item"),
            parse=_item,
            choices=_item_choices,
            label=lambda turn: turn.t("admin.sales.field.item"),
        ),
        Step(
            "price",
            lambda turn, draft: turn.t("admin.sales.ask.price"),
            parse=_price,
            label=lambda turn: turn.t("admin.sales.field.price"),
        ),
        Step(
            "quantity",
            lambda turn, draft: turn.t("admin.sales.ask.quantity"),
            parse=_quantity,
            label=lambda turn: turn.t("admin.sales.field.quantity"),
        ),
        Step(
            "starts",
            lambda turn, draft: turn.t("admin.sales.ask.starts", example=EXAMPLE_MOMENT),
            parse=starts_before_end,
            label=lambda turn: turn.t("admin.sales.field.starts"),
        ),
        Step(
            "ends",
            lambda turn, draft: turn.t("admin.sales.ask.ends", example=EXAMPLE_MOMENT),
            parse=ends_after_start,
            label=lambda turn: turn.t("admin.sales.field.ends"),
        ),
        Step(
            "mode",
            lambda turn, draft: turn.t("admin.sales.ask.mode"),
            choices=_mode_choices,
            label=lambda turn: turn.t("admin.sales.field.mode"),
        ),
    ),
    summary=_summary,
    save=_save,
    home=_home,
    check=_check,
)


@router.button(NewSale, admin=True)
async def new_button(turn: Turn, pressed: NewSale) -> None:
    await FORM.start(turn)


# --- A sale's card: editing and cancelling it --------------------------------------------------


async def _sale(turn: Turn, sale_id: int) -> SaleView:
    try:
        return await turn.mall.flash_sales.get_sale(sale_id, turn.now)
    except UnknownSale:
        raise Stale(f"no sale {sale_id}") from None


async def _card(turn: Turn, sale_id: int, intro: Html | None = None) -> Screen:
    t = turn.t
    sale = await _sale(turn, sale_id)
    lines = [*([intro, ""] if intro else []), _sale_line(turn, sale)]
    if sale.mode == "draw":
        lines.append(t("admin.sales.entrants", count=t.number(sale.entrants)))
    buttons = []
    if _editable(sale):
        buttons.append(Button(plain(t("admin.sales.edit")), data=EditSale(sale.sale_id).pack()))
    if _cancellable(sale):
        buttons.append(Button(plain(t("admin.sales.cancel")), data=CancelSale(sale.sale_id).pack()))
    rows = [*two_a_row(buttons), (Button(plain(t("admin.sales.back")), data=AdminSales().pack()),)]
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


def _refused(turn: Turn, refused: MallError) -> Html:
    """Why a sale cannot be changed or cancelled now, in words."""
    reason = refused.details.get("reason")
    if reason == "started":
        return turn.t("admin.sales.started_meanwhile")
    if reason in ("drawn", "ended"):
        return turn.t("admin.sales.over_meanwhile")
    return refusal_text(turn.t, refused)


@router.button(AdminSaleCard, admin=True)
async def card_button(turn: Turn, pressed: AdminSaleCard) -> None:
    turn.show(await _card(turn, pressed.sale_id))


@router.button(EditSale, admin=True)
async def edit_button(turn: Turn, pressed: EditSale) -> None:
    """The form on its summary, the sale's terms as its answers."""
    sale = await _sale(turn, pressed.sale_id)
    if not _editable(sale):
        turn.show(await _card(turn, sale.sale_id, turn.t("admin.sales.started_meanwhile")))
        return
    values: dict[str, JSON] = {
        "item": sale.item_id,
        "price": sale.sale_price,
        "quantity": sale.quantity,
        "starts": sale.starts_at.astimezone(turn.config.mall.timezone).isoformat(),
        "ends": sale.ends_at.astimezone(turn.config.mall.timezone).isoformat(),
        "mode": sale.mode,
    }
    await FORM.start(turn, EDIT_STEPS, values, {"sale": sale.sale_id}, review=True)


@router.button(CancelSale, admin=True)
async def cancel_button(turn: Turn, pressed: CancelSale) -> None:
    """Ask first, saying what it does; the Confirm button carries a fresh nonce."""
    sale = await _sale(turn, pressed.sale_id)
    if not _cancellable(sale):
        turn.show(await _card(turn, sale.sale_id))
        return
    await _confirmation(turn, {"sale": sale.sale_id, "nonce": new_nonce()}, sale)


async def _confirmation(turn: Turn, data: dict[str, JSON], sale: SaleView) -> None:
    t = turn.t
    text = t(
        "admin.sales.cancel_confirm",
        title=sale.title,
        entrants=t.number(sale.entrants),
        points=t.points(sale.sale_price),
    )
    rows = (
        (
            Button(
                plain(t("admin.sales.cancel_yes")),
                data=ConfirmCancelSale(str(data["nonce"])).pack(),
            ),
            Button(plain(t("admin.sales.cancel_no")), data=AdminSaleCard(sale.sale_id).pack()),
        ),
    )
    await ask(turn, CANCEL_INPUT, data, text, rows)


@router.input(CANCEL_INPUT, admin=True)
async def cancel_typed(turn: Turn, text: str, data: Mapping[str, JSON]) -> None:
    """Text while the confirmation is open: show it again, still waiting for a button."""
    sale_id = data.get("sale")
    if not isinstance(sale_id, int):
        raise Stale("a sale's cancellation without its sale")
    await _confirmation(turn, dict(data), await _sale(turn, sale_id))


@router.button(ConfirmCancelSale, admin=True)
async def cancel_confirmed(turn: Turn, pressed: ConfirmCancelSale) -> None:
    gone = turn.t("admin.sales.cancel_stale")
    data = await confirmed_or_back(turn, CANCEL_INPUT, pressed.nonce, gone, _list_screen)
    if data is None:  # a second tap, or a confirmation replaced meanwhile
        return
    sale_id = data.get("sale")
    if not isinstance(sale_id, int):
        raise Stale("a sale's cancellation without its sale")
    await turn.mall.inputs.clear(turn.member_id)
    try:
        done = await turn.mall.flash_sales.cancel_sale(
            sale_id,
            turn.now,
            actor_id=turn.member_id,
            wording=SaleNotices(turn.languages, turn.config),
        )
    except InvalidState as refused:
        turn.show(await _card(turn, sale_id, _refused(turn, refused)))
        return
    t = turn.t
    if done.already_cancelled:
        intro = t("admin.sales.already_cancelled")
    else:
        intro = t(
            "admin.sales.cancelled",
            released=t.number(len(done.released)),
            points=t.points(done.points_released),
            count=t.number(done.told),
        )
    turn.show(await _card(turn, sale_id, intro))
