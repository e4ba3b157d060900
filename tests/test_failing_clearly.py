"""Failing clearly (issue 12, part 5): one line an operator can act on, never the token.

A refused token, an unreachable database or Bot API server, a SQLite file deleted or replaced
under a running bot, and ``pointsmall backup``'s consistent copy of a live store. Some tests
run the real ``pointsmall`` command in a subprocess, each bounded in time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot import runtime as runtime_module
from bot.redact import Redactor, TelegramUnreachable, TokenRejected, mask
from bot.runtime import open_runtime, wait_for_telegram
from bot.sandbox import Sandbox
from core.db.backup import BackupRefused, backup_sqlite
from core.db.database import Database, DatabaseUnreachable, StoreLost
from core.db.migrate import upgrade
from core.mall import Mall
from core.points.invariants import check_ledger
from tests.conftest import at
from tests.support.configs import make_config
from tests.support.databases import PostgresDatabase, SqliteTemplate

POINTSMALL = Path(sys.executable).parent / "pointsmall"
SANDBOX_TOKEN = "123456:the-sandbox-token-of-this-test"
WRONG_TOKEN = "123456:ThisIsNotTheTokenOfThisBot_WXYZ"
FRAMEWORKS = ("ptb", "aiogram")
DEADLINE = 90.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_config(directory: Path, body: str) -> Path:
    config = directory / "mall.toml"
    config.write_text(body, encoding="utf-8")
    return config


def _env(config: Path, token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POINTSMALL_")}
    env["POINTSMALL_CONFIG"] = str(config)
    if token is not None:
        env["POINTSMALL_TELEGRAM_TOKEN"] = token
    return env


async def _pointsmall(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(POINTSMALL),
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), DEADLINE)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _run_until_it_waits(env: dict[str, str], cwd: Path) -> tuple[int | None, list[str]]:
    """``pointsmall run`` until it exits (its status) or logs that it will try again (None)."""
    process = await asyncio.create_subprocess_exec(
        str(POINTSMALL),
        "run",
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while raw := await process.stderr.readline():
                lines.append(raw.decode().rstrip("\n"))
                if "trying again" in lines[-1]:
                    return None, lines
            return await process.wait(), lines
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(10):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


# --- The token --------------------------------------------------------------------------------


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_refused_token_ends_run_in_one_line_showing_only_its_last_four_characters(
    framework: str, sqlite_template: SqliteTemplate, tmp_path: Path
) -> None:
    async with Sandbox(token=SANDBOX_TOKEN) as sandbox:
        config = _write_config(
            tmp_path,
            f'[database]\nurl = "{sqlite_template.copy_url(tmp_path)}"\n'
            f'[telegram]\napi_server = "{sandbox.api_server}"\nframework = "{framework}"\n',
        )
        code, out, err = await _pointsmall("run", env=_env(config, WRONG_TOKEN), cwd=tmp_path)

    assert code == 2, err
    assert err.splitlines()[-1] == (
        f"pointsmall: the Bot API server at 127.0.0.1:{sandbox.port} refused the bot token"
        " ending in …WXYZ (check POINTSMALL_TELEGRAM_TOKEN, or telegram.token in the config)"
    )
    assert "Traceback" not in err
    for secret in (WRONG_TOKEN, WRONG_TOKEN.split(":")[1], WRONG_TOKEN[-8:]):
        assert secret not in out + err


async def test_the_bot_api_probe_names_the_host_and_waits_for_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(runtime_module, "FIRST_RETRY", 0.1)
    port = free_port()
    server = f"http://127.0.0.1:{port}"

    with pytest.raises(TelegramUnreachable) as unreachable:
        await wait_for_telegram(WRONG_TOKEN, server, wait=False)
    assert str(unreachable.value).startswith(
        f"cannot reach the Bot API server at 127.0.0.1:{port} ("
    )
    assert WRONG_TOKEN.split(":")[1] not in str(unreachable.value)

    # Started before the server (as systemd may): it waits, one line a try, then comes up.
    waiting = asyncio.create_task(wait_for_telegram(SANDBOX_TOKEN, server))
    await asyncio.sleep(0.5)
    async with Sandbox(token=SANDBOX_TOKEN, port=port) as sandbox:
        assert await asyncio.wait_for(waiting, 20) == sandbox.bot_user["username"]
        with pytest.raises(TokenRejected) as rejected:
            await wait_for_telegram(WRONG_TOKEN, server)
    assert "refused the bot token ending in …WXYZ" in str(rejected.value)
    assert WRONG_TOKEN.split(":")[1] not in str(rejected.value)
    tries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert tries
    assert all(f"Bot API server at 127.0.0.1:{port}" in line for line in tries)
    assert all("\n" not in line and SANDBOX_TOKEN not in line for line in tries)


async def test_run_on_an_unreachable_bot_api_server_says_so_in_one_line(
    sqlite_template: SqliteTemplate, tmp_path: Path
) -> None:
    """Either it waits (one line a try) or it stops (one line); never a traceback or the token."""
    port = free_port()
    config = _write_config(
        tmp_path,
        f'[database]\nurl = "{sqlite_template.copy_url(tmp_path)}"\n'
        f'[telegram]\napi_server = "http://127.0.0.1:{port}"\n',
    )

    code, lines = await _run_until_it_waits(_env(config, WRONG_TOKEN), tmp_path)

    everything = "\n".join(lines)
    assert "Traceback" not in everything
    assert WRONG_TOKEN.split(":")[1] not in everything
    assert f"cannot reach the Bot API server at 127.0.0.1:{port}" in lines[-1]
    if code is not None:
        assert code != 0
        assert lines[-1].startswith("pointsmall: ")


async def test_a_sigterm_while_run_is_still_starting_stops_it_in_order(
    sqlite_template: SqliteTemplate, tmp_path: Path
) -> None:
    """An operator's stop (systemd's SIGTERM) before the bot is up ends it with status 0."""
    config = _write_config(
        tmp_path,
        f'[database]\nurl = "{sqlite_template.copy_url(tmp_path)}"\n'
        f'[telegram]\napi_server = "http://127.0.0.1:{free_port()}"\n',
    )
    process = await asyncio.create_subprocess_exec(
        str(POINTSMALL),
        "run",
        env=_env(config, SANDBOX_TOKEN),
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while "trying again" not in (lines or [""])[-1]:  # waiting for Telegram
                raw = await process.stderr.readline()
                assert raw, "\n".join(lines)
                lines.append(raw.decode().rstrip("\n"))
        process.terminate()
        async with asyncio.timeout(DEADLINE):
            rest = (await process.stderr.read()).decode()
            status = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert status == 0, rest
    assert "stopping before the start was over" in rest
    assert "Traceback" not in rest


def test_the_log_filter_masks_the_token_in_messages_arguments_and_tracebacks() -> None:
    redactor = Redactor([(WRONG_TOKEN, mask(WRONG_TOKEN))])
    logger = logging.getLogger("tests.redact")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            self.format(record)

    handler = Keep()
    handler.addFilter(redactor)
    logger.addHandler(handler)
    try:
        logger.warning("GET https://api.telegram.org/bot%s/getMe", WRONG_TOKEN)
        logger.warning(f"token {WRONG_TOKEN} in the message")
        try:
            raise ValueError(f"The token `{WRONG_TOKEN}` was rejected by the server.")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)

    shown = "\n".join(logging.Formatter().format(record) for record in records)
    assert WRONG_TOKEN not in shown
    assert "bot…WXYZ/getMe" in shown
    assert "The token `…WXYZ` was rejected" in shown


# --- An unreachable database ------------------------------------------------------------------


async def test_run_names_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    """Waiting (one line a try, ``wait_for_database``) or stopping (one line, status 2)."""
    port = free_port()
    config = _write_config(
        tmp_path,
        f'[database]\nurl = "postgresql+asyncpg://postgres@127.0.0.1:{port}/mall"\n'
        # Nothing here may reach past this machine, even when it got that far.
        f'[telegram]\napi_server = "http://127.0.0.1:{free_port()}"\n',
    )
    sign = f"cannot reach the database at 127.0.0.1:{port} (connection refused)"

    code, lines = await _run_until_it_waits(_env(config, WRONG_TOKEN), tmp_path)

    assert "Traceback" not in "\n".join(lines)
    assert code is None, "run waits for its database (systemd may start it first)"
    assert lines[-1].endswith(f"{sign}; trying again in 1 s")


@asynccontextmanager
async def _forwarder(port: int, host: str, target_port: int) -> AsyncIterator[None]:
    """A TCP proxy on ``port`` to ``host:target_port``: the database "coming up"."""

    writers: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, target_port)
        writers.extend((writer, upstream_writer))
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def test_a_runtime_started_before_its_database_comes_up_when_it_does(
    postgres_database: PostgresDatabase,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(runtime_module, "FIRST_RETRY", 0.2)
    await postgres_database.empty()
    real = make_url(postgres_database.url)
    port = free_port()
    url = real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    config = make_config()

    with pytest.raises(DatabaseUnreachable) as unreachable:
        async with open_runtime(config, url):
            pass
    assert str(unreachable.value) == (
        f"cannot reach the database at 127.0.0.1:{port} (connection refused)"
    )

    async def later() -> None:
        await asyncio.sleep(1.0)
        async with _forwarder(port, real.host or "127.0.0.1", real.port or 5432):
            await asyncio.sleep(DEADLINE)

    coming_up = asyncio.create_task(later())
    try:
        async with asyncio.timeout(30), open_runtime(config, url, wait_for_database=True) as rt:
            profile = await rt.mall.members.join(7, "Ann", "en", at("2026-03-02 09:00"))
            assert profile is not None
    finally:
        coming_up.cancel()
    tries = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert tries
    assert tries[0] == (
        f"cannot reach the database at 127.0.0.1:{port} (connection refused); trying again in 0.2 s"
    )


async def test_a_missing_postgresql_database_is_one_line_and_not_waited_for(
    postgres_database: PostgresDatabase,
) -> None:
    url = make_url(postgres_database.url).set(database="pointsmall_no_such_database")
    with pytest.raises(DatabaseUnreachable) as missing:
        async with open_runtime(
            make_config(), url.render_as_string(hide_password=False), wait_for_database=True
        ):
            pass
    assert "has no database 'pointsmall_no_such_database'" in str(missing.value)
    assert "\n" not in str(missing.value)
    assert not missing.value.transient


# --- A store lost under a running bot ---------------------------------------------------------


async def _mall_on(path: Path) -> tuple[Database, Mall]:
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    mall = Mall.build(db, make_config())
    await mall.members.join(1, "Ann", "en", at("2026-03-02 09:00"))
    return db, mall


def _replace(path: Path) -> None:
    """What restoring an old copy over the live file does: another file at the same path."""
    other = path.with_suffix(".other")
    shutil.copyfile(path, other)
    os.replace(other, path)


LOSSES: dict[str, Callable[[Path], None]] = {"deleted": Path.unlink, "replaced": _replace}


@pytest.mark.parametrize("loss", LOSSES)
async def test_a_store_deleted_or_replaced_under_the_bot_stops_every_write(
    loss: str, tmp_path: Path
) -> None:
    path = tmp_path / "mall.db"
    db, mall = await _mall_on(path)
    try:
        assert not db.lost.is_set()
        LOSSES[loss](path)

        with pytest.raises(StoreLost) as lost:  # a use case (transact, on the writer thread)
            await mall.checkins.check_in(1, at("2026-03-02 10:00"))
        assert str(lost.value).startswith(f"the database file {path} was {loss}")
        assert "\n" not in str(lost.value)
        assert db.lost.is_set()
        assert db.lost_reason == str(lost.value)

        async def write() -> None:
            async with db.write() as conn:
                await conn.execute(text("SELECT 1"))

        async def read() -> None:
            async with db.read() as conn:
                await conn.execute(text("SELECT 1"))

        checks: list[Callable[[], Awaitable[None]]] = [write, read]
        for attempt in checks:
            with pytest.raises(StoreLost):
                await attempt()
    finally:
        await db.dispose()
    if loss == "deleted":
        assert not path.exists()  # and no empty mall was made in its place


async def test_the_lost_event_wakes_whoever_waits_on_it(tmp_path: Path) -> None:
    path = tmp_path / "mall.db"
    db, mall = await _mall_on(path)
    try:
        waiter = asyncio.create_task(db.lost.wait())
        await asyncio.sleep(0)
        path.unlink()
        with pytest.raises(StoreLost):
            await mall.members.join(2, "Bob", "en", at("2026-03-02 09:00"))
        await asyncio.wait_for(waiter, 5)
    finally:
        await db.dispose()


async def test_a_store_that_is_still_there_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "new" / "mall.db"
    db, mall = await _mall_on(path)  # created by this Database: its first file is the one
    try:
        await mall.checkins.check_in(1, at("2026-03-02 10:00"))
        assert (await mall.statements.balance(1)).balance == 110
        assert not db.lost.is_set()
    finally:
        await db.dispose()


# --- Backup -----------------------------------------------------------------------------------


async def test_a_backup_taken_while_the_bot_writes_is_a_consistent_mall(tmp_path: Path) -> None:
    path = tmp_path / "mall.db"
    db, mall = await _mall_on(path)
    copy = tmp_path / "backup.db"
    try:
        for member in range(2, 30):
            await mall.members.join(member, f"M{member}", "en", at("2026-03-02 09:00"))
        stop = asyncio.Event()

        async def keep_writing() -> int:
            done = 0
            while not stop.is_set():
                member = 1 + done % 29
                day = done // 29
                when = at("2026-03-03 10:00").replace(day=3 + day % 20)
                await mall.checkins.check_in(member, when)
                done += 1
                await asyncio.sleep(0)
            return done

        writer = asyncio.create_task(keep_writing())
        await asyncio.sleep(0.2)
        report = await asyncio.to_thread(backup_sqlite, f"sqlite+aiosqlite:///{path}", copy)
        await asyncio.sleep(0.1)
        stop.set()
        written = await writer
    finally:
        await db.dispose()

    assert written > 0
    assert report.target == copy
    assert report.pages > 0
    assert not await asyncio.to_thread(os.path.exists, f"{copy}-wal")
    restored = Database.from_url(f"sqlite+aiosqlite:///{copy}")
    try:
        ledger = await check_ledger(restored)
        assert ledger.ok, ledger.violations
        assert ledger.members == 29
        assert ledger.outstanding_points >= 29 * 100
        assert (await Mall.build(restored, make_config()).statements.balance(1)).balance >= 100
    finally:
        await restored.dispose()


async def test_backup_refuses_what_it_should(tmp_path: Path) -> None:
    path = tmp_path / "mall.db"
    db, _ = await _mall_on(path)
    await db.dispose()
    url = f"sqlite+aiosqlite:///{path}"
    copy = tmp_path / "copy.db"
    copy.write_bytes(b"precious")

    with pytest.raises(BackupRefused, match="exists: pass --force"):
        backup_sqlite(url, copy)
    assert copy.read_bytes() == b"precious"
    with pytest.raises(BackupRefused, match="is the database itself"):
        backup_sqlite(url, path, force=True)
    with pytest.raises(BackupRefused, match="no database file at"):
        backup_sqlite(f"sqlite+aiosqlite:///{tmp_path / 'missing.db'}", tmp_path / "x.db")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(BackupRefused, match="use pg_dump") as postgres:
        backup_sqlite("postgresql+asyncpg://mall:secret@db.example:5433/mall", copy)
    assert "pg_dump --format=custom" in str(postgres.value)
    assert "--host=db.example --port=5433 --username=mall mall" in str(postgres.value)
    assert "secret" not in str(postgres.value)

    backup_sqlite(url, copy, force=True)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM members").fetchone() == (1,)
    assert [name for name in os.listdir(tmp_path) if "partial" in name] == []
