"""The items list, an item's card, and switching an item off (or to a prize only) and on."""

from __future__ import annotations

from bot.callback_data import CallbackData
from bot.features.admin_items.buttons import (
    AdminItemCard,
    AdminItems,
    AdminShelves,
    AskDeactivate,
    Deactivate,
    NewItem,
    PickField,
    PrizeOnly,
    Reactivate,
    Restock,
    UploadCatalog,
    UploadCodes,
)
from bot.features.admin_items.fields import card_text, price_text
from bot.features.admin_screens import admin_screen
from bot.i18n import Html, plain, shorten
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import UnknownItem
from core.rewards.eligibility import ItemRecord

router = Router()
PAGE_SIZE = 10
# Blind boxes named on the Deactivate confirmation, at most, and their titles' length there.
BOXES_NAMED = 5
BOX_TITLE_SHOWN = 40


# --- The list and the card ----------------------------------------------------------------------


@router.button(AdminItems, admin=True)
async def list_button(turn: Turn, pressed: AdminItems) -> None:
    turn.show(await list_screen(turn, pressed.page))


async def list_screen(turn: Turn, page: int, intro: Html | None = None) -> Screen:
    t = turn.t
    found = await turn.mall.catalog.all_items(page, PAGE_SIZE)
    if page and not found.items:
        raise Stale(f"no items page {page}")
    lines = [*([intro, ""] if intro else []), t("admin.items.title", page=t.number(page + 1))]
    if not found.items:
        lines.append(t("admin.items.none"))
    rows: list[tuple[Button, ...]] = [
        (Button(plain(_list_label(turn, item)), data=AdminItemCard(item.item_id).pack()),)
        for item in found.items
    ]
    nav = []
    if page:
        nav.append(Button(plain(t("admin.items.previous")), data=AdminItems(page - 1).pack()))
    if found.has_more:
        nav.append(Button(plain(t("admin.items.next")), data=AdminItems(page + 1).pack()))
    if nav:
        rows.append(tuple(nav))
    rows.append(
        (
            Button(plain(t("admin.items.add")), data=NewItem().pack()),
            Button(plain(t("admin.items.upload_catalog")), data=UploadCatalog().pack()),
        )
    )
    rows.append((Button(plain(t("admin.shelves.button")), data=AdminShelves().pack()),))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


def _list_label(turn: Turn, item: ItemRecord) -> Html:
    t = turn.t
    mark = "⏸" if not item.active else "✅" if item.listed else "🎁"
    return t("admin.items.line", mark=mark, title=item.title, price=price_text(turn, item))


@router.button(AdminItemCard, admin=True)
async def card_button(turn: Turn, pressed: AdminItemCard) -> None:
    await show_card(turn, pressed.item_id)


async def show_card(turn: Turn, item_id: int, intro: Html | None = None) -> None:
    try:
        item = await turn.mall.catalog.get_item(item_id)
    except UnknownItem:
        raise Stale(f"no item {item_id}") from None
    t = turn.t
    text = Html("\n".join([*([intro, ""] if intro else []), card_text(turn, item)]))
    rows: list[tuple[Button, ...]] = [
        (Button(plain(t("admin.items.edit")), data=PickField(item_id).pack()),)
    ]
    if item.stock is not None:
        rows[0] += (Button(plain(t("admin.items.restock")), data=Restock(item_id).pack()),)
    if item.kind == "coupon":
        rows.append(
            (Button(plain(t("admin.items.upload_codes")), data=UploadCodes(item_id).pack()),)
        )
    switch: CallbackData
    if item.active:
        switch = AskDeactivate(item_id)
        label = t("admin.items.deactivate" if item.listed else "admin.items.deactivate_prize")
    else:
        switch = Reactivate(item_id)
        label = t("admin.items.reactivate" if item.listed else "admin.items.reactivate_prize")
    rows.append((Button(plain(label), data=switch.pack()),))
    rows.append((Button(plain(t("admin.items.back_to_list")), data=AdminItems().pack()),))
    turn.show(admin_screen(turn, text, tuple(rows)))


# --- Deactivating and reactivating -------------------------------------------------------------


@router.button(AskDeactivate, admin=True)
async def deactivate_button(turn: Turn, pressed: AskDeactivate) -> None:
    """Ask first, saying all it does: switched off, the item is off the shelf *and* out of
    every blind box; to keep it winnable, "prize only" is offered instead (a listed item)."""
    item = await get_item(turn, pressed.item_id)
    if not item.active:
        await show_card(turn, item.item_id, turn.t("admin.items.already_inactive"))
        return
    t = turn.t
    yes = Button(
        plain(t("admin.items.deactivate_yes")),
        data=Deactivate(item.item_id).pack(),
    )
    back = Button(plain(t("admin.items.back_to_item")), data=AdminItemCard(item.item_id).pack())
    rows: list[tuple[Button, ...]] = [(yes,)]
    if item.listed:
        text = t("admin.items.deactivate_confirm", title=item.title)
        rows.append(
            (
                Button(
                    plain(t("admin.items.prize_only_instead")),
                    data=PrizeOnly(item.item_id).pack(),
                ),
            )
        )
    else:
        text = t("admin.items.deactivate_confirm_prize", title=item.title)
    rows.append((back,))
    boxes = await _boxes_giving(turn, item.item_id)
    if boxes:
        named = ", ".join(shorten(title, BOX_TITLE_SHOWN) for title in boxes[:BOXES_NAMED])
        more = len(boxes) - BOXES_NAMED
        in_boxes = t.n("admin.items.in_boxes", len(boxes), boxes=named) + (
            t("admin.items.and_more", count=t.number(more)) if more > 0 else ""
        )
    else:
        in_boxes = t("admin.items.in_no_box")
    turn.show(admin_screen(turn, Html(f"{text}\n\n{in_boxes}"), tuple(rows)))


async def _boxes_giving(turn: Turn, item_id: int) -> list[str]:
    """The titles of the blind boxes with a prize of this item in their table (weighted)."""
    boxes = turn.mall.boxes
    titles = []
    for box in await boxes.list_boxes():
        table = await boxes.prize_table(box.box_id)
        if any(prize.item_id == item_id and prize.weight > 0 for prize in table.prizes):
            titles.append(box.title)
    return titles


@router.button(Deactivate, admin=True)
async def deactivate_confirmed(turn: Turn, pressed: Deactivate) -> None:
    before = await get_item(turn, pressed.item_id)
    if not before.active:
        await show_card(turn, before.item_id, turn.t("admin.items.already_inactive"))
        return
    await turn.mall.catalog.deactivate(before.item_id, turn.now, actor_id=turn.member_id)
    await show_card(turn, before.item_id, turn.t("admin.items.deactivated"))


@router.button(PrizeOnly, admin=True)
async def prize_only_button(turn: Turn, pressed: PrizeOnly) -> None:
    """Off the shelf but still in its blind boxes: what "take off the shelf" often means."""
    item = await get_item(turn, pressed.item_id)
    if not item.active or not item.listed:
        await show_card(turn, item.item_id)  # switched off or a prize only meanwhile
        return
    await turn.mall.catalog.edit_item(
        item.item_id, {"listed": False}, turn.now, actor_id=turn.member_id
    )
    await show_card(turn, item.item_id, turn.t("admin.items.made_prize_only"))


@router.button(Reactivate, admin=True)
async def reactivate_button(turn: Turn, pressed: Reactivate) -> None:
    item = await get_item(turn, pressed.item_id)
    if item.active:
        await show_card(turn, item.item_id)
        return
    await turn.mall.catalog.edit_item(
        item.item_id, {"active": True}, turn.now, actor_id=turn.member_id
    )
    done = "admin.items.reactivated" if item.listed else "admin.items.reactivated_prize"
    await show_card(turn, item.item_id, turn.t(done))


async def get_item(turn: Turn, item_id: int) -> ItemRecord:
    try:
        return await turn.mall.catalog.get_item(item_id)
    except UnknownItem:
        raise Stale(f"no item {item_id}") from None
