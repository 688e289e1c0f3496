"""Per-host request pacing shared by every fetcher in the process.

A source's ``requests_per_second`` (or a robots.txt ``Crawl-delay``, whichever
is slower) spaces the *starts* of requests to one host.  Slots are reserved
under a lock before sleeping, so concurrent requests queue up evenly instead
of bursting, and the schedule survives from one fetch batch to the next.
"""

from __future__ import annotations

import asyncio
import threading
import time

# a little slack so that timestamps taken on the server side never see two requests closer than the rate
_SLACK = 1.02


class HostPacer:
    """Reserves evenly spaced start times per host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def reserve(self, host: str, interval: float) -> float:
        """Seconds to wait before the next request to ``host`` may start."""
        if interval <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + interval * _SLACK
            return start - now

    async def wait(self, host: str, interval: float) -> None:
        delay = self.reserve(host, interval)
        if delay > 0:
            await asyncio.sleep(delay)


#: One schedule per process: fetch batches of the same run share it.
PACER = HostPacer()
