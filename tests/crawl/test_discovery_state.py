"""Discovery state over sequences of runs: a 304 never hides an article a run should store.

The property test draws sequences of runs — uncapped and capped ``ingest``, ``backfill`` over random windows
(capped or not), ``refresh`` — with new articles appearing on a local site between them, and checks after every
step that each article some run was obliged to take is stored, exactly once.  A run is obliged to take every
article the site lists and dates inside its window (an uncapped ingest: every article the site lists), as the
site stood when the run began.  A refresh must also ask again for every stored article of its window.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.backfill import backfill
from flows.demo_server import demo_source_toml
from flows.ingest import ingest
from storage.queries import run_query
from tests.newsroom import Newsroom, newsroom_sources, serve_newsroom

pytestmark = pytest.mark.usefixtures("prefect_harness", "fast_fetch")

FIRST_DAY = date(2026, 1, 1)
DAYS = 150  # articles are published from January to May 2026


@dataclass(frozen=True)
class Step:
    kind: str
    """'add', 'ingest', 'backfill' or 'refresh'."""
    since: date | None = None
    until: date | None = None
    cap: int | None = None
    published: tuple[datetime, ...] = ()


def _day(offset: int) -> date:
    return FIRST_DAY + timedelta(days=offset)


moments = st.builds(
    lambda day, minute: datetime.combine(_day(day), datetime.min.time(), UTC) + timedelta(minutes=minute),
    st.integers(0, DAYS - 1),
    st.integers(0, 24 * 60 - 1),
)
windows = st.tuples(st.integers(0, DAYS - 1), st.integers(0, 60)).map(lambda w: (_day(w[0]), _day(w[0] + w[1])))
caps = st.none() | st.integers(1, 3)
steps = st.one_of(
    st.builds(lambda published: Step("add", published=tuple(published)), st.lists(moments, min_size=1, max_size=4)),
    st.builds(lambda cap: Step("ingest", cap=cap), caps),
    st.builds(lambda window, cap: Step("backfill", window[0], window[1], cap), windows, caps),
    st.builds(lambda window: Step("refresh", window[0], window[1]), windows),
)


class Obliged:
    """Which articles (slugs) the runs so far were obliged to store."""

    def __init__(self, newsroom: Newsroom) -> None:
        self.newsroom = newsroom
        self.slugs: set[str] = set()

    def take(self, step: Step) -> set[str]:
        """The articles ``step`` must store, as the site stands before it runs."""
        if step.cap is not None:
            return set()
        first = step.since or date.min
        last = step.until or date.max
        return {slug for slug, when in self.newsroom.newest() if first <= when.date() <= last}


def _stored(db: str, base: str) -> list[str]:
    if not Path(db).exists():
        return []
    rows = run_query(db, "SELECT canonical_url FROM articles").rows
    return [str(url).removeprefix(f"{base}/news/").strip("/") for (url,) in rows]


def _asked_again(db: str, base: str) -> set[str]:
    """Articles the last run asked for (a refresh asks conditionally: 304s)."""
    run = "(SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1)"
    rows = run_query(db, f"SELECT DISTINCT url FROM fetches WHERE run_id = {run} AND stage <> 'discover'").rows
    return {str(url).removeprefix(f"{base}/news/").strip("/") for (url,) in rows}


def _run(step: Step, db: str, sources: Path, capped: Path) -> None:
    if step.kind == "ingest":
        ingest(sources_file=str(capped if step.cap else sources), sources=["newsroom"], db=db)
    else:
        mode = "refresh" if step.kind == "refresh" else "new"
        backfill(sources=["newsroom"], since=step.since, until=step.until, mode=mode, max_articles=step.cap,
                 sources_file=str(sources), db=db)  # fmt: skip


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True,
)
@given(
    initial=st.lists(moments, min_size=1, max_size=8),
    plan=st.lists(steps, min_size=2, max_size=6),
    index_lastmod=st.booleans(),
)
def test_no_sequence_of_runs_misses_or_repeats_an_article(
    initial: list[datetime], plan: list[Step], index_lastmod: bool
) -> None:
    newsroom = Newsroom(index_lastmod=index_lastmod)
    for when in initial:
        newsroom.add(when)
    obliged = Obliged(newsroom)
    with serve_newsroom(newsroom) as base, tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "newsflow.duckdb")
        sources, capped = Path(folder) / "sources.toml", Path(folder) / "capped.toml"
        sources.write_text(newsroom_sources(base), encoding="utf-8")
        for step in plan:
            if step.kind == "add":
                for when in step.published:
                    newsroom.add(when)
                continue
            capped.write_text(newsroom_sources(base, max_articles_per_run=step.cap or 1), encoding="utf-8")
            before = set(_stored(db, base))
            obliged.slugs |= obliged.take(step)
            _run(step, db, sources, capped)
            stored = _stored(db, base)
            assert len(stored) == len(set(stored)), f"an article stored twice after {step}"
            assert set(stored) <= set(newsroom.articles)
            missing = sorted(obliged.slugs - set(stored))
            assert not missing, f"after {step}: {len(missing)} article(s) never stored: {missing}"
            if step.kind == "refresh":
                window = obliged.take(step) & before
                assert window <= _asked_again(db, base), f"the refresh {step} did not ask again for every article"


@pytest.fixture
def demo_sources(site: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sources.toml"
        path.write_text(demo_source_toml(site), encoding="utf-8")
        yield path


def _articles(db: str) -> int:
    return int(run_query(db, "SELECT count(*) FROM articles").rows[0][0])  # type: ignore[arg-type]


def test_a_second_earlier_window_lands_its_articles_and_an_ingest_the_rest(demo_sources: Path, db_path: str) -> None:
    """The case the issue found on the demo site: May–June, then March–April, then everything."""
    may = backfill(sources=["demo"], since=date(2026, 5, 1), until=date(2026, 6, 30), sources_file=str(demo_sources),
                   db=db_path)  # fmt: skip
    assert may.new == 3 and _articles(db_path) == 3
    march = backfill(sources=["demo"], since=date(2026, 3, 1), until=date(2026, 4, 30),
                     sources_file=str(demo_sources), db=db_path)  # fmt: skip
    assert march.new == 2 and _articles(db_path) == 5
    rest = ingest(sources=["demo"], sources_file=str(demo_sources), db=db_path)
    assert rest.new == 3 and _articles(db_path) == 8
    # every entry is now stored: the feed, the sitemap and the home page are settled and answer 304
    again = ingest(sources=["demo"], sources_file=str(demo_sources), db=db_path)
    assert (again.requested, again.new) == (0, 0)
    discovery = run_query(
        db_path, f"SELECT outcome FROM fetches WHERE run_id = '{again.run_id}' AND stage = 'discover'"
    ).rows
    assert {row[0] for row in discovery} == {"not_modified"}
    summary = dict(may.sources)["demo"]
    assert summary["skipped"] == 0


def test_a_capped_run_leaves_the_rest_to_the_next_and_says_what_it_left_out(demo_sources: Path, db_path: str) -> None:
    capped = backfill(sources=["demo"], days=0, max_articles=3, sources_file=str(demo_sources), db=db_path)
    assert capped.new == 3
    rest = ingest(sources=["demo"], sources_file=str(demo_sources), db=db_path)
    assert rest.new == 5 and _articles(db_path) == 8


def test_a_refresh_asks_again_for_every_stored_article(demo_sources: Path, db_path: str) -> None:
    ingest(sources=["demo"], sources_file=str(demo_sources), db=db_path)
    ingest(sources=["demo"], sources_file=str(demo_sources), db=db_path)  # discovery documents now settled
    refreshed = backfill(sources=["demo"], days=0, mode="refresh", sources_file=str(demo_sources), db=db_path)
    assert (refreshed.not_modified, refreshed.new) == (8, 0)


def test_a_sitemap_index_that_answers_304_still_leads_to_its_changed_sitemaps(db_path: str) -> None:
    newsroom = Newsroom(index_lastmod=False)  # the index does not change when a month's sitemap does
    days = (3, 40, 41, 42, 43, 70, 71, 72)
    for day in days:
        newsroom.add(datetime.combine(_day(day), datetime.min.time(), UTC))
    with serve_newsroom(newsroom) as base, tempfile.TemporaryDirectory() as folder:
        sources = Path(folder) / "sources.toml"
        sources.write_text(newsroom_sources(base), encoding="utf-8")
        assert ingest(sources=["newsroom"], sources_file=str(sources), db=db_path).new == len(days)
        # an old story appears in January's sitemap only: not on the home page, not in the feed
        late = newsroom.add(datetime.combine(_day(5), datetime.min.time(), UTC))
        report = ingest(sources=["newsroom"], sources_file=str(sources), db=db_path)
        assert report.new == 1 and late in _stored(db_path, base)
        outcomes = dict(run_query(
            db_path, f"SELECT url, outcome FROM fetches WHERE run_id = '{report.run_id}' AND stage = 'discover'"
        ).rows)  # fmt: skip
        assert outcomes[f"{base}/sitemap.xml"] == outcomes[f"{base}/"] == outcomes[f"{base}/feed.xml"] == "not_modified"
        assert outcomes[f"{base}/sitemaps/2026-01.xml"] == "fetched"
        assert outcomes[f"{base}/sitemaps/2026-02.xml"] == "not_modified"
