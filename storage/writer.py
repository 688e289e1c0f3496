"""Batched, idempotent writes: pages, articles, fetch log and run rows.

Every write is keyed: articles on ``url_key`` (the folded canonical URL),
pages on (article key or final URL, HTML hash), fetch log rows on (run, URL,
attempt), HTTP validators on the requested URL, runs on the run id.
Re-running a batch or a whole flow therefore adds nothing twice, and an
article row is rewritten only when its content hash (or the extractor
version) changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from extractors.errors import StorageError
from extractors.fingerprint import CANDIDATE_BITS, COPY_RESEMBLANCE, body_fingerprints, estimated_resemblance
from extractors.records import (
    ArchiveFileDone,
    Article,
    Attempt,
    DocumentRead,
    Failure,
    FetchedPage,
    NotModified,
)
from storage.connection import write_connection
from storage.lookups import known_among
from storage.packing import PackedHtml, pack_html
from storage.page_files import PageBody, file_name, sweep_orphans, write_bodies

_TS = pa.timestamp("us", tz="UTC")
_LINKS = pa.list_(pa.struct([("text", pa.string()), ("url", pa.string())]))


@dataclass(frozen=True, slots=True)
class Extracted:
    """An article and the page it was extracted from (packed for storage where it was extracted)."""

    page: FetchedPage
    article: Article
    packed: PackedHtml | None = None

    @property
    def key(self) -> str:
        """The article's url_key; an article without one (a local file naming no http(s) address) cannot
        be stored."""
        if self.article.url_key is None:
            raise StorageError(self.page.url, "the article has no http(s) address to be stored under")
        return self.article.url_key


@dataclass(frozen=True, slots=True)
class MergedBatch:
    """A staged batch (storage/staging.py) that a write merges: its ``staged_batches`` row is written in the
    same transaction, so a batch is either merged and marked, or neither."""

    batch_id: str
    run_id: str
    kind: str
    shard: str | None
    items: int
    written_at: datetime
    merge_run_id: str


def _mark_merged(con: duckdb.DuckDBPyConnection, merged: MergedBatch | None) -> None:
    if merged is None:
        return
    con.execute(
        "INSERT INTO staged_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [merged.batch_id, merged.run_id, merged.kind, merged.shard, merged.items, merged.written_at,
         datetime.now(UTC), merged.merge_run_id],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class BatchCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    pages: int = 0
    not_modified: int = 0


def _packed(pages: Sequence[FetchedPage], ready: Mapping[str, PackedHtml]) -> dict[str, PackedHtml]:
    """Each page's packed body: the one its extraction worker made, or packed here (pages that failed)."""
    return {p.url: ready.get(p.url) or pack_html(p.body) for p in pages}


def _pages_table(
    pages: Sequence[FetchedPage], keys: dict[str, str], run_id: str, packed: Mapping[str, PackedHtml]
) -> pa.Table:
    return pa.table(
        {
            "row": pa.array(range(len(pages)), pa.int32()),
            "url": [p.url for p in pages],
            "final_url": [p.final_url for p in pages],
            "url_key": [keys.get(p.url) for p in pages],
            "status": pa.array([p.status for p in pages], pa.int32()),
            "headers": [json.dumps(dict(p.headers)) for p in pages],
            "html_sha256": [packed[p.url].sha256 for p in pages],
            "html_bytes": pa.array([len(p.body) for p in pages], pa.int32()),
            "fetched_at": pa.array([p.fetched_at for p in pages], _TS),
            "run_id": [run_id] * len(pages),
        }
    )


_PAGE_COLUMNS = "url, final_url, url_key, status, headers, html_sha256, html_bytes, fetched_at, run_id"


def _write_pages(
    con: duckdb.DuckDBPyConnection,
    db_path: str | Path,
    pages: Sequence[FetchedPage],
    keys: dict[str, str],
    run_id: str,
    packed: Mapping[str, PackedHtml],
) -> Future[str] | None:
    """Keep the pages whose HTML this article (or final URL) has not had yet: bodies to a file, rows here.

    Returns the writing of the bodies' file (None when no page is new): it must be on disk before the rows
    naming it commit, so that a crash in between leaves an orphan file (swept later), never a hole.
    """
    con.register("staged_pages", _pages_table(pages, keys, run_id, packed))
    try:
        fresh = [row for (row,) in con.execute(
            """
            SELECT s.row FROM staged_pages s
            WHERE NOT EXISTS (
                SELECT 1 FROM pages p
                WHERE p.html_sha256 = s.html_sha256
                  AND coalesce(p.url_key, p.final_url) = coalesce(s.url_key, s.final_url))
            ORDER BY s.row
            """
        ).fetchall()]  # fmt: skip
        if not fresh:
            return None
        bodies = [
            PageBody(packed[p.url].sha256, keys.get(p.url), p.final_url, packed[p.url].zlib)
            for p in (pages[row] for row in fresh)
        ]
        # written while the batch's other statements run (a few ms of I/O per batch on the writer's serial
        # path otherwise); store_batch waits for it before the transaction commits
        writing = _BODY_WRITER.submit(write_bodies, db_path, bodies)
        con.register("fresh_rows", pa.table({"row": pa.array(fresh, pa.int32())}))
        con.execute(
            f"INSERT INTO pages ({_PAGE_COLUMNS}, html_file) "
            f"SELECT {_PAGE_COLUMNS}, ? FROM staged_pages WHERE row IN (SELECT row FROM fresh_rows)",
            [file_name(bodies)],
        )
        con.unregister("fresh_rows")
        return writing
    finally:
        con.unregister("staged_pages")


def _articles_table(
    items: Sequence[Extracted], run_id: str, now: datetime, source: str | None, packed: Mapping[str, PackedHtml]
) -> pa.Table:
    arts = [i.article for i in items]
    return pa.table(
        {
            "url_key": [a.url_key for a in arts],
            "canonical_url": [a.canonical_url for a in arts],
            "url": [a.url for a in arts],
            "title": [a.title for a in arts],
            "authors": pa.array([list(a.authors) for a in arts], pa.list_(pa.string())),
            "published_at": pa.array([a.published_at for a in arts], _TS),
            "published_local": pa.array([a.published_local for a in arts], pa.string()),
            "modified_at": pa.array([a.modified_at for a in arts], _TS),
            "language": [a.language for a in arts],
            "site_name": [a.site_name for a in arts],
            "section": [a.section for a in arts],
            "tags": pa.array([list(a.tags) for a in arts], pa.list_(pa.string())),
            "description": [a.description for a in arts],
            "lead_image_url": [a.lead_image_url for a in arts],
            "body_text": [a.body_text for a in arts],
            "headings": pa.array([list(a.headings) for a in arts], pa.list_(pa.string())),
            "related_links": pa.array(
                [[{"text": r.text, "url": r.url} for r in a.related_links] for a in arts], _LINKS
            ),
            "word_count": pa.array([a.word_count for a in arts], pa.int32()),
            "is_paywalled": pa.array([a.is_paywalled for a in arts], pa.bool_()),
            "provenance": [json.dumps(dict(a.provenance)) for a in arts],
            "content_hash": [a.content_hash for a in arts],
            "extractor_version": [a.extractor_version for a in arts],
            "page_sha256": [packed[i.page.url].sha256 for i in items],
            "first_seen_at": pa.array([now] * len(arts), _TS),
            "updated_at": pa.array([now] * len(arts), _TS),
            "run_id": [run_id] * len(arts),
            "source": [source] * len(arts),
            "simhash": pa.array([a.simhash for a in arts], pa.uint64()),
            "sketch": pa.array([a.sketch for a in arts], pa.binary()),
        }
    )


_ARTICLE_COLUMNS = (
    "canonical_url", "url", "title", "authors", "published_at", "modified_at", "language", "site_name", "section",
    "tags", "description", "lead_image_url", "body_text", "headings", "related_links", "word_count", "is_paywalled",
    "provenance", "content_hash", "extractor_version", "page_sha256", "updated_at", "run_id", "simhash", "sketch",
    "published_local",
)  # fmt: skip
_INSERTED = ("url_key", *_ARTICLE_COLUMNS, "first_seen_at", "source")


def _record_versions(con: duckdb.DuckDBPyConnection) -> None:
    """Every distinct content of an article stays readable: one row per (article, content hash)."""
    con.execute(
        """
        INSERT INTO article_versions
        SELECT url_key, content_hash, updated_at, run_id, extractor_version, title, published_at, modified_at, body_text
        FROM staged_articles
        ON CONFLICT DO NOTHING
        """
    )


def _keys(con: duckdb.DuckDBPyConnection, name: str, keys: Sequence[str]) -> str:
    """Register ``keys`` as table ``name`` (one ``url_key`` column) for ``IN (SELECT url_key FROM name)``.

    Not a list parameter: DuckDB binds those value by value, trying to import pandas for each one,
    which cost ~0.3 s per batch of 200 articles.
    """
    con.register(name, pa.table({"url_key": pa.array(list(keys), pa.string())}))
    return name


def _link_duplicates(con: duckdb.DuckDBPyConnection, keys: Sequence[str], new: AbstractSet[str] = frozenset()) -> None:
    """Point every near-copy of the changed articles (``new``: those first stored in this batch) at the
    earliest copy (``duplicate_of``), per batch.

    Set-based: one query pairs the changed articles with every family root (and each other) whose
    SimHash is within ``CANDIDATE_BITS``; pairs already in one family are not compared again, so a story
    with a hundred stored copies costs one exact comparison (against its family's root), not a hundred.
    """
    if not keys:
        return
    _keys(con, "changed_keys", keys)
    # the candidates (family roots, and the batch itself) are chosen before the join, not in its condition:
    # there DuckDB compares every stored article first (70 ms per batch at 20,000 articles, against 4 ms)
    pairs = con.execute(
        """
        WITH s AS (
            SELECT url_key, simhash FROM articles
            WHERE url_key IN (SELECT url_key FROM changed_keys) AND simhash IS NOT NULL
        ), a AS (
            SELECT url_key, simhash FROM articles WHERE duplicate_of IS NULL AND simhash IS NOT NULL
            UNION SELECT url_key, simhash FROM s
        )
        SELECT s.url_key, a.url_key FROM s JOIN a
            ON a.url_key <> s.url_key AND bit_count(xor(a.simhash, s.simhash)) <= ?
        """,
        [CANDIDATE_BITS],
    ).fetchall()
    if not pairs:
        return
    involved = sorted({k for pair in pairs for k in pair})
    sketches = _sketches(con, involved)
    family: dict[str, str] = {k: k for k in involved}

    def find(key: str) -> str:
        while family[key] != key:
            family[key] = family[family[key]]
            key = family[key]
        return key

    for one, other in pairs:
        if (
            find(one) != find(other)
            and one in sketches
            and other in sketches
            and estimated_resemblance(sketches[one], sketches[other]) >= COPY_RESEMBLANCE
        ):
            family[find(one)] = find(other)
    groups: dict[str, list[str]] = {}
    for key in involved:
        groups.setdefault(find(key), []).append(key)
    linked = [g for g in groups.values() if len(g) > 1]
    if not linked:
        return
    members = [k for g in linked for k in g]
    # a family's root is its earliest member (copies published at the same time: the least url_key, not the
    # first stored, so that the same pages give the same families whatever order they arrive in, as from
    # crawl workers merged later); whatever followed a member that stops being a root follows the new root
    # (followers are never earlier than their root, so they need not be ordered here: with them, every batch
    # re-ordered whole families, a cost growing with the table)
    ranked = con.execute(
        f"""
        SELECT url_key, row_number() OVER (ORDER BY coalesce(published_at, first_seen_at), url_key),
               duplicate_of IS NULL
        FROM articles WHERE url_key IN (SELECT url_key FROM {_keys(con, "members", members)})
        """
    ).fetchall()  # fmt: skip
    order = {key: rank for key, rank, _ in ranked}
    # only a stored root can have followers (an article new in this batch has none yet)
    was_root = {key for key, _, root in ranked if root and key not in new}
    root_of: dict[str, str | None] = {}
    for group in linked:
        root = min(group, key=order.__getitem__)
        root_of.update((key, None if key == root else root) for key in group)
    con.register("family_roots", pa.table({"url_key": list(root_of), "root": list(root_of.values())}))
    con.execute(
        "UPDATE articles SET duplicate_of = f.root FROM family_roots f "
        "WHERE articles.url_key = f.url_key AND articles.duplicate_of IS DISTINCT FROM f.root"
    )
    con.unregister("family_roots")
    demoted = {key: root for key, root in root_of.items() if root is not None and key in was_root}
    if demoted:
        # the followers of a root that an earlier copy displaced: looking for them scans the whole table,
        # so only when there is such a root (a copy published before its stored family, as in a backfill)
        con.register("demoted_roots", pa.table({"url_key": list(demoted), "root": list(demoted.values())}))
        con.execute(
            "UPDATE articles SET duplicate_of = f.root FROM demoted_roots f WHERE articles.duplicate_of = f.url_key"
        )
        con.unregister("demoted_roots")


def _sketches(con: duckdb.DuckDBPyConnection, keys: Sequence[str]) -> dict[str, bytes]:
    """The stored MinHash sketch of each article; rows from before sketches existed get theirs now.

    Only those rows' bodies are read: reading ``body_text`` back decompresses the whole column.
    """
    wanted = _keys(con, "involved", keys)
    found: dict[str, bytes | None] = dict(
        con.execute(f"SELECT url_key, sketch FROM articles WHERE url_key IN (SELECT url_key FROM {wanted})").fetchall()
    )
    missing = [key for key, sketch in found.items() if sketch is None]
    if missing:
        older = _keys(con, "unsketched", missing)
        bodies = con.execute(f"SELECT url_key, body_text FROM articles WHERE url_key IN (SELECT url_key FROM {older})")
        computed = {key: body_fingerprints(body) for key, body in bodies.fetchall()}
        filled = {key: prints.sketch for key, prints in computed.items() if prints is not None}
        if filled:
            con.register(
                "filled_sketches",
                pa.table({"url_key": list(filled), "sketch": pa.array(list(filled.values()), pa.binary())}),
            )
            con.execute(
                "UPDATE articles SET sketch = f.sketch FROM filled_sketches f WHERE articles.url_key = f.url_key"
            )
            con.unregister("filled_sketches")
        found.update(filled)
    # a body too short for a sketch has no SimHash either, so it is never a candidate
    return {key: sketch for key, sketch in found.items() if sketch is not None}


def _classify(con: duckdb.DuckDBPyConnection, items: Sequence[Extracted]) -> dict[str, str]:
    """url_key -> 'new' | 'updated' | 'unchanged', judged against the stored rows."""
    keys = _keys(con, "batch_keys", [i.key for i in items])
    existing = dict(
        con.execute(
            "SELECT url_key, content_hash || '|' || extractor_version FROM articles"
            f" WHERE url_key IN (SELECT url_key FROM {keys})"
        ).fetchall()
    )
    verdict = {}
    for item in items:
        stored = existing.get(item.key)
        if stored is None:
            verdict[item.key] = "new"
        elif stored == f"{item.article.content_hash}|{item.article.extractor_version}":
            verdict[item.key] = "unchanged"
        else:
            verdict[item.key] = "updated"
    return verdict


def _latest_per_key(items: Sequence[Extracted]) -> list[Extracted]:
    # ON CONFLICT keeps the first of two rows with one key in a batch: dedup first, latest fetch wins
    latest: dict[str, Extracted] = {}
    for item in sorted(items, key=lambda i: i.page.fetched_at):
        latest[item.key] = item
    return list(latest.values())


_FETCH_COLUMNS = (
    "run_id, url, attempt, final_url, url_key, fetched_at, status, outcome, stage, bytes, elapsed_ms, error, source"
)
FetchRow = tuple[str, str, int, str | None, str | None, datetime, int | None, str, str, int | None, int | None,
                 str | None, str | None]  # fmt: skip


def _attempt_rows(
    run_id: str,
    source: str | None,
    stage: str,
    attempts: Sequence[Attempt],
    final: tuple[str, str | None] | None,
    url_key: str | None = None,
) -> list[FetchRow]:
    """One row per attempt; ``final`` (outcome, error) replaces what the last attempt recorded."""
    rows: list[FetchRow] = []
    for index, a in enumerate(attempts):
        last = index == len(attempts) - 1
        outcome, error = final if final is not None and last else (a.outcome, a.error)
        # a failed try before the one that worked belongs to the fetch stage
        row_stage = stage if last or stage == "discover" else "fetch"
        rows.append((run_id, a.url, a.attempt, a.final_url, url_key, a.at, a.status, outcome, row_stage, a.bytes,
                     a.elapsed_ms, error, source))  # fmt: skip
    return rows


def fetch_rows(
    run_id: str,
    source: str | None,
    pages: Sequence[FetchedPage],
    extracted: Sequence[Extracted],
    failures: Sequence[Failure],
    not_modified: Sequence[NotModified] = (),
    verdict: dict[str, str] | None = None,
    stage: str = "store",
) -> list[FetchRow]:
    """The ``fetches`` rows of a batch: every attempt, the last one with the URL's final outcome."""
    verdict = verdict or {}
    article_of = {i.page.url: i.article for i in extracted}
    failure_of = {f.url: f for f in failures}
    rows: list[FetchRow] = []
    for page in pages:
        article = article_of.get(page.url)
        failure = failure_of.get(page.url)
        if article is not None:
            final: tuple[str, str | None] = (verdict.get(article.url_key or "", "unchanged"), None)
        elif failure is not None:
            final = (failure.outcome, failure.reason)
        else:
            final = ("fetched", None)
        attempts = page.attempts or (
            Attempt(page.url, 1, page.fetched_at, page.status, len(page.body), 0, "ok", None, page.final_url),
        )
        rows += _attempt_rows(run_id, source, stage, attempts, final, article.url_key if article else None)
    fetched = {page.url for page in pages}
    for failure in failures:
        if failure.url in fetched:
            continue  # fetched fine, failed later: recorded with the page above
        attempts = failure.attempts or (
            Attempt(failure.url, 1, failure.at, failure.status, None, 0, failure.outcome, failure.reason),
        )
        rows += _attempt_rows(run_id, source, failure.stage, attempts, None)
    for item in not_modified:
        rows += _attempt_rows(run_id, source, stage, item.attempts, None)
    return rows


_FETCH_TYPES = (
    pa.string(), pa.string(), pa.int32(), pa.string(), pa.string(), _TS, pa.int32(), pa.string(), pa.string(),
    pa.int64(), pa.int64(), pa.string(), pa.string(),
)  # fmt: skip


def _write_fetch_rows(con: duckdb.DuckDBPyConnection, rows: Sequence[FetchRow]) -> None:
    if not rows:
        return
    # a URL asked for twice in one batch (two feeds listing it) keeps one row per attempt
    unique = list({(r[0], r[1], r[2]): r for r in rows}.values())
    names = [c.strip() for c in _FETCH_COLUMNS.split(",")]
    # staged as one Arrow table: executemany binds row by row and costs ~5 ms per row here
    columns = {
        name: pa.array([r[i] for r in unique], kind)
        for i, (name, kind) in enumerate(zip(names, _FETCH_TYPES, strict=True))
    }
    con.register("staged_fetches", pa.table(columns))
    con.execute(
        f"""
        INSERT INTO fetches ({_FETCH_COLUMNS}) SELECT {_FETCH_COLUMNS} FROM staged_fetches
        ON CONFLICT (run_id, url, attempt) DO UPDATE SET
            final_url = excluded.final_url, url_key = excluded.url_key, fetched_at = excluded.fetched_at,
            status = excluded.status, outcome = excluded.outcome, stage = excluded.stage, bytes = excluded.bytes,
            elapsed_ms = excluded.elapsed_ms, error = excluded.error, source = excluded.source
        """
    )
    con.unregister("staged_fetches")


def _write_validators(
    con: duckdb.DuckDBPyConnection, responses: Sequence[FetchedPage | NotModified], now: datetime
) -> None:
    rows = {}
    for response in responses:
        validators = response.validators
        if validators.etag or validators.last_modified:
            rows[response.url] = (validators.etag, validators.last_modified)
    if not rows:
        return
    staged = pa.table({
        "url": list(rows), "etag": [r[0] for r in rows.values()], "last_modified": [r[1] for r in rows.values()],
        "updated_at": pa.array([now] * len(rows), _TS),
    })  # fmt: skip
    con.register("staged_validators", staged)
    con.execute(
        """
        INSERT INTO http_validators SELECT url, etag, last_modified, updated_at FROM staged_validators
        ON CONFLICT (url) DO UPDATE SET
            etag = excluded.etag, last_modified = excluded.last_modified, updated_at = excluded.updated_at
        -- a 304 usually repeats the validators: rewriting the same row costs more than checking it
        WHERE http_validators.etag IS DISTINCT FROM excluded.etag
           OR http_validators.last_modified IS DISTINCT FROM excluded.last_modified
        """
    )
    con.unregister("staged_validators")


#: One thread writes page-body files beside the database while the writer runs the batch's statements.
_BODY_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsflow-page-files")


@contextmanager
def _bodies_before_commit() -> Iterator[list[Future[str] | None]]:
    """Collects the body-file writes of a transaction; leaving waits for them, inside the transaction.

    A failed write fails the batch (it is rolled back); after a failure elsewhere the write is still
    waited for, so nothing is left writing once the batch is over, and its own error is dropped.
    """
    writes: list[Future[str] | None] = []
    try:
        yield writes
    except BaseException:
        futures_wait([w for w in writes if w is not None])
        raise
    for write in writes:
        if write is not None:
            write.result()


def store_batch(
    db_path: str | Path,
    run_id: str,
    pages: Sequence[FetchedPage],
    extracted: Sequence[Extracted],
    failures: Sequence[Failure],
    not_modified: Sequence[NotModified] = (),
    source: str | None = None,
    record_fetches: bool = True,
    archive_done: ArchiveFileDone | None = None,
    merged: MergedBatch | None = None,
) -> BatchCounts:
    """Write one batch in one transaction; returns what happened to the articles.

    ``record_fetches=False`` is for re-extraction from stored HTML: nothing was fetched.  ``archive_done``:
    the web archive file this batch ends, recorded as read in the same transaction as its last pages (its
    ``stored`` counts the articles stored before this batch; this batch's are added).  ``merged``: the staged
    batch these records come from, marked merged in the same transaction.
    """
    items = _latest_per_key(extracted)
    keys_by_url = {i.page.url: i.key for i in extracted}
    ready = {i.page.url: i.packed for i in extracted if i.packed is not None}
    packed = _packed([*pages, *(i.page for i in items)], ready)
    with write_connection(db_path) as con, _bodies_before_commit() as bodies:
        # read once the file is ours: writers take turns, so updated_at follows the order of the commits, and
        # a search-index build (storage.search) covers exactly the articles up to its newest updated_at
        now = datetime.now(UTC)
        verdict = _classify(con, items) if items else {}
        if pages:
            bodies.append(_write_pages(con, db_path, pages, keys_by_url, run_id, packed))
        changed = [i for i in items if verdict[i.key] != "unchanged"]
        if changed:
            con.register("staged_articles", _articles_table(changed, run_id, now, source, packed))
            assignments = ", ".join(f"{c} = excluded.{c}" for c in _ARTICLE_COLUMNS)
            columns = ", ".join(_INSERTED)
            keep_source = "source = coalesce(excluded.source, articles.source)"
            con.execute(
                f"INSERT INTO articles ({columns}) SELECT {columns} FROM staged_articles "
                f"ON CONFLICT (url_key) DO UPDATE SET {assignments}, {keep_source}"
            )
            _record_versions(con)
            con.unregister("staged_articles")
            _link_duplicates(con, [i.key for i in changed], {k for k, outcome in verdict.items() if outcome == "new"})
        if record_fetches:
            _write_fetch_rows(con, fetch_rows(run_id, source, pages, extracted, failures, not_modified, verdict))
        # validators only for pages whose article is stored: a page that failed extraction is asked for in full again
        stored = {i.page.url for i in extracted}
        _write_validators(con, [p for p in pages if p.url in stored] + list(not_modified), now)
        counts = [verdict[i.key] for i in items]
        if archive_done is not None:
            scope = archive_done.scope
            con.execute(
                "INSERT INTO archive_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [archive_done.path, sorted(scope.sources), scope.since, scope.until, archive_done.read,
                 archive_done.matched, archive_done.stored + len(counts), archive_done.broken, now, run_id],
            )  # fmt: skip
        _mark_merged(con, merged)
    return BatchCounts(
        new=counts.count("new"),
        updated=counts.count("updated"),
        unchanged=counts.count("unchanged"),
        failed=len(failures),
        pages=len(pages),
        not_modified=len(not_modified),
    )


def store_discovery(
    db_path: str | Path,
    run_id: str,
    source: str,
    documents: Sequence[FetchedPage | NotModified],
    failures: Sequence[Failure],
    read: Sequence[DocumentRead],
    rules: str,
    robots: Sequence[Attempt] = (),
    merged: MergedBatch | None = None,
) -> int:
    """Log the feeds, sitemaps and start pages a run fetched, and keep the state of those it may ask for
    conditionally next time; returns how many documents were settled.

    The rule is crawl/discovery.py's: of each document read in full, the version read is kept only if every
    article entry it listed is dealt with in the database now — stored, or failed for good (``known_among``);
    the older state of a document read in full goes in any case.  Decided here, after the run's articles were
    committed, from what the database holds rather than from what the run meant to fetch.
    """
    now = datetime.now(UTC)
    pages = [d for d in documents if isinstance(d, FetchedPage)]
    unchanged = [d for d in documents if isinstance(d, NotModified)]
    rows = fetch_rows(run_id, source, pages, [], failures, unchanged, stage="discover")
    rows += _attempt_rows(run_id, source, "robots", robots, None)
    with write_connection(db_path) as con:
        _write_fetch_rows(con, rows)
        known = known_among(con, [entry for document in read for entry in document.entries])
        settled = [d for d in read if d.validators.request_headers() and all(e in known for e in d.entries)]
        con.execute(
            "DELETE FROM discovery_state WHERE source = ? AND list_contains(?::VARCHAR[], url)",
            [source, [p.url for p in pages]],
        )
        if settled:
            children = pa.array(
                [[{"url": c.url, "published": c.published} for c in d.children] for d in settled],
                pa.list_(pa.struct([("url", pa.string()), ("published", _TS)])),
            )
            con.register("staged_state", pa.table({
                "url": [d.url for d in settled], "etag": [d.validators.etag for d in settled],
                "last_modified": [d.validators.last_modified for d in settled], "children": children,
                "entries": pa.array([len(d.entries) for d in settled], pa.int32()),
            }))  # fmt: skip
            con.execute(
                """
                INSERT INTO discovery_state
                SELECT ?, url, ?, etag, last_modified, children, entries, ?, ? FROM staged_state
                ON CONFLICT (source, url) DO UPDATE SET
                    rules = excluded.rules, etag = excluded.etag, last_modified = excluded.last_modified,
                    children = excluded.children, entries = excluded.entries, settled_at = excluded.settled_at,
                    run_id = excluded.run_id
                """,
                [source, rules, now, run_id],
            )
            con.unregister("staged_state")
        _mark_merged(con, merged)
    return len(settled)


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    flow: str
    started_at: datetime
    status: str
    parameters: str
    finished_at: datetime | None = None
    requested: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    failures: str = "{}"
    error: str | None = None
    not_modified: int = 0
    skipped: int = 0
    host: str | None = None
    pid: int | None = None


def record_run(
    db_path: str | Path, run: RunRecord, wait_seconds: float = 120.0, merged: MergedBatch | None = None
) -> None:
    """Insert or update the ``runs`` row of one flow run (waiting up to ``wait_seconds`` for the file)."""
    with write_connection(db_path, wait_seconds) as con:
        con.execute(
            """
            INSERT INTO runs (run_id, flow, started_at, finished_at, status, requested, fetched, new, updated,
                              unchanged, failed, failures, parameters, error, not_modified, skipped, host, pid)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (run_id) DO UPDATE SET
                finished_at = excluded.finished_at, status = excluded.status, requested = excluded.requested,
                fetched = excluded.fetched, new = excluded.new, updated = excluded.updated,
                unchanged = excluded.unchanged, failed = excluded.failed, failures = excluded.failures,
                error = excluded.error, not_modified = excluded.not_modified, skipped = excluded.skipped
            """,
            [
                run.run_id, run.flow, run.started_at, run.finished_at, run.status, run.requested, run.fetched,
                run.new, run.updated, run.unchanged, run.failed, run.failures, run.parameters, run.error,
                run.not_modified, run.skipped, run.host, run.pid,
            ],
        )  # fmt: skip
        _mark_merged(con, merged)


def mark_runs_crashed(db_path: str | Path, run_ids: Sequence[str], reason: str) -> None:
    """Mark runs that are still ``running`` as ``crashed``, with why (their process is gone)."""
    if not run_ids:
        return
    with write_connection(db_path) as con:
        con.execute(
            "UPDATE runs SET status = 'crashed', error = ? WHERE status = 'running' AND run_id IN (SELECT unnest(?))",
            [reason, list(run_ids)],
        )


def record_sources(db_path: str | Path, definitions: Sequence[tuple[str, str]]) -> None:
    """Upsert the configured sources (name, JSON definition) into ``sources``."""
    if not definitions:
        return
    now = datetime.now(UTC)
    with write_connection(db_path) as con:
        con.executemany(
            """
            INSERT INTO sources VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, updated_at = excluded.updated_at
            """,
            [(name, definition, now) for name, definition in definitions],
        )


def sweep_page_files(db_path: str | Path) -> int:
    """Remove page-body files no ``pages`` row names (a run killed between file and commit); returns how many."""
    with write_connection(db_path) as con:
        referenced = [name for (name,) in con.execute(
            "SELECT DISTINCT html_file FROM pages WHERE html_file IS NOT NULL").fetchall()]  # fmt: skip
    return sweep_orphans(db_path, referenced)
