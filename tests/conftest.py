"""Shared fixtures: an isolated Prefect home, one session-scoped Prefect test
harness, and a real HTTP server on 127.0.0.1 serving the demo site plus
fault routes."""

from __future__ import annotations

import contextlib
import gzip
import os
import socket
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

# Before anything imports prefect: a private home, no telemetry, no heartbeats.
_PREFECT_HOME = tempfile.mkdtemp(prefix="newsflow-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.pop("PREFECT_API_URL", None)
# the test servers live on 127.0.0.1, which the fetcher refuses unless a setting or source allows it
os.environ["NEWSFLOW_ALLOWED_PRIVATE_NETWORKS"] = "127.0.0.0/8"

import httpcore  # noqa: E402

from crawl import netguard  # noqa: E402
from flows.demo_server import DemoSiteHandler, serve_site  # noqa: E402


class LoopbackOnlyBackend(httpcore.AnyIOBackend):
    """The connect step of every test: anything but 127.0.0.0/8 fails the test loudly.

    The address guard should refuse such connections before this point; if it is ever broken,
    the test fails here instead of sending a packet to a private, link-local or public address.
    """

    attempted: ClassVar[list[str]] = []

    async def connect_tcp(self, host: str, port: int, *args: object, **kwargs: object) -> httpcore.AsyncNetworkStream:
        if not host.startswith("127."):
            type(self).attempted.append(host)
            raise AssertionError(f"a test tried to connect to {host}:{port}, outside 127.0.0.0/8")
        return await super().connect_tcp(host, port, *args, **kwargs)  # type: ignore[arg-type]


netguard.make_inner_backend = LoopbackOnlyBackend


_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><link>/x</link></item></channel></rss>
"""
_CP1252_PAGE = (
    "<html><head><meta http-equiv='Content-Type' content='text/html; charset=windows-1252'>"
    "<title>Caf\u00e9 prices up 20 \u20ac \u2013 Harbour Gazette</title>"
    "<link rel='canonical' href='https://gazette.example/news/cafe-prices-up/'></head><body><article>"
    + "".join(f"<p>Paragraph {i}: the caf\u00e9 on the quay now charges 4 \u20ac for a coffee \u2013 up from "
              "3,20 \u20ac last year, the owner said.</p>" for i in range(6))
    + "</article></body></html>"
).encode("cp1252")


class FaultySiteHandler(DemoSiteHandler):
    """The demo site plus routes that fail in the ways real sites do, and an access log."""

    requests: ClassVar[list[str]] = []
    log: ClassVar[list[tuple[float, str]]] = []
    hits: ClassVar[dict[str, int]] = {}
    _bomb: ClassVar[bytes | None] = None

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the reset route closed the socket under us
            super().finish()

    def _hit(self, path: str) -> int:
        hits = type(self).hits
        hits[path] = hits.get(path, 0) + 1
        return hits[path]

    def route(self, path: str) -> bool:
        type(self).requests.append(path)
        type(self).log.append((time.monotonic(), path))
        answer = _FIXED_ANSWERS.get(path)
        if answer is not None:
            status, body, content_type, headers = answer(self.base_url)
            self.send_body(status, body, content_type, headers)
            return True
        behaviour = _BEHAVIOURS.get(path)
        if behaviour is None:
            return False
        behaviour(self, path)
        return True

    def _slow(self, path: str) -> None:
        time.sleep(3)
        self.send_body(200, b"<html><body><p>too late</p></body></html>", "text/html")

    def _fails_once(self, path: str) -> None:
        status, body, content_type, headers, then = _FAILS_ONCE[path]
        if self._hit(path) == 1:
            self.send_body(status, body, content_type, headers)
        else:
            self._serve_article(then)

    def _reset(self, path: str) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _truncated(self, path: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"<html><body><p>the first hundred bytes of a page that never ends")
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _huge(self, path: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        chunk = b"<p>" + b"x" * (1024 * 1024 - 3)
        try:
            for _ in range(50):  # 50 MB, no Content-Length: only the streamed cap can stop it
                self.wfile.write(chunk)
        except OSError:
            pass
        self.close_connection = True

    def _gzip_bomb(self, path: str) -> None:
        if type(self)._bomb is None:
            type(self)._bomb = gzip.compress(b"<html><body><p>" + b"\0" * (64 * 1024 * 1024), 9)
        self.send_body(200, type(self)._bomb or b"", "text/html", {"Content-Encoding": "gzip"})

    def _serve_article(self, path: str) -> None:
        from flows.demo_server import SITE_ROOT

        self.send_body(200, (SITE_ROOT / path.strip("/") / "index.html").read_bytes(), "text/html; charset=utf-8")


Answer = tuple[int, bytes, str, dict[str, str]]


def _feed(base: str) -> Answer:
    items = "".join(
        f"<item><title>{p}</title><link>{base}{p}</link></item>"
        for p in ("/fault/500", "/fault/slow", "/business/port-strike-ends-after-wage-deal/")
    )
    body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{items}</channel></rss>'
    return 200, body.encode(), "application/rss+xml", {}


def _sitemap_index_listing_itself(base: str) -> Answer:
    body = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{base}/fault/sitemap-self.xml</loc></sitemap>"
        f"<sitemap><loc>{base}/fault/sitemap-one.xml</loc></sitemap></sitemapindex>"
    )
    return 200, body.encode(), "application/xml", {}


def _sitemap_of_one(base: str) -> Answer:
    body = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{base}/science/city-council-approves-river-restoration-plan/</loc>"
        "<lastmod>2026-04-14</lastmod></url></urlset>"
    )
    return 200, body.encode(), "application/xml", {}


def _redirect(status: int, location: str) -> Callable[[str], Answer]:
    return lambda base: (status, b"", "text/html", {"Location": location.format(base=base)})


# The faulty site's routes: a path's fixed answer (status, body, type, headers, from the site's base URL) ...
_FIXED_ANSWERS: dict[str, Callable[[str], Answer]] = {
    "/robots.txt": lambda base: (
        200, f"User-agent: *\nDisallow: /fault/disallowed/\nSitemap: {base}/sitemap.xml\n".encode(), "text/plain", {}
    ),
    "/fault/500": lambda base: (500, b"<h1>Internal Server Error</h1>", "text/html", {}),
    "/fault/404": lambda base: (404, b"not here", "text/html", {}),
    "/fault/pdf": lambda base: (200, b"%PDF-1.7 fake", "application/pdf", {}),
    "/fault/empty": lambda base: (200, b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "text/html", {}),
    "/fault/feed.xml": _feed,
    "/fault/cp1252/": lambda base: (200, _CP1252_PAGE, "text/html", {}),
    "/fault/loop-a": _redirect(302, "{base}/fault/loop-b"),
    "/fault/loop-b": _redirect(302, "{base}/fault/loop-a"),
    "/fault/to-metadata": _redirect(302, "http://169.254.169.254/latest/meta-data/"),
    "/fault/bad-redirect": _redirect(302, "http://[::1/admin"),  # an address urllib cannot even split
    "/fault/to-private": _redirect(301, "http://10.0.0.7:8080/admin"),
    "/fault/laughs.xml": lambda base: (200, _LAUGHS, "application/rss+xml", {}),
    "/fault/sitemap-self.xml": _sitemap_index_listing_itself,
    "/fault/sitemap-one.xml": _sitemap_of_one,
    "/fault/broken-sitemap.xml": lambda base: (
        200,
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{base}/a'.encode(),
        "application/xml",
        {},
    ),
    "/fault/not-a-feed.xml": lambda base: (200, b'{"this": "is json, not a feed"', "application/rss+xml", {}),
}
# ... a path that fails on its first request and then serves a demo article ...
_FAILS_ONCE: dict[str, tuple[int, bytes, str, dict[str, str], str]] = {
    "/fault/429-once/": (
        429,
        b"slow down",
        "text/plain",
        {"Retry-After": "1"},
        "/mundo/sequia-obliga-a-racionar-agua-en-tres-provincias/",
    ),
    "/fault/503-once/": (503, b"busy", "text/html", {}, "/wirtschaft/stahlwerk-investiert-in-gruenen-wasserstoff/"),
}
# ... or a behaviour: a slow answer, a reset or truncated connection, an endless or compressed bomb body.
_BEHAVIOURS: dict[str, Callable[[FaultySiteHandler, str], None]] = {
    "/fault/slow": FaultySiteHandler._slow,
    "/fault/429-once/": FaultySiteHandler._fails_once,
    "/fault/503-once/": FaultySiteHandler._fails_once,
    "/fault/reset": FaultySiteHandler._reset,
    "/fault/truncated": FaultySiteHandler._truncated,
    "/fault/huge": FaultySiteHandler._huge,
    "/fault/gzip-bomb": FaultySiteHandler._gzip_bomb,
}


@pytest.fixture(scope="session")
def site() -> Iterator[str]:
    with serve_site(FaultySiteHandler) as base_url:
        yield base_url


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    # importing the harness loads the server: only do it for tests that run flows
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "newsflow.duckdb")


@pytest.fixture
def fast_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and no retry backoff, so fault cases finish quickly."""
    monkeypatch.setenv("NEWSFLOW_TIMEOUT", "1.0")
    monkeypatch.setenv("NEWSFLOW_RETRIES", "1")
    monkeypatch.setenv("NEWSFLOW_BACKOFF", "0.05")


# Modules whose tests are plain function calls on pure code (the extractor, its rules, the import rule):
# `make test-fast` runs them alone, in well under a minute.
PURE_MODULES = frozenset(
    {
        "test_golden_pages",
        "test_body_rules",
        "test_safety_net",
        "test_metadata_fallbacks",
        "test_site_rules",
        "test_layers",
        "test_library_contracts",
        "test_urls",
        "test_dates_and_authors",
        "test_html_input",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in PURE_MODULES:
            item.add_marker(pytest.mark.pure)
