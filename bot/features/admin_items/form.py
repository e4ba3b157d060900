"""The guided item form: adding an item, editing a field, restocking (its rules are in the
package's docstring)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.events import Upload
from bot.features.admin_forms import (
    EXAMPLE_MOMENT,
    Choice,
    Draft,
    Form,
    Invalid,
    Label,
    Question,
    Step,
    ends_after_start,
    int_value,
    money_minor,
    starts_before_end,
    stored_moment,
    text_answer,
    whole_number,
)
from bot.features.admin_items.buttons import (
    AdminItemCard,
    AdminItems,
    EditField,
    ItemForm,
    NewItem,
    PickField,
    Restock,
)
from bot.features.admin_items.cards import get_item, show_card
from bot.features.admin_items.fields import (
    EDIT_FIELDS,
    FIELD_LABELS,
    KIND_LABELS,
    OTHER_LANGUAGES,
    in_language,
    item_lines,
    limit_text,
    photo_line,
    spec_terms,
    values_of,
)
from bot.features.admin_screens import admin_screen, label, two_a_row
from bot.i18n import LANGUAGE_NAMES, Html, plain, shorten
from bot.router import Router, Stale
from bot.screens import Button
from bot.turn import Turn
from core.errors import InvalidInput, UnknownItem
from core.membership.pending_inputs import JSON
from core.rewards.catalog import KINDS, LIMIT_PERIODS, SKU_PATTERN, ItemSpec

router = Router()
FORM_KIND = "admin.item.form"
PHOTO_KIND = "admin.item.photo"
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png")
# A description is shown under the item's photo, in a caption of 1024 characters at most.
DESCRIPTION_MAX = 800
_PERIOD_WORDS: Mapping[str, str] = {
    **{period: period for period in LIMIT_PERIODS},
    "天": "day",
    "日": "day",
    "周": "week",
    "月": "month",
    "永久": "ever",
    "总共": "ever",
}
_LIMIT = re.compile(r"(\d{1,9})\s*(?:per|/|每)\s*(\S+)", re.IGNORECASE)


# --- The guided form: adding an item, editing a field, restocking --------------------------------


async def _title(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=200)


async def _sku(turn: Turn, text: str, draft: Draft) -> JSON:
    if not SKU_PATTERN.fullmatch(text):
        raise Invalid(turn.t("admin.items.bad_sku", sku=shorten(text, 70)))
    if await _sku_taken(turn, text):
        raise Invalid(turn.t("admin.items.sku_taken", sku=text))
    return text


async def _description(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=DESCRIPTION_MAX)


async def _title_in(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=200)


def _ask_in(text: str, language: str) -> Question:
    """The question asking ``text`` (``title``, ``description``) in ``language``."""
    name = LANGUAGE_NAMES[language]

    def question(turn: Turn, draft: Draft) -> Html:
        t, current = turn.t, _now(turn, draft)
        if text == "title":
            return t("admin.items.ask.title_in", language=name, current=current)
        return t("admin.items.ask.description_in", language=name, current=current)

    return question


def named_in(turn: Turn, text: str, language: str) -> Html:
    """The answer giving ``text`` in ``language``, as a button names it."""
    name = LANGUAGE_NAMES[language]
    if text == "title":
        return turn.t("admin.items.field.title_in", language=name)
    return turn.t("admin.items.field.description_in", language=name)


def _label_in(text: str, language: str) -> Label:
    return lambda turn: named_in(turn, text, language)


def _language_steps() -> list[Step]:
    """Optional steps asking the title and description in each of :data:`OTHER_LANGUAGES`."""
    return [
        Step(
            in_language(text, language),
            _ask_in(text, language),
            parse=parse,
            skip="",
            label=_label_in(text, language),
        )
        for language in OTHER_LANGUAGES
        for text, parse in (("title", _title_in), ("description", _description))
    ]


async def _photo(turn: Turn, upload: Upload, draft: Draft) -> JSON:
    """Keep the picture the admin sent, by its file id (a document is not a photo to show)."""
    if not upload.picture or not upload.file_id:
        raise Invalid(turn.t("admin.items.photo_as_picture"))
    if upload.mime_type not in PHOTO_TYPES:
        raise Invalid(turn.t("admin.items.photo_type", type=upload.mime_type or "?"))
    if upload.size > PHOTO_MAX_BYTES:
        raise Invalid(turn.t("admin.items.photo_size", limit="10 MB"))
    return upload.file_id


async def _category(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=64)


async def _kind_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    return [Choice(plain(label(turn, KIND_LABELS, kind)), kind, kind) for kind in KINDS]


async def _kind(turn: Turn, text: str, draft: Draft) -> JSON:
    for kind in KINDS:
        if text.casefold() in (kind, plain(label(turn, KIND_LABELS, kind)).casefold()):
            return kind
    raise Invalid(turn.t("admin.items.form.press_a_button"))


async def _price_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    return whole_number(turn, text, low=0)


async def _cash(turn: Turn, text: str, draft: Draft) -> JSON:
    return money_minor(turn, text)


async def _stock_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    return whole_number(turn, text, low=0)


async def _tier_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    return [
        Choice(level.name, str(index), level.name)
        for index, level in enumerate(turn.config.tiers.levels)
    ]


async def _tier(turn: Turn, text: str, draft: Draft) -> JSON:
    for level in turn.config.tiers.levels:
        if level.name.casefold() == text.casefold():
            return level.name
    raise Invalid(turn.t("admin.items.form.press_a_button"))


async def _limit_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    match = _LIMIT.fullmatch(text.strip())
    period = _PERIOD_WORDS.get(match[2].casefold()) if match else None
    if match is None or period is None or int(match[1]) < 1:
        raise Invalid(turn.t("admin.items.bad_limit", text=shorten(text, 40)))
    return [int(match[1]), period]


async def _listed_choices(turn: Turn, draft: Draft) -> Sequence[Choice]:
    return [
        Choice(plain(_listed_label(turn, True)), "1", True),
        Choice(plain(_listed_label(turn, False)), "0", False),
    ]


def _listed_label(turn: Turn, listed: bool) -> Html:
    return turn.t("admin.items.listed.shelf" if listed else "admin.items.listed.prize")


async def _listed(turn: Turn, text: str, draft: Draft) -> JSON:
    for listed in (True, False):
        if text.casefold() == plain(_listed_label(turn, listed)).casefold():
            return listed
    raise Invalid(turn.t("admin.items.form.press_a_button"))


async def _approval(turn: Turn, text: str, draft: Draft) -> JSON:
    return whole_number(turn, text, low=1)


async def _restock(turn: Turn, text: str, draft: Draft) -> JSON:
    return whole_number(turn, text, low=1)


async def _check(turn: Turn, draft: Draft, name: str, value: JSON) -> None:
    """An answer (typed, pressed or skipped) against the item's other answers, as the catalog
    will check them at Save: refused at the question that breaks the rule, in the admin's words.

    An answer still to be asked is not held against it (:meth:`Draft.answer`): its own question
    checks it in turn.
    """
    t = turn.t
    if name == "price" and value == 0 and draft.answer("cash") == 0:
        raise Invalid(t("admin.items.free_price"))
    if name == "cash" and value == 0 and draft.answer("price") == 0:
        raise Invalid(t("admin.items.free", currency=turn.config.mall.currency))
    if name == "cash" and value and draft.answer("approval") is not None:
        raise Invalid(t("admin.items.cash_and_approval"))
    if name == "approval" and value is not None and draft.answer("cash"):
        raise Invalid(t("admin.items.cash_and_approval"))


def _now(turn: Turn, draft: Draft) -> Html:
    """What the field asked holds now: when editing an item, or an answer again from the new
    item's summary ("" the first time through)."""
    if draft.done or not (draft.context.get("mode") == "edit" or draft.revising):
        return Html("")
    return _current_text(turn, draft.steps[draft.at], draft.values)


def _named(name: str) -> Label:
    """A step's name on the summary's button asking it again."""
    return lambda turn: label(turn, FIELD_LABELS, name)


STEPS = (
    Step(
        "title",
        lambda turn, draft: turn.t("admin.items.ask.title", current=_now(turn, draft)),
        parse=_title,
        label=_named("title"),
    ),
    Step(
        "sku",
        lambda turn, draft: turn.t("admin.items.ask.sku"),
        parse=_sku,
        skip=None,
        skip_label=lambda turn: turn.t("admin.items.skip_sku"),
        label=_named("sku"),
    ),
    Step(
        "description",
        lambda turn, draft: turn.t("admin.items.ask.description", current=_now(turn, draft)),
        parse=_description,
        skip="",
        label=_named("description"),
    ),
    Step(
        "photo",
        lambda turn, draft: turn.t("admin.items.ask.photo", current=_now(turn, draft)),
        upload=_photo,
        skip=None,
        label=_named("photo"),
    ),
    Step(
        "category",
        lambda turn, draft: turn.t("admin.items.ask.category", current=_now(turn, draft)),
        parse=_category,
        label=_named("category"),
    ),
    Step(
        "kind",
        lambda turn, draft: turn.t("admin.items.ask.kind"),
        parse=_kind,
        choices=_kind_choices,
        label=_named("kind"),
    ),
    Step(
        "price",
        lambda turn, draft: turn.t("admin.items.ask.price", current=_now(turn, draft)),
        parse=_price_answer,
        label=_named("price"),
    ),
    Step(
        "cash",
        lambda turn, draft: turn.t(
            "admin.items.ask.cash", currency=turn.config.mall.currency, current=_now(turn, draft)
        ),
        parse=_cash,
        skip=0,
        label=_named("cash"),
    ),
    Step(
        "stock",
        lambda turn, draft: turn.t("admin.items.ask.stock"),
        parse=_stock_answer,
        skip=None,
        skip_label=lambda turn: turn.t("admin.items.skip_stock"),
        label=_named("stock"),
    ),
    Step(
        "starts",
        lambda turn, draft: turn.t(
            "admin.items.ask.starts", example=EXAMPLE_MOMENT, current=_now(turn, draft)
        ),
        parse=starts_before_end,
        skip=None,
        label=_named("starts"),
    ),
    Step(
        "ends",
        lambda turn, draft: turn.t(
            "admin.items.ask.ends", example=EXAMPLE_MOMENT, current=_now(turn, draft)
        ),
        parse=ends_after_start,
        skip=None,
        label=_named("ends"),
    ),
    Step(
        "tier",
        lambda turn, draft: turn.t("admin.items.ask.tier", current=_now(turn, draft)),
        parse=_tier,
        choices=_tier_choices,
        skip=None,
        skip_label=lambda turn: turn.t("admin.items.any_tier"),
        label=_named("tier"),
    ),
    Step(
        "limit",
        lambda turn, draft: turn.t("admin.items.ask.limit", current=_now(turn, draft)),
        parse=_limit_answer,
        skip=None,
        label=_named("limit"),
    ),
    Step(
        "approval",
        lambda turn, draft: turn.t("admin.items.ask.approval", current=_now(turn, draft)),
        parse=_approval,
        skip=None,
        label=_named("approval"),
    ),
    Step(
        "listed",
        lambda turn, draft: turn.t(
            "admin.items.ask.listed", title=draft.values.get("title"), current=_now(turn, draft)
        ),
        parse=_listed,
        choices=_listed_choices,
        label=_named("listed"),
    ),
    Step(
        "restock",
        lambda turn, draft: turn.t("admin.items.ask.restock", title=draft.values.get("title")),
        parse=_restock,
    ),
    *_language_steps(),
)
# A new item goes on the shelf; making it a prize only is an edit (the Shelf field).
# The texts in other languages follow the default ones they translate.
_NEW_ITEM_ORDER = (
    "title",
    *(in_language("title", language) for language in OTHER_LANGUAGES),
    "sku",
    "description",
    *(in_language("description", language) for language in OTHER_LANGUAGES),
)
NEW_ITEM_STEPS = _NEW_ITEM_ORDER + tuple(
    step.name
    for step in STEPS
    if step.name not in ("restock", "listed") and step.name not in _NEW_ITEM_ORDER
)


def _current_text(turn: Turn, step: str, values: Mapping[str, JSON]) -> Html:
    """What an edited field holds now, shown with its question."""
    t = turn.t
    value = values.get(step)
    if step == "price":
        shown: object = t.points(value) if isinstance(value, int) else "-"
    elif step == "cash":
        shown = t.money(value, turn.config.mall.currency) if isinstance(value, int) else "-"
    elif step in ("starts", "ends"):
        at = stored_moment(value)
        shown = t.moment(at) if at else t("admin.items.none_set")
    elif step == "limit":
        shown = limit_text(turn, value)
    elif step == "photo":
        shown = photo_line(turn, value)
    elif step == "listed":
        shown = _listed_label(turn, value is not False)
    else:
        shown = value if value not in (None, "") else t("admin.items.none_set")
    return t("admin.items.current", value=shown)


async def _summary(turn: Turn, draft: Draft) -> Html | None:
    if draft.context.get("mode") != "new":
        return None
    values = draft.values
    lines = item_lines(turn, values, sku=str(values.get("sku") or "auto"))
    return Html("\n".join([turn.t("admin.items.summary.title"), *lines]))


async def _save(turn: Turn, draft: Draft) -> None:
    mode = draft.context.get("mode")
    item_id = draft.context.get("item")
    if mode == "new":
        await _create(turn, draft)
    elif mode == "edit" and isinstance(item_id, int):
        await _edit(turn, item_id, draft)
    elif mode == "restock" and isinstance(item_id, int):
        await _restock_item(turn, item_id, draft)
    else:
        raise Stale(f"item form in mode {mode!r}")


async def _create(turn: Turn, draft: Draft) -> None:
    values = draft.values
    sku = values.get("sku")
    if not isinstance(sku, str):
        sku = await _free_sku(turn, str(values["title"]))
    stock = values.get("stock")
    spec = ItemSpec(
        sku=sku,
        kind=str(values["kind"]),
        stock=stock if isinstance(stock, int) else None,
        **spec_terms(values),
    )
    try:
        item = await turn.mall.catalog.create_item(spec, turn.now, actor_id=turn.member_id)
    except InvalidInput as refused:
        # The form shows this above the summary again, every answer kept.
        raise Invalid(_not_saved(turn, refused)) from None
    await show_card(turn, item.item_id, turn.t("admin.items.created", title=item.title))


async def _edit(turn: Turn, item_id: int, draft: Draft) -> None:
    terms = spec_terms(draft.values)
    names = {
        "title": ("title",),
        "description": ("description",),
        "photo": ("photo",),
        "category": ("category",),
        "price": ("price_points",),
        "cash": ("cash_minor",),
        "starts": ("starts_at",),
        "ends": ("ends_at",),
        "tier": ("min_tier",),
        "limit": ("limit_count", "limit_period"),
        "approval": ("approval_threshold",),
        "listed": ("listed",),
        **{in_language("title", language): ("titles",) for language in OTHER_LANGUAGES},
        **{in_language("description", language): ("descriptions",) for language in OTHER_LANGUAGES},
    }
    changes = {name: terms[name] for step in draft.steps for name in names[step]}
    try:
        await turn.mall.catalog.edit_item(item_id, changes, turn.now, actor_id=turn.member_id)
    except InvalidInput as refused:
        # The form asks the field again with this above it.
        raise Invalid(_not_saved(turn, refused)) from None
    await show_card(turn, item_id, turn.t("admin.items.edited"))


def _not_saved(turn: Turn, refused: InvalidInput) -> Html:
    """Why the catalog refused the item: a SKU taken meanwhile in words, else its problems."""
    if refused.details.get("reason") == "taken":
        return turn.t("admin.items.sku_taken", sku=str(refused.details.get("sku", "")))
    problems = refused.details.get("problems") or str(refused)
    return turn.t("admin.items.not_saved", problems=problems)


async def _restock_item(turn: Turn, item_id: int, draft: Draft) -> None:
    quantity = int_value(draft, "restock")
    item = await turn.mall.catalog.restock(item_id, quantity, turn.now, actor_id=turn.member_id)
    assert item.stock is not None
    intro = turn.t("admin.items.restocked", added=turn.t.number(quantity), stock=item.stock)
    await show_card(turn, item_id, intro)


def _home(turn: Turn, draft: Draft) -> Button:
    item_id = draft.context.get("item")
    if isinstance(item_id, int):
        return Button(plain(turn.t("admin.items.back_to_item")), data=AdminItemCard(item_id).pack())
    return Button(plain(turn.t("admin.items.back_to_list")), data=AdminItems().pack())


FORM = Form(
    router,
    name="item",
    press=ItemForm,
    kind=FORM_KIND,
    upload_kind=PHOTO_KIND,
    steps=STEPS,
    summary=_summary,
    save=_save,
    home=_home,
    check=_check,
)


async def _sku_taken(turn: Turn, sku: str) -> bool:
    try:
        await turn.mall.catalog.get_item_by_sku(sku)
    except UnknownItem:
        return False
    return True


async def _free_sku(turn: Turn, title: str) -> str:
    """A sku made from the title ("Latte (large)" -> "latte-large"), numbered if taken."""
    base = re.sub(r"[^a-z0-9]+", "-", title.casefold()).strip("-")[:48].strip("-") or "item"
    for number in range(1, 1000):
        sku = base if number == 1 else f"{base}-{number}"
        if not await _sku_taken(turn, sku):
            return sku
    raise InvalidInput(f"no free sku for {title!r}", field="sku", problems="sku: taken")


@router.button(NewItem, admin=True)
async def new_button(turn: Turn, pressed: NewItem) -> None:
    await FORM.start(turn, NEW_ITEM_STEPS, context={"mode": "new"})


@router.button(PickField, admin=True)
async def edit_button(turn: Turn, pressed: PickField) -> None:
    """Which field to change."""
    item = await get_item(turn, pressed.item_id)
    t = turn.t
    buttons = [
        Button(
            plain(_field_label(turn, name)),
            data=EditField(item.item_id, index).pack(),
        )
        for index, name in enumerate(EDIT_FIELDS)
    ]
    rows = two_a_row(buttons)
    rows.append(
        (Button(plain(t("admin.items.back_to_item")), data=AdminItemCard(item.item_id).pack()),)
    )
    turn.show(admin_screen(turn, t("admin.items.pick_field", title=item.title), tuple(rows)))


def _field_label(turn: Turn, name: str) -> Html:
    """An editable field's button: a text in another language names its language."""
    text, _, language = name.partition(".")
    if language in LANGUAGE_NAMES:
        return named_in(turn, text, language)
    return label(turn, FIELD_LABELS, name)


@router.button(EditField, admin=True)
async def edit_field_button(turn: Turn, pressed: EditField) -> None:
    item = await get_item(turn, pressed.item_id)
    index = pressed.field
    fields = list(EDIT_FIELDS)
    if index >= len(fields):
        raise Stale(f"no field {index}")
    context: dict[str, JSON] = {"mode": "edit", "item": item.item_id}
    await FORM.start(turn, EDIT_FIELDS[fields[index]], values_of(item), context)


@router.button(Restock, admin=True)
async def restock_button(turn: Turn, pressed: Restock) -> None:
    item = await get_item(turn, pressed.item_id)
    if item.stock is None:
        raise Stale(f"item {item.item_id} has unlimited stock")
    context: dict[str, JSON] = {"mode": "restock", "item": item.item_id}
    await FORM.start(turn, ["restock"], {"title": item.title, "stock": item.stock}, context)
