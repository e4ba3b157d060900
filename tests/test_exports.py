"""CSV exports of a range of days: members who joined, ledger entries, redemptions.

An export is streamed (issue 17): gzip parts under a size limit, written as the rows are read,
in flat memory, and it holds the same rows as reading the range in one go.
"""

from __future__ import annotations

import csv
import gc
import gzip
import io
import random
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from core.db.models import Transfer
from core.errors import InvalidInput
from core.mall import Mall
from core.points.accounts import SystemAccount
from core.reporting.exports import (
    LEDGER_COLUMNS,
    MAX_DAYS,
    MEMBER_COLUMNS,
    REDEMPTION_COLUMNS,
    TASK_COLUMNS,
    Export,
    ExportFile,
    _ledger_cells,
)
from core.rewards.catalog_file import load_catalog, load_catalog_text
from tests.conftest import at

ANN, BOB, CAT = 2001, 2002, 2003
CATALOG = """
[[items]]
sku = "mug"
title = "Mug, large"
category = "Gifts"
kind = "virtual"
price = 30
"""


def part_lines(path: Path) -> list[list[str]]:
    """One part's CSV: it opens with the byte order mark spreadsheets want, then the header."""
    raw = gzip.decompress(path.read_bytes())
    assert raw.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def lines(file: ExportFile) -> list[list[str]]:
    """Every part's data rows in order; each part starts with the same header."""
    found: list[list[str]] = []
    header: list[str] | None = None
    for part in file.parts:
        head, *body = part_lines(part.path)
        assert header in (None, head)
        header = head
        assert len(body) == part.rows
        found += body
    assert header is not None
    return [header, *found]


def rows(file: ExportFile) -> list[dict[str, str]]:
    header, *body = lines(file)
    return [dict(zip(header, row, strict=True)) for row in body]


@asynccontextmanager
async def exported(mall: Mall, start: date, end: date, **options: object) -> AsyncIterator[Export]:
    export = await mall.exports.export(start, end, **options)  # type: ignore[arg-type]
    try:
        yield export
    finally:
        export.discard()
    assert not any(part.path.exists() for file in export.files for part in file.parts)


async def arrange(mall: Mall) -> None:
    await load_catalog(mall.db, mall.config, CATALOG, at("2026-02-01 09:00"))
    await mall.members.join(ANN, "Ann", "en", at("2026-02-28 23:30"))  # the day before
    await mall.members.join(BOB, '=HYPERLINK("x")', "en", at("2026-03-01 00:10"))
    await mall.members.join(CAT, "Cat", "zh_Hans", at("2026-03-07 23:59"), invited_by=BOB)
    await mall.checkins.check_in(BOB, at("2026-03-02 09:00"))
    item = await mall.catalog.get_item_by_sku("mug")
    offer = await mall.redemptions.offer(BOB, item.item_id, at("2026-03-03 10:00"))
    await mall.redemptions.redeem(BOB, offer.token, at("2026-03-03 10:00"))
    offer = await mall.redemptions.offer(ANN, item.item_id, at("2026-03-08 00:00"))
    await mall.redemptions.redeem(ANN, offer.token, at("2026-03-08 00:00"))  # the day after


async def test_an_export_holds_what_happened_in_the_range_and_nothing_else(mall: Mall):
    await arrange(mall)
    async with exported(mall, date(2026, 3, 1), date(2026, 3, 7)) as export:
        members = rows(export.members)
        ledger = rows(export.ledger)
        redemptions = rows(export.redemptions)

    assert list(members[0]) == list(MEMBER_COLUMNS)
    assert [m["member_id"] for m in members] == [str(BOB), str(CAT)]
    assert members[0]["display_name"] == '\'=HYPERLINK("x")'  # no formula in a spreadsheet
    assert members[0]["joined_at"] == "2026-03-01T00:10:00+08:00"
    assert members[1]["invited_by"] == str(BOB)
    assert export.members.rows == 2

    assert list(ledger[0]) == list(LEDGER_COLUMNS)
    seen = {(e["debit_account"], e["credit_account"], e["amount"], e["kind"]) for e in ledger}
    assert seen == {
        ("issuance", str(BOB), "100", "signup_bonus"),
        ("issuance", str(CAT), "100", "signup_bonus"),
        ("issuance", str(BOB), "10", "checkin"),
        (str(BOB), "redemptions", "30", "redemption"),
    }
    assert all(e["key"] and e["created_at"].endswith("+08:00") for e in ledger)
    assert export.ledger.rows == len(ledger) == 4

    assert list(redemptions[0]) == list(REDEMPTION_COLUMNS)
    assert [(r["member_id"], r["item_title"], r["points"], r["status"]) for r in redemptions] == [
        (str(BOB), "Mug, large", "30", "completed")
    ]


async def test_an_export_of_a_quiet_range_has_only_the_headers(mall: Mall):
    async with exported(mall, date(2026, 1, 1), date(2026, 1, 31)) as export:
        for file, columns in zip(
            export.files,
            (MEMBER_COLUMNS, LEDGER_COLUMNS, REDEMPTION_COLUMNS, TASK_COLUMNS),
            strict=True,
        ):
            assert lines(file) == [list(columns)]
            assert file.rows_per_part == (0,)


async def test_a_large_export_is_read_in_pages_and_loses_no_row(mall: Mall, monkeypatch):
    monkeypatch.setattr("core.reporting.exports.BATCH", 3)
    for n in range(10):
        await mall.members.join(3000 + n, f"M{n}", "en", at("2026-03-01 10:00"))
    async with exported(mall, date(2026, 3, 1), date(2026, 3, 1)) as export:
        assert [int(m["member_id"]) for m in rows(export.members)] == list(range(3000, 3010))
        assert export.ledger.rows == len(rows(export.ledger)) == 10


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2026, 3, 7), date(2026, 3, 1)),
        (date(2025, 1, 1), date(2025, 1, 1) + timedelta(days=MAX_DAYS)),
    ],
)
async def test_a_bad_range_is_refused(mall: Mall, start: date, end: date):
    with pytest.raises(InvalidInput) as refused:
        await mall.exports.export(start, end)
    assert refused.value.details["field"] == "end"


# --- Streamed: the same rows, parts under a limit, flat memory ---------------------------------

WINDOW = (date(2026, 3, 10), date(2026, 3, 20))
BOOKS = [account.value for account in SystemAccount]


async def seed_transfers(mall: Mall, count: int, seed: int, *, spread_days: int = 40) -> None:
    """``count`` transfers between the mall's books at random instants from 2026-03-01 on, in
    random order: ids do not follow created_at, so the range's ids interleave with others."""
    rng = random.Random(seed)
    start = datetime(2026, 2, 28, 16, tzinfo=UTC)  # 2026-03-01 00:00 in Shanghai
    values = []
    for n in range(count):
        debit, credit = rng.sample(BOOKS, 2)
        values.append(
            {
                "key": f"seed:{seed}:{n}",
                "debit_account_id": debit,
                "credit_account_id": credit,
                "amount": rng.randint(1, 10_000),
                "code": rng.choice(["checkin", "redemption", "adjustment"]),
                "reference": rng.choice(["", "=1+1", "order 7", "点数"]),
                "created_at": start + timedelta(seconds=rng.randrange(spread_days * 86_400)),
            }
        )
    async with mall.db.write() as conn:
        for first in range(0, count, 5000):
            await conn.execute(insert(Transfer), values[first : first + 5000])


async def ledger_in_one_go(mall: Mall, start: date, end: date) -> list[list[str]]:
    """The range's ledger as the export read it before issue 17: every row at once, by id."""
    tz = mall.config.mall.timezone
    lower = datetime.combine(start, datetime.min.time(), tz)
    upper = datetime.combine(end + timedelta(days=1), datetime.min.time(), tz)
    async with mall.db.read() as conn:
        found = (
            await conn.execute(
                select(
                    Transfer.id,
                    Transfer.created_at,
                    Transfer.debit_account_id,
                    Transfer.credit_account_id,
                    Transfer.amount,
                    Transfer.code,
                    Transfer.reference,
                    Transfer.key,
                )
                .where(Transfer.created_at >= lower, Transfer.created_at < upper)
                .order_by(Transfer.id)
            )
        ).all()
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(LEDGER_COLUMNS)
    writer.writerows(_ledger_cells(row, tz) for row in found)
    return list(csv.reader(io.StringIO(text.getvalue(), newline="")))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_streamed_export_holds_the_rows_of_reading_the_range_at_once(
    mall: Mall, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr("core.reporting.exports.BATCH", random.Random(seed).choice([1, 7, 50]))
    await seed_transfers(mall, 400, seed)
    expected = await ledger_in_one_go(mall, *WINDOW)
    assert 50 < len(expected) - 1 < 200  # the range holds some, not all
    async with exported(mall, *WINDOW) as export:
        assert lines(export.ledger) == expected
        assert export.ledger.rows == len(expected) - 1


async def test_parts_stay_under_the_limit_and_hold_every_row_once(mall: Mall) -> None:
    await seed_transfers(mall, 6000, 4, spread_days=20)
    expected = await ledger_in_one_go(mall, *WINDOW)
    limit = 10 * 1024
    async with exported(mall, *WINDOW, part_limit=limit) as export:
        parts = export.ledger.parts
        assert len(parts) > 3
        for part in parts:
            assert part.size == part.path.stat().st_size <= limit
            assert part.rows > 0
        assert lines(export.ledger) == expected  # in order, none twice, none lost
        assert sum(export.ledger.rows_per_part) == export.ledger.rows == len(expected) - 1
        assert parts[0].size > limit * 0.8  # parts are filled, not cut early


async def test_a_part_limit_too_small_for_one_row_is_refused_and_leaves_no_file(
    mall: Mall, tmp_path: Path
) -> None:
    await seed_transfers(mall, 50, 5)
    directory = tmp_path / "parts"
    directory.mkdir()
    with pytest.raises(ValueError, match="cannot hold"):
        await mall.exports.export(*WINDOW, part_limit=200, directory=directory)
    assert list(directory.iterdir()) == []


async def peak_of_export(mall: Mall, start: date, end: date, directory: Path) -> tuple[int, int]:
    """The export's peak of traced memory, and the size of its ledger CSV."""
    gc.collect()
    tracemalloc.start()
    try:
        async with exported(mall, start, end, directory=directory) as export:
            _, peak = tracemalloc.get_traced_memory()
            size = sum(len(gzip.decompress(p.path.read_bytes())) for p in export.ledger.parts)
    finally:
        tracemalloc.stop()
    return peak, size


async def test_an_export_runs_in_flat_memory(
    mall: Mall, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("core.reporting.exports.BATCH", 1000)
    await seed_transfers(mall, 80_000, 6, spread_days=5)
    first, last = date(2026, 3, 1), date(2026, 3, 5)
    async with exported(mall, first, first):  # warm: statements compiled, modules imported
        pass
    day_peak, day_size = await peak_of_export(mall, first, first, tmp_path)
    all_peak, all_size = await peak_of_export(mall, first, last, tmp_path)
    assert all_size > 4 * day_size  # some 6.8 MB against some 1.3 MB
    # The old export held the CSV about three times over (some 20 MB here); now a batch of rows
    # at a time, and what does not depend on the rows (zlib's state, compiled statements).
    assert all_peak < all_size / 2, (all_peak, all_size)
    assert all_peak < day_peak * 1.5 + 256 * 1024, (all_peak, day_peak)  # five times the rows


@pytest.mark.parametrize("compress", [False, True])
async def test_one_csv_is_written_to_a_file_plain_or_compressed(mall: Mall, compress: bool) -> None:
    await seed_transfers(mall, 300, 7)
    expected = await ledger_in_one_go(mall, *WINDOW)
    out = io.BytesIO()
    count = await mall.exports.write_csv("ledger", *WINDOW, out, compress=compress)
    raw = gzip.decompress(out.getvalue()) if compress else out.getvalue()
    assert not raw.startswith("\ufeff".encode())
    assert list(csv.reader(io.StringIO(raw.decode(), newline=""))) == expected
    assert count == len(expected) - 1


async def test_the_tasks_export_lists_each_completion_and_what_was_taken_back(mall: Mall):
    await mall.members.join(ANN, "Ann", "en", at("2026-03-01 08:00"))
    tasks = """
[[tasks]]
code = "join-news"
kind = "channel"
title = "Join, news"
points = 50
chat = "@pointsmall_news"
keep_hours = 72
"""
    await load_catalog_text(mall.db, mall.config, tasks, at("2026-03-01 08:00"))
    [task] = await mall.tasks.all()
    done = await mall.tasks.complete_joined(ANN, task.task_id, at("2026-03-02 09:00"))
    assert done.reward is not None
    await mall.tasks.revoke(done.reward.completion_id, at("2026-03-02 10:00"))
    async with exported(mall, date(2026, 3, 1), date(2026, 3, 31)) as export:
        [row] = rows(export.tasks)
    assert (row["member_id"], row["task"], row["task_title"], row["task_kind"]) == (
        str(ANN),
        "join-news",
        "Join, news",
        "channel",
    )
    assert (row["period"], row["points"], row["points_taken_back"], row["unrecovered"]) == (
        "ever",
        "50",
        "50",
        "0",
    )
    assert row["completed_at"] == "2026-03-02T09:00:00+08:00"
    assert row["revoked_at"] == "2026-03-02T10:00:00+08:00"
