"""Imported by the extraction pool's fork server only (its preload list): the extractors are imported
and warmed (``extractors.warmup``) once there, before it forks any worker, instead of in each worker."""

from __future__ import annotations

import contextlib

from extractors.warmup import warm_up

# a warm-up that fails leaves the workers loading lazily, as they would without it; an exception here
# would stop the fork server itself
with contextlib.suppress(Exception):
    warm_up()
