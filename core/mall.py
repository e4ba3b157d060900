"""The mall's services, built once from a database and a config (the composition of core)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.commerce.purchases import Purchases
from core.commerce.shop import Shop
from core.commerce.shop_keys import ShopKeys
from core.commerce.shop_views import ShopViews
from core.config import Config
from core.db.database import Database
from core.games.blind_boxes import BlindBoxes
from core.growth.birthdays import Birthdays
from core.growth.checkins import CheckIns
from core.growth.claim_codes import ClaimCodes
from core.growth.member_days import MemberDays
from core.growth.referrals import Referrals
from core.growth.tasks import Tasks
from core.membership.members import Members
from core.membership.pending_inputs import PendingInputs
from core.membership.privacy import Privacy
from core.membership.risk import Risk
from core.operations.job_runs import JobRuns
from core.operations.outbox import Outbox
from core.points.adjustments import Adjustments
from core.points.balance_reads import BalanceReads
from core.points.expiry import ExpiryReport, expire_lots
from core.points.holds import HoldResult, Holds
from core.points.invariants import LedgerReport, check_ledger
from core.points.statements import Statements
from core.reporting.audit import Audit
from core.reporting.exports import Exports
from core.reporting.reports import Reports
from core.reporting.rollups import Rollups
from core.rewards.catalog import Catalog
from core.rewards.donations import Donations
from core.rewards.flash_sales import FlashSales
from core.rewards.offer_press import OfferPress
from core.rewards.redeem_press import RedeemPress
from core.rewards.redemptions import RedemptionResult, Redemptions
from core.rewards.sale_press import SalePress
from core.rewards.star_refunds import StarRefunds


@dataclass(frozen=True)
class ReleasedHolds:
    """What a timeout run gave back: redemptions cancelled, and any other holds voided."""

    redemptions: tuple[RedemptionResult, ...]
    holds: tuple[HoldResult, ...]


@dataclass(frozen=True)
class Mall:
    """Every use case of the mall, one async method each: ``await mall.checkins.check_in(...)``."""

    db: Database
    config: Config
    members: Members
    checkins: CheckIns
    purchases: Purchases
    holds: Holds
    statements: Statements
    balance_reads: BalanceReads
    catalog: Catalog
    redemptions: Redemptions
    redeem_press: RedeemPress
    offer_press: OfferPress
    sale_press: SalePress
    flash_sales: FlashSales
    boxes: BlindBoxes
    referrals: Referrals
    donations: Donations
    reports: Reports
    rollups: Rollups
    inputs: PendingInputs
    privacy: Privacy
    audit: Audit
    claims: ClaimCodes
    risk: Risk
    exports: Exports
    adjustments: Adjustments
    outbox: Outbox
    job_runs: JobRuns
    shop: Shop
    shop_keys: ShopKeys
    shop_views: ShopViews
    star_refunds: StarRefunds
    tasks: Tasks
    birthdays: Birthdays
    member_days: MemberDays

    @classmethod
    def build(cls, db: Database, config: Config) -> Mall:
        redemptions = Redemptions(db, config)
        inputs = PendingInputs(db, config)
        return cls(
            db=db,
            config=config,
            members=Members(db, config),
            checkins=CheckIns(db, config),
            purchases=Purchases(db, config),
            holds=Holds(db, config),
            statements=Statements(db, config),
            balance_reads=BalanceReads(db, config),
            catalog=Catalog(db, config),
            redemptions=redemptions,
            redeem_press=RedeemPress(db, config, redemptions, inputs),
            offer_press=OfferPress(db, config, redemptions),
            sale_press=SalePress(db, config, redemptions),
            flash_sales=FlashSales(db, config),
            boxes=BlindBoxes(db, config),
            referrals=Referrals(db, config),
            donations=Donations(db, config),
            reports=Reports(db, config),
            rollups=Rollups(db, config),
            inputs=inputs,
            privacy=Privacy(db, config),
            audit=Audit(db, config),
            claims=ClaimCodes(db, config),
            risk=Risk(db, config),
            exports=Exports(db, config),
            adjustments=Adjustments(db, config),
            outbox=Outbox(db, config),
            job_runs=JobRuns(db),
            shop=Shop(db, config),
            shop_keys=ShopKeys(db, config),
            shop_views=ShopViews(db, config),
            star_refunds=StarRefunds(db, config),
            tasks=Tasks(db, config),
            birthdays=Birthdays(db, config),
            member_days=MemberDays(db, config),
        )

    async def expire(self, now: datetime) -> ExpiryReport:
        """Expire what is left of every lot past its date (the daily job calls this)."""
        return await expire_lots(self.db, now)

    async def release_expired(self, now: datetime) -> ReleasedHolds:
        """Give back points whose wait timed out (the hold job calls this).

        Redemptions first, so each ends cancelled with its stock returned; then whatever other
        hold is left past its timeout (a draw entry whose draw never ran, say).
        """
        redemptions = await self.redemptions.release_expired(now)
        holds = await self.holds.release_expired(now)
        return ReleasedHolds(redemptions, tuple(holds))

    async def check(self, *, full: bool = True) -> LedgerReport:
        """Verify the ledger's invariants (``full=False``: the transfers since the last
        checkpoint); a clean check writes a new checkpoint."""
        return await check_ledger(self.db, full=full)
