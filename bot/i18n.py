"""What a member reads, in their language: gettext catalogs under ``locales/``, read with Babel.

Message ids are keys (``checkin.done``), never English sentences, so that a wording change in
English does not orphan the translations. Each feature keeps its texts in a catalog of its own
(``locales/<lang>/LC_MESSAGES/<feature>.po``); a language is every catalog under its folder,
merged, and a key may be defined only once. Placeholders are ``{name}`` fields.

Texts are sent with Telegram's HTML parse mode, so every value put into a text is escaped unless
it is :class:`Html` already: a member's name or an item's title can never become markup.
"""

from __future__ import annotations

import datetime as dt
import gettext
import html
import io
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_skeleton, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, get_currency_precision

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LANGUAGE = "en"
# Telegram's language_code (IETF tag) prefix -> our catalog folder.
LANGUAGES: Mapping[str, str] = {"en": "en", "zh": "zh_Hans"}
# The names a member picks from in /language, in their own language.
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "zh_Hans": "简体中文"}


class Html(str):
    """Text that is already Telegram HTML (a composed fragment): not escaped again."""

    __slots__ = ()


def escape(value: object) -> Html:
    return value if isinstance(value, Html) else Html(html.escape(str(value), quote=False))


def plain(text: Html) -> str:
    """A translated text for a button label or an invoice, which Telegram shows unparsed."""
    return html.unescape(text)


ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: as it is if it fits, else cut and ended with
    "…" (the ellipsis counted), so a reader sees that something was left out.

    For plain text (a title on a button, a name in a list, an answer quoted back), before it
    is escaped: cutting escaped HTML could split an entity.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


class CatalogProblem(ValueError):
    """A locale catalog that cannot be used; the message names the file and the key."""


def language_for(code: str | None) -> str:
    """The catalog for a Telegram ``language_code`` ("zh-hans", "en-GB", None...)."""
    if not code:
        return DEFAULT_LANGUAGE
    if code in LANGUAGE_NAMES:
        return code
    prefix = code.replace("_", "-").split("-")[0].lower()
    return LANGUAGES.get(prefix, DEFAULT_LANGUAGE)


def read_catalogs(folder: Path) -> Catalog:
    """Merge every ``.po`` file of one language into one catalog; a key defined twice fails."""
    merged: Catalog | None = None
    origin: dict[object, Path] = {}
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            part = read_po(handle, locale=folder.parent.name)
        if merged is None:
            merged = Catalog(locale=part.locale, domain="pointsmall", fuzzy=False)
        for message in part:
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in origin:
                raise CatalogProblem(f"{path}: {key!r} is already defined in {origin[key]}")
            origin[key] = path
            merged[message.id] = message
    if merged is None:
        raise CatalogProblem(f"{folder}: no .po files")
    return merged


def _translations(catalog: Catalog) -> gettext.GNUTranslations:
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@dataclass(frozen=True)
class Translator:
    """One member's language: texts, numbers and dates as they read them."""

    language: str
    locale: Locale
    translations: gettext.GNUTranslations
    tz: dt.tzinfo

    def __call__(self, key: str, /, **params: object) -> Html:
        return self._format(self.translations.gettext(key), params)

    def n(self, key: str, count: int, /, **params: object) -> Html:
        """A text that depends on a number (``{count}`` is filled in, formatted)."""
        text = self.translations.ngettext(key, key + ".plural", count)
        return self._format(text, {"count": self.number(count), **params})

    def points(self, amount: int) -> Html:
        return self.n("unit.points", amount)

    def number(self, value: int) -> Html:
        return Html(format_decimal(value, locale=self.locale))

    def date(self, day: dt.date) -> Html:
        return Html(format_skeleton("MMMd", day, locale=self.locale))

    def moment(self, at: dt.datetime) -> Html:
        """An instant in the mall's time zone: "Mar 5, 14:00"."""
        local = at.astimezone(self.tz)
        day = format_skeleton("MMMd", local.date(), locale=self.locale)
        return Html(f"{day} {format_time(local.time(), 'HH:mm', locale=self.locale)}")

    def month(self, day: dt.date) -> Html:
        return Html(format_skeleton("yMMMM", day, locale=self.locale))

    def money(self, minor: int, currency: str) -> Html:
        """An amount in minor units (fen, cents) as the locale writes it: "¥12.50"."""
        amount = Decimal(minor).scaleb(-get_currency_precision(currency))
        return escape(format_currency(amount, currency, locale=self.locale))

    def duration(self, seconds: int) -> Html:
        """Time left in its two largest units: "2 h 15 min", "3 days 4 h", "less than a minute"."""
        minutes = max(0, seconds) // 60
        hours, minutes = divmod(minutes, 60)
        days, hours = divmod(hours, 24)
        units = [
            self.n("time.days", days) if days else None,
            self.n("time.hours", hours) if hours else None,
            self.n("time.minutes", minutes) if minutes and not days else None,
        ]
        shown = [unit for unit in units if unit is not None][:2]
        if not shown:
            return self("time.under_minute")
        if len(shown) == 1:
            return shown[0]
        return self("time.pair", first=shown[0], second=shown[1])

    def _format(self, text: str, params: Mapping[str, object]) -> Html:
        if not params:
            return Html(text)
        return Html(text.format_map({name: escape(value) for name, value in params.items()}))


class Languages:
    """Every language the mall speaks, loaded once at start."""

    def __init__(self, tz: dt.tzinfo, folder: Path = LOCALES_DIR) -> None:
        self.tz = tz
        self.catalogs = {
            lang: read_catalogs(folder / lang / "LC_MESSAGES") for lang in LANGUAGE_NAMES
        }
        english = _translations(self.catalogs[DEFAULT_LANGUAGE])
        self._translators: dict[str, Translator] = {}
        for lang, catalog in self.catalogs.items():
            translations = english if lang == DEFAULT_LANGUAGE else _translations(catalog)
            if translations is not english:
                translations.add_fallback(english)
            self._translators[lang] = Translator(lang, Locale.parse(lang), translations, tz)

    def __getitem__(self, language: str) -> Translator:
        return self._translators[language_for(language)]

    @property
    def all(self) -> tuple[Translator, ...]:
        return tuple(self._translators.values())


@cache
def load_languages(tz: dt.tzinfo) -> Languages:
    return Languages(tz)
