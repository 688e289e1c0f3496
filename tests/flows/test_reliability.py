"""Reliability: no command destroys the corpus or writes to a file that is not newsflow's, bad input of
every kind is one line with its exit status, and web text is printed as text.

The commands run in process through typer's runner where they can; the cases about the console script
itself (one line, exit status) run it as a subprocess.  Signals, disk full and read-only files are in
``test_signals.py`` and ``test_disk_faults.py``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crawl.sources import load_sources
from extractors.errors import ConfigError, NotNewsflowDatabase, UnsafeOutput
from flows.cli import app
from flows.demo_server import demo_article_paths
from storage.queries import check_output, export_articles, run_query

runner = CliRunner()
NEWSFLOW = str(Path(sys.executable).with_name("newsflow"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, site: str, prefect_harness: None) -> Path:
    """A newsflow database holding the demo site's articles (made once; tests copy it)."""
    from flows.ingest import ingest

    path = tmp_path_factory.mktemp("corpus") / "news.duckdb"
    report = ingest(feeds=[f"{site}/feed.xml"], db=str(path))
    assert report.new >= 3
    return path


@pytest.fixture
def db(corpus: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "news.duckdb"
    shutil.copy(corpus, copy)
    return copy


def _articles(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute("SELECT count(*) FROM articles").fetchone()
    return int(found[0]) if found else -1


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("error: ") and "Traceback" not in output
    return lines[0]


def test_export_onto_the_database_its_wal_lock_or_page_files_is_refused(db: Path, tmp_path: Path) -> None:
    before = _articles(db)
    (tmp_path / "link.parquet").symlink_to(db)
    os.link(db, tmp_path / "hard.parquet")
    targets = [db, tmp_path / "news.duckdb.wal", tmp_path / "news.duckdb.lock", tmp_path / "news.duckdb.pages" / "x",
               tmp_path / "link.parquet", tmp_path / "hard.parquet",
               tmp_path / "sub" / ".." / "news.duckdb"]  # fmt: skip
    for target in targets:
        with pytest.raises(UnsafeOutput):
            check_output(db, target)
        result = runner.invoke(app, ["export", "--format", "parquet", "--out", str(target), "--db", str(db)])
        assert result.exit_code == 1, (target, result.output)
        assert "refusing to write over the database" in _one_error_line(result.output)
    assert _articles(db) == before
    assert export_articles(db, "jsonl", tmp_path / "fine.jsonl") == before  # an ordinary path still works


def test_query_reads_the_database_and_nothing_else(db: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    before = _digest(db)
    refused = [
        f"SELECT * FROM read_csv('{outside}')",
        f"COPY (SELECT 'gone') TO '{db}' (HEADER false)",
        f"COPY (SELECT 1) TO '{tmp_path / 'new.csv'}'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET lock_configuration = false",
        f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
        "CREATE TABLE x (a INT)",
        "DELETE FROM articles",
    ]
    for sql in refused:
        result = runner.invoke(app, ["query", sql, "--db", str(db)])
        assert result.exit_code == 1, (sql, result.output)
        _one_error_line(result.output)
    assert not (tmp_path / "new.csv").exists() and not (tmp_path / "other.duckdb").exists()
    assert _digest(db) == before
    assert run_query(db, "SELECT count(*) FROM articles").rows[0][0] == _articles(db)


def test_query_can_still_use_the_search_index(db: Path) -> None:
    assert runner.invoke(app, ["search", "banjir", "--db", str(db)]).exit_code == 0  # builds the index
    result = run_query(db, "SELECT count(*) FROM articles WHERE fts_main_articles.match_bm25(url_key, 'banjir') > 0")
    assert result.rows[0][0] >= 1


@pytest.fixture
def foreign(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE articles (url_key VARCHAR, title VARCHAR)")
        con.execute("INSERT INTO articles VALUES ('k', 'someone else''s data')")
    return path


@pytest.mark.parametrize(
    "command",
    [["search", "x"], ["stats"], ["show", "https://example.org/a"], ["query", "SELECT 1"],
     ["export", "--out", "{tmp}/out.parquet"], ["reindex"], ["ingest", "http://127.0.0.1:9/a"]],
    ids=lambda c: c[0],
)
def test_a_duckdb_file_that_is_not_newsflows_is_refused_and_left_as_it_was(
    foreign: Path, tmp_path: Path, command: list[str], prefect_harness: None
) -> None:
    before = _digest(foreign)
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    result = runner.invoke(app, [*args, "--db", str(foreign)])
    assert result.exit_code == 1, result.output
    assert "not a newsflow database" in result.output
    assert _digest(foreign) == before
    assert not foreign.with_name(foreign.name + ".wal").exists()


def test_a_newer_schema_is_refused(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', now())")
    with pytest.raises(NotNewsflowDatabase, match="newer newsflow"):
        run_query(db, "SELECT 1")


def test_a_sqlite_file_an_empty_or_truncated_database_is_one_line(db: Path, tmp_path: Path) -> None:
    lite = tmp_path / "lite.db"
    with sqlite3.connect(lite) as con:
        con.execute("CREATE TABLE articles (x)")
    truncated = tmp_path / "cut.duckdb"
    truncated.write_bytes(db.read_bytes()[:20_000])
    garbage = tmp_path / "garbage.duckdb"
    garbage.write_bytes(b"\0" * 8 + b"DUCK" + os.urandom(30_000))
    for path in (lite, truncated, garbage):
        before = _digest(path)
        for command in (["stats"], ["query", "SELECT 1"], ["search", "x"]):
            completed = subprocess.run([NEWSFLOW, *command, "--db", str(path)], capture_output=True, text=True)
            assert completed.returncode == 1, completed
            line = _one_error_line(completed.stderr)
            assert str(path.name) in line and "download" not in line.lower(), line
        assert _digest(path) == before


def test_web_text_is_printed_literally(db: Path) -> None:
    hostile = "[/] [red]red[/red] :x: [bold]"
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE articles SET title = ? WHERE url_key = (SELECT min(url_key) FROM articles)", [hostile])
        url = con.execute("SELECT url FROM articles WHERE title = ?", [hostile]).fetchone()
    assert url is not None
    for args in (["query", "SELECT title FROM articles"], ["show", url[0]]):
        result = runner.invoke(app, [*args, "--db", str(db)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert hostile in result.output, result.output


def test_extract_prints_a_hostile_title_literally(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    body = "<p>" + "A sentence of plain article text that goes on for a while. " * 6 + "</p>"
    page.write_text(f"<html><head><title>[/] [red]x[/red] :x:</title></head><body><article><h1>[/] [red]x[/red] :x:"
                    f"</h1>{body * 4}</article></body></html>")  # fmt: skip
    result = runner.invoke(app, ["extract", str(page), "--url", "https://example.org/a"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "[/] [red]x[/red] :x:" in result.output


@pytest.mark.parametrize(
    ("name", "value"),
    [("NEWSFLOW_TIMEZONE", "Mars/Base"), ("NEWSFLOW_USER_AGENT", "newsflow\nX-Evil: 1"), ("NEWSFLOW_TIMEOUT", "-1")],
)
def test_every_setting_is_checked_at_start_up_whatever_the_command(name: str, value: str, tmp_path: Path) -> None:
    env = {**os.environ, name: value}
    for command in (["stats", "--db", str(tmp_path / "none.duckdb")], ["extract", "-"]):
        completed = subprocess.run([NEWSFLOW, *command], capture_output=True, text=True, env=env, input="")
        assert completed.returncode == 2, completed
        assert name in _one_error_line(completed.stderr)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("feeds", "http://127.0.0.1:99999/feed.xml", "cannot be parsed"),
        ("feeds", "http://example.org/a feed.xml", "space"),
        ("sitemaps", "ftp://example.org/sitemap.xml", "not an http(s) URL"),
        ("start_urls", "http:///nohost", "no host"),
        ("start_urls", "http://exa..mple.org/", "not a valid host name"),
        ("archive_urls", "https://example.org/{yyyy}/{hh}/", "unknown placeholder {hh}"),
        ("archive_urls", "https://example.org/{yyyy}/{mm/", "broken placeholder"),
    ],
)
def test_sources_file_urls_are_parsed_strictly_when_it_loads(
    tmp_path: Path, field: str, value: str, reason: str
) -> None:
    path = tmp_path / "sources.toml"
    feeds = "" if field == "feeds" else 'feeds = ["https://example.org/feed.xml"]\n'
    path.write_text(f'[[sources]]\nname = "s"\n{feeds}{field} = ["{value}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="source 's', field " + field) as caught:
        load_sources(path)
    assert reason in str(caught.value)


def test_a_user_agent_in_a_sources_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "sources.toml"
    path.write_text('[[sources]]\nname = "s"\nfeeds = ["https://e.org/f"]\nuser_agent = "a\\nb"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="user_agent"):
        load_sources(path)


@pytest.mark.parametrize(
    "command", [["ingest", "http://127.0.0.1:9/a"], ["backfill"], ["search", "x"], ["export"]], ids=lambda c: c[0]
)
def test_a_reversed_date_window_is_exit_2(command: list[str], db: Path) -> None:
    result = runner.invoke(app, [*command, "--since", "2026-05-02", "--until", "2026-05-01", "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert "is after --until" in _one_error_line(result.output)


def test_urls_that_fail_at_fetch_time_fail_alone(site: str, db_path: str, prefect_harness: None) -> None:
    from flows.ingest import ingest

    bad = ["http://127.0.0.1:99999/a", "http://127.0.0.1:0/b", "http://exa mple.org/c", "http://[::1/d"]
    report = ingest(urls=[*bad, f"{site}{demo_article_paths()[0]}"], feeds=["http://127.0.0.1:99999/feed.xml"],
                    db=db_path)  # fmt: skip
    assert report.new == 1
    assert report.failed == len(bad) + 1


def _can_mount() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "mount", "-t", "tmpfs", "tmpfs", "/mnt"], capture_output=True)
    return probe.returncode == 0


_FAULTS = """
set -u
mount -t tmpfs -o size=16m tmpfs "$DIR"
cp "$CORPUS" "$DIR/news.duckdb"
dd if=/dev/zero of="$DIR/fill" bs=64k 2>/dev/null
"$NEWSFLOW" ingest "$URL" --db "$DIR/news.duckdb" > /dev/null 2> "$OUT/full.err"; echo $? > "$OUT/full.rc"
rm "$DIR/fill"
"$NEWSFLOW" query "SELECT count(*) FROM articles" --db "$DIR/news.duckdb" > "$OUT/after-full.txt" 2>&1
mount -o remount,ro "$DIR"
"$NEWSFLOW" ingest "$URL" --db "$DIR/news.duckdb" > /dev/null 2> "$OUT/ro.err"; echo $? > "$OUT/ro.rc"
"$NEWSFLOW" query "SELECT count(*) FROM articles" --db "$DIR/news.duckdb" > "$OUT/after-ro.txt" 2>&1
"""


@pytest.mark.skipif(not _can_mount(), reason="no mount namespace here (unshare -m needs CAP_SYS_ADMIN)")
def test_disk_full_and_a_read_only_file_system_are_one_line_and_lose_nothing(
    corpus: Path, tmp_path: Path, site: str
) -> None:
    """For real: a tiny tmpfs filled to the last byte, then remounted read-only, in a mount namespace."""
    mount, out = tmp_path / "mnt", tmp_path / "out"
    mount.mkdir()
    out.mkdir()
    env = {**os.environ, "DIR": str(mount), "OUT": str(out), "CORPUS": str(corpus), "NEWSFLOW": NEWSFLOW,
           "URL": f"{site}{demo_article_paths()[-1]}?fresh=1", "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_LOGGING_LEVEL": "WARNING"}  # fmt: skip
    subprocess.run(["unshare", "-m", "bash", "-c", _FAULTS], env=env, check=True, timeout=300)
    articles = str(_articles(corpus))
    for case, reason in (("full", "No space left on device"), ("ro", "Read-only file system")):
        assert (out / f"{case}.rc").read_text().strip() == "1", (out / f"{case}.err").read_text()
        line = _one_error_line(_without_prefect_log((out / f"{case}.err").read_text()))
        assert reason in line and "news.duckdb" in line, line
        assert "no transaction is active" not in line
        # the database opens afterwards with every earlier commit
        assert articles in (out / f"after-{case}.txt").read_text(), (out / f"after-{case}.txt").read_text()


def _without_prefect_log(text: str) -> str:
    """stderr without Prefect's own log lines (its temporary server starting and stopping)."""
    return "\n".join(line for line in text.splitlines() if " | " not in line and not line.startswith("See https"))
