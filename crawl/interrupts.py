"""Ending a command cleanly on SIGINT and SIGTERM, and its child processes when it is killed.

The first signal sets ``CANCELLED`` and raises ``Interrupted`` in the main thread, where the flow
runs: the current transaction rolls back, the run's ``runs`` row is marked ``cancelled``, and the
command exits with 128 + the signal (130, 143).  Threads that wait (a batch's fetches, its
extraction) wait in short steps and give up once ``CANCELLED`` is set.  If the process has not ended
``GRACE_SECONDS`` later, or at a second signal, it exits at once.

A command that starts child processes (the extraction fork server and its workers, a temporary
Prefect server) also starts ``crawl/watchdog.py``: when the command's process is gone, however it
ended (SIGKILL included), the watchdog stops every process it had started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import TypeVar

T = TypeVar("T")

#: Set by the first SIGINT or SIGTERM: every wait of the run gives up.
CANCELLED = threading.Event()
#: Seconds between the first signal and an exit that no longer waits for cleanup.
GRACE_SECONDS = 10.0
#: How often a waiting thread looks at ``CANCELLED``.
POLL_SECONDS = 0.2


class Interrupted(BaseException):
    """The command was asked to stop by ``signum``; a BaseException, so no ``except Exception`` keeps it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_received: list[int] = []


def _handle(signum: int, frame: FrameType | None) -> None:
    if _received:
        os._exit(128 + _received[0])  # a second signal: at once (the watchdog stops the children)
    _received.append(signum)
    CANCELLED.set()
    timer = threading.Timer(GRACE_SECONDS, os._exit, (128 + signum,))
    timer.daemon = True
    timer.start()
    raise Interrupted(signum)


_exit_once_recorded: list[bool] = []


@contextmanager
def ending_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread while the block runs (main thread only),
    and a run they stop ends the process as soon as its ``runs`` row says so (``run_cancelled``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handle) for s in (signal.SIGINT, signal.SIGTERM)}
    _exit_once_recorded.append(True)
    try:
        yield
    finally:
        _exit_once_recorded.pop()
        for number, handler in previous.items():
            signal.signal(number, handler)


def signal_of(stop: BaseException) -> int | None:
    """The signal that ``stop`` reports, if it is a signal's doing: ours, Ctrl-C's KeyboardInterrupt, or
    Prefect's ``TerminationSignal`` (its flow engine installs its own SIGTERM handler during a run) -- also
    as the cause of another error (DuckDB turns an interrupt inside a query into "Query interrupted"), and
    any error once a signal has cancelled the run (a pool or connection it stopped failing under a wait)."""
    seen: set[int] = set()
    current: BaseException | None = stop
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found = _direct_signal(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
    if CANCELLED.is_set() and isinstance(stop, Exception):
        return _first_signal()
    return None


def _first_signal() -> int:
    """The signal that cancelled the run (SIGINT when the flag was set without one, as in tests)."""
    return _received[0] if _received else int(signal.SIGINT)


def _direct_signal(stop: BaseException) -> int | None:
    if isinstance(stop, Interrupted):
        return stop.signum
    if isinstance(stop, KeyboardInterrupt):
        return int(signal.SIGINT)
    number = getattr(stop, "signal", None)
    return number if type(stop).__name__ == "TerminationSignal" and isinstance(number, int) else None


def run_cancelled(signum: int, run_id: str) -> None:
    """A run stopped by ``signum`` has recorded it: every wait gives up, and a command's process ends now
    (one line, exit 128 + signum); a served run is left to Prefect."""
    CANCELLED.set()
    if _exit_once_recorded:
        sys.stderr.write(f"error: stopped by {signal.Signals(signum).name}: run {run_id} is recorded as cancelled\n")
        exit_now(128 + signum)


def raise_if_cancelled() -> None:
    if CANCELLED.is_set():
        raise Interrupted(_first_signal())


def wait_for(
    future: Future[T], stop: Callable[[], None] | None = None, cancel: Callable[[], object] | None = None
) -> T:
    """``future.result()``, waiting in short steps: a signal's cancellation (or ``stop``, which raises to
    end the wait) is seen within ``POLL_SECONDS``; the future is then cancelled (by ``cancel`` if given)."""
    try:
        while not future.done():
            raise_if_cancelled()
            if stop is not None:
                stop()
            wait([future], timeout=POLL_SECONDS)
    except BaseException:
        (cancel or future.cancel)()
        raise
    try:
        return future.result()
    except Exception:
        # a failure that comes after a signal (the run stopping its worker pool under this wait) is the
        # signal's doing: end as the other waits do, not with the pool's error and its traceback
        raise_if_cancelled()
        raise


def exit_now(code: int) -> None:
    """End the process at once with ``code``, after flushing its output: nothing waits for Prefect's
    event client or temporary server, which a Ctrl-C to the process group has often stopped already
    (their retries took seconds); the watchdog stops what is left of the children."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code)


_watchdog: subprocess.Popen[bytes] | None = None


def start_watchdog() -> None:
    """Start the watchdog of this process's children, once per process (Linux; elsewhere nothing)."""
    global _watchdog
    if _watchdog is not None or not Path("/proc/self/stat").exists():
        return
    script = Path(__file__).with_name("watchdog.py")
    _watchdog = subprocess.Popen(
        [sys.executable, "-I", str(script), str(os.getpid())], stdin=subprocess.DEVNULL, close_fds=True
    )
