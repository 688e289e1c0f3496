"""Crawl on workers, merge in one writer: shards staged under a staging URL, merged into DuckDB, compared row by
row with single-process ``ingest`` runs of the same sites (two newsrooms on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from prefect.settings import PREFECT_API_URL

from flows.demo_server import serve_site
from flows.ingest import ingest
from flows.merge import merge
from flows.shard import crawl_shard, host_share
from storage.queries import article_contents, run_query
from storage.staging import MANIFEST, BatchRef, Staging
from tests.newsroom import Newsroom, NewsroomHandler, newsroom_sources, serve_newsroom

pytestmark = pytest.mark.usefixtures("prefect_harness")
START = datetime(2026, 11, 2, 8, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFLOW_EXTRACT_WORKERS", "0")
    monkeypatch.setenv("NEWSFLOW_BATCH_SIZE", "3")  # several batches per shard


class Sites:
    """Two newsrooms, each its own source and host (port), in one sources file."""

    def __init__(self, tmp: Path, stack: ExitStack) -> None:
        self.rooms = {"north": Newsroom(), "south": Newsroom()}
        self.bases = {name: stack.enter_context(serve_newsroom(room)) for name, room in self.rooms.items()}
        self.sources = tmp / "sources.toml"
        self.sources.write_text("".join(newsroom_sources(base, name) for name, base in self.bases.items()))

    def publish(self, count: int, offset: int = 0) -> None:
        for name, room in self.rooms.items():
            for index in range(count):
                room.add(START + timedelta(hours=offset + index, minutes=7 if name == "south" else 0))


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[Sites]:
    with ExitStack() as stack:
        yield Sites(tmp_path, stack)


def crawl_round(sites: Sites, staging: str, db: str) -> None:
    """One shard per source, as two workers would run them, then the merge."""
    for name in sites.rooms:
        crawl_shard(sources=[name], sources_file=str(sites.sources), staging=staging)
    merge(staging=staging, db=db)


def test_shards_staged_and_merged_equal_a_single_process_run(sites: Sites, tmp_path: Path) -> None:
    staging, merged, single = str(tmp_path / "staging"), str(tmp_path / "merged.duckdb"), str(tmp_path / "one.duckdb")
    sites.publish(5)
    crawl_round(sites, staging, merged)
    ingest(sources_file=str(sites.sources), db=single)
    rows = article_contents(merged)
    assert len(rows) == 10
    assert rows == article_contents(single)
    assert not list(Path(staging, "batches").iterdir())  # merged batches are deleted, and their runs' folders

    # the next round: the crawls read the state the merge published, and fetch only what is new
    sites.publish(3, offset=10)
    crawl_round(sites, staging, merged)
    ingest(sources_file=str(sites.sources), db=single)
    assert len(article_contents(merged)) == 16
    assert article_contents(merged) == article_contents(single)
    crawls = run_query(merged, "SELECT fetched, status FROM runs WHERE flow = 'crawl' ORDER BY started_at")
    assert [r[1] for r in crawls.rows] == ["completed"] * 4
    assert [r[0] for r in crawls.rows[2:]] == [3, 3]  # the second round fetched the new articles alone
    batches = run_query(merged, "SELECT count(*), count(DISTINCT batch_id) FROM staged_batches")
    assert batches.rows[0][0] == batches.rows[0][1] > 4
    fetches = run_query(merged, "SELECT count(*) FROM fetches f JOIN runs r USING (run_id) WHERE r.flow = 'crawl'")
    assert fetches.rows[0][0] > 0  # the workers' fetch log, merged under their own run ids

    # a merge with nothing staged changes nothing
    before = article_contents(merged)
    merge(staging=staging, db=merged)
    assert article_contents(merged) == before


def test_a_batch_without_its_manifest_is_never_merged(sites: Sites, tmp_path: Path) -> None:
    staging, db = str(tmp_path / "staging"), str(tmp_path / "merged.duckdb")
    sites.publish(8)
    crawl_shard(sources=["north"], sources_file=str(sites.sources), staging=staging)
    area = Staging(staging)
    refs = [r for r in area.complete() if r.kind == "pages"]
    assert len(refs) == 2  # two fetch batches to a staged batch, as to a transaction
    cut = refs[0]
    lost = {p.url for p in area.read(cut).pages}
    Path(staging, "batches", cut.batch_id, MANIFEST).unlink()  # as if the worker died writing it
    merge(staging=staging, db=db)
    stored = {row[2] for row in article_contents(db)}
    assert len(stored) == 8 - len(lost)
    assert not stored & lost
    assert Path(staging, "batches", cut.batch_id).is_dir()  # left alone: not merged, not deleted
    # the next crawl of the shard fetches what the lost batch held, and ends as a clean run would
    crawl_shard(sources=["north"], sources_file=str(sites.sources), staging=staging)
    merge(staging=staging, db=db)
    assert {row[2] for row in article_contents(db)} == stored | lost


def test_host_shares_split_urls_by_host_and_cover_them_all() -> None:
    urls = [f"http://127.0.0.{i}:80{i}/a/{j}" for i in range(1, 9) for j in range(3)]
    shares = [host_share(f"{i}/3") for i in (1, 2, 3)]
    owners = [[s(u) for s in shares].count(True) for u in urls]
    assert owners == [1] * len(urls)
    for share in shares:  # one host's URLs stay together
        assert all(share(f"http://127.0.0.{i}:80{i}/a/0") == share(f"http://127.0.0.{i}:80{i}/b") for i in range(1, 9))


class StallingNewsroomHandler(NewsroomHandler):
    """Holds the answer for the articles in ``stall`` until ``release`` is set (a worker caught mid-crawl)."""

    stall: ClassVar[set[str]] = set()
    release: ClassVar[threading.Event] = threading.Event()

    def route(self, path: str) -> bool:
        if path.strip("/").rsplit("/", 1)[-1] in self.stall:
            self.release.wait(60)
        return super().route(path)


def staged_pages(staging: str) -> list[BatchRef]:
    return [r for r in Staging(staging).complete() if r.kind == "pages"]


def test_a_worker_killed_mid_crawl_then_rerun_ends_with_the_same_articles(tmp_path: Path) -> None:
    """The real command, SIGKILLed once it has staged a batch and waits for a page, then its shard run again."""
    room = Newsroom()
    for index in range(12):
        room.add(START + timedelta(hours=index))
    bound = {"newsroom": room, "stall": set(), "release": threading.Event()}
    handler = type("Stalling", (StallingNewsroomHandler,), bound)
    staging, merged, single = str(tmp_path / "staging"), str(tmp_path / "merged.duckdb"), str(tmp_path / "one.duckdb")
    with serve_site(handler) as base:
        sources = tmp_path / "sources.toml"
        sources.write_text(newsroom_sources(base, "north"))
        handler.stall.add(room.newest()[8][0])  # the fifth batch of two: the first ones are staged by then
        env = {**os.environ, "NEWSFLOW_EXTRACT_WORKERS": "0", "NEWSFLOW_BATCH_SIZE": "2",
               "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # fmt: skip
        command = [str(Path(sys.executable).with_name("newsflow")), "crawl", "--source", "north", "--sources",
                   str(sources), "--staging", staging]  # fmt: skip
        process = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not (Path(staging).exists() and staged_pages(staging)):
                if process.poll() is not None:
                    raise AssertionError(f"the crawl ended before it was killed: {process.stdout.read()}")  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the crawl never staged a batch"
                time.sleep(0.2)
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            handler.release.set()
        assert staged_pages(staging)
        assert not [r for r in Staging(staging).complete() if r.kind == "run"]  # it was killed mid-run
        merge(staging=staging, db=merged)  # what the killed worker staged completely is merged
        partly = len(article_contents(merged))
        assert 0 < partly < 12
        crawl_shard(sources=["north"], sources_file=str(sources), staging=staging)  # the shard run again
        merge(staging=staging, db=merged)
        ingest(sources_file=str(sources), db=single)
    assert len(article_contents(merged)) == 12
    assert article_contents(merged) == article_contents(single)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_each_host_share_takes_up_to_the_cap_of_its_own_hosts(sites: Sites, tmp_path: Path) -> None:
    """One source of two hosts, capped at 3 articles a run, crawled as two shares: each share takes the
    newest 3 of its own host, not its part of the newest 3 of both."""
    sites.publish(4)
    bases = list(sites.bases.values())
    sources = tmp_path / "both.toml"
    sources.write_text(
        f'[[sources]]\nname = "both"\nsitemaps = ["{bases[0]}/sitemap.xml", "{bases[1]}/sitemap.xml"]\n'
        'max_articles_per_run = 3\nrequests_per_second = 0\nallowed_private_networks = ["127.0.0.0/8"]\n'
    )
    # the first split into n shares that puts the two hosts apart (their ports are the machine's choice)
    n = next(n for n in range(2, 64) if len({_share(base, n) for base in bases}) == 2)
    staging, db = str(tmp_path / "staging"), str(tmp_path / "merged.duckdb")
    for base in bases:
        crawl_shard(sources=["both"], sources_file=str(sources), hosts=f"{_share(base, n)}/{n}", staging=staging)
    merge(staging=staging, db=db)
    per_host = run_query(db, "SELECT regexp_extract(url, '^http://([^/]+)', 1), count(*) FROM articles GROUP BY 1")
    assert dict(per_host.rows) == {base.removeprefix("http://"): 3 for base in bases}


def _share(base: str, n: int) -> int:
    return next(i for i in range(1, n + 1) if host_share(f"{i}/{n}")(f"{base}/news/x/"))


def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution of anything but 127.0.0.1 fails loudly: were the S3 endpoint setting ever ignored, the
    test fails here instead of sending a request to AWS."""
    resolve = socket.getaddrinfo

    def guarded(host: object, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a connection to {name!r} would leave 127.0.0.1")
        return resolve(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    with pytest.raises(AssertionError, match="would leave"):
        socket.getaddrinfo("s3.amazonaws.com", 443)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """A real S3 server (moto's server mode) on 127.0.0.1, and a bucket; yields the bucket's name."""
    _loopback_only(monkeypatch)
    port = _free_port()
    log = open(tmp_path / "moto.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "newsflow")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "newsflow-test")
    import s3fs

    deadline = time.monotonic() + 30
    while True:
        try:
            s3fs.S3FileSystem(skip_instance_cache=True).mkdir("newsflow-staging")
            break
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)
    try:
        yield "newsflow-staging"
    finally:
        server.terminate()
        server.wait(10)
        log.close()


def test_staged_batches_land_in_a_local_s3_bucket_and_merge(sites: Sites, s3: str, tmp_path: Path) -> None:
    import s3fs

    staging, db, single = f"s3://{s3}/crawl", str(tmp_path / "merged.duckdb"), str(tmp_path / "one.duckdb")
    sites.publish(3)
    for name in sites.rooms:
        crawl_shard(sources=[name], sources_file=str(sites.sources), staging=staging)
    bucket = s3fs.S3FileSystem(skip_instance_cache=True)
    manifests = bucket.glob(f"{s3}/crawl/batches/*/*/{MANIFEST}")
    assert len(manifests) >= 6  # page batches, discovery and the run's row, for each shard
    assert json.loads(bucket.cat(manifests[0]))["format"] == 1
    merge(staging=staging, db=db)
    ingest(sources_file=str(sites.sources), db=single)
    assert len(article_contents(db)) == 6
    assert article_contents(db) == article_contents(single)
    bucket.invalidate_cache()
    assert bucket.glob(f"{s3}/crawl/batches/*/*/{MANIFEST}") == []
    assert bucket.cat(f"{s3}/crawl/state/LATEST")
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_deploy_registers_crawls_per_host_share_and_the_merge_for_their_queues(sites: Sites, tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from typer.testing import CliRunner

    from flows.cli import app

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="news-pool", type="process"), overwrite=True)
    result = CliRunner().invoke(app, ["deploy", "--pool", "news-pool", "--staging", str(tmp_path / "staged"),
                                      "--db", str(tmp_path / "news.duckdb"), "--host-shares", "2",
                                      "--sources", str(sites.sources)])  # fmt: skip
    assert result.exit_code == 0, result.output
    with get_client(sync_client=True) as client:
        first = client.read_deployment_by_name("crawl/north-1of2")
        merger = client.read_deployment_by_name("merge/merge")
        reindex = client.read_deployment_by_name("reindex/reindex")
    assert first.work_pool_name == "news-pool" and first.work_queue_name == "crawl"
    assert first.parameters["hosts"] == "1/2" and first.parameters["staging"] == str(tmp_path / "staged")
    assert merger.work_queue_name == reindex.work_queue_name == "merge"
    assert merger.parameters["db"] == str(tmp_path / "news.duckdb")
    assert "registered crawl/south-2of2" in result.output


def test_a_crawl_or_merge_that_cannot_start_fails_with_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extractors.errors import ConfigError

    monkeypatch.delenv("NEWSFLOW_STAGING_URL", raising=False)
    with pytest.raises(ConfigError, match="the share i/n needs 1 <= i <= n"):
        crawl_shard(hosts="3/2", staging=str(tmp_path / "staged"))
    with pytest.raises(ConfigError, match="merge needs a staging URL"):
        merge(db=str(tmp_path / "news.duckdb"))
    assert not (tmp_path / "news.duckdb").exists()  # nothing started, nothing written
