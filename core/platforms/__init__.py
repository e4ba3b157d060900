"""Shop platforms' webhooks (Shopify, WooCommerce) turned into neutral order and refund events.

Pure functions over the raw body and the parsed JSON: the HTTP receivers live elsewhere.
"""

from core.platforms.events import Event, Line, OrderEvent, PayloadError, RefundEvent, load_json

__all__ = ["Event", "Line", "OrderEvent", "PayloadError", "RefundEvent", "load_json"]
