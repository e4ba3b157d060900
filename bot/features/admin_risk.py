"""How a risk rule's finding reads to admins: on the flags list and on a member's card."""

from __future__ import annotations

from bot.i18n import Html
from bot.turn import Turn
from core.config import RiskSettings
from core.membership.risk import EARNED, INVITES, REDEMPTIONS, RING, TASKS, WRONG_CLAIMS, FlagReason


def flag_reason(turn: Turn, reason: FlagReason) -> Html:
    """What a rule counted, against its limit, in the admin's words."""
    t = turn.t
    risk: RiskSettings = turn.config.risk
    measure = t.number(reason.measure)
    if reason.rule == EARNED:
        return t(
            "admin.flags.rule.earned",
            measure=t.points(reason.measure),
            hours=risk.earn_window_hours,
            limit=t.points(risk.earn_limit),
        )
    if reason.rule == REDEMPTIONS:
        return t("admin.flags.rule.redemptions", measure=measure, limit=risk.redemptions_per_hour)
    if reason.rule == INVITES:
        return t(
            "admin.flags.rule.invites",
            measure=measure,
            hours=risk.invite_window_hours,
            limit=risk.invite_limit,
        )
    if reason.rule == TASKS:
        return t(
            "admin.flags.rule.tasks",
            measure=measure,
            hours=risk.task_window_hours,
            limit=risk.task_limit,
        )
    if reason.rule == WRONG_CLAIMS:
        return t(
            "admin.flags.rule.wrong_claims",
            measure=measure,
            minutes=risk.wrong_claims_window_minutes,
        )
    if reason.rule == RING:
        return t("admin.flags.rule.referral_ring", measure=measure, days=risk.ring_window_days)
    return Html(reason.rule)
