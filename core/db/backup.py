"""``pointsmall backup FILE``: a consistent copy of a live SQLite store.

SQLite's online backup API copies the database as of one read transaction: in WAL mode that
does not stop the bot writing meanwhile, and the copy has every committed transaction up to
that moment, none after it, and no half of one. The copy is written beside ``FILE`` and moved
into place when complete, so ``FILE`` is never a partial copy.

PostgreSQL has its own tools for this (``pg_dump``): :func:`pg_dump_command` says how.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from core.db.database import describe, sqlite_path


class BackupRefused(Exception):
    """Why no backup was taken, in one line."""


@dataclass(frozen=True)
class BackupReport:
    source: Path
    target: Path
    pages: int
    size: int
    seconds: float


def pg_dump_command(url: str, target: str = "FILE") -> str:
    """The ``pg_dump`` command line for the PostgreSQL database at ``url`` (no password)."""
    parsed = make_url(url)
    parts = ["pg_dump", "--format=custom", f"--file={target}"]
    if parsed.host:
        parts.append(f"--host={parsed.host}")
    if parsed.port:
        parts.append(f"--port={parsed.port}")
    if parsed.username:
        parts.append(f"--username={parsed.username}")
    parts.append(parsed.database or "")
    return " ".join(parts)


def backup_sqlite(url: str, target: Path, *, force: bool = False) -> BackupReport:
    """Copy the SQLite store at ``url`` to ``target``, consistently, while it may be in use.

    Raises :class:`BackupRefused` for a PostgreSQL URL, a store file that does not exist, a
    ``target`` that exists (unless ``force``) or that is the store itself.
    """
    source = sqlite_path(url)
    if source is None:
        if make_url(url).get_backend_name() == "sqlite":
            raise BackupRefused("an in-memory database has nothing to back up")
        raise BackupRefused(
            f"backup copies a SQLite store; this mall is on PostgreSQL ({describe(url)}):"
            f" use pg_dump, e.g. {pg_dump_command(url, str(target))}"
        )
    if not source.is_file():
        raise BackupRefused(f"no database file at {source}: nothing to back up")
    target = Path(os.path.abspath(target))
    if target.exists() and not force:
        raise BackupRefused(f"{target} exists: pass --force to overwrite it")
    if target.exists() and os.path.samefile(target, source):
        raise BackupRefused(f"{target} is the database itself")
    if not target.parent.is_dir():
        raise BackupRefused(f"no directory {target.parent} to write the backup into")
    started = time.monotonic()
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        pages = _copy(source, partial)
        if force:
            os.replace(partial, target)
        else:
            try:
                os.link(partial, target)  # fails if someone made ``target`` meanwhile
            except FileExistsError:
                raise BackupRefused(f"{target} exists: pass --force to overwrite it") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(source, target, pages, target.stat().st_size, time.monotonic() - started)


def _copy(source: Path, target: Path) -> int:
    # mode=rw: never create an empty store where a missing one was meant.
    uri = f"file:{quote(str(source))}?mode=rw"
    with (
        closing(sqlite3.connect(uri, uri=True, timeout=30)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.execute("PRAGMA busy_timeout=30000")
        # One step (pages=-1): the whole copy in one read transaction, so one consistent state
        # even while the bot writes (WAL lets it; a stepwise copy would restart on each write).
        src.backup(dst, pages=-1)
        # A file of its own: no -wal beside it (the bot turns WAL back on when it opens it).
        dst.execute("PRAGMA journal_mode=DELETE")
        problems = [row[0] for row in dst.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise BackupRefused(f"the copy failed SQLite's quick_check: {problems[0]}")
        (pages,) = dst.execute("PRAGMA page_count").fetchone()
    return int(pages)
