"""The mall's own books. Member accounts use the member's Telegram id (always positive)."""

from __future__ import annotations

from enum import IntEnum


class SystemAccount(IntEnum):
    """Accounts on the mall's side of every transfer; their balances are derived, never stored."""

    ISSUANCE = -1  # points the mall gives: check-ins, purchases, bonuses
    REDEMPTIONS = -2  # points members spend on rewards and fees
    EXPIRY = -3  # points that outlived their lot
    ESCROW = -4  # points held while a redemption waits for payment or approval
    ADJUSTMENTS = -5  # admin grants and deductions
    DONATIONS = -6  # points given to the mall's cause
    BOX_POOL = -7  # blind-box prices in, points prizes out

    @property
    def code(self) -> str:
        return self.name.lower()
