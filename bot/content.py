"""What admins wrote in the config for members to read, in the reader's language.

Tier names and the donation cause are content, not interface text: they come from the config
(``[[tiers.levels]]`` ``name`` and ``names``, ``[donations]`` ``cause``/``cause_names`` and
``description``/``descriptions``), not from the locale catalogs. A text given for the reader's
language is shown; otherwise the default one. A tier's ``name`` stays its identifier: it is
what the database stores and what the config and the catalog refer to.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.i18n import LANGUAGE_NAMES, Translator
from core.config import Config, DonationSettings, Tier, TiersSettings

__all__ = ["cause", "cause_description", "language_problems", "tier_label", "tier_name"]


def _in(t: Translator, texts: Mapping[str, str], default: str) -> str:
    return texts.get(t.language, default)


def tier_label(t: Translator, tier: Tier) -> str:
    """The tier's name as ``t``'s reader reads it."""
    return _in(t, tier.names, tier.name)


def tier_name(t: Translator, tiers: TiersSettings, name: str) -> str:
    """The tier whose identifier is ``name`` as ``t``'s reader reads it; a name the config no
    longer has (a member's stored tier from an older ladder) is shown as it is."""
    for level in tiers.levels:
        if level.name == name:
            return tier_label(t, level)
    return name


def cause(t: Translator, donations: DonationSettings) -> str:
    """The donation cause's name in ``t``'s language."""
    return _in(t, donations.cause_names, donations.cause)


def cause_description(t: Translator, donations: DonationSettings) -> str:
    """What the donation cause does, in ``t``'s language."""
    return _in(t, donations.descriptions, donations.description)


def language_problems(config: Config) -> tuple[str, ...]:
    """One line per language in the config's texts that the bot has no catalog for, naming the
    key (``tiers.levels[1].names.fr``): such a text would never be shown."""
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
