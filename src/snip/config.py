"""Settings read from environment variables, validated once at start-up.

Every variable is listed in docs/interfaces.md and .env.example. A wrong value
stops the process with a message naming the variable, so a typo in a ConfigMap
shows up as a crash-looping pod with a clear log line, not as odd behaviour later.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from limits import parse_many

from snip.validation import canonical_host

REDIRECT_STATUSES = (301, 302, 307, 308)
# Values shipped as examples (.env.example, k8s/security/secrets.yaml, docs), never secrets.
PLACEHOLDER = re.compile(
    r"change[_-]?me|changethis|placeholder|^(your[_-]?)?password$|^<.*>$", re.IGNORECASE
)


def is_loopback(host: str | None) -> bool:
    """localhost, *.localhost (RFC 6761), 127.0.0.0/8 or ::1: reachable from this machine only."""
    host = (host or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: str
    database_url: str
    redis_url: str | None
    base_url: str
    default_redirect_status: int
    allow_anonymous_create: bool
    rate_limit_writes: str
    cache_ttl_seconds: int
    local_cache_ttl_seconds: float
    negative_cache_ttl_seconds: int
    click_log_dir: Path
    geoip_mmdb: Path | None
    stats_hourly_retention_days: int
    blocked_hosts: tuple[str, ...]
    trusted_proxies: int
    log_level: str
    max_body_bytes: int = 64 * 1024
    # Signs session cookies; None in development means "keep one in instance/secret_key".
    secret_key: str | None = None
    # Where visitors go instead of the 404/410 page, when the operator sets them.
    fallback_url_unknown: str | None = None
    fallback_url_expired: str | None = None

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def base_host(self) -> str:
        return (urlsplit(self.base_url).hostname or "").lower()


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false (got {raw!r})")


def number(
    env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float, cast=int
):
    """A numeric variable within [minimum, maximum], or ConfigError naming it."""
    raw = env.get(name, "").strip()
    if not raw:
        return cast(default)
    try:
        value = cast(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r})") from None
    if not minimum <= value <= maximum:  # also refuses nan
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g} (got {raw!r})")
    return value


def _database_url(env: Mapping[str, str], production: bool) -> str:
    raw = env.get("DATABASE_URL", "").strip()
    if not raw:
        if production:
            raise ConfigError("DATABASE_URL is required when SNIP_ENV=production")
        return "sqlite:///snip.db"  # relative: Flask-SQLAlchemy puts it in instance/
    scheme = raw.split(":", 1)[0]
    # SQLAlchemy needs the driver named; accept the common libpq spelling too.
    if scheme in {"postgres", "postgresql"}:
        raw = "postgresql+psycopg" + raw[len(scheme) :]
    elif not (scheme.startswith("postgresql+") or scheme.startswith("sqlite")):
        raise ConfigError(
            f"DATABASE_URL must start with postgresql:// or sqlite:// (got scheme {scheme!r})"
        )
    if production:
        _production_database(raw, env)
    return raw


def _production_database(url: str, env: Mapping[str, str]) -> None:
    """PostgreSQL with a real password (or a server only this machine can reach)."""
    parts = urlsplit(url)
    if parts.scheme.startswith("sqlite"):
        raise ConfigError(
            "DATABASE_URL must be PostgreSQL when SNIP_ENV=production "
            "(SQLite is the one-machine embedded mode)"
        )
    query = parse_qs(parts.query)
    password = (
        parts.password or next(iter(query.get("password", [])), "") or env.get("PGPASSWORD", "")
    )
    if PLACEHOLDER.search(password):
        raise ConfigError("DATABASE_URL still holds a placeholder password; set a real secret")
    # No password is only fine where nobody else can connect: a loopback address, a Unix
    # socket (host in the query, or none at all), or a client certificate.
    socket = not parts.hostname or any(h.startswith("/") for h in query.get("host", []))
    if not password and not (socket or is_loopback(parts.hostname) or "sslcert" in query):
        raise ConfigError(
            f"DATABASE_URL has no password for host {parts.hostname!r} "
            "(set one, or use PGPASSWORD); SNIP_ENV=production refuses an unauthenticated database"
        )


def _redis_url(env: Mapping[str, str], production: bool) -> str | None:
    raw = env.get("REDIS_URL", "").strip()
    if not raw:
        if production:
            raise ConfigError(
                "REDIS_URL is required when SNIP_ENV=production "
                "(several replicas must share cache, clicks and rate limits)"
            )
        return None
    if not raw.startswith(("redis://", "rediss://")):
        raise ConfigError(f"REDIS_URL must start with redis:// or rediss:// (got {raw!r})")
    parts = urlsplit(raw)
    if production and PLACEHOLDER.search(parts.password or ""):
        raise ConfigError("REDIS_URL still holds a placeholder password; set a real secret")
    if production and not parts.password and not is_loopback(parts.hostname):
        # Whoever can write to this Redis can point any cached short link anywhere.
        raise ConfigError(
            f"REDIS_URL has no password for host {parts.hostname!r}; "
            "SNIP_ENV=production refuses an unauthenticated Redis (redis://:PASSWORD@host)"
        )
    return raw


def _rate_limit(env: Mapping[str, str]) -> str:
    """One or more limits, e.g. '60 per minute' or '10/hour;100/day' (limits' syntax)."""
    raw = env.get("SNIP_RATE_LIMIT_WRITES", "60 per minute").strip()
    try:
        limits = parse_many(raw)
    except ValueError:
        limits = []
    if not limits or any(item.amount < 1 for item in limits):
        raise ConfigError(
            "SNIP_RATE_LIMIT_WRITES must be one or more limits like '60 per minute' or "
            f"'10/hour;100/day', each allowing at least 1 (got {raw!r})"
        )
    return raw


MIN_SECRET_KEY_LENGTH = 32


def _secret_key(env: Mapping[str, str]) -> str | None:
    raw = env.get("SNIP_SECRET_KEY", "").strip()
    if not raw:
        return None
    if len(raw) < MIN_SECRET_KEY_LENGTH or PLACEHOLDER.search(raw):
        raise ConfigError(
            f"SNIP_SECRET_KEY must be a random value of at least {MIN_SECRET_KEY_LENGTH} characters"
        )
    return raw


def _fallback_url(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{name} must be an http(s) URL with a host (got {raw!r})")
    return raw


def _click_log_dir(env: Mapping[str, str]) -> Path:
    raw = env.get("SNIP_CLICK_LOG_DIR", "").strip()
    path = Path(raw) if raw else Path.cwd() / "instance" / "clicks"
    if not path.is_absolute():
        raise ConfigError(f"SNIP_CLICK_LOG_DIR must be an absolute path (got {raw!r})")
    return path


def _geoip_mmdb(env: Mapping[str, str]) -> Path | None:
    raw = env.get("SNIP_GEOIP_MMDB", "").strip()
    if not raw:
        return None
    if not Path(raw).is_file():
        raise ConfigError(f"SNIP_GEOIP_MMDB must name a readable .mmdb file (got {raw!r})")
    return Path(raw)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from the environment, or raise ConfigError naming the variable."""
    env = os.environ if env is None else env
    mode = env.get("SNIP_ENV", "development").strip().lower() or "development"
    if mode not in {"development", "production"}:
        raise ConfigError(f"SNIP_ENV must be development or production (got {mode!r})")
    production = mode == "production"

    if production and not env.get("SNIP_BASE_URL", "").strip():
        raise ConfigError(
            "SNIP_BASE_URL is required when SNIP_ENV=production (the public URL of snip)"
        )
    base_url = env.get("SNIP_BASE_URL", "http://127.0.0.1:8000").strip().rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"SNIP_BASE_URL must be an http(s) URL with a host (got {base_url!r})")
    if production and parts.scheme == "http" and not is_loopback(parts.hostname):
        # Short links travel in emails and QR codes: over http anyone on the path can
        # rewrite where they lead. Plain http is only for a loopback address.
        raise ConfigError(
            f"SNIP_BASE_URL must be https:// when SNIP_ENV=production (got {base_url!r}); "
            "http:// is allowed only for localhost, *.localhost and loopback addresses"
        )

    status = number(env, "SNIP_DEFAULT_REDIRECT_STATUS", 302, 0, 999)
    if status not in REDIRECT_STATUSES:
        raise ConfigError(
            f"SNIP_DEFAULT_REDIRECT_STATUS must be one of 301, 302, 307, 308 (got {status})"
        )

    rate = _rate_limit(env)

    level = env.get("SNIP_LOG_LEVEL", "INFO").strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(
            f"SNIP_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL (got {level!r})"
        )

    blocked = tuple(
        h.strip().lower() for h in env.get("SNIP_BLOCKED_HOSTS", "").split(",") if h.strip()
    )
    for host in blocked:
        if canonical_host(host) is None:
            raise ConfigError(f"SNIP_BLOCKED_HOSTS has an invalid host name: {host!r}")
    return Settings(
        env=mode,
        database_url=_database_url(env, production),
        redis_url=_redis_url(env, production),
        base_url=base_url,
        default_redirect_status=status,
        allow_anonymous_create=_bool(env, "SNIP_ALLOW_ANONYMOUS_CREATE", False),
        rate_limit_writes=rate,
        cache_ttl_seconds=number(env, "SNIP_CACHE_TTL_SECONDS", 300, 1, 86400),
        # The local TTL is how late a change reaches every worker: keep it short.
        local_cache_ttl_seconds=number(env, "SNIP_LOCAL_CACHE_TTL_SECONDS", 2, 0, 60, cast=float),
        negative_cache_ttl_seconds=number(env, "SNIP_NEGATIVE_CACHE_TTL_SECONDS", 30, 1, 86400),
        click_log_dir=_click_log_dir(env),
        geoip_mmdb=_geoip_mmdb(env),
        stats_hourly_retention_days=number(env, "SNIP_STATS_HOURLY_RETENTION_DAYS", 90, 2, 3660),
        blocked_hosts=blocked,
        trusted_proxies=number(env, "SNIP_TRUSTED_PROXIES", 0, 0, 10),
        log_level=level,
        # Request bodies larger than this get 413 before being read (an API body is < 3 KiB).
        max_body_bytes=number(env, "SNIP_MAX_BODY_BYTES", 64 * 1024, 1024, 10 * 1024 * 1024),
        secret_key=_secret_key(env),
        fallback_url_unknown=_fallback_url(env, "SNIP_FALLBACK_URL_UNKNOWN"),
        fallback_url_expired=_fallback_url(env, "SNIP_FALLBACK_URL_EXPIRED"),
    )


def require_web_secret(settings: Settings) -> None:
    """The web server signs session cookies: production needs a real SNIP_SECRET_KEY.

    Only the web server asks (gunicorn_conf.py): the flusher, the purge job and
    the migrations never sign a cookie, so their containers need no such secret.
    """
    if settings.production and settings.secret_key is None:
        raise ConfigError(
            "SNIP_SECRET_KEY is required when SNIP_ENV=production (it signs session cookies; "
            "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )


def load_dotenv_file(path: Path | None = None) -> None:
    """Read a local .env (never overriding real environment variables).

    Set SNIP_DOTENV=0 to skip it; the test suite does, so a developer's .env
    cannot change what the tests see.
    """
    if os.environ.get("SNIP_DOTENV", "1") == "0":
        return
    from dotenv import load_dotenv

    load_dotenv(path or Path.cwd() / ".env", override=False)
