"""Shared fixtures: an isolated Prefect home, one session-scoped Prefect test
harness, and a real HTTP server on 127.0.0.1 serving the demo site plus
fault routes."""

from __future__ import annotations

import os
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

from flows import netguard  # noqa: E402
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


class FaultySiteHandler(DemoSiteHandler):
    """The demo site plus routes that fail in the ways real sites do."""

    requests: ClassVar[list[str]] = []

    def route(self, path: str) -> bool:
        type(self).requests.append(path)
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
            base = self.base_url
            items = "".join(
                f"<item><title>{p}</title><link>{base}{p}</link></item>"
                for p in ("/fault/500", "/fault/slow", "/business/port-strike-ends-after-wage-deal/")
            )
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>f</title>{items}</channel></rss>'
            self.send_body(200, body.encode(), "application/rss+xml")
            return True
        return False


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
