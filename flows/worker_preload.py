"""What the extraction pool's fork server loads once, before it forks any worker.

The fork server imports this module; each worker forked from it then starts with
the extractors imported and py3langid's model in memory (~0.5 s of CPU to load,
which every worker, and every replacement of a worker, would otherwise pay again;
its arrays stay shared copy-on-write between the workers).
"""

from __future__ import annotations

import flows.extraction_pool  # noqa: F401 - the module the workers run
from extractors.language import load_model

load_model()
