"""The incremental ledger check (issue 17): a clean check leaves a checkpoint of every
account's total, the next one reads only the transfers after it, and the checkpoint never hides
corruption (a row changed before it is found by ``--full``, one after it by the next check)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from core.db.models import CheckpointBalance, LedgerCheckpoint, Transfer
from core.mall import Mall
from core.points.invariants import CHECKPOINT_CHECK, check_ledger
from tests.conftest import at

ALICE, BOB = 1001, 1002


async def _activity(mall: Mall, day: str) -> None:
    """A day of the mall: check-ins, a donation, a hold that waits."""
    await mall.checkins.check_in(ALICE, at(f"{day} 09:00"))
    await mall.checkins.check_in(BOB, at(f"{day} 09:05"))
    await mall.donations.donate(ALICE, 3, f"don-{day}", at(f"{day} 10:00"))


async def _store(mall: Mall) -> None:
    await mall.members.join(ALICE, "Alice", "en", at("2026-03-01 08:00"))
    await mall.members.join(BOB, "Bob", "en", at("2026-03-01 08:00"))
    await _activity(mall, "2026-03-01")


async def _last_transfer(mall: Mall) -> int:
    async with mall.db.read() as conn:
        return int((await conn.execute(select(func.max(Transfer.id)))).scalar_one())


async def _corrupt(mall: Mall, sql: str, **params: object) -> None:
    async with mall.db.write() as conn:
        await conn.execute(text(sql), params)


def _failed(report: object) -> set[str]:
    return {violation.check for violation in report.violations}  # type: ignore[attr-defined]


async def test_a_clean_check_writes_a_checkpoint_the_next_goes_on_from(mall: Mall):
    await _store(mall)
    first = await check_ledger(mall.db, full=False)
    assert first.ok
    assert first.full
    assert first.checkpoint == await _last_transfer(mall)
    async with mall.db.read() as conn:
        totals = dict(
            (await conn.execute(select(CheckpointBalance.account_id, CheckpointBalance.net))).all()
        )
        row = (await conn.execute(select(LedgerCheckpoint))).one()
    assert totals[ALICE] == (await mall.statements.balance(ALICE)).balance
    assert sum(totals.values()) == 0
    expected = (first.checkpoint, "built", first.transfers)
    assert (row.transfer_id, row.mode, row.transfers) == expected

    await _activity(mall, "2026-03-02")
    second = await check_ledger(mall.db, full=False)
    assert second.ok
    assert second.since == first.checkpoint
    assert second.checkpoint == await _last_transfer(mall)
    assert second.transfers == (await check_ledger(mall.db, full=True)).transfers
    assert second.outstanding_points == first.outstanding_points + 20 - 3

    # Nothing new: verified, nothing to move on.
    third = await check_ledger(mall.db, full=False)
    assert third.ok
    assert third.since == second.checkpoint
    assert third.checkpoint is None


async def test_a_full_check_moves_a_sound_checkpoint_on(mall: Mall):
    await _store(mall)
    assert (await check_ledger(mall.db, full=True)).ok
    await _activity(mall, "2026-03-02")
    report = await check_ledger(mall.db, full=True)
    assert report.ok
    assert not report.stale_checkpoint
    assert report.checkpoint == await _last_transfer(mall)
    async with mall.db.read() as conn:
        assert (await conn.execute(select(LedgerCheckpoint.mode))).scalar_one() == "full"
    assert (await check_ledger(mall.db, full=False)).ok


async def test_a_row_changed_before_the_checkpoint_is_found_by_the_full_check(mall: Mall):
    await _store(mall)
    assert (await check_ledger(mall.db, full=True)).ok
    await _activity(mall, "2026-03-02")
    # A transfer the checkpoint covers is edited: the incremental check cannot see it...
    first = await _first_transfer_of(mall, ALICE)
    await _corrupt(mall, "UPDATE transfers SET amount = amount + 7 WHERE id = :id", id=first)
    incremental = await check_ledger(mall.db, full=False)
    assert incremental.ok
    assert incremental.since is not None
    # ... the whole scan does, and leaves the checkpoint where it was.
    full = await check_ledger(mall.db, full=True)
    assert "member_balance_matches_transfers" in _failed(full)
    assert full.checkpoint is None


async def test_a_row_changed_after_the_checkpoint_is_found_by_the_incremental_check(mall: Mall):
    await _store(mall)
    written = (await check_ledger(mall.db, full=True)).checkpoint
    await _activity(mall, "2026-03-02")
    tail = await _last_transfer(mall)
    assert tail > (written or 0)
    await _corrupt(mall, "UPDATE transfers SET amount = amount + 7 WHERE id = :id", id=tail)
    report = await check_ledger(mall.db, full=False)
    assert report.since == written
    assert {"books_balance", "member_balance_matches_transfers"} <= _failed(report)
    # Nothing is written from a state that failed: the next check starts where this one did.
    assert report.checkpoint is None
    again = await check_ledger(mall.db, full=False)
    assert again.since == written
    assert not again.ok


async def test_a_balance_edited_by_hand_after_the_checkpoint_is_found(mall: Mall):
    await _store(mall)
    assert (await check_ledger(mall.db, full=True)).ok
    # No transfer touched Bob since: his stored balance is still compared with the checkpoint.
    await _corrupt(mall, "UPDATE accounts SET balance = balance + 5 WHERE id = :id", id=BOB)
    report = await check_ledger(mall.db, full=False)
    assert "member_balance_matches_transfers" in _failed(report)
    balance = (await mall.statements.balance(BOB)).balance
    sample = next(v for v in report.violations if v.check == "member_balance_matches_transfers")
    assert sample.samples == ((BOB, balance, balance - 5),)


async def test_lots_and_draws_of_the_tail_are_checked(mall: Mall):
    await _store(mall)
    assert (await check_ledger(mall.db, full=True)).ok
    await _activity(mall, "2026-03-02")
    # Alice's donation drew on her lots; one lot now claims more left than her balance.
    await _corrupt(
        mall,
        "UPDATE lots SET remaining = remaining - 1"
        " WHERE id = (SELECT MAX(id) FROM lots WHERE account_id = :id)",
        id=ALICE,
    )
    await _corrupt(
        mall,
        "UPDATE lot_draws SET amount = amount + 1"
        " WHERE transfer_id = (SELECT MAX(id) FROM transfers WHERE debit_account_id = :id)",
        id=ALICE,
    )
    report = await check_ledger(mall.db, full=False)
    assert {"member_balance_matches_lots", "draws_match_debits"} <= _failed(report)


async def test_a_transfer_between_two_books_outside_holds_is_found_both_ways(mall: Mall):
    await _store(mall)
    assert (await check_ledger(mall.db, full=True)).ok
    await _corrupt(
        mall,
        "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code,"
        " reference, created_at) VALUES ('forged', -1, -2, 5, 'x', 'x', :at)",
        at=at("2026-03-02 10:00").replace(tzinfo=None),
    )
    for full in (False, True):
        report = await check_ledger(mall.db, full=full)
        assert "no_system_system_transfers_outside_holds" in _failed(report)


async def test_an_account_whose_kind_and_id_disagree_is_found(mall: Mall):
    await _store(mall)
    await _corrupt(mall, "UPDATE accounts SET kind = 'system' WHERE id = :id", id=BOB)
    for full in (False, True):
        assert "system_accounts_negative" in _failed(await check_ledger(mall.db, full=full))
    # Put back: the shared test database empties member accounts only.
    await _corrupt(mall, "UPDATE accounts SET kind = 'member' WHERE id = :id", id=BOB)


async def test_a_checkpoint_that_disagrees_as_it_is_written_is_not_kept(mall: Mall):
    await _store(mall)
    written = (await check_ledger(mall.db, full=True)).checkpoint
    # The checkpoint itself is tampered with: the next check fails and writes nothing.
    await _corrupt(
        mall, "UPDATE checkpoint_balances SET net = net - 4 WHERE account_id = :id", id=ALICE
    )
    report = await check_ledger(mall.db, full=False)
    assert "member_balance_matches_transfers" in _failed(report)
    assert report.checkpoint is None
    # A full check finds the ledger itself sound, the checkpoint stale, and builds it anew.
    full = await check_ledger(mall.db, full=True)
    assert full.stale_checkpoint
    assert full.ok
    assert full.checkpoint == written
    assert CHECKPOINT_CHECK not in full.checks
    assert (await check_ledger(mall.db, full=False)).ok


async def test_an_erased_members_totals_go_to_their_surrogate(mall: Mall):
    await _store(mall)
    assert (await check_ledger(mall.db, full=True)).ok
    await mall.privacy.erase(BOB, at("2026-03-02 12:00"))
    await _activity_of_alice(mall)
    report = await check_ledger(mall.db, full=False)
    assert report.ok, report.violations
    assert report.since is not None


async def _activity_of_alice(mall: Mall) -> None:
    await mall.checkins.check_in(ALICE, at("2026-03-03 09:00"))


async def _first_transfer_of(mall: Mall, member_id: int) -> int:
    async with mall.db.read() as conn:
        return int(
            (
                await conn.execute(
                    select(func.min(Transfer.id)).where(Transfer.credit_account_id == member_id)
                )
            ).scalar_one()
        )


async def test_a_transfer_that_commits_after_a_later_one_is_not_left_behind(mall: Mall):
    """PostgreSQL hands out ids before commit: the checkpoint waits for writers in flight."""
    if mall.db.is_sqlite:
        pytest.skip("SQLite has one writer: ids commit in order")
    await _store(mall)
    assert (await check_ledger(mall.db, full=True)).ok
    async with mall.db.engine.connect() as slow:
        await slow.begin()
        # A use case in flight: its transfer takes an id, and does not commit yet.
        await slow.execute(
            text(
                "INSERT INTO transfers (key, debit_account_id, credit_account_id, amount, code,"
                " reference, created_at) VALUES ('slow', -1, :id, 5, 'x', 'x', :at)"
            ),
            {"id": ALICE, "at": at("2026-03-02 10:00").replace(tzinfo=None)},
        )
        await slow.execute(
            text(
                "INSERT INTO lots (account_id, transfer_id, amount, remaining)"
                " SELECT :id, MAX(id), 5, 5 FROM transfers WHERE key = 'slow'"
            ),
            {"id": ALICE},
        )
        await slow.execute(
            text("UPDATE accounts SET balance = balance + 5 WHERE id = :id"), {"id": ALICE}
        )
        # A later one commits with a larger id, then a check starts: it waits for the first.
        await mall.checkins.check_in(BOB, at("2026-03-02 09:00"))
        check = asyncio.create_task(check_ledger(mall.db, full=False))
        await asyncio.sleep(0.3)
        assert not check.done()
        await slow.commit()
    report = await check
    assert report.ok
    assert report.checkpoint == await _last_transfer(mall)
    # Both are in the checkpoint: the next check agrees with every stored balance.
    assert (await check_ledger(mall.db, full=False)).ok
