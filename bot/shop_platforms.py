"""Shopify's and WooCommerce's own webhooks, on the process's listener.

- ``POST /api/v1/shopify/webhooks``: ``X-Shopify-Hmac-Sha256`` checked with ``[shop]
  shopify_secret``; ``X-Shopify-Topic`` ``orders/paid`` credits the order, ``refunds/create``
  takes back the refund's share; other topics are acknowledged and ignored.
- ``POST /api/v1/woocommerce/webhooks``: ``X-WC-Webhook-Signature`` checked with ``[shop]
  woocommerce_secret``; ``order.updated`` with status ``completed`` credits the order,
  ``refunded`` (and each partial refund listed) takes back its share. WooCommerce's unsigned
  ping when a webhook is saved is answered 200.

A platform sends a delivery again until it gets a 2xx, so what was taken once answers 200
whatever happened: a repeat, an order that was since edited at the shop (the first version
counted), a customer with neither phone nor Telegram id (logged, nothing to credit). A wrong
signature is a 401 and a payload that is not an order a 400, both with nothing done. Order and
refund ids are prefixed with the platform (``shopify-450789469``), so they never meet the
API's own ids.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from aiohttp import web

from bot.shop_api import PREFIX, ShopApi
from bot.shop_auth import ApiError, read_body
from core.commerce.shop_orders import OrderIn, OrderLine, Source
from core.errors import MallError, OrderConflict, UnknownOrder
from core.platforms import shopify, woocommerce
from core.platforms.events import OrderEvent, PayloadError, RefundEvent, load_json

log = logging.getLogger(__name__)

# Platforms' payloads are larger than the API's: a big order lists every line.
MAX_BODY_BYTES = 1024 * 1024
_NOT_IN_CATEGORY = re.compile(r"[^a-z0-9_.]+")
# Mall errors about the event itself: a retry cannot help, so the delivery is acknowledged.
_FINAL = (OrderConflict, UnknownOrder)


def mount(api: ShopApi, app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/shopify/webhooks", partial(_shopify, api))
    app.router.add_post(f"{PREFIX}/woocommerce/webhooks", partial(_woocommerce, api))


async def _shopify(api: ShopApi, request: web.Request) -> web.Response:
    runtime = api.runtime
    if runtime is None:
        raise ApiError(503, "starting", "the mall is starting; try again shortly")
    shop = runtime.config.shop
    body = await read_body(request, MAX_BODY_BYTES)
    secret = shop.shopify_secret.get_secret_value() if shop.shopify_secret else ""
    if not shopify.verify(secret, body, request.headers.get("X-Shopify-Hmac-Sha256")):
        raise ApiError(401, "bad_signature", "X-Shopify-Hmac-Sha256 does not match")
    topic = request.headers.get("X-Shopify-Topic", "")
    events: tuple[OrderEvent | RefundEvent, ...]
    if topic == "orders/paid":
        events = (_read(lambda p: shopify.parse_order(p), body),)
    elif topic == "refunds/create":
        events = (_read(lambda p: shopify.parse_refund(p), body),)
    else:
        return web.json_response({"ignored": topic})
    return await _apply(api, "shopify", events)


async def _woocommerce(api: ShopApi, request: web.Request) -> web.Response:
    runtime = api.runtime
    if runtime is None:
        raise ApiError(503, "starting", "the mall is starting; try again shortly")
    shop = runtime.config.shop
    body = await read_body(request, MAX_BODY_BYTES)
    if woocommerce.is_ping(body):
        return web.json_response({"ok": True})
    secret = shop.woocommerce_secret.get_secret_value() if shop.woocommerce_secret else ""
    if not woocommerce.verify(secret, body, request.headers.get("X-WC-Webhook-Signature")):
        raise ApiError(401, "bad_signature", "X-WC-Webhook-Signature does not match")
    events = _read(woocommerce.parse, body)
    return await _apply(api, "woocommerce", events)


def _read(parse: Callable[[Mapping[str, Any]], Any], body: bytes) -> Any:
    try:
        return parse(load_json(body))
    except PayloadError as error:
        raise ApiError(400, "bad_payload", str(error)) from None


async def _apply(
    api: ShopApi, source: Source, events: tuple[OrderEvent | RefundEvent, ...]
) -> web.Response:
    runtime = api.runtime
    assert runtime is not None
    prefix = "wc" if source == "woocommerce" else source
    done: list[dict[str, Any]] = []
    for event in events:
        try:
            if isinstance(event, OrderEvent):
                done.append(await _order(api, source, prefix, event))
            else:
                outcome = await runtime.mall.shop.refund(
                    f"{prefix}-{event.order_id}",
                    f"{prefix}-{event.refund_id}",
                    event.amount,
                    api.clock(),
                )
                if outcome.status == "applied" and outcome.telegram_id is not None:
                    await api.tell_refunded(runtime, outcome)
                done.append({"refund_id": outcome.refund_id, "status": outcome.status})
        except _FINAL as error:
            log.warning("%s webhook: %s (acknowledged, nothing more to do)", source, error)
            done.append({"error": error.code})
        except MallError as error:
            raise ApiError(422, error.code, str(error)) from None
    return web.json_response({"events": done})


async def _order(api: ShopApi, source: Source, prefix: str, event: OrderEvent) -> dict[str, Any]:
    runtime = api.runtime
    assert runtime is not None
    customer: dict[str, object]
    if event.telegram_id is not None:
        customer = {"telegram_id": event.telegram_id}
    elif event.phone:
        customer = {"phone": event.phone}
    else:
        log.warning(
            "%s order %s names no phone or Telegram id: not credited", source, event.order_id
        )
        return {"order_id": event.order_id, "status": "no_customer"}
    outcome = await runtime.mall.shop.accept_order(
        OrderIn(
            order_id=f"{prefix}-{event.order_id}",
            customer=customer,
            total=event.total,
            currency=event.currency,
            lines=tuple(
                OrderLine(
                    line.sku[:64] or f"line-{number}",
                    _category(line.category, runtime.config.shop.default_category),
                    line.amount,
                    line.quantity,
                )
                for number, line in enumerate(event.lines, start=1)
            ),
            placed_at=event.placed_at if event.placed_at and event.placed_at.tzinfo else None,
            source=source,
        ),
        api.clock(),
    )
    if outcome.status == "credited" and outcome.telegram_id is not None:
        await api.tell_credited(runtime, outcome)
    return {"order_id": outcome.order_id, "status": outcome.status, "points": outcome.points}


def _category(shown: str, default: str) -> str:
    """A platform's product type as an earning category ("Cult Products" -> "cult-products");
    none, or one that cannot be a category, earns as ``[shop] default_category``."""
    slug = _NOT_IN_CATEGORY.sub("-", shown.strip().lower()).strip("-")[:64]
    return slug or default
