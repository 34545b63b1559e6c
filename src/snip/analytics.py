"""What snip learns about a click, without keeping anything that identifies a visitor.

- **country**: looked up on the request thread (a few microseconds, measured in
  bench/README.md) so the address itself is never written anywhere: only the
  two-letter code goes to the click log. The data is the one ``geoip2fast`` ships
  (MaxMind GeoLite2 country data), or an operator's MaxMind ``.mmdb`` file read
  with ``maxminddb`` (``SNIP_GEOIP_MMDB``).
- **browser, OS, device type, bot**: parsed from the user-agent by the shipper
  thread, off the request path (an uncached parse costs ~20 microseconds), through
  ``ua-parser`` (uap-core rules, with its Rust accelerator). Only the families are
  stored, never the user-agent string.
- **referrer host**: the host only, never the path or query of the referring page.

A request with ``DNT: 1`` or ``Sec-GPC: 1`` is counted (totals stay right) but no
dimension is recorded for it: its country, browser, OS, device and referrer are
stored as "" (shown as unknown).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from snip.net import BOT_PATTERN

log = logging.getLogger("snip.analytics")

DIMENSIONS = ("country", "browser", "os", "device", "referrer")
DEVICE_TYPES = ("desktop", "mobile", "tablet", "bot", "other")
MAX_VALUE = 255  # column width of a dimension value
DESKTOP_OS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Chrome OS", "FreeBSD", "Debian"}
MOBILE_OS = {"iOS", "Android", "Windows Phone", "KaiOS", "HarmonyOS"}


class CountryLookup:
    """IP address → ISO 3166 two-letter country code, or "" when unknown or private."""

    def __init__(self, mmdb_path: Path | None = None) -> None:
        self.mmdb_path = mmdb_path
        self.source = ""
        self._mmdb: Any = None
        self._fast: Any = None

    def warm(self) -> None:
        """Load the data (~0.15 s, ~45 MB): at worker boot, not in CLI commands."""
        if self._mmdb is not None or self._fast is not None:
            return
        if self.mmdb_path is not None:
            import maxminddb

            self._mmdb = maxminddb.open_database(str(self.mmdb_path))
            self.source = f"mmdb {self.mmdb_path} ({self._mmdb.metadata().database_type})"
        else:
            from geoip2fast import GeoIP2Fast

            self._fast = GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz", verbose=False)
            self.source = "geoip2fast " + self._fast.get_database_info()["source_info"]
        log.info("country data: %s", self.source)

    def country(self, address: str | None) -> str:
        if not address:
            return ""
        if self._mmdb is None and self._fast is None:
            self.warm()
        try:
            if self._mmdb is not None:
                record = self._mmdb.get(address)
                code = str(((record or {}).get("country") or {}).get("iso_code") or "")
            else:
                code = str(self._fast.lookup(address).country_code)
        except ValueError:  # not an IP address
            return ""
        # geoip2fast answers "--" for private and unknown ranges.
        return code if len(code) == 2 and code.isalpha() else ""


@dataclass(frozen=True)
class Agent:
    bot: bool
    browser: str
    os: str
    device: str


@lru_cache(maxsize=20_000)
def classify(user_agent: str) -> Agent:
    """Browser family, OS family, device type and bot flag of a user-agent (cached:
    real traffic repeats a few thousand agents, so most clicks cost a dict lookup)."""
    import ua_parser

    if not user_agent:
        return Agent(True, "", "", "bot")  # scripts send none; browsers always do
    parsed = ua_parser.parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    device = parsed.device
    bot = bool(BOT_PATTERN.search(user_agent)) or (device is not None and device.family == "Spider")
    if bot:
        device_type = "bot"
    elif device is not None and (
        "Tablet" in (device.brand or "") or device.family in {"iPad", "Kindle"}
    ):
        device_type = "tablet"
    elif os_family in MOBILE_OS or "Mobile" in user_agent:
        device_type = "mobile"
    elif os_family in DESKTOP_OS:
        device_type = "desktop"
    else:
        device_type = "other"
    return Agent(bot, browser[:MAX_VALUE], os_family[:MAX_VALUE], device_type)


def referrer_host(referrer: str | None) -> str:
    """The referring host, lower-cased and bounded; '' for direct visits."""
    if not referrer:
        return ""
    try:
        host = urlsplit(referrer).hostname or ""
    except ValueError:
        return ""
    return host.lower()[:MAX_VALUE]


def opted_out(dnt: str | None, gpc: str | None) -> bool:
    """DNT: 1 or Sec-GPC: 1 — the visitor asked not to be tracked."""
    return (dnt or "").strip() == "1" or (gpc or "").strip() == "1"
