"""The shop's API on the process's listener: orders, refunds, checkout holds, members.

JSON over HTTP under ``/api/v1``, every request signed (:mod:`bot.shop_auth`). What it does
is ``core.commerce.shop``'s; this module reads requests, maps the mall's refusals to HTTP statuses
(:data:`STATUS`), and tells members in the chat what an order earned or a refund took back,
through the outbox (keyed by the order and refund ids, so a retried request tells once).

- ``POST /api/v1/orders``: credit an order by the earning rules, or park it until its
  customer links (``status`` ``credited`` or ``parked``). The same order again answers the same;
  with another body it is a 409.
- ``POST /api/v1/orders/{order_id}/refunds``: take back that share (idempotent by
  ``refund_id``; a refund before its order waits for it).
- ``POST /api/v1/checkout/holds``, ``.../{hold_id}/capture``, ``.../{hold_id}/release``: points
  held as a discount at the shop's checkout, through the ledger's holds.
- ``GET /api/v1/members/{telegram_id}``: balance, tier, what expires when.
- ``POST /api/v1/links``: a link to show after checkout, ``https://t.me/<bot>?start=s-<token>``,
  that links the shop's customer reference to the member who opens it
  (``core.commerce.shop_links``); 201, a new token each time. 503 until the bot's username is known
  (``getMe``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from bot.delivery import screen_to_json
from bot.features.member_days import bonus_line
from bot.i18n import Html, Translator
from bot.runtime import Runtime
from bot.screens import Button, Screen
from bot.shop_auth import ApiError, RateLimit, Signed, authenticate
from bot.turn import MainMenu
from core.commerce.shop_links import START_PREFIX
from core.commerce.shop_orders import OrderIn, OrderLine, OrderOutcome, RefundOutcome
from core.errors import MallError
from core.operations.outbox import Envelope

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
# The HTTP status of each refusal the shop may meet; any other MallError is a 422.
STATUS: Mapping[str, int] = {
    "order_conflict": 409,
    "key_reused": 409,
    "unknown_member": 404,
    "unknown_customer": 404,
    "unknown_order": 404,
    "unknown_hold": 404,
    "insufficient_points": 409,
    "frozen": 403,
    "phone_matching_off": 501,
}


class ShopApi:
    """The routes; :attr:`runtime` is set once the database is reached (503 until then), and
    :attr:`bot_username` once Telegram said who the bot is (``/links`` answers 503 until then).
    """

    def __init__(
        self, *, rate: float = 20.0, burst: float = 40.0, bot_username: str | None = None
    ) -> None:
        self.runtime: Runtime | None = None
        self.bot_username = bot_username
        self.limit = RateLimit(rate, burst)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.wall: Callable[[], float] = time.time

    def mount(self, app: web.Application) -> None:
        routes = (
            ("POST", "/orders", self.order),
            ("POST", "/orders/{order_id}/refunds", self.refund),
            ("POST", "/checkout/holds", self.hold),
            ("POST", "/checkout/holds/{hold_id}/capture", self.capture),
            ("POST", "/checkout/holds/{hold_id}/release", self.release),
            ("GET", "/members/{telegram_id}", self.member),
        )
        for method, path, handler in routes:
            app.router.add_route(method, PREFIX + path, self._guarded(handler))
        app.router.add_route("POST", PREFIX + "/links", self._guarded(self.link, success=201))

    def _guarded(
        self,
        handler: Callable[[Runtime, Signed, web.Request], Awaitable[dict[str, Any]]],
        *,
        success: int = 200,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            runtime = self.runtime
            if runtime is None:
                raise ApiError(503, "starting", "the mall is starting; try again shortly")
            signed = await authenticate(
                request, runtime.mall.shop_keys.secret_for, self.limit, self.wall
            )
            try:
                body = await handler(runtime, signed, request)
            except MallError as error:
                status = STATUS.get(error.code, 422)
                raise ApiError(status, error.code, str(error)) from None
            await runtime.mall.shop_keys.mark_used(signed.key_id, self.clock())
            return web.json_response(body, status=success)

        return handle

    # -- orders and refunds -------------------------------------------------------------

    async def order(self, runtime: Runtime, signed: Signed, request: web.Request) -> dict[str, Any]:
        order = read_order(signed.json())
        outcome = await runtime.mall.shop.accept_order(order, self.clock())
        if outcome.status == "credited" and outcome.telegram_id is not None:
            await self.tell_credited(runtime, outcome)
        return order_json(outcome)

    async def refund(
        self, runtime: Runtime, signed: Signed, request: web.Request
    ) -> dict[str, Any]:
        body = signed.json()
        refund_id = _text(body, "refund_id")
        amount = _amount(body, "amount")
        outcome = await runtime.mall.shop.refund(
            request.match_info["order_id"], refund_id, amount, self.clock()
        )
        if outcome.status == "applied" and outcome.telegram_id is not None:
            await self.tell_refunded(runtime, outcome)
        return asdict(outcome)

    # -- checkout holds -----------------------------------------------------------------

    async def hold(self, runtime: Runtime, signed: Signed, request: web.Request) -> dict[str, Any]:
        body = signed.json()
        points = body.get("points")
        if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
            raise ApiError(422, "invalid_input", "points: expected a positive whole number")
        customer = body.get("customer")
        if not isinstance(customer, dict):
            raise ApiError(422, "invalid_input", "customer: expected an object")
        held = await runtime.mall.shop.hold_for_checkout(
            _text(body, "hold_id"), customer, points, self.clock()
        )
        return _hold_json(held)

    async def capture(
        self, runtime: Runtime, signed: Signed, request: web.Request
    ) -> dict[str, Any]:
        order_id = _text(signed.json(), "order_id")
        held = await runtime.mall.shop.capture(
            request.match_info["hold_id"], order_id, self.clock()
        )
        return _hold_json(held)

    async def release(
        self, runtime: Runtime, signed: Signed, request: web.Request
    ) -> dict[str, Any]:
        held = await runtime.mall.shop.release(request.match_info["hold_id"], self.clock())
        return _hold_json(held)

    # -- members ------------------------------------------------------------------------

    async def member(
        self, runtime: Runtime, signed: Signed, request: web.Request
    ) -> dict[str, Any]:
        raw = request.match_info["telegram_id"]
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 15:
            raise ApiError(422, "invalid_input", "telegram_id: expected a whole number")
        member_id = int(raw)
        mall, now = runtime.mall, self.clock()
        balance = await mall.statements.balance(member_id)
        tier = await mall.statements.tier(member_id, now)
        expiring = await mall.statements.expiring(member_id, now)
        return {
            "telegram_id": member_id,
            "balance": balance.balance,
            "held": balance.held,
            "frozen": balance.frozen,
            "tier": tier.tier,
            "expiring": [
                {"last_day": e.last_day.isoformat(), "points": e.amount} for e in expiring
            ],
        }

    # -- links to show after checkout ---------------------------------------------------

    async def link(self, runtime: Runtime, signed: Signed, request: web.Request) -> dict[str, Any]:
        username = self.bot_username
        if not username:
            raise ApiError(503, "starting", "the bot is starting; try again shortly")
        ref = signed.json().get("ref")
        if not isinstance(ref, str):
            raise ApiError(422, "invalid_input", "ref: expected a string")
        made = await runtime.mall.shop.create_link(ref, self.clock())
        return {
            "ref": made.ref,
            "url": f"https://t.me/{username}?start={START_PREFIX}{made.token}",
            "token": made.token,
            "expires_at": made.expires_at.isoformat(),
        }

    # -- telling the member -------------------------------------------------------------

    async def tell_credited(self, runtime: Runtime, outcome: OrderOutcome) -> None:
        assert outcome.telegram_id is not None

        def text(t: Translator) -> Html:
            key = "orders.credited" if outcome.points else "orders.credited_nothing"
            said = t(key, order=outcome.order_id, points=t.points(outcome.points))
            if outcome.member_day is not None and outcome.member_day.points:
                said = Html(f"{said}\n{bonus_line(t, outcome.member_day)}")
            if outcome.referral_points:
                bonus = t("orders.referral", points=t.points(outcome.referral_points))
                return Html(f"{said}\n{bonus}")
            return said

        await _tell(runtime, outcome.telegram_id, f"order:{outcome.order_id}", text, self.clock())

    async def tell_refunded(self, runtime: Runtime, outcome: RefundOutcome) -> None:
        assert outcome.telegram_id is not None

        def text(t: Translator) -> Html:
            said = t(
                "orders.refunded", order=outcome.order_id, points=t.points(outcome.points_taken)
            )
            if outcome.unrecovered:
                short = t("orders.refunded_short", unrecovered=t.points(outcome.unrecovered))
                return Html(f"{said}\n{short}")
            return said

        key = f"refund:{outcome.order_id}:{outcome.refund_id}"
        await _tell(runtime, outcome.telegram_id, key, text, self.clock())


async def _tell(
    runtime: Runtime,
    member_id: int,
    key: str,
    text: Callable[[Translator], Html],
    now: datetime,
) -> None:
    """A message to the member in their language, with their balance, through the outbox."""
    mall = runtime.mall
    profile = await mall.members.profile(member_id)
    t = runtime.languages[profile.language]
    balance = await mall.statements.balance(member_id)
    body = Html(f"{text(t)}\n{t('orders.balance', balance=t.points(balance.balance))}")
    screen = Screen(body, ((Button(t("menu.back"), data=MainMenu().pack()),),))
    await mall.outbox.message(Envelope(key, member_id, screen_to_json(screen)), now)


# --- Reading requests -------------------------------------------------------------------------


def read_order(body: Mapping[str, Any]) -> OrderIn:
    """The API's order body as core reads it; :class:`ApiError` 422 naming what is wrong."""
    customer = body.get("customer")
    if not isinstance(customer, dict):
        raise ApiError(422, "invalid_input", "customer: expected an object")
    lines = body.get("lines", [])
    if not isinstance(lines, list):
        raise ApiError(422, "invalid_input", "lines: expected a list")
    parsed: list[OrderLine] = []
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not isinstance(line, dict):
            raise ApiError(422, "invalid_input", f"{where}: expected an object")
        quantity = line.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ApiError(422, "invalid_input", f"{where}.quantity: expected a whole number ≥ 1")
        parsed.append(
            OrderLine(
                sku=str(line.get("sku", "")),
                category=str(line.get("category", "")),
                amount=_amount(line, "amount", where=where),
                quantity=quantity,
            )
        )
    placed = body.get("placed_at")
    placed_at = None
    if placed is not None:
        try:
            placed_at = datetime.fromisoformat(str(placed))
        except ValueError:
            raise ApiError(
                422, "invalid_input", "placed_at: expected an ISO 8601 time with its offset"
            ) from None
        if placed_at.tzinfo is None:
            raise ApiError(422, "invalid_input", "placed_at: give its UTC offset (+08:00)")
    return OrderIn(
        order_id=_text(body, "order_id"),
        customer=customer,
        total=_amount(body, "total"),
        currency=_text(body, "currency"),
        lines=tuple(parsed),
        placed_at=placed_at,
    )


def order_json(outcome: OrderOutcome) -> dict[str, Any]:
    return {
        "order_id": outcome.order_id,
        "status": outcome.status,
        "points": outcome.points,
        "telegram_id": outcome.telegram_id,
    }


def _hold_json(held: Any) -> dict[str, Any]:
    return {
        "hold_id": held.hold_ref,
        "status": held.status,
        "telegram_id": held.telegram_id,
        "points": held.points,
        "value_minor": held.value_minor,
        "expires_at": held.expires_at.isoformat(),
        "order_id": held.order_id,
    }


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "invalid_input", f"{name}: expected a non-empty string")
    return value.strip()


def _amount(body: Mapping[str, Any], name: str, *, where: str = "") -> Decimal:
    """A decimal string such as "128.50" (a JSON number is refused: floats round)."""
    label = f"{where}.{name}" if where else name
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(422, "invalid_input", f'{label}: expected a decimal string like "128.50"')
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ApiError(422, "invalid_input", f"{label}: {value[:40]!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise ApiError(422, "invalid_input", f"{label}: expected a positive amount")
    return amount
