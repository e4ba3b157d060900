"""The benches cannot rot: each script in ``bench/`` runs here at a tiny size, on SQLite and
PostgreSQL, and must finish cleanly with its ledger checks clean.

Nothing here looks at a timing (speed is reported by the benches, never asserted by tests); a
bench that crashes, or whose correctness lines say otherwise, fails the suite.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.databases import (
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    PostgresDatabase,
    postgres_unavailable_reason,
)

ROOT = Path(__file__).resolve().parent.parent
# Generous: the benches take seconds at these sizes, a loaded CI machine several times that.
TIMEOUT = 300


def _postgres_or_skip() -> str:
    """The test server as the benches name it (a plain libpq URL, a database of their own)."""
    reason = postgres_unavailable_reason()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    url = make_url(POSTGRES_URL).set(drivername="postgresql")
    name = f"pointsmall_bench_test_{uuid.uuid4().hex[:8]}"
    return url.set(database=name).render_as_string(hide_password=False)


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_ledger_bench_runs_on_both_databases() -> None:
    out = _run(
        "ledger.py",
        *("--backend", "both", "--postgres-url", _postgres_or_skip()),
        *("--members", "20", "--ops", "10", "--concurrency", "4", "--expiry-lots", "200"),
    )
    for backend in ("sqlite", "postgres"):
        assert f"{backend} check-in" in out
        clean = "mall clean, raw clean"
        assert f"{backend}: after the operations: {clean}; after expiry: {clean}" in out


def test_the_check_bench_runs_on_both_databases() -> None:
    out = _run(
        "check.py",
        *("--backend", "both", "--postgres-url", _postgres_or_skip()),
        *("--members", "200", "--days", "2", "--repeat", "1"),
    )
    for backend in ("sqlite", "postgres"):
        assert f"{backend}: every check clean" in out
        assert f"\n{backend} " in out  # its row of the table


def test_the_mall_bench_runs_on_both_databases() -> None:
    out = _run(
        "mall.py",
        *("--backend", "both", "--postgres-url", _postgres_or_skip()),
        *("--members", "20", "--ops", "10", "--units", "5", "--rounds", "1", "--extra", "3"),
    )
    for backend in ("sqlite", "postgres"):
        assert f"{backend} redeem until sold out" in out
        assert f"{backend} mall: successes per round [5]" in out
    # SQLite's third side: the raw driver batching its commits as the mall's writer did.
    assert "sqlite raw batched: successes per round [5]" in out
    assert " of raw batched (" in out  # the aim judged against it
    assert out.count("mall.check(): clean") == 5


def test_the_bot_bench_runs_on_both_frameworks() -> None:
    out = _run("bot.py", "--members", "3", "--rounds", "1")
    for framework in ("ptb", "aiogram"):
        assert f"| PointsMall ({framework}) |" in out
        assert f"| echo bot ({framework}) |" in out
        assert f"{framework}: ratio mall / echo (max rate):" in out


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
def test_the_flash_sale_burst_bench_sells_exactly_the_units_on_both_databases(
    framework: str,
) -> None:
    out = _run(
        "burst.py",
        *("--backend", "both", "--postgres-url", _postgres_or_skip()),
        *("--members", "20", "--units", "5", "--framework", framework),
    )
    assert f"| echo bot ({framework}), two presses each | 20 |" in out
    for backend in ("sqlite", "postgres"):
        assert f"| PointsMall ({framework}, {backend}) | 20 |" in out
        assert (
            f"{backend}: sold 5 (aim: exactly 5), told sold out 15 (aim: 15), neither 0: met;"
            " mall.check(): clean"
        ) in out
        assert f"{backend}: ratio echo / mall (time until all answered):" in out


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_broadcast_bench_delivers_each_message_once(store: str) -> None:
    args = ["--members", "20"]  # the default [sender] settings
    database = None
    if store == "postgres":
        _postgres_or_skip()
        database = PostgresDatabase(POSTGRES_URL)  # the bench writes into the URL it is given
        args += ["--postgres", database.url]
    try:
        out = _run("broadcast.py", *args)
    finally:
        if database is not None:
            database.drop()
    assert "messages delivered              20" in out
    assert "lost                             0" in out
    assert "duplicated                       0" in out
    assert "[sender] pace ceiling         30.0 /s (default)" in out
    assert "issue 14's aim: >= 0.95 of 30/s with default settings" in out


def test_the_cli_bench_measures_start_up_beside_its_baseline() -> None:
    out = _run("cli.py", "--repeat", "1")
    for label in (
        "python -c pass",
        "python -c 'import sqlalchemy'",
        "pointsmall --help",
        "pointsmall check (empty SQLite)",
    ):
        assert label in out


def test_the_exports_bench_runs_on_both_databases() -> None:
    out = _run(
        "exports.py",
        *("--backend", "both", "--postgres-url", _postgres_or_skip()),
        *("--transfers", "300", "--history", "200"),
    )
    for backend in ("sqlite", "postgres"):
        assert f"{backend}: every run read the same rows: True" in out
        for mode in ("mall", "before", "raw"):
            assert f"{backend} {mode} " in out
    assert "command: " in out


def test_the_rollups_bench_compares_live_and_rolled_up_stats_on_both_databases() -> None:
    out = _run(
        "rollups.py",
        *("--backend", "both", "--postgres-url", _postgres_or_skip()),
        *("--members", "60", "--repeat", "1"),
    )
    for backend in ("sqlite", "postgres"):
        assert f"{backend}: roll-ups equal live: True; days rolled up: 31" in out
    assert "command: " in out
