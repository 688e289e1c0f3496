"""The ``newsflow`` command line (typer): demo, ingest, extract, query."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crawl.interrupts import Interrupted, exit_now
from crawl.settings import load_settings
from extractors.errors import ConfigError, NewsflowError
from flows.prefect_runtime import PREFECT_SERVER_ENV, command_line_run

if TYPE_CHECKING:
    from crawl.page_inputs import PageOutcome
    from flows.runs import IngestReport

app = typer.Typer(
    name="newsflow",
    help="Scheduled news ingestion: fetch news pages, strip boilerplate, store clean articles in DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Text from pages, databases and people is printed as it is: never read as console markup or emoji codes
# (f-strings below escape what they interpolate; tables hold ``Text``).  Errors stay on one line.
console = Console(emoji=False)
errors = Console(stderr=True, emoji=False, soft_wrap=True)


def _error(message: str) -> None:
    """``error: <message>`` on stderr, the message literal."""
    errors.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)


@app.callback()
def _before_any_command() -> None:
    # Prefect reads these when it is first imported (inside the commands below), and a temporary server
    # started by this process inherits them: offline machines gain nothing from telemetry but error logs.
    # Set when a command runs, not when this module is imported (importing must not change the process).
    for name, value in {**PREFECT_SERVER_ENV, "DO_NOT_TRACK": "1"}.items():
        os.environ.setdefault(name, value)
    # every NEWSFLOW_* setting is checked before any command runs, whether or not it uses them: a bad
    # value is one line and exit 2 now, not a traceback at first use
    try:
        load_settings()
    except ConfigError as error:
        raise _fail(error) from error


DbOption = Annotated[
    str | None,
    typer.Option("--db", help="DuckDB file (default: $NEWSFLOW_DB or ./newsflow.duckdb).", show_default=False),
]


SourcesOption = Annotated[
    str | None, typer.Option("--sources", help="sources.toml (default: $NEWSFLOW_SOURCES).", show_default=False)
]

SinceOption = Annotated[
    datetime | None,
    typer.Option("--since", formats=["%Y-%m-%d"], help="Published on or after this day (UTC).", show_default=False),
]
UntilOption = Annotated[
    datetime | None,
    typer.Option("--until", formats=["%Y-%m-%d"], help="Published on or before this day (UTC).", show_default=False),
]


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def _window(since: datetime | None, until: datetime | None) -> tuple[date | None, date | None]:
    """``--since`` and ``--until`` as days; a reversed window stops the command (exit 2): it selects nothing."""
    first, last = _day(since), _day(until)
    if first and last and first > last:
        _error(f"--since {first} is after --until {last}: the window is empty")
        raise typer.Exit(2)
    return first, last


def _print_report(report: IngestReport) -> None:
    """A run's counts as JSON; exit 1 when some URL failed (the run itself completed)."""
    console.print_json(json.dumps(asdict(report)))
    if report.failed:
        raise typer.Exit(1)


def _fail(error: NewsflowError, code: int = 1) -> typer.Exit:
    _error(f"{error}")
    return typer.Exit(2 if isinstance(error, ConfigError) else code)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "…"


def _print_table(columns: tuple[str, ...], rows: tuple[tuple[object, ...], ...], title: str | None = None) -> None:
    table = Table(title=Text(title) if title else None, show_lines=False)
    for column in columns:
        table.add_column(Text(column), overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(v)) for v in row))
    console.print(table)


_SUMMARY_SQL = """
SELECT strftime(published_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') AS published_utc, site_name AS site,
       language AS lang, word_count AS words, len(related_links) AS related, title
FROM articles ORDER BY published_at DESC NULLS LAST
"""


@app.command()
def demo(
    db: DbOption = None,
    serve_only: Annotated[
        bool, typer.Option("--serve-only", help="Only serve the sample site (until Ctrl-C); ingest nothing.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free port).", min=0, max=65535)] = 0,
) -> None:
    """Serve the bundled sample news site on 127.0.0.1, ingest it as the `demo` source, show what was loaded."""
    from flows.demo_server import demo_source_toml, serve_site

    if serve_only:
        with serve_site(port=port) as base_url:
            console.print(f"Serving the sample news site at [bold]{base_url}/[/] (Ctrl-C stops)")
            console.print("Its `demo` source is in sources.toml: newsflow ingest --sources sources.toml --source demo")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                return
    from flows.ingest import ingest as ingest_flow
    from storage.queries import run_query

    try:
        db_path = str(Path(db or load_settings().db).resolve())
        with serve_site(port=port) as base_url, tempfile.TemporaryDirectory() as folder:
            console.print(f"Serving the sample news site at [bold]{base_url}/[/]")
            sources = Path(folder) / "sources.toml"
            sources.write_text(demo_source_toml(base_url), encoding="utf-8")
            with command_line_run(extracts=True):
                report = ingest_flow(sources_file=str(sources), sources=["demo"], db=db_path)
        result = run_query(db_path, _SUMMARY_SQL)
    except NewsflowError as error:
        raise _fail(error) from error
    _print_table(result.columns, result.rows, title="articles")
    console.print(
        f"run {report.run_id}: {report.requested} URLs, {report.new} new, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.not_modified} not modified, {report.failed} failed"
    )
    console.print(
        f'database: [bold]{escape(db_path)}[/]  (try: newsflow query "SELECT title, authors FROM articles" '
        f"--db {escape(db_path)})"
    )
    if report.failed:
        raise typer.Exit(1)


@app.command()
def ingest(
    urls: Annotated[list[str] | None, typer.Argument(help="Article page URLs.", show_default=False)] = None,
    feed: Annotated[list[str] | None, typer.Option("--feed", help="RSS/Atom/JSON feed URL (repeatable).")] = None,
    sources_file: SourcesOption = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="A source in the file (repeatable; default: all).")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Fetch stored URLs again (conditionally).")] = False,
    db: DbOption = None,
) -> None:
    """Discover and fetch articles from sources, feeds and URLs; extract and store them."""
    from crawl.sources import load_sources, select_sources
    from flows.ingest import ingest as ingest_flow

    first, last = _window(since, until)
    try:
        settings = load_settings()
        path = sources_file or settings.sources
        if source and not path:
            raise ConfigError("--source needs a sources file: give --sources or set NEWSFLOW_SOURCES")
        if not urls and not feed and not path:
            _error("give article URLs, --feed URLs or --sources (with --source names)")
            raise typer.Exit(2)
        if path:
            select_sources(load_sources(path), source)  # a bad file stops here
        with command_line_run(extracts=not refresh):  # a refresh run is mostly 304s
            report = ingest_flow(
                urls=list(urls or []), feeds=list(feed or []), sources_file=path, sources=list(source or []),
                since=first, until=last, refresh=refresh, db=db or settings.db,
            )  # fmt: skip
    except NewsflowError as error:
        raise _fail(error) from error
    _print_report(report)


def _choice(value: str, allowed: Any, option: str) -> Any:
    """``value`` if it is one of the ``Literal`` type's values, else a usage error (exit 2) naming them."""
    choices = get_args(allowed)
    if value not in choices:
        _error(f"{option} must be {', '.join(choices[:-1])} or {choices[-1]}, not {value!r}")
        raise typer.Exit(2)
    return value


def _sources_path(sources_file: str | None) -> str:
    path = sources_file or load_settings().sources
    if not path:
        raise ConfigError("no sources file: give --sources or set NEWSFLOW_SOURCES")
    from crawl.sources import load_sources

    load_sources(path)  # a bad file stops here, with file, source and field named
    return path


@app.command()
def backfill(
    more_warc: Annotated[
        list[str] | None,
        typer.Argument(help="More WARC files after --warc (so that --warc dir/*.warc.gz works).", show_default=False),
    ] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="A source (repeatable; default: all).")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=0,
            show_default=False,
            help="Without --since: start this many days before --until (or today). Default: no start.",
        ),
    ] = None,
    url: Annotated[list[str] | None, typer.Option("--url", help="Article URL (repeatable).")] = None,
    warc: Annotated[
        list[str] | None,
        typer.Option("--warc", help="Take the sources' pages from this WARC file, path or URL (repeatable)."),
    ] = None,
    ccnews: Annotated[
        bool, typer.Option("--ccnews", help="Take the sources' pages from Common Crawl's CC-NEWS (needs --since).")
    ] = False,
    mode: Annotated[str, typer.Option("--mode", help="new, refresh or reextract.")] = "new",
    max_articles: Annotated[int | None, typer.Option("--max-articles", min=1, help="Per source.")] = None,
    sources_file: SourcesOption = None,
    db: DbOption = None,
) -> None:
    """Run the backfill flow here (the same one the `backfill` deployment runs): from the live sites, or from
    web archives (--warc, --ccnews) for the sources' domains."""
    from flows.backfill import Mode
    from flows.backfill import backfill as backfill_flow

    chosen_mode = _choice(mode, Mode, "--mode")
    if more_warc and not warc:
        _error(f"unexpected argument {more_warc[0]!r}: give article URLs with --url, WARC files with --warc")
        raise typer.Exit(2)
    first, last = _window(since, until)
    try:
        path = _sources_path(sources_file) if (source or sources_file or load_settings().sources) else None
        with command_line_run(extracts=chosen_mode != "refresh"):  # a refresh run is mostly 304s
            report = backfill_flow(
                sources=list(source or []), since=first, until=last, days=days or 0, urls=list(url or []),
                mode=chosen_mode, max_articles=max_articles, sources_file=path, db=db,
                warc_urls=[*(warc or []), *(more_warc or [])],
                ccnews=ccnews,
            )  # fmt: skip
    except NewsflowError as error:
        raise _fail(error) from error
    _print_report(report)


StagingOption = Annotated[
    str | None,
    typer.Option("--staging", help="Staging URL: a directory or s3://bucket/prefix (default: $NEWSFLOW_STAGING_URL).",
                 show_default=False),
]  # fmt: skip


@app.command()
def crawl(
    source: Annotated[list[str] | None, typer.Option("--source", help="A source of the shard (repeatable).")] = None,
    hosts: Annotated[
        str | None, typer.Option("--hosts", help="A share i/n of the sources' hosts (for n crawls of one source).")
    ] = None,
    staging: StagingOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    refresh: Annotated[bool, typer.Option("--refresh", help="Fetch stored URLs again (conditionally).")] = False,
    sources_file: SourcesOption = None,
) -> None:
    """Crawl one shard here (what a `crawl` deployment runs on a worker) and stage it for `newsflow merge`."""
    from flows.shard import crawl_shard

    first, last = _window(since, until)
    try:
        path = _sources_path(sources_file)
        with command_line_run(extracts=not refresh):
            report = crawl_shard(sources=list(source or []), sources_file=path, hosts=hosts, staging=staging,
                                 since=first, until=last, refresh=refresh)  # fmt: skip
    except NewsflowError as error:
        raise _fail(error) from error
    _print_report(report)


@app.command()
def merge(staging: StagingOption = None, db: DbOption = None) -> None:
    """Store every complete staged batch in the database (what the `merge` deployment runs)."""
    from flows.merge import merge as merge_flow

    try:
        with command_line_run(extracts=False):
            report = merge_flow(staging=staging, db=db)
    except NewsflowError as error:
        raise _fail(error) from error
    _print_report(report)


@app.command()
def deploy(
    pool: Annotated[str, typer.Option("--pool", help="The process work pool of the workers.")],
    staging: StagingOption = None,
    db: DbOption = None,
    host_shares: Annotated[
        int, typer.Option("--host-shares", min=1, help="Crawl deployments per source, each a share of its hosts.")
    ] = 1,
    sources_file: SourcesOption = None,
) -> None:
    """Register the deployments of a set-up on several machines: `crawl` per source for the pool's `crawl` queue,
    `merge` (and backfill, reindex) for its `merge` queue, on the database's machine."""
    from crawl.sources import load_sources
    from flows.deployments import apply_deployments, distributed_specs

    try:
        settings = load_settings()
        url = staging or settings.staging_url
        if not url:
            raise ConfigError("deploy needs a staging URL: give --staging or set NEWSFLOW_STAGING_URL")
        if "://" not in url:
            url = str(Path(url).resolve())  # a directory: the same path on every machine (a shared mount)
        path = str(Path(_sources_path(sources_file)).resolve())
        database = str(Path(db or settings.db).resolve())
        specs = distributed_specs(load_sources(path), path, url, database, host_shares)
        for name in apply_deployments(path, pool, specs):
            console.print(f"registered {name} for work pool {pool}", markup=False)
    except NewsflowError as error:
        raise _fail(error) from error


@app.command()
def serve(sources_file: SourcesOption = None) -> None:
    """Serve the deployments (one cron `ingest` per source, `backfill`, and the hourly `reindex`) from this process."""
    import prefect

    from flows.deployments import runner_deployments

    try:
        deployments = runner_deployments(_sources_path(sources_file))
    except NewsflowError as error:
        raise _fail(error) from error
    prefect.serve(*deployments)


@app.command()
def deployments(
    sources_file: SourcesOption = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Register the deployments with the Prefect server for --pool's workers.")
    ] = False,
    pool: Annotated[str, typer.Option("--pool", help="Work pool (a process pool) for --apply.")] = "newsflow",
    write: Annotated[bool, typer.Option("--write", help="Rewrite deployments/prefect.yaml.")] = False,
    output: Annotated[Path, typer.Option("--output", help="Where --write writes.")] = Path("deployments/prefect.yaml"),
) -> None:
    """Register the deployments for a work pool (--apply), or print (or --write) deployments/prefect.yaml."""
    from crawl.sources import load_sources
    from flows.deployments import apply_deployments, prefect_yaml

    try:
        path = _sources_path(sources_file or "sources.toml")
        if apply:
            for name in apply_deployments(path, pool):
                console.print(f"registered {name} for work pool {pool}", markup=False)
            return
        text = prefect_yaml(load_sources(path), path)
    except NewsflowError as error:
        raise _fail(error) from error
    if write:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}", markup=False)
    else:
        sys.stdout.write(text)


@app.command()
def extract(
    sources: Annotated[
        list[str], typer.Argument(help="HTML files (.html, .html.gz, '-' for stdin) and/or http(s) URLs.")
    ],
    url: Annotated[
        str | None, typer.Option("--url", help="The address a single local file was served at.", show_default=False)
    ] = None,
    url_from: Annotated[
        Path | None,
        typer.Option(
            "--url-from", help="TSV of 'input path<TAB>URL' lines: the addresses of local files.", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (an array for several inputs).")] = False,
    as_jsonl: Annotated[bool, typer.Option("--jsonl", help="Print one JSON object per input, in input order.")] = False,
    timezone: Annotated[str, typer.Option("--timezone", help="IANA zone for times given without one.")] = "UTC",
    language: Annotated[
        str | None, typer.Option("--language", help="Language hint when the page declares none.", show_default=False)
    ] = None,
) -> None:
    """Run the extractor on pages and print the Articles. A failing input gives an error, the rest go on."""
    from crawl.fetcher import FetchPolicy
    from crawl.page_inputs import extract_inputs, read_url_map
    from extractors import ExtractOptions
    from extractors.urls import is_http_url

    if as_json and as_jsonl:
        _error("choose one of --json and --jsonl")
        raise typer.Exit(2)
    if url is not None and (len(sources) != 1 or is_http_url(sources[0])):
        _error("--url names the address of a single local file; give exactly one file")
        raise typer.Exit(2)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        _error(f"--timezone: unknown IANA time zone {timezone!r}")
        raise typer.Exit(2) from None
    try:
        settings = load_settings()
        addresses = read_url_map(str(url_from)) if url_from else None
        outcomes = extract_inputs(
            sources, url, FetchPolicy.from_settings(settings), ExtractOptions(timezone, language), addresses
        )
    except NewsflowError as error:
        raise _fail(error) from error
    if as_jsonl:
        for outcome in outcomes:
            sys.stdout.write(json.dumps(outcome.to_json_dict(), ensure_ascii=False) + "\n")
    elif as_json:
        objects = [outcome.to_json_dict() for outcome in outcomes]
        sys.stdout.write(json.dumps(objects[0] if len(objects) == 1 else objects, ensure_ascii=False) + "\n")
    else:
        for outcome in outcomes:
            _print_outcome(outcome)
    if any(outcome.failure is not None for outcome in outcomes):
        raise typer.Exit(1)


def _print_outcome(outcome: PageOutcome) -> None:
    if outcome.failure is not None:
        failure = outcome.failure
        _error(f"{outcome.source}: {failure.reason} ({failure.outcome})")
        return
    article = outcome.article
    assert article is not None
    console.rule(Text(article.title or "(no title)"))
    for name, value in article.to_json_dict().items():
        if name not in ("body_text", "title"):
            shown = _cell(value) if not isinstance(value, dict) else str(value)
            console.print(Text.assemble((name, "bold"), ": ", shown), highlight=False)
    console.rule()
    console.print(article.body_text, markup=False, highlight=False)


@app.command()
def reindex(
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if no article changed since the last build.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Bring the full-text search index up to date (ingest runs leave it to this and to `search`)."""
    from flows.reindex import reindex as reindex_flow
    from storage.connection import require_database

    try:
        # checked before the flow run starts: a failed run would print Prefect's traceback before the error
        require_database(db or load_settings().db)
        with command_line_run():
            report = reindex_flow(db=db, force=force)
    except NewsflowError as error:
        raise _fail(error) from error
    if report.rebuilt:
        console.print(f"search index rebuilt over {report.articles} articles in {report.seconds:.1f} s")
    else:
        console.print(f"search index already up to date ({report.articles} articles)")


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="Words to search for (BM25 over title, description and body).")],
    source: Annotated[str | None, typer.Option("--source", help="Only this source or site name.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language code, e.g. en.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per result, best first.")] = False,
    db: DbOption = None,
) -> None:
    """Full-text search of the stored articles, best match first, with highlighted snippets."""
    from storage.search import refresh_for_search
    from storage.search import search as run_search

    first, last = _window(since, until)
    try:
        path = db or load_settings().db
        index = refresh_for_search(path)
        hits = run_search(path, text, source, first, last, lang, limit, refresh=False)
    except NewsflowError as error:
        raise _fail(error) from error
    if index.stale:
        # on stderr: --json output stays one object per line
        errors.print(
            f"note: the database was busy, so the search index is {index.behind} articles behind "
            f"(built {index.built_at:%Y-%m-%d %H:%M %Z}); `newsflow reindex` brings it up to date"
        )
    if as_json:
        for rank, hit in enumerate(hits, start=1):
            record = {"rank": rank, **asdict(hit)}
            record["published_at"] = hit.published_at.isoformat() if hit.published_at else None
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    if not hits:
        console.print("no matches")
        return
    for rank, hit in enumerate(hits, start=1):
        when = hit.published_at.strftime("%Y-%m-%d") if hit.published_at else "undated"
        console.print(f"[bold]{rank}. {escape(hit.title or '(no title)')}[/]  [dim]{escape(hit.source or '')} · "
                      f"{when} · score {hit.score:.2f}[/]")  # fmt: skip
        console.print(f"   [blue]{escape(hit.url)}[/]")
        highlighted = re.sub(r"\*\*(.+?)\*\*", r"[bold yellow]\1[/]", escape(hit.snippet))
        console.print(f"   {highlighted}", highlight=False)


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="parquet, jsonl, csv, or warc (the stored pages).")] = "parquet",
    out: Annotated[Path, typer.Option("--out", help="File to write.")] = Path("articles.parquet"),
    since: SinceOption = None,
    until: UntilOption = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source or site name.")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Language code.")] = None,
    db: DbOption = None,
) -> None:
    """Export articles to Parquet, JSON Lines or CSV, streamed by DuckDB (never all in memory); or their stored
    pages (raw HTML as fetched) as WARC/1.1 response records, for archiving or for other tools."""
    from storage.queries import ExportFilter, ExportFormat, export_articles

    chosen_format = _choice(fmt, ExportFormat, "--format")
    first, last = _window(since, until)
    chosen = ExportFilter(first, last, source, lang)
    try:
        if chosen_format == "warc":
            from flows.warc_export import export_warc

            count = export_warc(db or load_settings().db, out, chosen)
            console.print(f"{count} pages → {out}", markup=False, highlight=False)
            return
        count = export_articles(db or load_settings().db, chosen_format, out, chosen)
    except NewsflowError as error:
        raise _fail(error) from error
    console.print(f"{count} articles → {out}", markup=False, highlight=False)


@app.command()
def stats(db: DbOption = None) -> None:
    """Articles per source (newest, duplicates, versions), failures by reason over recent runs, database size."""
    from storage.queries import corpus_stats

    try:
        result = corpus_stats(db or load_settings().db)
    except NewsflowError as error:
        raise _fail(error) from error
    _print_table(result.per_source.columns, result.per_source.rows, title="articles per source")
    _print_table(result.failures.columns, result.failures.rows, title="outcomes of the last 20 runs (per URL)")
    console.print(f"database size: {result.database_bytes / 1_048_576:.1f} MiB")
    index, later = result.index, "the next search or `newsflow reindex`"
    if index.built_at is None:
        console.print(f"search index: not built yet ({later} builds it over {index.behind} articles)")
    else:
        behind = f"{index.behind} articles stored since ({later} takes them in)" if index.behind else "up to date"
        console.print(f"search index: built {index.built_at:%Y-%m-%d %H:%M %Z} over {index.indexed} articles; {behind}")


@app.command()
def show(
    url: Annotated[str, typer.Argument(help="Any URL of the article (fetched or canonical).")], db: DbOption = None
) -> None:
    """One article with its versions and fetch history."""
    from storage.queries import article_history

    try:
        history = article_history(db or load_settings().db, url)
    except NewsflowError as error:
        raise _fail(error) from error
    if history is None:
        _error(f"no stored article for {url}")
        raise typer.Exit(1)
    row = dict(zip(history.article.columns, history.article.rows[0], strict=True))
    console.rule(Text(str(row.get("title") or "(no title)")))
    for name, value in row.items():
        if name != "body_text":
            console.print(Text.assemble((name, "bold"), ": ", _cell(value)), highlight=False)
    console.rule()
    console.print(str(row.get("body_text") or ""), markup=False, highlight=False)
    _print_table(history.versions.columns, history.versions.rows, title="versions")
    _print_table(history.fetches.columns, history.fetches.rows, title="fetches")


@app.command()
def query(sql: Annotated[str, typer.Argument(help="SQL to run read-only.")], db: DbOption = None) -> None:
    """Run read-only SQL on the database and print a table."""
    from storage.queries import run_query

    try:
        result = run_query(db or load_settings().db, sql)
    except NewsflowError as error:
        raise _fail(error) from error
    _print_table(result.columns, result.rows)


def main() -> None:
    """The console script: the commands above, with a signal's end and an operating-system error each
    given as one line and their exit status (128 + the signal; 1)."""
    try:
        app()
    except Interrupted as interrupt:
        _error(f"stopped by {interrupt.name}; a run in progress is recorded as cancelled")
        exit_now(interrupt.exit_code)
    except OSError as exc:  # an infrastructure failure no command foresaw: the OS's reason, not a traceback
        where = f" ({exc.filename})" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        sys.exit(1)


if __name__ == "__main__":
    main()
