"""Who is calling the shop API: a key, a fresh signature over the raw body, within its rate.

Every request carries ``X-PointsMall-Key: <key id>`` and
``X-PointsMall-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
(the scheme Stripe's webhooks use). A missing, unknown or revoked key, a malformed or wrong
signature, or ``t`` more than :data:`WINDOW_SECONDS` from now is a 401 with a JSON error and
nothing done; the comparison is constant-time. A replay inside the window finds the
request's own idempotency key (the order id, the refund id, the hold id) and changes nothing.
A body over :data:`MAX_BODY_BYTES` is a 413; more than the key's rate a 429 with
``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

KEY_HEADER = "X-PointsMall-Key"
SIGNATURE_HEADER = "X-PointsMall-Signature"
WINDOW_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024
_SIGNATURE = re.compile(r"^t=(\d{1,12}),v1=([0-9a-fA-F]{64})$")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-PointsMall-Signature`` header of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class ApiError(web.HTTPException):
    """An answer with a JSON body ``{"error": code, "message": ...}``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status_code = status
        super().__init__(
            text=json.dumps({"error": code, "message": message}),
            content_type="application/json",
            headers=headers,
        )


@dataclass
class RateLimit:
    """A token bucket per key, in this process: ``rate`` requests a second, ``burst`` at once."""

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def wait_needed(self, key_id: str) -> float:
        """0 and a request taken, or the seconds until one is allowed."""
        now = self.clock()
        tokens, stamp = self._buckets.get(key_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens < 1:
            self._buckets[key_id] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key_id] = (tokens - 1, now)
        return 0.0


@dataclass(frozen=True)
class Signed:
    """A request that proved its key: the key id and the raw body it signed."""

    key_id: str
    body: bytes

    def json(self) -> dict[str, object]:
        try:
            found = json.loads(self.body) if self.body else {}
        except ValueError as error:
            raise ApiError(400, "bad_json", f"the body is not JSON: {error}") from None
        if not isinstance(found, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        return found


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, or a 413 if it is over ``limit`` bytes (read no further than that)."""
    too_large = ApiError(413, "too_large", f"a request body is at most {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


async def authenticate(
    request: web.Request,
    secret_for: Callable[[str], Awaitable[str | None]],
    limit: RateLimit,
    clock: Callable[[], float] = time.time,
) -> Signed:
    """The request's key and body, or an :class:`ApiError` (401, 413, 429)."""
    body = await read_body(request, MAX_BODY_BYTES)
    key_id = request.headers.get(KEY_HEADER, "")
    if not key_id:
        raise ApiError(401, "missing_key", f"no {KEY_HEADER} header")
    found = _SIGNATURE.match(request.headers.get(SIGNATURE_HEADER, ""))
    if found is None:
        raise ApiError(
            401, "bad_signature", f"{SIGNATURE_HEADER} must be t=<unix seconds>,v1=<hex HMAC>"
        )
    timestamp = int(found.group(1))
    if abs(clock() - timestamp) > WINDOW_SECONDS:
        raise ApiError(
            401, "stale_signature", f"t is more than {WINDOW_SECONDS} s from the server's clock"
        )
    secret = await secret_for(key_id)
    # Compared even for an unknown key, so the answer's timing does not tell which keys exist.
    expected = sign(secret or "no such key", timestamp, body).partition(",v1=")[2]
    if not hmac.compare_digest(expected, found.group(2).lower()) or secret is None:
        raise ApiError(401, "bad_signature", "unknown or revoked key, or a wrong signature")
    wait = limit.wait_needed(key_id)
    if wait > 0:
        raise ApiError(
            429,
            "rate_limited",
            "too many requests for this key",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    return Signed(key_id, body)
