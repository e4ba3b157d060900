"""Blind boxes from the chat: creating one, its price, opening and closing it, its prize table,
and rotating its seed.

The section (``abx``) lists the boxes, with "New box" (a form: title, its title in each other
language, a description and it in each other language, all but the title optional, then price;
the box is saved closed, with only a prize that gives nothing, so the admin types its prizes on
its card and then opens it). A box's card (``abv``) has its price (a one-question form), Texts
(its title and description again, in each language; a text skipped in another language is read
in the default one), Open or Close (members can open a box only while it is open; its seed,
draws and counters stay while it is closed), and shows its prizes with their true odds now,
the expected payout per box against its price, and the seed commitment members can check
draws against. "Edit prizes" takes the whole table typed, one prize a line::

    Fifty points: points 50 weight 30
    Golden mug: item golden-mug weight 1 stock 3 rare
    coupon latte-coupon weight 5
    nothing weight 64

A line is ``[name[ / 中文名]:] kind [value] weight N [stock N] [rare]``; kinds are
``points N``, ``item SKU``, ``coupon SKU``, ``consolation [N]`` and ``nothing``; a line without
a name gets one from what it gives. The name may be followed by `` / `` and the name members
reading the other languages (:data:`OTHER_LANGUAGES`, in order) see (``Golden mug / 金杯:``);
without it they read the default name. Prizes are matched to the box's by name (a prize left
out leaves the draw). The odds and expected value the table would give are shown before it is
saved; a bad line is refused with its number. "Rotate seed" reveals the seed that signed the
draws so far (with its commitment, so anyone can verify them) and publishes the next one's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from babel.numbers import format_decimal

from bot.callback_data import CallbackData, Id, Ints
from bot.content import SPOKEN
from bot.features.admin_forms import (
    Draft,
    Form,
    FormPress,
    Invalid,
    Step,
    text_answer,
    whole_number,
)
from bot.features.admin_screens import admin_screen, label
from bot.features.box_odds_texts import odds_places, percent
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES, Html, plain
from bot.router import Router, Stale
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import InvalidInput, UnknownBox, UnknownItem
from core.games import box_authoring, box_odds
from core.games.blind_boxes import BoxView
from core.games.box_authoring import PrizeSpec
from core.games.box_odds import PrizeOdds, PrizeTable
from core.membership.pending_inputs import JSON

router = Router()

LIST_ROUTE = "abx"
CARD_ROUTE = "abv"
EDIT_ROUTE = "abe"
ROTATE_ROUTE = "abr"
ROTATE_CONFIRM_ROUTE = "abk"
FORM_ROUTE = "abf"
FORM_KIND = "admin.box.form"
NEW_ROUTE = "abn"
PRICE_ROUTE = "abp"
OPEN_ROUTE = "abo"
TERMS_ROUTE = "abq"
TERMS_KIND = "admin.box.terms"
TEXTS_ROUTE = "abt"


class AdminBoxes(CallbackData, route=LIST_ROUTE):
    """Every blind box, for the admin."""


class AdminBoxCard(CallbackData, route=CARD_ROUTE):
    """One box's card: terms, odds, seed."""

    box_id: Id


class EditPrizes(CallbackData, route=EDIT_ROUTE):
    """The prize table form of a box."""

    box_id: Id


class AskRotateSeed(CallbackData, route=ROTATE_ROUTE):
    """Rotate a box's seed? (asks first)."""

    box_id: Id


class RotateSeed(CallbackData, route=ROTATE_CONFIRM_ROUTE):
    """Yes, reveal seed ``version`` and draw with a new one (once: the version says which)."""

    box_id: Id
    version: Id


class PrizesForm(FormPress, route=FORM_ROUTE):
    """A button of the prize table form."""


class NewBox(CallbackData, route=NEW_ROUTE):
    """The form of a new box."""


class EditPrice(CallbackData, route=PRICE_ROUTE):
    """A box's price, asked again."""

    box_id: Id


class SetBoxOpen(CallbackData, route=OPEN_ROUTE):
    """Open (``state`` 1) or close (0) a box to members."""

    box_id: Id
    state: Annotated[int, Ints(0, 1)]


class TermsForm(FormPress, route=TERMS_ROUTE):
    """A button of the box terms form (title, texts, price)."""


class EditTexts(CallbackData, route=TEXTS_ROUTE):
    """A box's title and description, in each language, asked again."""

    box_id: Id


TITLE_MAX = 200
DESCRIPTION_MAX = 800
# The languages a box's title and description and a prize's name may also be given in, besides
# the default text (which members of any other language read).
OTHER_LANGUAGES = tuple(language for language in SPOKEN if language != DEFAULT_LANGUAGE)
MAX_PRIZES = 40
TABLE_MAX_CHARS = 3000

# Words of a prize line, in English and Chinese.
_KINDS: Mapping[str, str] = {
    "points": "points",
    "积分": "points",
    "item": "item",
    "商品": "item",
    "coupon": "coupon",
    "优惠券": "coupon",
    "consolation": "consolation",
    "安慰奖": "consolation",
    "nothing": "nothing",
    "谢谢参与": "nothing",
}
_WEIGHT = frozenset({"weight", "权重"})
_STOCK = frozenset({"stock", "库存"})
_RARE = frozenset({"rare", "稀有"})
_NUMBER = re.compile(r"\d{1,12}")

# Why a weighted prize is out of the draw, by core's reason (prizes of weight 0 are not shown).
OUT_REASONS: Mapping[str, str] = {
    box_odds.ALL_WON: "admin.boxes.out.all_won",
    box_odds.NO_ITEM: "admin.boxes.out.no_item",
    box_odds.ITEM_INACTIVE: "admin.boxes.out.item_inactive",
    box_odds.NO_CODES: "admin.boxes.out.no_codes",
    box_odds.ITEM_SOLD_OUT: "admin.boxes.out.item_sold_out",
}


# --- The list and the card ----------------------------------------------------------------------


@router.button(AdminBoxes, admin=True)
async def list_button(turn: Turn, pressed: AdminBoxes) -> None:
    t = turn.t
    boxes = await turn.mall.boxes.list_boxes()
    rows = tuple(
        (
            Button(
                plain(
                    t(
                        "admin.boxes.line",
                        mark="✅" if box.active else "⏸",
                        title=box.title,
                        price=t.points(box.price_points),
                    )
                ),
                data=AdminBoxCard(box.box_id).pack(),
            ),
        )
        for box in boxes
    )
    rows += ((Button(plain(t("admin.boxes.new")), data=NewBox().pack()),),)
    text = t("admin.boxes.title") if boxes else t("admin.boxes.none")
    turn.show(admin_screen(turn, text, rows))


@router.button(AdminBoxCard, admin=True)
async def card_button(turn: Turn, pressed: AdminBoxCard) -> None:
    turn.show(await _card(turn, pressed.box_id))


async def _card(turn: Turn, box_id: int, intro: Html | None = None) -> Screen:
    t = turn.t
    try:
        box = await turn.mall.boxes.describe(box_id, turn.member_id, turn.now)
        table = await turn.mall.boxes.prize_table(box_id)
    except (UnknownBox, InvalidInput):
        raise Stale(f"no box {box_id}") from None
    lines = [*([intro, ""] if intro else [])]
    lines.append(t("admin.boxes.card.title", title=box.title, sku=box.sku))
    for language in OTHER_LANGUAGES:
        if box.titles.get(language):
            lines.append(
                t(
                    "admin.boxes.card.title_in",
                    language=LANGUAGE_NAMES[language],
                    title=box.titles[language],
                )
            )
    lines.append(t("admin.boxes.card.price", price=t.points(box.price_points)))
    lines.append(t("admin.boxes.card.active") if box.active else t("admin.boxes.card.inactive"))
    if box.pity_after is not None:
        lines.append(t("admin.boxes.card.pity", draws=t.number(box.pity_after)))
    lines.append(t("admin.boxes.card.seed", version=box.seed_version, seed_hash=box.seed_hash))
    lines += ["", *_odds_lines(turn, table)]
    current = await _table_lines(turn, table.prizes)
    if current:
        lines += ["", t("admin.boxes.card.as_lines", lines="\n".join(current))]
    # The button carries the state it sets: a second tap sets it again, changing nothing.
    switch = (
        Button(plain(t("admin.boxes.close")), data=SetBoxOpen(box_id, 0).pack())
        if box.active
        else Button(plain(t("admin.boxes.open")), data=SetBoxOpen(box_id, 1).pack())
    )
    rows = (
        (
            Button(plain(t("admin.boxes.edit")), data=EditPrizes(box_id).pack()),
            Button(plain(t("admin.boxes.price")), data=EditPrice(box_id).pack()),
        ),
        (
            Button(plain(t("admin.boxes.texts")), data=EditTexts(box_id).pack()),
            switch,
        ),
        (Button(plain(t("admin.boxes.rotate")), data=AskRotateSeed(box_id).pack()),),
        (Button(plain(t("admin.boxes.back_to_list")), data=AdminBoxes().pack()),),
    )
    return admin_screen(turn, Html("\n".join(lines)), rows)


def _odds_lines(turn: Turn, table: PrizeTable) -> list[str]:
    """Each prize with its chance, then what a box pays out on average against its price."""
    t = turn.t
    lines: list[str] = [t("admin.boxes.odds.title")]
    guarantee = table.pity_after is not None and table.rare_weight > 0
    # Every chance with the same decimals, as the members' screen shows them.
    drawn = [prize.weight for prize in table.prizes if prize.available]
    places = odds_places(drawn, table.total_weight) if table.total_weight > 0 else 0
    for prize in table.prizes:
        if not prize.available:
            # Weighted but never drawn as things stand, and why; prizes left out (weight 0) are
            # not shown.
            if prize.weight > 0:
                reason = label(turn, OUT_REASONS, prize.out_reason or "")
                lines.append(
                    t("admin.boxes.odds.out", name=prize.name, what=_what(turn, prize), why=reason)
                )
            continue
        line: str = t(
            "admin.boxes.odds.line",
            name=prize.name,
            what=_what(turn, prize),
            weight=t.number(prize.weight),
            chance=percent(t, prize.weight, table.total_weight, places),
        )
        if guarantee and prize.rare:
            line += t(
                "admin.boxes.odds.guaranteed", chance=_percent(turn, prize.guaranteed_probability)
            )
        lines.append(line)
    if table.total_weight <= 0:
        lines.append(t("admin.boxes.odds.nothing_drawable"))
        return lines
    if table.pity_after is not None and not guarantee:
        lines.append(t("admin.boxes.odds.guarantee_paused"))
    per_box = table.expected_value * table.price_points
    lines.append(
        t(
            "admin.boxes.odds.expected",
            value=_decimal(turn, per_box),
            price=t.points(table.price_points),
            percent=_percent(turn, table.expected_value),
        )
    )
    if table.pays_out_more_than_it_takes:
        lines.append(t("admin.boxes.odds.costs_the_mall"))
    return lines


def _what(turn: Turn, prize: PrizeOdds) -> Html:
    t = turn.t
    if prize.kind == "points":
        return t.points(prize.points or 0)
    if prize.kind in ("item", "coupon"):
        title = prize.item_title or "?"
        if prize.kind == "coupon":
            return t("admin.boxes.what.coupon", title=title)
        return t("admin.boxes.what.item", title=title)
    if prize.points:
        return t("admin.boxes.what.consolation_points", points=t.points(prize.points))
    return t("admin.boxes.what.nothing")


def _percent(turn: Turn, ratio: Decimal) -> str:
    return format_decimal(ratio * 100, format="#,##0.##", locale=turn.t.locale) + "%"


def _decimal(turn: Turn, value: Decimal) -> str:
    return format_decimal(value, format="#,##0.##", locale=turn.t.locale)


async def _table_lines(turn: Turn, prizes: Sequence[PrizeOdds]) -> list[str]:
    """The prizes in the draw as lines of the typed format, to copy and edit."""
    skus: dict[int, str] = {}
    for prize in prizes:
        if prize.weight > 0 and prize.item_id is not None and prize.item_id not in skus:
            try:
                skus[prize.item_id] = (await turn.mall.catalog.get_item(prize.item_id)).sku
            except UnknownItem:
                continue
    return box_authoring.prize_lines(prizes, skus, OTHER_LANGUAGES)


# --- Editing the prize table ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Line:
    """A prize as typed: where, and what it says (the item by sku, not yet looked up)."""

    number: int
    name: str | None
    names: Mapping[str, str]
    kind: str
    points: int | None
    sku: str | None
    weight: int
    stock: int | None
    rare: bool


def read_prize_lines(text: str) -> tuple[list[_Line], list[tuple[int, str]]]:
    """Prize lines and the problems found, as (line number, problem code)."""
    lines: list[_Line] = []
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        line = _read_line(number, raw.strip())
        if isinstance(line, str):
            problems.append((number, line))
        else:
            lines.append(line)
    return lines, problems


# What is wrong with a prize line, by :func:`_read_line`'s code.
LINE_PROBLEMS = {
    "name": "admin.boxes.bad.name",
    "kind": "admin.boxes.bad.kind",
    "points": "admin.boxes.bad.points",
    "sku": "admin.boxes.bad.sku",
    "word": "admin.boxes.bad.word",
    "weight": "admin.boxes.bad.weight",
}


def _read_line(number: int, raw: str) -> _Line | str:
    """One prize line, or the code of what is wrong with it (see :data:`LINE_PROBLEMS`)."""
    name: str | None = None
    names: dict[str, str] = {}
    if ":" in raw:
        head, raw = raw.split(":", 1)
        # "Golden mug / 金杯": the default name, then the names in the other languages.
        parts = [part.strip() for part in head.split("/")]
        name = parts[0]
        if not name or len(parts) > 1 + len(OTHER_LANGUAGES):
            return "name"
        names = {
            language: part
            for language, part in zip(OTHER_LANGUAGES, parts[1:], strict=False)
            if part
        }
    words = raw.split()
    if not words or words[0].casefold() not in _KINDS:
        return "kind"
    kind = _KINDS[words[0].casefold()]
    rest = words[1:]
    points: int | None = None
    sku: str | None = None
    if kind == "points" or (kind == "consolation" and rest and _NUMBER.fullmatch(rest[0])):
        if not rest or not _NUMBER.fullmatch(rest[0]) or int(rest[0]) < 1:
            return "points"
        points, rest = int(rest[0]), rest[1:]
    elif kind in ("item", "coupon"):
        if not rest or rest[0].casefold() in _WEIGHT:
            return "sku"
        sku, rest = rest[0], rest[1:]
    weight: int | None = None
    stock: int | None = None
    rare = False
    while rest:
        word = rest[0].casefold()
        if word in _RARE:
            rare, rest = True, rest[1:]
        elif word in _WEIGHT | _STOCK and len(rest) > 1 and _NUMBER.fullmatch(rest[1]):
            if word in _WEIGHT:
                weight = int(rest[1])
            else:
                stock = int(rest[1])
            rest = rest[2:]
        else:
            return "word"
    if weight is None:
        return "weight"
    if kind == "nothing":
        kind = "consolation"
    return _Line(number, name, names, kind, points, sku, weight, stock, rare)


async def _parse_table(turn: Turn, text: str, draft: Draft) -> JSON:
    """The typed table as prize specs, checked against the items and the box; or Invalid."""
    t = turn.t
    box_id = _box_of(draft)
    if len(text) > TABLE_MAX_CHARS:
        raise Invalid(t("admin.items.form.too_long", limit=TABLE_MAX_CHARS, length=len(text)))
    lines, problems = read_prize_lines(text)
    messages: list[str] = [
        t("admin.boxes.bad.line", line=number, problem=label(turn, LINE_PROBLEMS, code))
        for number, code in problems
    ]
    if len(lines) + len(problems) > MAX_PRIZES:
        raise Invalid(t("admin.boxes.bad.too_many", most=MAX_PRIZES))
    specs: list[dict[str, JSON]] = []
    names: dict[str, int] = {}
    for line in lines:
        spec = await _spec(turn, line, messages)
        if spec is None:
            continue
        name = str(spec["name"])
        if name.casefold() in names:
            messages.append(
                t(
                    "admin.boxes.bad.line",
                    line=line.number,
                    problem=t("admin.boxes.bad.same_name", name=name, other=names[name.casefold()]),
                )
            )
            continue
        names[name.casefold()] = line.number
        specs.append(spec)
    if messages:
        raise Invalid(Html("\n".join([t("admin.boxes.bad.title"), *messages])))
    if not specs:
        raise Invalid(t("admin.boxes.bad.empty"))
    if sum(int(str(spec["weight"])) for spec in specs) <= 0:
        raise Invalid(t("admin.boxes.bad.zero_weights"))
    try:
        await turn.mall.boxes.preview_prizes(box_id, _prize_specs(specs))
    except InvalidInput as refused:
        raise Invalid(_refusal_line(turn, refused, specs)) from None
    return list[JSON](specs)


async def _spec(turn: Turn, line: _Line, messages: list[str]) -> dict[str, JSON] | None:
    """The line as a prize spec (its item looked up by sku), or None with the problem noted."""
    t = turn.t
    item_id: int | None = None
    title = ""
    if line.sku is not None:
        try:
            item = await turn.mall.catalog.get_item_by_sku(line.sku)
        except UnknownItem:
            problem = t("admin.boxes.bad.no_item", sku=line.sku)
            messages.append(t("admin.boxes.bad.line", line=line.number, problem=problem))
            return None
        if (item.kind == "coupon") != (line.kind == "coupon"):
            if line.kind == "coupon":
                problem = t("admin.boxes.bad.not_coupon", sku=line.sku)
            else:
                problem = t("admin.boxes.bad.is_coupon", sku=line.sku)
            messages.append(t("admin.boxes.bad.line", line=line.number, problem=problem))
            return None
        item_id, title = item.item_id, item.title
    name = line.name or _default_name(turn, line, title)
    if len(name) > 100 or any(len(other) > 100 for other in line.names.values()):
        messages.append(
            t("admin.boxes.bad.line", line=line.number, problem=t("admin.boxes.bad.name"))
        )
        return None
    return {
        "line": line.number,
        "name": name,
        "names": dict(line.names),
        "kind": line.kind,
        "weight": line.weight,
        "points": line.points,
        "item_id": item_id,
        "stock": line.stock,
        "rare": line.rare,
    }


def _default_name(turn: Turn, line: _Line, title: str) -> str:
    t = turn.t
    if line.kind in ("item", "coupon"):
        return title[:100]
    if line.points:
        if line.kind == "points":
            return plain(t("admin.boxes.default_name.points", points=line.points))
        return plain(t("admin.boxes.default_name.consolation", points=line.points))
    return plain(t("admin.boxes.default_name.nothing"))


def _prize_specs(specs: Sequence[Mapping[str, JSON]]) -> list[PrizeSpec]:
    def number(value: JSON) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def texts(value: JSON) -> dict[str, str]:
        if not isinstance(value, dict):
            return {}
        return {key: text for key, text in value.items() if isinstance(text, str) and text}

    return [
        PrizeSpec(
            name=str(spec["name"]),
            kind=str(spec["kind"]),
            weight=number(spec["weight"]) or 0,
            points=number(spec.get("points")),
            item_id=number(spec.get("item_id")),
            stock=number(spec.get("stock")),
            rare=spec.get("rare") is True,
            names=texts(spec.get("names")),
        )
        for spec in specs
    ]


def _refusal_line(turn: Turn, refused: InvalidInput, specs: Sequence[Mapping[str, JSON]]) -> Html:
    """Core's refusal of the table, pointed at the typed line of the prize it names."""
    t = turn.t
    field = str(refused.details.get("field", ""))
    match = re.match(r"prizes\[(\d+)\]", field)
    if match and int(match[1]) < len(specs):
        return t("admin.boxes.bad.line", line=specs[int(match[1])]["line"], problem=str(refused))
    if refused.details.get("reason") == "zero_weights":
        return t("admin.boxes.bad.zero_weights")
    return t("admin.boxes.bad.other", problem=str(refused))


def _box_of(draft: Draft) -> int:
    box_id = draft.context.get("box")
    if isinstance(box_id, bool) or not isinstance(box_id, int):
        raise Stale("box form without a box")
    return box_id


def _specs_of(draft: Draft) -> list[PrizeSpec]:
    specs = draft.values.get("prizes")
    if not isinstance(specs, list) or not all(isinstance(spec, dict) for spec in specs):
        raise Stale("box form without prizes")
    return _prize_specs([spec for spec in specs if isinstance(spec, dict)])


async def _preview(turn: Turn, draft: Draft) -> Html | None:
    t = turn.t
    table = await turn.mall.boxes.preview_prizes(_box_of(draft), _specs_of(draft))
    return Html(
        "\n".join(
            [
                t("admin.boxes.preview.title"),
                *_odds_lines(turn, table),
                "",
                t("admin.boxes.preview.save"),
            ]
        )
    )


async def _save(turn: Turn, draft: Draft) -> None:
    box_id = _box_of(draft)
    specs = _specs_of(draft)
    await turn.mall.boxes.set_prizes(
        box_id,
        specs,
        turn.now,
        actor_id=turn.sender.user_id,
        other_languages=OTHER_LANGUAGES,
    )
    turn.show(await _card(turn, box_id, turn.t("admin.boxes.saved")))


def _home(turn: Turn, draft: Draft) -> Button:
    return Button(
        plain(turn.t("admin.boxes.back_to_box")), data=AdminBoxCard(_box_of(draft)).pack()
    )


FORM = Form(
    router,
    name="box",
    press=PrizesForm,
    kind=FORM_KIND,
    steps=(
        Step(
            "prizes",
            lambda turn, draft: turn.t(
                "admin.boxes.ask.prizes", title=draft.context.get("title"), most=MAX_PRIZES
            ),
            parse=_parse_table,
        ),
    ),
    summary=_preview,
    save=_save,
    home=_home,
)


@router.button(EditPrizes, admin=True)
async def edit_button(turn: Turn, pressed: EditPrizes) -> None:
    box_id = pressed.box_id
    title = await _title(turn, box_id)
    await FORM.start(turn, context={"box": box_id, "title": title})


async def _title(turn: Turn, box_id: int) -> str:
    for box in await turn.mall.boxes.list_boxes():
        if box.box_id == box_id:
            return box.title
    raise Stale(f"no box {box_id}")


# --- Rotating the seed ---------------------------------------------------------------------------


@router.button(AskRotateSeed, admin=True)
async def rotate_button(turn: Turn, pressed: AskRotateSeed) -> None:
    box_id = pressed.box_id
    box = await _described(turn, box_id)
    t = turn.t
    rows = (
        (
            Button(
                plain(t("admin.boxes.rotate_yes")),
                data=RotateSeed(box_id, box.seed_version).pack(),
            ),
            Button(plain(t("admin.boxes.back_to_box")), data=AdminBoxCard(box_id).pack()),
        ),
    )
    text = t("admin.boxes.rotate_confirm", title=box.title, version=box.seed_version)
    turn.show(admin_screen(turn, text, rows))


@router.button(RotateSeed, admin=True)
async def rotate_confirmed(turn: Turn, pressed: RotateSeed) -> None:
    """Rotate once: the button names the seed it reveals, so a second press rotates nothing."""
    box_id, version = pressed.box_id, pressed.version
    box = await _described(turn, box_id)
    if box.seed_version != version:
        raise Stale(f"box {box_id} seed {version} already rotated")
    rotation = await turn.mall.boxes.rotate_seed(box_id, turn.now, actor_id=turn.sender.user_id)
    t = turn.t
    text = t(
        "admin.boxes.rotated",
        title=box.title,
        old_version=rotation.old_version,
        seed=rotation.revealed_seed,
        old_hash=rotation.old_hash,
        new_version=rotation.new_version,
        new_hash=rotation.new_hash,
    )
    rows = ((Button(plain(t("admin.boxes.back_to_box")), data=AdminBoxCard(box_id).pack()),),)
    turn.show(admin_screen(turn, text, rows))


async def _described(turn: Turn, box_id: int) -> BoxView:
    try:
        return await turn.mall.boxes.describe(box_id, turn.member_id, turn.now)
    except (UnknownBox, InvalidInput):
        raise Stale(f"no box {box_id}") from None


# --- A new box, its price, opening and closing it -----------------------------------------------


def _in(text: str, language: str) -> str:
    """The form step asking ``text`` (``title``, ``description``) in ``language``."""
    return f"{text}.{language}"


# The steps asking the box's texts, in the order asked: each default text, then it in the other
# languages.
TEXT_STEPS = (
    "title",
    *(_in("title", language) for language in OTHER_LANGUAGES),
    "description",
    *(_in("description", language) for language in OTHER_LANGUAGES),
)


async def _title_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=TITLE_MAX)


async def _description_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    return text_answer(turn, text, max_length=DESCRIPTION_MAX)


async def _price_answer(turn: Turn, text: str, draft: Draft) -> JSON:
    return whole_number(turn, text, low=1)


def _editing(draft: Draft) -> bool:
    box_id = draft.context.get("box")
    return isinstance(box_id, int) and not isinstance(box_id, bool)


def _current(turn: Turn, draft: Draft) -> Html:
    """What the text asked holds now, when editing a box's texts ("" for a new box)."""
    if not _editing(draft) or draft.done:
        return Html("")
    value = draft.values.get(draft.steps[draft.at])
    if not isinstance(value, str) or not value:
        return turn.t("admin.boxes.ask.now_none")
    return turn.t("admin.boxes.ask.now", text=value)


def _title_question(turn: Turn, draft: Draft) -> Html:
    if _editing(draft):
        return turn.t("admin.boxes.ask.edit_title", current=_current(turn, draft))
    return turn.t("admin.boxes.ask.title")


def _description_question(turn: Turn, draft: Draft) -> Html:
    return turn.t("admin.boxes.ask.description", current=_current(turn, draft))


def _ask_in(text: str, language: str) -> Callable[[Turn, Draft], Html]:
    name = LANGUAGE_NAMES[language]

    def question(turn: Turn, draft: Draft) -> Html:
        current = _current(turn, draft)
        if text == "title":
            return turn.t("admin.boxes.ask.title_in", language=name, current=current)
        return turn.t("admin.boxes.ask.description_in", language=name, current=current)

    return question


def _label_in(text: str, language: str) -> Callable[[Turn], Html]:
    name = LANGUAGE_NAMES[language]
    if text == "title":
        return lambda turn: turn.t("admin.boxes.field.title_in", language=name)
    return lambda turn: turn.t("admin.boxes.field.description_in", language=name)


def _texts(values: Mapping[str, JSON], text: str) -> dict[str, str]:
    """The draft's answers giving ``text`` in other languages, by language (none: empty)."""
    found = {language: values.get(_in(text, language)) for language in OTHER_LANGUAGES}
    return {
        language: value for language, value in found.items() if isinstance(value, str) and value
    }


def _price_question(turn: Turn, draft: Draft) -> Html:
    current = draft.context.get("price")
    if isinstance(current, int):
        title = str(draft.values.get("title") or "")
        return turn.t("admin.boxes.ask.price", title=title, current=turn.t.points(current))
    return turn.t("admin.boxes.ask.new_price")


def _texts_lines(turn: Turn, values: Mapping[str, JSON]) -> list[str]:
    """The box's texts as the summary shows them: those given in other languages, by name."""
    t = turn.t
    lines: list[str] = [t("admin.boxes.new_summary.line", title=str(values.get("title")))]
    for language, title in _texts(values, "title").items():
        lines.append(t("admin.boxes.card.title_in", language=LANGUAGE_NAMES[language], title=title))
    description = values.get("description")
    if isinstance(description, str) and description:
        lines.append(t("admin.boxes.new_summary.description", description=description))
    for language, about in _texts(values, "description").items():
        lines.append(
            t(
                "admin.boxes.new_summary.description_in",
                language=LANGUAGE_NAMES[language],
                description=about,
            )
        )
    return lines


async def _terms_summary(turn: Turn, draft: Draft) -> Html | None:
    """A new box's summary, or an edit of its texts'; a price change saves at once."""
    t = turn.t
    if _editing(draft):
        if "price" in draft.steps:
            return None
        return Html("\n".join([t("admin.boxes.texts_summary"), *_texts_lines(turn, draft.values)]))
    price = draft.values.get("price")
    lines = [
        t("admin.boxes.new_summary.title"),
        *_texts_lines(turn, draft.values),
        t("admin.boxes.card.price", price=t.points(price if isinstance(price, int) else 0)),
        "",
        t("admin.boxes.new_summary.closed"),
    ]
    return Html("\n".join(lines))


async def _free_sku(turn: Turn, title: str) -> str:
    """A box sku made from the title ("Lucky bean box" -> "lucky-bean-box"), numbered if taken."""
    taken = {box.sku for box in await turn.mall.boxes.list_boxes()}
    base = re.sub(r"[^a-z0-9]+", "-", title.casefold()).strip("-")[:48].strip("-") or "box"
    for number in range(1, 1000):
        sku = base if number == 1 else f"{base}-{number}"
        if sku not in taken:
            return sku
    raise Invalid(turn.t("admin.boxes.bad.other", problem=title))


async def _save_edit(turn: Turn, box_id: int, draft: Draft) -> None:
    """Save the price, or the texts, the admin changed (core audits what changed)."""
    values = draft.values
    changes: dict[str, Any] = {}
    if "price" in draft.steps:
        price = values.get("price")
        if isinstance(price, bool) or not isinstance(price, int):
            raise Stale("box terms without a price")
        changes["price_points"] = price
    if "title" in draft.steps:
        changes["title"] = str(values.get("title") or "")
    if "description" in draft.steps:
        changes["description"] = str(values.get("description") or "")
    if any(_in("title", language) in draft.steps for language in OTHER_LANGUAGES):
        changes["titles"] = _texts(values, "title")
    if any(_in("description", language) in draft.steps for language in OTHER_LANGUAGES):
        changes["descriptions"] = _texts(values, "description")
    try:
        await turn.mall.boxes.edit_box(box_id, turn.now, actor_id=turn.member_id, **changes)
    except InvalidInput as refused:
        raise Invalid(_refusal_line(turn, refused, [])) from None
    saved = "admin.boxes.price_saved" if "price" in draft.steps else "admin.boxes.texts_saved"
    turn.show(await _card(turn, box_id, turn.t(saved)))


async def _save_terms(turn: Turn, draft: Draft) -> None:
    box_id = draft.context.get("box")
    if isinstance(box_id, int) and not isinstance(box_id, bool):
        await _save_edit(turn, box_id, draft)
        return
    price = draft.values.get("price")
    if isinstance(price, bool) or not isinstance(price, int):
        raise Stale("box terms without a price")
    title = str(draft.values.get("title"))
    description = str(draft.values.get("description") or "")
    titles, descriptions = _texts(draft.values, "title"), _texts(draft.values, "description")
    # Closed, and with one prize that gives nothing: its real prizes are typed on its card
    # (a prize left out of a table leaves the draw), then it is opened.
    placeholder = PrizeSpec(
        name=turn.t("admin.boxes.default_name.nothing"), kind="consolation", weight=1
    )
    try:
        created = await turn.mall.boxes.create_box(
            await _free_sku(turn, title),
            title,
            price,
            [placeholder],
            turn.now,
            description=description,
            titles=titles,
            descriptions=descriptions,
            active=False,
            actor_id=turn.sender.user_id,
        )
    except InvalidInput as refused:
        raise Invalid(_refusal_line(turn, refused, [])) from None
    turn.show(await _card(turn, created.box_id, turn.t("admin.boxes.created", title=title)))


def _terms_home(turn: Turn, draft: Draft) -> Button:
    box_id = draft.context.get("box")
    if isinstance(box_id, int):
        return Button(plain(turn.t("admin.boxes.back_to_box")), data=AdminBoxCard(box_id).pack())
    return Button(plain(turn.t("admin.boxes.back_to_list")), data=AdminBoxes().pack())


TERMS_FORM = Form(
    router,
    name="box_terms",
    press=TermsForm,
    kind=TERMS_KIND,
    steps=(
        Step(
            "title",
            _title_question,
            parse=_title_answer,
            label=lambda turn: turn.t("admin.boxes.field.title"),
        ),
        *(
            Step(
                _in("title", language),
                _ask_in("title", language),
                parse=_title_answer,
                skip="",
                label=_label_in("title", language),
            )
            for language in OTHER_LANGUAGES
        ),
        Step(
            "description",
            _description_question,
            parse=_description_answer,
            skip="",
            label=lambda turn: turn.t("admin.boxes.field.description"),
        ),
        *(
            Step(
                _in("description", language),
                _ask_in("description", language),
                parse=_description_answer,
                skip="",
                label=_label_in("description", language),
            )
            for language in OTHER_LANGUAGES
        ),
        Step(
            "price",
            _price_question,
            parse=_price_answer,
            label=lambda turn: turn.t("admin.boxes.field.price"),
        ),
    ),
    summary=_terms_summary,
    save=_save_terms,
    home=_terms_home,
)


@router.button(NewBox, admin=True)
async def new_button(turn: Turn, pressed: NewBox) -> None:
    await TERMS_FORM.start(turn)


@router.button(EditPrice, admin=True)
async def price_button(turn: Turn, pressed: EditPrice) -> None:
    box = await _described(turn, pressed.box_id)
    context: dict[str, JSON] = {"box": box.box_id, "price": box.price_points}
    await TERMS_FORM.start(turn, ["price"], {"title": box.title}, context)


@router.button(EditTexts, admin=True)
async def texts_button(turn: Turn, pressed: EditTexts) -> None:
    """Ask the box's title and description again, in each language, each shown as it is."""
    box = await _described(turn, pressed.box_id)
    values: dict[str, JSON] = {"title": box.title, "description": box.description}
    for language in OTHER_LANGUAGES:
        values[_in("title", language)] = box.titles.get(language, "")
        values[_in("description", language)] = box.descriptions.get(language, "")
    await TERMS_FORM.start(turn, list(TEXT_STEPS), values, {"box": box.box_id})


@router.button(SetBoxOpen, admin=True)
async def open_button(turn: Turn, pressed: SetBoxOpen) -> None:
    """Open (``1``) or close (``0``) the box to members; audited when it changes."""
    box_id, state = pressed.box_id, pressed.state
    before = await _described(turn, box_id)
    after = await turn.mall.boxes.edit_box(
        box_id, turn.now, actor_id=turn.member_id, active=bool(state)
    )
    t = turn.t
    if after.active == before.active:
        intro = t("admin.boxes.already_open") if after.active else t("admin.boxes.already_closed")
    else:
        intro = t("admin.boxes.opened") if after.active else t("admin.boxes.closed")
    turn.show(await _card(turn, box_id, intro))
