"""Signals, for real: a `newsflow ingest` subprocess in its own process group gets SIGTERM while a page is
slow, SIGINT twice while it waits for the writer slot, or SIGKILL; each ends within seconds, records
what it can, and leaves no process of its group behind.  (A Ctrl-C at a random point of a run is in
``test_crash.py``.)
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import duckdb
import psutil
import pytest

from flows.demo_server import DemoSiteHandler, serve_site

#: The run must be over this long after the signal (it takes ~2 s; a loaded machine is slower).
ENDS_WITHIN = 20.0


class StuckSite(DemoSiteHandler):
    """Every page answers only when the test lets it (or after a minute)."""

    requested = threading.Event()
    release = threading.Event()
    protocol_version = "HTTP/1.1"
    counter: ClassVar[int] = 0

    def do_GET(self) -> None:
        if self.path.startswith("/robots.txt"):
            self.send_body(404, b"", "text/plain")
            return
        type(self).requested.set()
        self.release.wait(60)
        self.send_body(200, b"<html><body><p>late</p></body></html>", "text/html")


@pytest.fixture
def stuck_site() -> Iterator[str]:
    StuckSite.requested.clear()
    StuckSite.release.clear()
    with serve_site(StuckSite) as base:
        yield base
        StuckSite.release.set()


def _start(tmp_path: Path, db: Path, urls: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    script = Path(sys.executable).with_name("newsflow")
    return subprocess.Popen(
        [str(script), "ingest", *urls, "--db", str(db)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _group(pgid: int) -> list[psutil.Process]:
    left = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                left.append(process)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return left


def _assert_group_gone(pgid: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _group(pgid)
    for process in left:
        process.kill()
    assert not left, [" ".join(p.cmdline())[:120] for p in left]


def _ended(process: subprocess.Popen[str], signalled: float) -> str:
    try:
        _, err = process.communicate(timeout=ENDS_WITHIN + 30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("the run did not end after the signal")
    elapsed = time.monotonic() - signalled
    assert elapsed < ENDS_WITHIN, f"the run took {elapsed:.1f} s to end"
    assert "Traceback" not in err, err
    return err


def _runs(db: Path) -> list[tuple[str, str | None]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [(str(s), e) for s, e in con.execute("SELECT status, error FROM runs ORDER BY started_at").fetchall()]


def test_sigterm_while_a_page_is_slow_cancels_the_run(tmp_path: Path, stuck_site: str) -> None:
    db = tmp_path / "news.duckdb"
    run = _start(tmp_path, db, [f"{stuck_site}/a", f"{stuck_site}/b"])
    assert StuckSite.requested.wait(90), "the run never fetched"
    signalled = time.monotonic()
    os.killpg(run.pid, signal.SIGTERM)
    err = _ended(run, signalled)
    assert run.returncode == 143
    assert "stopped by SIGTERM" in err
    _assert_group_gone(run.pid)
    assert _runs(db) == [("cancelled", "interrupted by SIGTERM")]


def test_two_ctrl_c_while_waiting_for_the_writer_slot_exit_at_once(tmp_path: Path, stuck_site: str) -> None:
    db = tmp_path / "news.duckdb"
    lock = db.with_name(db.name + ".lock")
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another writer holds the slot for as long as the test wants
    try:
        run = _start(tmp_path, db, [f"{stuck_site}/a"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and run.poll() is None:
            # the run has opened the lock file: it is waiting for the slot
            opened = {f.path for f in psutil.Process(run.pid).open_files()}
            if str(lock) in opened:
                break
            time.sleep(0.1)
        assert run.poll() is None, run.communicate()
        signalled = time.monotonic()
        os.killpg(run.pid, signal.SIGINT)
        time.sleep(0.3)
        os.killpg(run.pid, signal.SIGINT)
        _ended(run, signalled)
        assert run.returncode == 130
        _assert_group_gone(run.pid)
    finally:
        os.close(holder)
    assert not db.exists() or _runs(db) in ([], [("running", None)])  # nothing half-written


def test_sigkill_of_the_command_alone_leaves_no_child(tmp_path: Path, stuck_site: str) -> None:
    db = tmp_path / "news.duckdb"
    run = _start(tmp_path, db, [f"{stuck_site}/a"])
    assert StuckSite.requested.wait(90), "the run never fetched"
    children = psutil.Process(run.pid).children(recursive=True)
    assert children  # the temporary Prefect server, the watchdog
    os.kill(run.pid, signal.SIGKILL)  # the command's process only, as the OOM killer would
    run.communicate(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=10)
    for process in alive:
        process.kill()
    assert not alive, [" ".join(p.cmdline())[:120] for p in alive]
    _assert_group_gone(run.pid)


def test_a_wait_whose_future_fails_after_a_signal_ends_as_the_signal() -> None:
    # Ctrl-C stops the worker pool under a batch's wait: its BrokenProcessPool is the signal's doing, and
    # must end the wait as the signal (no task failure with the pool's traceback in the run's log)
    from concurrent.futures import Future

    from crawl import interrupts

    future: Future[int] = Future()
    future.set_exception(OSError("handle is closed"))
    with pytest.raises(OSError, match="handle is closed"):
        interrupts.wait_for(future)  # no signal: the failure is the failure
    interrupts.CANCELLED.set()
    try:
        with pytest.raises(interrupts.Interrupted):
            interrupts.wait_for(future)
    finally:
        interrupts.CANCELLED.clear()


def test_an_error_caused_by_a_signal_is_the_signal() -> None:
    import signal as signals

    from crawl import interrupts

    error = RuntimeError("Query interrupted")  # what DuckDB makes of an interrupt mid-query
    error.__cause__ = interrupts.Interrupted(signals.SIGINT)
    assert interrupts.signal_of(error) == signals.SIGINT
    assert interrupts.signal_of(RuntimeError("disk I/O error")) is None
    interrupts.CANCELLED.set()
    try:
        assert interrupts.signal_of(OSError("handle is closed")) == signals.SIGINT
    finally:
        interrupts.CANCELLED.clear()
