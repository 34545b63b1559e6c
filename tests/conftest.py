"""Fixtures every part of the suite shares: real PostgreSQL and Redis servers.

PostgreSQL: the machine's server when it answers (SNIP_TEST_POSTGRES_ADMIN_URL,
default postgresql://postgres@127.0.0.1:5432/postgres), else a throwaway cluster.
Each test session works in its own freshly created database and drops it at the end,
so no data outside it is ever touched.

Redis: always a private redis-server on a free port, so tests may flush, stop or
break it without disturbing the machine's shared Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import servers


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL for a PostgreSQL server the tests may create databases on."""
    if servers.postgres_answers(servers.SHARED_POSTGRES_ADMIN_URL):
        yield servers.SHARED_POSTGRES_ADMIN_URL
        return
    try:
        cluster = servers.PostgresCluster(tmp_path_factory.mktemp("pg")).init().start()
    except servers.MissingServer as exc:
        pytest.exit(
            f"No PostgreSQL answers at {servers.SHARED_POSTGRES_ADMIN_URL} and none can be "
            f"started: {exc}. Or point SNIP_TEST_POSTGRES_ADMIN_URL at a server.",
            returncode=3,
        )
    with servers.running(cluster):
        yield cluster.admin_url


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """An empty database that exists for this test session only."""
    url = servers.create_database(postgres_admin_url)
    yield url
    servers.drop_database(postgres_admin_url, url)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[servers.RedisServer]:
    """A private Redis for the session; tests get it flushed via ``redis_url``."""
    try:
        server = servers.RedisServer(tmp_path_factory.mktemp("redis")).start()
    except servers.MissingServer as exc:
        pytest.exit(str(exc), returncode=3)
    with servers.running(server):
        yield server


@pytest.fixture
def redis_url(redis_server: servers.RedisServer) -> str:
    """The session's private Redis, emptied before the test."""
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def throwaway_redis(tmp_path: Path) -> Iterator[servers.RedisServer]:
    """A Redis of this test's own, for tests that stop or break it."""
    server = servers.RedisServer(tmp_path / "redis").start()
    with servers.running(server):
        yield server
