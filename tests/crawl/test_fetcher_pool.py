"""The fetcher's keep-alive pool against a real server on 127.0.0.1.

The guarded backend answers httpcore's "is this idle connection readable?"
check itself (crawl/netguard.py).  Answered wrongly one way, every request
opens a new connection; the other way, a request goes out on a connection
the server has closed and fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpcore
import httpx
import pytest

from crawl import _httpcore_pool
from crawl.fetcher import Fetcher, FetchPolicy, FetchResult, run_sync
from crawl.netguard import AddressPolicy, guarded_transport
from extractors.records import Failure, FetchedPage, NotModified, Validators
from flows.demo_server import DemoSiteHandler, serve_site

_PAGE = b"<html><head><title>t</title></head><body><p>text</p></body></html>"


def _policy(**changes: Any) -> FetchPolicy:
    """The tests' fetch policy: 4 connections, 2 retries, fast backoff, robots off, loopback allowed."""
    base = FetchPolicy("newsflow-test", 5.0, 4, 4, 2, 0.05, 5, 1_000_000, None, False, ("127.0.0.0/8",))
    return dataclasses.replace(base, **changes)


class CountingHandler(DemoSiteHandler):
    """Answers every path with a small page over HTTP/1.1 and counts the connections it is asked on."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[set[int]] = set()
    close_after_response: ClassVar[bool] = False

    def route(self, path: str) -> bool:
        type(self).connections.add(self.client_address[1])
        self.send_body(200, _PAGE, "text/html; charset=utf-8")
        # closing without a "Connection: close" header: the client learns it only from the socket
        self.close_connection = type(self).close_after_response
        return True


@pytest.fixture
def counting_site() -> Iterator[str]:
    CountingHandler.connections = set()
    with serve_site(CountingHandler) as base_url:
        yield base_url
    CountingHandler.close_after_response = False


def _fetch_one_by_one(base_url: str, count: int) -> list[FetchResult]:
    policy = _policy()

    async def main() -> list[FetchResult]:
        results = []
        async with Fetcher(policy) as fetcher:
            for index in range(count):
                results.append(await fetcher.fetch(f"{base_url}/story-{index}"))
                time.sleep(0.05)  # the server's FIN, if it sends one, arrives before the next request
        return results

    return run_sync(main())


def test_an_idle_kept_alive_connection_is_reused(counting_site: str) -> None:
    results = _fetch_one_by_one(counting_site, 4)
    assert all(isinstance(r, FetchedPage) and r.status == 200 for r in results)
    assert len(CountingHandler.connections) == 1


def test_a_connection_the_server_closed_is_not_used_again(counting_site: str) -> None:
    CountingHandler.close_after_response = True
    results = _fetch_one_by_one(counting_site, 4)
    assert all(isinstance(r, FetchedPage) and r.status == 200 for r in results)
    # each on a new connection, at the first attempt: none was sent into a closed socket and retried
    assert [len(r.attempts) for r in results] == [1, 1, 1, 1]
    assert len(CountingHandler.connections) == 4


class CookieGateHandler(DemoSiteHandler):
    """Consent steps: a page answers only a request that brings the cookie a redirect on the way set."""

    protocol_version = "HTTP/1.1"

    def route(self, path: str) -> bool:
        if path == "/story":
            self.send_body(302, b"", "text/html", {"Location": "/consent?next=/read/story"})
        elif path == "/consent":
            target = "/gated" if "next=/gated" in self.path else "/read/story"
            self.send_body(302, b"", "text/html", {"Location": target, "Set-Cookie": "consent=yes; Path=/"})
        elif path == "/read/story" and "consent=yes" in (self.headers.get("Cookie") or ""):
            self.send_body(200, _PAGE, "text/html; charset=utf-8")
        elif path == "/gated":  # sends a visitor without the cookie to a consent step that sends it back
            if "consent=yes" in (self.headers.get("Cookie") or ""):
                self.send_body(200, _PAGE, "text/html; charset=utf-8")
            else:
                self.send_body(302, b"", "text/html", {"Location": "/consent?next=/gated"})
        else:
            self.send_body(403, b"no consent", "text/plain")
        return True


@pytest.mark.parametrize(("start", "final"), [("/story", "/read/story"), ("/gated", "/gated")])
def test_a_cookie_set_on_a_redirect_is_sent_on_the_next_hop(start: str, final: str) -> None:
    """Also when the consent step sends the visitor back to the address it came from."""
    policy = _policy()

    async def main(base_url: str) -> FetchResult:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch(f"{base_url}{start}")

    with serve_site(CookieGateHandler) as base_url:
        result = run_sync(main(base_url))
    assert isinstance(result, FetchedPage) and result.status == 200
    assert result.final_url == f"{base_url}{final}"


class HeaderEchoHandler(DemoSiteHandler):
    """Keeps the headers of each request; answers 304 to a matching If-None-Match, else a gzipped page."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, str]]] = []

    def route(self, path: str) -> bool:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_body(304, b"", "text/html", {"ETag": '"v1"'})
        else:
            self.send_body(200, gzip.compress(_PAGE), "text/html", {"Content-Encoding": "gzip", "ETag": '"v1"'})
        return True


def test_requests_carry_the_policy_s_headers_and_validators_and_bodies_are_decoded() -> None:
    """The fetcher sends requests through the transport itself: what httpx's client added, it adds."""
    policy = _policy(user_agent="newsflow-test/2", retries=0)
    HeaderEchoHandler.seen = []

    async def main(base_url: str) -> list[FetchResult]:
        async with Fetcher(policy) as fetcher:
            first = await fetcher.fetch(f"{base_url}/story")
            again = await fetcher.fetch(f"{base_url}/story", validators=Validators(etag='"v1"'))
            return [first, again]

    with serve_site(HeaderEchoHandler) as base_url:
        first, again = run_sync(main(base_url))
    assert isinstance(first, FetchedPage) and first.body == _PAGE  # the gzip encoding undone
    assert isinstance(again, NotModified)
    plain, conditional = HeaderEchoHandler.seen
    assert plain["user-agent"] == "newsflow-test/2" and plain["host"] == base_url.removeprefix("http://")
    assert "text/html" in plain["accept"] and "gzip" in plain["accept-encoding"]
    assert "if-none-match" not in plain and conditional["if-none-match"] == '"v1"'


def test_more_requests_than_connections_wait_for_one_and_all_complete(counting_site: str) -> None:
    """The pool's own bookkeeping (crawl/netguard.py): requests queue for its connections, none is lost."""
    transport = guarded_transport(AddressPolicy.allowing(["127.0.0.0/8"]), max_connections=2)

    async def main() -> list[int]:
        async with httpx.AsyncClient(transport=transport) as client:
            responses = await asyncio.gather(*(client.get(f"{counting_site}/story-{i}") for i in range(12)))
            return [r.status_code for r in responses]

    assert run_sync(main()) == [200] * 12
    assert 1 <= len(CountingHandler.connections) <= 2


def test_a_connection_given_to_a_request_is_not_given_to_another_before_it_starts(
    counting_site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One pass of the pool's bookkeeping when a request starts and one when it ends; httpcore's own pass
    offered an idle connection again until its request began on it, and the second request given it went
    round again (about three passes per request on a busy pool)."""
    passes = 0
    assign = _httpcore_pool.Pool._assign_requests_to_connections

    def counted(pool: _httpcore_pool.Pool) -> list[httpcore.AsyncConnectionInterface]:
        nonlocal passes
        passes += 1
        return assign(pool)

    monkeypatch.setattr(_httpcore_pool.Pool, "_assign_requests_to_connections", counted)
    policy = _policy(concurrency=8, per_host_concurrency=8, retries=0)

    async def main() -> list[FetchResult]:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch_many([f"{counting_site}/story-{i}" for i in range(60)])

    results = run_sync(main())
    assert all(isinstance(r, FetchedPage) and r.status == 200 for r in results)
    assert passes == 2 * 60
    assert len(CountingHandler.connections) <= 8


class Utf8EtagHandler(DemoSiteHandler):
    """Sends an ETag whose bytes are UTF-8 (http.server writes header text as Latin-1, hence the mojibake)."""

    protocol_version = "HTTP/1.1"
    etag = '"caf\u00e9"'.encode().decode("latin-1")

    def route(self, path: str) -> bool:
        if self.headers.get("If-None-Match") == self.etag:
            self.send_body(304, b"", "text/html", {"ETag": self.etag})
        else:
            self.send_body(200, _PAGE, "text/html; charset=utf-8", {"ETag": self.etag})
        return True


def test_a_validator_with_bytes_outside_ascii_is_sent_back_as_the_server_sent_it() -> None:
    """httpx raised UnicodeEncodeError for such a header value, out of the fetcher and out of its batch."""
    policy = _policy(retries=0)

    async def main(base_url: str) -> list[FetchResult]:
        async with Fetcher(policy) as fetcher:
            first = await fetcher.fetch(f"{base_url}/story")
            assert isinstance(first, FetchedPage)
            return [first, await fetcher.fetch(f"{base_url}/story", validators=first.validators)]

    with serve_site(Utf8EtagHandler) as base_url:
        first, again = run_sync(main(base_url))
    assert isinstance(first, FetchedPage) and first.validators.etag == '"caf\u00e9"'
    assert isinstance(again, NotModified)


def test_an_exception_no_rule_foresaw_fails_its_url_alone(counting_site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a FetchError (say a library's own error on a hostile answer): a permanent failure of that URL,
    its type named, and the batch's other URLs fetched as usual."""
    send = Fetcher._send

    async def flaky(fetcher: Fetcher, url: str, headers: Mapping[str, str]) -> httpx.Response:
        if url.endswith("/story-2"):
            raise LookupError("a codec nobody has heard of")
        return await send(fetcher, url, headers)

    monkeypatch.setattr(Fetcher, "_send", flaky)
    policy = _policy()

    async def main() -> list[FetchResult]:
        async with Fetcher(policy) as fetcher:
            return await fetcher.fetch_many([f"{counting_site}/story-{i}" for i in range(4)])

    results = run_sync(main())
    assert [type(r).__name__ for r in results] == ["FetchedPage", "FetchedPage", "Failure", "FetchedPage"]
    failure = results[2]
    assert isinstance(failure, Failure) and not failure.transient and len(failure.attempts) == 1
    assert failure.outcome == "fetch_error" and "builtins.LookupError: a codec nobody has heard of" in failure.reason


class GatedHandler(DemoSiteHandler):
    """Holds every answer until ``gate`` is set (at most 10 s): a host that is slow for as long as a
    test wants."""

    protocol_version = "HTTP/1.1"
    gate: ClassVar[Any] = None

    def route(self, path: str) -> bool:
        type(self).gate.wait(10)
        self.send_body(200, _PAGE, "text/html; charset=utf-8")
        return True


def test_a_slow_host_does_not_hold_the_slots_other_hosts_need(counting_site: str) -> None:
    import threading

    GatedHandler.gate = threading.Event()
    policy = _policy(concurrency=2, per_host_concurrency=1, retries=0)

    async def main(slow: str) -> tuple[bool, list[FetchResult]]:
        async with Fetcher(policy) as fetcher:
            held = [asyncio.create_task(fetcher.fetch(f"{slow}/story-{i}")) for i in range(2)]
            await asyncio.sleep(0.1)  # both slow requests are in: one on the wire, one waiting for its host
            other = await fetcher.fetch(f"{counting_site}/story")
            slow_still_pending = not any(task.done() for task in held)
            GatedHandler.gate.set()
            return slow_still_pending, [other, *await asyncio.gather(*held)]

    with serve_site(GatedHandler) as slow_site:
        pending, results = run_sync(main(slow_site))
    # the second slow request waits for its host without taking the last global slot, so the other
    # host's request went out and came back while the slow host still held its answers
    assert pending
    assert all(isinstance(r, FetchedPage) and r.status == 200 for r in results)


def test_a_host_whose_first_address_refuses_is_reached_at_the_next(
    counting_site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipaddress

    from crawl import netguard

    port = int(counting_site.rsplit(":", 1)[1])

    async def two_addresses(host: str, port: int) -> list[netguard.IPAddress]:
        # nothing listens on 127.0.0.2: its connection is refused, as an unreachable address's would be
        return [ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(netguard, "resolve", two_addresses)

    async def main() -> FetchResult:
        async with Fetcher(_policy(retries=0)) as fetcher:
            return await fetcher.fetch(f"http://news.example:{port}/story")

    result = run_sync(main())
    assert isinstance(result, FetchedPage) and result.status == 200
