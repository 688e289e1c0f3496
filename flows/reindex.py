"""The ``reindex`` Prefect flow: bring the full-text search index up to date.

DuckDB's BM25 index does not follow inserts and a build reads the whole
corpus, so ingest runs leave it to this flow (scheduled by the ``reindex``
deployment) and to ``newsflow search``, which refreshes a stale index before
it answers.  A fresh index is left alone unless ``force`` is set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from prefect import flow, get_run_logger

from crawl.settings import load_settings
from flows.writer_guard import single_writer
from storage.search import refresh_index


@dataclass(frozen=True, slots=True)
class ReindexReport:
    db: str
    rebuilt: bool
    articles: int
    """Articles the index covers now."""
    built_at: datetime | None
    seconds: float


@flow(name="reindex", log_prints=False)
def reindex(db: str | None = None, force: bool = False) -> ReindexReport:
    """Rebuild the full-text search index if articles changed since its last build.

    Args:
        db: Path of the DuckDB file (default: NEWSFLOW_DB or ./newsflow.duckdb).
        force: Rebuild even if no article changed since the last build.
    """
    db_path = db or load_settings().db
    logger = get_run_logger()
    started = time.monotonic()
    with single_writer(db_path):
        state, rebuilt = refresh_index(db_path, force=force)
    seconds = time.monotonic() - started
    if rebuilt:
        logger.info("search index rebuilt over %d articles in %.1f s", state.indexed, seconds)
    else:
        logger.info("search index already covers all %d articles (built %s)", state.indexed, state.built_at)
    return ReindexReport(db_path, rebuilt, state.indexed, state.built_at, seconds)
