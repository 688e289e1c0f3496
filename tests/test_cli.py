"""The ``newsflow`` console script: demo end to end, extract, query."""

from __future__ import annotations

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


def test_extract_needs_url_for_a_file() -> None:
    result = runner.invoke(app, ["extract", str(PAGES / "klaten-flashback" / "page.html")])
    assert result.exit_code == 2
    assert "needs --url" in result.stderr


def test_extract_reports_a_page_without_article() -> None:
    result = runner.invoke(app, ["extract", "-", "--url", "https://x.example/"])
    assert result.exit_code == 2  # '-' is no file


def test_query_on_missing_database(tmp_path: Path) -> None:
    result = runner.invoke(app, ["query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "does not exist" in result.stderr


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
