"""The stored corpus: versions, near-duplicates, search, exports, schema upgrades, inspection."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import storage.search
from extractors import Article, extract_html
from extractors.article import content_hash, fetched_page_from_file
from extractors.errors import StorageError
from extractors.fingerprint import (
    CANDIDATE_BITS,
    COPY_RESEMBLANCE,
    body_fingerprint,
    body_fingerprints,
    distance,
    estimated_resemblance,
    resemblance,
    shingles,
)
from flows.cli import app
from storage.connection import read_connection, write_connection
from storage.migrations import MIGRATIONS, applied_versions
from storage.queries import export_articles, run_query
from storage.search import index_state, rebuild_index, refresh_for_search, refresh_index, search
from storage.writer import Extracted, store_batch
from tests.golden import PAGES, load_expected

runner = CliRunner()
# another writer, as storage.connection's writers take it: the lock file beside the database
HOLD_WRITER_LOCK = (
    "import fcntl, sys, time; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); "
    "time.sleep(120)"
)


def _extracted(name: str, html: bytes | None = None, url: str | None = None) -> Extracted:
    expected = load_expected(name)
    body = html if html is not None else (PAGES / name / "page.html").read_bytes()
    page = fetched_page_from_file(body, url or expected["url"])
    return Extracted(page, extract_html(body, page.url))


def _store(db: str, *items: Extracted, source: str | None = None) -> None:
    store_batch(db, "run-1", [i.page for i in items], list(items), [], source=source)


@pytest.fixture
def corpus(tmp_path: Path) -> str:
    db = str(tmp_path / "corpus.duckdb")
    names = [p.name for p in sorted(PAGES.iterdir()) if (p / "page.html").exists()]
    _store(db, *(_extracted(name) for name in names), source="golden")
    rebuild_index(db)
    return db


def test_a_changed_paragraph_makes_a_second_version_not_a_second_article(tmp_path: Path) -> None:
    db = str(tmp_path / "versions.duckdb")
    original = (PAGES / "valley-courier-river" / "page.html").read_bytes()
    corrected = original.replace(b"unanimously", b"by 31 votes to 2")
    assert corrected != original
    _store(db, _extracted("valley-courier-river"))
    _store(db, _extracted("valley-courier-river", corrected))
    assert run_query(db, "SELECT count(*) FROM articles").rows == ((1,),)
    versions = run_query(db, "SELECT body_text FROM article_versions ORDER BY seen_at").rows
    assert len(versions) == 2
    assert "unanimously" in str(versions[0][0]) and "31 votes to 2" in str(versions[1][0])
    _store(db, _extracted("valley-courier-river", corrected))  # the same again: nothing new
    assert run_query(db, "SELECT count(*) FROM article_versions").rows == ((2,),)


def test_syndicated_copy_is_linked_and_a_story_on_the_same_topic_is_not(tmp_path: Path) -> None:
    db = str(tmp_path / "dups.duckdb")
    # the later copy is stored first: the link must still point at the earliest publication
    copy, original, other = (_extracted(n) for n in (
        "coastal-times-port-strike-copy", "harbour-wire-port-strike", "valley-courier-port-delays",
    ))  # fmt: skip
    _store(db, copy)
    _store(db, original, other)
    links = dict(run_query(db, "SELECT url_key, duplicate_of FROM articles").rows)
    assert links[copy.article.url_key] == original.article.url_key
    assert links[original.article.url_key] is None
    assert links[other.article.url_key] is None


def test_an_earlier_original_becomes_the_root_of_a_whole_family(tmp_path: Path) -> None:
    db = str(tmp_path / "family.duckdb")
    html = (PAGES / "coastal-times-port-strike-copy" / "page.html").read_bytes()
    copy = _extracted("coastal-times-port-strike-copy")
    mirror_url = "https://www.coastaltimes.example/mirror/rotterdam-dock-strike/"
    mirror = _extracted(
        "coastal-times-port-strike-copy",
        html.replace(b"/world/rotterdam-dock-strike-over-9-percent-deal/", b"/mirror/rotterdam-dock-strike/"),
        mirror_url,
    )
    _store(db, copy)
    _store(db, mirror)  # published at the same time: the least url_key is the root, whichever came first
    links = dict(run_query(db, "SELECT url_key, duplicate_of FROM articles").rows)
    assert links[copy.article.url_key] == mirror.article.url_key
    assert str(mirror.article.url_key) < str(copy.article.url_key)
    original = _extracted("harbour-wire-port-strike")
    _store(db, original)  # published earlier: the family's root now, followers of the old root included
    links = dict(run_query(db, "SELECT url_key, duplicate_of FROM articles").rows)
    assert links == {
        original.article.url_key: None,
        copy.article.url_key: original.article.url_key,
        mirror.article.url_key: original.article.url_key,
    }


def test_one_article_under_two_urls_is_linked_the_same_way_in_either_order(tmp_path: Path) -> None:
    html = (PAGES / "dagblad-oost-dijk" / "page.html").read_bytes()
    first = _extracted("dagblad-oost-dijk")
    moved = html.replace(b"dijkversterking-bij-zwolle-kost-40-miljoen-meer~a7731", b"dijk-zwolle-duurder~a7731")
    second = _extracted("dagblad-oost-dijk", moved, "https://www.dagbladoost.example/regio/dijk-zwolle-duurder~a7731/")
    links = {}
    for order, name in (((first, second), "first-then-second"), ((second, first), "second-then-first")):
        db = str(tmp_path / f"{name}.duckdb")
        for item in order:
            _store(db, item)
        links[name] = dict(run_query(db, "SELECT url_key, duplicate_of FROM articles").rows)
    # linked either way, and the same way whichever arrived first (as from crawl workers merged later)
    root = min(str(first.article.url_key), str(second.article.url_key))
    assert links["first-then-second"] == links["second-then-first"]
    assert sorted(links["first-then-second"].values(), key=str) == [None, root]


def test_fingerprint_thresholds_on_real_near_copies() -> None:
    copy, original, other = (_extracted(n).article.body_text for n in (
        "coastal-times-port-strike-copy", "harbour-wire-port-strike", "valley-courier-port-delays",
    ))  # fmt: skip
    one, two, three = (body_fingerprint(t) for t in (copy, original, other))
    assert one is not None and two is not None and three is not None
    assert distance(one, two) <= CANDIDATE_BITS and resemblance(copy, original) >= COPY_RESEMBLANCE
    assert resemblance(other, original) < 0.1
    assert body_fingerprint("too short to compare") is None
    # the stored sketches estimate the same resemblances closely enough to sit on the same side of the line
    texts = {"copy": copy, "original": original, "other": other}
    sketch = {name: body_fingerprints(text) for name, text in texts.items()}
    assert all(prints is not None for prints in sketch.values())
    estimate = {
        pair: estimated_resemblance(sketch[pair[0]].sketch, sketch[pair[1]].sketch)  # type: ignore[union-attr]
        for pair in (("copy", "original"), ("other", "original"), ("copy", "copy"))
    }
    assert abs(estimate["copy", "original"] - resemblance(copy, original)) < 0.1
    assert estimate["copy", "original"] >= COPY_RESEMBLANCE and estimate["other", "original"] < 0.1
    assert estimate["copy", "copy"] == 1.0


def test_articles_stored_before_sketches_are_sketched_when_compared(tmp_path: Path) -> None:
    db = str(tmp_path / "legacy.duckdb")
    original = _extracted("harbour-wire-port-strike")
    _store(db, original)
    with write_connection(db) as con:  # as a row written before migration 4 looks
        con.execute("UPDATE articles SET sketch = NULL")
    _store(db, _extracted("coastal-times-port-strike-copy"))
    rows = run_query(db, "SELECT url_key, duplicate_of, sketch IS NOT NULL FROM articles ORDER BY url_key").rows
    assert sorted(rows) == sorted(
        [(original.article.url_key, None, True), (_extracted("coastal-times-port-strike-copy").article.url_key,
                                                  original.article.url_key, True)]
    )  # fmt: skip


def test_search_ranks_the_klaten_article_first_with_a_highlighted_snippet(corpus: str) -> None:
    hits = search(corpus, "Qatar mediation")
    assert hits and "Qatar" in (hits[0].title or "")
    assert "**" in hits[0].snippet and "mediation" in hits[0].snippet.lower()
    assert search(corpus, "Qatar mediation", language="de") == []
    assert all(h.language == "id" for h in search(corpus, "banjir", language="id"))


def _store_quokka_census(db: str) -> str:
    """Store one more article, about quokkas (a word no golden page has); its URL."""
    klaten = _extracted("klaten-flashback")
    url = "https://gazette.example/news/quokka-census/"
    article = dataclasses.replace(
        klaten.article, url=url, canonical_url=url, url_key="gazette.example/news/quokka-census",
        title="Quokka census", body_text="Rangers counted every quokka on the island this spring.",
    )  # fmt: skip
    page = dataclasses.replace(klaten.page, url=url, final_url=url)
    _store(db, Extracted(page, dataclasses.replace(article, content_hash=content_hash(article))))
    return url


def test_a_stored_article_makes_the_index_stale_and_the_next_search_takes_it_in(corpus: str) -> None:
    with read_connection(corpus) as con:
        assert not index_state(con).stale
    assert refresh_index(corpus)[1] is False  # nothing changed since the fixture's build
    url = _store_quokka_census(corpus)
    with read_connection(corpus) as con:
        state = index_state(con)
    assert (state.stale, state.behind) == (True, 1)

    assert [hit.url for hit in search(corpus, "quokka")] == [url]
    with read_connection(corpus) as con:
        assert not index_state(con).stale


def test_a_search_while_another_process_writes_answers_from_the_index_as_it_is(
    corpus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_quokka_census(corpus)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER_LOCK, corpus + ".lock"], stdout=subprocess.PIPE, text=True
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        state = refresh_for_search(corpus, wait_seconds=0.5)
        assert (state.stale, state.behind) == (True, 1)
        assert search(corpus, "quokka", refresh=False) == []  # not in the index yet
        monkeypatch.setattr(storage.search, "SEARCH_WAIT_SECONDS", 0.5)
        result = runner.invoke(app, ["search", "Qatar mediation", "--db", corpus, "--json"])
        assert result.exit_code == 0, result.output
        assert "Qatar" in json.loads(result.stdout.splitlines()[0])["title"]
        assert "search index is 1 articles behind" in result.stderr
    finally:
        holder.kill()
        holder.wait()
    assert search(corpus, "quokka")  # the writer is gone: the next search takes it in


def test_search_cli_json(corpus: str) -> None:
    result = runner.invoke(app, ["search", "port strike wage deal", "--db", corpus, "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["rank"] == 1 and "port" in lines[0]["title"].lower()
    shown = runner.invoke(app, ["search", "Qatar mediation", "--db", corpus])
    assert shown.exit_code == 0 and "Qatar" in shown.stdout


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_export_reads_back_with_the_same_rows(corpus: str, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"articles.{fmt}"
    count = export_articles(corpus, fmt, out)  # type: ignore[arg-type]
    total = run_query(corpus, "SELECT count(*) FROM articles").rows[0][0]
    assert count == total
    reader = {"parquet": "read_parquet", "jsonl": "read_json_auto", "csv": "read_csv_auto"}[fmt]
    assert duckdb.sql(f"SELECT count(*) FROM {reader}('{out}')").fetchone() == (total,)
    if fmt == "parquet":
        table = pq.read_table(out)
        assert table.num_rows == total
        types = dict(zip(table.schema.names, (str(t) for t in table.schema.types), strict=True))
        assert types["authors"] == "list<element: string>" and types["published_at"].startswith("timestamp")
        assert types["related_links"].startswith("list<element: struct<text: string, url: string>>")
        again = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{out}')").fetchall()
        assert {r[0]: r[1] for r in again}["tags"] == "VARCHAR[]"


def test_export_cli_filters(corpus: str, tmp_path: Path) -> None:
    out = tmp_path / "de.parquet"
    result = runner.invoke(app, ["export", "--format", "parquet", "--out", str(out), "--lang", "de", "--db", corpus])
    assert result.exit_code == 0, result.output
    languages = {r[0] for r in duckdb.sql(f"SELECT DISTINCT language FROM read_parquet('{out}')").fetchall()}
    assert languages == {"de"}


def test_stats_and_show(corpus: str) -> None:
    stats = runner.invoke(app, ["stats", "--db", corpus])
    assert stats.exit_code == 0 and "golden" in stats.stdout and "database size" in stats.stdout
    pages = len([p for p in PAGES.iterdir() if (p / "page.html").exists()])
    assert f"over {pages} articles; up to date" in stats.stdout
    url = load_expected("klaten-flashback")["canonical_url"]
    shown = runner.invoke(app, ["show", url, "--db", corpus])
    assert shown.exit_code == 0, shown.output
    assert "versions" in shown.stdout and "fetches" in shown.stdout and "Qatar" in shown.stdout
    missing = runner.invoke(app, ["show", "https://nowhere.example/x", "--db", corpus])
    assert missing.exit_code == 1


def test_an_older_database_upgrades_without_losing_data(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db), config={"storage_compatibility_version": "v1.4.0"})
    applied_versions(con)
    for migration in MIGRATIONS[:2]:  # the schema as the previous release left it
        for statement in migration.statements:
            con.execute(statement)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [migration.version, migration.name, datetime.now(UTC)])  # fmt: skip
    article: Article = _extracted("klaten-flashback").article
    article = dataclasses.replace(article, content_hash=content_hash(article))
    con.execute(
        "INSERT INTO articles (url_key, canonical_url, url, title, body_text, word_count, content_hash, "
        "extractor_version, first_seen_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), now())",
        [article.url_key, article.canonical_url, article.url, article.title, article.body_text, article.word_count,
         article.content_hash, "newsflow-1"],
    )  # fmt: skip
    # validators the old rule kept for a feed read by a windowed run, and an article's own
    feed = "https://www.klatenflashback.example/feed.xml"
    con.execute("INSERT INTO http_validators VALUES (?, '\"f\"', NULL, now()), (?, '\"a\"', NULL, now())",
                [feed, article.url])  # fmt: skip
    con.execute("INSERT INTO fetches (run_id, url, attempt, fetched_at, outcome, stage) "
                "VALUES ('r', ?, 1, now(), 'fetched', 'discover')", [feed])  # fmt: skip
    con.close()
    with write_connection(db) as upgraded:
        assert applied_versions(upgraded) == {m.version for m in MIGRATIONS}
    assert run_query(db, "SELECT title FROM articles").rows == ((article.title,),)
    # the feed is read in full once more, under the rule that keeps a version only when all it lists was taken
    assert run_query(db, "SELECT url FROM http_validators").rows == ((article.url,),)
    assert run_query(db, "SELECT count(*), min(extractor_version) FROM article_versions").rows == ((1, "newsflow-1"),)
    assert run_query(db, "SELECT count(*) FROM articles_daily").rows[0][0] >= 1
    comments = run_query(db, "SELECT comment FROM duckdb_tables() WHERE table_name = 'articles'").rows
    assert "url_key" in str(comments[0][0])


@pytest.mark.parametrize(
    "text",
    [
        "\n\n".join(load_expected("klaten-flashback")["paragraphs"]),
        "\n\n".join(load_expected("harbour-wire-port-strike")["paragraphs"]),
        "config_value and snake_case names _leading and trailing_ underscores " * 6,  # punctuation to trafilatura
        "Straße ǅemal ﬁnal İstanbul ΣΊΣΥΦΟΣ " * 8,  # case folding that changes words
        "東京都の新しい港湾計画について 市長は 記者会見で 説明した " * 6,
    ],
)
def test_simhash_is_trafilaturas(text: str) -> None:
    """Same tokens, same hashes: a SimHash stored by an older newsflow (or trafilatura) stays comparable."""
    from trafilatura.deduplication import Simhash

    expected = Simhash(" ".join(sorted(shingles(text)))).hash
    assert body_fingerprint(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("aZ_9 -.'\nßİǅΣς\u0345\u0390\u1e96東")), max_size=40) | st.text(max_size=40))
def test_folded_words_are_the_words_of_the_folded_text(text: str) -> None:
    """The shingles' words, folded word by word where that is safe, are those of the case-folded text."""
    import re

    from extractors.fingerprint import _folded_words, words

    assert _folded_words(text, words(text)) == re.findall(r"\w+", text.casefold())


@pytest.mark.parametrize("tokens", [0, 1, 7, 64, 3000])
def test_the_sketch_is_each_bins_smallest_low_word(tokens: int) -> None:
    """The stored sketch's definition, bin by bin, over token hashes of every shape: sketches stored by an
    older newsflow stay comparable with new ones."""
    import random
    import struct

    from extractors.fingerprint import SKETCH_BINS, _sketch

    digests = random.Random(tokens).randbytes(8 * tokens) + b"\xff" * 8  # and a hash with every bit set
    expected = [0xFFFFFFFF] * SKETCH_BINS
    for (value,) in struct.iter_unpack(">Q", digests):
        expected[value >> 57] = min(expected[value >> 57], value & 0xFFFFFFFF)
    assert _sketch(digests) == struct.pack(f">{SKETCH_BINS}I", *expected)


def test_a_failed_index_build_reports_its_own_error(corpus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory limit is reset after the build; when the build failed, that reset must not hide why."""
    import storage.search

    monkeypatch.setattr(storage.search, "INDEX_MEMORY_LIMIT", "1MB")
    with pytest.raises(StorageError, match=r"(?i)out of memory") as raised:
        rebuild_index(corpus)
    assert "aborted" not in str(raised.value)
    monkeypatch.undo()
    rebuild_index(corpus)  # the database is fine afterwards
    assert search(corpus, "Qatar mediation")
