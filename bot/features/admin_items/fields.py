"""An item's fields as the admin screens show and keep them: their labels, which steps an edit
asks, the texts in other languages, the values a form keeps for an item and how they read
(the card and the form's summary show the same lines)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.content import SPOKEN
from bot.features.admin_forms import stored_moment
from bot.features.admin_screens import label
from bot.i18n import DEFAULT_LANGUAGE, LANGUAGE_NAMES, Html
from bot.turn import Turn
from core.membership.pending_inputs import JSON
from core.rewards.eligibility import ItemRecord

# The languages an item's title and description may also be given in, besides the default
# text (which members of any other language read): optional steps of the form, after the
# default text's own.
OTHER_LANGUAGES = tuple(language for language in SPOKEN if language != DEFAULT_LANGUAGE)


def in_language(text: str, language: str) -> str:
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
        in_language(text, language): (in_language(text, language),)
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


def card_text(turn: Turn, item: ItemRecord) -> Html:
    lines = item_lines(
        turn, values_of(item), sku=item.sku, active=item.active, free_codes=item.free_codes
    )
    return Html("\n".join(lines))


def _status(turn: Turn, *, active: bool, listed: bool) -> Html:
    """Where a saved item is: on the shelf, a prize only (boxes still give it), or switched off
    (off the shelf and out of every box)."""
    if not active:
        return turn.t("admin.items.card.inactive")
    return turn.t("admin.items.card.active" if listed else "admin.items.card.prize_only")


def item_lines(
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
    terms = spec_terms(values)
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
        t("admin.items.card.limit", limit=limit_text(turn, values.get("limit"))),
        t(
            "admin.items.card.approval",
            threshold=t.points(approval) if approval is not None else t("admin.items.none_set"),
        ),
        photo_line(turn, values.get("photo")),
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


def price_text(turn: Turn, item: ItemRecord) -> Html:
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


def limit_text(turn: Turn, value: JSON) -> Html:
    """A limit kept in a draft (``[count, period]`` or None), as the card writes it."""
    if isinstance(value, list) and len(value) == 2:
        count, period = value
        if isinstance(count, int) and isinstance(period, str):
            return _limit(turn, count, period)
    return _limit(turn, None, None)


def photo_line(turn: Turn, photo: object) -> Html:
    return turn.t("admin.items.card.photo_yes") if photo else turn.t("admin.items.card.photo_no")


def values_of(item: ItemRecord) -> dict[str, JSON]:
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
            in_language(text, language): texts.get(language, "")
            for language in OTHER_LANGUAGES
            for text, texts in (("title", item.titles), ("description", item.descriptions))
        },
    }


def _texts(values: Mapping[str, JSON], text: str) -> dict[str, str]:
    """The draft's answers giving ``text`` in other languages, by language (none: empty)."""
    found = {language: values.get(in_language(text, language)) for language in OTHER_LANGUAGES}
    return {
        language: value for language, value in found.items() if isinstance(value, str) and value
    }


def spec_terms(values: Mapping[str, JSON]) -> dict[str, Any]:
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
