"""Each admin action writes its audit entry in its own transaction, on both databases.

An entry that cannot be written takes its action with it (the audit insert is made to fail
and nothing of the action is left), and an action replayed by a double tap writes one entry.
An action a job or a member reaches with no admin (no ``actor_id``) writes none.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select

from core.commerce import purchases
from core.db.models import BoxSeed
from core.errors import UnknownItem, UnknownOrder
from core.games import box_authoring, box_seeds
from core.games.box_authoring import PrizeSpec
from core.mall import Mall
from core.operations import outbox
from core.reporting.audit import OPERATOR_ACTOR, AuditRecord
from core.rewards import catalog, catalog_file, flash_sales, redemptions
from core.rewards.catalog import ItemSpec
from core.rewards.catalog_file import load_catalog, load_catalog_text
from tests.conftest import at

ADMIN, ALICE = 1000, 1001
NOW = at("2026-03-02 10:00")


class Boom(Exception):
    """The audit insert failing (a full disk, a bad entry): not a refusal of the action."""


def failing_audit(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> None:
    """Make ``module``'s audit insert fail, inside whatever transaction calls it."""

    async def fail(*args: Any, **kwargs: Any) -> int:
        raise Boom

    monkeypatch.setattr(module, "write_entry", fail)


async def entries(mall: Mall, action: str) -> list[AuditRecord]:
    return [e for e in await mall.audit.latest(50) if e.action == action]


async def item(mall: Mall, sku: str, **terms: object) -> int:
    spec = ItemSpec(
        **{
            "sku": sku,
            "title": sku.title(),
            "category": "Goods",
            "kind": "physical",
            "price_points": 100,
            **terms,
        }  # type: ignore[arg-type]
    )
    return (await mall.catalog.upsert_item(spec, at("2026-03-01 07:00"))).item_id


async def rich_alice(mall: Mall) -> None:
    """Alice with 2,000 points: the sign-up bonus and a purchase."""
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.purchases.record_purchase(ALICE, "o-alice", 190_000, "x", at("2026-03-01 08:00"))


async def redeemed(mall: Mall, item_id: int) -> int:
    offer = await mall.redemptions.offer(ALICE, item_id, NOW)
    done = await mall.redemptions.redeem(ALICE, offer.token, NOW, address="1 Clock Lane")
    return done.redemption.redemption_id


async def status(mall: Mall, redemption_id: int) -> str:
    return (await mall.redemptions.get(redemption_id)).status


async def waiting_watch(mall: Mall) -> int:
    await rich_alice(mall)
    watch = await item(mall, "watch", price_points=800, stock=2, approval_threshold=500)
    return await redeemed(mall, watch)


# --- Redemptions ---------------------------------------------------------------------------------


async def test_an_approval_stands_or_falls_with_its_entry(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    waiting = await waiting_watch(mall)
    held = await mall.statements.balance(ALICE)
    failing_audit(monkeypatch, redemptions)
    with pytest.raises(Boom):
        await mall.redemptions.approve(waiting, NOW, actor_id=ADMIN)
    assert await status(mall, waiting) == "awaiting_approval"
    assert await mall.statements.balance(ALICE) == held
    assert await mall.audit.latest(10) == ()
    monkeypatch.undo()

    first = await mall.redemptions.approve(waiting, NOW, actor_id=ADMIN)
    again = await mall.redemptions.approve(waiting, NOW, actor_id=ADMIN)  # a double tap
    assert (first.replayed, again.replayed) == (False, True)
    (entry,) = await entries(mall, "redemption.approve")
    assert (entry.actor_id, entry.target) == (ADMIN, f"redemption:{waiting}")
    assert entry.before == {"status": "awaiting_approval"}
    assert entry.after == {"status": "completed", "member": ALICE, "points": 800}
    assert (await mall.check()).ok


async def test_a_rejection_stands_or_falls_with_its_entry(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    waiting = await waiting_watch(mall)
    failing_audit(monkeypatch, redemptions)
    with pytest.raises(Boom):
        await mall.redemptions.reject(
            waiting, NOW, note="Out of straps", only_awaiting_approval=True, actor_id=ADMIN
        )
    assert await status(mall, waiting) == "awaiting_approval"
    assert (await mall.statements.balance(ALICE)).held == 800
    monkeypatch.undo()

    for _ in range(2):  # the second is a replay
        await mall.redemptions.reject(
            waiting, NOW, note="Out of straps", only_awaiting_approval=True, actor_id=ADMIN
        )
    (entry,) = await entries(mall, "redemption.reject")
    assert entry.before == {"status": "awaiting_approval"}
    assert entry.after == {"status": "rejected", "member": ALICE, "note": "Out of straps"}
    assert (await mall.statements.balance(ALICE)).held == 0


async def test_a_move_without_an_admin_writes_no_entry(mall: Mall):
    waiting = await waiting_watch(mall)
    await mall.redemptions.reject(waiting, NOW)  # as a job or the member's own cancel would
    assert await mall.audit.latest(10) == ()


async def test_shipping_stands_or_falls_with_its_entry(mall: Mall, monkeypatch: pytest.MonkeyPatch):
    await rich_alice(mall)
    lamp = await redeemed(mall, await item(mall, "lamp", stock=3))
    failing_audit(monkeypatch, redemptions)
    with pytest.raises(Boom):
        await mall.redemptions.fulfil(lamp, "SF123", NOW, actor_id=ADMIN)
    assert await status(mall, lamp) == "completed"
    monkeypatch.undo()

    await mall.redemptions.fulfil(lamp, "SF123", NOW, actor_id=ADMIN)
    assert (await mall.redemptions.fulfil(lamp, "SF123", NOW, actor_id=ADMIN)).replayed
    (entry,) = await entries(mall, "redemption.fulfil")
    assert entry.before == {"status": "completed"}
    assert entry.after == {"status": "fulfilled", "member": ALICE, "note": "SF123"}


async def test_an_admins_cancel_stands_or_falls_with_its_entry(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    await rich_alice(mall)
    lamp_id = await item(mall, "lamp", stock=1)
    lamp = await redeemed(mall, lamp_id)
    balance = (await mall.statements.balance(ALICE)).balance
    failing_audit(monkeypatch, redemptions)
    with pytest.raises(Boom):
        await mall.redemptions.cancel(lamp, NOW, actor_id=ADMIN)
    assert await status(mall, lamp) == "completed"
    assert (await mall.statements.balance(ALICE)).balance == balance
    assert (await mall.catalog.get_item(lamp_id)).stock == 0
    monkeypatch.undo()

    await mall.redemptions.cancel(lamp, NOW, actor_id=ADMIN)
    assert (await mall.redemptions.cancel(lamp, NOW, actor_id=ADMIN)).replayed
    (entry,) = await entries(mall, "redemption.refund_stars")
    assert entry.before == {"status": "completed", "paid_stars": None}
    assert entry.after == {"status": "cancelled", "member": ALICE, "points": 100, "charge": ""}


# --- Points by hand ------------------------------------------------------------------------------


async def test_a_purchase_recorded_by_hand_stands_or_falls_with_its_entry(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    failing_audit(monkeypatch, purchases)
    with pytest.raises(Boom):
        await mall.purchases.record_purchase(ALICE, "POS-1", 5_000, "x", NOW, actor_id=ADMIN)
    with pytest.raises(UnknownOrder):
        await mall.purchases.order("POS-1")
    assert (await mall.statements.balance(ALICE)).balance == 100
    monkeypatch.undo()

    for _ in range(2):  # the second is a replay
        result = await mall.purchases.record_purchase(
            ALICE, "POS-1", 5_000, "x", NOW, actor_id=ADMIN
        )
    (entry,) = await entries(mall, "points.purchase")
    assert (entry.target, entry.before) == (f"member:{ALICE}", {"balance": 100})
    assert entry.after == {"balance": result.balance, "order": "POS-1", "points": result.points}
    assert result.balance == 100 + result.points > 100


async def test_a_reversal_by_hand_stands_or_falls_with_its_entry(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    bought = await mall.purchases.record_purchase(ALICE, "POS-1", 5_000, "x", NOW)
    later = NOW + timedelta(hours=1)
    failing_audit(monkeypatch, purchases)
    with pytest.raises(Boom):
        await mall.purchases.refund_purchase("POS-1", later, refund_id="admin-x", actor_id=ADMIN)
    assert (await mall.purchases.order("POS-1")).points_reversed == 0
    assert (await mall.statements.balance(ALICE)).balance == bought.balance
    monkeypatch.undo()

    for _ in range(2):  # the second is a replay
        await mall.purchases.refund_purchase("POS-1", later, refund_id="admin-x", actor_id=ADMIN)
    (entry,) = await entries(mall, "points.reverse")
    assert entry.target == f"member:{ALICE}"
    assert entry.before == {"balance": bought.balance}
    assert entry.after == {"balance": 100, "order": "POS-1", "points": -bought.points}


# --- Boxes and sales ------------------------------------------------------------------------------


async def test_a_box_is_created_with_its_entry_or_not_at_all(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    prizes = [PrizeSpec("Nothing", "consolation", 1)]
    failing_audit(monkeypatch, box_authoring)
    with pytest.raises(Boom):
        await mall.boxes.create_box("bean", "Bean box", 120, prizes, NOW, actor_id=ADMIN)
    assert await mall.boxes.list_boxes() == ()
    monkeypatch.undo()

    created = await mall.boxes.create_box(
        "bean", "Bean box", 120, prizes, NOW, titles={"zh_Hans": "豆子盲盒"}, actor_id=ADMIN
    )
    (entry,) = await entries(mall, "box.create")
    assert entry.target == f"box:{created.box_id}"
    assert entry.after == {
        "sku": "bean",
        "title": "Bean box",
        "price_points": 120,
        "active": True,
        "titles": {"zh_Hans": "豆子盲盒"},
    }


async def test_a_prize_table_is_saved_with_its_entry_or_not_at_all(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    await item(mall, "mug")
    mug = (await mall.catalog.get_item_by_sku("mug")).item_id
    first = [PrizeSpec("Ten points", "points", 90, points=10)]
    box = await mall.boxes.create_box("lucky", "Lucky box", 100, first, NOW)
    table = [
        PrizeSpec(
            "Golden mug", "item", 5, item_id=mug, stock=2, rare=True, names={"zh_Hans": "金杯"}
        )
    ]
    failing_audit(monkeypatch, box_authoring)
    with pytest.raises(Boom):
        await mall.boxes.set_prizes(
            box.box_id, table, NOW, actor_id=ADMIN, other_languages=("zh_Hans",)
        )
    unchanged = await mall.boxes.prize_table(box.box_id)
    assert [(p.name, p.weight) for p in unchanged.prizes] == [("Ten points", 90)]
    monkeypatch.undo()

    await mall.boxes.set_prizes(
        box.box_id, table, NOW, actor_id=ADMIN, other_languages=("zh_Hans",)
    )
    (entry,) = await entries(mall, "box.prizes")
    assert entry.target == f"box:{box.box_id}"
    assert entry.before == {"prizes": ["Ten points: points 10 weight 90"]}
    assert entry.after == {"prizes": ["Golden mug / 金杯: item mug weight 5 stock 2 rare"]}


async def test_a_seed_rotation_is_made_with_its_entry_or_not_at_all(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    prizes = [PrizeSpec("Nothing", "consolation", 1)]
    box = await mall.boxes.create_box("lucky", "Lucky box", 100, prizes, NOW)
    failing_audit(monkeypatch, box_seeds)
    with pytest.raises(Boom):
        await mall.boxes.rotate_seed(box.box_id, NOW, actor_id=ADMIN)
    async with mall.db.read() as conn:
        assert (await conn.execute(select(BoxSeed.version))).scalars().all() == [1]
    monkeypatch.undo()

    rotation = await mall.boxes.rotate_seed(box.box_id, NOW, actor_id=ADMIN)
    await mall.boxes.rotate_due(NOW + timedelta(days=400))  # the job's rotation: no admin
    (entry,) = await entries(mall, "box.rotate_seed")
    assert entry.before == {"version": 1, "seed_hash": box.seed_hash}
    assert entry.after == {
        "version": 2,
        "seed_hash": rotation.new_hash,
        "revealed_seed": rotation.revealed_seed,
    }


async def test_a_sale_is_created_with_its_entry_or_not_at_all(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    mug = await item(mall, "mug", stock=10)
    starts, ends = at("2026-03-06 20:00"), at("2026-03-06 22:00")
    failing_audit(monkeypatch, flash_sales)
    with pytest.raises(Boom):
        await mall.flash_sales.create_sale(
            mug, 30, 5, starts, ends, "first_come", now=NOW, actor_id=ADMIN
        )
    assert await mall.flash_sales.recent_sales(NOW) == ()
    monkeypatch.undo()

    sale = await mall.flash_sales.create_sale(
        mug, 30, 5, starts, ends, "first_come", now=NOW, actor_id=ADMIN
    )
    (entry,) = await entries(mall, "sale.create")
    assert (entry.target, entry.before) == (f"sale:{sale.sale_id}", {})
    assert entry.after == {
        "item_id": mug,
        "sale_price": 30,
        "quantity": 5,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "mode": "first_come",
    }


# --- Broadcasts, the catalog and coupon codes ----------------------------------------------------


async def test_a_broadcast_is_sent_with_its_entry_or_not_at_all(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))

    async def broadcast() -> int:
        return await mall.outbox.broadcast(
            key="admin:n1",
            payloads={"en": '{"text": "Hello"}'},
            default_language="en",
            now=NOW,
            created_by=ADMIN,
            actor_id=ADMIN,
            text="Hello",
        )

    failing_audit(monkeypatch, outbox)
    with pytest.raises(Boom):
        await broadcast()
    assert await mall.outbox.recent() == ()
    monkeypatch.undo()

    first, again = await broadcast(), await broadcast()  # the second is a repeated confirm
    assert first == again
    (entry,) = await entries(mall, "broadcast")
    assert (entry.target, entry.after) == (
        f"broadcast:{first}",
        {"audience": "all", "text": "Hello"},
    )


CATALOG = """\
[[items]]
sku = "latte"
title = "Latte"
category = "Drinks"
kind = "coupon"
price = 90
codes = ["L-1", "L-2"]
"""


async def test_a_catalog_upload_loads_with_its_entry_or_not_at_all(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    failing_audit(monkeypatch, catalog_file)
    with pytest.raises(Boom):
        await load_catalog_text(
            mall.db, mall.config, CATALOG, NOW, actor_id=ADMIN, filename="menu.toml"
        )
    with pytest.raises(UnknownItem):
        await mall.catalog.get_item_by_sku("latte")
    monkeypatch.undo()

    await load_catalog_text(
        mall.db, mall.config, CATALOG, NOW, actor_id=ADMIN, filename="menu.toml"
    )
    (entry,) = await entries(mall, "catalog.load")
    assert (entry.actor_id, entry.target, entry.before) == (ADMIN, "file:menu.toml", {})
    assert entry.after == {
        "items_created": 1,
        "items_updated": 0,
        "items_unchanged": 0,
        "codes_added": 2,
        "boxes_created": 0,
        "boxes_updated": 0,
        "tasks_created": 0,
        "tasks_updated": 0,
    }


async def test_the_command_lines_catalog_load_is_audited_as_the_operators(
    mall: Mall, tmp_path: Path
):
    path = tmp_path / "catalog.toml"
    path.write_text(CATALOG, "utf-8")
    await load_catalog(mall.db, mall.config, path, NOW)  # the sandbox's demo: no one's
    assert await mall.audit.latest(10) == ()
    await load_catalog(mall.db, mall.config, path, NOW, actor_id=OPERATOR_ACTOR)
    (entry,) = await entries(mall, "catalog.load")
    assert (entry.actor_id, entry.target) == (OPERATOR_ACTOR, "file:catalog.toml")
    assert entry.after["items_unchanged"] == 1


async def test_coupon_codes_are_added_with_their_entry_or_not_at_all(
    mall: Mall, monkeypatch: pytest.MonkeyPatch
):
    latte = await item(mall, "latte", kind="coupon")
    await mall.catalog.load_codes(latte, ["L-1"])
    failing_audit(monkeypatch, catalog)
    with pytest.raises(Boom):
        await mall.catalog.load_codes(latte, ["L-2", "L-3"], actor_id=ADMIN, now=NOW)
    assert (await mall.catalog.get_item(latte)).free_codes == 1
    monkeypatch.undo()

    added = await mall.catalog.load_codes(latte, ["L-1", "L-2", "L-3"], actor_id=ADMIN, now=NOW)
    assert added == 2
    (entry,) = await entries(mall, "item.codes")
    assert (entry.target, entry.before, entry.after) == (
        f"item:{latte}",
        {"codes": 1},
        {"codes": 3},
    )
