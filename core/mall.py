"""The mall's services, built once from a database and a config (the composition of core)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.checkins import CheckIns
from core.config import Config
from core.db.database import Database
from core.expiry import ExpiryReport, expire_lots
from core.holds import Holds
from core.invariants import LedgerReport, check_ledger
from core.members import Members
from core.purchases import Purchases
from core.statements import Statements


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

    @classmethod
    def build(cls, db: Database, config: Config) -> Mall:
        return cls(
            db=db,
            config=config,
            members=Members(db, config),
            checkins=CheckIns(db, config),
            purchases=Purchases(db, config),
            holds=Holds(db, config),
            statements=Statements(db, config),
        )

    async def expire(self, now: datetime) -> ExpiryReport:
        """Expire what is left of every lot past its date (the daily job calls this)."""
        return await expire_lots(self.db, now)

    async def check(self) -> LedgerReport:
        """Verify the ledger's invariants."""
        return await check_ledger(self.db)
