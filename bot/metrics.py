"""What a bot process counts, for ``GET /metrics`` (Prometheus text format).

Counters and the histogram live in prometheus-client's default registry for the life of the
process; the inbox and outbox gauges are read from the store when ``/metrics`` is scraped, so
every process reports the bot-wide figures.
"""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

UPDATES_RECEIVED = Counter(
    "pointsmall_updates_received",
    "Updates stored in the inbox, by how they came (polling, webhook); re-deliveries excluded.",
    ["source"],
)
UPDATES_HANDLED = Counter(
    "pointsmall_updates_handled",
    "Updates taken from the inbox and handled, by outcome (answered, apologized, ignored).",
    ["outcome"],
)
UPDATE_SECONDS = Histogram(
    "pointsmall_update_seconds",
    "From taking an update from the inbox to its answers in the chat.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
INBOX_WAITING = Gauge("pointsmall_inbox_waiting", "Updates in the inbox not handled yet.")
INBOX_LAG = Gauge(
    "pointsmall_inbox_lag_seconds", "How long the oldest update not handled yet has waited."
)
OUTBOX_DEPTH = Gauge("pointsmall_outbox_depth", "Outbox messages waiting to be sent.")
TELEGRAM_ERRORS = Counter(
    "pointsmall_telegram_errors",
    "Bot API calls that failed, by method and kind (flood, transient, rejected, unreachable).",
    ["method", "kind"],
)
TELEGRAM_FLOOD_WAITS = Counter(
    "pointsmall_telegram_flood_waits",
    "429 Too Many Requests answers, by method.",
    ["method"],
)
REPLIES_UNDELIVERED = Counter(
    "pointsmall_replies_undelivered",
    "Answers given up after the reply deadline (or refused for good), by output kind.",
    ["kind"],
)

_CAMEL = re.compile(r"_([a-z])")


def api_method(name: str) -> str:
    """A framework's method name as the Bot API spells it: ``send_message`` -> ``sendMessage``."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)
