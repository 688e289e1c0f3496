"""A per-page time budget for extraction.

A pathological page (a hundred thousand attributes, a ten-megabyte class name)
can keep trafilatura's or jusText's quadratic loops busy for minutes.  The
budget turns that into an ``ExtractionTimeout`` for that page alone.

It works by SIGALRM, so it applies where extraction runs in a process's main
thread: the pipeline's extraction workers, the CLI and tests.  Elsewhere (a
thread) it does nothing, and the extraction pool's hard per-chunk timeout,
which kills the worker, is what bounds the page.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from extractors.errors import ExtractionTimeout


class _Overrun(BaseException):
    # BaseException, not Exception: library code that catches Exception broadly must not swallow it
    pass


#: After the budget, how often the alarm fires again until the overrun reaches ``time_budget``.
_REPEAT_SECONDS = 0.05


def _on_alarm(signum: int, frame: object) -> None:
    raise _Overrun


@contextmanager
def time_budget(seconds: float | None, url: str) -> Iterator[None]:
    """Raise ``ExtractionTimeout`` for ``url`` if the block runs longer than ``seconds``."""
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        # an outer timer (someone else's alarm) is left alone rather than silently replaced
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return
    assert seconds is not None
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    # repeating: an overrun raised where Python swallows exceptions (a gc callback, a __del__) is raised again
    signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT_SECONDS)
    try:
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Overrun:
        # caught outside the inner finally: an alarm that fires just before the timer is cleared lands here too
        raise ExtractionTimeout(url, f"extraction took longer than its budget of {seconds:g} s") from None
    finally:
        signal.signal(signal.SIGALRM, previous)
