"""A small signed client of the PointsMall shop API, on the standard library alone.

Copy it into the shop's code, or run it from a shell:

    export POINTSMALL_SHOP_KEY=pk_...        # from `pointsmall shop key create NAME`
    export POINTSMALL_SHOP_SECRET=...        # shown once, with the key
    python examples/shop_client.py --url http://127.0.0.1:8080 \\
        order A-1001 128.50 --currency CNY --telegram-id 42
    python examples/shop_client.py refund A-1001 R-1 28.50
    python examples/shop_client.py member 42
    python examples/shop_client.py link shop-customer-7

Every request carries ``X-PointsMall-Key`` and ``X-PointsMall-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``; see docs/shop-api.md.
A non-2xx answer raises :class:`ShopApiError` with the API's error code (``bad_signature``,
``order_conflict``, ``refund_exceeds_order``, ...).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

Customer = Mapping[str, object]  # {"telegram_id": 42}, {"phone": "+86..."} or {"ref": "..."}
Amount = str | Decimal  # a decimal string such as "128.50"; never a float


class ShopApiError(Exception):
    """A non-2xx answer: ``status`` (HTTP), ``code`` (the API's ``error``) and ``message``.

    ``retry_after`` is the seconds to wait after a 429 (``rate_limited``), else None.
    """

    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-PointsMall-Signature`` header of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def _amount(value: Amount) -> str:
    if isinstance(value, float):
        raise TypeError("give amounts as decimal strings ('128.50') or Decimal, not floats")
    return str(value)


class ShopClient:
    """Signed calls to ``base_url`` (the mall's ``[http]`` listener, or the proxy in front)."""

    def __init__(self, base_url: str, key_id: str, secret: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self.secret = secret
        self.timeout = timeout

    # -- orders and refunds ----------------------------------------------------------------

    def order(
        self,
        order_id: str,
        customer: Customer,
        total: Amount,
        currency: str,
        *,
        lines: Sequence[Mapping[str, object]] | None = None,
        placed_at: str | None = None,
    ) -> dict[str, Any]:
        """Credit an order (``status`` ``credited``), or park it (``parked``) until the
        customer links. Sending it again with the same values answers the same."""
        body: dict[str, object] = {
            "order_id": order_id,
            "customer": dict(customer),
            "total": _amount(total),
            "currency": currency,
        }
        if lines is not None:
            body["lines"] = [
                {**line, "amount": _amount(line["amount"])}  # type: ignore[arg-type]
                for line in lines
            ]
        if placed_at is not None:
            body["placed_at"] = placed_at
        return self._call("POST", "/api/v1/orders", body)

    def refund(self, order_id: str, refund_id: str, amount: Amount) -> dict[str, Any]:
        """Take back the points of ``amount`` of the order; once per ``refund_id``."""
        path = f"/api/v1/orders/{_segment(order_id)}/refunds"
        return self._call("POST", path, {"refund_id": refund_id, "amount": _amount(amount)})

    # -- points at the checkout ------------------------------------------------------------

    def hold(self, hold_id: str, customer: Customer, points: int) -> dict[str, Any]:
        """Hold ``points`` of the customer's member for a discount worth ``value_minor``."""
        body = {"hold_id": hold_id, "customer": dict(customer), "points": points}
        return self._call("POST", "/api/v1/checkout/holds", body)

    def capture(self, hold_id: str, order_id: str) -> dict[str, Any]:
        """Spend the held points on the shop's order."""
        path = f"/api/v1/checkout/holds/{_segment(hold_id)}/capture"
        return self._call("POST", path, {"order_id": order_id})

    def release(self, hold_id: str) -> dict[str, Any]:
        """Give the held points back."""
        return self._call("POST", f"/api/v1/checkout/holds/{_segment(hold_id)}/release", {})

    # -- members ---------------------------------------------------------------------------

    def member(self, telegram_id: int) -> dict[str, Any]:
        """The member's balance, held and frozen points, tier and what expires when."""
        return self._call("GET", f"/api/v1/members/{int(telegram_id)}", None)

    # -- links to show after checkout ------------------------------------------------------

    def link(self, ref: str) -> dict[str, Any]:
        """A new ``https://t.me/<bot>?start=s-<token>`` link (``url``) to show after checkout:
        whoever opens it in Telegram before ``expires_at`` is linked to the shop's customer
        ``ref``, and that customer's parked orders are credited to them. A new one each call."""
        return self._call("POST", "/api/v1/links", {"ref": ref})

    # -- the signed request ----------------------------------------------------------------

    def _call(self, method: str, path: str, body: Mapping[str, object] | None) -> dict[str, Any]:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "X-PointsMall-Key": self.key_id,
            "X-PointsMall-Signature": signature(self.secret, int(time.time()), raw),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        request = urllib.request.Request(
            self.base_url + path, data=raw if body is not None else None, headers=headers
        )
        request.method = method
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as error:
            raise _api_error(error) from None


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _api_error(error: urllib.error.HTTPError) -> ShopApiError:
    text = error.read().decode("utf-8", "replace")
    retry = error.headers.get("Retry-After")
    retry_after = int(retry) if retry and retry.isdigit() else None
    try:
        found = json.loads(text)
    except ValueError:
        found = None
    if isinstance(found, dict) and isinstance(found.get("error"), str):
        return ShopApiError(error.code, found["error"], str(found.get("message", "")), retry_after)
    # Not the API's own answer (a wrong path, a proxy's error page): say what came back.
    return ShopApiError(error.code, f"http_{error.code}", text.strip()[:200], retry_after)


# --- From a shell ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Signed calls to the PointsMall shop API.")
    parser.add_argument(
        "--url",
        default=os.environ.get("POINTSMALL_SHOP_URL", "http://127.0.0.1:8080"),
        help="the mall's listener (env POINTSMALL_SHOP_URL; default http://127.0.0.1:8080)",
    )
    parser.add_argument(
        "--key",
        default=os.environ.get("POINTSMALL_SHOP_KEY"),
        help="the key id, pk_... (env POINTSMALL_SHOP_KEY)",
    )
    parser.add_argument(
        "--secret",
        default=os.environ.get("POINTSMALL_SHOP_SECRET"),
        help="the key's secret (env POINTSMALL_SHOP_SECRET; better than this option, which"
        " other users of the machine can see)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    order = commands.add_parser("order", help="send an order")
    order.add_argument("order_id")
    order.add_argument("total", help='the total, a decimal such as "128.50"')
    order.add_argument("--currency", default="CNY", help="the mall's currency (default CNY)")
    who = order.add_mutually_exclusive_group(required=True)
    who.add_argument("--telegram-id", type=int)
    who.add_argument("--phone", help="E.164, such as +8613800138000")
    who.add_argument("--ref", help="the shop's own id of the customer")
    order.add_argument("--category", help="one line of this earning category for the total")
    order.add_argument("--placed-at", help="ISO 8601 with its offset: 2026-12-06T10:00:00+08:00")

    refund = commands.add_parser("refund", help="refund part or all of an order")
    refund.add_argument("order_id")
    refund.add_argument("refund_id")
    refund.add_argument("amount", help='a decimal such as "28.50"')

    member = commands.add_parser("member", help="a member's balance, tier and expiring points")
    member.add_argument("telegram_id", type=int)

    link = commands.add_parser("link", help="a t.me link to show after checkout")
    link.add_argument("ref", help="the shop's own id of the customer")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.key or not args.secret:
        parser.error("give --key and --secret, or POINTSMALL_SHOP_KEY and POINTSMALL_SHOP_SECRET")
    client = ShopClient(args.url, args.key, args.secret)
    try:
        if args.command == "order":
            customer: dict[str, object]
            if args.telegram_id is not None:
                customer = {"telegram_id": args.telegram_id}
            elif args.phone is not None:
                customer = {"phone": args.phone}
            else:
                customer = {"ref": args.ref}
            lines = None
            if args.category:
                lines = [{"sku": "cli", "category": args.category, "amount": args.total}]
            answer = client.order(
                args.order_id,
                customer,
                args.total,
                args.currency,
                lines=lines,
                placed_at=args.placed_at,
            )
        elif args.command == "refund":
            answer = client.refund(args.order_id, args.refund_id, args.amount)
        elif args.command == "link":
            answer = client.link(args.ref)
        else:
            answer = client.member(args.telegram_id)
    except ShopApiError as error:
        print(f"shop_client: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the listener cannot be reached
        print(f"shop_client: cannot reach {args.url}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
