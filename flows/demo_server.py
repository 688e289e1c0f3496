"""The bundled sample news site, served on 127.0.0.1 for the demo and the tests.

Files live in ``flows/demo_site``; ``{{BASE_URL}}`` in feeds, sitemaps,
robots.txt and the home page is replaced by the server's own address so
that links work on whatever port the server got.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

SITE_ROOT = Path(__file__).parent / "demo_site"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
_TEMPLATED = {".xml", ".txt"}


class DemoSiteHandler(BaseHTTPRequestHandler):
    """Serves files under ``SITE_ROOT``; subclasses (tests) add routes in ``route``."""

    server_version = "newsflow-demo/1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # the demo prints its own summary; per-request lines would drown it

    @property
    def base_url(self) -> str:
        address = self.server.server_address
        assert isinstance(address, tuple)  # an AF_INET server
        return f"http://{address[0]!s}:{address[1]}"

    def route(self, path: str) -> bool:
        """Hook for subclasses: handle ``path`` and return True, or return False."""
        return False

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if self.route(path):
            return
        file = self._resolve(path)
        if file is None:
            self.send_error(404, "not found")
            return
        data = file.read_bytes()
        if file.suffix in _TEMPLATED or file == SITE_ROOT / "index.html":
            data = data.replace(b"{{BASE_URL}}", self.base_url.encode("ascii"))
        content_type = (
            "application/rss+xml; charset=utf-8"
            if file.name == "feed.xml"
            else _TYPES.get(file.suffix, "application/octet-stream")
        )
        self.send_versioned(data, content_type, file.stat().st_mtime)

    def send_versioned(self, data: bytes, content_type: str, modified: float) -> None:
        """200 with ETag and Last-Modified, or 304 when the request's validators match them."""
        etag = f'"{hashlib.sha256(data).hexdigest()[:20]}"'
        last_modified = formatdate(int(modified), usegmt=True)
        version = {"ETag": etag, "Last-Modified": last_modified}
        if_none_match = self.headers.get("If-None-Match")
        if_modified_since = self.headers.get("If-Modified-Since")
        if if_none_match is not None:
            fresh = etag in [tag.strip() for tag in if_none_match.split(",")] or if_none_match.strip() == "*"
        elif if_modified_since is not None:
            try:
                fresh = parsedate_to_datetime(if_modified_since).timestamp() >= int(modified)
            except (TypeError, ValueError):
                fresh = False
        else:
            fresh = False
        if fresh:
            self.send_body(304, b"", content_type, version)
        else:
            self.send_body(200, data, content_type, version)

    def send_body(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if status != 304:
                self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test, a closed browser tab): nothing to tell it

    @staticmethod
    def _resolve(path: str) -> Path | None:
        candidate = (SITE_ROOT / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(SITE_ROOT.resolve()):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None


class SiteServer(ThreadingHTTPServer):
    """A threaded HTTP server with a listen backlog like a real site's."""

    daemon_threads = True
    # socketserver listens with a backlog of 5: a client opening more connections at once (a crawl's
    # first batch opens eight) overflows it, loses a SYN and stalls a whole second for its
    # retransmission; web servers listen with hundreds (nginx 511)
    request_queue_size = 512


@contextmanager
def serve_site(handler: type[BaseHTTPRequestHandler] = DemoSiteHandler, port: int = 0) -> Iterator[str]:
    """Serve the site on 127.0.0.1 (a free port by default); yields the base URL."""
    server = SiteServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def demo_article_paths() -> list[str]:
    """URL paths of the demo site's article pages."""
    return sorted(
        "/" + str(p.parent.relative_to(SITE_ROOT)) + "/" for p in SITE_ROOT.rglob("index.html") if p.parent != SITE_ROOT
    )


def demo_source_toml(base_url: str) -> str:
    """The ``demo`` source for a demo site served at ``base_url`` (the same as in sources.toml)."""
    return f"""
[[sources]]
name = "demo"
feeds = ["{base_url}/feed.xml"]
sitemaps = ["{base_url}/sitemap.xml"]
start_urls = ["{base_url}/"]
requests_per_second = 20
per_host_concurrency = 4
allowed_private_networks = ["127.0.0.0/8"]
schedule = "*/30 * * * *"
"""
