"""A refusal from core in the member's words: ``error.<code>`` from the locales.

Every refusal is a :class:`~core.errors.MallError` with a stable code and its details. The
conversation answers any refusal a feature lets through with this text (and a way back to the
menu); a feature that answers a refusal itself (the item's card with why first) words it here
too, so a refusal reads the same wherever it happens.
"""

from __future__ import annotations

import logging

from bot.i18n import Html, Translator
from core.errors import MallError

log = logging.getLogger(__name__)


def refusal_text(t: Translator, exc: MallError) -> Html:
    """``error.<code>`` with the refusal's details; a refusal without words still says so."""
    key = f"error.{exc.code}"
    try:
        text = t(key, **exc.details)
    except (KeyError, IndexError):  # the wording wants a detail this refusal lacks
        text = Html(key)
    if text == key:  # no wording for this code: still say it was refused, never nothing
        log.warning("no text for refusal %r", exc)
        text = t("error.refused", code=exc.code)
    return text
