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
from collections.abc import Iterator
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
        base = self.base_url
        if path == "/robots.txt":
            body = f"User-agent: *\nDisallow: /fault/disallowed/\nSitemap: {base}/sitemap.xml\n"
            self.send_body(200, body.encode(), "text/plain")
            return True
        if path == "/fault/500":
            self.send_body(500, b"<h1>Internal Server Error</h1>", "text/html")
            return True
        if path == "/fault/slow":
            time.sleep(3)
            self.send_body(200, b"<html><body><p>too late</p></body></html>", "text/html")
            return True
        if path == "/fault/404":
            self.send_body(404, b"not here", "text/html")
            return True
        if path == "/fault/pdf":
            self.send_body(200, b"%PDF-1.7 fake", "application/pdf")
            return True
        if path == "/fault/empty":
            self.send_body(200, b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "text/html")
            return True
        if path == "/fault/feed.xml":
            items = "".join(
                f"<item><title>{p}</title><link>{base}{p}</link></item>"
                for p in ("/fault/500", "/fault/slow", "/business/port-strike-ends-after-wage-deal/")
            )
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{items}</channel></rss>'
            self.send_body(200, body.encode(), "application/rss+xml")
            return True
        if path == "/fault/429-once/":
            if self._hit(path) == 1:
                self.send_body(429, b"slow down", "text/plain", {"Retry-After": "1"})
            else:
                self._serve_article("/mundo/sequia-obliga-a-racionar-agua-en-tres-provincias/")
            return True
        if path == "/fault/503-once/":
            if self._hit(path) == 1:
                self.send_body(503, b"busy", "text/html")
            else:
                self._serve_article("/wirtschaft/stahlwerk-investiert-in-gruenen-wasserstoff/")
            return True
        if path == "/fault/reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return True
        if path == "/fault/truncated":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"<html><body><p>the first hundred bytes of a page that never ends")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return True
        if path == "/fault/huge":
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
            return True
        if path == "/fault/gzip-bomb":
            if type(self)._bomb is None:
                type(self)._bomb = gzip.compress(b"<html><body><p>" + b"\0" * (64 * 1024 * 1024), 9)
            self.send_body(200, type(self)._bomb or b"", "text/html", {"Content-Encoding": "gzip"})
            return True
        if path == "/fault/cp1252/":
            self.send_body(200, _CP1252_PAGE, "text/html")
            return True
        if path == "/fault/loop-a":
            self.send_body(302, b"", "text/html", {"Location": f"{base}/fault/loop-b"})
            return True
        if path == "/fault/loop-b":
            self.send_body(302, b"", "text/html", {"Location": f"{base}/fault/loop-a"})
            return True
        if path == "/fault/to-metadata":
            self.send_body(302, b"", "text/html", {"Location": "http://169.254.169.254/latest/meta-data/"})
            return True
        if path == "/fault/bad-redirect":  # an address urllib cannot even split
            self.send_body(302, b"", "text/html", {"Location": "http://[::1/admin"})
            return True
        if path == "/fault/to-private":
            self.send_body(301, b"", "text/html", {"Location": "http://10.0.0.7:8080/admin"})
            return True
        if path == "/fault/laughs.xml":
            self.send_body(200, _LAUGHS, "application/rss+xml")
            return True
        if path == "/fault/sitemap-self.xml":
            body = (
                '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<sitemap><loc>{base}/fault/sitemap-self.xml</loc></sitemap>"
                f"<sitemap><loc>{base}/fault/sitemap-one.xml</loc></sitemap></sitemapindex>"
            )
            self.send_body(200, body.encode(), "application/xml")
            return True
        if path == "/fault/sitemap-one.xml":
            body = (
                '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>{base}/science/city-council-approves-river-restoration-plan/</loc>"
                "<lastmod>2026-04-14</lastmod></url></urlset>"
            )
            self.send_body(200, body.encode(), "application/xml")
            return True
        if path == "/fault/broken-sitemap.xml":
            cut = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{base}/a'
            self.send_body(200, cut.encode(), "application/xml")
            return True
        if path == "/fault/not-a-feed.xml":
            self.send_body(200, b'{"this": "is json, not a feed"', "application/rss+xml")
            return True
        return False

    def _serve_article(self, path: str) -> None:
        from flows.demo_server import SITE_ROOT

        self.send_body(200, (SITE_ROOT / path.strip("/") / "index.html").read_bytes(), "text/html; charset=utf-8")


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
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in PURE_MODULES:
            item.add_marker(pytest.mark.pure)
