"""One HTTP client per run: an event-loop thread holding a fetcher per fetch policy for the whole run.

Batch tasks are plain synchronous Prefect tasks; without a session each would
open (and close) its own connection pool, losing kept-alive connections and the
robots.txt answers between batches.  A run opens one ``FetchSession``; its
tasks look it up by run id and submit their coroutines to its loop.  A task
that runs where no session exists (a retry in another process) falls back to
a client of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from crawl.fetcher import Fetcher, FetchPolicy
from crawl.interrupts import wait_for

T = TypeVar("T")


#: Seconds closing a session waits for its connection pools and loop (a cancelled run must not hang here).
CLOSE_SECONDS = 5.0


class SessionClosed(RuntimeError):
    """A fetch was asked of a session its run has already closed (the run is ending)."""


class FetchSession:
    """An event loop in a thread of its own, and one ``Fetcher`` (its own connection pool) per policy."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="newsflow-fetch", daemon=True)
        self._thread.start()
        self._fetchers: dict[FetchPolicy, Fetcher] = {}
        self._lock = threading.Lock()
        self._closed = False

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the session's loop and wait for its result.

        The wait ends early when the run is cancelled by a signal (``Interrupted``) or the session is
        closed under it (``SessionClosed``): a thread must never wait on a loop that no longer runs.
        """
        if self._closed:
            coro.close()
            raise SessionClosed("the run's fetch session is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)

        def cancel() -> None:
            if not self._loop.is_closed():  # cancelling schedules a call on the loop
                future.cancel()

        return wait_for(future, stop=self._raise_if_closed, cancel=cancel)

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise SessionClosed("the run's fetch session was closed while a fetch waited")

    def fetcher(self, policy: FetchPolicy) -> Fetcher:
        """The run's fetcher for ``policy`` (each source's politeness and network allowances)."""

        async def make() -> Fetcher:
            return Fetcher(policy)

        with self._lock:
            if policy not in self._fetchers:
                self._fetchers[policy] = self.run(make())
            return self._fetchers[policy]

    def close(self) -> None:
        closing = [
            asyncio.run_coroutine_threadsafe(fetcher.__aexit__(None, None, None), self._loop)
            for fetcher in self._fetchers.values()
        ]
        self._closed = True
        for future in closing:
            with suppress(Exception):
                future.result(timeout=CLOSE_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=CLOSE_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()


_sessions: dict[str, FetchSession] = {}


@contextmanager
def fetch_session(run_id: str) -> Iterator[FetchSession]:
    """Open the run's session; batch tasks of the run find it with ``session_for``."""
    session = FetchSession()
    _sessions[run_id] = session
    try:
        yield session
    finally:
        _sessions.pop(run_id, None)
        session.close()


def session_for(run_id: str | None) -> FetchSession | None:
    return _sessions.get(run_id) if run_id else None
