"""What the ledger counts for ``GET /metrics``: use cases run, by kind and by outcome.

Counted after the use case's transaction has committed (or refused), so a rolled-back attempt
is not counted; a replayed request counts as ``replayed``.
"""

from __future__ import annotations

from prometheus_client import Counter

LEDGER_OPERATIONS = Counter(
    "pointsmall_ledger_operations",
    "Idempotent use cases of the ledger, by kind and outcome (ok, replayed, rejected).",
    ["kind", "outcome"],
)
