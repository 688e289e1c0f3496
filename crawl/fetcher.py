"""Polite, guarded async HTTP fetching with httpx.

``fetch_all`` is what tasks call: it fetches a batch of URLs through one
client and returns, in input order, a ``FetchedPage``, a ``NotModified`` (304
to a conditional request) or a ``Failure`` for each URL, each with the
``Attempt``s it took.  A URL's failure never affects the others.

Per request: robots.txt (cached per host, ``Crawl-delay`` honoured), per-host
pacing (``requests_per_second``) and concurrency, redirects followed one hop at
a time (each hop checked again), the address guard of ``crawl.netguard`` in
the connection step, a streamed size cap that holds after decompression, a
content-type check, and retries with exponential backoff and jitter on
timeouts, connection errors, 429 and 5xx, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from crawl.netguard import AddressBlocked, AddressPolicy, guarded_transport
from crawl.pacing import PACER
from crawl.robots import ROBOTS_MAX_BYTES, RobotsCache, RobotsRules, parse_robots
from crawl.settings import Settings
from extractors.errors import (
    BlockedAddress,
    BlockedByRobots,
    ConnectionFailed,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    InvalidURL,
    NotHTML,
    PermanentFetchError,
    ServerError,
    TooLarge,
    TooManyRedirects,
    TransientFetchError,
)
from extractors.records import Attempt, Failure, FetchedPage, NotModified, Validators

Expect = Literal["html", "feed", "any"]
FetchResult = FetchedPage | NotModified | Failure

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_FEED_TYPES = {
    "application/rss+xml", "application/atom+xml", "application/xml", "text/xml", "application/rdf+xml",
    "application/feed+json", "application/json", "text/plain",
}  # fmt: skip
_MAX_RETRY_AFTER = 120.0
_REDIRECTS = {301, 302, 303, 307, 308}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """How to fetch for one source (or from the settings), as an immutable value."""

    user_agent: str
    timeout: float
    concurrency: int
    per_host_concurrency: int
    retries: int
    backoff: float
    max_redirects: int
    max_bytes: int
    requests_per_second: float | None = None
    """Most request starts per second to one host (None: no pacing beyond Crawl-delay)."""
    respect_robots: bool = True
    allowed_networks: tuple[str, ...] = ()
    """CIDR networks that may be fetched although they are not public (the demo: 127.0.0.0/8)."""

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
            respect_robots=settings.respect_robots,
            allowed_networks=settings.allowed_networks(),
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
    if expect == "any":
        return True
    if expect == "html":
        if content_type in _HTML_TYPES:
            return True
        # a missing type is common on small sites: trust the body if it looks like HTML
        return not content_type and body_start.lstrip()[:1] == b"<"
    return (
        content_type in _FEED_TYPES
        or content_type in _HTML_TYPES
        or not content_type
        or content_type.endswith(("+xml", "/gzip", "/x-gzip"))
    )


def _unforeseen(exc: Exception) -> str:
    return f"unexpected {type(exc).__module__}.{type(exc).__qualname__}: {exc}"


def host_key(url: str) -> str:
    """The host a URL's requests are paced and capped by (host and port, lower-cased)."""
    return urlsplit(url).netloc.lower()


@dataclass(frozen=True, slots=True)
class _Response:
    """One complete response of one attempt (after redirects)."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


#: What every request sends besides its validators: the content types wanted, and the encodings httpx
#: always decodes (its client would add brotli and zstd when those packages happen to be installed).
REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Encoding": "gzip, deflate",
    "Connection": "keep-alive",
}


class Fetcher:
    """One guarded connection pool with global and per-host caps, robots.txt, pacing and retries.

    Requests go to the httpx transport directly, as httpx's client sends them after building them:
    the client's work around that (merging its defaults into each request, auth and redirect
    machinery, event hooks, wrapping the response stream) was a tenth of a conditional request's CPU,
    and none of it applies here — redirects are followed hop by hop below, so that robots.txt and
    pacing hold for every hop, and the transport is always the guarded one (an explicit transport
    also made httpx's client ignore proxy variables in the environment, so nothing changes there).
    Cookies a response sets are kept in an ``httpx.Cookies`` jar and sent on later requests.
    """

    def __init__(self, policy: FetchPolicy, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self._transport = transport or guarded_transport(
            AddressPolicy.allowing(policy.allowed_networks), policy.concurrency
        )
        # as bytes, encoded once: see _send
        self._headers = {
            k.encode(): v.encode() for k, v in {"User-Agent": policy.user_agent, **REQUEST_HEADERS}.items()
        }
        self._timeout = httpx.Timeout(policy.timeout).as_dict()
        self._cookies = httpx.Cookies()
        self._global = asyncio.Semaphore(policy.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self.robots = RobotsCache(self._load_robots)
        self.robots_log: list[Attempt] = []
        """robots.txt requests this fetcher made (discovery records them in ``fetches``)."""

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transport.aclose()

    async def _send(self, url: str, headers: Mapping[str, str]) -> httpx.Response:
        """Send one GET; the caller reads or closes the response."""
        # as bytes: httpx sends str header values as ASCII and raises on anything else, and a validator the
        # server sent with other bytes (httpx decoded them as UTF-8 where it could) goes back as UTF-8
        values = {**self._headers, **{name.encode(): value.encode() for name, value in headers.items()}}
        request = httpx.Request("GET", url, headers=values, extensions={"timeout": self._timeout})
        if len(self._cookies.jar):  # urllib's cookie machinery costs even when it has nothing to add
            self._cookies.set_cookie_header(request)
        response = await self._transport.handle_async_request(request)
        response.request = request
        if "set-cookie" in response.headers:
            self._cookies.extract_cookies(response)
        return response

    def _host_slot(self, url: str) -> asyncio.Semaphore:
        host = host_key(url)
        if host not in self._hosts:
            self._hosts[host] = asyncio.Semaphore(self.policy.per_host_concurrency)
        return self._hosts[host]

    async def _pace(self, url: str, rules: RobotsRules | None) -> None:
        interval = 1.0 / self.policy.requests_per_second if self.policy.requests_per_second else 0.0
        if rules is not None:
            interval = max(interval, rules.crawl_delay(self.policy.user_agent))
        await PACER.wait(host_key(url), interval)

    async def _load_robots(self, url: str) -> RobotsRules:
        started, at = time.monotonic(), datetime.now(UTC)

        def log(status: int | None, size: int | None, outcome: str, error: str | None = None) -> None:
            elapsed = int((time.monotonic() - started) * 1000)
            self.robots_log.append(Attempt(url, 1, at, status, size, elapsed, outcome, error, url))

        try:
            response = await self._get(url, {}, ROBOTS_MAX_BYTES, rules=None)
        except BlockedAddress as error:
            log(None, None, error.outcome, error.reason)
            raise
        except FetchError as error:
            status = getattr(error, "status", None)
            log(status, None, "robots" if isinstance(error, HTTPStatusError) else error.outcome, error.reason)
            if isinstance(error, HTTPStatusError | ServerError):
                return parse_robots(error.status, b"")
            if isinstance(error, TooLarge):
                return RobotsRules(None)  # an absurd robots.txt is ignored rather than obeyed
            return parse_robots(None, b"", f"robots.txt unreachable: {error.reason}")
        log(response.status, len(response.body), "robots")
        return parse_robots(response.status, response.body)

    async def _get(
        self,
        url: str,
        headers: Mapping[str, str],
        max_bytes: int,
        rules: RobotsRules | None,
        sink: BinaryIO | None = None,
    ) -> _Response:
        """One GET with redirects followed hop by hop; raises a FetchError for anything but 2xx/304.

        ``sink``: the body is written there as it arrives (the response's ``body`` is then empty)."""
        seen = {url}
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            if urlsplit(current).scheme not in ("http", "https"):
                raise InvalidURL(url, f"redirect to a non-http(s) URL: {current}")
            if rules is not None and self.policy.respect_robots and current != url:
                hop_rules = await self.robots.for_url(current)
                if not hop_rules.allows(current, self.policy.user_agent):
                    raise BlockedByRobots(url, f"robots.txt disallows the redirect target {current}")
            await self._pace(current, rules)
            try:
                response = await self._send(current, headers)
                try:
                    status = response.status_code
                    location = response.headers.get("location")
                    if status in _REDIRECTS and location:
                        try:
                            current = urljoin(current, location)
                        except ValueError as exc:  # urllib refuses some addresses outright, "http://[::1" say
                            raise InvalidURL(url, f"redirect to an unusable URL {location!r}: {exc}") from exc
                        if "set-cookie" in response.headers:
                            # a consent step: the cookie just set makes a return to an address already
                            # visited a different request (max_redirects still bounds the chain)
                            seen = set()
                        if current in seen:
                            raise TooManyRedirects(url, f"redirect loop at {current}")
                        seen.add(current)
                        continue
                    if status == 429 or status >= 500:
                        retry = _retry_after(response.headers.get("retry-after"))
                        raise ServerError(url, f"HTTP {status}", status, retry)
                    if status >= 400:
                        raise HTTPStatusError(url, f"HTTP {status}", status)
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise TooLarge(url, f"Content-Length {declared} exceeds {max_bytes} bytes")
                    chunks: list[bytes] = []
                    size = 0
                    # aiter_bytes yields decoded (decompressed) bytes: the cap holds after decompression
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > max_bytes:
                            raise TooLarge(url, f"body exceeds {max_bytes} bytes")
                        if sink is None:
                            chunks.append(chunk)
                        else:
                            sink.write(chunk)
                    return _Response(
                        str(response.url), status, tuple((k.lower(), v) for k, v in response.headers.items()),
                        b"".join(chunks),
                    )  # fmt: skip
                finally:
                    await response.aclose()
            except httpx.TimeoutException as exc:
                raise FetchTimeout(url, f"timed out after {self.policy.timeout:g}s ({type(exc).__name__})") from exc
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise InvalidURL(url, str(exc)) from exc
            except httpx.TransportError as exc:
                if isinstance(exc.__cause__, AddressBlocked):
                    raise BlockedAddress(url, str(exc.__cause__)) from exc
                detail = str(exc) or "the connection was closed or reset by the server"
                raise ConnectionFailed(url, f"{type(exc).__name__}: {detail}") from exc
        raise TooManyRedirects(url, f"more than {self.policy.max_redirects} redirects")

    async def _attempt(
        self, url: str, expect: Expect, validators: Validators | None, sink: BinaryIO | None, max_bytes: int | None
    ) -> FetchedPage | NotModified:
        rules = await self.robots.for_url(url) if self.policy.respect_robots else None
        if rules is not None and not rules.allows(url, self.policy.user_agent):
            raise BlockedByRobots(url, rules.unreachable or "robots.txt disallows this URL for our user agent")
        headers = validators.request_headers() if validators else {}
        if sink is not None:
            sink.seek(0)
            sink.truncate()  # a retry starts the file again
        response = await self._get(url, headers, max_bytes or self.policy.max_bytes, rules, sink)
        now = datetime.now(UTC)
        if response.status == 304:
            return NotModified(url, response.url, response.headers, now)
        content_type = dict(response.headers).get("content-type", "").split(";", 1)[0].strip().lower()
        if not _accepts(content_type, response.body[:64], expect):
            raise NotHTML(url, f"unexpected content type {content_type or 'none'!r} for {expect}")
        return FetchedPage(url, response.url, response.status, response.headers, response.body, now)

    async def fetch(
        self,
        url: str,
        expect: Expect = "html",
        validators: Validators | None = None,
        *,
        sink: BinaryIO | None = None,
        max_bytes: int | None = None,
    ) -> FetchResult:
        """Fetch one URL, retrying transient failures with exponential backoff and jitter.

        ``sink``: write the body there instead of keeping it (``download``); ``max_bytes``: another size cap
        than the policy's."""
        attempts: list[Attempt] = []
        for number in range(1, self.policy.retries + 2):
            try:
                # the host's slot first: a request waiting for its busy host must not hold one of the
                # global slots other hosts' requests could use; both are free while backing off
                async with self._host_slot(url), self._global:
                    started, at = time.monotonic(), datetime.now(UTC)
                    result = await self._attempt(url, expect, validators, sink, max_bytes)
            except Exception as exc:
                # what no rule above foresaw (a library's own exception on a hostile answer) fails this
                # URL alone, for good and with its type named, instead of the batch it is in
                error = exc if isinstance(exc, FetchError) else PermanentFetchError(url, _unforeseen(exc))
                elapsed = int((time.monotonic() - started) * 1000)
                status = getattr(error, "status", None)
                attempts.append(Attempt(url, number, at, status, None, elapsed, error.outcome, error.reason))
                if not isinstance(error, TransientFetchError) or number > self.policy.retries:
                    return Failure.from_error("fetch", error, tuple(attempts))
                delay = self.policy.backoff * (2 ** (number - 1)) + random.uniform(0, self.policy.backoff)
                hint = getattr(error, "retry_after", None)
                if hint is not None:
                    delay = max(delay, min(hint, _MAX_RETRY_AFTER))
                await asyncio.sleep(delay)
                continue
            elapsed = int((time.monotonic() - started) * 1000)
            if isinstance(result, NotModified):
                attempts.append(Attempt(url, number, at, 304, 0, elapsed, "not_modified", None, result.final_url))
                return NotModified(result.url, result.final_url, result.headers, result.fetched_at, tuple(attempts))
            size = len(result.body) if sink is None else sink.tell()
            attempts.append(Attempt(url, number, at, result.status, size, elapsed, "ok", None, result.final_url))
            return FetchedPage(
                result.url, result.final_url, result.status, result.headers, result.body, result.fetched_at,
                tuple(attempts),
            )  # fmt: skip
        raise AssertionError("unreachable")  # the loop returns on every path

    async def download(self, url: str, sink: BinaryIO, max_bytes: int) -> FetchedPage | Failure:
        """Fetch a large file into ``sink`` (a seekable binary file) with every guard, robots.txt, pacing and
        retry of ``fetch``; a retry starts the file again.  The page returned has an empty body."""
        result = await self.fetch(url, "any", None, sink=sink, max_bytes=max_bytes)
        if isinstance(result, NotModified):  # never: no validators were sent
            raise AssertionError(f"{url}: 304 to an unconditional request")
        return result

    async def fetch_many(
        self, urls: Sequence[str], expect: Expect = "html", validators: Mapping[str, Validators] | None = None
    ) -> list[FetchResult]:
        validators = validators or {}
        return list(await asyncio.gather(*(self.fetch(u, expect, validators.get(u)) for u in urls)))


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


def fetch_all(
    urls: Sequence[str],
    policy: FetchPolicy,
    expect: Expect = "html",
    validators: Mapping[str, Validators] | None = None,
) -> list[FetchResult]:
    """Fetch a batch of URLs with one client; results in input order."""

    async def main() -> list[FetchResult]:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch_many(urls, expect, validators)

    return run_sync(main())
