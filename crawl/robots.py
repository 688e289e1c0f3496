"""robots.txt rules per host (protego), fetched once per fetcher and cached.

Following RFC 9309: a missing robots.txt (4xx) allows everything; one that
cannot be fetched (5xx, timeout, refused) disallows everything for now, since
the site may be struggling.  ``Crawl-delay`` and ``Sitemap:`` lines are kept.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from protego import Protego

ROBOTS_MAX_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """What one host's robots.txt says for our user agent."""

    rules: Protego | None
    """None when everything is allowed (no robots.txt)."""
    unreachable: str | None = None
    """Why robots.txt could not be read; everything is disallowed meanwhile."""

    def allows(self, url: str, user_agent: str) -> bool:
        if self.unreachable:
            return False
        return self.rules is None or bool(self.rules.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float:
        if self.rules is None:
            return 0.0
        delay = self.rules.crawl_delay(user_agent)
        return float(delay) if delay else 0.0

    @property
    def sitemaps(self) -> list[str]:
        return list(self.rules.sitemaps) if self.rules is not None else []


def parse_robots(status: int | None, body: bytes, problem: str | None = None) -> RobotsRules:
    """Rules from a robots.txt response (``status`` None: the request itself failed)."""
    if status is None or status >= 500 or status == 429:
        return RobotsRules(None, unreachable=problem or f"robots.txt answered HTTP {status}")
    if status >= 400:
        return RobotsRules(None)
    return RobotsRules(Protego.parse(body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")))


def robots_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


ROBOTS_TTL_SECONDS = 3600.0
_shared: dict[str, tuple[float, RobotsRules]] = {}
_shared_lock = threading.Lock()


class RobotsCache:
    """One robots.txt request per host: shared by concurrent requests, and by every fetcher of the
    process for an hour (fetch batches of a run ask once).  An unreachable robots.txt is not shared,
    so the next batch asks again."""

    def __init__(self, load: Callable[[str], Awaitable[RobotsRules]]) -> None:
        self._load = load
        self._rules: dict[str, asyncio.Task[RobotsRules]] = {}

    async def for_url(self, url: str) -> RobotsRules:
        key = robots_url(url)
        with _shared_lock:
            cached = _shared.get(key)
        if cached is not None and time.monotonic() - cached[0] < ROBOTS_TTL_SECONDS:
            return cached[1]
        if key not in self._rules:
            self._rules[key] = asyncio.ensure_future(self._load(key))
        rules = await self._rules[key]
        if rules.unreachable is None:
            with _shared_lock:
                _shared[key] = (time.monotonic(), rules)
        return rules
