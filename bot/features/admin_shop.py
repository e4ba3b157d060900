"""Admins: the shop in the chat (``/shop``, or the admin menu's Shop).

The section (``asp``) sums up the shop's orders, refunds and API keys, and warns of points that
refunds could not take back because the member had spent them. From there:

- **Orders** (``aso``) and **Refunds** (``asr``): the latest of each, newest first, with their
  member (or the customer nobody linked yet), money, points and where they came from; a refund's
  unrecovered points stand out.
- **Parked** (``asw``): orders waiting for their customer to link, the oldest first.
- **API keys** (``akl``): every key, live or revoked. A new key's name is asked as a typed
  answer; its secret is shown once, in a message to copy. Revoking waits for a Confirm button
  with a nonce, so a double tap revokes once. ``core.commerce.shop_keys`` writes both to the audit
  log in the transaction of the change.
- **Import orders** (``asi``): a CSV of orders sent as a document (``core.commerce.shop_csv``):
  every row is checked first and with any error nothing is imported and each error is listed with
  its line; importing the same file again changes nothing. An import is audited with its counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from bot.callback_data import CallbackData, Chars
from bot.events import Upload
from bot.features.admin_questions import Nonce, ask, confirmed_or_back, drop_question, new_nonce
from bot.features.admin_screens import admin_screen, two_a_row
from bot.i18n import Html, Translator, escape, shorten
from bot.router import Router, Stale
from bot.screens import Button, Keyboard, Screen
from bot.turn import Turn
from core.commerce.shop_csv import COLUMNS, ImportProblem
from core.commerce.shop_keys import KeyView
from core.commerce.shop_views import MemberName, OrderRow, RefundRow
from core.errors import InvalidInput

router = Router()

SECTION_ROUTE = "asp"
ORDERS_ROUTE = "aso"
REFUNDS_ROUTE = "asr"
PARKED_ROUTE = "asw"
IMPORT_ROUTE = "asi"
IMPORT_CANCEL_ROUTE = "asx"
KEYS_ROUTE = "akl"
NEW_KEY_ROUTE = "akn"
REVOKE_ROUTE = "akr"
REVOKE_CONFIRM_ROUTE = "aky"
KEYS_CANCEL_ROUTE = "akx"


class ShopSection(CallbackData, route=SECTION_ROUTE):
    """The shop section: orders, refunds, parked orders, keys, import."""


class ShopOrders(CallbackData, route=ORDERS_ROUTE):
    """The latest shop orders."""


class ShopRefunds(CallbackData, route=REFUNDS_ROUTE):
    """The latest shop refunds."""


class ParkedOrders(CallbackData, route=PARKED_ROUTE):
    """Orders waiting for their customer to link."""


class ImportOrders(CallbackData, route=IMPORT_ROUTE):
    """Import orders from a CSV (asks for the file)."""


class CancelImport(CallbackData, route=IMPORT_CANCEL_ROUTE):
    """Drop the import question."""


class ShopKeys(CallbackData, route=KEYS_ROUTE):
    """The shop's API keys."""


class NewShopKey(CallbackData, route=NEW_KEY_ROUTE):
    """Create a key (asks its name)."""


class RevokeShopKey(CallbackData, route=REVOKE_ROUTE):
    """Revoke a key? (asks first)."""

    key_id: Annotated[str, Chars("A-Za-z0-9_-", 32, 4)]


class ConfirmRevokeShopKey(CallbackData, route=REVOKE_CONFIRM_ROUTE):
    """Yes, revoke it: the confirmation open with this nonce."""

    nonce: Nonce


class CancelKeys(CallbackData, route=KEYS_CANCEL_ROUTE):
    """Drop the open key question."""


QUESTION_PREFIX = "admin.shop."
KEY_NAME_INPUT = "admin.shop.key_name"
REVOKE_INPUT = "admin.shop.revoke"
CSV_UPLOAD = "admin.shop.orders_csv"

LISTED = 15
KEY_NAME_MAX = 64
CSV_MAX_BYTES = 1024 * 1024
PROBLEMS_SHOWN = 15
# A problem's message is cut here (it may quote what the file had in a cell).
PROBLEM_CHARS = 160
# Names are cut here in lists and on buttons (a member's name may be 128 characters).
NAME_CHARS = 40
# What a list may fill of a message (Telegram takes 4096), the rest for its head and tail.
TEXT_BUDGET = 3400

ORDER_STATUS: Mapping[str, str] = {
    "credited": "admin.shop.order.credited",
    "parked": "admin.shop.order.parked",
    "refunded": "admin.shop.order.refunded",
    "expired": "admin.shop.order.expired",
}
REFUND_STATUS: Mapping[str, str] = {
    "applied": "admin.shop.refund.applied",
    "pending": "admin.shop.refund.pending",
    "netted": "admin.shop.refund.netted",
    "exceeded": "admin.shop.refund.exceeded",
}
# Where an order came from: names of products, the same in every language.
SOURCES: Mapping[str, str] = {
    "api": "API",
    "shopify": "Shopify",
    "woocommerce": "WooCommerce",
    "csv": "CSV",
}


# --- Small pieces ----------------------------------------------------------------------------


def _money(turn: Turn, minor: int) -> Html:
    return turn.t.money(minor, turn.config.mall.currency)


def _member(t: Translator, member: MemberName) -> Html:
    """``Bob (@bob, 2002)``, as the other admin screens name a member."""
    if member.name is None:
        return t("admin.shop.erased", id=member.member_id)
    handle = f"@{member.username}, " if member.username else ""
    return escape(f"{shorten(member.name, NAME_CHARS)} ({handle}{member.member_id})")


def _customer(t: Translator, shown: str) -> Html:
    """A customer as ``core.commerce.shop`` shows one: ``telegram_id:42``, ``ref:<ref>`` or
    ``phone``."""
    if shown.startswith("telegram_id:"):
        return t("admin.shop.customer.telegram", id=shown.removeprefix("telegram_id:"))
    if shown.startswith("ref:"):
        return t("admin.shop.customer.ref", ref=shown.removeprefix("ref:"))
    return t("admin.shop.customer.phone")


def _fit(
    t: Translator, head: Sequence[str], lines: Sequence[Html], sep: str = "\n", more: int = 0
) -> Html:
    """The head and as many lines as fit in one message, then "… and N more" for the rest
    (``more``: lines left out before, counted too)."""
    used = sum(len(part) + 1 for part in head)
    shown: list[Html] = []
    for line in lines:
        if used + len(line) + len(sep) > TEXT_BUDGET:
            break
        shown.append(line)
        used += len(line) + len(sep)
    body = sep.join(shown)
    hidden = len(lines) - len(shown) + more
    if hidden:
        body += t("admin.shop.and_more", count=t.number(hidden))
    return Html("\n".join(head) + sep + body)


def _section_button(t: Translator) -> Button:
    return Button(t("admin.shop.to_section"), data=ShopSection().pack())


# --- The section -----------------------------------------------------------------------------


@router.screen("shop", ShopSection, admin=True)
async def shop_command(turn: Turn) -> None:
    turn.show(await _section(turn))


async def _section(turn: Turn, intro: Html | None = None) -> Screen:
    t = turn.t
    summary = await turn.mall.shop_views.summary()
    lines = [intro, ""] if intro else []
    lines += [
        t("admin.shop.title"),
        t(
            "admin.shop.orders_count",
            orders=t.number(summary.orders),
            credited=t.number(summary.credited),
            parked=t.number(summary.parked),
            refunded=t.number(summary.refunded),
            expired=t.number(summary.expired),
        ),
        t("admin.shop.refunds_count", refunds=t.number(summary.refunds)),
        t("admin.shop.keys_count", keys=t.number(summary.active_keys)),
    ]
    if summary.unrecovered_points:
        lines += [
            "",
            t(
                "admin.shop.unrecovered_total",
                points=t.points(summary.unrecovered_points),
                refunds=t.number(summary.refunds_unrecovered),
            ),
        ]
    buttons = [
        Button(t("admin.shop.orders"), data=ShopOrders().pack()),
        Button(t("admin.shop.refunds"), data=ShopRefunds().pack()),
        Button(t("admin.shop.parked"), data=ParkedOrders().pack()),
        Button(t("admin.shop.keys"), data=ShopKeys().pack()),
    ]
    rows = (*two_a_row(buttons), (Button(t("admin.shop.import"), data=ImportOrders().pack()),))
    return admin_screen(turn, Html("\n".join(lines)), rows)


# --- Orders, refunds, parked orders ----------------------------------------------------------


@router.button(ShopOrders, admin=True)
async def orders_button(turn: Turn, pressed: ShopOrders) -> None:
    t = turn.t
    orders = await turn.mall.shop_views.recent_orders(LISTED)
    rows = ((Button(t("admin.shop.refunds"), data=ShopRefunds().pack()), _section_button(t)),)
    if not orders:
        turn.show(admin_screen(turn, t("admin.shop.orders.empty"), rows))
        return
    text = _fit(t, [t("admin.shop.orders.title")], [_order_line(turn, o) for o in orders], "\n\n")
    turn.show(admin_screen(turn, text, rows))


def _order_line(turn: Turn, order: OrderRow) -> Html:
    t = turn.t
    parts = [
        t(ORDER_STATUS[order.status]) if order.status in ORDER_STATUS else escape(order.status),
        t("admin.shop.order.id", order=order.order_id),
        _money(turn, order.total_minor),
    ]
    if order.status == "credited":
        parts.append(t.points(order.points))
    if order.refunded_minor and order.status != "refunded":
        parts.append(t("admin.shop.order.refunded_part", amount=_money(turn, order.refunded_minor)))
    parts.append(escape(SOURCES.get(order.source, order.source)))
    if order.member is not None:
        who = _member(t, order.member)
    else:
        who = t("admin.shop.not_linked", customer=_customer(t, order.customer))
    when = [who, t.moment(order.received_at)]
    if order.status == "parked" and order.parked_until is not None:
        when.append(t("admin.shop.until", day=t.date(order.parked_until.astimezone(t.tz).date())))
    return Html(" · ".join(parts) + "\n" + " · ".join(when))


@router.button(ShopRefunds, admin=True)
async def refunds_button(turn: Turn, pressed: ShopRefunds) -> None:
    t = turn.t
    refunds = await turn.mall.shop_views.recent_refunds(LISTED)
    rows = ((Button(t("admin.shop.orders"), data=ShopOrders().pack()), _section_button(t)),)
    if not refunds:
        turn.show(admin_screen(turn, t("admin.shop.refunds.empty"), rows))
        return
    head: list[str] = [t("admin.shop.refunds.title")]
    summary = await turn.mall.shop_views.summary()
    if summary.unrecovered_points:
        head += [
            t(
                "admin.shop.unrecovered_total",
                points=t.points(summary.unrecovered_points),
                refunds=t.number(summary.refunds_unrecovered),
            )
        ]
    text = _fit(t, head, [_refund_line(turn, r) for r in refunds], "\n\n")
    turn.show(admin_screen(turn, text, rows))


def _refund_line(turn: Turn, refund: RefundRow) -> Html:
    t = turn.t
    status = REFUND_STATUS.get(refund.status)
    parts = [
        t(status) if status else escape(refund.status),
        t("admin.shop.refund.id", order=refund.order_id, refund=refund.refund_id),
        _money(turn, refund.amount_minor),
    ]
    if refund.status == "applied":
        parts.append(t("admin.shop.refund.taken", points=t.points(refund.points_taken)))
    who = _member(t, refund.member) if refund.member is not None else None
    second = " · ".join(p for p in (who, t.moment(refund.received_at)) if p)
    lines = [" · ".join(parts), second]
    if refund.unrecovered:
        lines.append(t("admin.shop.refund.unrecovered", points=t.points(refund.unrecovered)))
    return Html("\n".join(lines))


@router.button(ParkedOrders, admin=True)
async def parked_button(turn: Turn, pressed: ParkedOrders) -> None:
    t = turn.t
    parked = await turn.mall.shop.parked_orders(LISTED)
    rows = ((Button(t("admin.shop.orders"), data=ShopOrders().pack()), _section_button(t)),)
    if not parked:
        turn.show(admin_screen(turn, t("admin.shop.parked.empty"), rows))
        return
    count = (await turn.mall.shop_views.summary()).parked
    head = [t("admin.shop.parked.title", count=t.number(max(count, len(parked))))]
    lines = [
        t(
            "admin.shop.parked.line",
            order=order.order_id,
            customer=_customer(t, order.customer),
            total=_money(turn, order.total_minor - order.refunded_minor),
            since=t.date(order.received_at.astimezone(t.tz).date()),
            until=t.date(order.parked_until.astimezone(t.tz).date()),
        )
        for order in parked
    ]
    turn.show(admin_screen(turn, _fit(t, head, lines), rows))


# --- API keys ----------------------------------------------------------------------------------


@router.button(ShopKeys, admin=True)
async def keys_button(turn: Turn, pressed: ShopKeys) -> None:
    turn.show(await _keys(turn))


@router.button(CancelKeys, admin=True)
async def keys_cancel_button(turn: Turn, pressed: CancelKeys) -> None:
    await drop_question(turn, QUESTION_PREFIX)
    turn.show(await _keys(turn, turn.t("admin.shop.cancelled")))


async def _keys(turn: Turn, intro: Html | None = None) -> Screen:
    t = turn.t
    keys = await turn.mall.shop_keys.list_keys()
    head = [intro, ""] if intro else []
    rows: list[tuple[Button, ...]] = [(Button(t("admin.shop.keys.new"), data=NewShopKey().pack()),)]
    rows += [
        (
            Button(
                t("admin.shop.keys.revoke", name=shorten(key.name, 24)),
                data=RevokeShopKey(key.key_id).pack(),
            ),
        )
        for key in keys
        if key.active
    ][:10]
    rows.append((_section_button(t),))
    if not keys:
        text = Html("\n".join([*head, t("admin.shop.keys.empty")]))
        return admin_screen(turn, text, tuple(rows))
    head.append(t("admin.shop.keys.title"))
    lines = [_key_line(t, key) for key in keys]
    return admin_screen(turn, _fit(t, head, lines, "\n\n"), tuple(rows))


def _key_line(t: Translator, key: KeyView) -> Html:
    name, created = shorten(key.name, NAME_CHARS), t.moment(key.created_at)
    if key.revoked_at is not None:
        return t(
            "admin.shop.keys.revoked_line",
            name=name,
            key=key.key_id,
            created=created,
            revoked=t.moment(key.revoked_at),
        )
    used = t.moment(key.last_used_at) if key.last_used_at else t("admin.shop.keys.never")
    return t("admin.shop.keys.line", name=name, key=key.key_id, created=created, used=used)


def _cancel_keys(t: Translator) -> Keyboard:
    return ((Button(t("admin.shop.cancel"), data=CancelKeys().pack()),),)


@router.button(NewShopKey, admin=True)
async def new_key_button(turn: Turn, pressed: NewShopKey) -> None:
    t = turn.t
    question = t("admin.shop.keys.ask_name", most=t.number(KEY_NAME_MAX))
    await ask(turn, KEY_NAME_INPUT, {}, question, _cancel_keys(t))


@router.input(KEY_NAME_INPUT, admin=True)
async def key_name_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    t = turn.t
    name = " ".join(text.split())
    problem = t("admin.shop.keys.bad_name", most=t.number(KEY_NAME_MAX))
    if not name or len(name) > KEY_NAME_MAX:
        await ask(turn, KEY_NAME_INPUT, {}, problem, _cancel_keys(t))
        return
    try:
        created = await turn.mall.shop_keys.create_key(name, turn.now, actor_id=turn.sender.user_id)
    except InvalidInput:
        await ask(turn, KEY_NAME_INPUT, {}, problem, _cancel_keys(t))
        return
    text = t(
        "admin.shop.keys.created",
        name=created.name,
        key=created.key_id,
        secret=created.secret,
    )
    rows = ((Button(t("admin.shop.keys"), data=ShopKeys().pack()),),)
    turn.send(admin_screen(turn, text, rows))


@router.button(RevokeShopKey, admin=True)
async def revoke_button(turn: Turn, pressed: RevokeShopKey) -> None:
    key = await _live_key(turn, pressed.key_id)
    if key is None:
        turn.show(await _keys(turn, turn.t("admin.shop.keys.gone")))
        return
    draft = {"key": key.key_id, "name": key.name, "nonce": new_nonce()}
    await _revoke_question(turn, draft)


@router.input(REVOKE_INPUT, admin=True)
async def revoke_input(turn: Turn, text: str, data: Mapping[str, Any]) -> None:
    """Text while the confirmation is open: ask again, still waiting for a button."""
    await _revoke_question(turn, dict(data))


async def _revoke_question(turn: Turn, draft: Mapping[str, Any]) -> None:
    t = turn.t
    question = t(
        "admin.shop.keys.confirm", name=shorten(str(draft["name"]), NAME_CHARS), key=draft["key"]
    )
    rows = (
        (
            Button(
                t("admin.shop.keys.revoke_now"), data=ConfirmRevokeShopKey(draft["nonce"]).pack()
            ),
            Button(t("admin.shop.cancel"), data=CancelKeys().pack()),
        ),
    )
    await ask(turn, REVOKE_INPUT, draft, question, rows)


@router.button(ConfirmRevokeShopKey, admin=True)
async def revoke_confirm_button(turn: Turn, pressed: ConfirmRevokeShopKey) -> None:
    t = turn.t
    draft = await confirmed_or_back(turn, REVOKE_INPUT, pressed.nonce, t("admin.shop.stale"), _keys)
    if draft is None:
        return
    try:
        revoked = await turn.mall.shop_keys.revoke_key(
            str(draft["key"]), turn.now, actor_id=turn.sender.user_id
        )
    finally:
        await turn.mall.inputs.clear(turn.member_id)
    done = t("admin.shop.keys.revoked", name=shorten(revoked.name, NAME_CHARS), key=revoked.key_id)
    turn.notice(done)
    turn.show(await _keys(turn, done))


async def _live_key(turn: Turn, key_id: str) -> KeyView | None:
    """The live key a Revoke button names; None if it was revoked meanwhile."""
    if not key_id.startswith("pk_"):
        raise Stale(f"bad key {key_id!r}")
    keys = {key.key_id: key for key in await turn.mall.shop_keys.list_keys()}
    key = keys.get(key_id)
    if key is None:
        raise Stale(f"no key {key_id!r}")
    return key if key.active else None


# --- Importing orders from a CSV ----------------------------------------------------------------


def _cancel_import(t: Translator) -> Keyboard:
    return ((Button(t("admin.shop.cancel"), data=CancelImport().pack()),),)


async def _ask_file(turn: Turn, text: Html) -> None:
    await ask(turn, CSV_UPLOAD, {}, text, _cancel_import(turn.t))


def _limit(t: Translator) -> Html:
    return t("admin.shop.import.kb", kb=t.number(CSV_MAX_BYTES // 1024))


@router.button(ImportOrders, admin=True)
async def import_button(turn: Turn, pressed: ImportOrders) -> None:
    t = turn.t
    await _ask_file(turn, t("admin.shop.import.ask", limit=_limit(t), columns=",".join(COLUMNS)))


@router.button(CancelImport, admin=True)
async def import_cancel_button(turn: Turn, pressed: CancelImport) -> None:
    await drop_question(turn, QUESTION_PREFIX)
    turn.show(await _section(turn, turn.t("admin.shop.cancelled")))


@router.upload(CSV_UPLOAD, admin=True)
async def csv_upload(turn: Turn, upload: Upload, data: Mapping[str, Any]) -> None:
    t = turn.t
    name = shorten(upload.filename or "?", 60)
    if not upload.filename.lower().endswith(".csv"):
        await _ask_file(turn, t("admin.shop.import.wrong_type", name=name))
        return
    too_large = t("admin.shop.import.too_large", name=name, limit=_limit(t))
    if upload.size > CSV_MAX_BYTES:
        await _ask_file(turn, too_large)
        return
    content = await upload.fetch()
    if len(content) > CSV_MAX_BYTES:  # a size Telegram did not say
        await _ask_file(turn, too_large)
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await _ask_file(turn, t("admin.shop.import.not_utf8"))
        return
    report = await turn.mall.shop.import_orders_csv(
        text, turn.now, actor_id=turn.sender.user_id, filename=upload.filename
    )
    if not report.outcomes:
        heading = t("admin.shop.import.failed", name=name, count=t.number(len(report.problems)))
        await _ask_file(turn, _problems(t, heading, report.problems))
        return
    counts = report.counts()
    lines: list[str] = [
        t(
            "admin.shop.import.done",
            name=name,
            rows=t.number(report.rows),
            credited=t.number(counts["credited"]),
            points=t.points(counts["points"]),
            parked=t.number(counts["parked"]),
            refunded=t.number(counts["refunded"]),
            known=t.number(counts["known"]),
        )
    ]
    if report.problems:  # rows the mall refused after the check (a member frozen meanwhile)
        heading = t("admin.shop.import.refused", count=t.number(len(report.problems)))
        lines += ["", _problems(t, heading, report.problems, nothing_imported=False)]
    rows = ((Button(t("admin.shop.orders"), data=ShopOrders().pack()), _section_button(t)),)
    turn.send(admin_screen(turn, Html("\n".join(lines)), rows))


def _problems(
    t: Translator,
    heading: Html,
    problems: Sequence[ImportProblem],
    *,
    nothing_imported: bool = True,
) -> Html:
    lines = []
    for problem in problems[:PROBLEMS_SHOWN]:
        message = shorten(problem.message, PROBLEM_CHARS)
        if problem.line:
            lines.append(t("admin.shop.import.problem_line", line=problem.line, message=message))
        else:
            lines.append(t("admin.shop.import.problem", message=message))
    text = _fit(t, [heading], lines, more=max(0, len(problems) - PROBLEMS_SHOWN))
    if not nothing_imported:
        return text
    return Html("\n".join([text, t("admin.shop.import.nothing_imported")]))
