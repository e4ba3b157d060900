"""``pointsmall``: the command line, and the one place that reads the config file.

It fails clearly: what an operator must fix (a database that cannot be reached, a missing
SQLite file, a token Telegram refuses) is one line on stderr and exit status 2; a store lost
under a running bot is one line and status 1. The bot token is never printed (see
:mod:`bot.redact`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bot import redact
from bot.frameworks import FRAMEWORKS

# Only what `pointsmall --help` needs is imported here: the rest (pydantic, SQLAlchemy,
# Alembic, the frameworks, the sandbox, matplotlib...) is imported by the command that uses
# it, so that a command pays for nothing it does not run (issue 17). A test holds this.
if TYPE_CHECKING:
    from bot.settings import Config
    from core.db.database import Database
    from core.points.invariants import LedgerReport

DEFAULT_CONFIG = "config.toml"
# core.reporting.exports.KINDS, written out so that `pointsmall --help` need not import the exports
# (and SQLAlchemy with them); a test keeps the two equal.
EXPORT_KINDS = ("members", "ledger", "redemptions", "tasks")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pointsmall", description="A loyalty points mall in a Telegram chat."
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"the mall's TOML config (default: ./{DEFAULT_CONFIG} if it exists, else defaults;"
        " env POINTSMALL_CONFIG)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    check = commands.add_parser(
        "check",
        help="verify the ledger's invariants; exits 1 on any violation (fsck for points)",
        description="Verify the transfers since the last clean check against its checkpoint"
        " (the whole ledger when there is none); a clean check writes a new checkpoint.",
    )
    check.add_argument(
        "--full",
        action="store_true",
        help="read the whole ledger, not only what came after the checkpoint (finds a row"
        " changed before it)",
    )
    catalog = commands.add_parser("catalog", help="manage the catalog")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True)
    load = catalog_commands.add_parser(
        "load", help="create or update items, coupon codes and blind boxes from a TOML file"
    )
    load.add_argument("file", type=Path, help="the catalog file (see examples/catalog.toml)")
    commands.add_parser(
        "run",
        help="run the bot: upgrades the schema, then polls Telegram or serves its webhook"
        " ([telegram] in the config)",
    )
    shop = commands.add_parser("shop", help="the shop's API keys (see docs/shop-api.md)")
    shop_commands = shop.add_subparsers(dest="shop_command", required=True)
    key = shop_commands.add_parser("key", help="create, list or revoke API keys")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    create = key_commands.add_parser(
        "create", help="a new key; its secret is printed once and never again"
    )
    create.add_argument("name", help="what the key is for, e.g. 'web shop'")
    create.add_argument("--json", action="store_true", help='print {"key_id": ..., "secret": ...}')
    key_commands.add_parser("list", help="every key: id, name, created, last used, revoked")
    revoke = key_commands.add_parser("revoke", help="refuse every request with this key")
    revoke.add_argument("key_id")
    orders = commands.add_parser("orders", help="orders from the shop")
    orders_commands = orders.add_subparsers(dest="orders_command", required=True)
    import_ = orders_commands.add_parser(
        "import",
        help="credit offline or POS orders from a CSV file: every row checked first, nothing"
        " imported if any is wrong, idempotent by order id",
    )
    import_.add_argument("file", type=Path, help="order_id,customer_phone,telegram_id,total,...")
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite store to FILE, consistently, even while the bot runs"
        " (PostgreSQL: use pg_dump)",
    )
    backup.add_argument("file", type=Path, help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    export = commands.add_parser(
        "export",
        help="write one CSV of some days (members who joined, ledger entries, redemptions or"
        " tasks completed), streamed from the database; gzip-compressed if FILE ends in .gz",
    )
    export.add_argument("kind", choices=EXPORT_KINDS, help="which CSV")
    export.add_argument(
        "--from", dest="start", type=_day, required=True, metavar="YYYY-MM-DD", help="first day"
    )
    export.add_argument(
        "--to", dest="end", type=_day, required=True, metavar="YYYY-MM-DD", help="last day"
    )
    export.add_argument("file", type=Path, help="where to write it (.csv, or .csv.gz)")
    export.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    sandbox = commands.add_parser(
        "sandbox",
        help="run the whole mall on this machine with no token and no network: a local Bot API"
        " server, a chat page in the browser, a demo catalog",
    )
    sandbox.add_argument("--port", type=int, help="port of the page and server (default 8081)")
    sandbox.add_argument(
        "--framework",
        choices=FRAMEWORKS,
        help="the bot's framework: ptb (python-telegram-bot) or aiogram (default: [telegram]"
        " framework in the config, else ptb)",
    )
    return parser


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-11-30") from None


def _config_path(arg: str | None) -> Path | None:
    chosen = arg or os.environ.get("POINTSMALL_CONFIG")
    if chosen:
        return Path(chosen)
    default = Path(DEFAULT_CONFIG)
    return default if default.exists() else None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from bot.content import language_problems
    from bot.settings import load_config
    from core.config_errors import ConfigError

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every Bot API request at INFO, with the bot token in its URL: never that.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aiogram logs every update at INFO too; the bot's own line (bot.updates) says more.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    try:
        config = load_config(_config_path(args.config))
        # Texts in a language the bot has no catalog for would never be shown: a mistake.
        if problems := language_problems(config):
            raise ConfigError(problems)
    except ConfigError as exc:
        print(f"pointsmall: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    # A safety net: whatever reaches a log line with a secret in it shows it masked.
    redactor = redact.install(_secrets(config))
    try:
        return _command(args, config)
    except Exception as exc:
        line, code = _one_line(exc, config)
        if line is None:  # a bug: its traceback, but never the token
            text = "".join(traceback.format_exception(exc))
            print(redactor.redact(text), file=sys.stderr, end="")
            return 1
        print(f"pointsmall: {redactor.redact(line)}", file=sys.stderr)
        return code


def _command(args: argparse.Namespace, config: Config) -> int:
    if args.command == "migrate":
        return asyncio.run(_migrate(config))
    if args.command == "check":
        return _refuse_missing_store(config) or asyncio.run(_check(config, full=args.full))
    if args.command == "catalog":
        if not args.file.is_file():
            print(f"pointsmall: no catalog file at {args.file}", file=sys.stderr)
            return 2
        return _refuse_missing_store(config) or asyncio.run(_load_catalog(config, args.file))
    if args.command == "backup":
        return _backup(config, args.file, force=args.force)
    if args.command == "shop":
        return _refuse_missing_store(config) or asyncio.run(_shop(config, args))
    if args.command == "orders":
        if not args.file.is_file():
            print(f"pointsmall: no orders file at {args.file}", file=sys.stderr)
            return 2
        return _refuse_missing_store(config) or asyncio.run(_import_orders(config, args.file))
    if args.command == "run":
        from bot import serve

        if config.telegram.token is None:
            return asyncio.run(serve.run(config))  # it says where to put one
        return _refuse_missing_store(config) or asyncio.run(serve.run(config))
    if args.command == "export":
        return _refuse_missing_store(config) or _export_file(config, args)
    if args.command == "sandbox":
        from bot import serve

        return asyncio.run(serve.sandbox(config, args.port, args.framework))
    raise AssertionError(args.command)


def _secrets(config: Config) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if config.telegram.token is not None:
        token = config.telegram.token.get_secret_value()
        found.append((token, redact.mask(token)))
        found.append((token.partition(":")[2], redact.mask(token)))  # the part after the bot id
    for secret in (config.telegram.webhook_secret, config.database.password):
        if secret is not None:
            found.append((secret.get_secret_value(), "***"))
    return found


def _refuse_missing_store(config: Config) -> int:
    """2, with one line, if the SQLite file is not there (only ``migrate`` creates it), or 0."""
    from core.db.database import sqlite_path

    path = sqlite_path(config.database.effective_url())
    if path is None or path.exists():
        return 0
    print(
        f"pointsmall: no database file at {path}: `pointsmall migrate` creates it"
        " (or point [database] url, or POINTSMALL_DATABASE_URL, at the mall's file)",
        file=sys.stderr,
    )
    return 2


def _one_line(exc: BaseException, config: Config) -> tuple[str | None, int]:
    """What to tell the operator about ``exc`` and the exit status; None for a bug."""
    from core.db.database import DatabaseUnreachable, StoreLost

    for found in _leaves(exc):
        if isinstance(found, DatabaseUnreachable):
            return str(found), 2
        if isinstance(found, StoreLost):
            return str(found), 1
        if redact.rejected_token(found):
            # Never str() of a framework's error: python-telegram-bot's quotes the whole token.
            token = config.telegram.token
            if isinstance(found, redact.TokenRejected):
                return str(found), 2
            if token is None:
                return "the Bot API server refused the bot token", 2
            return str(
                redact.TokenRejected(token.get_secret_value(), config.telegram.api_server)
            ), 2
        if redact.network_failure(found):
            if isinstance(found, redact.TelegramUnreachable):
                return str(found), 1
            reason = (str(found).strip() or type(found).__name__).splitlines()[0]
            host = redact.api_host(config.telegram.api_server)
            return f"cannot reach the Bot API server at {host} ({reason})", 1
    return None, 1


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the exceptions inside it if it is a group, and their causes."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
        return
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is s for s in seen):
        seen.append(current)
        yield current
        current = current.__cause__ or current.__context__


def _backup(config: Config, target: Path, *, force: bool) -> int:
    from core.db.backup import BackupRefused, backup_sqlite

    url = config.database.effective_url()
    try:
        report = backup_sqlite(url, target, force=force)
    except BackupRefused as refused:
        print(f"pointsmall: {refused}", file=sys.stderr)
        return 2
    print(
        f"copied {report.source} to {report.target}: {report.pages} pages,"
        f" {report.size / 1_000_000:.1f} MB in {report.seconds:.1f} s"
    )
    return 0


async def _open(config: Config) -> Database:
    """The database, reached: :class:`DatabaseUnreachable` (one line) if it cannot be."""
    from core.db.database import Database

    db = Database.from_url(config.database.effective_url())
    try:
        await db.ping()
    except BaseException:
        await db.dispose()
        raise
    return db


async def _migrate(config: Config) -> int:
    from core.db.migrate import current_revision, upgrade
    from core.rewards.star_refunds import StarRefunds

    db = await _open(config)
    try:
        before = await current_revision(db)
        await upgrade(db)
        after = await current_revision(db)
        # Paid redemptions ended before Stars refunds existed are owed theirs (a no-op after).
        owed = await StarRefunds(db, config).record_unrefunded(datetime.now(UTC))
    finally:
        await db.dispose()
    if before == after:
        print(f"schema is up to date (revision {after})")
    else:
        print(f"schema upgraded from {before or 'empty'} to {after}")
    if owed:
        print(f"{owed} Stars payments of cancelled or rejected redemptions are to be refunded")
    return 0


async def _schema_is_current(db: Database) -> bool:
    from core.db.migrate import current_revision, head_revision

    revision = await current_revision(db)
    if revision == head_revision():
        return True
    print(
        f"schema is at revision {revision or 'empty'}, this code expects"
        f" {head_revision()}: run `pointsmall migrate` first",
        file=sys.stderr,
    )
    return False


async def _check(config: Config, *, full: bool) -> int:
    from core.points.invariants import check_ledger

    db = await _open(config)
    try:
        if not await _schema_is_current(db):
            return 2
        report = await check_ledger(db, full=full)
    finally:
        await db.dispose()
    print(format_report(report))
    return 0 if report.ok else 1


async def _shop(config: Config, args: argparse.Namespace) -> int:
    from core.errors import UnknownApiKey
    from core.mall import Mall

    db = await _open(config)
    try:
        if not await _schema_is_current(db):
            return 2
        keys = Mall.build(db, config).shop_keys
        now = datetime.now(UTC)
        if args.key_command == "create":
            created = await keys.create_key(args.name, now)
            if args.json:
                print(json.dumps({"key_id": created.key_id, "secret": created.secret}))
            else:
                print(f"key id: {created.key_id}\nsecret: {created.secret}")
                print("The secret is shown this once: put it in the shop's settings now.")
        elif args.key_command == "list":
            for view in await keys.list_keys():
                used = (
                    view.last_used_at.isoformat(timespec="minutes")
                    if view.last_used_at
                    else "never"
                )
                state = (
                    f"revoked {view.revoked_at.isoformat(timespec='minutes')}"
                    if view.revoked_at
                    else "active"
                )
                print(
                    f"{view.key_id}  {view.name!r}  created"
                    f" {view.created_at.isoformat(timespec='minutes')}  last used {used}  {state}"
                )
        else:
            try:
                await keys.revoke_key(args.key_id, now)
            except UnknownApiKey:
                print(f"pointsmall: no API key {args.key_id!r}", file=sys.stderr)
                return 1
            print(f"revoked {args.key_id}: requests with it are refused from now on")
        return 0
    finally:
        await db.dispose()


async def _import_orders(config: Config, path: Path) -> int:
    from core.mall import Mall
    from core.reporting.audit import OPERATOR_ACTOR

    db = await _open(config)
    try:
        if not await _schema_is_current(db):
            return 2
        text = await asyncio.to_thread(path.read_text, encoding="utf-8-sig")
        # Audited as the operator's, as a catalog load is.
        report = await Mall.build(db, config).shop.import_orders_csv(
            text, datetime.now(UTC), actor_id=OPERATOR_ACTOR, filename=path.name
        )
    finally:
        await db.dispose()
    if not report.ok:
        print(f"pointsmall: {path} was not imported, nothing changed:", file=sys.stderr)
        for problem in report.problems:
            print(f"  line {problem.line}: {problem.message}", file=sys.stderr)
        return 1
    print(f"orders: {report.rows} read, {report.credited} credited, {report.parked} parked")
    return 0


async def _load_catalog(config: Config, path: Path) -> int:
    from bot.content import SPOKEN
    from core.reporting.audit import OPERATOR_ACTOR
    from core.rewards.catalog_file import CatalogError, load_catalog

    db = await _open(config)
    try:
        if not await _schema_is_current(db):
            return 2
        # Audited as the operator's (who is at the shell is not known to the mall).
        report = await load_catalog(
            db, config, path, datetime.now(UTC), languages=SPOKEN, actor_id=OPERATOR_ACTOR
        )
    except CatalogError as error:
        print(f"pointsmall: {path} was not loaded, nothing changed:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(
        f"items: {report.items_created} created, {report.items_updated} updated,"
        f" {report.items_unchanged} unchanged; coupon codes added: {report.codes_added};"
        f" boxes: {report.boxes_created} created, {report.boxes_updated} updated,"
        f" {report.boxes_unchanged} unchanged"
    )
    if report.warnings:
        # The file loaded all the same; these are box prizes no member can win as things stand.
        print(f"pointsmall: {len(report.warnings)} warning(s) about {path}:", file=sys.stderr)
        for warning in report.warnings:
            print(f"  {warning}", file=sys.stderr)
    return 0


def _export_file(config: Config, args: argparse.Namespace) -> int:
    """One CSV into a temporary file beside FILE, renamed to FILE once whole."""
    target: Path = args.file
    if target.exists() and not args.force:
        print(f"pointsmall: {target} exists: pass --force to overwrite it", file=sys.stderr)
        return 2
    if not target.parent.is_dir():
        print(f"pointsmall: no directory {target.parent}", file=sys.stderr)
        return 2
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            code = asyncio.run(_export(config, args, out))
        if code == 0:
            partial.replace(target)
        return code
    finally:
        partial.unlink(missing_ok=True)


async def _export(config: Config, args: argparse.Namespace, out: IO[bytes]) -> int:
    from core.errors import InvalidInput
    from core.mall import Mall

    db = await _open(config)
    try:
        if not await _schema_is_current(db):
            return 2
        rows = await Mall.build(db, config).exports.write_csv(
            args.kind,
            args.start,
            args.end,
            out,
            compress=args.file.suffix == ".gz",
            max_days=None,
        )
    except InvalidInput as error:
        print(f"pointsmall: {error}", file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    print(f"{args.kind}: {rows} rows from {args.start} to {args.end} written to {args.file}")
    return 0


def format_report(report: LedgerReport) -> str:
    """The check's findings as an admin reads them."""
    scope = (
        "the whole ledger"
        if report.full
        else f"transfers after #{report.since} (the last checkpoint; --full reads everything)"
    )
    lines = [
        f"members: {report.members}  transfers: {report.transfers}"
        f"  outstanding points: {report.outstanding_points}",
        f"checked: {scope}",
    ]
    failed = {violation.check: violation for violation in report.violations}
    for name in report.checks:
        violation = failed.get(name)
        if violation is None:
            lines.append(f"  ok    {name}")
            continue
        lines.append(f"  FAIL  {name}: {violation.promise}")
        for sample in violation.samples:
            lines.append(f"          {sample}")
    lines.append("ledger is consistent" if report.ok else f"{len(failed)} check(s) failed")
    if report.stale_checkpoint:
        lines.append("the checkpoint disagreed with the transfers before it (edited?)")
    if report.checkpoint is not None:
        lines.append(f"checkpoint written at transfer #{report.checkpoint}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
