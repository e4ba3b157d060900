"""Admins are told when a redemption starts waiting for their approval.

The member's Redeem press (``redeem.py``) makes the redemption; the admins' approval queue
(``admin_approvals.py``) decides it. The notice between them lives here, so neither feature
imports the other (the import contract in ``pyproject.toml``).
"""

from __future__ import annotations

from bot.content import title as title_of
from bot.delivery import screen_to_json
from bot.features.admin_links import ApprovalQueue
from bot.features.admin_member_lookup import member_label
from bot.i18n import DEFAULT_LANGUAGE
from bot.screens import Button, Screen
from bot.turn import Turn
from core.errors import UnknownMember
from core.operations.outbox import Envelope
from core.rewards.redemptions import RedemptionView

WAITING = "awaiting_approval"


async def tell_admins_waiting(turn: Turn, view: RedemptionView) -> None:
    """Tell each admin (but the member who redeemed) that ``view`` awaits their approval.

    Through the outbox, once per redemption and admin whatever replays; in the admin's
    language as a member, else the default one.
    """
    if view.status != WAITING:
        return
    mall = turn.mall
    who = member_label(await mall.members.profile(view.member_id))
    for admin_id in turn.config.telegram.admins:
        if admin_id == view.member_id:
            continue
        try:
            language = (await mall.members.profile(admin_id)).language
        except UnknownMember:  # an admin who never joined as a member
            language = DEFAULT_LANGUAGE
        t = turn.languages[language]
        text = t(
            "admin.approvals.told_waiting",
            number=t.number(view.redemption_id),
            title=title_of(t, view),
            who=who,
            points=t.points(view.points),
            deadline=t.moment(view.wait_ends_at or turn.now),
        )
        queue = Button(t("admin.approvals.queue"), data=ApprovalQueue().pack())
        screen = Screen(text, ((queue,),))
        key = f"approval-waiting:{view.redemption_id}:{admin_id}"
        await mall.outbox.message(Envelope(key, admin_id, screen_to_json(screen)), turn.now)
