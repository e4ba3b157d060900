"""The ledger export writes the same bytes as before its per-row work was cut (wt-exports).

The reference here is the ledger export as it was written before: rows read through the ORM's
types (``UTCDateTime`` making aware datetimes), cells by attribute, books named through
:class:`SystemAccount`, ``isoformat(timespec="seconds")``, ``csv.writer`` one row at a time,
gzip at level 6 with no timestamp. The store holds every kind of entry: every book on both
sides, members' accounts, a check-in and a redemption made through the mall, texts that need
CSV quoting or the formula guard, non-ASCII texts, instants with and without microseconds,
in time zones with a 45-minute offset and with daylight saving changes inside the range.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from core.db.models import Transfer
from core.mall import Mall
from core.points.accounts import SystemAccount
from core.reporting.exports import LEDGER_COLUMNS
from tests.conftest import MallFactory
from tests.support.configs import make_config
from tests.test_exports import arrange

START, END = date(2026, 2, 25), date(2026, 3, 20)  # New York's clocks go forward on 03-08
MEMBERS = (2001, 2002, 2003, 9_000_000_001)
TEXTS = (
    "",
    "order 7",
    "点数 café 🎁",
    '=HYPERLINK("x")',
    "+1",
    "-2",
    "@sum",
    "\tindent",
    "\rreturn",
    'a "quoted", comma',
    "two\nlines",
    "naïve=",
)


async def seed(mall: Mall) -> None:
    await arrange(mall)  # members (one with a formula for a name), a check-in, a redemption
    await mall.members.join(MEMBERS[-1], "Zoë 点数", "zh_Hans", datetime(2026, 2, 1, tzinfo=UTC))
    accounts = [book.value for book in SystemAccount] + list(MEMBERS)
    first = datetime(2026, 2, 23, tzinfo=UTC)
    values = []
    for n in range(700):
        debit = accounts[n % len(accounts)]
        credit = accounts[(n * 7 + 3) % len(accounts)]
        if credit == debit:
            credit = accounts[(n + 1) % len(accounts)]
        values.append(
            {
                "key": f"{TEXTS[n % len(TEXTS)]}:{n}",
                "debit_account_id": debit,
                "credit_account_id": credit,
                "amount": 1 + n * 37 % 10_000,
                "code": ("checkin", "redemption", "adjustment", "expiry")[n % 4],
                "reference": TEXTS[(n * 5) % len(TEXTS)],
                # An hour and some apart, with and without microseconds, over 30 days.
                "created_at": first
                + timedelta(minutes=n * 61 + n % 3, microseconds=(n % 2) * (n * 997 % 10**6)),
            }
        )
    async with mall.db.write() as conn:
        await conn.execute(insert(Transfer), values)


async def before(mall: Mall) -> bytes:
    """The range's ledger CSV as the export wrote it before (no byte order mark)."""
    tz = mall.config.mall.timezone
    lower = datetime.combine(START, datetime.min.time(), tz)
    upper = datetime.combine(END + timedelta(days=1), datetime.min.time(), tz)
    async with mall.db.read() as conn:
        found = (
            await conn.execute(
                select(*Transfer.__table__.columns)
                .where(Transfer.created_at >= lower, Transfer.created_at < upper)
                .order_by(Transfer.id)
            )
        ).all()

        def name(account_id: int) -> str:
            return str(account_id) if account_id > 0 else SystemAccount(account_id).code

        def guard(value: str) -> str:
            return "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value

        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(LEDGER_COLUMNS)
        for row in found:
            writer.writerow(
                (
                    row.id,
                    row.created_at.astimezone(tz).isoformat(timespec="seconds"),
                    name(row.debit_account_id),
                    name(row.credit_account_id),
                    row.amount,
                    row.code,
                    guard(row.reference),
                    guard(row.key),
                )
            )
    return out.getvalue().encode()


def gzipped(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as packed:
        packed.write(data)
    return out.getvalue()


@pytest.mark.parametrize(
    "zone", ["Asia/Shanghai", "Asia/Kathmandu", "America/New_York", "UTC", "Pacific/Chatham"]
)
async def test_the_ledger_export_writes_the_bytes_it_wrote_before(
    make_mall: MallFactory, monkeypatch: pytest.MonkeyPatch, zone: str
) -> None:
    mall = await make_mall(make_config(f'[mall]\ntimezone = "{zone}"'))
    assert mall.config.mall.timezone == ZoneInfo(zone)
    await seed(mall)
    expected = await before(mall)
    assert expected.count(b"\r\n") > 400  # most of the 700 fall in the range
    for batch in (7, 5000):
        monkeypatch.setattr("core.reporting.exports.BATCH", batch)
        plain, packed = io.BytesIO(), io.BytesIO()
        await mall.exports.write_csv("ledger", START, END, plain, max_days=None)
        await mall.exports.write_csv("ledger", START, END, packed, compress=True, max_days=None)
        assert plain.getvalue() == expected
        assert packed.getvalue() == gzipped(expected)
        # The bot's export: several parts, each the byte order mark, the header and its rows.
        export = await mall.exports.export(START, END, part_limit=8 * 1024)
        try:
            parts = export.ledger.parts
            assert len(parts) > 1
            header, _, body = expected.partition(b"\r\n")
            joined = b""
            for part in parts:
                raw = gzip.decompress(part.path.read_bytes())
                assert raw.startswith("\ufeff".encode() + header + b"\r\n")
                joined += raw.removeprefix("\ufeff".encode() + header + b"\r\n")
                assert part.size == part.path.stat().st_size <= 8 * 1024
            assert joined == body
        finally:
            export.discard()
