"""Members: joining (with the sign-up bonus), profile, and freezing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import Account, Member
from core.errors import InvalidInput, UnknownMember
from core.growth.referrals import attribute
from core.membership.privacy import was_erased
from core.points.earning import earn
from core.points.idempotency import run_once
from core.points.ledger import current_balance, lock_member
from core.reporting.audit import write_entry

# Telegram's usernames: letters, digits and underscores, at most 32; "@" is how they are typed.
_USERNAME = re.compile(r"@?([A-Za-z0-9_]{1,32})")


class _Keep(Enum):
    """The default of a profile field that is left as it is (None means "clear" there)."""

    KEEP = "keep"


KEEP = _Keep.KEEP


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
    # This Telegram user erased an earlier account: no sign-up bonus, no invite this time.
    erased_before: bool = False


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
    username: str | None = None
    announcements: bool = True


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
        username: str | None = None,
    ) -> JoinResult:
        """Register the member once, with the sign-up bonus; later calls change nothing.

        ``invited_by`` is recorded only on the first join, only if that member exists and is
        not the newcomer: since an inviter always joined earlier, invitations form no cycles.
        Someone who erased an account before joins afresh, without the bonus or an inviter.
        """
        validation.member_id(member_id)
        name = validation.text(display_name, field="display_name", max_length=128)
        lang = validation.text(language, field="language", max_length=16)
        validation.instant(now)
        if invited_by is not None:
            validation.member_id(invited_by)
        handle = None if username is None else _username(username)

        async def work(conn: AsyncConnection) -> JoinResult:
            erased_before = await was_erased(conn, member_id)
            inviter = (
                None if erased_before else await _existing_inviter(conn, invited_by, member_id)
            )
            await conn.execute(insert(Account).values(id=member_id, kind="member", balance=0))
            if handle is not None:
                await _release_username(conn, handle, member_id)
            await conn.execute(
                insert(Member).values(
                    id=member_id,
                    display_name=name,
                    language=lang,
                    joined_at=now,
                    invited_by=inviter,
                    tier=self.config.tiers.levels[0].name,
                    username=handle,
                )
            )
            bonus = 0 if erased_before else self.config.members.signup_bonus
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
            return JoinResult(member_id, True, bonus, balance, inviter, referral, erased_before)

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
            return JoinResult(
                member_id,
                False,
                0,
                first.balance,
                first.invited_by,
                first.referral,
                first.erased_before,
            )
        return outcome.result

    async def update_profile(
        self,
        member_id: int,
        *,
        display_name: str | None = None,
        language: str | None = None,
        username: str | _Keep | None = KEEP,
    ) -> MemberProfile:
        """Keep the member's name, language and username as Telegram or the member last gave them.

        ``username=None`` clears it (the member has none any more); leaving it out keeps it.
        A username another member had is theirs no longer: Telegram gives each to one user.
        """
        values: dict[str, str | None] = {}
        if display_name is not None:
            values["display_name"] = validation.text(
                display_name, field="display_name", max_length=128
            )
        if language is not None:
            values["language"] = validation.text(language, field="language", max_length=16)
        if not isinstance(username, _Keep):
            values["username"] = None if username is None else _username(username)
        async with self.db.write() as conn:
            if values:
                handle = values.get("username")
                if handle is not None:
                    await _release_username(conn, handle, member_id)
                result = await conn.execute(
                    update(Member)
                    .where(Member.id == member_id, Member.deleted_at.is_(None))
                    .values(**values)
                )
                if result.rowcount == 0:
                    raise UnknownMember(f"no member {member_id}", member_id=member_id)
            return await _profile(conn, member_id)

    async def set_announcements(self, member_id: int, on: bool) -> MemberProfile:
        """Whether the member receives announcements (flash sales, news): /notifications."""
        validation.member_id(member_id)
        if not isinstance(on, bool):
            raise InvalidInput(f"on must be true or false, got {on!r}", field="on")
        async with self.db.write() as conn:
            result = await conn.execute(
                update(Member)
                .where(Member.id == member_id, Member.deleted_at.is_(None))
                .values(announcements=on)
            )
            if result.rowcount == 0:
                raise UnknownMember(f"no member {member_id}", member_id=member_id)
            return await _profile(conn, member_id)

    async def profile(self, member_id: int) -> MemberProfile:
        async with self.db.read() as conn:
            return await _profile(conn, member_id)

    async def find_by_username(self, name: str) -> MemberProfile:
        """The member with this Telegram username (``"@Name"`` or ``"name"``, any case)."""
        match = _USERNAME.fullmatch(name.strip()) if isinstance(name, str) else None
        if match is None:
            raise UnknownMember(f"no member @{name!s:.40}", username=str(name)[:40])
        handle = match[1].lower()
        async with self.db.read() as conn:
            found = (
                await conn.execute(
                    select(Member.id)
                    .where(Member.username == handle, Member.deleted_at.is_(None))
                    .order_by(Member.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
            if found is None:
                raise UnknownMember(f"no member @{handle}", username=handle)
            return await _profile(conn, int(found))

    async def freeze(
        self,
        member_id: int,
        reason: str,
        *,
        actor_id: int | None = None,
        now: datetime | None = None,
    ) -> MemberProfile:
        """Stop the member earning and spending; they can still look around.

        With ``actor_id`` (an admin) and ``now``, the audit log records it in the same
        transaction, with the state read under the member's lock as "before".
        """
        why = validation.text(reason, field="reason", max_length=500)
        return await self._set_frozen(member_id, True, why, actor_id, now)

    async def unfreeze(
        self, member_id: int, *, actor_id: int | None = None, now: datetime | None = None
    ) -> MemberProfile:
        """Let the member earn and spend again (audited as :meth:`freeze` is)."""
        return await self._set_frozen(member_id, False, None, actor_id, now)

    async def _set_frozen(
        self,
        member_id: int,
        frozen: bool,
        reason: str | None,
        actor_id: int | None,
        now: datetime | None,
    ) -> MemberProfile:
        validation.member_id(member_id)
        if actor_id is not None:
            validation.member_id(actor_id)
            validation.instant(now)
        async with self.db.write() as conn:
            await lock_member(conn, member_id)
            before = await _profile(conn, member_id)
            await conn.execute(
                update(Account)
                .where(Account.id == member_id)
                .values(frozen=frozen, frozen_reason=reason)
            )
            after = await _profile(conn, member_id)
            if actor_id is not None:
                assert now is not None  # checked above
                await write_entry(
                    conn,
                    actor_id=actor_id,
                    action="member.freeze" if frozen else "member.unfreeze",
                    target=f"member:{member_id}",
                    now=now,
                    before=_frozen_state(before),
                    after=_frozen_state(after),
                )
            return after


def _frozen_state(profile: MemberProfile) -> dict[str, object]:
    if profile.frozen:
        return {"frozen": True, "reason": profile.frozen_reason}
    return {"frozen": False}


def _username(value: object) -> str:
    """A Telegram username as stored: without the "@", lower-cased."""
    match = _USERNAME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise InvalidInput("username must be 1-32 letters, digits or underscores", field="username")
    return match[1].lower()


async def _release_username(conn: AsyncConnection, handle: str, member_id: int) -> None:
    """Take the username from whoever had it before: Telegram has passed it on."""
    await conn.execute(
        update(Member)
        .where(Member.username == handle, Member.id != member_id)
        .values(username=None)
    )


async def _existing_inviter(
    conn: AsyncConnection, invited_by: int | None, member_id: int
) -> int | None:
    if invited_by is None or invited_by == member_id:
        return None
    found = (
        await conn.execute(
            select(Member.id).where(Member.id == invited_by, Member.deleted_at.is_(None))
        )
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
                Member.username,
                Member.announcements,
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
        row.username,
        row.announcements,
    )
