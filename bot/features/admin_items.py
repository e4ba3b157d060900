"""Running the catalog from the chat: items, their edits and stock, coupon codes, the catalog file.

The Items section (``ait``) lists every item, on the shelf or not; an item's card (``aiv``) has
Edit, Restock, Deactivate (or Reactivate) and, for coupons, Upload codes. An item is on the shelf
(``listed``), a prize only (off the shelf, still given by blind boxes: the Shelf edit), or
switched off (``active`` false: off the shelf *and* out of every blind box), which the
Deactivate confirmation says, offering "prize only" instead. "Add item" is a guided
conversation (:mod:`bot.features.admin_forms`) asking one thing at a time; an edit asks the one
field picked. Each answer is checked against the item's other answers as it is given (a price of
0 needs a cash part, a cash part excludes an approval threshold, the end follows the start), so
the rule is told at that question; the summary before Save asks any answer again, and a Save the
catalog still refuses (a SKU taken meanwhile) shows why above the summary, the draft kept.

The catalog file (the TOML of ``pointsmall catalog load``) and coupon code files are sent as
documents, checked for type and size before they are fetched, and applied all or nothing; a
catalog that loads but cannot work as written (a box's prize that can never be drawn...) is
loaded with its warnings shown. Every change is written to the audit log.

An uploaded photo is kept as its Telegram file id: every bot process shows it again by that id,
with nothing stored on any machine's disk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.content import SPOKEN
from bot.events import Upload
from bot.features.admin import admin_screen, label, two_a_row
from bot.features.admin_forms import (
    ANSWER_TTL,
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
from bot.features.admin_tasks import channel_warnings
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES, Html, plain, shorten
from bot.router import Router, Stale, callback, int_arg
from bot.screens import Button, Screen
from bot.turn import Turn
from core.catalog import KINDS, LIMIT_PERIODS, SKU_PATTERN, ItemSpec
from core.catalog_file import CatalogError, CatalogProblem, load_catalog_text, read_code_lines
from core.eligibility import ItemRecord
from core.errors import InvalidInput, InvalidState, UnknownItem
from core.pending_inputs import JSON

router = Router()

LIST_ROUTE = "ait"
CARD_ROUTE = "aiv"
NEW_ROUTE = "ain"
EDIT_ROUTE = "aie"
EDIT_FIELD_ROUTE = "aid"
RESTOCK_ROUTE = "air"
DEACTIVATE_ROUTE = "aio"
DEACTIVATE_CONFIRM_ROUTE = "aik"
PRIZE_ONLY_ROUTE = "aip"
REACTIVATE_ROUTE = "aia"
CODES_ROUTE = "aic"
CATALOG_ROUTE = "aiu"
CANCEL_FILE_ROUTE = "aix"
FORM_ROUTE = "aif"
FORM_KIND = "admin.item.form"
PHOTO_KIND = "admin.item.photo"
CODES_KIND = "admin.item.codes"
CATALOG_KIND = "admin.catalog.file"
SHELVES_ROUTE = "ais"
SHELF_ROUTE = "aih"
SHELF_FORM_ROUTE = "aig"
SHELF_FORM_KIND = "admin.shelf.form"
SHELF_NAME_MAX = 64

PAGE_SIZE = 10
# Where uploaded item photos are kept (relative to the working directory, like var/*.db).
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTO_TYPES = ("image/jpeg", "image/png")
CATALOG_MAX_BYTES = 256 * 1024
CODES_MAX_BYTES = 512 * 1024
CODES_MAX = 10_000
# A description is shown under the item's photo, in a caption of 1024 characters at most.
DESCRIPTION_MAX = 800
PROBLEMS_SHOWN = 15
REPEATS_SHOWN = 5
# Blind boxes named on the Deactivate confirmation, at most, and their titles' length there.
BOXES_NAMED = 5
BOX_TITLE_SHOWN = 40
# The languages an item's title and description may also be given in, besides the default
# text (which members of any other language read): optional steps of the form, after the
# default text's own.
OTHER_LANGUAGES = tuple(language for language in SPOKEN if language != DEFAULT_LANGUAGE)


def _in(text: str, language: str) -> str:
    """The form step asking ``text`` (``title``, ``description``) in ``language``."""
    return f"{text}.{language}"


# The fields an admin may edit, with the form's steps that ask them.
EDIT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "title": ("title",),
    "description": ("description",),
    "photo": ("photo",),
    "category": ("category",),
    "price": ("price",),
    "cash": ("cash",),
    "window": ("starts", "ends"),
    "tier": ("tier",),
    "limit": ("limit",),
    "approval": ("approval",),
    # Last, so the field buttons shown before it was added still ask what they named.
    "listed": ("listed",),
    # The texts in other languages, after everything above for the same reason.
    **{
        _in(text, language): (_in(text, language),)
        for language in OTHER_LANGUAGES
        for text in ("title", "description")
    },
}
# The texts naming an item's kinds, limit periods and editable fields.
KIND_LABELS: Mapping[str, str] = {
    "physical": "admin.items.kind.physical",
    "coupon": "admin.items.kind.coupon",
    "service": "admin.items.kind.service",
    "virtual": "admin.items.kind.virtual",
}
PER_LABELS: Mapping[str, str] = {
    "day": "admin.items.per.day",
    "week": "admin.items.per.week",
    "month": "admin.items.per.month",
    "ever": "admin.items.per.ever",
}
FIELD_LABELS: Mapping[str, str] = {
    "title": "admin.items.field.title",
    "description": "admin.items.field.description",
    "photo": "admin.items.field.photo",
    "category": "admin.items.field.category",
    "price": "admin.items.field.price",
    "cash": "admin.items.field.cash",
    "window": "admin.items.field.window",
    "tier": "admin.items.field.tier",
    "limit": "admin.items.field.limit",
    "approval": "admin.items.field.approval",
    "listed": "admin.items.field.listed",
    # Named on the new item's summary only.
    "sku": "admin.items.field.sku",
    "kind": "admin.items.field.kind",
    "stock": "admin.items.field.stock",
    "starts": "admin.items.field.starts",
    "ends": "admin.items.field.ends",
}
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


# --- The list and the card ----------------------------------------------------------------------


@router.button(LIST_ROUTE, admin=True)
async def list_button(turn: Turn, args: tuple[str, ...]) -> None:
    turn.show(await _list_screen(turn, int_arg(args, 0) if args else 0))


async def _list_screen(turn: Turn, page: int, intro: Html | None = None) -> Screen:
    t = turn.t
    found = await turn.mall.catalog.all_items(page, PAGE_SIZE)
    if page and not found.items:
        raise Stale(f"no items page {page}")
    lines = [*([intro, ""] if intro else []), t("admin.items.title", page=t.number(page + 1))]
    if not found.items:
        lines.append(t("admin.items.none"))
    rows: list[tuple[Button, ...]] = [
        (Button(plain(_list_label(turn, item)), data=callback(CARD_ROUTE, item.item_id)),)
        for item in found.items
    ]
    nav = []
    if page:
        nav.append(Button(plain(t("admin.items.previous")), data=callback(LIST_ROUTE, page - 1)))
    if found.has_more:
        nav.append(Button(plain(t("admin.items.next")), data=callback(LIST_ROUTE, page + 1)))
    if nav:
        rows.append(tuple(nav))
    rows.append(
        (
            Button(plain(t("admin.items.add")), data=NEW_ROUTE),
            Button(plain(t("admin.items.upload_catalog")), data=CATALOG_ROUTE),
        )
    )
    rows.append((Button(plain(t("admin.shelves.button")), data=SHELVES_ROUTE),))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


def _list_label(turn: Turn, item: ItemRecord) -> Html:
    t = turn.t
    mark = "⏸" if not item.active else "✅" if item.listed else "🎁"
    return t("admin.items.line", mark=mark, title=item.title, price=_price(turn, item))


@router.button(CARD_ROUTE, admin=True)
async def card_button(turn: Turn, args: tuple[str, ...]) -> None:
    await _show_card(turn, int_arg(args, 0))


async def _show_card(turn: Turn, item_id: int, intro: Html | None = None) -> None:
    try:
        item = await turn.mall.catalog.get_item(item_id)
    except UnknownItem:
        raise Stale(f"no item {item_id}") from None
    t = turn.t
    text = Html("\n".join([*([intro, ""] if intro else []), _card_text(turn, item)]))
    rows: list[tuple[Button, ...]] = [
        (Button(plain(t("admin.items.edit")), data=callback(EDIT_ROUTE, item_id)),)
    ]
    if item.stock is not None:
        rows[0] += (Button(plain(t("admin.items.restock")), data=callback(RESTOCK_ROUTE, item_id)),)
    if item.kind == "coupon":
        rows.append(
            (Button(plain(t("admin.items.upload_codes")), data=callback(CODES_ROUTE, item_id)),)
        )
    if item.active:
        route = DEACTIVATE_ROUTE
        label = t("admin.items.deactivate" if item.listed else "admin.items.deactivate_prize")
    else:
        route = REACTIVATE_ROUTE
        label = t("admin.items.reactivate" if item.listed else "admin.items.reactivate_prize")
    rows.append((Button(plain(label), data=callback(route, item_id)),))
    rows.append((Button(plain(t("admin.items.back_to_list")), data=LIST_ROUTE),))
    turn.show(admin_screen(turn, text, tuple(rows)))


def _card_text(turn: Turn, item: ItemRecord) -> Html:
    lines = _item_lines(
        turn, _values_of(item), sku=item.sku, active=item.active, free_codes=item.free_codes
    )
    return Html("\n".join(lines))


def _status(turn: Turn, *, active: bool, listed: bool) -> Html:
    """Where a saved item is: on the shelf, a prize only (boxes still give it), or switched off
    (off the shelf and out of every box)."""
    if not active:
        return turn.t("admin.items.card.inactive")
    return turn.t("admin.items.card.active" if listed else "admin.items.card.prize_only")


def _item_lines(
    turn: Turn,
    values: Mapping[str, JSON],
    *,
    sku: str,
    active: bool | None = None,
    free_codes: int | None = None,
) -> list[str]:
    """An item (as a draft's answers) as its card shows it; ``active`` and ``free_codes`` once
    it is saved."""
    t = turn.t
    terms = _spec_terms(values)
    stock = values.get("stock")
    lines: list[str] = [t("admin.items.card.title", title=values["title"], sku=sku)]
    if active is not None:
        lines.append(_status(turn, active=active, listed=values.get("listed") is not False))
    kind = label(turn, KIND_LABELS, str(values["kind"]))
    lines += [
        t("admin.items.card.kind", kind=kind, category=values["category"]),
        t(
            "admin.items.card.price",
            price=_price_of(turn, terms["price_points"], terms["cash_minor"]),
        ),
        t("admin.items.card.stock", stock=_stock(turn, stock if isinstance(stock, int) else None)),
    ]
    if free_codes is not None:
        lines.append(t("admin.items.card.codes", count=t.number(free_codes)))
    approval = terms["approval_threshold"]
    lines += [
        t("admin.items.card.window", window=_window(turn, terms["starts_at"], terms["ends_at"])),
        t("admin.items.card.tier", tier=values.get("tier") or t("admin.items.any_tier")),
        t("admin.items.card.limit", limit=_limit_json(turn, values.get("limit"))),
        t(
            "admin.items.card.approval",
            threshold=t.points(approval) if approval is not None else t("admin.items.none_set"),
        ),
        _photo_line(turn, values.get("photo")),
    ]
    if terms["description"]:
        lines += ["", t("admin.items.card.description", description=terms["description"])]
    for language in OTHER_LANGUAGES:
        title, about = terms["titles"].get(language), terms["descriptions"].get(language)
        if title or about:
            name = LANGUAGE_NAMES[language]
            lines += ["", t("admin.items.card.in", language=name, title=title or "-")]
            if about:
                lines.append(t("admin.items.card.description", description=about))
    return lines


def _price(turn: Turn, item: ItemRecord) -> Html:
    return _price_of(turn, item.price_points, item.cash_minor)


def _price_of(turn: Turn, points: int, cash: int) -> Html:
    t = turn.t
    if not cash:
        return t.points(points)
    money = t.money(cash, turn.config.mall.currency)
    if not points:
        return money
    return t("admin.items.points_and_cash", points=t.points(points), cash=money)


def _stock(turn: Turn, stock: int | None) -> Html:
    return turn.t("admin.items.unlimited") if stock is None else turn.t.number(stock)


def _window(turn: Turn, starts: Any, ends: Any) -> Html:
    t = turn.t
    if starts is None and ends is None:
        return t("admin.items.always")
    start = t.moment(starts) if starts is not None else t("admin.items.at_once")
    end = t.moment(ends) if ends is not None else t("admin.items.no_end")
    return t("admin.items.from_to", starts=start, ends=end)


def _limit(turn: Turn, count: int | None, period: str | None) -> Html:
    t = turn.t
    if count is None or period is None:
        return t("admin.items.none_set")
    return t("admin.items.limit_value", count=t.number(count), per=label(turn, PER_LABELS, period))


def _limit_json(turn: Turn, value: JSON) -> Html:
    """A limit kept in a draft (``[count, period]`` or None), as the card writes it."""
    if isinstance(value, list) and len(value) == 2:
        count, period = value
        if isinstance(count, int) and isinstance(period, str):
            return _limit(turn, count, period)
    return _limit(turn, None, None)


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


def _named_in(turn: Turn, text: str, language: str) -> Html:
    """The answer giving ``text`` in ``language``, as a button names it."""
    name = LANGUAGE_NAMES[language]
    if text == "title":
        return turn.t("admin.items.field.title_in", language=name)
    return turn.t("admin.items.field.description_in", language=name)


def _label_in(text: str, language: str) -> Label:
    return lambda turn: _named_in(turn, text, language)


def _language_steps() -> list[Step]:
    """Optional steps asking the title and description in each of :data:`OTHER_LANGUAGES`."""
    return [
        Step(
            _in(text, language),
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


def _photo_line(turn: Turn, photo: object) -> Html:
    return turn.t("admin.items.card.photo_yes") if photo else turn.t("admin.items.card.photo_no")


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
    *(_in("title", language) for language in OTHER_LANGUAGES),
    "sku",
    "description",
    *(_in("description", language) for language in OTHER_LANGUAGES),
)
NEW_ITEM_STEPS = _NEW_ITEM_ORDER + tuple(
    step.name
    for step in STEPS
    if step.name not in ("restock", "listed") and step.name not in _NEW_ITEM_ORDER
)


def _values_of(item: ItemRecord) -> dict[str, JSON]:
    """The item as a draft's answers, so an edit is checked against the rest of it."""
    return {
        "title": item.title,
        "sku": item.sku,
        "description": item.description,
        "photo": item.photo,
        "category": item.category,
        "kind": item.kind,
        "price": item.price_points,
        "cash": item.cash_minor,
        "stock": item.stock,
        "starts": item.starts_at.isoformat() if item.starts_at else None,
        "ends": item.ends_at.isoformat() if item.ends_at else None,
        "tier": item.min_tier,
        "limit": [item.limit_count, item.limit_period]
        if item.limit_count is not None and item.limit_period is not None
        else None,
        "approval": item.approval_threshold,
        "listed": item.listed,
        **{
            _in(text, language): texts.get(language, "")
            for language in OTHER_LANGUAGES
            for text, texts in (("title", item.titles), ("description", item.descriptions))
        },
    }


def _texts(values: Mapping[str, JSON], text: str) -> dict[str, str]:
    """The draft's answers giving ``text`` in other languages, by language (none: empty)."""
    found = {language: values.get(_in(text, language)) for language in OTHER_LANGUAGES}
    return {
        language: value for language, value in found.items() if isinstance(value, str) and value
    }


def _spec_terms(values: Mapping[str, JSON]) -> dict[str, Any]:
    """The draft's answers as ItemSpec's terms."""
    limit = values.get("limit")
    count, period = (limit[0], limit[1]) if isinstance(limit, list) else (None, None)
    return {
        "title": values["title"],
        "description": values.get("description") or "",
        "photo": values.get("photo"),
        "category": values["category"],
        "price_points": values["price"],
        "cash_minor": values.get("cash") or 0,
        "starts_at": stored_moment(values.get("starts")),
        "ends_at": stored_moment(values.get("ends")),
        "min_tier": values.get("tier"),
        "limit_count": count,
        "limit_period": period,
        "approval_threshold": values.get("approval"),
        "listed": values.get("listed") is not False,
        "titles": _texts(values, "title"),
        "descriptions": _texts(values, "description"),
    }


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
        shown = _limit_json(turn, value)
    elif step == "photo":
        shown = _photo_line(turn, value)
    elif step == "listed":
        shown = _listed_label(turn, value is not False)
    else:
        shown = value if value not in (None, "") else t("admin.items.none_set")
    return t("admin.items.current", value=shown)


async def _summary(turn: Turn, draft: Draft) -> Html | None:
    if draft.context.get("mode") != "new":
        return None
    values = draft.values
    lines = _item_lines(turn, values, sku=str(values.get("sku") or "auto"))
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
        **_spec_terms(values),
    )
    try:
        item = await turn.mall.catalog.create_item(spec, turn.now, actor_id=turn.member_id)
    except InvalidInput as refused:
        # The form shows this above the summary again, every answer kept.
        raise Invalid(_not_saved(turn, refused)) from None
    await _show_card(turn, item.item_id, turn.t("admin.items.created", title=item.title))


async def _edit(turn: Turn, item_id: int, draft: Draft) -> None:
    terms = _spec_terms(draft.values)
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
        **{_in("title", language): ("titles",) for language in OTHER_LANGUAGES},
        **{_in("description", language): ("descriptions",) for language in OTHER_LANGUAGES},
    }
    changes = {name: terms[name] for step in draft.steps for name in names[step]}
    try:
        await turn.mall.catalog.edit_item(item_id, changes, turn.now, actor_id=turn.member_id)
    except InvalidInput as refused:
        # The form asks the field again with this above it.
        raise Invalid(_not_saved(turn, refused)) from None
    await _show_card(turn, item_id, turn.t("admin.items.edited"))


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
    await _show_card(turn, item_id, intro)


def _home(turn: Turn, draft: Draft) -> Button:
    item_id = draft.context.get("item")
    if isinstance(item_id, int):
        return Button(plain(turn.t("admin.items.back_to_item")), data=callback(CARD_ROUTE, item_id))
    return Button(plain(turn.t("admin.items.back_to_list")), data=LIST_ROUTE)


FORM = Form(
    router,
    name="item",
    route=FORM_ROUTE,
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


@router.button(NEW_ROUTE, admin=True)
async def new_button(turn: Turn, args: tuple[str, ...]) -> None:
    await FORM.start(turn, NEW_ITEM_STEPS, context={"mode": "new"})


@router.button(EDIT_ROUTE, admin=True)
async def edit_button(turn: Turn, args: tuple[str, ...]) -> None:
    """Which field to change."""
    item = await _item(turn, int_arg(args, 0))
    t = turn.t
    buttons = [
        Button(
            plain(_field_label(turn, name)),
            data=callback(EDIT_FIELD_ROUTE, item.item_id, index),
        )
        for index, name in enumerate(EDIT_FIELDS)
    ]
    rows = two_a_row(buttons)
    rows.append(
        (Button(plain(t("admin.items.back_to_item")), data=callback(CARD_ROUTE, item.item_id)),)
    )
    turn.show(admin_screen(turn, t("admin.items.pick_field", title=item.title), tuple(rows)))


def _field_label(turn: Turn, name: str) -> Html:
    """An editable field's button: a text in another language names its language."""
    text, _, language = name.partition(".")
    if language in LANGUAGE_NAMES:
        return _named_in(turn, text, language)
    return label(turn, FIELD_LABELS, name)


@router.button(EDIT_FIELD_ROUTE, admin=True)
async def edit_field_button(turn: Turn, args: tuple[str, ...]) -> None:
    item = await _item(turn, int_arg(args, 0))
    index = int_arg(args, 1)
    fields = list(EDIT_FIELDS)
    if index >= len(fields):
        raise Stale(f"no field {index}")
    context: dict[str, JSON] = {"mode": "edit", "item": item.item_id}
    await FORM.start(turn, EDIT_FIELDS[fields[index]], _values_of(item), context)


@router.button(RESTOCK_ROUTE, admin=True)
async def restock_button(turn: Turn, args: tuple[str, ...]) -> None:
    item = await _item(turn, int_arg(args, 0))
    if item.stock is None:
        raise Stale(f"item {item.item_id} has unlimited stock")
    context: dict[str, JSON] = {"mode": "restock", "item": item.item_id}
    await FORM.start(turn, ["restock"], {"title": item.title, "stock": item.stock}, context)


async def _item(turn: Turn, item_id: int) -> ItemRecord:
    try:
        return await turn.mall.catalog.get_item(item_id)
    except UnknownItem:
        raise Stale(f"no item {item_id}") from None


# --- Deactivating and reactivating -------------------------------------------------------------


@router.button(DEACTIVATE_ROUTE, admin=True)
async def deactivate_button(turn: Turn, args: tuple[str, ...]) -> None:
    """Ask first, saying all it does: switched off, the item is off the shelf *and* out of
    every blind box; to keep it winnable, "prize only" is offered instead (a listed item)."""
    item = await _item(turn, int_arg(args, 0))
    if not item.active:
        await _show_card(turn, item.item_id, turn.t("admin.items.already_inactive"))
        return
    t = turn.t
    yes = Button(
        plain(t("admin.items.deactivate_yes")),
        data=callback(DEACTIVATE_CONFIRM_ROUTE, item.item_id),
    )
    back = Button(plain(t("admin.items.back_to_item")), data=callback(CARD_ROUTE, item.item_id))
    rows: list[tuple[Button, ...]] = [(yes,)]
    if item.listed:
        text = t("admin.items.deactivate_confirm", title=item.title)
        rows.append(
            (
                Button(
                    plain(t("admin.items.prize_only_instead")),
                    data=callback(PRIZE_ONLY_ROUTE, item.item_id),
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


@router.button(DEACTIVATE_CONFIRM_ROUTE, admin=True)
async def deactivate_confirmed(turn: Turn, args: tuple[str, ...]) -> None:
    before = await _item(turn, int_arg(args, 0))
    if not before.active:
        await _show_card(turn, before.item_id, turn.t("admin.items.already_inactive"))
        return
    await turn.mall.catalog.deactivate(before.item_id, turn.now, actor_id=turn.member_id)
    await _show_card(turn, before.item_id, turn.t("admin.items.deactivated"))


@router.button(PRIZE_ONLY_ROUTE, admin=True)
async def prize_only_button(turn: Turn, args: tuple[str, ...]) -> None:
    """Off the shelf but still in its blind boxes: what "take off the shelf" often means."""
    item = await _item(turn, int_arg(args, 0))
    if not item.active or not item.listed:
        await _show_card(turn, item.item_id)  # switched off or a prize only meanwhile
        return
    await turn.mall.catalog.edit_item(
        item.item_id, {"listed": False}, turn.now, actor_id=turn.member_id
    )
    await _show_card(turn, item.item_id, turn.t("admin.items.made_prize_only"))


@router.button(REACTIVATE_ROUTE, admin=True)
async def reactivate_button(turn: Turn, args: tuple[str, ...]) -> None:
    item = await _item(turn, int_arg(args, 0))
    if item.active:
        await _show_card(turn, item.item_id)
        return
    await turn.mall.catalog.edit_item(
        item.item_id, {"active": True}, turn.now, actor_id=turn.member_id
    )
    done = "admin.items.reactivated" if item.listed else "admin.items.reactivated_prize"
    await _show_card(turn, item.item_id, turn.t(done))


# --- Files: the catalog and coupon codes ---------------------------------------------------------


def _cancel_file(turn: Turn, item_id: int | None = None) -> tuple[Button, ...]:
    data = callback(CANCEL_FILE_ROUTE, item_id) if item_id else CANCEL_FILE_ROUTE
    return (Button(plain(turn.t("admin.items.form.cancel")), data=data),)


async def _ask_file(
    turn: Turn, kind: str, data: Mapping[str, JSON], text: Html, item_id: int | None = None
) -> None:
    await turn.mall.inputs.expect(turn.member_id, kind, data, turn.now, ANSWER_TTL)
    turn.show(admin_screen(turn, text, (_cancel_file(turn, item_id),)))


@router.button(CANCEL_FILE_ROUTE, admin=True)
async def cancel_file_button(turn: Turn, args: tuple[str, ...]) -> None:
    pending = await turn.mall.inputs.peek(turn.member_id, turn.now)
    if pending is not None and pending.kind in (CODES_KIND, CATALOG_KIND):
        await turn.mall.inputs.clear(turn.member_id)
    intro = turn.t("admin.items.form.cancelled")
    if args:
        await _show_card(turn, int_arg(args, 0), intro)
    else:
        turn.show(await _list_screen(turn, 0, intro))


@router.button(CATALOG_ROUTE, admin=True)
async def catalog_button(turn: Turn, args: tuple[str, ...]) -> None:
    text = turn.t("admin.items.catalog.ask", limit=_kb(CATALOG_MAX_BYTES))
    await _ask_file(turn, CATALOG_KIND, {}, text)


@router.upload(CATALOG_KIND, admin=True)
async def catalog_upload(turn: Turn, upload: Upload, data: Mapping[str, JSON]) -> None:
    t = turn.t
    content = await _fetch(turn, upload, (".toml",), CATALOG_MAX_BYTES)
    if content is None:
        await _ask_file(
            turn, CATALOG_KIND, {}, _refusal(turn, upload, (".toml",), CATALOG_MAX_BYTES)
        )
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await _ask_file(turn, CATALOG_KIND, {}, t("admin.items.file.not_utf8"))
        return
    try:
        report = await load_catalog_text(
            turn.mall.db,
            turn.mall.config,
            text,
            turn.now,
            languages=SPOKEN,
            actor_id=turn.sender.user_id,
            filename=upload.filename,
        )
    except CatalogError as error:
        await _ask_file(
            turn,
            CATALOG_KIND,
            {},
            _problems_text(
                turn,
                t("admin.items.catalog.invalid", count=t.number(len(error.problems))),
                error.problems,
            ),
        )
        return
    intro = t(
        "admin.items.catalog.loaded",
        created=t.number(report.items_created),
        updated=t.number(report.items_updated),
        unchanged=t.number(report.items_unchanged),
        codes=t.number(report.codes_added),
        boxes_created=t.number(report.boxes_created),
        boxes_updated=t.number(report.boxes_updated),
    )
    if report.tasks_created or report.tasks_updated:
        tasks = t(
            "admin.tasks.loaded",
            created=t.number(report.tasks_created),
            updated=t.number(report.tasks_updated),
            unchanged=t.number(report.tasks_unchanged),
        )
        intro = Html("\n".join([intro, tasks, *await channel_warnings(turn)]))
    if report.warnings:
        # Loaded, but some of it cannot work as written: said now, not found out by members.
        heading = t("admin.items.catalog.warnings", count=t.number(len(report.warnings)))
        intro = Html("\n".join([intro, "", *_problem_lines(turn, heading, report.warnings)]))
    turn.show(await _list_screen(turn, 0, intro))


@router.button(CODES_ROUTE, admin=True)
async def codes_button(turn: Turn, args: tuple[str, ...]) -> None:
    item = await _item(turn, int_arg(args, 0))
    t = turn.t
    if item.kind != "coupon":
        await _show_card(turn, item.item_id, t("admin.items.codes.not_coupon", title=item.title))
        return
    text = t(
        "admin.items.codes.ask",
        title=item.title,
        limit=_kb(CODES_MAX_BYTES),
        most=t.number(CODES_MAX),
    )
    await _ask_file(turn, CODES_KIND, {"item": item.item_id}, text, item.item_id)


@router.upload(CODES_KIND, admin=True)
async def codes_upload(turn: Turn, upload: Upload, data: Mapping[str, JSON]) -> None:
    item_id = data.get("item")
    if not isinstance(item_id, int):
        raise Stale("codes question without an item")
    item = await _item(turn, item_id)
    t = turn.t
    kinds = (".txt", ".csv")
    if item.kind != "coupon":
        await _show_card(turn, item_id, t("admin.items.codes.not_coupon", title=item.title))
        return

    async def again(problem: Html) -> None:
        await _ask_file(turn, CODES_KIND, {"item": item_id}, problem, item_id)

    content = await _fetch(turn, upload, kinds, CODES_MAX_BYTES)
    if content is None:
        await again(_refusal(turn, upload, kinds, CODES_MAX_BYTES))
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await again(t("admin.items.file.not_utf8"))
        return
    lines = read_code_lines(text, first_cell=upload.filename.lower().endswith(".csv"))
    if lines.problems:
        await again(
            _problems_text(
                turn,
                t("admin.items.codes.invalid", count=t.number(len(lines.problems))),
                lines.problems,
            )
        )
        return
    if not lines.codes:
        await again(t("admin.items.codes.empty"))
        return
    if len(lines.codes) > CODES_MAX:
        await again(
            t(
                "admin.items.codes.too_many",
                count=t.number(len(lines.codes)),
                most=t.number(CODES_MAX),
            )
        )
        return
    try:
        added = await turn.mall.catalog.load_codes(
            item_id, lines.codes, actor_id=turn.sender.user_id, now=turn.now
        )
    except InvalidState:
        await _show_card(turn, item_id, t("admin.items.codes.not_coupon", title=item.title))
        return
    after = (await _item(turn, item_id)).free_codes or 0
    parts: list[str] = [
        t(
            "admin.items.codes.loaded",
            added=t.number(added),
            known=t.number(len(lines.codes) - added),
            left=t.number(after),
        )
    ]
    if lines.blank:
        parts.append(t("admin.items.codes.blank", count=t.number(lines.blank)))
    if lines.repeats:
        shown = ", ".join(lines.repeats[:REPEATS_SHOWN])
        more = len(lines.repeats) - REPEATS_SHOWN
        parts.append(
            t("admin.items.codes.repeats", count=t.number(len(lines.repeats)), codes=shown)
            + (t("admin.items.and_more", count=t.number(more)) if more > 0 else "")
        )
    await _show_card(turn, item_id, Html("\n".join(parts)))


async def _fetch(turn: Turn, upload: Upload, suffixes: Sequence[str], limit: int) -> bytes | None:
    """The file's bytes if it has one of ``suffixes`` and is at most ``limit`` bytes.

    Type and size are checked before the file is fetched; a size Telegram did not say is
    checked once fetched.
    """
    if not upload.filename.lower().endswith(tuple(suffixes)) or upload.size > limit:
        return None
    content = await upload.fetch()
    return content if len(content) <= limit else None


def _refusal(turn: Turn, upload: Upload, suffixes: Sequence[str], limit: int) -> Html:
    t = turn.t
    if not upload.filename.lower().endswith(tuple(suffixes)):
        return t("admin.items.file.wrong_type", name=upload.filename, types=", ".join(suffixes))
    return t("admin.items.file.too_large", name=upload.filename, limit=_kb(limit))


def _problems_text(turn: Turn, heading: Html, problems: Sequence[CatalogProblem]) -> Html:
    lines = _problem_lines(turn, heading, problems)
    lines.append(turn.t("admin.items.nothing_changed"))
    return Html("\n".join(lines))


def _problem_lines(turn: Turn, heading: Html, problems: Sequence[CatalogProblem]) -> list[str]:
    """``heading``, then the first problems (or warnings) each where it is, and how many more."""
    t = turn.t
    lines: list[str] = [heading]
    for problem in problems[:PROBLEMS_SHOWN]:
        message = f"{problem.where}: {problem.message}" if problem.where else problem.message
        if problem.line:
            lines.append(t("admin.items.problem.line", line=problem.line, message=message))
        else:
            lines.append(t("admin.items.problem", message=message))
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(t("admin.items.and_more", count=t.number(len(problems) - PROBLEMS_SHOWN)))
    return lines


def _kb(limit: int) -> str:
    return f"{limit // 1024} KB"


# --- Shelves: their names in other languages ----------------------------------------------------


@router.button(SHELVES_ROUTE, admin=True)
async def shelves_button(turn: Turn, args: tuple[str, ...]) -> None:
    turn.show(await _shelves_screen(turn))


async def _shelves_screen(turn: Turn, intro: Html | None = None) -> Screen:
    """Every shelf with its names in other languages; a shelf's button asks them again (a
    shelf is named by its place in this list: callback data is too short for a name)."""
    t = turn.t
    shelves = await turn.mall.catalog.shelves()
    lines = [*([intro, ""] if intro else []), t("admin.shelves.title")]
    if not shelves:
        lines.append(t("admin.shelves.none"))
    rows: list[tuple[Button, ...]] = []
    for index, shelf in enumerate(shelves):
        names = [shelf.names[language] for language in OTHER_LANGUAGES if shelf.names.get(language)]
        shown = " · ".join([shelf.name, *names])
        rows.append((Button(shorten(shown, 60), data=callback(SHELF_ROUTE, index)),))
    rows.append((Button(plain(t("admin.shelves.back")), data=LIST_ROUTE),))
    return admin_screen(turn, Html("\n".join(lines)), tuple(rows))


@router.button(SHELF_ROUTE, admin=True)
async def shelf_button(turn: Turn, args: tuple[str, ...]) -> None:
    index = int_arg(args, 0)
    shelves = await turn.mall.catalog.shelves()
    if not 0 <= index < len(shelves):
        raise Stale(f"no shelf {index}")
    shelf = shelves[index]
    values: dict[str, JSON] = {
        _in("name", language): shelf.names.get(language, "") for language in OTHER_LANGUAGES
    }
    await SHELF_FORM.start(turn, None, values, {"shelf": shelf.name})


def _shelf_of(draft: Draft) -> str:
    name = draft.context.get("shelf")
    if not isinstance(name, str):
        raise Stale("shelf form without a shelf")
    return name


def _ask_shelf_in(language: str) -> Question:
    def question(turn: Turn, draft: Draft) -> Html:
        t = turn.t
        current = draft.values.get(_in("name", language))
        now = (
            t("admin.shelves.now", name=current)
            if isinstance(current, str) and current
            else t("admin.shelves.now_none")
        )
        return t(
            "admin.shelves.ask",
            shelf=_shelf_of(draft),
            language=LANGUAGE_NAMES[language],
            current=now,
        )

    return question


def _shelf_label(language: str) -> Label:
    return lambda turn: turn.t("admin.shelves.field", language=LANGUAGE_NAMES[language])


async def _shelf_name_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=SHELF_NAME_MAX)


async def _shelf_summary(turn: Turn, draft: Draft) -> Html | None:
    """Saved at once: each name is one answer."""
    return None


async def _save_shelf(turn: Turn, draft: Draft) -> None:
    name = _shelf_of(draft)
    names = {
        language: value
        for language in OTHER_LANGUAGES
        if isinstance(value := draft.values.get(_in("name", language)), str) and value
    }
    try:
        await turn.mall.catalog.set_shelf_names(name, names, turn.now, actor_id=turn.member_id)
    except InvalidInput as refused:
        raise Invalid(turn.t("admin.items.not_saved", problems=str(refused))) from None
    turn.show(await _shelves_screen(turn, turn.t("admin.shelves.saved", shelf=name)))


def _shelf_home(turn: Turn, draft: Draft) -> Button:
    return Button(plain(turn.t("admin.shelves.back_to_shelves")), data=SHELVES_ROUTE)


SHELF_FORM = Form(
    router,
    name="shelf",
    route=SHELF_FORM_ROUTE,
    kind=SHELF_FORM_KIND,
    steps=tuple(
        Step(
            _in("name", language),
            _ask_shelf_in(language),
            parse=_shelf_name_answer,
            skip="",
            skip_label=lambda turn: turn.t("admin.shelves.clear"),
            label=_shelf_label(language),
        )
        for language in OTHER_LANGUAGES
    ),
    summary=_shelf_summary,
    save=_save_shelf,
    home=_shelf_home,
)
