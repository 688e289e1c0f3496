"""Deployments, backfills, the single-writer guard and run reports, against a Prefect server.

The server is the session's test harness; `newsflow serve` and concurrent
`newsflow ingest` processes talk to it as they would to a real one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL

from crawl.sources import load_sources
from extractors import EXTRACTOR_VERSION
from extractors.errors import ConfigError
from flows.backfill import backfill
from flows.demo_server import demo_article_paths, demo_source_toml
from flows.deployments import REINDEX_CRON, prefect_yaml
from flows.ingest import ingest
from storage.queries import run_query
from tests.conftest import FaultySiteHandler

pytestmark = pytest.mark.usefixtures("prefect_harness")
REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("newsflow")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "COLUMNS": "200", **extra}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    return env


@pytest.fixture
def demo_sources(site: str, tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(demo_source_toml(site), encoding="utf-8")
    return path


def _age_articles(db: str) -> None:
    """Pretend an older extractor wrote the stored articles."""
    con = duckdb.connect(db, config={"storage_compatibility_version": "v1.4.0"})
    con.execute("UPDATE articles SET extractor_version = 'newsflow-0+trafilatura-old', body_text = 'stale'")
    con.close()


def test_prefect_yaml_is_generated_from_the_shipped_sources_file() -> None:
    expected = prefect_yaml(load_sources(REPO / "sources.toml"), "sources.toml")
    assert (REPO / "deployments" / "prefect.yaml").read_text(encoding="utf-8") == expected
    assert "name: backfill" in expected and "timezone: \"Asia/Jakarta\"" in expected


def test_reextract_updates_articles_without_any_request(demo_sources: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "reextract.duckdb")
    first = ingest(sources_file=str(demo_sources), sources=["demo"], db=db)
    assert first.new == len(demo_article_paths())
    _age_articles(db)
    requests_before = len(FaultySiteHandler.requests)
    report = backfill(sources=["demo"], days=0, mode="reextract", sources_file=str(demo_sources), db=db)
    assert len(FaultySiteHandler.requests) == requests_before  # not one HTTP request
    assert report.updated == len(demo_article_paths())
    versions = run_query(db, "SELECT DISTINCT extractor_version FROM articles").rows
    assert versions == ((EXTRACTOR_VERSION,),)
    assert run_query(db, "SELECT count(*) FROM articles WHERE body_text = 'stale'").rows == ((0,),)


def test_every_run_leaves_artifacts_with_its_counts(site: str, tmp_path: Path) -> None:
    db = str(tmp_path / "artifacts.duckdb")
    report = ingest(urls=[f"{site}{demo_article_paths()[0]}", f"{site}/fault/404"], db=db)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(report.run_id)])))
    by_key = {a.key: a for a in artifacts}
    assert {"ingest-sources", "ingest-summary"} <= set(by_key)
    summary = str(by_key["ingest-summary"].data)
    # discovered, requested, fetched, new, updated, unchanged, not modified, skipped, failed
    assert "| 2 | 2 | 1 | 1 | 0 | 0 | 0 | 0 | 1 |" in summary
    assert "`http_error` 1" in summary
    rows = run_query(db, "SELECT status, new, failed FROM runs").rows
    assert rows == (("completed", 1, 1),)


def test_an_invalid_sources_file_fails_the_run_and_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "sources.toml"
    bad.write_text('[[sources]]\nname = "x"\nfeeds = ["https://x.example/f"]\ntimezone = "Nowhere/Land"\n')
    db = str(tmp_path / "fail.duckdb")
    with pytest.raises(ConfigError, match="field timezone"):
        ingest(sources_file=str(bad), db=db)
    status, error = run_query(db, "SELECT status, error FROM runs").rows[0]
    assert status == "failed" and "field timezone" in str(error)


def test_two_overlapping_runs_both_finish_with_all_their_rows(site: str, tmp_path: Path) -> None:
    db = str(tmp_path / "shared.duckdb")
    paths = demo_article_paths()
    halves = [paths[::2], paths[1::2]]
    env = _env(tmp_path, NEWSFLOW_BACKOFF="0.05")
    processes = [
        subprocess.Popen(
            [str(SCRIPT), "ingest", *[f"{site}{p}" for p in half], "--db", db],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for half in halves
    ]
    outputs = [p.communicate(timeout=240) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err
        assert "Conflicting lock" not in out + err and "could not set lock" not in (out + err).lower()
    assert run_query(db, "SELECT count(*) FROM articles").rows == ((len(paths),),)
    assert run_query(db, "SELECT count(*), count(*) FILTER (status = 'completed') FROM runs").rows == ((2, 2),)


@pytest.fixture
def served(demo_sources: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    db = str(tmp_path / "served.duckdb")
    env = _env(tmp_path, NEWSFLOW_DB=db, PREFECT_RUNNER_POLL_FREQUENCY="1")
    process = subprocess.Popen(
        [str(SCRIPT), "serve", "--sources", str(demo_sources)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        with get_client(sync_client=True) as client:
            while True:
                try:
                    client.read_deployment_by_name("backfill/backfill")
                    break
                except Exception:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    time.sleep(0.5)
        yield {"db": db}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_serve_schedules_sources_runs_a_custom_backfill_and_reindexes(
    served: dict[str, str], demo_sources: Path, tmp_path: Path
) -> None:
    db = served["db"]
    ingest(sources_file=str(demo_sources), sources=["demo"], db=db)
    _age_articles(db)
    with get_client(sync_client=True) as client:
        demo = client.read_deployment_by_name("ingest/demo")
        assert [s.schedule.cron for s in demo.schedules] == ["*/30 * * * *"]  # type: ignore[union-attr]
        assert demo.parameters["sources"] == ["demo"]
    # what the UI's Run → Custom run does: a flow run of the deployment with custom parameters
    run = run_deployment(
        "backfill/backfill",
        parameters={"sources": ["demo"], "since": "2026-01-01", "until": "2026-12-31", "mode": "reextract"},
        timeout=180,
        poll_interval=1,
    )
    assert run.state is not None and run.state.is_completed(), run.state
    assert run_query(db, "SELECT DISTINCT extractor_version FROM articles").rows == ((EXTRACTOR_VERSION,),)
    backfills = run_query(db, "SELECT status, updated FROM runs WHERE flow = 'backfill'").rows
    assert backfills == (("completed", len(demo_article_paths())),)
    # the hourly reindex deployment takes in what the backfill changed
    with get_client(sync_client=True) as client:
        hourly = client.read_deployment_by_name("reindex/reindex")
        assert [s.schedule.cron for s in hourly.schedules] == [REINDEX_CRON]  # type: ignore[union-attr]
    run = run_deployment("reindex/reindex", timeout=180, poll_interval=1)
    assert run.state is not None and run.state.is_completed(), run.state
    assert run_query(db, "SELECT articles FROM search_index_builds").rows == ((len(demo_article_paths()),),)


def test_the_custom_run_form_is_direct_and_a_quick_run_is_a_safe_backfill(served: dict[str, str]) -> None:
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("backfill/backfill")
    properties = deployment.parameter_openapi_schema["properties"]  # type: ignore[index]
    # no property opens on a "None" switch: each is its input, empty when left alone
    assert not any("anyOf" in p for p in properties.values())
    assert properties["sources"]["items"] == {"type": "string", "enum": ["demo"]}
    assert properties["sources"]["default"] == []
    for day in ("since", "until"):
        assert (properties[day]["type"], properties[day]["format"]) == ("string", "date")
        assert "default" not in properties[day] and "inclusive, in UTC" in properties[day]["description"]
    assert "default" not in properties["max_articles"] and properties["mode"]["default"] == "new"
    assert "Quick run" in str(deployment.description)

    # Quick run: no parameters at all; the last day of every source, mode new
    run = run_deployment("backfill/backfill", timeout=180, poll_interval=1)
    assert run.state is not None and run.state.is_completed(), run.state
    row = run_query(served["db"], "SELECT status, parameters->>'since', parameters->>'mode' FROM runs").rows[0]
    assert row == ("completed", str(date.today() - timedelta(days=1)), "new")

    # a user error: the run fails with one line saying why, and no traceback in its log
    run = run_deployment(
        "backfill/backfill", parameters={"since": "2026-06-30", "until": "2026-05-01"}, timeout=180, poll_interval=1
    )
    assert run.state is not None and run.state.is_failed()
    assert run.state.message == "since 2026-06-30 is after until 2026-05-01: the window is empty"
    logs = _logs_of(run.id)
    assert [log.message for log in logs if "is after until" in log.message and log.level >= 40] == [
        "run failed: since 2026-06-30 is after until 2026-05-01: the window is empty"
    ]
    assert not [log.message for log in logs if "Traceback" in log.message], [log.message for log in logs]


def _logs_of(flow_run: UUID) -> list[Any]:
    """The flow run's logs, once its last line (the final state) has reached the server (logs are batched)."""
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run])))
            if any("Finished in state" in log.message for log in logs) or time.monotonic() > deadline:
                return logs
            time.sleep(0.5)
