"""How a blind box's odds read, to members and to admins: each chance to as few decimals as show
it truly, never a false 0% or 100%."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from babel.numbers import format_percent

from bot.i18n import Html, Translator

# Decimals of a percent a box's odds are shown with, at most ("under 0.01%" below that).
MOST_PLACES = 2


def odds_places(weights: Sequence[int], total: int) -> int:
    """How many decimals of a percent every chance of one box is shown with: one, or two when
    the smallest is under 1% so that it does not read as 0 (:data:`MOST_PLACES` at most);
    fewer when every chance is exact with fewer ("60%" beside "30%", not "60.0%")."""
    shares = [Fraction(weight * 100, total) for weight in weights if weight > 0]
    if not shares:
        return 0
    places = 1
    while places < MOST_PLACES and min(shares) < Fraction(1, 10 ** (places - 1)):
        places += 1
    return next(
        (n for n in range(places) if all((share * 10**n).denominator == 1 for share in shares)),
        places,
    )


def percent(t: Translator, weight: int, total: int, places: int) -> Html:
    """A prize's chance to ``places`` decimals of a percent (:func:`odds_places`), never a
    false 0% or 100%: "under 0.01%", "over 99.99%"."""
    unit = Decimal(1).scaleb(-places)
    shown = (Decimal(weight * 100) / Decimal(total)).quantize(unit, rounding=ROUND_HALF_UP)
    if shown == 0 and weight > 0:
        return t("boxes.odds.tiny", chance=_percent_text(t, unit, places))
    if shown == 100 and weight < total:
        return t("boxes.odds.almost", chance=_percent_text(t, 100 - unit, places))
    return _percent_text(t, shown, places)


def _percent_text(t: Translator, value: Decimal, places: int) -> Html:
    """``value`` percent as the member's locale writes it, with exactly ``places`` decimals."""
    pattern = "#,##0" + ("." + "0" * places if places else "") + "%"
    return Html(format_percent(value / 100, format=pattern, locale=t.locale))
