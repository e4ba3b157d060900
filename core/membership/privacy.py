"""A member's own data: all of it handed over (:meth:`Privacy.export`), or erased for good.

Both find what concerns the member from the schema itself: every column with a foreign key to
``members.id`` or ``accounts.id`` holds a member's id, so a table added later is exported and
anonymised without anyone remembering to list it here. The names below only make the export
readable; a table they do not name still appears, under its own name.

Erasure keeps the ledger whole: the member's transfers stay, so the books still balance, but
they then belong to a surrogate account that no Telegram id can be (``2**60`` and above, where
Telegram's ids have at most 52 bits). What could lead back to the person goes: names, the
username, delivery addresses and notes, the invite code, any question the bot was waiting to
have answered, their links to the shop (a keyed hash of their phone, the shop's reference of
them) and the customer of their shop orders, and every text that spells their id
(idempotency keys, transfer references, recorded results), which now spells the surrogate's.
Confirm tokens go too: they are signed over the member's id, so with the signing key they
would name them.

What remains is one keyed hash of the Telegram id in ``erasures``, without a date: enough for
:meth:`core.membership.members.Members.join` to recognise the person coming back (a new member, but
no second sign-up bonus and no invite reward), and useless for finding which surrogate they were.
The hash key is a random secret in the database, kept the way confirm tokens' key is.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Column, String, Table, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from core import validation
from core.config import Config
from core.db.database import Database
from core.db.models import (
    Account,
    Base,
    CheckpointBalance,
    Erasure,
    Hold,
    Lot,
    Member,
    Operation,
    Redemption,
    ShopOrder,
    Transfer,
)
from core.errors import UnknownMember
from core.points.accounts import SystemAccount
from core.points.ledger import current_balance, debit_member, lock_member, settle_hold
from core.points.stored_secrets import kept_secret, stored_secret
from core.rewards.redemptions import AWAITING, cancel_waiting

# Surrogate ids of erased members: above every Telegram id, below what validation accepts.
ERASED_BASE = 2**60

_SECRET_KEY = "secret:erasures"

# Readable names of the export's sections, by the column that names the member. A column not
# listed here still gets a section, called after its table.
_SECTION_NAMES: dict[tuple[str, str], str] = {
    ("checkins", "member_id"): "check_ins",
    ("member_days", "member_id"): "earning_days",
    ("orders", "member_id"): "purchases",
    ("holds", "account_id"): "holds",
    ("redemptions", "member_id"): "redemptions",
    ("star_refunds", "member_id"): "stars_refunds",
    ("flash_sale_entries", "member_id"): "flash_sale_entries",
    ("box_draws", "member_id"): "blind_box_draws",
    ("box_streaks", "member_id"): "blind_box_streaks",
    ("client_seeds", "member_id"): "client_seed",
    ("coupon_codes", "taken_by"): "coupon_codes",
    ("invite_codes", "member_id"): "invite_code",
    ("referrals", "invitee_id"): "invited_by",
    ("referrals", "referrer_id"): "invites_sent",
    ("pending_inputs", "member_id"): "pending_input",
    ("shop_customers", "member_id"): "shop_links",
    ("shop_link_tokens", "used_by"): "shop_link_tokens_used",
    ("shop_orders", "member_id"): "shop_orders",
    ("checkout_holds", "member_id"): "checkout_holds",
}
# Shown in sections of their own (profile, balance, transfers), or never the member's own:
# ``members.invited_by`` names the friends they invited, whose profiles are not theirs to take.
_TOLD_ELSEWHERE = frozenset(
    {
        ("members", "id"),
        ("members", "invited_by"),
        ("transfers", "debit_account_id"),
        ("transfers", "credit_account_id"),
        ("lots", "account_id"),
        ("holds", "destination_id"),
    }
)
# Rows that exist only for the living member: deleted on erasure rather than handed on to the
# surrogate. An invite code would still bring newcomers to the surrogate, and it may be posted
# somewhere under the person's name. The shop's links (a keyed hash of the member's phone, the
# shop's reference of them) would credit the surrogate with the person's next orders; the link
# tokens they used name that reference too. A client seed is text the member typed (their past
# draws keep a copy, which verifying them needs).
_FORGOTTEN = frozenset(
    {
        "pending_inputs",
        "invite_codes",
        "shop_customers",
        "shop_link_tokens",
        "client_seeds",
        "birthdays",
    }
)


@dataclass(frozen=True)
class ErasureResult:
    """What erasing an account did.

    ``forfeited``: the points left after everything held was given back, moved to the
    adjustments book. ``released_holds`` counts the other holds voided (flash-sale entries and
    the like); the holds of cancelled redemptions are not counted again.
    """

    forfeited: int
    cancelled_redemptions: int
    released_holds: int


@functools.cache
def member_columns() -> tuple[Column[Any], ...]:
    """Every column that holds a member's id: the foreign keys to members and accounts."""
    found: list[Column[Any]] = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(
                fk.column.table.name in ("members", "accounts") and fk.column.name == "id"
                for fk in column.foreign_keys
            ):
                found.append(column)
    return tuple(found)


def _random_surrogate() -> int:
    return ERASED_BASE + secrets.randbelow(ERASED_BASE)


class Privacy:
    """A member's right to see what the mall keeps about them, and to have it erased."""

    def __init__(
        self,
        db: Database,
        config: Config,
        *,
        new_surrogate: Callable[[], int] = _random_surrogate,
    ) -> None:
        self.db = db
        self.config = config
        self._new_surrogate = new_surrogate
        self._key: bytes | None = None

    # --- Export ---------------------------------------------------------------------------------

    async def export(self, member_id: int, now: datetime) -> dict[str, Any]:
        """Everything the mall stores about the member, as JSON-ready values, in one snapshot.

        Instants are ISO 8601 strings, points are ints. Sections: ``profile``, ``balance`` (with
        the open lots and when they expire), ``transfers`` (every movement of their points),
        ``donations``, then one per table that names the member (check-ins, purchases, holds,
        redemptions with their delivery address, flash-sale entries, blind-box draws, the
        invite that brought them and those they sent, the question awaiting their answer, their
        links to the shop, ...), and ``erased_before``. A linked phone is said to be linked, with
        the first hex digits of its keyed hash at most: the number itself is not kept.
        """
        validation.member_id(member_id)
        validation.instant(now)
        async with self.db.read() as conn:
            profile = await _live_member(conn, member_id)
            document: dict[str, Any] = {
                "member_id": member_id,
                "exported_at": now.isoformat(),
                "profile": profile,
                "balance": await _balance_section(conn, member_id),
            }
            transfers = await _transfer_section(conn, member_id)
            document["transfers"] = transfers
            document["donations"] = _donation_section(transfers)
            for column in member_columns():
                where = (column.table.name, column.name)
                if where in _TOLD_ELSEWHERE:
                    continue
                document[_section_name(column)] = await _rows_naming(conn, column, member_id)
            document["erased_before"] = await was_erased(conn, member_id)
        return document

    # --- Erasure --------------------------------------------------------------------------------

    async def erase(self, member_id: int, now: datetime) -> ErasureResult:
        """Delete the member's account, in one transaction, keeping the books balanced.

        Waiting redemptions are cancelled and pending holds voided first, so their points come
        back; what the member then has is forfeited to the adjustments book (``account_erased``,
        drawn from their lots like any debit). Then nothing that identifies them is left (see
        the module's docstring). :class:`UnknownMember` if there is no such member, which is
        also what a second erasure meets.
        """
        validation.member_id(member_id)
        validation.instant(now)
        key = await self._secret(now)
        async with self.db.write() as conn:
            await lock_member(conn, member_id)
            # Locked too, so nothing new can point at the member while they are re-keyed.
            live = (
                await conn.execute(
                    select(Member.deleted_at).where(Member.id == member_id).with_for_update()
                )
            ).first()
            if live is None or live.deleted_at is not None:
                raise UnknownMember(f"no member {member_id}", member_id=member_id)
            cancelled = await _cancel_waiting_redemptions(conn, self.config, member_id, now)
            released = await _void_pending_holds(conn, member_id, now)
            surrogate = await self._free_surrogate(conn)
            forfeited = await current_balance(conn, member_id)
            if forfeited > 0:
                await debit_member(
                    conn,
                    member_id=member_id,
                    destination=SystemAccount.ADJUSTMENTS,
                    amount=forfeited,
                    code="account_erased",
                    reference="account_erased",
                    key=f"account-erased:{surrogate}",
                    now=now,
                    require_active=False,
                )
            # The shop's orders stay with the surrogate, without the customer (a phone's hash).
            await conn.execute(
                update(ShopOrder).where(ShopOrder.member_id == member_id).values(customer_key=None)
            )
            await _anonymise(conn, member_id, surrogate, now)
            await _record_erasure(conn, _digest(key, member_id))
        return ErasureResult(forfeited, cancelled, released)

    async def _free_surrogate(self, conn: AsyncConnection) -> int:
        while True:
            surrogate = self._new_surrogate()
            if not ERASED_BASE <= surrogate < 2**62:
                raise ValueError(f"surrogate {surrogate} is outside [2**60, 2**62)")
            taken = (await conn.execute(select(Account.id).where(Account.id == surrogate))).first()
            if taken is None:
                return surrogate

    async def _secret(self, now: datetime) -> bytes:
        """The key of the erasure hashes; made on first use, then the same for every process."""
        if self._key is None:
            self._key = await kept_secret(self.db, _SECRET_KEY, now)
        return self._key


async def was_erased(conn: AsyncConnection, member_id: int) -> bool:
    """Whether this Telegram id erased an account before (call inside the join)."""
    key = await stored_secret(conn, _SECRET_KEY)
    if key is None:
        return False  # nobody was ever erased
    found = (
        await conn.execute(select(Erasure.digest).where(Erasure.digest == _digest(key, member_id)))
    ).first()
    return found is not None


def _digest(key: bytes, member_id: int) -> str:
    return hmac.new(key, f"member:{member_id}".encode(), hashlib.sha256).hexdigest()


async def _record_erasure(conn: AsyncConnection, digest: str) -> None:
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    # The same person may erase a second account: one record says all there is to say.
    await conn.execute(insert_(Erasure).values(digest=digest).on_conflict_do_nothing())


# --- What the export shows ----------------------------------------------------------------------


def _plain(value: object) -> object:
    """A stored value as JSON has it: instants and days as ISO text, whole numbers as ints."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


async def _live_member(conn: AsyncConnection, member_id: int) -> dict[str, Any]:
    row = (
        await conn.execute(
            select(Member, Account.balance, Account.frozen, Account.frozen_reason)
            .join(Account, Account.id == Member.id)
            .where(Member.id == member_id, Member.deleted_at.is_(None))
        )
    ).first()
    if row is None:
        raise UnknownMember(f"no member {member_id}", member_id=member_id)
    return {
        "member_id": member_id,
        "display_name": row.display_name,
        "username": row.username,
        "language": row.language,
        "joined_at": _plain(row.joined_at),
        "invited_by": row.invited_by,
        "tier": row.tier,
        "frozen": bool(row.frozen),
        "frozen_reason": row.frozen_reason,
        "announcements": bool(row.announcements),
    }


async def _balance_section(conn: AsyncConnection, member_id: int) -> dict[str, Any]:
    lots = (
        await conn.execute(
            select(Lot.id, Lot.amount, Lot.remaining, Lot.expires_at)
            .where(Lot.account_id == member_id, Lot.remaining > 0)
            .order_by(Lot.expires_at.is_(None), Lot.expires_at, Lot.id)
        )
    ).all()
    return {
        "points": await current_balance(conn, member_id),
        "open_lots": [
            {
                "lot_id": int(lot.id),
                "amount": int(lot.amount),
                "remaining": int(lot.remaining),
                "expires_at": _plain(lot.expires_at),
            }
            for lot in lots
        ],
    }


def _book_name(account_id: int) -> str:
    try:
        return SystemAccount(account_id).code
    except ValueError:
        return "member"


async def _transfer_section(conn: AsyncConnection, member_id: int) -> list[dict[str, Any]]:
    rows = (
        await conn.execute(
            select(Transfer)
            .where(
                or_(Transfer.debit_account_id == member_id, Transfer.credit_account_id == member_id)
            )
            .order_by(Transfer.id)
        )
    ).all()
    entries: list[dict[str, Any]] = []
    for row in rows:
        incoming = row.credit_account_id == member_id
        other = row.debit_account_id if incoming else row.credit_account_id
        entries.append(
            {
                "transfer_id": int(row.id),
                "code": row.code,
                "amount": int(row.amount),
                "direction": "in" if incoming else "out",
                "counterparty": _book_name(int(other)),
                "reference": row.reference,
                "created_at": _plain(row.created_at),
            }
        )
    return entries


def _donation_section(transfers: list[dict[str, Any]]) -> dict[str, Any]:
    given = [
        {"amount": t["amount"], "created_at": t["created_at"]}
        for t in transfers
        if t["direction"] == "out" and t["counterparty"] == SystemAccount.DONATIONS.code
    ]
    return {"total": sum(g["amount"] for g in given), "entries": given}


def _section_name(column: Column[Any]) -> str:
    named = _SECTION_NAMES.get((column.table.name, column.name))
    if named is not None:
        return named
    table = column.table
    naming = [c for c in member_columns() if c.table is table]
    return table.name if len(naming) == 1 else f"{table.name}_by_{column.name}"


async def _rows_naming(
    conn: AsyncConnection, column: Column[Any], member_id: int
) -> list[dict[str, Any]]:
    table = column.table
    rows = (
        await conn.execute(
            select(table).where(column == member_id).order_by(*table.primary_key.columns)
        )
    ).all()
    return [_without_phone_hash({k: _plain(v) for k, v in row._mapping.items()}) for row in rows]


# A linked phone is stored as ``phone:<HMAC-SHA256 of the number>``
# (``core.commerce.shop_customers``).
_PHONE_KEY = re.compile(r"phone:([0-9a-f]{64})")
_PHONE_HASH_SHOWN = 8
PHONE_LINKED = "a phone number is linked: the mall keeps only a keyed hash of it, never the number"


def _without_phone_hash(row: dict[str, Any]) -> dict[str, Any]:
    """A row with a phone's keyed hash shown for what it is: that a phone number is linked, and
    the hash's first hex digits (enough to tell two links apart). The whole hash would read as
    if it were the number, and it is what the shop's orders are matched by."""
    shown: dict[str, Any] = {}
    for name, value in row.items():
        found = _PHONE_KEY.fullmatch(value) if isinstance(value, str) else None
        if found is None:
            shown[name] = value
            continue
        shown[name] = f"phone:{found[1][:_PHONE_HASH_SHOWN]}…"
        shown["phone"] = PHONE_LINKED
    return shown


# --- Erasure, step by step ----------------------------------------------------------------------


async def _cancel_waiting_redemptions(
    conn: AsyncConnection, config: Config, member_id: int, now: datetime
) -> int:
    waiting = (
        await conn.execute(
            select(Redemption.id)
            .where(Redemption.member_id == member_id, Redemption.status.in_(AWAITING))
            .order_by(Redemption.id)
        )
    ).scalars()
    ids = [int(i) for i in waiting]
    for redemption_id in ids:
        await cancel_waiting(conn, config, redemption_id, now)
    return len(ids)


async def _void_pending_holds(conn: AsyncConnection, member_id: int, now: datetime) -> int:
    pending = (
        await conn.execute(
            select(Hold.id)
            .where(Hold.account_id == member_id, Hold.status == "pending")
            .order_by(Hold.id)
        )
    ).scalars()
    ids = [int(i) for i in pending]
    for hold_id in ids:
        await settle_hold(
            conn, hold_id=hold_id, post=False, key=f"account-erased:{hold_id}", now=now
        )
    return len(ids)


async def _anonymise(conn: AsyncConnection, member_id: int, surrogate: int, now: datetime) -> None:
    """Hand the member's records to ``surrogate`` and remove what identifies the person."""
    member = (await conn.execute(select(Member).where(Member.id == member_id))).one()
    account = (await conn.execute(select(Account).where(Account.id == member_id))).one()
    redemptions = (
        await conn.execute(
            select(
                Redemption.id, Redemption.confirm_token, Redemption.address, Redemption.note
            ).where(Redemption.member_id == member_id)
        )
    ).all()
    private = {member.display_name, member.username, account.frozen_reason}
    private.update(r.address for r in redemptions)
    private.update(r.note for r in redemptions)
    id_pattern = _id_pattern(member_id)
    # Tokens signed over the member's id; those that spell the id are rewritten with it.
    tokens = {
        r.confirm_token: f"erased-{r.id}"
        for r in redemptions
        if not id_pattern.search(r.confirm_token)
    }

    columns = member_columns()
    for column in columns:
        if column.table.name in _FORGOTTEN:
            await conn.execute(delete(column.table).where(column == member_id))
    await conn.execute(
        insert(Account).values(
            id=surrogate,
            kind="member",
            code=None,
            balance=account.balance,
            frozen=True,
            frozen_reason=None,
        )
    )
    await conn.execute(
        insert(Member).values(
            id=surrogate,
            display_name="",
            language=member.language,
            joined_at=member.joined_at,
            invited_by=member.invited_by,
            tier=member.tier,
            username=None,
            announcements=False,
            deleted_at=now,
        )
    )
    for column in columns:
        if (column.table.name, column.name) == ("members", "id"):
            continue
        if column.table.name in _FORGOTTEN:
            continue
        await conn.execute(
            update(column.table).where(column == member_id).values({column.name: surrogate})
        )
    # The ledger check's totals (core.points.checkpoint) follow the transfers they sum.
    await conn.execute(
        update(CheckpointBalance)
        .where(CheckpointBalance.account_id == member_id)
        .values(account_id=surrogate)
    )
    await conn.execute(delete(Member).where(Member.id == member_id))
    await conn.execute(delete(Account).where(Account.id == member_id))
    await conn.execute(
        update(Redemption).where(Redemption.member_id == surrogate).values(address=None, note=None)
    )
    rewrite = _Rewrite(member_id, surrogate, tokens, {p for p in private if p})
    requests = await _rewrite_texts(conn, rewrite)
    # The use cases that moved their points ran under their transfers' keys (``#`` suffixes
    # mark a use case's further transfers); their requests named the member too.
    moved = (
        await conn.execute(
            select(Transfer.key).where(
                or_(Transfer.debit_account_id == surrogate, Transfer.credit_account_id == surrogate)
            )
        )
    ).scalars()
    requests.update(key.split("#", 1)[0] for key in moved)
    await _forget_requests(conn, requests)


def _id_pattern(member_id: int) -> re.Pattern[str]:
    """The id as a word of its own: not inside a longer number or token."""
    return re.compile(rf"(?<![0-9A-Za-z]){member_id}(?![0-9A-Za-z])")


class _Rewrite:
    """How a stored text changes: the id becomes the surrogate's, signed tokens go, and in
    recorded JSON results the member's own texts (name, address) are blanked."""

    def __init__(
        self, member_id: int, surrogate: int, tokens: dict[str, str], private: set[str]
    ) -> None:
        self.member_id = member_id
        self.surrogate = surrogate
        self.tokens = tokens
        self.private = private
        self.id_pattern = _id_pattern(member_id)
        self.token_pattern = (
            re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
            if tokens
            else None
        )

    @property
    def needles(self) -> list[str]:
        """Substrings every text to rewrite contains one of (the SQL prefilter)."""
        return [str(self.member_id), *self.tokens]

    def text(self, value: str) -> str:
        if value[:1] in ("{", "["):
            try:
                document = json.loads(value)
            except ValueError:
                pass
            else:
                changed = self._json(document)
                if changed == document:
                    return value
                return json.dumps(changed, ensure_ascii=False, separators=(",", ":"))
        return self._swap(value)

    def _swap(self, value: str) -> str:
        value = self.id_pattern.sub(str(self.surrogate), value)
        if self.token_pattern is not None:
            value = self.token_pattern.sub(lambda m: self.tokens[m[0]], value)
        return value

    def _json(self, node: object) -> object:
        if isinstance(node, dict):
            return {self._swap(k): self._json(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self._json(v) for v in node]
        if isinstance(node, str):
            return "" if node in self.private else self._swap(node)
        if isinstance(node, int) and not isinstance(node, bool) and node == self.member_id:
            return self.surrogate
        return node


def _text_columns() -> Iterable[tuple[Table, Column[Any]]]:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, String):
                yield table, column


async def _rewrite_texts(conn: AsyncConnection, rewrite: _Rewrite) -> set[str]:
    """Rewrite every stored text that names the member, in every table.

    Each text column is searched once (a scan: erasure is rare). Returns the keys of the
    idempotency records that changed.
    """
    operations = cast(Table, Operation.__table__)
    changed_operations: set[str] = set()
    for table, column in _text_columns():
        key_columns = list(table.primary_key.columns)
        if not key_columns:
            continue
        rows = (
            await conn.execute(
                select(*key_columns, column).where(
                    or_(*(column.contains(n, autoescape=True) for n in rewrite.needles))
                )
            )
        ).all()
        for row in rows:
            old = row[-1]
            new = _fit(rewrite.text(old), column)
            if new == old:
                continue
            await conn.execute(
                update(table)
                .where(*(c == v for c, v in zip(key_columns, row[:-1], strict=True)))
                .values({column.name: new})
            )
            if table is operations:
                key = new if column.name == "key" else row[0]
                changed_operations.add(str(key))
    return changed_operations


async def _forget_requests(conn: AsyncConnection, keys: Iterable[str]) -> None:
    """Give these idempotency records a fingerprint no request matches.

    A fingerprint is an unkeyed hash of the request, which named the member: hashing
    candidate ids would find theirs. Nobody replays these requests: their keys are gone.
    """
    for key in sorted(keys):
        await conn.execute(
            update(Operation)
            .where(Operation.key == key)
            .values(fingerprint=hashlib.sha256(f"erased:{key}".encode()).hexdigest())
        )


def _fit(value: str, column: Column[Any]) -> str:
    """A rewritten text that outgrew its column (the surrogate is longer) becomes a hash."""
    length = getattr(column.type, "length", None)
    if length is None or len(value) <= length:
        return value
    return f"erased:{hashlib.sha256(value.encode()).hexdigest()}"[:length]
