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
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from extractors.errors import ExtractionTimeout


class _Overrun(BaseException):
    # BaseException, not Exception: library code that catches Exception broadly must not swallow it
    pass


#: After the budget, how often the alarm fires again until the overrun reaches ``time_budget``.
_REPEAT_SECONDS = 0.05


class time_budget:  # lower case: callers write ``with time_budget(seconds, url):``, as with a function
    """Raise ``ExtractionTimeout`` for ``url`` if the block runs longer than ``seconds``.

    A class, not a generator: leaving the block must stop the timer whatever the alarm does meanwhile.  Left
    through ``contextlib``, an alarm landing in its ``__exit__`` before the generator's ``finally`` ran escaped as
    a bare overrun and left the repeating timer running, raising into whatever code ran next; here the alarm
    holds its fire while ``__exit__`` is on the stack, and ``__exit__`` stops the timer first.
    """

    def __init__(self, seconds: float | None, url: str) -> None:
        self.seconds, self.url = seconds, url
        self._previous: Callable[[int, FrameType | None], Any] | int | signal.Handlers | None = None
        self._armed = False

    def __enter__(self) -> None:
        seconds = self.seconds
        self._armed = (
            seconds is not None
            and seconds > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            # an outer timer (someone else's alarm) is left alone rather than silently replaced
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        )
        if self._armed and seconds is not None:
            self._previous = signal.signal(signal.SIGALRM, _on_alarm)
            # repeating: an overrun raised where Python swallows exceptions (a gc callback, a __del__) is raised again
            signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT_SECONDS)

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if not self._armed:
            return
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)
        if kind is not None and issubclass(kind, _Overrun):
            raise ExtractionTimeout(self.url, f"extraction took longer than its budget of {self.seconds:g} s") from None


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    while frame is not None:
        if frame.f_code is _EXIT:
            return  # the block is being left: __exit__ stops the timer
        frame = frame.f_back
    raise _Overrun


_EXIT = time_budget.__exit__.__code__
