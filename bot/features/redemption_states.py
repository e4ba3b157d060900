"""Where a redemption stands, in words: the member's list and card, the Redeem press's answer
and the admins' queues say it the same way.

A helper module (the import contract in ``pyproject.toml``): features read it, none owns it.
"""

from __future__ import annotations

import html
from datetime import datetime

from bot.i18n import Html, Translator
from core.rewards.redemptions import RedemptionView


def state_text(t: Translator, view: RedemptionView, now: datetime) -> Html:
    """Where a redemption stands at ``now``, in words (every stage has a literal key, for the
    catalogs)."""
    stage = view.stage(now)
    texts = {
        "completed": t("reds.state_completed"),
        "preparing": t("reds.state_preparing"),
        # Shipped: also what admins' screens say of the status "fulfilled" (reds.state_<status>).
        "shipped": t("reds.state_fulfilled"),
        "delivered": t("reds.state_delivered"),
        "awaiting_approval": t("reds.state_awaiting_approval"),
        "awaiting_payment": t("reds.state_awaiting_payment"),
        "cancelled": t("reds.state_cancelled"),
        "rejected": t("reds.state_rejected"),
    }
    return texts.get(stage) or Html(html.escape(stage))
