"""The extraction workers start warm: the fork server loaded what the first page would load."""

from __future__ import annotations

import gc

from htmldate.extractors import get_external_parser

from extractors.language import _identifier
from flows.extraction_pool import ExtractionPool


def _loaded_in_worker() -> tuple[int, int, int]:
    # runs in a fresh worker, before it has extracted anything
    return _identifier.cache_info().currsize, get_external_parser.cache_info().currsize, gc.get_freeze_count()


def test_workers_start_with_the_language_model_and_the_date_parser_loaded() -> None:
    pool = ExtractionPool(1)
    try:
        model, date_parser, frozen = pool._pool.schedule(_loaded_in_worker).result(timeout=120)
    finally:
        pool.close()
    assert model == 1, "the worker had to load py3langid's model itself"
    assert date_parser == 1, "the worker had to build htmldate's dateparser itself"
    # the inherited objects are out of the worker's collections (a fresh interpreter freezes none)
    assert frozen > 20_000, f"only {frozen} objects frozen: the worker's collections scan what it inherited"
