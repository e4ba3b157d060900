"""Members: joining (with the sign-up bonus), profile, and freezing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Account, Member
from core.earning import earn
from core.errors import UnknownMember
from core.idempotency import run_once
from core.ledger import current_balance, lock_member
from core.referrals import attribute


@dataclass(frozen=True)
class JoinResult:
    """A member after /start: ``is_new`` is False when they had joined before."""

    member_id: int
    is_new: bool
    bonus: int
    balance: int
    invited_by: int | None
    # The invite's status: pending, or rewarded/capped when the mall rewards on joining.
    referral: str | None = None


@dataclass(frozen=True)
class MemberProfile:
    member_id: int
    display_name: str
    language: str
    joined_at: datetime
    invited_by: int | None
    tier: str
    frozen: bool
    frozen_reason: str | None


class Members:
    """Joining the mall and the member's own record."""

    def __init__(self, db: Database, config: Config) -> None:
        self.db = db
        self.config = config

    async def join(
        self,
        member_id: int,
        display_name: str,
        language: str,
        now: datetime,
        invited_by: int | None = None,
    ) -> JoinResult:
        """Register the member once, with the sign-up bonus; later calls change nothing.

        ``invited_by`` is recorded only on the first join, only if that member exists and is
        not the newcomer: since an inviter always joined earlier, invitations form no cycles.
        """
        validation.member_id(member_id)
        name = validation.text(display_name, field="display_name", max_length=128)
        lang = validation.text(language, field="language", max_length=16)
        validation.instant(now)
        if invited_by is not None:
            validation.member_id(invited_by)

        async def work(conn: AsyncConnection) -> JoinResult:
            inviter = await _existing_inviter(conn, invited_by, member_id)
            await conn.execute(insert(Account).values(id=member_id, kind="member", balance=0))
            await conn.execute(
                insert(Member).values(
                    id=member_id,
                    display_name=name,
                    language=lang,
                    joined_at=now,
                    invited_by=inviter,
                    tier=self.config.tiers.levels[0].name,
                )
            )
            bonus = self.config.members.signup_bonus
            balance = 0
            if bonus:
                member = await lock_member(conn, member_id)
                earned = await earn(
                    conn,
                    self.config,
                    member,
                    amount=bonus,
                    code="signup_bonus",
                    reference=str(member_id),
                    key=f"join:{member_id}",
                    now=now,
                    counts_as_earning=False,
                )
                balance = earned.balance
            referral = await attribute(conn, self.config, member_id, inviter, now)
            if referral is not None and referral != "pending":
                balance = await current_balance(conn, member_id)
            return JoinResult(member_id, True, bonus, balance, inviter, referral)

        outcome = await run_once(
            self.db,
            key=f"join:{member_id}",
            kind="join",
            request={"member_id": member_id},
            result_type=JoinResult,
            work=work,
            now=now,
        )
        if outcome.replayed:
            first = outcome.result
            return JoinResult(member_id, False, 0, first.balance, first.invited_by, first.referral)
        return outcome.result

    async def update_profile(
        self, member_id: int, *, display_name: str | None = None, language: str | None = None
    ) -> MemberProfile:
        """Keep the member's name and language as Telegram or the member last gave them."""
        values: dict[str, str] = {}
        if display_name is not None:
            values["display_name"] = validation.text(
                display_name, field="display_name", max_length=128
            )
        if language is not None:
            values["language"] = validation.text(language, field="language", max_length=16)
        async with self.db.write() as conn:
            if values:
                result = await conn.execute(
                    update(Member).where(Member.id == member_id).values(**values)
                )
                if result.rowcount == 0:
                    raise UnknownMember(f"no member {member_id}", member_id=member_id)
            return await _profile(conn, member_id)

    async def profile(self, member_id: int) -> MemberProfile:
        async with self.db.read() as conn:
            return await _profile(conn, member_id)

    async def freeze(self, member_id: int, reason: str) -> MemberProfile:
        """Stop the member earning and spending; they can still look around."""
        why = validation.text(reason, field="reason", max_length=500)
        return await self._set_frozen(member_id, True, why)

    async def unfreeze(self, member_id: int) -> MemberProfile:
        return await self._set_frozen(member_id, False, None)

    async def _set_frozen(self, member_id: int, frozen: bool, reason: str | None) -> MemberProfile:
        validation.member_id(member_id)
        async with self.db.write() as conn:
            await lock_member(conn, member_id)
            await conn.execute(
                update(Account)
                .where(Account.id == member_id)
                .values(frozen=frozen, frozen_reason=reason)
            )
            return await _profile(conn, member_id)


async def _existing_inviter(
    conn: AsyncConnection, invited_by: int | None, member_id: int
) -> int | None:
    if invited_by is None or invited_by == member_id:
        return None
    found = (
        await conn.execute(select(Member.id).where(Member.id == invited_by))
    ).scalar_one_or_none()
    return int(found) if found is not None else None


async def _profile(conn: AsyncConnection, member_id: int) -> MemberProfile:
    row = (
        await conn.execute(
            select(
                Member.display_name,
                Member.language,
                Member.joined_at,
                Member.invited_by,
                Member.tier,
                Account.frozen,
                Account.frozen_reason,
            )
            .join(Account, Account.id == Member.id)
            .where(Member.id == member_id)
        )
    ).first()
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    return MemberProfile(
        member_id,
        row.display_name,
        row.language,
        row.joined_at,
        row.invited_by,
        row.tier,
        row.frozen,
        row.frozen_reason,
    )
