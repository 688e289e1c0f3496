"""Async HTTP fetching with httpx: timeouts, redirects, concurrency caps, retries, size cap.

``fetch_all`` is what tasks call: it fetches a batch of URLs through one
client and returns, in input order, a ``FetchedPage`` or a ``Failure`` for
each URL.  A URL's failure never affects the others.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import httpx

from extractors.errors import (
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    NotHTML,
    ServerError,
    TooLarge,
    TooManyRedirects,
    TransientFetchError,
)
from extractors.records import Failure, FetchedPage
from flows.settings import Settings

Expect = Literal["html", "feed"]

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_FEED_TYPES = {
    "application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf+xml",
    "application/feed+json", "application/json", "text/plain",
}  # fmt: skip
_MAX_RETRY_AFTER = 120.0

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """The fetch-related part of the settings, as an immutable value."""

    user_agent: str
    timeout: float
    concurrency: int
    per_host_concurrency: int
    retries: int
    backoff: float
    max_redirects: int
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(
            user_agent=settings.user_agent,
            timeout=settings.timeout,
            concurrency=settings.concurrency,
            per_host_concurrency=settings.per_host_concurrency,
            retries=settings.retries,
            backoff=settings.backoff,
            max_redirects=settings.max_redirects,
            max_bytes=settings.max_bytes,
        )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _accepts(content_type: str, body_start: bytes, expect: Expect) -> bool:
    if expect == "html":
        if content_type in _HTML_TYPES:
            return True
        # a missing type is common on small sites: trust the body if it looks like HTML
        return not content_type and body_start.lstrip()[:1] == b"<"
    return content_type in _FEED_TYPES or content_type in _HTML_TYPES or not content_type


class Fetcher:
    """One httpx client with a global and a per-host concurrency cap."""

    def __init__(self, policy: FetchPolicy, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": policy.user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            },
            timeout=httpx.Timeout(policy.timeout),
            follow_redirects=True,
            max_redirects=policy.max_redirects,
            limits=httpx.Limits(max_connections=policy.concurrency, max_keepalive_connections=policy.concurrency),
            transport=transport,
        )
        self._global = asyncio.Semaphore(policy.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = urlsplit(url).netloc.lower()
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.policy.per_host_concurrency)
        return self._hosts[host]

    async def _attempt(self, url: str, expect: Expect) -> FetchedPage:
        try:
            async with self._client.stream("GET", url) as response:
                status = response.status_code
                if status == 429 or status >= 500:
                    raise ServerError(url, f"HTTP {status}", status, _retry_after(response.headers.get("retry-after")))
                if status >= 400:
                    raise HTTPStatusError(url, f"HTTP {status}", status)
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.policy.max_bytes:
                    raise TooLarge(url, f"Content-Length {declared} exceeds {self.policy.max_bytes} bytes")
                chunks: list[bytes] = []
                size = 0
                # aiter_bytes yields decoded (decompressed) bytes: the cap holds after decompression
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.policy.max_bytes:
                        raise TooLarge(url, f"body exceeds {self.policy.max_bytes} bytes")
                    chunks.append(chunk)
                body = b"".join(chunks)
                content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if not _accepts(content_type, body[:64], expect):
                    raise NotHTML(url, f"unexpected content type {content_type or 'none'!r} for {expect}")
                return FetchedPage(
                    url=url,
                    final_url=str(response.url),
                    status=status,
                    headers=tuple((k.lower(), v) for k, v in response.headers.items()),
                    body=body,
                    fetched_at=datetime.now(UTC),
                )
        except httpx.TimeoutException as exc:
            raise FetchTimeout(url, f"timed out after {self.policy.timeout:g}s ({type(exc).__name__})") from exc
        except httpx.TooManyRedirects as exc:
            raise TooManyRedirects(url, f"more than {self.policy.max_redirects} redirects") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise InvalidURL(url, str(exc)) from exc
        except httpx.TransportError as exc:
            raise ConnectionFailed(url, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc

    async def fetch(self, url: str, expect: Expect = "html") -> FetchedPage:
        """Fetch one URL, retrying transient failures with exponential backoff and jitter."""
        async with self._global, self._host_slot(url):
            for attempt in range(self.policy.retries + 1):
                try:
                    return await self._attempt(url, expect)
                except TransientFetchError as error:
                    if attempt >= self.policy.retries:
                        raise
                    delay = self.policy.backoff * (2**attempt) + random.uniform(0, self.policy.backoff)
                    hint = getattr(error, "retry_after", None)
                    if hint is not None:
                        delay = max(delay, min(hint, _MAX_RETRY_AFTER))
                    await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # the loop returns or raises

    async def fetch_many(self, urls: Sequence[str], expect: Expect = "html") -> list[FetchedPage | Failure]:
        async def one(url: str) -> FetchedPage | Failure:
            try:
                return await self.fetch(url, expect)
            except FetchError as error:
                return Failure.from_error("fetch", error)

        return list(await asyncio.gather(*(one(u) for u in urls)))


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, also when the calling thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def fetch_all(urls: Sequence[str], policy: FetchPolicy, expect: Expect = "html") -> list[FetchedPage | Failure]:
    """Fetch a batch of URLs with one client; results in input order."""

    async def main() -> list[FetchedPage | Failure]:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch_many(urls, expect)

    return run_sync(main())
