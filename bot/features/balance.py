"""Balance, tier and progress, what expires when, and the history of every movement."""

from __future__ import annotations

from bot.callback_data import MAX_PAGE, CallbackData, Page
from bot.content import tier_name
from bot.features.history_lines import history_lines
from bot.features.item_card import AffordablePage
from bot.features.member_links import BalanceScreen
from bot.i18n import Html
from bot.router import Router
from bot.screens import Button
from bot.turn import Turn

router = Router()
# How many expiry dates the balance screen lists (the soonest first).
EXPIRY_LINES = 3
HISTORY_PAGE = 10


class HistoryPage(CallbackData, route="hist"):
    """A page of the member's movements."""

    page: Page


@router.screen("balance", BalanceScreen)
async def _balance(turn: Turn) -> None:
    t = turn.t
    overview = await turn.mall.balance_reads.overview(turn.member_id, turn.now)
    balance, tier, expiring = overview.balance, overview.tier, overview.expiring
    lines: list[str] = [t("balance.points", balance=t.points(balance.balance))]
    if balance.held:
        lines.append(t("balance.held", points=t.points(balance.held)))
    if balance.frozen:
        lines.append(t("balance.frozen", reason=balance.frozen_reason or "-"))
    tiers = turn.config.tiers
    lines.append(t("balance.tier", tier=tier_name(t, tiers, tier.tier), multiplier=tier.multiplier))
    if tier.next_tier is not None and tier.points_to_next is not None:
        lines.append(
            t(
                "balance.next_tier",
                points=t.points(tier.points_to_next),
                tier=tier_name(t, tiers, tier.next_tier),
                days=t.number(tier.window_days),
            )
        )
    else:
        lines.append(t("balance.top_tier"))
    if expiring:
        lines.append("")
        lines += [
            t("balance.expires", points=t.points(lot.amount), day=t.date(lot.last_day))
            for lot in expiring[:EXPIRY_LINES]
        ]
    else:
        lines.append(t("balance.nothing_expires"))
    rows = (
        (
            Button(t("balance.affordable"), data=AffordablePage().pack()),
            Button(t("balance.history"), data=HistoryPage(0).pack()),
        ),
    )
    turn.show(turn.with_menu(Html("\n".join(lines)), rows))


@router.pages("history", HistoryPage)
async def _history(turn: Turn, page: int) -> None:
    t = turn.t
    found = await turn.mall.statements.history(turn.member_id, page=page, page_size=HISTORY_PAGE)
    if not found.entries:
        text = t("history.empty") if page == 0 else t("history.no_more")
    else:
        lines = [t("history.title", page=t.number(page + 1))]
        lines += await history_lines(turn, found.entries)
        text = Html("\n".join(lines))
    nav: list[Button] = []
    if page > 0:
        nav.append(Button(t("nav.previous"), data=HistoryPage(page - 1).pack()))
    if found.has_more and page < MAX_PAGE:
        nav.append(Button(t("nav.next"), data=HistoryPage(page + 1).pack()))
    rows = (tuple(nav),) if nav else ()
    back = Button(t("balance.back"), data=BalanceScreen().pack())
    turn.show(turn.with_menu(text, (*rows, (back,))))
