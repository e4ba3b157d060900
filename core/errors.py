"""Errors the mall raises. Each has a stable ``code`` that the bot turns into a localized text."""

from __future__ import annotations

from typing import Any, ClassVar


class MallError(Exception):
    """A request the mall refused. Nothing was written by the refused request."""

    code: ClassVar[str] = "mall_error"

    def __init__(self, message: str = "", **details: Any) -> None:
        super().__init__(message or self.code)
        self.details = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.details!r})"


class InvalidAmount(MallError):
    """An amount that is not a positive integer within the mall's bounds."""

    code = "invalid_amount"


class InvalidKey(MallError):
    """An idempotency key or reference that is empty, too long or has forbidden characters."""

    code = "invalid_key"


class InvalidInput(MallError):
    """Any other malformed argument (a category, a name, a date)."""

    code = "invalid_input"


class UnknownMember(MallError):
    code = "unknown_member"


class UnknownOrder(MallError):
    code = "unknown_order"


class UnknownHold(MallError):
    code = "unknown_hold"


class InsufficientPoints(MallError):
    code = "insufficient_points"


class Frozen(MallError):
    """The member's account is frozen: they can neither earn nor spend."""

    code = "frozen"


class KeyReused(MallError):
    """The idempotency key was used before for a request with different content."""

    code = "key_reused"


class HoldNotPending(MallError):
    """The hold was already posted or voided."""

    code = "hold_not_pending"


class MakeUpNotAllowed(MallError):
    """A make-up check-in for a day that is not a missed day of the look-back window, or over
    the month's allowance."""

    code = "makeup_not_allowed"


class LimitReached(MallError):
    code = "limit_reached"


class AlreadyRefunded(MallError):
    """A refund that exceeds what is left of the order."""

    code = "already_refunded"


class SoldOut(MallError):
    """No stock, no coupon code, or no sale quantity left."""

    code = "sold_out"


class NotAvailable(MallError):
    """The item, sale or box is inactive or outside its time window."""

    code = "not_available"


class PrizeOnly(MallError):
    """The item is a prize only (``listed`` false): off the shelf, so it cannot be redeemed
    or put on sale, though a blind box can still give it."""

    code = "prize_only"


class TierTooLow(MallError):
    code = "tier_too_low"


class UnknownItem(MallError):
    code = "unknown_item"


class UnknownRedemption(MallError):
    code = "unknown_redemption"


class AddressNeeded(MallError):
    """A physical reward is redeemed with its delivery address: nothing was taken yet, and the
    question is open (``details['asked']`` False: it was open already, for the same press)."""

    code = "address_needed"


class InvalidToken(MallError):
    """A confirm token that was never issued, belongs to someone else, or is for another item."""

    code = "invalid_token"


class InvalidState(MallError):
    """The thing exists but cannot do that now (approve a completed redemption, ...)."""

    code = "invalid_state"


class DailyCapReached(MallError):
    code = "daily_cap_reached"


class UnknownBox(MallError):
    code = "unknown_box"


class UnknownSale(MallError):
    code = "unknown_sale"


class UnknownInvite(MallError):
    code = "unknown_invite"


class DonationsClosed(MallError):
    code = "donations_closed"


class UnknownClaimCode(MallError):
    """No claim code like that exists (counted as a wrong code)."""

    code = "unknown_claim_code"


class ClaimExpired(MallError):
    code = "claim_expired"


class AlreadyClaimed(MallError):
    """Someone else claimed this code first: a code works once."""

    code = "already_claimed"


class ClaimLocked(MallError):
    """Too many wrong claim codes: claiming is locked until ``details['until']``."""

    code = "claim_locked"


class BatchExists(MallError):
    """A batch of claim codes was already generated for this request (a repeated confirm)."""

    code = "batch_exists"


class NotFlagged(MallError):
    """The member has no open risk flag (another admin dealt with it)."""

    code = "not_flagged"


# --- The shop (core.commerce.shop) ----------------------------------------------------------------


class OrderConflict(KeyReused):
    """The shop sent an order id again with a different body (the API answers 409)."""

    code = "order_conflict"


class WrongCurrency(MallError):
    """An amount in a currency other than the mall's ``[mall] currency``."""

    code = "wrong_currency"


class RefundExceedsOrder(MallError):
    """Refunds would add up to more than the order's total."""

    code = "refund_exceeds_order"


class UnknownCustomer(MallError):
    """No member is linked to that shop customer (a checkout hold needs one)."""

    code = "unknown_customer"


class InvalidPhone(MallError):
    """A phone number that cannot be read as a number of ``[shop] phone_region`` or E.164."""

    code = "invalid_phone"


class PhoneMatchingOff(MallError):
    """Phones cannot be matched: ``[shop] phone_hash_key`` (POINTSMALL_PHONE_HASH_KEY) is unset."""

    code = "phone_matching_off"


class RefTaken(MallError):
    """That shop customer reference is already linked to another member."""

    code = "ref_taken"


class LinkUnknown(MallError):
    """No link from the shop with that token: never made, mistyped, or its member was erased."""

    code = "link_unknown"


class LinkExpired(MallError):
    """The shop's link was not opened before ``details['expires_at']`` (``[shop]
    link_token_days``): the shop can show a new one."""

    code = "link_expired"


class LinkUsed(MallError):
    """Another member opened the shop's link first: a link links one member, once."""

    code = "link_used"


class UnknownApiKey(MallError):
    code = "unknown_api_key"


class BirthdayLocked(MallError):
    """The birthday was told too recently to change it; ``details['until']`` is the first day
    it may change (ISO date)."""

    code = "birthday_locked"


class UnknownMemberDay(MallError):
    code = "unknown_member_day"


class MemberDayExists(MallError):
    """Another member day has that name (names identify them in the catalog file)."""

    code = "member_day_exists"


def error_from_code(code: str, details: dict[str, Any] | None = None) -> MallError:
    """Rebuild a recorded rejection, so a retried request fails the same way."""
    cls = _registry().get(code, MallError)
    return cls(**(details or {}))


def _registry() -> dict[str, type[MallError]]:
    """Every MallError subclass by code, wherever it is defined."""
    found: dict[str, type[MallError]] = {}
    pending: list[type[MallError]] = [MallError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


class UnknownTask(MallError):
    """No such task, or one that is switched off or outside its window."""

    code = "unknown_task"


class TaskDone(MallError):
    """The member already completed the task in this period (once, today, this week, ...)."""

    code = "task_done"


class TaskNotReady(MallError):
    """A challenge the member has not reached yet, or a task that is not done this way."""

    code = "task_not_ready"
