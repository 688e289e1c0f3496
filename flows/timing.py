"""Where a run's wall time goes: busy time per stage, and the time no stage was working.

Stages overlap (the next batch is fetched while this one is extracted and the
previous one stored), so each stage's busy seconds are summed on their own and
the run's *idle* time is the wall time that no stage's interval covers: flow
start-up and the orchestration between tasks.  Batch tasks find their run's
clock by run id, as they find its HTTP session.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

STAGES = ("discover", "plan", "fetch", "extract", "store", "store-call", "gc")
"""``store-call`` is a store task call seen from the flow: the writer slot, Prefect's task run and ``store``."""


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds of one run: wall, busy per stage (overlapping), and idle (no stage at work)."""

    wall: float
    stages: tuple[tuple[str, float], ...]
    idle: float

    def busy(self, stage: str) -> float:
        return dict(self.stages).get(stage, 0.0)


class StageClock:
    """Collects (start, end) intervals per stage from any thread."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self._spans: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            with self._lock:
                self._spans.append((stage, start, time.perf_counter()))

    def timings(self) -> Timings:
        now = time.perf_counter()
        with self._lock:
            spans = sorted(self._spans, key=lambda s: s[1])
        busy = dict.fromkeys(STAGES, 0.0)
        covered, reach = 0.0, self.started
        for stage, start, end in spans:
            busy[stage] = busy.get(stage, 0.0) + end - start
            if end > reach:
                covered += end - max(start, reach)
                reach = end
        wall = now - self.started
        return Timings(wall, tuple(busy.items()), max(0.0, wall - covered))


_clocks: dict[str, StageClock] = {}


def start_clock(run_id: str) -> StageClock:
    clock = _clocks[run_id] = StageClock()
    return clock


def stop_clock(run_id: str) -> None:
    _clocks.pop(run_id, None)


@contextmanager
def stage(run_id: str | None, name: str) -> Iterator[None]:
    """Time the block as ``name`` work of run ``run_id`` (nothing when the run keeps no clock)."""
    clock = _clocks.get(run_id) if run_id else None
    if clock is None:
        yield
        return
    with clock.measure(name):
        yield
