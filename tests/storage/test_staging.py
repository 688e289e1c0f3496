"""Staged batches: records through Parquet and back, and the merge over sequences of killed and finished
crawls (plain function calls on a staging directory and a real DuckDB file)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractors.records import (
    Article,
    Attempt,
    Discovered,
    DocumentRead,
    Failure,
    FetchedPage,
    NotModified,
    RelatedLink,
    Validators,
)
from extractors.urls import url_key
from storage.connection import held_connection
from storage.queries import run_query
from storage.staging import MANIFEST, RunStaging, StagedBatch, Staging, current_state, merge_batch, split_merged
from storage.writer import Extracted, RunRecord

AT = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def article(url: str, body: str = "Body text of the article.", simhash: int | None = 2**64 - 3) -> Article:
    return Article(
        url=url, canonical_url=url, url_key=url_key(url), title=f"Title ü {url}", authors=("Ana", "Budi"),
        published_at=AT, modified_at=None, language="id", site_name=None, section="News", tags=(),
        description=None, lead_image_url=None, body_text=body, headings=("One",),
        related_links=(RelatedLink("Also", "https://ex.com/x"),), word_count=len(body.split()), is_paywalled=None,
        provenance=(("title", "meta"), ("published_at", "jsonld")),
        content_hash=hashlib.sha256(body.encode()).hexdigest(), extractor_version="t", simhash=simhash,
        sketch=b"\x00\x01" if simhash else None, published_local="2026-11-03T16:30:00+07:00",
    )  # fmt: skip


def page(url: str, body: bytes = b"<html><body><p>x</p></body></html>") -> FetchedPage:
    tries = (Attempt(url, 1, AT, 503, None, 12, "http_error", "503"), Attempt(url, 2, AT, 200, len(body), 9, "ok"))
    return FetchedPage(url, url, 200, (("content-type", "text/html"), ("etag", '"v1"')), body, AT, tries)


def test_every_record_reads_back_as_it_was_written(tmp_path: Path) -> None:
    area = Staging(str(tmp_path / "staging"))
    staged = RunStaging(area, "run-a", "north")
    one, two = page("https://ex.com/a"), page("https://ex.com/b", b"\x00\xff binary")
    batch = staged.batch(
        "north", [one, two], [Extracted(one, article(one.url)), Extracted(two, article(two.url, "", None))],
        [Failure("https://ex.com/c", "fetch", "timeout", "read timed out", True, None, AT)],
        [NotModified("https://ex.com/d", "https://ex.com/d", (("etag", '"v2"'),), AT)],
    )  # fmt: skip
    found = staged.discovery(
        "north", "rules-1",
        [page("https://ex.com/feed"), NotModified("https://ex.com/map", "https://ex.com/map", (), AT)],
        [], [DocumentRead("https://ex.com/feed", Validators('"f"', None), ("https://ex.com/a",),
                          (Discovered("https://ex.com/a", AT, "feed"), Discovered("https://ex.com/b", None, "feed")))],
        [Attempt("https://ex.com/robots.txt", 1, AT, 404, 0, 3, "ok")],
    )  # fmt: skip
    run = staged.run(RunRecord("run-a", "crawl", AT, "completed", "{}", AT + timedelta(minutes=1), requested=4))
    for written in (batch, found, run):
        staged.write(written)
    refs = area.complete()
    assert [r.seq for r in refs] == [1, 2, 3]
    assert [r.kind for r in refs] == ["pages", "discovery", "run"]
    assert [area.read(r) for r in refs] == [batch, found, run]


def test_a_staging_url_that_cannot_be_used_is_a_storage_error(tmp_path: Path) -> None:
    import pytest

    from extractors.errors import StorageError

    with pytest.raises(StorageError, match="cannot use this staging URL"):
        Staging("nosuchprotocol://bucket/x")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError):
        RunStaging(Staging(str(blocker)), "r").write(StagedBatch("r", 1))


# --- sequences of crawls and merges -----------------------------------------------------------------------

SHARDS = {"north": [f"https://north.example/news/{i}" for i in range(7)],
          "south": [f"https://south.example/news/{i}" for i in range(7)]}  # fmt: skip


def crawl(area: Staging, shard: str, published: int, run: str, kill_at: int | None) -> list[str]:
    """A crawl worker's run over the shard's first ``published`` articles, as flows/shard.py makes it: what the
    published state knows is passed over, the rest staged two pages to a batch, then the run's row.
    ``kill_at``: the batch during whose writing the worker dies (its manifest never written).  Returns the
    ids of the batches left incomplete."""
    urls = SHARDS[shard][:published]
    known = area.read_state().known_urls(urls)
    todo = [u for u in urls if u not in known]
    staged = RunStaging(area, run, shard)
    batches = [todo[i : i + 2] for i in range(0, len(todo), 2)]
    for index, chunk in enumerate(batches):
        pages = [page(u, f"<p>{u}</p>".encode()) for u in chunk]
        made = [Extracted(p, article(p.url, f"Story of {p.url}", simhash=None)) for p in pages]
        batch = staged.batch(shard, pages, made, [], [])
        staged.write(batch)
        if index == kill_at:
            (Path(area.root) / "batches" / batch.batch_id / MANIFEST).unlink()
            return [batch.batch_id]
    staged.write(staged.run(RunRecord(run, "crawl", AT, "completed", "{}", AT)))
    return []


def merge(area: Staging, db: str, dies: bool = False) -> list[str]:
    """flows/merge.py's steps: every complete batch not merged yet, in order; the state published; the merged
    batches removed.  ``dies``: the merge is killed after its last commit, before it publishes or removes
    anything.  Returns the batches it merged."""
    refs, leftover = split_merged(db, area.complete())
    for ref in refs:
        merge_batch(db, area.read(ref), "merge-run")
    if dies:
        return [r.batch_id for r in refs]
    if refs or leftover or area.read_state_stamp() is None:
        area.publish_state(current_state(db), f"{len(refs)}-{datetime.now(UTC):%H%M%S%f}")
    for ref in [*leftover, *refs]:
        area.remove(ref)
    return [r.batch_id for r in refs]


STEP = st.one_of(
    st.tuples(st.just("crawl"), st.sampled_from(sorted(SHARDS)), st.integers(1, 7), st.none() | st.integers(0, 3)),
    st.tuples(st.sampled_from(["merge", "merge-dies"]), st.just(""), st.just(0), st.none()),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, max_size=8))
def test_killed_crawls_and_merges_in_any_order_lose_and_repeat_nothing(tmp_path_factory: object, steps: list) -> None:  # type: ignore[type-arg]
    base = tmp_path_factory.mktemp("seq")  # type: ignore[attr-defined]
    area, db = Staging(str(base / "staging")), str(base / "news.duckdb")
    published = dict.fromkeys(SHARDS, 0)
    incomplete: list[str] = []
    with held_connection(db):  # the merge host's open database, as a run's writer lease keeps it
        merged = _run(steps, area, db, published, incomplete)
    stored = {row[0] for row in run_query(db, "SELECT url FROM articles").rows}
    wanted = {u for name, urls in SHARDS.items() for u in urls[: published[name]]}
    assert stored == wanted  # nothing missed, nothing no crawl asked for
    marks = run_query(db, "SELECT batch_id FROM staged_batches").rows
    assert sorted(merged) == sorted(m[0] for m in marks)  # each complete batch merged exactly once
    assert not {m[0] for m in marks} & set(incomplete)  # a batch without its manifest is never merged
    assert area.complete() == []  # every complete batch merged and removed
    assert area.read_state().known_urls(sorted(wanted)) == wanted  # the published state knows it all


def _run(steps: list[tuple[str, str, int, int | None]], area: Staging, db: str, published: dict[str, int],
         incomplete: list[str]) -> list[str]:  # fmt: skip
    merged: list[str] = []
    for number, (op, shard, count, kill_at) in enumerate(steps):
        if op == "crawl":
            published[shard] = max(published[shard], count)  # the site only grows
            incomplete += crawl(area, shard, published[shard], f"run-{number}", kill_at)
        else:
            merged += merge(area, db, dies=op == "merge-dies")
    for name in SHARDS:  # then every shard crawled to its end, and merged
        crawl(area, name, published[name], f"final-{name}", None)
    return merged + merge(area, db)


def test_only_batches_a_dead_worker_left_unfinished_long_ago_are_swept(tmp_path: Path) -> None:
    import os

    area = Staging(str(tmp_path / "staging"))
    staged = RunStaging(area, "run-s")
    old, fresh, complete = (staged.batch("s", [page(f"https://ex.com/{n}")], [], [], []) for n in "abc")
    for batch in (old, fresh, complete):
        staged.write(batch)
    for batch in (old, fresh):
        (tmp_path / "staging" / "batches" / batch.batch_id / MANIFEST).unlink()
    long_ago = (datetime.now(UTC) - timedelta(hours=7)).timestamp()
    for path in (tmp_path / "staging" / "batches" / old.batch_id).iterdir():
        os.utime(path, (long_ago, long_ago))
    # a batch as old but complete is merged, never swept, even when not listed as complete (it just finished)
    for path in (tmp_path / "staging" / "batches" / complete.batch_id).iterdir():
        os.utime(path, (long_ago, long_ago))
    assert area.sweep_incomplete(timedelta(hours=6), []) == [old.batch_id]
    left = {p.name for p in (tmp_path / "staging" / "batches" / "run-s").iterdir()}
    assert left == {f"{fresh.seq:06d}", f"{complete.seq:06d}"}
    assert [r.batch_id for r in area.complete()] == [complete.batch_id]
