"""An admin reads the mall's figures: the /stats chart and its numbers, and CSV exports."""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.charts import daily_chart
from bot.features.admin_reports import chart_labels
from bot.screens import Document, Output, Screen, Send, discard_temporary
from tests.support.admin import mall_state, open_admin, stock
from tests.support.chat import Chat, Member

CATALOG = """
[[items]]
sku = "mug"
title = "Mug <large>"
category = "Gifts"
kind = "virtual"
price = 30
"""
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


async def busy_days(chat: Chat) -> tuple[Member, Member]:
    """Monday: Ann and Bob join and check in; Tuesday: Ann checks in and redeems a mug."""
    await stock(chat, CATALOG)
    ann, bob = chat.member("Ann"), chat.member("Bob")
    for member in (ann, bob):
        await member.start()
        await member.send("/checkin")
    chat.now += timedelta(days=1)
    await ann.send("/checkin")
    item = await chat.mall.catalog.get_item_by_sku("mug")
    offer = await chat.mall.redemptions.offer(ann.id, item.item_id, chat.now)
    await chat.mall.redemptions.redeem(ann.id, offer.token, chat.now)
    return ann, bob


def csv_rows(content: bytes) -> list[dict[str, str]]:
    """A gzip document's CSV, as an admin opens it (with the BOM spreadsheets want)."""
    text = gzip.decompress(content)
    assert text.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"), newline="")))


def temporary_exports() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("pointsmall-*.csv.gz"))


async def test_stats_is_a_chart_of_the_last_30_days_with_the_numbers_of_the_reports(
    chat: Chat,
) -> None:
    admin = await open_admin(chat)  # joins on Monday: 100 points
    await busy_days(chat)
    await admin.send("/stats")
    photo, figures = admin.messages[-2], admin.messages[-1]

    assert photo.photo is not None
    assert photo.photo.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(photo.photo))
    image.load()
    assert image.format == "PNG"
    assert image.size == (1000, 700)

    last = date(2026, 3, 3)
    days = await chat.mall.reports.daily(last - timedelta(days=29), last)
    chart = daily_chart(days, [chart_labels(chat.runtime.languages["en"])])
    assert chart.png == photo.photo  # the photo is the chart of these very figures
    assert len(chart.days) == 30
    assert chart.days[-2:] == ("03-02", "03-03")
    assert chart.series["issued"][-2:] == (3 * 100 + 2 * 10, 10)
    assert chart.series["redeemed"][-2:] == (0, 30)
    assert chart.series["checkins"][-2:] == (2, 1)
    assert chart.series["active_members"][-2:] == (3, 1)
    assert sum(chart.series["issued"][:-2]) == 0
    assert "Issued 330 points · redeemed 30 points · expired 0 points" in photo.text
    assert "Check-ins 3" in photo.text

    assert "Outstanding: 300 points" in figures.text
    assert "1. Mug <large>: 1 redeemed, 30 points" in figures.text
    assert "<large>" not in (figures.html or "").replace("&lt;large&gt;", "")
    assert "No blind boxes." in figures.text


async def test_an_export_sends_four_csv_files_of_what_happened(chat: Chat) -> None:
    admin = await open_admin(chat)
    ann, bob = await busy_days(chat)
    await admin.send("/export")
    await admin.press("Last 7 days")
    members, ledger, redemptions, tasks, done = admin.messages[-5:]
    assert "Mar 3" in done.text
    assert "3 members joined" in done.text

    assert members.document is not None
    assert members.document[0] == "members-2026-02-25_2026-03-03.csv.gz"
    rows = csv_rows(members.document[1])
    assert sorted(int(r["member_id"]) for r in rows) == sorted([admin.id, ann.id, bob.id])
    assert {r["display_name"]: r["balance"] for r in rows}["Ann"] == str(100 + 10 + 10 - 30)

    assert ledger.document is not None
    entries = csv_rows(ledger.document[1])
    assert len(entries) == 7  # three sign-ups, three check-ins, one redemption
    spent = [e for e in entries if e["kind"] == "redemption"]
    assert [(e["debit_account"], e["credit_account"], e["amount"]) for e in spent] == [
        (str(ann.id), "redemptions", "30")
    ]

    assert redemptions.document is not None
    [redeemed] = csv_rows(redemptions.document[1])
    assert (redeemed["member_id"], redeemed["item_title"], redeemed["status"]) == (
        str(ann.id),
        "Mug <large>",
        "completed",
    )

    assert tasks.document is not None
    assert tasks.document[0] == "tasks-2026-02-25_2026-03-03.csv.gz"
    assert csv_rows(tasks.document[1]) == []  # no task was done


async def test_a_typed_range_is_checked_before_anything_is_exported(chat: Chat) -> None:
    admin = await open_admin(chat)
    before = await mall_state(chat, leave_out=("audit_log", "pending_inputs"))
    await admin.send("/export")
    await admin.press("✏️ Other days")
    answer = await admin.send("last week")
    assert "“last week” is not two dates like 2026-03-01 2026-03-02" in answer.text
    answer = await admin.send("2026-03-05 2026-03-01")
    assert "The last day, Mar 1, is before the first, Mar 5" in answer.text
    answer = await admin.send("2025-01-01 2026-03-01")
    assert "more than 366 days" in answer.text
    answer = await admin.send("2026-02-30 2026-03-01")
    assert "is not two dates" in answer.text
    assert all(m.document is None for m in admin.messages)

    await admin.send("2026-03-01 – 2026-03-02")
    assert "1 members joined" in admin.last.text
    assert [m.document[0] for m in admin.messages[-5:-1] if m.document] == [
        "members-2026-03-01_2026-03-02.csv.gz",
        "ledger-2026-03-01_2026-03-02.csv.gz",
        "redemptions-2026-03-01_2026-03-02.csv.gz",
        "tasks-2026-03-01_2026-03-02.csv.gz",
    ]
    assert await mall_state(chat, leave_out=("audit_log", "pending_inputs")) == before


async def test_a_large_export_comes_in_parts_with_every_row_once_and_leaves_no_file(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await open_admin(chat)
    for n in range(120):
        await chat.mall.members.join(5000 + n, f"Member {n}", "en", chat.now)
    # the 121 sign-ups take some 1.4 KB
    monkeypatch.setattr("core.reporting.exports.PART_LIMIT", 512)
    before = temporary_exports()
    await admin.send("/export")
    await admin.press("Last 7 days")
    documents = [m for m in admin.messages if m.document is not None]
    ledger = [m for m in documents if m.document and m.document[0].startswith("ledger-")]
    assert len(ledger) > 2
    names = [m.document[0] for m in ledger if m.document]
    assert names == [
        f"ledger-2026-02-24_2026-03-02.part{n}.csv.gz" for n in range(1, len(ledger) + 1)
    ]
    assert ledger[0].text == f"Ledger entries (1/{len(ledger)})"
    entries = [e for m in ledger if m.document for e in csv_rows(m.document[1])]
    assert all(m.document and len(m.document[1]) <= 512 for m in documents)
    # Every sign-up bonus once, in order; the summary counts them all.
    ids = [int(e["transfer_id"]) for e in entries]
    assert ids == sorted(set(ids))
    assert len(entries) == 121  # the admin's bonus and 120 others
    assert "121 ledger entries" in admin.last.text
    assert temporary_exports() <= before  # every part deleted once sent


def test_a_document_is_bytes_or_a_file_and_only_a_file_can_be_temporary(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Document(None, "a.csv", "text/csv")
    with pytest.raises(ValueError, match="temporary"):
        Document(b"a", "a.csv", "text/csv", temporary=True)
    kept, gone = tmp_path / "kept.csv.gz", tmp_path / "gone.csv.gz"
    kept.write_bytes(b"x")
    gone.write_bytes(b"x")
    outputs: list[Output] = [
        Send(
            Screen("kept", document=Document.file(kept, "k", "application/gzip", temporary=False))
        ),
        Send(Screen("gone", document=Document.file(gone, "g", "application/gzip", temporary=True))),
        Send(Screen("bytes", document=Document(b"a", "a.csv", "text/csv"))),
    ]
    discard_temporary(outputs)
    discard_temporary(outputs)  # twice: no matter
    assert (kept.exists(), gone.exists()) == (True, False)
