"""Versioned schema migrations, applied in order and recorded in ``schema_migrations``.

Each migration is a list of statements applied in one transaction.  Never
edit a released migration: add a new one, so existing databases upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


TABLE_COMMENTS: tuple[tuple[str, str], ...] = (
    ("articles", "Latest version of each article; key url_key = folded canonical URL."),
    ("article_versions", "Every distinct content hash an article has had, with when it was seen."),
    ("pages", "Raw HTML (zlib) per fetch that brought new content; re-extract without refetching."),
    ("fetches", "Every fetch attempt of every run: outcome, status, bytes, elapsed, error."),
    ("runs", "One row per flow run with its counts; failed runs say why."),
    ("sources", "The sources as last configured (sources.toml)."),
    ("http_validators", "ETag / Last-Modified per URL for conditional requests."),
)
PAGES_COMMENT = "Metadata per fetch that brought new content; the raw HTML is in html_file (or html_zlib, older rows)."
PAGES_FILE_COMMENT = "Parquet file in <database>.pages/ with this page's zlib-packed HTML (html_sha256 -> html_zlib)."
DISCOVERY_STATE_COMMENT = (
    "Per source and feed, sitemap or start page: the version (ETag / Last-Modified) read in full of which every "
    "listed article was stored or failed for good; only then is it asked for conditionally."
)
SKETCH_COMMENT = "128-bin MinHash of the body's shingles: estimates the resemblance of near-duplicates."
ARTICLE_COLUMN_COMMENTS: tuple[tuple[str, str], ...] = (
    ("url_key", "Dedup key: canonical URL with www./m./amp. and AMP suffixes folded."),
    ("canonical_url", "rel=canonical > JSON-LD url > og:url > fetched URL, normalised."),
    ("url", "The URL the page was fetched from."),
    ("published_at", "UTC; naive page times read in the source time zone."),
    ("provenance", "JSON map field -> jsonld | meta | html | text | url."),
    ("content_hash", "sha256 of what a reader sees; changes make a new article_versions row."),
    ("simhash", "64-bit SimHash of the body's 3-word shingles (near-duplicate detection)."),
    ("duplicate_of", "url_key of the earliest near-copy of this article, or NULL."),
    ("source", "Name of the source (sources.toml) that found the article."),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "articles, pages, fetches, runs",
        (
            """
            CREATE TABLE articles (
                url_key           VARCHAR PRIMARY KEY,
                canonical_url     VARCHAR NOT NULL,
                url               VARCHAR NOT NULL,
                title             VARCHAR,
                authors           VARCHAR[],
                published_at      TIMESTAMPTZ,
                modified_at       TIMESTAMPTZ,
                language          VARCHAR,
                site_name         VARCHAR,
                section           VARCHAR,
                tags              VARCHAR[],
                description       VARCHAR,
                lead_image_url    VARCHAR,
                body_text         VARCHAR NOT NULL,
                headings          VARCHAR[],
                related_links     STRUCT(text VARCHAR, url VARCHAR)[],
                word_count        INTEGER NOT NULL,
                is_paywalled      BOOLEAN,
                provenance        JSON,
                content_hash      VARCHAR NOT NULL,
                extractor_version VARCHAR NOT NULL,
                page_sha256       VARCHAR,
                first_seen_at     TIMESTAMPTZ NOT NULL,
                updated_at        TIMESTAMPTZ NOT NULL,
                run_id            VARCHAR
            )
            """,
            """
            CREATE TABLE pages (
                url         VARCHAR NOT NULL,
                final_url   VARCHAR NOT NULL,
                url_key     VARCHAR,
                status      INTEGER NOT NULL,
                headers     JSON,
                html_zlib   BLOB NOT NULL,
                html_sha256 VARCHAR NOT NULL,
                html_bytes  INTEGER NOT NULL,
                fetched_at  TIMESTAMPTZ NOT NULL,
                run_id      VARCHAR
            )
            """,
            """
            CREATE TABLE fetches (
                run_id      VARCHAR NOT NULL,
                url         VARCHAR NOT NULL,
                final_url   VARCHAR,
                url_key     VARCHAR,
                fetched_at  TIMESTAMPTZ NOT NULL,
                status      INTEGER,
                outcome     VARCHAR NOT NULL,
                stage       VARCHAR,
                bytes       INTEGER,
                error       VARCHAR,
                PRIMARY KEY (run_id, url)
            )
            """,
            """
            CREATE TABLE runs (
                run_id      VARCHAR PRIMARY KEY,
                flow        VARCHAR NOT NULL,
                started_at  TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                status      VARCHAR NOT NULL,
                requested   INTEGER DEFAULT 0,
                fetched     INTEGER DEFAULT 0,
                new         INTEGER DEFAULT 0,
                updated     INTEGER DEFAULT 0,
                unchanged   INTEGER DEFAULT 0,
                failed      INTEGER DEFAULT 0,
                failures    JSON,
                parameters  JSON,
                error       VARCHAR
            )
            """,
        ),
    ),
    Migration(
        2,
        "fetches per attempt, http_validators, not_modified counts",
        (
            """
            CREATE TABLE fetches_v2 (
                run_id      VARCHAR NOT NULL,
                url         VARCHAR NOT NULL,
                attempt     INTEGER NOT NULL,
                final_url   VARCHAR,
                url_key     VARCHAR,
                fetched_at  TIMESTAMPTZ NOT NULL,
                status      INTEGER,
                outcome     VARCHAR NOT NULL,
                stage       VARCHAR,
                bytes       INTEGER,
                elapsed_ms  INTEGER,
                error       VARCHAR,
                source      VARCHAR,
                PRIMARY KEY (run_id, url, attempt)
            )
            """,
            """
            INSERT INTO fetches_v2
            SELECT run_id, url, 1, final_url, url_key, fetched_at, status, outcome, stage, bytes, NULL, error, NULL
            FROM fetches
            """,
            "DROP TABLE fetches",
            "ALTER TABLE fetches_v2 RENAME TO fetches",
            """
            CREATE TABLE http_validators (
                url           VARCHAR PRIMARY KEY,
                etag          VARCHAR,
                last_modified VARCHAR,
                updated_at    TIMESTAMPTZ NOT NULL
            )
            """,
            "ALTER TABLE runs ADD COLUMN not_modified INTEGER DEFAULT 0",
            "ALTER TABLE runs ADD COLUMN skipped INTEGER DEFAULT 0",
        ),
    ),
    Migration(
        3,
        "article_versions, sources, near-duplicate columns, analyst views, table comments",
        (
            "ALTER TABLE articles ADD COLUMN source VARCHAR",
            "ALTER TABLE articles ADD COLUMN simhash UBIGINT",
            "ALTER TABLE articles ADD COLUMN duplicate_of VARCHAR",
            """
            CREATE TABLE article_versions (
                url_key           VARCHAR NOT NULL,
                content_hash      VARCHAR NOT NULL,
                seen_at           TIMESTAMPTZ NOT NULL,
                run_id            VARCHAR,
                extractor_version VARCHAR NOT NULL,
                title             VARCHAR,
                published_at      TIMESTAMPTZ,
                modified_at       TIMESTAMPTZ,
                body_text         VARCHAR NOT NULL,
                PRIMARY KEY (url_key, content_hash)
            )
            """,
            """
            INSERT INTO article_versions
            SELECT url_key, content_hash, updated_at, run_id, extractor_version, title, published_at, modified_at,
                   body_text
            FROM articles
            """,
            """
            CREATE TABLE sources (
                name       VARCHAR PRIMARY KEY,
                definition JSON NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL
            )
            """,
            """
            CREATE VIEW articles_daily AS
            SELECT coalesce(source, site_name, regexp_extract(canonical_url, '^https?://([^/]+)', 1)) AS source,
                   CAST(coalesce(published_at, first_seen_at) AT TIME ZONE 'UTC' AS DATE) AS day,
                   count(*) AS articles, count(*) FILTER (duplicate_of IS NOT NULL) AS duplicates
            FROM articles GROUP BY ALL
            """,
            """
            CREATE VIEW latest_articles AS
            SELECT * FROM articles
            WHERE coalesce(published_at, first_seen_at) >= now() - INTERVAL 7 DAY
            """,
            """
            CREATE VIEW failures_recent AS
            SELECT * FROM fetches
            WHERE outcome NOT IN ('new', 'updated', 'unchanged', 'not_modified', 'fetched', 'robots')
              AND fetched_at >= now() - INTERVAL 7 DAY
            """,
            *(f"COMMENT ON TABLE {table} IS {_sql_text(text)}" for table, text in TABLE_COMMENTS),
            *(f"COMMENT ON COLUMN articles.{column} IS {_sql_text(text)}" for column, text in ARTICLE_COLUMN_COMMENTS),
        ),
    ),
    Migration(
        4,
        "raw HTML of new pages in Parquet files beside the database; MinHash sketches",
        (
            "ALTER TABLE articles ADD COLUMN sketch BLOB",
            f"COMMENT ON COLUMN articles.sketch IS {_sql_text(SKETCH_COMMENT)}",
            # older rows keep their blob; new rows name the file (storage/page_files.py) that holds theirs
            "ALTER TABLE pages ADD COLUMN html_file VARCHAR",
            "ALTER TABLE pages ALTER COLUMN html_zlib DROP NOT NULL",
            f"COMMENT ON TABLE pages IS {_sql_text(PAGES_COMMENT)}",
            f"COMMENT ON COLUMN pages.html_file IS {_sql_text(PAGES_FILE_COMMENT)}",
        ),
    ),
    Migration(
        5,
        "the host and process of each run, so that a run whose process died can be marked crashed",
        (
            "ALTER TABLE runs ADD COLUMN host VARCHAR",
            "ALTER TABLE runs ADD COLUMN pid INTEGER",
            "COMMENT ON COLUMN runs.host IS 'Host name of the machine whose process ran the flow.'",
            "COMMENT ON COLUMN runs.pid IS 'Process id of the run on that host (a later run there marks it "
            "crashed when that process is gone and the run never finished).'",
        ),
    ),
    Migration(
        6,
        "a log of full-text index builds, so that a stale index is known without rebuilding it",
        (
            """
            CREATE TABLE search_index_builds (
                built_at      TIMESTAMPTZ NOT NULL,
                covers_until  TIMESTAMPTZ,
                articles      BIGINT NOT NULL,
                seconds       DOUBLE NOT NULL
            )
            """,
            "COMMENT ON TABLE search_index_builds IS 'One row per build of the BM25 index (fts_main_articles): "
            "articles whose updated_at is past the last covers_until are not in it yet.'",
            "COMMENT ON COLUMN search_index_builds.covers_until IS 'Latest articles.updated_at the build saw.'",
        ),
    ),
    Migration(
        7,
        "discovery documents keep their version only when every entry they listed was dealt with",
        (
            """
            CREATE TABLE discovery_state (
                source        VARCHAR NOT NULL,
                url           VARCHAR NOT NULL,
                rules         VARCHAR NOT NULL,
                etag          VARCHAR,
                last_modified VARCHAR,
                children      STRUCT(url VARCHAR, published TIMESTAMPTZ)[],
                entries       INTEGER NOT NULL,
                settled_at    TIMESTAMPTZ NOT NULL,
                run_id        VARCHAR,
                PRIMARY KEY (source, url)
            )
            """,
            f"COMMENT ON TABLE discovery_state IS {_sql_text(DISCOVERY_STATE_COMMENT)}",
            "COMMENT ON COLUMN discovery_state.rules IS 'Fingerprint of the source patterns and discovery rules "
            "that chose the entries: a state kept under other rules is not used.'",
            "COMMENT ON COLUMN discovery_state.children IS 'Sitemaps of an index, feeds a page advertises: "
            "followed again when the document answers 304.'",
            # earlier versions kept these validators even when a window or a cap had skipped entries: a 304
            # could then hide articles no run ever fetched, so every discovery document is read in full once
            "DELETE FROM http_validators WHERE url IN (SELECT url FROM fetches WHERE stage = 'discover')",
        ),
    ),
    Migration(
        8,
        "articles keep the publication time as the page states it, with its own UTC offset",
        (
            "ALTER TABLE articles ADD COLUMN published_local VARCHAR",
            "COMMENT ON COLUMN articles.published_local IS 'ISO-8601 publication time with the page''s own UTC "
            "offset (its own day); NULL when the page gives no time of day.'",
            "COMMENT ON COLUMN articles.provenance IS 'JSON map field -> jsonld | meta | html | text | url | "
            "htmldate; body_text -> fallback when the safety net replaced the cleaned body.'",
        ),
    ),
    Migration(
        9,
        "web archive files a backfill read to their end",
        (
            """
            CREATE TABLE archive_files (
                path          VARCHAR NOT NULL,
                sources       VARCHAR[] NOT NULL,
                since         TIMESTAMPTZ,
                until         TIMESTAMPTZ,
                records_read  BIGINT NOT NULL,
                matched       BIGINT NOT NULL,
                stored        BIGINT NOT NULL,
                broken        BIGINT NOT NULL,
                finished_at   TIMESTAMPTZ NOT NULL,
                run_id        VARCHAR
            )
            """,
            "COMMENT ON TABLE archive_files IS 'One row per WARC file a backfill read to its end, written in the "
            "transaction that committed its last pages: a later backfill skips the file when a row covers its "
            "sources and window.'",
            "COMMENT ON COLUMN archive_files.sources IS 'The sources read for (name, domains, URL rules as JSON).'",
            "COMMENT ON COLUMN archive_files.since IS 'First publication time taken (NULL: no start).'",
            "COMMENT ON COLUMN archive_files.until IS 'Publication times taken were before this (NULL: no end).'",
        ),
    ),
    Migration(
        10,
        "batches staged by crawl workers and merged into this database",
        (
            """
            CREATE TABLE staged_batches (
                batch_id      VARCHAR PRIMARY KEY,
                run_id        VARCHAR NOT NULL,
                kind          VARCHAR NOT NULL,
                shard         VARCHAR,
                items         INTEGER NOT NULL,
                written_at    TIMESTAMPTZ NOT NULL,
                merged_at     TIMESTAMPTZ NOT NULL,
                merge_run_id  VARCHAR
            )
            """,
            "COMMENT ON TABLE staged_batches IS 'One row per staged batch (flows/merge.py) merged into this "
            "database, written in the transaction that merged it: a merge never applies a batch twice.'",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
    )
    return {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply every pending migration; returns the versions applied now."""
    done = applied_versions(con)
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in migration.statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [migration.version, migration.name, datetime.now(UTC)],
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
