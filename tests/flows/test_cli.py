"""The ``newsflow`` console script: demo end to end, extract, query."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.demo_server import demo_article_paths
from tests.golden import PAGES, load_expected

runner = CliRunner()


def test_extract_json_matches_golden_file() -> None:
    expected = load_expected("klaten-flashback")
    page = PAGES / "klaten-flashback" / "page.html"
    result = runner.invoke(app, ["extract", str(page), "--url", expected["url"], "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for field in ("canonical_url", "title", "authors", "published_at", "modified_at", "section", "tags", "site_name",
                  "lead_image_url", "language", "related_links", "url"):  # fmt: skip
        assert data[field] == expected[field], field
    assert data["published_at"].endswith("Z") and isinstance(data["tags"], list)
    blocks = data["body_text"].split("\n\n")
    assert [b for b in blocks if b not in data["headings"]] == expected["paragraphs"]
    assert data["headings"] == expected["headings"]


def test_extract_acceptance_fields_with_json() -> None:
    """`newsflow extract PAGE --url URL --json` shows related links, provenance, paywall flag and times of day."""
    expected = load_expected("finanz-depesche-paywall")
    page = PAGES / "finanz-depesche-paywall" / "page.html"
    args = ["extract", str(page), "--url", expected["url"], "--json", "--timezone", "Europe/Berlin"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["is_paywalled"] is True
    assert data["published_at"] == "2026-03-04T17:42:00Z"  # 18:42 in Berlin, with its time of day
    assert data["provenance"]["published_at"] == "jsonld" and data["provenance"]["is_paywalled"] == "jsonld"
    assert data["input"] == str(page)
    related = runner.invoke(app, ["extract", str(PAGES / "klaten-flashback" / "page.html"), "--json"])
    assert json.loads(related.stdout)["related_links"] == load_expected("klaten-flashback")["related_links"]


def test_extract_jsonl_batch_keeps_order_and_reports_each_failure(site: str, tmp_path: Path, fast_fetch: None) -> None:
    gz = tmp_path / "valley.html.gz"
    gz.write_bytes(gzip.compress((PAGES / "valley-courier-river" / "page.html").read_bytes()))
    no_canonical = tmp_path / "bare.html"
    no_canonical.write_text("<html><body><article>" + "<p>Plain words of a page without an address.</p>" * 8
                            + "</article></body></html>")  # fmt: skip
    inputs = [
        str(PAGES / "klaten-flashback" / "page.html"),
        str(tmp_path / "missing.html"),
        f"{site}/fault/404",
        str(gz),
        f"{site}/business/port-strike-ends-after-wage-deal/",
        str(no_canonical),
        f"{site}/fault/empty",
    ]
    result = runner.invoke(app, ["extract", *inputs, "--jsonl"])
    assert result.exit_code == 1  # some inputs failed, and every input still has its line
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["input"] for line in lines] == inputs
    assert lines[0]["title"].startswith("Qatar Pushes for Diplomacy")
    assert lines[1]["error"]["outcome"] == "unreadable_file"
    assert lines[2]["error"] == {"stage": "fetch", "outcome": "http_error", "reason": lines[2]["error"]["reason"],
                                 "transient": False, "status": 404}  # fmt: skip
    assert lines[3]["canonical_url"] == load_expected("valley-courier-river")["canonical_url"]
    assert lines[4]["title"] and "error" not in lines[4]
    # a page that names no address of its own is extracted all the same, under its file:// URL, with no key
    assert lines[5]["url"] == no_canonical.resolve().as_uri() and lines[5]["url_key"] is None
    assert "Plain words of a page without an address." in lines[5]["body_text"]
    assert lines[6]["error"]["outcome"] == "no_content"


def test_extract_url_from_gives_a_batch_its_addresses(tmp_path: Path) -> None:
    bare = tmp_path / "bare.html"
    bare.write_text("<html><body><article>" + "<p>Plain words of a page without an address.</p>" * 8
                    + "</article></body></html>")  # fmt: skip
    other = tmp_path / "other.html"
    other.write_bytes(bare.read_bytes())
    mapping = tmp_path / "urls.tsv"
    mapping.write_text(f"# input\turl\n{bare}\thttps://news.example/a/b\n\n")
    result = runner.invoke(app, ["extract", str(bare), str(other), "--url-from", str(mapping), "--jsonl"])
    assert result.exit_code == 0, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["url"] == "https://news.example/a/b" and first["url_key"] == "https://news.example/a/b"
    assert second["url"] == other.resolve().as_uri() and second["url_key"] is None
    mapping.write_text(f"{bare} https://news.example/a/b\n")
    broken = runner.invoke(app, ["extract", str(bare), "--url-from", str(mapping)])
    assert broken.exit_code == 2 and "line 1" in broken.output


def test_extract_refuses_a_gzip_bomb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFLOW_MAX_BYTES", "100000")
    bomb = tmp_path / "bomb.html.gz"
    bomb.write_bytes(gzip.compress(b"<html><body>" + b" " * 50_000_000 + b"</body></html>"))
    result = runner.invoke(app, ["extract", str(bomb), "--url", "https://x.example/a", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["outcome"] == "too_large"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a.html", "b.html", "--url", "https://x.example/"], "single local file"),
        (["https://x.example/a", "--url", "https://x.example/"], "single local file"),
        (["a.html", "--json", "--jsonl"], "one of --json and --jsonl"),
        (["a.html", "--timezone", "Mars/Olympus"], "unknown IANA time zone"),
    ],
)
def test_extract_usage_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["extract", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_query_on_missing_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


def test_reindex_on_a_missing_database_is_one_line_without_a_flow_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reindex", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "none.duckdb" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.output and "Finished in state" not in result.output


def test_demo_command_end_to_end(tmp_path: Path) -> None:
    """`newsflow demo` as a user runs it: its own process, a temporary Prefect server, twice."""
    db = tmp_path / "demo.duckdb"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home"), "COLUMNS": "200"}
    env.pop("PREFECT_API_URL", None)
    script = Path(sys.executable).with_name("newsflow")
    for _ in range(2):
        done = subprocess.run(
            [str(script), "demo", "--db", str(db)], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Qatar Pushes for Diplomacy" in done.stdout
        assert str(db) in done.stdout
    count = runner.invoke(app, ["query", "SELECT count(*) AS n FROM articles", "--db", str(db)])
    assert count.exit_code == 0 and f"│ {len(demo_article_paths())} " in count.stdout


def test_bad_setting_is_a_clear_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEWSFLOW_TIMEOUT", "abc")
    result = runner.invoke(app, ["query", "SELECT 1"])
    assert result.exit_code == 2
    assert "NEWSFLOW_TIMEOUT" in result.stderr
    assert "Traceback" not in result.stderr


def test_extract_reads_standard_input() -> None:
    expected = load_expected("dagblad-oost-dijk")
    html = (PAGES / "dagblad-oost-dijk" / "page.html").read_bytes()
    result = runner.invoke(app, ["extract", "-", "--url", expected["url"], "--json"], input=html)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["title"] == expected["title"]


def test_command_line_runs_have_no_flow_heartbeat_unless_one_is_configured() -> None:
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

    from flows.prefect_runtime import command_line_run

    before = get_current_settings().flows.heartbeat_frequency  # None under the session's Prefect harness
    with command_line_run():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == before  # deployment runs keep theirs
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 60}), command_line_run():
        assert get_current_settings().flows.heartbeat_frequency == 60


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers start from a fork server on Linux only")
def test_a_command_that_will_extract_starts_the_workers_fork_server_before_its_flow_run() -> None:
    # a new process, as a command is: the fork server lives as long as the process that started it
    code = """
import os
import multiprocessing.forkserver as forkserver
from flows.prefect_runtime import command_line_run

def running():
    return forkserver._forkserver._forkserver_pid is not None

with command_line_run():
    print("no extraction:", running())
os.environ["NEWSFLOW_EXTRACT_WORKERS"] = "0"
with command_line_run(extracts=True):
    print("extraction in process:", running())
os.environ["NEWSFLOW_EXTRACT_WORKERS"] = "2"
with command_line_run(extracts=True):
    print("extraction in workers:", running())
"""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == [
        "no extraction: False", "extraction in process: False", "extraction in workers: True"
    ]
