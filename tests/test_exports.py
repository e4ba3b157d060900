"""CSV exports of a range of days: members who joined, ledger entries, redemptions."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest

from core.catalog_file import load_catalog
from core.errors import InvalidInput
from core.exports import LEDGER_COLUMNS, MAX_DAYS, MEMBER_COLUMNS, REDEMPTION_COLUMNS
from core.mall import Mall
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


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


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
    export = await mall.exports.export(date(2026, 3, 1), date(2026, 3, 7))

    members = rows(export.members_csv)
    assert list(members[0]) == list(MEMBER_COLUMNS)
    assert [m["member_id"] for m in members] == [str(BOB), str(CAT)]
    assert members[0]["display_name"] == '\'=HYPERLINK("x")'  # no formula in a spreadsheet
    assert members[0]["joined_at"] == "2026-03-01T00:10:00+08:00"
    assert members[1]["invited_by"] == str(BOB)
    assert export.members == 2

    ledger = rows(export.ledger_csv)
    assert list(ledger[0]) == list(LEDGER_COLUMNS)
    seen = {(e["debit_account"], e["credit_account"], e["amount"], e["kind"]) for e in ledger}
    assert seen == {
        ("issuance", str(BOB), "100", "signup_bonus"),
        ("issuance", str(CAT), "100", "signup_bonus"),
        ("issuance", str(BOB), "10", "checkin"),
        (str(BOB), "redemptions", "30", "redemption"),
    }
    assert all(e["key"] and e["created_at"].endswith("+08:00") for e in ledger)
    assert export.transfers == len(ledger) == 4

    redemptions = rows(export.redemptions_csv)
    assert list(redemptions[0]) == list(REDEMPTION_COLUMNS)
    assert [(r["member_id"], r["item_title"], r["points"], r["status"]) for r in redemptions] == [
        (str(BOB), "Mug, large", "30", "completed")
    ]


async def test_an_export_of_a_quiet_range_has_only_the_headers(mall: Mall):
    export = await mall.exports.export(date(2026, 1, 1), date(2026, 1, 31))
    for text, columns in (
        (export.members_csv, MEMBER_COLUMNS),
        (export.ledger_csv, LEDGER_COLUMNS),
        (export.redemptions_csv, REDEMPTION_COLUMNS),
    ):
        assert list(csv.reader(io.StringIO(text))) == [list(columns)]


async def test_a_large_export_is_read_in_pages_and_loses_no_row(mall: Mall, monkeypatch):
    monkeypatch.setattr("core.exports.PAGE", 3)
    for n in range(10):
        await mall.members.join(3000 + n, f"M{n}", "en", at("2026-03-01 10:00"))
    export = await mall.exports.export(date(2026, 3, 1), date(2026, 3, 1))
    assert [int(m["member_id"]) for m in rows(export.members_csv)] == list(range(3000, 3010))
    assert export.transfers == 10


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
