"""Configuration: wrong values stop snip with a message that names the variable."""

from __future__ import annotations

import subprocess

import pytest

from snip.config import ConfigError, load_settings
from tests.support import servers


def test_defaults_are_the_embedded_mode():
    settings = load_settings({})
    assert settings.database_url == "sqlite:///snip.db"
    assert settings.redis_url is None
    assert settings.default_redirect_status == 302
    assert settings.allow_anonymous_create is False


def test_postgres_urls_get_the_psycopg_driver():
    assert (
        load_settings({"DATABASE_URL": "postgres://u:p@db/snip"}).database_url
        == "postgresql+psycopg://u:p@db/snip"
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SNIP_ENV": "staging"}, "SNIP_ENV"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"SNIP_BASE_URL": "sn.ip"}, "SNIP_BASE_URL"),
        ({"SNIP_DEFAULT_REDIRECT_STATUS": "303"}, "SNIP_DEFAULT_REDIRECT_STATUS"),
        ({"SNIP_DEFAULT_REDIRECT_STATUS": "three"}, "SNIP_DEFAULT_REDIRECT_STATUS"),
        ({"SNIP_ALLOW_ANONYMOUS_CREATE": "maybe"}, "SNIP_ALLOW_ANONYMOUS_CREATE"),
        ({"SNIP_RATE_LIMIT_WRITES": "lots"}, "SNIP_RATE_LIMIT_WRITES"),
        ({"SNIP_CACHE_TTL_SECONDS": "0"}, "SNIP_CACHE_TTL_SECONDS"),
        ({"SNIP_LOCAL_CACHE_TTL_SECONDS": "-1"}, "SNIP_LOCAL_CACHE_TTL_SECONDS"),
        ({"SNIP_NEGATIVE_CACHE_TTL_SECONDS": "x"}, "SNIP_NEGATIVE_CACHE_TTL_SECONDS"),
        ({"SNIP_TRUSTED_PROXIES": "-2"}, "SNIP_TRUSTED_PROXIES"),
        ({"SNIP_LOG_LEVEL": "LOUD"}, "SNIP_LOG_LEVEL"),
        ({"SNIP_RATE_LIMIT_WRITES": "0 per minute"}, "SNIP_RATE_LIMIT_WRITES"),
        ({"SNIP_RATE_LIMIT_WRITES": "10/hour;0/day"}, "SNIP_RATE_LIMIT_WRITES"),
        ({"SNIP_LOCAL_CACHE_TTL_SECONDS": "inf"}, "SNIP_LOCAL_CACHE_TTL_SECONDS"),
        ({"SNIP_LOCAL_CACHE_TTL_SECONDS": "nan"}, "SNIP_LOCAL_CACHE_TTL_SECONDS"),
        ({"SNIP_CLICK_LOG_DIR": "relative/clicks"}, "SNIP_CLICK_LOG_DIR"),
        ({"SNIP_GEOIP_MMDB": "/nonexistent.mmdb"}, "SNIP_GEOIP_MMDB"),
        ({"SNIP_STATS_HOURLY_RETENTION_DAYS": "1"}, "SNIP_STATS_HOURLY_RETENTION_DAYS"),
        ({"SNIP_BLOCKED_HOSTS": "ok.example,bad..host"}, "SNIP_BLOCKED_HOSTS"),
        ({"REDIS_URL": "unix:///run/redis.sock"}, "REDIS_URL"),
    ],
)
def test_a_wrong_value_names_its_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        load_settings(env)


PRODUCTION = {
    "SNIP_ENV": "production",
    "SNIP_BASE_URL": "https://s.example",
    "DATABASE_URL": "postgresql://u:secret@db/snip",
    "REDIS_URL": "redis://:secret@r:6379/0",
}


def test_production_accepts_a_complete_configuration():
    assert load_settings(PRODUCTION).production


@pytest.mark.parametrize(
    "change",
    [
        # loopback is reachable from this machine only: plain http and trust auth are fine
        {"SNIP_BASE_URL": "http://127.0.0.1:8000"},
        {"SNIP_BASE_URL": "http://localhost:8000"},
        {"SNIP_BASE_URL": "http://snip.localhost"},
        {"SNIP_BASE_URL": "http://[::1]:8000"},
        {"DATABASE_URL": "postgresql://snip@127.0.0.1:5432/snip"},
        {"DATABASE_URL": "postgresql:///snip?host=/var/run/postgresql"},
        # the password may come from libpq's environment instead of the URL
        {"DATABASE_URL": "postgresql://snip@db:5432/snip", "PGPASSWORD": "s3cret"},
        {"DATABASE_URL": "postgresql://snip@db/snip?sslcert=/etc/snip/client.crt"},
        {"REDIS_URL": "redis://127.0.0.1:6379/0"},
    ],
)
def test_production_allows_what_only_this_machine_can_reach(change):
    assert load_settings({**PRODUCTION, **change}).production


def test_several_write_limits_are_accepted():
    # issue 12: the documented Flask-Limiter syntax, several limits at once
    assert load_settings({"SNIP_RATE_LIMIT_WRITES": "10/hour;100/day"}).rate_limit_writes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is required"),
        ({"REDIS_URL": ""}, "REDIS_URL is required"),
        ({"SNIP_BASE_URL": ""}, "SNIP_BASE_URL is required"),
        ({"DATABASE_URL": "postgresql://u:CHANGE_ME@db/snip"}, "placeholder"),
        ({"REDIS_URL": "redis://:changeme@r:6379/0"}, "placeholder"),
        # issue 13: weak settings production used to accept
        (
            {"DATABASE_URL": "postgresql://snip:PASSWORD@127.0.0.1:5432/snip"},
            "DATABASE_URL .*placeholder",
        ),
        ({"DATABASE_URL": "postgresql://snip@db:5432/snip"}, "DATABASE_URL has no password"),
        ({"DATABASE_URL": "postgresql://snip:@db:5432/snip"}, "DATABASE_URL has no password"),
        ({"DATABASE_URL": "sqlite:////var/lib/snip/snip.db"}, "DATABASE_URL must be PostgreSQL"),
        ({"REDIS_URL": "redis://r:6379/0"}, "REDIS_URL has no password"),
        ({"SNIP_BASE_URL": "http://s.example"}, "SNIP_BASE_URL must be https://"),
        ({"SNIP_BASE_URL": "http://127.0.0.1.nip.io"}, "SNIP_BASE_URL must be https://"),
        ({"SNIP_BASE_URL": "http://localhost.evil.example"}, "SNIP_BASE_URL must be https://"),
    ],
)
def test_production_refuses_missing_placeholder_or_weak_settings(change, message):
    with pytest.raises(ConfigError, match=message):
        load_settings({**PRODUCTION, **change})


def start_gunicorn(**env: str) -> subprocess.CompletedProcess[str]:
    """Start snip's gunicorn with a bad setting; it must exit on its own."""
    return subprocess.run(
        [
            str(servers.VENV_BIN / "gunicorn"),
            "-c",
            "python:snip.gunicorn_conf",
            "snip:create_app()",
        ],
        env=servers.snip_env(PORT=str(servers.free_port()), **env),
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_gunicorn_refuses_to_start_and_names_the_variable():
    result = start_gunicorn(SNIP_DEFAULT_REDIRECT_STATUS="303")
    assert result.returncode != 0
    assert "SNIP_DEFAULT_REDIRECT_STATUS must be one of 301, 302, 307, 308" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SNIP_BASE_URL": "http://s.example"}, "SNIP_BASE_URL must be https://"),
        ({"DATABASE_URL": "postgresql://snip:PASSWORD@db/snip"}, "DATABASE_URL still holds"),
    ],
)
def test_gunicorn_refuses_weak_production_settings(change, message):
    result = start_gunicorn(**{**PRODUCTION, **change})
    assert result.returncode != 0
    assert message in result.stderr


def test_gunicorn_names_a_bad_worker_count():
    # (A non-number is refused by gunicorn itself, before snip's config runs.)
    result = start_gunicorn(WEB_CONCURRENCY="0")
    assert result.returncode != 0
    assert "WEB_CONCURRENCY must be between 1 and 64" in result.stderr


def test_cli_refuses_to_start_and_names_the_variable():
    result = servers.run_snip_cli(
        "keys", "list", env=servers.snip_env(SNIP_ENV="prod"), check=False
    )
    assert result.returncode == 2
    assert "SNIP_ENV must be development or production" in result.stderr
