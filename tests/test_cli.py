"""The admin's command line: migrate, and check (an fsck for points) that fails loudly."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.cli import main
from core.config import parse_config
from core.db.database import Database
from core.mall import Mall
from tests.conftest import at
from tests.support.databases import PostgresDatabase, run_blocking


@pytest.fixture
def url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    postgres: PostgresDatabase = request.getfixturevalue("postgres_database")
    run_blocking(postgres.empty())
    return postgres.url


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _seed_and_corrupt(url: str, corrupt: str | None) -> None:
    db = Database.from_url(url)
    mall = Mall.build(db, parse_config('[mall]\ntimezone = "Asia/Shanghai"', environ={}))
    await mall.members.join(1, "Alice", "en", at("2026-03-01 08:00"))
    await mall.checkins.check_in(1, at("2026-03-01 09:00"))
    if corrupt:
        async with db.write() as conn:
            await conn.execute(text(corrupt))
    await db.dispose()


def test_migrate_then_check_a_healthy_ledger(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    code, out, _ = _run(capsys, "migrate")
    assert code == 0
    assert "schema" in out
    code, out, _ = _run(capsys, "migrate")
    assert code == 0
    assert "up to date" in out
    run_blocking(_seed_and_corrupt(url, None))
    code, out, _ = _run(capsys, "check")
    assert code == 0
    assert "members: 1" in out
    assert "outstanding points: 110" in out
    assert "ledger is consistent" in out


def test_check_fails_and_names_the_broken_promise(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    _run(capsys, "migrate")
    # Someone "fixed" a balance by hand, bypassing the ledger.
    run_blocking(_seed_and_corrupt(url, "UPDATE accounts SET balance = balance + 5 WHERE id = 1"))
    code, out, _ = _run(capsys, "check")
    assert code == 1
    assert "FAIL  member_balance_matches_transfers" in out
    assert "FAIL  member_balance_matches_lots" in out
    assert "FAIL  books_balance" in out
    assert "(1, 115, 110)" in out


def test_check_on_an_unmigrated_database_says_to_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    code, _, err = _run(capsys, "check")
    assert code == 2
    assert "pointsmall migrate" in err


def test_a_bad_config_names_the_key_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("POINTSMALL_DATABASE_URL", raising=False)
    config = tmp_path / "mall.toml"
    config.write_text('[earning]\ndaily_cap = "lots"\n', encoding="utf-8")
    code, _, err = _run(capsys, "--config", str(config), "check")
    assert code == 2
    assert "earning.daily_cap = 'lots'" in err
    assert "integer" in err


def test_a_text_in_a_language_the_bot_does_not_speak_is_a_bad_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("POINTSMALL_DATABASE_URL", raising=False)
    config = tmp_path / "mall.toml"
    config.write_text('[donations]\ncause_names = { fr = "Planter un arbre" }\n', "utf-8")
    code, _, err = _run(capsys, "--config", str(config), "check")
    assert code == 2
    assert "donations.cause_names.fr: the bot has no language 'fr'" in err


def test_loading_the_demo_catalog_twice_changes_nothing_the_second_time(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    _run(capsys, "migrate")
    code, out, err = _run(capsys, "catalog", "load", "examples/catalog.toml")
    assert code == 0
    assert "0 unchanged; coupon codes added" in out
    assert "warning" not in err, "every prize of the demo box can be won"
    code, out, _ = _run(capsys, "catalog", "load", "examples/catalog.toml")
    assert code == 0
    assert "items: 0 created, 0 updated" in out
    assert "coupon codes added: 0; boxes: 0 created, 0 updated, 1 unchanged" in out


def test_a_prize_that_can_never_be_drawn_loads_with_a_warning(
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    _run(capsys, "migrate")
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[[items]]\nsku = "mug"\ntitle = "Mug"\ncategory = "gifts"\nkind = "physical"\n'
        "price = 300\nactive = false\n\n"
        '[[boxes]]\nsku = "lucky"\ntitle = "Lucky"\nprice = 10\nprizes = [\n'
        '  { name = "Ten", kind = "points", points = 10, weight = 9 },\n'
        '  { name = "Mug", kind = "item", item = "mug", weight = 1 },\n]\n',
        encoding="utf-8",
    )
    code, out, err = _run(capsys, "catalog", "load", str(catalog))
    assert code == 0, "loaded all the same"
    assert "items: 1 created" in out
    assert f"1 warning(s) about {catalog}:" in err
    assert (
        "  line 15: boxes[0] (sku 'lucky').prizes[1].item: item 'mug' is switched off"
        " (active = false), so this prize is never drawn" in err
    )


def test_a_broken_catalog_file_lists_its_problems_and_loads_nothing(
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    _run(capsys, "migrate")
    broken = tmp_path / "catalog.toml"
    broken.write_text(
        '[[items]]\nsku = "mug"\ntitle = "Mug"\ncategory = "gifts"\nkind = "teapot"\nprice = -3\n',
        encoding="utf-8",
    )
    code, _, err = _run(capsys, "catalog", "load", str(broken))
    assert code == 1
    assert "nothing changed" in err
    assert "kind" in err
    assert "price" in err
    code, _, err = _run(capsys, "catalog", "load", str(tmp_path / "missing.toml"))
    assert code == 2
    assert "no catalog file" in err


def test_run_without_a_token_says_where_to_put_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.delenv("POINTSMALL_TELEGRAM_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "run")
    assert code == 2
    assert "no bot token: set POINTSMALL_TELEGRAM_TOKEN" in err


def test_run_with_a_malformed_token_names_the_key_and_hides_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POINTSMALL_TELEGRAM_TOKEN", "pasted-the-wrong-thing")
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "run")
    assert code == 2
    assert "POINTSMALL_TELEGRAM_TOKEN (environment): telegram.token = <hidden>" in err
    assert "pasted-the-wrong-thing" not in err


# --- Failing clearly (issue 12) ---------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["check", "migrate", "catalog"])
def test_an_unreachable_database_is_one_line_and_status_2(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _closed_port()
    monkeypatch.setenv(
        "POINTSMALL_DATABASE_URL", f"postgresql+asyncpg://mall:pw-secret@127.0.0.1:{port}/mall"
    )
    argv = [command] if command != "catalog" else ["catalog", "load", "examples/catalog.toml"]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert (
        err == f"pointsmall: cannot reach the database at 127.0.0.1:{port} (connection refused)\n"
    )


def test_a_missing_postgresql_database_is_one_line(
    postgres_database: PostgresDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = make_url(postgres_database.url).set(database="pointsmall_no_such_db")
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url.render_as_string(hide_password=False))
    code, _, err = _run(capsys, "check")
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "has no database 'pointsmall_no_such_db' (create it with: createdb" in err


@pytest.mark.parametrize("command", ["run", "check", "catalog"])
def test_only_migrate_creates_a_sqlite_file(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "typo" / "mall.db"
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", f"sqlite+aiosqlite:///{missing}")
    monkeypatch.setenv("POINTSMALL_TELEGRAM_TOKEN", "123456:" + "A" * 30)
    argv = [command] if command != "catalog" else ["catalog", "load", "examples/catalog.toml"]
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith(f"pointsmall: no database file at {missing}: `pointsmall migrate`")
    assert len(err.splitlines()) == 1
    assert not missing.exists()
    assert not missing.parent.exists()
    code, _, _ = _run(capsys, "migrate")
    assert code == 0
    assert missing.exists()


def test_a_file_that_is_no_database_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("shopping list: milk, eggs, bread, and a great deal more text\n" * 20)
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", f"sqlite+aiosqlite:///{notes}")
    for command in ("check", "migrate"):
        code, _, err = _run(capsys, command)
        assert code == 2
        assert (
            err == f"pointsmall: cannot open the database file {notes} (file is not a database)\n"
        )


def test_backup_copies_a_sqlite_store_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mall.db'}"
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    _run(capsys, "migrate")
    run_blocking(_seed_and_corrupt(url, None))
    copy = tmp_path / "backups" / "mall-1.db"
    copy.parent.mkdir()

    code, out, _ = _run(capsys, "backup", str(copy))
    assert code == 0
    assert f"to {copy}:" in out
    code, _, err = _run(capsys, "backup", str(copy))
    assert code == 2
    assert err == f"pointsmall: {copy} exists: pass --force to overwrite it\n"
    code, _, _ = _run(capsys, "backup", "--force", str(copy))
    assert code == 0

    monkeypatch.setenv("POINTSMALL_DATABASE_URL", f"sqlite+aiosqlite:///{copy}")
    code, out, _ = _run(capsys, "check")
    assert code == 0
    assert "outstanding points: 110" in out
    assert "ledger is consistent" in out


def test_backup_on_postgresql_says_to_use_pg_dump(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", "postgresql+asyncpg://mall@db.internal/mall")
    monkeypatch.setenv("POINTSMALL_DATABASE_PASSWORD", "pw-secret-pw")
    code, _, err = _run(capsys, "backup", "mall.dump")
    assert code == 2
    assert len(err.splitlines()) == 1
    assert "use pg_dump, e.g. pg_dump --format=custom --file=mall.dump" in err
    assert "--host=db.internal --username=mall mall" in err
    assert "pw-secret" not in err


# --- The shop (issue 13) ------------------------------------------------------------------------


def test_shop_keys_are_created_listed_and_revoked_and_the_secret_shown_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    monkeypatch.setenv("POINTSMALL_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'mall.db'}")
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "migrate")[0] == 0

    code, out, _ = _run(capsys, "shop", "key", "create", "web shop", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["key_id"].startswith("pk_")
    assert len(created["secret"]) >= 40

    code, out, _ = _run(capsys, "shop", "key", "list")
    assert code == 0
    assert created["key_id"] in out
    assert "'web shop'" in out
    assert "last used never  active" in out
    assert created["secret"] not in out

    assert _run(capsys, "shop", "key", "revoke", created["key_id"])[0] == 0
    assert "revoked" in _run(capsys, "shop", "key", "list")[1]
    code, _, err = _run(capsys, "shop", "key", "revoke", "pk_nobody")
    assert code == 1
    assert "no API key 'pk_nobody'" in err


HEADER = "order_id,customer_phone,telegram_id,total,currency,category,placed_at"


def test_orders_import_credits_a_good_file_and_refuses_a_bad_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mall.db'}"
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    assert _run(capsys, "migrate")[0] == 0
    run_blocking(_seed_and_corrupt(url, None))  # member 1, Alice
    bad = tmp_path / "bad.csv"
    bad.write_text(
        f"{HEADER}\nPOS-1,,1,50.00,CNY,,\nPOS-2,,1,lots,CNY,,\n",
        encoding="utf-8",
    )
    good = tmp_path / "good.csv"
    good.write_text(
        f"{HEADER}\nPOS-1,,1,50.00,CNY,,\nPOS-3,,77,20.00,CNY,,\n",
        encoding="utf-8",
    )

    code, _, err = _run(capsys, "orders", "import", str(bad))
    assert code == 1
    assert "was not imported, nothing changed" in err
    assert "line 3:" in err

    code, out, _ = _run(capsys, "orders", "import", str(good))
    assert code == 0
    assert "orders: 2 read, 1 credited, 1 parked" in out
    assert _run(capsys, "orders", "import", str(good))[0] == 0  # again: nothing twice
    assert _run(capsys, "check")[0] == 0


# What only `run` and `sandbox` need: `pointsmall --help` and `check` must not pay for them.
HEAVY = ("matplotlib", "telegram", "aiogram", "qrcode", "aiohttp", "bot.sandbox", "bot.serve")
_LOADED = """
import json, sys
import bot.cli
if len(sys.argv) > 1:
    bot.cli.main(sys.argv[1:])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {0} or m in {0})))
"""


def _heavy_modules_loaded(tmp_path: Path, *argv: str) -> list[str]:
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "POINTSMALL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'light.db'}",
    }
    env.pop("POINTSMALL_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-c", _LOADED.format(repr(set(HEAVY))), *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_importing_the_command_line_loads_no_framework_chart_or_sandbox(tmp_path: Path):
    assert _heavy_modules_loaded(tmp_path) == []


def test_check_on_an_empty_store_loads_no_framework_chart_or_sandbox(tmp_path: Path):
    assert _heavy_modules_loaded(tmp_path, "migrate") == []
    assert _heavy_modules_loaded(tmp_path, "check") == []


def test_export_writes_one_csv_plain_or_gzip_for_any_number_of_days(
    url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)  # no config.toml: the defaults
    assert _run(capsys, "migrate")[0] == 0
    run_blocking(_seed_and_corrupt(url, None))
    days = ("--from", "2025-01-01", "--to", "2026-12-31")  # more than the bot's 366 days
    plain, packed = tmp_path / "ledger.csv", tmp_path / "ledger.csv.gz"

    code, out, _ = _run(capsys, "export", "ledger", *days, str(plain))
    assert code == 0
    assert out == f"ledger: 2 rows from 2025-01-01 to 2026-12-31 written to {plain}\n"
    code, _, _ = _run(capsys, "export", "ledger", *days, str(packed))
    assert code == 0
    written = plain.read_bytes()
    assert gzip.decompress(packed.read_bytes()) == written
    entries = list(csv.DictReader(io.StringIO(written.decode(), newline="")))
    assert [(e["credit_account"], e["amount"], e["kind"]) for e in entries] == [
        ("1", "100", "signup_bonus"),
        ("1", "10", "checkin"),
    ]
    code, _, _ = _run(capsys, "export", "members", *days, str(tmp_path / "members.csv"))
    assert code == 0
    assert "Alice" in (tmp_path / "members.csv").read_text()

    code, _, err = _run(capsys, "export", "ledger", *days, str(plain))
    assert (code, err) == (2, f"pointsmall: {plain} exists: pass --force to overwrite it\n")
    code, _, err = _run(
        capsys,
        "export",
        "ledger",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-01",
        "--force",
        str(plain),
    )
    assert (code, err) == (2, "pointsmall: end is before start\n")
    assert plain.read_bytes() == written  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_the_export_kinds_the_command_line_offers_are_the_ones_core_exports() -> None:
    from bot.cli import EXPORT_KINDS
    from core.reporting.exports import KINDS

    assert EXPORT_KINDS == KINDS


async def _corrupt(url: str, statement: str) -> None:
    db = Database.from_url(url)
    async with db.write() as conn:
        await conn.execute(text(statement))
    await db.dispose()


def test_check_goes_on_from_its_checkpoint_and_full_reads_everything(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("POINTSMALL_DATABASE_URL", url)
    _run(capsys, "migrate")
    run_blocking(_seed_and_corrupt(url, None))
    code, out, _ = _run(capsys, "check")
    assert code == 0
    assert "checked: the whole ledger" in out  # no checkpoint yet
    assert "checkpoint written at transfer #2" in out
    code, out, _ = _run(capsys, "check")
    assert code == 0
    assert "checked: transfers after #2" in out
    assert "transfers: 2" in out
    # A transfer the checkpoint covers is edited: only the whole scan reads it again.
    run_blocking(_corrupt(url, "UPDATE transfers SET amount = amount + 1 WHERE id = 1"))
    assert _run(capsys, "check")[0] == 0
    code, out, _ = _run(capsys, "check", "--full")
    assert code == 1
    assert "checked: the whole ledger" in out
    assert "FAIL  member_balance_matches_transfers" in out
    assert "checkpoint written" not in out
