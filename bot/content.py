"""What admins wrote for members to read, in the reader's language.

Tier names, the donation cause and the catalog are content, not interface text: they come
from the config (``[[tiers.levels]]`` ``name`` and ``names``, ``[donations]``
``cause``/``cause_names`` and ``description``/``descriptions``) and from the catalog (an
item's or box's ``title``/``titles`` and ``description``/``descriptions``, a prize's and a
shelf's ``name``/``names``), not from the locale catalogs. Each is one concept: a default text
plus texts by language; a text given for the reader's language is shown, otherwise the default
one (:func:`in_language`). A tier's ``name``, a shelf's and a prize's stay their identifiers:
what the database stores and what the config and the catalog refer to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from bot.i18n import LANGUAGE_NAMES, Translator
from core.config import Config, DonationSettings, Tier, TiersSettings

__all__ = [
    "SPOKEN",
    "cause",
    "cause_description",
    "description",
    "in_language",
    "language_problems",
    "prize_name",
    "shelf_name",
    "tier_label",
    "tier_name",
    "title",
]

SPOKEN: tuple[str, ...] = tuple(LANGUAGE_NAMES)
"""The languages members can read content in: those the bot has catalogs for. The catalog
loader refuses a text in any other (``core.rewards.catalog_file.load_catalog(languages=...)``)."""


def in_language(t: Translator, default: str, texts: Mapping[str, str]) -> str:
    """The text ``t``'s reader reads: ``texts`` in their language if given, else ``default``."""
    return texts.get(t.language) or default


class _Titled(Protocol):
    @property
    def title(self) -> str: ...
    @property
    def titles(self) -> Mapping[str, str]: ...


class _Described(Protocol):
    @property
    def description(self) -> str: ...
    @property
    def descriptions(self) -> Mapping[str, str]: ...


class _Named(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def names(self) -> Mapping[str, str]: ...


def title(t: Translator, thing: _Titled) -> str:
    """An item's, a box's, a sale's or a redemption's title as ``t``'s reader reads it."""
    return in_language(t, thing.title, thing.titles)


def description(t: Translator, thing: _Described) -> str:
    """An item's or a box's description as ``t``'s reader reads it."""
    return in_language(t, thing.description, thing.descriptions)


def shelf_name(t: Translator, shelf: _Named) -> str:
    """A shelf (``core.rewards.shelf.Category``) as ``t``'s reader reads it."""
    return in_language(t, shelf.name, shelf.names)


def prize_name(t: Translator, prize: _Named) -> str:
    """A box's prize (``core.games.box_odds.PrizeOdds``) as ``t``'s reader reads it."""
    return in_language(t, prize.name, prize.names)


def tier_label(t: Translator, tier: Tier) -> str:
    """The tier's name as ``t``'s reader reads it."""
    return in_language(t, tier.name, tier.names)


def tier_name(t: Translator, tiers: TiersSettings, name: str) -> str:
    """The tier whose identifier is ``name`` as ``t``'s reader reads it; a name the config no
    longer has (a member's stored tier from an older ladder) is shown as it is."""
    for level in tiers.levels:
        if level.name == name:
            return tier_label(t, level)
    return name


def cause(t: Translator, donations: DonationSettings) -> str:
    """The donation cause's name in ``t``'s language."""
    return in_language(t, donations.cause, donations.cause_names)


def cause_description(t: Translator, donations: DonationSettings) -> str:
    """What the donation cause does, in ``t``'s language."""
    return in_language(t, donations.description, donations.descriptions)


def language_problems(config: Config) -> tuple[str, ...]:
    """One line per language in the config's texts that the bot has no catalog for, naming the
    key (``tiers.levels[1].names.fr``): such a text would never be shown. (The catalog file's
    texts are checked as it loads: the loader is given :data:`SPOKEN`.)"""
    spoken = ", ".join(LANGUAGE_NAMES)
    found: list[tuple[str, Mapping[str, str]]] = [
        (f"tiers.levels[{index}].names", level.names)
        for index, level in enumerate(config.tiers.levels)
    ]
    found += [
        ("donations.cause_names", config.donations.cause_names),
        ("donations.descriptions", config.donations.descriptions),
    ]
    return tuple(
        f"{where}.{language}: the bot has no language {language!r} (it speaks {spoken})"
        for where, texts in found
        for language in texts
        if language not in LANGUAGE_NAMES
    )
