"""The catalog file: items, shelves, coupon code pools, blind boxes and member days in one TOML
document.

Member days (``[[member_days]]``, see ``core.growth.member_days``) are identified by ``name``: a
reload updates the one of that name (an admin's pause is undone if the file says
``active = true``, its default); one the file leaves out stays as it is.

What members read is a default text plus texts by language: an item's or a box's ``title``
and ``titles``, ``description`` and ``descriptions``, a prize's ``name`` and ``names``, and a
shelf's (``[[shelves]]``: the ``category`` items give, and its ``names``). A language code
must have the bot's shape (``zh_Hans``); given ``languages`` (the bot's), a text in any
other language is a problem too, as no member would ever read it.

``pointsmall catalog load FILE`` calls :func:`load_catalog`. The format is documented, with a
working example, in ``examples/catalog.toml``. Loading is all or nothing and idempotent:

1. Everything is validated first; every problem is reported at once, with where it is (the
   item's or box's index and sku, and the line in the file where it can be found), in one
   :class:`CatalogError`. Nothing is written then.
2. Then, in one transaction, items and boxes are inserted or updated by sku (only what
   differs is written), new coupon codes are added (codes already in a pool are skipped),
   and box prizes are inserted or updated by name. Loading the same file twice changes
   nothing the second time.

Stock (of items and of prizes) is set when the item or prize is created; later loads keep
the stock it has, which redemptions and draws use up, so a reload never refills the shelves.
A prize left out of a later file stays (draws refer to it) with its weight set to 0.

3. A load that succeeded also reports *warnings* (:attr:`CatalogLoadReport.warnings`): things
   that load but cannot work as written. A prize of the file that can never be drawn as the
   box now stands (weight 0, none left, its item switched off, sold out or without codes), a
   guarantee no rare prize can give, a box nothing can be drawn from. ``active = false`` on an
   item switches it off everywhere, box draws included; ``listed = false`` is the way to keep
   an item off the shelf while a box gives it.

A new box gets its first server seed: ``seed = secrets.token_hex(32)`` and
``seed_hash = hashlib.sha256(seed.encode()).hexdigest()`` (SHA-256 of the seed's 64 hex
characters as UTF-8 text), version 1.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import secrets
import tomllib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config, is_language_code
from core.db.database import Database
from core.db.models import BlindBox, BoxPrize, BoxSeed, Shelf
from core.errors import MallError
from core.games import box_odds
from core.growth.member_days import MemberDaySpec, spec_problems, upsert_rules
from core.growth.tasks_file import check_tasks, upsert_tasks
from core.points import rules
from core.reporting.audit import operator_or_member, write_entry
from core.rewards.catalog import (
    SKU_PATTERN,
    ItemSpec,
    clean_codes,
    insert_codes,
    item_problems,
    items_by_sku,
    upsert_item_row,
)
from core.validation import clean_texts, texts_problems

PRIZE_KINDS = ("points", "item", "coupon", "consolation")
# Integer columns (weights, pity counters) hold 32-bit values.
_MAX_INT32 = 2**31 - 1


# --- Results and errors ------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong with a catalog file: where (and on which line, if known), and what."""

    where: str
    line: int | None
    message: str

    def __str__(self) -> str:
        place = f"line {self.line}: " if self.line else ""
        return f"{place}{self.where}: {self.message}" if self.where else f"{place}{self.message}"


class CatalogError(MallError):
    """The catalog file cannot be loaded; ``problems`` lists every problem found."""

    code = "catalog_invalid"

    def __init__(
        self, message: str = "", *, problems: Iterable[CatalogProblem | str] = (), **details: Any
    ) -> None:
        found = tuple(
            p if isinstance(p, CatalogProblem) else CatalogProblem("", None, str(p))
            for p in problems
        )
        text = message or "\n".join(str(p) for p in found) or "the catalog file is invalid"
        super().__init__(text, problems=[str(p) for p in found], **details)
        self.problems = found


@dataclass(frozen=True)
class CatalogLoadReport:
    """What a load changed, and what loaded but cannot work as written (``warnings``: a box's
    prize that can never be drawn, a guarantee that cannot be given), each where it is."""

    items_created: int
    items_updated: int
    items_unchanged: int
    codes_added: int
    boxes_created: int
    boxes_updated: int
    boxes_unchanged: int
    warnings: tuple[CatalogProblem, ...] = ()
    tasks_created: int = 0
    tasks_updated: int = 0
    tasks_unchanged: int = 0
    member_days: int = 0
    """Member days (``[[member_days]]``) added or changed, by name."""


# --- Coupon code files -------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeLines:
    """Coupon codes read from a text with one code a line, and what was left out.

    ``blank`` counts empty lines; ``repeats`` lists codes the text gives more than once (each
    once, in the order found); ``problems`` names each line that is not a code, by number.
    """

    codes: tuple[str, ...]
    blank: int
    repeats: tuple[str, ...]
    problems: tuple[CatalogProblem, ...]


# The first cell of a spreadsheet's header row, which is never a code.
_CSV_HEADERS = frozenset({"code", "codes", "coupon", "coupon code", "coupon_code"})


def read_code_lines(text: str, *, first_cell: bool = False) -> CodeLines:
    """Codes one a line (``first_cell``: the first comma-separated cell of each, for CSV,
    where a header row such as ``code,note`` is skipped)."""
    codes: dict[str, None] = {}
    repeats: dict[str, None] = {}
    problems: list[CatalogProblem] = []
    blank = 0
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        cell = next(csv.reader([line]), [""])[0] if first_cell and line.strip() else line
        code = cell.strip()
        if not code:
            blank += 1
            continue
        if first_cell and number == 1 and code.lower() in _CSV_HEADERS:
            continue
        try:
            clean_codes([code])
        except MallError:
            shown = code if len(code) <= 40 else code[:39] + "…"
            message = f"{shown!r} is not a code: 1-128 printable characters without spaces"
            problems.append(CatalogProblem("", number, message))
            continue
        if code in codes:
            repeats.setdefault(code, None)
        codes.setdefault(code, None)
    return CodeLines(tuple(codes), blank, tuple(repeats), tuple(problems))


# --- The file's shape --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Limit(_Model):
    count: int
    per: str


class _Item(_Model):
    sku: str
    title: str
    titles: dict[str, str] = {}
    description: str = ""
    descriptions: dict[str, str] = {}
    photo: str | None = None
    category: str
    kind: str
    price: int
    cash: int = 0
    stock: int | None = None
    starts: datetime | None = None
    ends: datetime | None = None
    min_tier: str | None = None
    limit: _Limit | None = None
    approval_threshold: int | None = None
    active: bool = True
    listed: bool = True
    codes: list[str] = []
    codes_file: str | None = None


class _Prize(_Model):
    name: str
    names: dict[str, str] = {}
    kind: str
    points: int | None = None
    item: str | None = None
    weight: int
    stock: int | None = None
    rare: bool = False


class _Box(_Model):
    sku: str
    title: str
    titles: dict[str, str] = {}
    description: str = ""
    descriptions: dict[str, str] = {}
    price: int
    pity_after: int | None = None
    daily_cap: int | None = None
    active: bool = True
    prizes: list[_Prize]


class _Shelf(_Model):
    name: str
    names: dict[str, str] = {}


class _MemberDay(_Model):
    name: str
    names: dict[str, str] = {}
    day_of_month: int | None = None
    weekday: int | str | None = None
    applies_to: str
    multiplier: int | float
    from_: date | None = Field(default=None, alias="from")
    until: date | None = None
    active: bool = True


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class _ItemEntry:
    spec: ItemSpec
    codes: tuple[str, ...]


@dataclass(frozen=True)
class _BoxEntry:
    index: int
    model: _Box


_MESSAGES = {
    "missing": "missing; this key is required",
    "extra_forbidden": "unknown key",
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "datetime_type": "expected a date-time such as 2026-03-01T09:00:00",
    "date_type": "expected a date such as 2026-03-01",
    "list_type": "expected an array",
    "model_type": "expected a table",
    "dict_type": "expected a table",
}


# --- Finding lines -----------------------------------------------------------------------------


class _Lines:
    """Where things are in the file's text, for messages (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*\[\[\s*(items|boxes|shelves|tasks|member_days)\s*\]\]")
    _PRIZE_HEADER = re.compile(r"^\s*\[\[\s*boxes\s*\.\s*prizes\s*\]\]")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.starts: dict[str, list[int]] = {
            "items": [],
            "boxes": [],
            "shelves": [],
            "tasks": [],
            "member_days": [],
        }
        for number, line in enumerate(self.lines):
            match = self._HEADER.match(line)
            if match:
                self.starts[match[1]].append(number)

    def _block(self, table: str, index: int) -> tuple[int, int] | None:
        starts = self.starts[table]
        if index >= len(starts):
            return None
        begin = starts[index]
        later = [n for found in self.starts.values() for n in found if n > begin]
        return begin, min(later, default=len(self.lines))

    def _key(self, key: str, begin: int, end: int) -> int | None:
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(begin, end):
            if pattern.match(self.lines[number]):
                return number
        return None

    def find(self, table: str, index: int, loc: Sequence[int | str]) -> int | None:
        """The 1-based line of ``table[index]`` and the key ``loc`` in it, as near as known."""
        block = self._block(table, index)
        if block is None:
            return None
        begin, end = block
        if table == "boxes" and len(loc) >= 2 and loc[0] == "prizes" and isinstance(loc[1], int):
            found = self._prize(begin, end, loc[1], [str(p) for p in loc[2:3]])
            if found is not None:
                return found + 1
        if loc:
            found = self._key(str(loc[0]), begin, end)
            if found is not None:
                return found + 1
        return begin + 1

    def _prize(self, begin: int, end: int, index: int, key: list[str]) -> int | None:
        headers = [n for n in range(begin, end) if self._PRIZE_HEADER.match(self.lines[n])]
        if headers:
            if index >= len(headers):
                return None
            sub_end = headers[index + 1] if index + 1 < len(headers) else end
            found = self._key(key[0], headers[index], sub_end) if key else None
            return found if found is not None else headers[index]
        prizes = self._key("prizes", begin, end)
        if prizes is None:
            return None
        # An inline array of tables, one table per line as the example writes it.
        tables = [n for n in range(prizes, end) if "{" in self.lines[n]]
        return tables[index] if index < len(tables) else prizes


# --- Validation --------------------------------------------------------------------------------


class _Problems:
    def __init__(self, lines: _Lines, languages: Collection[str] | None = None) -> None:
        self.lines = lines
        self.languages = languages
        self.found: list[CatalogProblem] = []

    def texts(
        self,
        table: str,
        index: int,
        sku: object,
        loc: Sequence[int | str],
        texts: Mapping[str, str],
        max_length: int,
        *,
        allow_empty: bool = False,
    ) -> bool:
        """Add what is wrong with ``texts`` (a text by language at ``loc``); True if nothing."""
        before = len(self.found)
        *head, name = loc
        for where, message in texts_problems(str(name), texts, max_length, allow_empty=allow_empty):
            self.add(table, index, sku, (*head, *where.split(".", 1)), message)
        for language in texts:
            if self.languages is None or language in self.languages:
                continue
            if is_language_code(language):  # a malformed one is named above
                spoken = ", ".join(self.languages)
                message = f"the bot has no language {language!r} (it speaks {spoken})"
                self.add(table, index, sku, (*loc, language), message)
        return len(self.found) == before

    def add(
        self, table: str, index: int, sku: object, loc: Sequence[int | str], message: str
    ) -> None:
        name = f" (sku {sku!r})" if isinstance(sku, str) and sku else ""
        where = f"{table}[{index}]{name}"
        if loc:
            where += "." + _dotted(loc)
        self.found.append(CatalogProblem(where, self.lines.find(table, index, loc), message))

    def add_validation(self, table: str, index: int, sku: object, error: ValidationError) -> None:
        for detail in error.errors():
            loc = tuple(detail["loc"])
            message = _MESSAGES.get(detail["type"], detail["msg"])
            value = detail.get("input")
            if detail["type"] not in ("missing", "extra_forbidden") and _is_scalar(value):
                message = f"{message}, got {value!r}"
            self.add(table, index, sku, loc, message)


def _dotted(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool | datetime) or value is None


def _item_spec(model: _Item, config: Config) -> ItemSpec:
    return ItemSpec(
        sku=model.sku,
        title=model.title,
        category=model.category,
        kind=model.kind,
        price_points=model.price,
        description=model.description,
        titles=model.titles,
        descriptions=model.descriptions,
        photo=model.photo,
        cash_minor=model.cash,
        stock=model.stock,
        starts_at=rules.on_mall_clock(model.starts, config.mall.timezone),
        ends_at=rules.on_mall_clock(model.ends, config.mall.timezone),
        min_tier=model.min_tier,
        limit_count=model.limit.count if model.limit else None,
        limit_period=model.limit.per if model.limit else None,
        approval_threshold=model.approval_threshold,
        active=model.active,
        listed=model.listed,
    )


def is_photo_file(photo: str) -> bool:
    """Whether an item's ``photo`` names a picture file rather than a URL or a file id.

    Telegram file ids use only ``A-Z a-z 0-9 _ -``, and a URL has a scheme, so anything else
    (``photos/latte.png``) is a path. The loader stores it absolute, resolved against the
    catalog file's folder, so the bot finds it whatever its working directory.
    """
    return "://" not in photo and re.fullmatch(r"[A-Za-z0-9_-]+", photo) is None


def _reason(error: Exception) -> str:
    return str(getattr(error, "strerror", None) or error)


def _read_codes_file(base: Path, name: str) -> list[str]:
    """Codes one a line; blank lines and lines starting with ``#`` are skipped."""
    text = (base / name).read_text(encoding="utf-8-sig")
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


def _check_items(
    raw_items: list[Any], config: Config, base: Path | None, problems: _Problems, *, from_file: bool
) -> list[_ItemEntry]:
    """Validated items; ``base`` None: the text came from a chat and may name no files."""
    entries: list[_ItemEntry] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_items):
        if not isinstance(raw, dict):
            problems.add("items", index, None, (), "expected a table")
            continue
        sku = raw.get("sku")
        try:
            model = _Item.model_validate(raw)
        except ValidationError as error:
            problems.add_validation("items", index, sku, error)
            continue
        spec = _item_spec(model, config)
        ok = True
        if spec.photo is not None and is_photo_file(spec.photo) and base is None:
            message = "must be a URL or a Telegram file id here (this file has no folder)"
            problems.add("items", index, sku, ("photo",), message)
            ok = False
        elif spec.photo is not None and is_photo_file(spec.photo):
            assert base is not None
            picture = (base / spec.photo).resolve()
            spec = replace(spec, photo=str(picture))
            # Text (an upload, a test) has no folder of its own: a missing picture is left to
            # the bot, which shows the item without it.
            if from_file and not picture.is_file():
                problems.add("items", index, sku, ("photo",), f"no picture file {str(picture)!r}")
                ok = False
        for field, message in item_problems(spec, config.tiers):
            if not field.startswith(("titles.", "descriptions.")):
                problems.add("items", index, sku, tuple(field.split(".")), message)
                ok = False
        ok = problems.texts("items", index, sku, ("titles",), model.titles, 200) and ok
        ok = (
            problems.texts(
                "items", index, sku, ("descriptions",), model.descriptions, 4000, allow_empty=True
            )
            and ok
        )
        if model.sku in seen:
            problems.add("items", index, sku, ("sku",), "appears twice in the file")
            ok = False
        seen.add(model.sku)
        codes: list[str] = list(model.codes)
        if model.codes_file is not None and base is None:
            message = "this file has no folder to read it from: list the codes in codes = [...]"
            problems.add("items", index, sku, ("codes_file",), message)
            ok = False
        elif model.codes_file is not None:
            assert base is not None
            try:
                codes += _read_codes_file(base, model.codes_file)
            except (OSError, UnicodeDecodeError) as error:
                problems.add(
                    "items",
                    index,
                    sku,
                    ("codes_file",),
                    f"cannot read {model.codes_file!r}: {_reason(error)}",
                )
                ok = False
        if codes and model.kind != "coupon":
            field = "codes" if model.codes else "codes_file"
            problems.add("items", index, sku, (field,), "only coupon items have codes")
            ok = False
        try:
            cleaned = clean_codes(codes)
        except MallError as error:
            problems.add("items", index, sku, ("codes",), str(error))
            ok = False
        if ok:
            entries.append(_ItemEntry(spec, tuple(cleaned)))
    return entries


def _check_boxes(
    raw_boxes: list[Any], file_items: Mapping[str, str], problems: _Problems
) -> tuple[list[_BoxEntry], dict[str, list[tuple[int, int, str]]]]:
    """Validated boxes, and the item skus their prizes name that the file does not define."""
    entries: list[_BoxEntry] = []
    outside: dict[str, list[tuple[int, int, str]]] = {}
    seen: set[str] = set()
    for index, raw in enumerate(raw_boxes):
        if not isinstance(raw, dict):
            problems.add("boxes", index, None, (), "expected a table")
            continue
        sku = raw.get("sku")
        try:
            model = _Box.model_validate(raw)
        except ValidationError as error:
            problems.add_validation("boxes", index, sku, error)
            continue
        before = len(problems.found)

        def bad(
            loc: tuple[int | str, ...], message: str, index: int = index, sku: object = sku
        ) -> None:
            problems.add("boxes", index, sku, loc, message)

        if not SKU_PATTERN.fullmatch(model.sku):
            bad(("sku",), "must be 1-64 of A-Z a-z 0-9 _ . - starting with a letter/digit")
        elif model.sku in seen:
            bad(("sku",), "appears twice in the file")
        seen.add(model.sku)
        for field, value, limit in (
            ("title", model.title, 200),
            ("description", model.description, 4000),
        ):
            try:
                validation.text(value, field=field, max_length=limit, allow_empty=field != "title")
            except MallError:
                bad((field,), f"must be text of 1-{limit} characters without control characters")
        problems.texts("boxes", index, sku, ("titles",), model.titles, 200)
        problems.texts(
            "boxes", index, sku, ("descriptions",), model.descriptions, 4000, allow_empty=True
        )
        if not 1 <= model.price <= validation.MAX_AMOUNT:
            bad(("price",), "must be a whole number of points >= 1")
        if model.pity_after is not None and not 1 <= model.pity_after <= _MAX_INT32:
            bad(("pity_after",), "must be a whole number of draws >= 1")
        if model.daily_cap is not None and not 1 <= model.daily_cap <= validation.MAX_AMOUNT:
            bad(("daily_cap",), "must be a whole number of points >= 1")
        if not model.prizes:
            bad(("prizes",), "a box needs at least one prize")
        names: set[str] = set()
        for number, prize in enumerate(model.prizes):
            _check_prize(prize, number, names, file_items, outside, index, bad)
            problems.texts("boxes", index, sku, ("prizes", number, "names"), prize.names, 100)
        if model.prizes and sum(p.weight for p in model.prizes if p.weight > 0) <= 0:
            bad(("prizes",), "at least one prize needs a weight above 0")
        if model.pity_after is not None and not any(p.rare for p in model.prizes):
            bad(("pity_after",), "a guarantee needs at least one prize marked rare = true")
        if len(problems.found) == before:
            entries.append(_BoxEntry(index, model))
    return entries, outside


def _check_prize(
    prize: _Prize,
    number: int,
    names: set[str],
    file_items: Mapping[str, str],
    outside: dict[str, list[tuple[int, int, str]]],
    box_index: int,
    bad: Callable[[tuple[int | str, ...], str], None],
) -> None:
    loc: tuple[int | str, ...] = ("prizes", number)
    if not prize.name.strip() or len(prize.name.strip()) > 100:
        bad((*loc, "name"), "must be 1-100 characters")
    elif prize.name.strip() in names:
        bad((*loc, "name"), f"prize {prize.name!r} appears twice in this box")
    names.add(prize.name.strip())
    if prize.kind not in PRIZE_KINDS:
        bad((*loc, "kind"), f"must be one of {', '.join(PRIZE_KINDS)}")
        return
    if not 0 <= prize.weight <= _MAX_INT32:
        bad((*loc, "weight"), "must be a whole number >= 0")
    if prize.stock is not None and not 0 <= prize.stock <= validation.MAX_AMOUNT:
        bad((*loc, "stock"), "must be a whole number >= 0 (leave it out for unlimited)")
    if prize.kind == "points":
        if prize.points is None or not 1 <= prize.points <= validation.MAX_AMOUNT:
            bad((*loc, "points"), "a points prize needs points >= 1")
    elif prize.points is not None:
        bad((*loc, "points"), f"only a points prize has points, not a {prize.kind} prize")
    if prize.kind in ("item", "coupon"):
        if prize.item is None:
            bad((*loc, "item"), f"a {prize.kind} prize needs the sku of its item")
        elif prize.item in file_items:
            if prize.kind == "coupon" and file_items[prize.item] != "coupon":
                bad((*loc, "item"), f"item {prize.item!r} is not a coupon item")
        else:
            outside.setdefault(prize.item, []).append((box_index, number, prize.kind))
    elif prize.item is not None:
        bad((*loc, "item"), f"only item and coupon prizes name an item, not a {prize.kind} prize")


def _check_shelves(raw_shelves: list[Any], problems: _Problems) -> list[_Shelf]:
    """Validated shelves: a shelf's name as items give it (``category``), and by language."""
    entries: list[_Shelf] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_shelves):
        if not isinstance(raw, dict):
            problems.add("shelves", index, None, (), "expected a table")
            continue
        try:
            model = _Shelf.model_validate(raw)
        except ValidationError as error:
            problems.add_validation("shelves", index, None, error)
            continue
        ok = True
        try:
            validation.text(model.name, field="name", max_length=64)
        except MallError:
            problems.add("shelves", index, None, ("name",), "must be text of 1-64 characters")
            ok = False
        if model.name.strip() in seen:
            message = f"shelf {model.name.strip()!r} appears twice in the file"
            problems.add("shelves", index, None, ("name",), message)
            ok = False
        seen.add(model.name.strip())
        ok = problems.texts("shelves", index, None, ("names",), model.names, 64) and ok
        if ok:
            entries.append(model)
    return entries


def _check_member_days(raw_days: list[Any], problems: _Problems) -> list[MemberDaySpec]:
    """Validated member days (``[[member_days]]``), identified by ``name``."""
    specs: list[MemberDaySpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_days):
        if not isinstance(raw, dict):
            problems.add("member_days", index, None, (), "expected a table")
            continue
        try:
            model = _MemberDay.model_validate(raw)
        except ValidationError as error:
            problems.add_validation("member_days", index, None, error)
            continue
        weekday = model.weekday
        if isinstance(weekday, str):
            if weekday.strip().lower() not in WEEKDAYS:
                message = (
                    f"expected 0 (Monday) to 6 (Sunday) or a day's English name, got {weekday!r}"
                )
                problems.add("member_days", index, None, ("weekday",), message)
                continue
            weekday = WEEKDAYS.index(weekday.strip().lower())
        spec = MemberDaySpec(
            name=model.name,
            names=model.names,
            applies_to=model.applies_to,
            multiplier=Decimal(repr(model.multiplier)),
            day_of_month=model.day_of_month,
            weekday=weekday,
            starts_on=model.from_,
            ends_on=model.until,
            active=model.active,
        )
        found = spec_problems(spec)
        if model.name.strip() in seen:
            found.append(("name", f"member day {model.name.strip()!r} appears twice in the file"))
        seen.add(model.name.strip())
        for where, message in found:
            loc = tuple(where.split(".", 1))
            problems.add("member_days", index, None, loc, message)
        ok = True
        for language in model.names:  # spec_problems named malformed ones
            if (
                is_language_code(language)
                and problems.languages is not None
                and (language not in problems.languages)
            ):
                spoken = ", ".join(problems.languages)
                message = f"the bot has no language {language!r} (it speaks {spoken})"
                problems.add("member_days", index, None, ("names", language), message)
                ok = False
        if ok and not found:
            specs.append(spec)
    return specs


async def _upsert_shelves(conn: AsyncConnection, shelves: list[_Shelf]) -> None:
    """Set the names by language of the file's shelves; shelves it leaves out stay as they are."""
    if not shelves:
        return
    names = [shelf.name.strip() for shelf in shelves]
    rows = await conn.execute(select(Shelf.name, Shelf.names).where(Shelf.name.in_(names)))
    existing = {row.name: dict(row.names or {}) for row in rows}
    for shelf in shelves:
        name, texts = shelf.name.strip(), clean_texts(shelf.names)
        if name not in existing:
            await conn.execute(insert(Shelf).values(name=name, names=texts))
        elif existing[name] != texts:
            await conn.execute(update(Shelf).where(Shelf.name == name).values(names=texts))


# --- Loading -----------------------------------------------------------------------------------


def _is_text(path_or_text: str | os.PathLike[str]) -> bool:
    return isinstance(path_or_text, str) and "\n" in path_or_text


def _source(path_or_text: str | os.PathLike[str]) -> tuple[str, Path]:
    """(text, directory codes files and picture files are relative to).

    A path-like, or a string without a line break, is a file's path; any other string is the
    TOML text itself (those files are then relative to the working directory).
    """
    if isinstance(path_or_text, str) and _is_text(path_or_text):
        return path_or_text, Path.cwd()
    path = Path(path_or_text)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as error:
        raise CatalogError(
            problems=[CatalogProblem(str(path), None, f"cannot read: {error.strerror or error}")]
        ) from None
    except UnicodeDecodeError:
        raise CatalogError(
            problems=[CatalogProblem(str(path), None, "not UTF-8 text; save it as UTF-8")]
        ) from None
    return text, path.parent


async def load_catalog(
    db: Database,
    config: Config,
    path_or_text: str | os.PathLike[str],
    now: datetime,
    *,
    languages: Collection[str] | None = None,
    actor_id: int | None = None,
) -> CatalogLoadReport:
    """Load (or update) the catalog from a TOML file or text: all of it, or nothing.

    ``languages``: those members can read (the bot's); a text in another language is a
    problem, as it would never be shown. None: any language code will do.

    With ``actor_id`` (``pointsmall catalog load`` gives
    :data:`core.reporting.audit.OPERATOR_ACTOR`) the ``catalog.load`` audit entry, naming the file
    and what changed, is written in the same transaction as the catalog.

    Raises :class:`CatalogError` (code ``catalog_invalid``) listing every problem.
    """
    validation.instant(now)
    text, base = _source(path_or_text)
    from_file = not _is_text(path_or_text)
    audit = None
    if actor_id is not None:
        operator_or_member(actor_id)
        audit = (actor_id, Path(path_or_text).name if from_file else "catalog.toml")
    return await _load(
        db, config, text, base, now, from_file=from_file, languages=languages, audit=audit
    )


async def load_catalog_text(
    db: Database,
    config: Config,
    text: str,
    now: datetime,
    *,
    languages: Collection[str] | None = None,
    actor_id: int | None = None,
    filename: str = "catalog.toml",
) -> CatalogLoadReport:
    """Load (or update) the catalog from TOML text that came with no folder (a chat upload).

    As :func:`load_catalog`, all or nothing, but the text may name no files: an item's
    ``codes_file`` or a picture path is a problem (list codes inline; photos as a URL or a
    Telegram file id), so an upload can never make the bot read its own disk. With
    ``actor_id`` (the admin who uploaded ``filename``) the ``catalog.load`` audit entry is
    written in the same transaction as the catalog.
    """
    validation.instant(now)
    if not isinstance(text, str):
        raise CatalogError(problems=[CatalogProblem("", None, "expected the catalog's text")])
    text = text.removeprefix("\ufeff")
    audit = None if actor_id is None else (operator_or_member(actor_id), filename)
    return await _load(
        db, config, text, None, now, from_file=False, languages=languages, audit=audit
    )


async def _load(
    db: Database,
    config: Config,
    text: str,
    base: Path | None,
    now: datetime,
    *,
    from_file: bool,
    languages: Collection[str] | None,
    audit: tuple[int, str] | None = None,
) -> CatalogLoadReport:
    """Check and load the catalog in one transaction; ``audit`` (who, the file's name)
    writes its ``catalog.load`` audit entry in it too."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"line (\d+)", str(error))
        line = int(match[1]) if match else None
        raise CatalogError(problems=[CatalogProblem("", line, f"invalid TOML: {error}")]) from None
    problems = _Problems(_Lines(text), languages)
    for key in document:
        if key not in ("items", "boxes", "shelves", "tasks", "member_days"):
            message = (
                "unknown key (a catalog has [[items]], [[shelves]], [[boxes]], [[tasks]] and"
                " [[member_days]])"
            )
            problems.found.append(CatalogProblem(key, None, message))
    raw_items, raw_boxes = document.get("items", []), document.get("boxes", [])
    raw_shelves, raw_tasks = document.get("shelves", []), document.get("tasks", [])
    raw_days = document.get("member_days", [])
    for key, value in (
        ("items", raw_items),
        ("boxes", raw_boxes),
        ("shelves", raw_shelves),
        ("tasks", raw_tasks),
        ("member_days", raw_days),
    ):
        if not isinstance(value, list):
            problems.found.append(CatalogProblem(key, None, f"expected [[{key}]] tables"))
    items = _check_items(
        raw_items if isinstance(raw_items, list) else [],
        config,
        base,
        problems,
        from_file=from_file,
    )
    file_items = {
        raw["sku"]: raw.get("kind", "")
        for raw in (raw_items if isinstance(raw_items, list) else [])
        if isinstance(raw, dict) and isinstance(raw.get("sku"), str)
    }
    boxes, outside = _check_boxes(
        raw_boxes if isinstance(raw_boxes, list) else [], file_items, problems
    )
    shelves = _check_shelves(raw_shelves if isinstance(raw_shelves, list) else [], problems)
    tasks, task_prizes = check_tasks(
        raw_tasks if isinstance(raw_tasks, list) else [], config, file_items, problems
    )
    member_days = _check_member_days(raw_days if isinstance(raw_days, list) else [], problems)
    async with db.write() as conn:
        # Prizes may name items loaded earlier: they must exist (and be coupons where asked).
        known = await items_by_sku(conn, list(outside))
        for sku, uses in outside.items():
            for box_index, number, kind in uses:
                raw_box = raw_boxes[box_index]
                loc = ("prizes", number, "item")
                if sku not in known:
                    problems.add("boxes", box_index, raw_box.get("sku"), loc, f"no item {sku!r}")
                elif kind == "coupon" and known[sku][1] != "coupon":
                    message = f"item {sku!r} is not a coupon item"
                    problems.add("boxes", box_index, raw_box.get("sku"), loc, message)
        known_prizes = await items_by_sku(conn, list(task_prizes))
        for sku, task_indexes in task_prizes.items():
            for task_index in task_indexes:
                code = raw_tasks[task_index].get("code")
                if sku not in known_prizes:
                    problems.add("tasks", task_index, code, ("prize",), f"no item {sku!r}")
                elif known_prizes[sku][1] == "coupon":
                    message = f"item {sku!r} is a coupon item; a task's prize is not"
                    problems.add("tasks", task_index, code, ("prize",), message)
        if problems.found:
            raise CatalogError(problems=problems.found)
        report = await _apply(conn, items, boxes, now)
        await _upsert_shelves(conn, shelves)
        task_counts = await upsert_tasks(conn, tasks, now)
        report = replace(
            report,
            tasks_created=task_counts["created"],
            tasks_updated=task_counts["updated"],
            tasks_unchanged=task_counts["unchanged"],
        )
        days_changed = await upsert_rules(conn, member_days, now)
        warnings = _Problems(problems.lines)
        await _check_draws(conn, boxes, warnings)
        if audit is not None:
            actor_id, filename = audit
            await write_entry(
                conn,
                actor_id=actor_id,
                action="catalog.load",
                target=f"file:{filename[:58]}",
                now=now,
                before={},
                after={
                    "items_created": report.items_created,
                    "items_updated": report.items_updated,
                    "items_unchanged": report.items_unchanged,
                    "codes_added": report.codes_added,
                    "boxes_created": report.boxes_created,
                    "boxes_updated": report.boxes_updated,
                    "tasks_created": report.tasks_created,
                    "tasks_updated": report.tasks_updated,
                },
            )
        return replace(report, warnings=tuple(warnings.found), member_days=days_changed)


async def _apply(
    conn: AsyncConnection, items: list[_ItemEntry], boxes: list[_BoxEntry], now: datetime
) -> CatalogLoadReport:
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    codes_added = 0
    for entry in items:
        result = await upsert_item_row(conn, entry.spec, now)
        counts[result.status] += 1
        codes_added += await insert_codes(conn, result.item_id, entry.codes)
    box_counts = {"created": 0, "updated": 0, "unchanged": 0}
    if boxes:
        skus = sorted({p.item for b in boxes for p in b.model.prizes if p.item is not None})
        item_ids = {sku: ids[0] for sku, ids in (await items_by_sku(conn, skus)).items()}
        for box in boxes:
            box_counts[await _upsert_box(conn, box.model, item_ids, now)] += 1
    return CatalogLoadReport(
        items_created=counts["created"],
        items_updated=counts["updated"],
        items_unchanged=counts["unchanged"],
        codes_added=codes_added,
        boxes_created=box_counts["created"],
        boxes_updated=box_counts["updated"],
        boxes_unchanged=box_counts["unchanged"],
    )


# Why a prize of the file is never drawn, by the reason core gives (box_odds.OUT_REASONS),
# and the key of the prize the warning points at.
_NEVER_DRAWN: Mapping[str, tuple[str, str]] = {
    box_odds.WEIGHT_ZERO: ("weight", "weight 0: this prize is never drawn"),
    box_odds.ALL_WON: ("stock", "none of this prize is left to win: it is out of the draw"),
    box_odds.NO_ITEM: ("item", "this prize has no item: it is never drawn"),
    box_odds.ITEM_INACTIVE: (
        "item",
        "item {sku!r} is switched off (active = false), so this prize is never drawn; to keep"
        " an item off the shelf but in a box, give it listed = false instead",
    ),
    box_odds.NO_CODES: (
        "item",
        "coupon item {sku!r} has no free codes, so this prize is never drawn until codes are added",
    ),
    box_odds.ITEM_SOLD_OUT: (
        "item",
        "item {sku!r} is out of stock, so this prize is never drawn until it is restocked",
    ),
}


async def _check_draws(conn: AsyncConnection, boxes: list[_BoxEntry], warnings: _Problems) -> None:
    """Warn of each box's prizes (as the file names them) that can never be drawn now, and of
    a guarantee no rare prize can give: read back from what was just written, with core's own
    reasons, so the warning says exactly what a member would meet."""
    if not boxes:
        return
    skus = [box.model.sku for box in boxes]
    rows = await conn.execute(select(BlindBox.sku, BlindBox.id).where(BlindBox.sku.in_(skus)))
    ids = {row.sku: int(row.id) for row in rows}
    for box in boxes:
        model = box.model
        table = await box_odds.prize_table_in(conn, ids[model.sku])
        by_name = {prize.name: prize for prize in table.prizes}
        for number, prize in enumerate(model.prizes):
            odds = by_name.get(prize.name.strip())
            if odds is None or odds.out_reason is None:
                continue
            key, message = _NEVER_DRAWN[odds.out_reason]
            loc: tuple[int | str, ...] = ("prizes", number, key)
            warnings.add("boxes", box.index, model.sku, loc, message.format(sku=prize.item))
        if table.total_weight <= 0:
            warnings.add("boxes", box.index, model.sku, ("prizes",), "no prize can be drawn")
        elif model.pity_after is not None and table.rare_weight <= 0:
            message = "no rare prize can be drawn, so the guarantee is never given"
            warnings.add("boxes", box.index, model.sku, ("pity_after",), message)


async def _upsert_box(
    conn: AsyncConnection, model: _Box, item_ids: Mapping[str, int], now: datetime
) -> str:
    """Insert or update one box and its prizes; returns created, updated or unchanged."""
    values: dict[str, Any] = {
        "title": model.title.strip(),
        "description": model.description.strip(),
        "titles": clean_texts(model.titles),
        "descriptions": clean_texts(model.descriptions),
        "price_points": model.price,
        "pity_after": model.pity_after,
        "daily_cap": model.daily_cap,
        "active": model.active,
    }
    row = (await conn.execute(select(BlindBox).where(BlindBox.sku == model.sku))).first()
    if row is None:
        box_id = int(
            (
                await conn.execute(
                    insert(BlindBox)
                    .values(sku=model.sku, seed_version=1, created_at=now, **values)
                    .returning(BlindBox.id)
                )
            ).scalar_one()
        )
        seed = secrets.token_hex(32)
        await conn.execute(
            insert(BoxSeed).values(
                box_id=box_id,
                version=1,
                seed=seed,
                seed_hash=hashlib.sha256(seed.encode()).hexdigest(),
                created_at=now,
            )
        )
        await _upsert_prizes(conn, box_id, model.prizes, item_ids)
        return "created"
    box_id = int(row.id)
    changed = {key: value for key, value in values.items() if getattr(row, key) != value}
    if changed:
        await conn.execute(update(BlindBox).where(BlindBox.id == box_id).values(**changed))
    prizes_changed = await _upsert_prizes(conn, box_id, model.prizes, item_ids)
    return "updated" if changed or prizes_changed else "unchanged"


async def _upsert_prizes(
    conn: AsyncConnection, box_id: int, prizes: list[_Prize], item_ids: Mapping[str, int]
) -> bool:
    """Bring the box's prizes in line with the file; True if anything changed."""
    existing = {
        row.name: row
        for row in await conn.execute(select(BoxPrize).where(BoxPrize.box_id == box_id))
    }
    changed = False
    listed: set[str] = set()
    for prize in prizes:
        name = prize.name.strip()
        listed.add(name)
        values: dict[str, Any] = {
            "names": clean_texts(prize.names),
            "kind": prize.kind,
            "points": prize.points,
            "item_id": item_ids[prize.item] if prize.item is not None else None,
            "weight": prize.weight,
            "rare": prize.rare,
        }
        row = existing.get(name)
        if row is None:
            await conn.execute(
                insert(BoxPrize).values(box_id=box_id, name=name, stock=prize.stock, **values)
            )
            changed = True
            continue
        differs = {key: value for key, value in values.items() if getattr(row, key) != value}
        # Stock is set on creation only; switching between limited and unlimited is a term.
        if (prize.stock is None) != (row.stock is None):
            differs["stock"] = prize.stock
        if differs:
            await conn.execute(update(BoxPrize).where(BoxPrize.id == row.id).values(**differs))
            changed = True
    for name, row in existing.items():
        if name not in listed and row.weight != 0:
            await conn.execute(update(BoxPrize).where(BoxPrize.id == row.id).values(weight=0))
            changed = True
    return changed
