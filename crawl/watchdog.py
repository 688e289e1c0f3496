"""Stops a command's child processes once the command's process is gone (run as a script, no imports
of newsflow: ``python -I watchdog.py PID``).

Every ``SCAN_SECONDS`` it notes the descendants of PID (from ``/proc``), each with its start time so a
recycled process id is never mistaken for one of them.  When PID has ended (its parent changed), it
sends SIGTERM to those still running, SIGKILL to any left ``KILL_AFTER_SECONDS`` later, and exits.
It ignores SIGINT and SIGTERM: a Ctrl-C to the whole process group must not stop it before the
command it watches has ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

SCAN_SECONDS = 0.3
KILL_AFTER_SECONDS = 3.0


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()  # the command name may hold spaces and parentheses
    return int(fields[1]), int(fields[19])


def _descendants(root: int, own: int) -> dict[int, int]:
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            found = _stat(int(name))
            if found is not None:
                children.setdefault(found[0], []).append(int(name))
                starts[int(name)] = found[1]
    result: dict[int, int] = {}
    todo = list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        if pid != own and pid in starts:
            result[pid] = starts[pid]
            todo += children.get(pid, ())
    return result


def _alive(pid: int, start: int) -> bool:
    found = _stat(pid)
    return found is not None and found[1] == start


def main(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    own = os.getpid()
    known: dict[int, int] = {}
    while os.getppid() == parent:
        # keep what was seen before: a child that has just been reparented is no longer a descendant
        known = {pid: start for pid, start in known.items() if _alive(pid, start)}
        known.update(_descendants(parent, own))
        time.sleep(SCAN_SECONDS)
    for pid, start in known.items():
        if _alive(pid, start):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_AFTER_SECONDS
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in known.items()):
        time.sleep(0.1)
    for pid, start in known.items():
        if _alive(pid, start):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    main(int(sys.argv[1]))
