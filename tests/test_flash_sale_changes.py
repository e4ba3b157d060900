"""An admin edits a sale before it starts, or cancels it; whoever was told of it hears again."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core.db.models import FlashSale, Hold, OutboxMessage
from core.errors import InvalidAmount, InvalidInput, InvalidState, NotAvailable, UnknownSale
from core.mall import Mall
from core.operations.jobs import Jobs
from core.rewards.flash_sales import SaleView
from core.rewards.redemptions import Redemptions
from tests.conftest import MallFactory, at
from tests.support.configs import make_config
from tests.test_flash_sales import add_item, balance, join_all
from tests.test_jobs import Words

ADMIN = 42
CREATED = at("2026-03-05 09:00")
START, END = at("2026-03-06 20:00"), at("2026-03-06 22:00")


class ChangeWords(Words):
    """The jobs' plain payloads, and the sale changes'."""

    languages: Sequence[str] = ("en", "zh_Hans")

    def sale_changed(self, language: str, sale: SaleView) -> str:
        return f"{language} changed {sale.sale_id} {sale.sale_price} {sale.mode}"

    def sale_cancelled(self, language: str, sale: SaleView, returned: int | None) -> str:
        return f"{language} cancelled {sale.sale_id} returned {returned}"


async def outbox(mall: Mall, prefix: str = "") -> list[tuple[str, int, str]]:
    async with mall.db.read() as conn:
        rows = await conn.execute(
            select(OutboxMessage.key, OutboxMessage.chat_id, OutboxMessage.payload)
            .where(OutboxMessage.key.startswith(prefix))
            .order_by(OutboxMessage.chat_id, OutboxMessage.id)
        )
        return [(key, int(chat), payload) for key, chat, payload in rows]


async def mark_sent(mall: Mall, prefix: str, chats: Sequence[int] | None = None) -> None:
    """What a sender would have done: the rows (of ``chats``) under ``prefix`` are sent."""
    query = update(OutboxMessage).where(OutboxMessage.key.startswith(prefix))
    if chats is not None:
        query = query.where(OutboxMessage.chat_id.in_(list(chats)))
    async with mall.db.write() as conn:
        await conn.execute(query.values(status="sent"))


async def statuses(mall: Mall, prefix: str) -> dict[int, tuple[str, str | None]]:
    async with mall.db.read() as conn:
        rows = await conn.execute(
            select(OutboxMessage.chat_id, OutboxMessage.status, OutboxMessage.error).where(
                OutboxMessage.key.startswith(prefix)
            )
        )
        return {int(chat): (status, error) for chat, status, error in rows}


async def sale_row(mall: Mall, sale_id: int) -> tuple[object, ...]:
    async with mall.db.read() as conn:
        row = (await conn.execute(select(FlashSale).where(FlashSale.id == sale_id))).one()
        return tuple(row)


async def test_an_upcoming_sale_is_edited_and_those_told_of_it_hear_the_new_terms(
    make_mall: MallFactory,
) -> None:
    mall = await make_mall(make_config("[jobs]\nsale_notice_minutes = 30"))
    await mall.members.join(7001, "Ann", "zh_Hans", CREATED)
    await mall.members.join(7002, "Bo", "en", CREATED)
    await mall.members.join(7003, "Cy", "en", CREATED)
    await mall.members.set_announcements(7003, False)
    mug = await add_item(mall, stock=10)
    sale = await mall.flash_sales.create_sale(mug, 30, 5, START, END, "first_come", now=CREATED)
    jobs, words = Jobs(mall, ChangeWords()), ChangeWords()
    await jobs.sales(START - timedelta(minutes=20))  # "coming up" to 7001 and 7002
    await mark_sent(mall, "sale-soon:")
    await mall.members.join(7004, "Di", "en", START - timedelta(minutes=15))  # never told

    later = START + timedelta(hours=1)
    edit_at = START - timedelta(minutes=10)
    edited = await mall.flash_sales.edit_sale(
        sale.sale_id, 25, 3, later, END, "draw", END, now=edit_at, actor_id=ADMIN, wording=words
    )
    assert edited.changed
    assert (edited.told, edited.sale.phase) == (2, "upcoming")
    view = edited.sale
    assert (view.sale_price, view.quantity, view.remaining, view.mode) == (25, 3, 3, "draw")
    assert (view.starts_at, view.ends_at, view.entry_ends_at) == (later, END, END)
    (entry,) = [e for e in await mall.audit.latest(10) if e.action == "sale.edit"]
    assert (entry.actor_id, entry.target) == (ADMIN, f"sale:{sale.sale_id}")
    assert (entry.before["sale_price"], entry.after["sale_price"]) == (30, 25)
    assert (entry.before["mode"], entry.after["mode"]) == ("first_come", "draw")
    changes = await outbox(mall, "sale-edit:")
    assert [(chat, payload) for _, chat, payload in changes] == [
        (7001, f"zh_Hans changed {sale.sale_id} 25 draw"),
        (7002, f"en changed {sale.sale_id} 25 draw"),
    ]
    assert {key for key, _, _ in changes} == {
        f"sale-edit:{sale.sale_id}:{entry.entry_id}:{member}" for member in (7001, 7002)
    }

    # The same terms again change nothing and tell nobody.
    same = await mall.flash_sales.edit_sale(
        sale.sale_id, 25, 3, later, END, "draw", END, now=edit_at, actor_id=ADMIN, wording=words
    )
    assert (same.changed, same.told) == (False, 0)
    # Another change is told again.
    again = await mall.flash_sales.edit_sale(
        sale.sale_id, 20, 3, later, END, "draw", END, now=edit_at, actor_id=ADMIN, wording=words
    )
    assert (again.changed, again.told) == (True, 2)
    assert len(await outbox(mall, "sale-edit:")) == 4

    # The sale opens at its new start, and is announced then.
    assert (await jobs.sales(START)).messages == 0
    await jobs.sales(later)
    opened = await outbox(mall, f"sale-open:{sale.sale_id}:")
    assert [chat for _, chat, _ in opened] == [7001, 7002, 7004]

    # Once started, its terms stay.
    before = await sale_row(mall, sale.sale_id)
    with pytest.raises(InvalidState) as refused:
        await mall.flash_sales.edit_sale(
            sale.sale_id, 10, 3, later, END, "draw", END, now=later, actor_id=ADMIN
        )
    assert refused.value.details["reason"] == "started"
    assert await sale_row(mall, sale.sale_id) == before
    assert (await mall.check()).ok


async def test_an_edit_is_checked_as_a_new_sale_is(mall: Mall) -> None:
    mug = await add_item(mall)
    sale = await mall.flash_sales.create_sale(mug, 30, 5, START, END, "first_come", now=CREATED)
    before = await sale_row(mall, sale.sale_id)
    edit = mall.flash_sales.edit_sale
    sid = sale.sale_id
    cases = [
        (InvalidAmount, lambda: edit(sid, 0, 5, START, END, "first_come", now=CREATED, actor_id=1)),
        (
            InvalidAmount,
            lambda: edit(sid, 9, -1, START, END, "first_come", now=CREATED, actor_id=1),
        ),
        (InvalidInput, lambda: edit(sid, 9, 5, END, START, "first_come", now=CREATED, actor_id=1)),
        (InvalidInput, lambda: edit(sid, 9, 5, START, END, "auction", now=CREATED, actor_id=1)),
        (InvalidInput, lambda: edit(sid, 9, 5, START, END, "draw", now=CREATED, actor_id=1)),
        (
            InvalidInput,
            lambda: edit(sid, 9, 5, START, END, "first_come", END, now=CREATED, actor_id=1),
        ),
        (InvalidInput, lambda: edit(sid, 9, 5, START, END, "first_come", now=CREATED, actor_id=0)),
        (UnknownSale, lambda: edit(999, 9, 5, START, END, "first_come", now=CREATED, actor_id=1)),
    ]
    for error, call in cases:
        with pytest.raises(error):
            await call()
    # Its item got a cash part meanwhile: it could not be put on sale now, so no edit either.
    await mall.catalog.edit_item(mug, {"cash_minor": 500}, CREATED, actor_id=1)
    with pytest.raises(InvalidInput):
        await edit(sid, 9, 5, START, END, "first_come", now=CREATED, actor_id=1)
    assert await sale_row(mall, sid) == before
    assert [e for e in await mall.audit.latest(10) if e.action == "sale.edit"] == []


async def test_cancelling_a_draw_releases_the_held_points_exactly_once_under_a_rush(
    mall: Mall,
) -> None:
    members = range(7100, 7130)
    await join_all(mall, members)
    mug = await add_item(mall, stock=10)
    sales = mall.flash_sales
    sale = await sales.create_sale(mug, 60, 3, START, END, "draw", END, now=CREATED)
    early = list(members)[:10]
    for member_id in early:
        await sales.enter(sale.sale_id, member_id, START)
    rush = START + timedelta(minutes=5)

    async def enter(member_id: int) -> str:
        try:
            await sales.enter(sale.sale_id, member_id, rush)
        except NotAvailable:
            return "refused"
        return "entered"

    outcomes = await asyncio.gather(
        *(enter(m) for m in list(members)[10:20]),
        sales.cancel_sale(sale.sale_id, rush, actor_id=ADMIN),
        *(enter(m) for m in list(members)[20:]),
        sales.cancel_sale(sale.sale_id, rush, actor_id=ADMIN + 1),
    )
    cancellations = [o for o in outcomes if not isinstance(o, str)]
    assert sorted(c.already_cancelled for c in cancellations) == [False, True]
    (first,) = [c for c in cancellations if not c.already_cancelled]
    rushed = zip(list(members)[10:], [*outcomes[:10], *outcomes[11:21]], strict=True)
    entered = set(early) | {member_id for member_id, outcome in rushed if outcome == "entered"}
    assert set(first.released) == entered
    assert first.points_released == 60 * len(entered)
    assert first.sale.status == "cancelled"
    for member_id in members:
        assert await balance(mall, member_id) == 100, member_id
        assert (await mall.statements.balance(member_id)).held == 0
    async with mall.db.read() as conn:
        statuses = (await conn.execute(select(Hold.status).where(Hold.code == "flash_sale"))).all()
    assert {status for (status,) in statuses} <= {"voided"}
    assert len(statuses) == len(entered)
    (entry,) = [e for e in await mall.audit.latest(10) if e.action == "sale.cancel"]
    assert entry.after["released"] == len(entered)

    # Nothing more happens to it: no draw, no entry, no second release.
    await mall.members.join(7200, "Late", "en", CREATED)
    before = await mall.check()
    assert before.ok
    assert await sales.due_draws(END) == ()
    with pytest.raises(InvalidState):
        await sales.draw(sale.sale_id, END, random.Random(1))
    with pytest.raises(NotAvailable):
        await sales.enter(sale.sale_id, 7200, rush)
    replay = await sales.cancel_sale(sale.sale_id, END, actor_id=ADMIN)
    assert (replay.already_cancelled, replay.released) == (True, ())
    with pytest.raises(InvalidState):
        await sales.edit_sale(
            sale.sale_id, 10, 3, START, END, "draw", END, now=CREATED, actor_id=ADMIN
        )
    after = await mall.check()
    assert after.ok
    assert after.transfers == before.transfers


async def test_a_cancellation_is_told_once_to_entrants_and_to_those_announced_to(
    mall: Mall,
) -> None:
    for member_id, language in ((7001, "en"), (7002, "zh_Hans"), (7003, "en")):
        await mall.members.join(member_id, f"M{member_id}", language, CREATED)
    await mall.members.set_announcements(7003, False)
    mug = await add_item(mall, stock=10)
    sale = await mall.flash_sales.create_sale(mug, 60, 3, START, END, "draw", END, now=CREATED)
    jobs, words = Jobs(mall, ChangeWords()), ChangeWords()
    await jobs.sales(START)  # announced to 7001 and 7002
    await mark_sent(mall, "sale-open:")
    await mall.flash_sales.enter(sale.sale_id, 7001, START)  # told, and entered
    await mall.flash_sales.enter(sale.sale_id, 7003, START)  # entered without being told

    cancelled = await mall.flash_sales.cancel_sale(
        sale.sale_id, START + timedelta(minutes=1), actor_id=ADMIN, wording=words
    )
    assert (cancelled.released, cancelled.told) == ((7001, 7003), 3)
    sid = sale.sale_id
    assert await outbox(mall, "sale-cancel:") == [
        (f"sale-cancel:{sid}:7001", 7001, f"en cancelled {sid} returned 60"),
        (f"sale-cancel:{sid}:7002", 7002, f"zh_Hans cancelled {sid} returned None"),
        (f"sale-cancel:{sid}:7003", 7003, f"en cancelled {sid} returned 60"),
    ]
    again = await mall.flash_sales.cancel_sale(
        sale.sale_id, START + timedelta(minutes=2), actor_id=ADMIN, wording=words
    )
    assert (again.already_cancelled, again.told) == (True, 0)
    assert len(await outbox(mall, "sale-cancel:")) == 3
    # The job tells no draw of it.
    await jobs.sales(END, random.Random(1))
    assert await outbox(mall, "draw:") == []
    assert (await mall.check()).ok


async def test_a_first_come_sale_cancelled_while_it_runs_keeps_what_was_bought(mall: Mall) -> None:
    await join_all(mall, range(7001, 7003))
    mug = await add_item(mall, stock=10)
    sales = mall.flash_sales
    sale = await sales.create_sale(mug, 30, 5, START, END, "first_come", now=CREATED)
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(7001, mug, START, flash_sale_id=sale.sale_id)
    bought = await redemptions.redeem(7001, offer.token, START)
    late = await redemptions.offer(7002, mug, START, flash_sale_id=sale.sale_id)

    cancelled = await sales.cancel_sale(sale.sale_id, START, actor_id=ADMIN)
    assert (cancelled.sale.phase, cancelled.released) == ("cancelled", ())
    assert (await redemptions.get(bought.redemption.redemption_id)).status == "completed"
    assert await balance(mall, 7001) == 70
    with pytest.raises((NotAvailable, UnknownSale, InvalidState)):
        await redemptions.redeem(7002, late.token, START + timedelta(minutes=1))
    assert await balance(mall, 7002) == 100
    assert (await mall.check()).ok


async def test_an_ended_or_drawn_sale_cannot_be_cancelled(mall: Mall) -> None:
    await join_all(mall, range(7001, 7002))
    mug = await add_item(mall, stock=10)
    sales = mall.flash_sales
    over = await sales.create_sale(mug, 30, 5, START, END, "first_come", now=CREATED)
    with pytest.raises(InvalidState) as ended:
        await sales.cancel_sale(over.sale_id, END, actor_id=ADMIN)
    assert ended.value.details["reason"] == "ended"
    draw = await sales.create_sale(mug, 30, 5, START, END, "draw", END, now=CREATED)
    await sales.enter(draw.sale_id, 7001, START)
    await sales.draw(draw.sale_id, END, random.Random(1))
    with pytest.raises(InvalidState) as drawn:
        await sales.cancel_sale(draw.sale_id, END, actor_id=ADMIN)
    assert drawn.value.details["reason"] == "drawn"
    assert (await mall.check()).ok


async def test_a_sale_something_was_taken_from_cannot_be_edited_whatever_the_clock(
    mall: Mall,
) -> None:
    """A redemption or entry whose clock had reached the start commits before an edit whose
    clock had not: the edit must not reset the quantity (or drop the entry)."""
    await join_all(mall, range(7001, 7003))
    mug = await add_item(mall, stock=10)
    sales = mall.flash_sales
    early = START - timedelta(minutes=1)
    first = await sales.create_sale(mug, 30, 5, START, END, "first_come", now=CREATED)
    redemptions = Redemptions(mall.db, mall.config)
    offer = await redemptions.offer(7001, mug, START, flash_sale_id=first.sale_id)
    await redemptions.redeem(7001, offer.token, START)
    draw = await sales.create_sale(mug, 30, 5, START, END, "draw", END, now=CREATED)
    await sales.enter(draw.sale_id, 7002, START)
    for sale, mode, entry_ends in ((first, "first_come", None), (draw, "first_come", None)):
        before = await sale_row(mall, sale.sale_id)
        with pytest.raises(InvalidState) as refused:
            await sales.edit_sale(
                sale.sale_id, 25, 5, START, END, mode, entry_ends, now=early, actor_id=ADMIN
            )
        assert refused.value.details["reason"] == "started"
        assert await sale_row(mall, sale.sale_id) == before
    assert (await sales.get_sale(first.sale_id, START)).remaining == 4
    assert (await sales.get_sale(draw.sale_id, START)).entrants == 1
    # So is a sale the job has announced as open (its clock was at the start).
    jobs = Jobs(mall, ChangeWords())
    opened = await sales.create_sale(mug, 30, 5, START, END, "first_come", now=CREATED)
    await jobs.sales(START)
    with pytest.raises(InvalidState) as announced:
        await sales.edit_sale(
            opened.sale_id, 25, 5, START, END, "first_come", now=early, actor_id=ADMIN
        )
    assert announced.value.details["reason"] == "started"
    assert (await mall.check()).ok


async def test_announcements_not_yet_sent_are_superseded_by_a_cancellation(mall: Mall) -> None:
    for member_id in (7001, 7002, 7003):
        await mall.members.join(member_id, f"M{member_id}", "en", CREATED)
    mug = await add_item(mall, stock=10)
    sale = await mall.flash_sales.create_sale(mug, 60, 3, START, END, "draw", END, now=CREATED)
    sid = sale.sale_id
    jobs, words = Jobs(mall, ChangeWords()), ChangeWords()
    await jobs.sales(START)  # to all three; the sender has not run
    await mall.flash_sales.enter(sid, 7003, START)

    cancelled = await mall.flash_sales.cancel_sale(
        sid, START + timedelta(minutes=1), actor_id=ADMIN, wording=words
    )
    superseded = ("failed", "superseded: the sale was cancelled")
    assert await statuses(mall, f"sale-open:{sid}:") == {m: superseded for m in (7001, 7002, 7003)}
    # Only the entrant hears of it (their points are back); the others heard nothing.
    assert (cancelled.released, cancelled.told) == ((7003,), 1)
    assert await outbox(mall, "sale-cancel:") == [
        (f"sale-cancel:{sid}:7003", 7003, f"en cancelled {sid} returned 60"),
    ]
    # A cancelled sale has nobody in its draw.
    assert cancelled.sale.entrants == 0
    assert (await mall.flash_sales.get_sale(sid, START)).entrants == 0
    assert (await mall.check()).ok


async def test_only_members_whose_announcement_went_out_hear_the_correction(mall: Mall) -> None:
    for member_id in (7001, 7002, 7003, 7004):
        await mall.members.join(member_id, f"M{member_id}", "en", CREATED)
    mug = await add_item(mall, stock=10)
    sales = mall.flash_sales
    jobs, words = Jobs(mall, ChangeWords()), ChangeWords()
    cancelled = await sales.create_sale(mug, 60, 3, START, END, "first_come", now=CREATED)
    await jobs.sales(START)
    await mark_sent(mall, "sale-open:", [7001])
    async with mall.db.write() as conn:  # one in a call, one claimed by a sender
        for chat, status in ((7002, "sending"), (7003, "claimed")):
            await conn.execute(
                update(OutboxMessage)
                .where(OutboxMessage.key == f"sale-open:{cancelled.sale_id}:{chat}")
                .values(status=status, claimed_by="w1")
            )
    done = await sales.cancel_sale(cancelled.sale_id, START, actor_id=ADMIN, wording=words)
    assert done.told == 2
    assert [chat for _, chat, _ in await outbox(mall, "sale-cancel:")] == [7001, 7002]
    superseded = ("failed", "superseded: the sale was cancelled")
    assert await statuses(mall, f"sale-open:{cancelled.sale_id}:") == {
        7001: ("sent", None),
        7002: ("sending", None),
        7003: superseded,
        7004: superseded,
    }
    # The sender that had claimed 7003's row finds it no longer its own.
    assert not await mall.outbox.start(
        (await outbox_id(mall, f"sale-open:{cancelled.sale_id}:7003")), "w1", START
    )

    assert (await mall.check()).ok


async def test_an_edit_supersedes_the_notices_not_yet_sent(make_mall: MallFactory) -> None:
    mall = await make_mall(make_config("[jobs]\nsale_notice_minutes = 30"))
    for member_id in (7001, 7002):
        await mall.members.join(member_id, f"M{member_id}", "en", CREATED)
    mug = await add_item(mall, stock=10)
    sales, words = mall.flash_sales, ChangeWords()
    sale = await sales.create_sale(mug, 60, 3, START, END, "first_come", now=CREATED)
    await Jobs(mall, words).sales(START - timedelta(minutes=20))
    prefix = f"sale-soon:{sale.sale_id}:"
    await mark_sent(mall, prefix, [7002])
    change = await sales.edit_sale(
        sale.sale_id,
        50,
        3,
        START,
        END,
        "first_come",
        now=START - timedelta(minutes=10),
        actor_id=ADMIN,
        wording=words,
    )
    assert change.told == 1
    assert [chat for _, chat, _ in await outbox(mall, f"sale-edit:{sale.sale_id}:")] == [7002]
    assert await statuses(mall, prefix) == {
        7001: ("failed", "superseded: the sale was edited"),
        7002: ("sent", None),
    }
    # 7001 hears of it when it opens, at the new terms.
    await Jobs(mall, words).sales(START)
    assert [chat for _, chat, _ in await outbox(mall, f"sale-open:{sale.sale_id}:")] == [
        7001,
        7002,
    ]
    assert (await mall.check()).ok


async def outbox_id(mall: Mall, key: str) -> int:
    async with mall.db.read() as conn:
        return int(
            (
                await conn.execute(select(OutboxMessage.id).where(OutboxMessage.key == key))
            ).scalar_one()
        )
