"""Stars refunds through Telegram: the Bot API call, and what the mall records of it.

Core records a refund due whenever the mall keeps no goods for a payment
(``core.rewards.star_refunds``); :class:`Refunder` makes it with ``refundStarPayment`` through a
framework's :class:`StarPayer` (the adapter's channel in a member's or admin's turn, the outbox
sender's messenger in the job) and marks it refunded, which enqueues the member's notice
("⭐ 290 Stars refunded for #12") in their language. A refusal is recorded and tried again by
the ``refunds`` job with backoff; Telegram's "already refunded" means an earlier call worked
(a crash, or the job and a turn at once), so it counts as done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.delivery import DeliveryError, Rejected, screen_to_json
from bot.features.member_links import RedemptionsPage
from bot.i18n import Languages, plain
from bot.screens import Button, Screen
from bot.turn import MainMenu
from core.mall import Mall
from core.rewards.star_refunds import RefundView, UnknownRefund

log = logging.getLogger(__name__)
ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


class StarPayer(Protocol):
    async def refund_star_payment(self, user_id: int, charge_id: str) -> None: ...


class Refunder:
    """Makes the refunds core says are due, and records each outcome."""

    def __init__(
        self,
        mall: Mall,
        languages: Languages,
        clock: Callable[[], datetime],
        on_enqueued: Callable[[], object] = lambda: None,
    ) -> None:
        self.mall = mall
        self.languages = languages
        self.clock = clock
        self.on_enqueued = on_enqueued

    def told(self, language: str, refund: RefundView) -> str:
        """The member's notice of a refund, as an outbox payload."""
        t = self.languages[language]
        if refund.redemption_id is not None:
            text = t(
                "refunds.done",
                stars=t.number(refund.stars),
                number=t.number(refund.redemption_id),
            )
        else:
            text = t("refunds.done_plain", stars=t.number(refund.stars))
        rows = (
            (Button(plain(t("menu.redemptions")), data=RedemptionsPage().pack()),),
            (Button(t("menu.back"), data=MainMenu().pack()),),
        )
        return screen_to_json(Screen(text, rows))

    async def refund(self, payer: StarPayer, charge_id: str) -> bool:
        """Refund ``charge_id`` unless it was; True once it is refunded."""
        try:
            refund = await self.mall.star_refunds.get(charge_id)
        except UnknownRefund:
            log.error("no refund is recorded for charge %s: nothing given back", charge_id)
            return False
        if refund.refunded:
            return True
        try:
            await payer.refund_star_payment(refund.member_id, charge_id)
        except Rejected as error:
            if ALREADY_REFUNDED not in str(error).upper():  # python-telegram-bot: "Charge_..."
                return await self._failed(refund, error)
        except DeliveryError as error:
            return await self._failed(refund, error)
        marked = await self.mall.star_refunds.mark_refunded(charge_id, self.clock(), self.told)
        if not marked.replayed:
            log.info(
                "refunded %s Stars of charge %s to %s", refund.stars, charge_id, refund.member_id
            )
            self.on_enqueued()
        return True

    async def _failed(self, refund: RefundView, error: DeliveryError) -> bool:
        after = await self.mall.star_refunds.mark_failed(refund.charge_id, str(error), self.clock())
        log.warning(
            "Telegram refused to refund charge %s (%s); trying again at %s",
            refund.charge_id,
            error,
            after.next_attempt_at,
        )
        return False

    async def run_due(self, payer: StarPayer, now: datetime) -> int:
        """The job: try every refund whose next try is due; how many were made."""
        made = 0
        while True:
            due = await self.mall.star_refunds.due(now)
            for refund in due:
                try:
                    made += await self.refund(payer, refund.charge_id)
                except Exception as error:  # one bad refund must not block those behind it
                    log.exception("refunding charge %s failed", refund.charge_id)
                    await self.mall.star_refunds.mark_failed(
                        refund.charge_id, f"{type(error).__name__}: {error}", self.clock()
                    )
            if len(due) < 100:
                return made
