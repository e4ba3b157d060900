"""Flash sales from the chat: the list of sales and scheduling a new one.

The section (``asl``) lists the latest sales, upcoming, running and ended. "New sale" is a guided
conversation (:mod:`bot.features.admin_forms`): the item (picked from the list, or its sku
typed), the sale price, the quantity, the start ("now" allowed) and end on the mall's clock,
and the mode: first come, or an entry draw whose entries close when the sale ends (the draw
follows). A summary is saved with Save, and written to the audit log; any answer can be given
again from it (another item must still cost more than the sale price, a start must still come
before the end). Announcing a sale is the scheduled job's work.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.features.admin import admin_screen, audited, label
from bot.features.admin_forms import (
    EXAMPLE_MOMENT,
    Choice,
    Draft,
    Form,
    Invalid,
    Step,
    ends_after_start,
    int_value,
    moment_value,
    starts_before_end,
    whole_number,
)
from bot.i18n import Html, plain, shorten
from bot.router import Router
from bot.screens import Button, Screen
from bot.turn import Turn
from core.catalog import ItemRecord
from core.errors import UnknownItem
from core.flash_sales import MODES, SaleView
from core.pending_inputs import JSON

router = Router()

LIST_ROUTE = "asl"
NEW_ROUTE = "asn"
FORM_ROUTE = "asf"
FORM_KIND = "admin.sale.form"
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


@router.button(LIST_ROUTE, admin=True)
async def list_button(turn: Turn, args: tuple[str, ...]) -> None:
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
    rows = ((Button(plain(t("admin.sales.new")), data=NEW_ROUTE),),)
    return admin_screen(turn, Html("\n".join(lines)), rows)


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
    lines = [
        t("admin.sales.summary.title"),
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
    )
    await audited(
        turn,
        "sale.create",
        f"sale:{sale.sale_id}",
        before={},
        after={
            "item_id": item_id,
            "sale_price": price,
            "quantity": quantity,
            "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
            "mode": mode,
        },
    )
    turn.show(await _list_screen(turn, turn.t("admin.sales.created", title=sale.title)))


def _home(turn: Turn, draft: Draft) -> Button:
    return Button(plain(turn.t("admin.sales.back")), data=LIST_ROUTE)


FORM = Form(
    router,
    name="sale",
    route=FORM_ROUTE,
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


@router.button(NEW_ROUTE, admin=True)
async def new_button(turn: Turn, args: tuple[str, ...]) -> None:
    await FORM.start(turn)
