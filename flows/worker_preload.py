"""Imported by the extraction pool's fork server only (its preload list): the extractors are imported
and warmed (``extractors.warmup``) once there, before it forks any worker, instead of in each worker.

What that leaves in memory (modules, the language model, dateparser's tables) lives as long as the
workers do, so it is then frozen out of garbage collection (``gc.freeze``, as Python's documentation
advises before forking): a worker's collections scan only what its pages make, and never write to the
inherited objects, which stay shared with the fork server instead of being copied into each worker."""

from __future__ import annotations

import contextlib
import gc

from extractors.warmup import warm_up

# a warm-up that fails leaves the workers loading lazily, as they would without it; an exception here
# would stop the fork server itself
with contextlib.suppress(Exception):
    warm_up()
gc.freeze()
