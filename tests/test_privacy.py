"""A member's data: handed over whole, or erased so that nothing leads back to them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Integer, String, insert, select

from core.commerce.shop import OrderIn
from core.commerce.shop_customers import phone_key
from core.db.models import Base, CouponCode, Member, Transfer
from core.errors import Frozen, UnknownMember
from core.games.blind_boxes import BlindBoxes
from core.games.box_authoring import PrizeSpec
from core.mall import Mall
from core.membership.privacy import ERASED_BASE, PHONE_LINKED
from core.points.accounts import SystemAccount
from core.rewards.catalog import Catalog, ItemSpec
from core.rewards.flash_sales import FlashSales
from tests.conftest import MallFactory, at
from tests.support.configs import make_config

# Telegram-like ids, long enough that finding one inside a stored text means it is there.
ALICE, BOB, CAROL, DAVE = 5_550_123_456, 5_550_987_654, 5_551_000_111, 5_552_222_333
ALICE_NAME, ALICE_HANDLE, ALICE_ADDRESS = "Alicia Quokka", "Alice_Q", "12 Wombat Lane"
BOB_ADDRESS = "7 Koala Court"
CONFIG = make_config("[members]\nsignup_bonus = 1000\n\n[referrals]\nqualify_on = 'join'")
ERASED_AT = at("2026-03-03 21:45")


@dataclass(frozen=True)
class Story:
    lamp: int
    kettle: int
    voucher: int
    sale_id: int
    box_id: int
    alice_tokens: tuple[str, ...]


async def item(mall: Mall, sku: str, **terms: Any) -> int:
    spec = ItemSpec(
        **{"sku": sku, "title": sku.title(), "category": "Home", "kind": "physical", **terms}
    )
    return (await Catalog(mall.db, mall.config).upsert_item(spec, at("2026-03-01 07:00"))).item_id


async def redeem(mall: Mall, member_id: int, item_id: int, when: str, address: str | None) -> str:
    offer = await mall.redemptions.offer(member_id, item_id, at(when))
    await mall.redemptions.redeem(member_id, offer.token, at(when), address=address)
    return offer.token


async def alice_carol_and_bob(mall: Mall) -> Story:
    """Carol invites Alice, Alice invites Bob; Alice then uses every part of the mall."""
    lamp = await item(mall, "lamp", price_points=60)
    kettle = await item(mall, "kettle", price_points=150, approval_threshold=100)
    voucher = await item(mall, "voucher", kind="coupon", price_points=20)
    async with mall.db.write() as conn:
        for code in ("VOUCH-A1", "VOUCH-B2"):
            await conn.execute(insert(CouponCode).values(item_id=voucher, code=code))
    sales = FlashSales(mall.db, mall.config)
    mug = await item(mall, "mug", kind="virtual", price_points=80, stock=10)
    sale = await sales.create_sale(
        mug,
        30,
        1,
        at("2026-03-03 20:00"),
        at("2026-03-03 22:00"),
        "draw",
        at("2026-03-03 20:30"),
        now=at("2026-03-02 09:00"),
    )
    boxes = BlindBoxes(mall.db, mall.config)
    box = await boxes.create_box(
        "lucky",
        "Lucky box",
        50,
        [PrizeSpec("10 points", "points", 1, points=10)],
        at("2026-03-01 07:00"),
    )

    await mall.members.join(CAROL, "Carol Numbat", "en", at("2026-03-01 07:30"))
    carols_code = await mall.referrals.invite_code(CAROL)
    inviter = await mall.referrals.resolve(carols_code)
    await mall.members.join(
        ALICE, ALICE_NAME, "en", at("2026-03-01 08:00"), invited_by=inviter, username=ALICE_HANDLE
    )
    alices_code = await mall.referrals.invite_code(ALICE)
    await mall.members.join(
        BOB,
        "Bob Echidna",
        "zh-hans",
        at("2026-03-01 08:30"),
        await mall.referrals.resolve(alices_code),
    )

    await mall.checkins.check_in(ALICE, at("2026-03-01 09:00"))
    await mall.checkins.check_in(ALICE, at("2026-03-02 09:00"))
    await mall.purchases.record_purchase(ALICE, "order-a1", 5000, "food", at("2026-03-02 10:00"))
    tokens = (
        await redeem(mall, ALICE, lamp, "2026-03-02 11:00", ALICE_ADDRESS),
        await redeem(mall, ALICE, kettle, "2026-03-02 11:05", ALICE_ADDRESS),
        await redeem(mall, ALICE, voucher, "2026-03-02 11:10", None),
    )
    await sales.enter(sale.sale_id, ALICE, at("2026-03-03 20:10"))
    await boxes.open(ALICE, box.box_id, "open-a1", at("2026-03-03 21:00"))
    await mall.donations.donate(ALICE, 10, "give-a1", at("2026-03-03 21:10"))
    await mall.inputs.expect(
        ALICE, "address", {"redemption": 1}, at("2026-03-03 21:30"), timedelta(hours=1)
    )

    await mall.checkins.check_in(BOB, at("2026-03-02 09:00"))
    await redeem(mall, BOB, lamp, "2026-03-02 12:00", BOB_ADDRESS)
    await mall.inputs.expect(BOB, "claim_code", {}, at("2026-03-03 21:30"), timedelta(hours=1))
    return Story(lamp, kettle, voucher, sale.sale_id, box.box_id, tokens)


async def surrogate_of_erased(mall: Mall) -> int:
    async with mall.db.read() as conn:
        ids = (await conn.execute(select(Member.id).where(Member.deleted_at.is_not(None)))).all()
    assert len(ids) == 1
    return int(ids[0][0])


async def traces(mall: Mall, numbers: set[int], texts: set[str]) -> list[tuple[str, str, object]]:
    """Every stored value, in every table, that is one of ``numbers`` or contains a text."""
    found: list[tuple[str, str, object]] = []
    lowered = {t.lower() for t in texts}
    async with mall.db.read() as conn:
        for table in Base.metadata.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                for column, value in zip(table.columns, row, strict=True):
                    if isinstance(column.type, Integer) and value in numbers:
                        found.append((table.name, column.name, value))
                    text = value.lower() if isinstance(column.type, String) and value else ""
                    if any(t in text for t in lowered):
                        found.append((table.name, column.name, value))
    return found


def normalised(document: dict[str, Any], member_id: int) -> object:
    """An export with ``member_id`` (a number, or a reference) called "ALICE", undated."""

    def walk(node: object) -> object:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items() if k != "exported_at"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return "ALICE" if node in (member_id, str(member_id)) else node

    return walk(document)


# --- Export -------------------------------------------------------------------------------------


async def test_alice_exports_everything_the_mall_keeps_about_her_and_nothing_of_bobs(
    make_mall: MallFactory,
):
    mall = await make_mall(CONFIG)
    story = await alice_carol_and_bob(mall)
    now = at("2026-03-03 21:40")
    export = await mall.privacy.export(ALICE, now)
    assert json.loads(json.dumps(export)) == export  # JSON-ready as it is

    assert export["profile"] == {
        "member_id": ALICE,
        "display_name": ALICE_NAME,
        "username": "alice_q",
        "language": "en",
        "joined_at": at("2026-03-01 08:00").isoformat(),
        "invited_by": CAROL,
        "tier": "Member",
        "frozen": False,
        "frozen_reason": None,
        "announcements": True,
    }
    balance = await mall.statements.balance(ALICE)
    assert export["balance"]["points"] == balance.balance
    assert sum(lot["remaining"] for lot in export["balance"]["open_lots"]) == balance.balance
    assert all(
        lot["expires_at"] is None or "T" in lot["expires_at"]
        for lot in export["balance"]["open_lots"]
    )
    codes = [(t["code"], t["direction"], t["counterparty"]) for t in export["transfers"]]
    assert ("signup_bonus", "in", "issuance") in codes
    assert ("referral_invitee", "in", "issuance") in codes
    assert ("referral_referrer", "in", "issuance") in codes
    assert ("donation", "out", "donations") in codes
    assert ("box_draw", "out", "box_pool") in codes
    assert all(isinstance(t["amount"], int) for t in export["transfers"])
    assert export["donations"]["total"] == 10

    assert [c["day"] for c in export["check_ins"]] == ["2026-03-01", "2026-03-02"]
    assert [o["order_id"] for o in export["purchases"]] == ["order-a1"]
    redemptions = export["redemptions"]
    assert [(r["item_id"], r["status"], r["address"]) for r in redemptions] == [
        (story.lamp, "completed", ALICE_ADDRESS),
        (story.kettle, "awaiting_approval", ALICE_ADDRESS),
        (story.voucher, "completed", None),
    ]
    assert [c["code"] for c in export["coupon_codes"]] == ["VOUCH-A1"]
    assert [(e["sale_id"], e["status"]) for e in export["flash_sale_entries"]] == [
        (story.sale_id, "entered")
    ]
    assert [h["status"] for h in export["holds"]] == ["pending", "pending"]
    assert [d["box_id"] for d in export["blind_box_draws"]] == [story.box_id]
    assert [s["draws"] for s in export["blind_box_streaks"]] == [1]
    assert [c["code"] for c in export["invite_code"]] == [await mall.referrals.invite_code(ALICE)]
    assert [r["referrer_id"] for r in export["invited_by"]] == [CAROL]
    assert [(r["invitee_id"], r["status"]) for r in export["invites_sent"]] == [(BOB, "rewarded")]
    assert [(p["kind"], json.loads(p["data"])) for p in export["pending_input"]] == [
        ("address", {"redemption": 1})
    ]
    assert [day["day"] for day in export["earning_days"]] == ["2026-03-01", "2026-03-02"]
    assert export["erased_before"] is False

    # Only hers: Bob and Carol appear as the ends of her invites, nothing of theirs besides.
    text = json.dumps(export)
    for other in (
        "Bob Echidna",
        BOB_ADDRESS,
        "Carol Numbat",
        await mall.referrals.invite_code(BOB),
    ):
        assert other not in text
    member_columns = {"member_id", "taken_by", "account_id"}
    for name, section in export.items():
        if isinstance(section, list) and name not in ("transfers", "invites_sent"):
            for row in section:
                named = {k: v for k, v in row.items() if k in member_columns or k == "invitee_id"}
                assert set(named.values()) <= {ALICE}, (name, row)


async def test_an_unknown_member_has_nothing_to_export(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.privacy.export(ALICE, at("2026-03-01 08:00"))


PHONE = "8613800138000"  # as Telegram gives a shared contact's number
PHONES = make_config(
    '[mall]\ncurrency = "CNY"\n[earning]\npoints_per_unit = 1\n'
    '[shop]\nphone_hash_key = "a-test-key-for-phone-hashes-32-characters-long"\n'
)


async def test_a_linked_phone_is_exported_as_linked_never_as_its_hash_and_erasure_unlinks_it(
    make_mall: MallFactory,
):
    mall = await make_mall(PHONES)
    await mall.members.join(ALICE, ALICE_NAME, "en", at("2026-03-01 08:00"))
    await mall.shop.link_phone(ALICE, PHONE, at("2026-03-01 08:05"))
    order = OrderIn("A-1", {"phone": f"+{PHONE}"}, Decimal("12.00"), "CNY")
    assert (await mall.shop.accept_order(order, at("2026-03-01 09:00"))).status == "credited"
    full_hash = phone_key(PHONE, mall.config.shop).removeprefix("phone:")

    export = await mall.privacy.export(ALICE, at("2026-03-01 10:00"))

    (link,) = export["shop_links"]
    assert (link["kind"], link["member_id"], link["phone"]) == ("phone", ALICE, PHONE_LINKED)
    assert link["phone"].startswith("a phone number is linked")
    assert link["customer_key"] == f"phone:{full_hash[:8]}…"
    (shop_order,) = export["shop_orders"]
    assert (shop_order["order_id"], shop_order["customer_key"]) == ("A-1", link["customer_key"])
    text = json.dumps(export, ensure_ascii=False)
    assert full_hash[:9] not in text
    assert "13800138000" not in text

    await mall.privacy.erase(ALICE, ERASED_AT)

    assert await mall.shop.member_for({"phone": f"+{PHONE}"}) is None
    assert await traces(mall, set(), {full_hash}) == []
    later = OrderIn("A-2", {"phone": f"+{PHONE}"}, Decimal("5.00"), "CNY")
    assert (await mall.shop.accept_order(later, at("2026-03-04 09:00"))).status == "parked"
    assert (await mall.check()).ok


# --- Erasure ------------------------------------------------------------------------------------


async def test_alice_erases_her_account_and_nothing_leads_back_to_her(make_mall: MallFactory):
    mall = await make_mall(CONFIG)
    story = await alice_carol_and_bob(mall)
    now = at("2026-03-03 21:40")
    bob_before = await mall.privacy.export(BOB, now)
    carol_before = await mall.privacy.export(CAROL, now)
    held = 150 + 30  # the kettle waiting for approval, the flash-sale entry
    points = (await mall.statements.balance(ALICE)).balance
    kettle_stock = (await Catalog(mall.db, mall.config).get_item(story.kettle)).stock
    about_alice = {str(ALICE), "Quokka", ALICE_HANDLE, "Wombat", *story.alice_tokens}
    where_before = {
        (table, column) for table, column, _ in await traces(mall, {ALICE}, about_alice)
    }
    assert {
        ("members", "display_name"),
        ("members", "username"),
        ("redemptions", "address"),
        ("redemptions", "confirm_token"),
        ("transfers", "key"),
        ("transfers", "reference"),
        ("transfers", "debit_account_id"),
        ("operations", "key"),
        ("operations", "result"),
        ("referrals", "referrer_id"),
        ("coupon_codes", "taken_by"),
        ("pending_inputs", "member_id"),
    } <= where_before

    erased = await mall.privacy.erase(ALICE, ERASED_AT)

    assert (erased.forfeited, erased.cancelled_redemptions, erased.released_holds) == (
        points + held,
        1,
        1,
    )
    report = await mall.check()
    assert report.ok, report.violations
    assert (
        report.outstanding_points
        == (await mall.statements.balance(BOB)).balance
        + (await mall.statements.balance(CAROL)).balance
    )
    assert (await Catalog(mall.db, mall.config).get_item(story.kettle)).stock == kettle_stock

    surrogate = await surrogate_of_erased(mall)
    assert surrogate >= ERASED_BASE
    assert await traces(mall, {ALICE}, about_alice) == []
    for read in (mall.members.profile, mall.statements.balance, mall.statements.history):
        with pytest.raises(UnknownMember):
            await read(ALICE)

    # Her points left for the adjustments book, and her ledger entries stayed, anonymous.
    async with mall.db.read() as conn:
        forfeit = (
            await conn.execute(select(Transfer).where(Transfer.code == "account_erased"))
        ).one()
        kept = (
            await conn.execute(
                select(Transfer.code).where(
                    (Transfer.debit_account_id == surrogate)
                    | (Transfer.credit_account_id == surrogate)
                )
            )
        ).scalars()
        kept_codes = set(kept)
    assert (forfeit.debit_account_id, forfeit.credit_account_id, forfeit.amount) == (
        surrogate,
        int(SystemAccount.ADJUSTMENTS),
        points + held,
    )
    assert {"signup_bonus", "checkin", "purchase", "redemption", "donation"} <= kept_codes
    remains = await mall.members.profile(surrogate)
    assert (remains.display_name, remains.username, remains.frozen) == ("", None, True)
    with pytest.raises(Frozen):
        await mall.checkins.check_in(surrogate, at("2026-03-04 09:00"))

    # Bob and Carol keep all they had; their invites now name the anonymous account.
    for member_id, before in ((BOB, bob_before), (CAROL, carol_before)):
        after = await mall.privacy.export(member_id, now)
        assert normalised(after, surrogate) == normalised(before, ALICE)
        assert json.dumps(after) != json.dumps(before)  # the invite did name her


async def test_alice_comes_back_as_a_new_member_without_a_second_bonus_or_invite(
    make_mall: MallFactory,
):
    mall = await make_mall(CONFIG)
    await alice_carol_and_bob(mall)
    await mall.privacy.erase(ALICE, ERASED_AT)
    surrogate = await surrogate_of_erased(mall)

    back = await mall.members.join(
        ALICE, "Alice", "en", at("2026-03-04 08:00"), invited_by=CAROL, username="alice_q"
    )
    assert (back.is_new, back.bonus, back.balance, back.invited_by, back.referral) == (
        True,
        0,
        0,
        None,
        None,
    )
    assert back.erased_before
    again = await mall.members.join(ALICE, "Alice", "en", at("2026-03-04 08:05"))
    assert (again.is_new, again.erased_before) == (False, True)
    checked_in = await mall.checkins.check_in(ALICE, at("2026-03-04 09:00"))
    assert (checked_in.streak, checked_in.balance) == (1, 10)
    assert (await mall.statements.history(ALICE)).entries[0].code == "checkin"
    assert (await mall.privacy.export(ALICE, at("2026-03-04 10:00")))["erased_before"] is True
    report = await mall.check()
    assert report.ok, report.violations

    # Nobody is attributed to the anonymous account either, even through its old id.
    dave = await mall.members.join(DAVE, "Dave", "en", at("2026-03-04 08:00"), invited_by=surrogate)
    assert (dave.invited_by, dave.bonus) == (None, 1000)


async def test_erasing_twice_or_a_stranger_is_unknown_member(mall: Mall):
    with pytest.raises(UnknownMember):
        await mall.privacy.erase(ALICE, ERASED_AT)
    await mall.members.join(ALICE, ALICE_NAME, "en", at("2026-03-01 08:00"))
    await mall.members.freeze(ALICE, "chargebacks")
    erased = await mall.privacy.erase(ALICE, ERASED_AT)
    assert erased.forfeited == 100
    with pytest.raises(UnknownMember):
        await mall.privacy.erase(ALICE, ERASED_AT)
    surrogate = await surrogate_of_erased(mall)
    with pytest.raises(UnknownMember):
        await mall.privacy.erase(surrogate, ERASED_AT)
    assert await traces(mall, {ALICE}, {str(ALICE), "Quokka", "chargebacks"}) == []
    report = await mall.check()
    assert report.ok, report.violations


async def test_a_member_without_points_is_erased_without_a_forfeit(make_mall: MallFactory):
    mall = await make_mall(make_config("[members]\nsignup_bonus = 0"))
    await mall.members.join(ALICE, ALICE_NAME, "en", at("2026-03-01 08:00"))
    assert (await mall.privacy.erase(ALICE, ERASED_AT)).forfeited == 0
    async with mall.db.read() as conn:
        assert (await conn.execute(select(Transfer.id))).all() == []
    assert (await mall.check()).ok


async def test_erasure_and_a_check_in_at_once_lose_no_points(make_mall: MallFactory):
    for attempt in range(4):
        bot, job = await make_mall(CONFIG), await make_mall(CONFIG)
        member = ALICE + attempt
        await bot.members.join(member, ALICE_NAME, "en", at("2026-03-01 08:00"))
        before = (await bot.statements.balance(member)).balance
        erased, checked_in = await asyncio.gather(
            job.privacy.erase(member, ERASED_AT),
            bot.checkins.check_in(member, at("2026-03-01 09:00")),
            return_exceptions=True,
        )
        assert not isinstance(erased, BaseException), erased
        if isinstance(checked_in, BaseException):
            assert isinstance(checked_in, UnknownMember), checked_in
            assert erased.forfeited == before
        else:
            assert erased.forfeited == before + checked_in.reward
        report = await bot.check()
        assert report.ok, report.violations
        assert report.outstanding_points == 0
        assert await traces(bot, {member}, {str(member)}) == []
