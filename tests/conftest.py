"""Fixtures: a mall on each database, built from a config a test can adjust."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.config import Config
from core.db.database import Database
from core.mall import Mall
from tests.support.configs import make_config
from tests.support.databases import (
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    PostgresDatabase,
    SqliteTemplate,
    postgres_unavailable_reason,
)

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    reason = postgres_unavailable_reason()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required here: {reason}", pytrace=False)
        pytest.skip(reason)
    database = PostgresDatabase(POSTGRES_URL)
    yield database
    database.drop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """An empty, migrated database on ``backend`` for this test."""
    if backend == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        yield template.copy_url(tmp_path)
    else:
        postgres: PostgresDatabase = request.getfixturevalue("postgres_database")
        await postgres.empty()
        yield postgres.url


MallFactory = Callable[..., Awaitable[Mall]]


@pytest.fixture
async def make_mall(database_url: str) -> AsyncIterator[MallFactory]:
    """Build malls on this test's database; ``await make_mall(config)`` or with defaults."""
    built: list[Database] = []

    async def build(config: Config | None = None) -> Mall:
        db = Database.from_url(database_url, pool_size=20)
        built.append(db)
        return Mall.build(db, config or make_config())

    yield build
    for db in built:
        await db.dispose()


@pytest.fixture
async def mall(make_mall: MallFactory) -> Mall:
    return await make_mall()


def at(text: str) -> datetime:
    """An instant on the test mall's clock (Asia/Shanghai): ``at("2026-03-01 09:00")``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
