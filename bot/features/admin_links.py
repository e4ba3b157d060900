"""The buttons one admin screen shows of another's: a member's card, a redemption's card, points
for a member.

Their data classes live here, not in the feature that handles them, so an admin feature links to
another's screen without importing it (the import contract in ``pyproject.toml``); the handler
registers the class from here (``@router.button(MemberCard, admin=True)``).
"""

from __future__ import annotations

from typing import Annotated

from bot.callback_data import MAX_INT_ARG, CallbackData, Id, Ints, Page

MemberId = Annotated[int, Ints(1, MAX_INT_ARG)]
"""A member's id (their Telegram user id) in a button."""


class MemberCard(CallbackData, route="amc"):
    """A member's card (bot/features/admin_members.py)."""

    member_id: MemberId


class AdminRedemptionCard(CallbackData, route="aad"):
    """A redemption's card for the admin: its payment, a refund (admin_approvals.py)."""

    redemption_id: Annotated[int, Ints(1, MAX_INT_ARG)]


class AdjustPoints(CallbackData, route="apg"):
    """Grant or deduct points (admin_points.py): the member is asked for, or given (not 0)."""

    member_id: Id = 0


class ApprovalQueue(CallbackData, route="aap"):
    """A page of the redemptions waiting for approval (admin_approvals.py)."""

    page: Page = 0
