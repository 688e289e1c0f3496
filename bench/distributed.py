"""Distributed benchmark: crawl on Prefect workers, stage, merge, and compare with one single-process run.

On this machine (127.0.0.1 only, offline) the script starts

- a local multi-host site: ``--sites`` processes on their own ports, each serving its share of the N pages
  (the real pages of ../shared/bench/aeb cycled under distinct URLs, as bench/pipeline.py serves them),
  each a source of one sources file;
- a Prefect server, a ``process`` work pool, and ``--workers`` crawl workers (``prefect worker start --pool
  P --work-queue crawl --limit 1``) each in a working directory of its own, as separate machines would be,
  plus one worker of the ``merge`` queue standing for the machine that holds the DuckDB file;
- the deployments ``newsflow deploy --pool P`` registers: ``crawl`` per source, ``merge``;
- a staging area: a directory, or with ``--s3`` a local S3 server (moto's server mode) and a bucket.

It runs every crawl deployment and waits until the workers have crawled and the merges (which each crawl
asks for when it ends) have stored everything; then runs the same sources through single-process
``newsflow ingest`` into a second database, compares the two databases' articles row by row
(``storage.queries.CONTENT_COLUMNS``), and prints

    distributed: A articles from W workers; equal to a single-process run: yes|no

with pages/s of both and the merge's articles/s (during the crawls, and alone).  The ratios depend on
what else runs: measure on a quiet machine.

    python bench/distributed.py [--pages 2000] [--workers 2] [--sites 4] [--s3] [--data ../shared/bench/aeb]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing import Event, Process
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import DEFAULT_DATA, ROOT, free_port, serve_site, start_prefect_server

POOL = "newsflow-bench"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command to its end; its output is shown if it fails."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def _start_sites(data: Path, pages: int, count: int) -> tuple[list[Process], list[int]]:
    share = [pages // count + (1 if k < pages % count else 0) for k in range(count)]
    processes, ports = [], []
    for k in range(count):
        port, ready = free_port(), Event()
        process = Process(target=serve_site, args=(data, share[k], port, ready), daemon=True)
        process.start()
        if not ready.wait(60):
            raise SystemExit(f"the local site on port {port} did not start (is {data} there?)")
        processes.append(process)
        ports.append(port)
    return processes, ports


def _sources(path: Path, ports: list[int], pages: int) -> list[str]:
    names = [f"bench-{k + 1}" for k in range(len(ports))]
    path.write_text("".join(
        f'[[sources]]\nname = "{name}"\nsitemaps = ["http://127.0.0.1:{port}/sitemap.xml"]\n'
        f"max_articles_per_run = {pages}\nrequests_per_second = 0\nconcurrency = 8\n"
        f'respect_robots = false\nallowed_private_networks = ["127.0.0.0/8"]\n\n'
        for name, port in zip(names, ports, strict=True)
    ))  # fmt: skip
    return names


def _start_s3(workdir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """moto's S3 server on 127.0.0.1 and a bucket; sets the AWS variables in ``env`` (and here, for s3fs)."""
    port = free_port()
    log = (workdir / "s3.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    env.update(aws)
    os.environ.update(aws)
    import s3fs

    deadline = time.monotonic() + 60
    while True:
        try:
            s3fs.S3FileSystem(skip_instance_cache=True).mkdir("newsflow-bench")
            return server
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _wait(client: object, run_ids: list[object], timeout: float) -> dict[object, str]:
    """Wait for the flow runs to end; their final state names."""
    deadline = time.monotonic() + timeout
    while True:
        states = {rid: client.read_flow_run(rid).state.type.value for rid in run_ids}  # type: ignore[attr-defined]
        if all(s in FINAL for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(1)


_MERGED = re.compile(r"merged \d+ batches \(\d+ URLs, (\d+) articles\) in ([\d.]+) s")


def _merge_timing(client: object) -> tuple[int, float]:
    """Articles the merge runs stored and the seconds they spent at it, from their log lines (the merge flow
    logs both; Prefect's run start-up and the state publication are not in them)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        LogFilter,
        LogFilterFlowRunId,
    )  # fmt: skip
    from prefect.client.schemas.objects import StateType

    runs = client.read_flow_runs(  # type: ignore[attr-defined]
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["merge"])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))),
    )
    articles, seconds = 0, 0.0
    logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[r.id for r in runs])))  # type: ignore[attr-defined]
    for line in logs:
        found = _MERGED.search(line.message)
        if found:
            articles += int(found.group(1))
            seconds += float(found.group(2))
    return articles, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="crawl workers (each runs one crawl at a time)")
    parser.add_argument("--sites", type=int, default=4, help="hosts of the local site, one source each")
    parser.add_argument("--s3", action="store_true", help="stage on a local S3 server instead of a directory")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    if not (args.data / "ground-truth.json").is_file():
        raise SystemExit(f"no benchmark pages in {args.data}: give --data DIR (../shared/bench/aeb)")
    workdir = Path(tempfile.mkdtemp(prefix="newsflow-distributed-"))
    sites, ports = _start_sites(args.data, args.pages, args.sites)
    sources = workdir / "sources.toml"
    names = _sources(sources, ports, args.pages)
    cores = os.cpu_count() or 1
    env = {
        **os.environ, "PREFECT_HOME": str(workdir / "prefect"), "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        "NEWSFLOW_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8", "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    helpers: list[subprocess.Popen[bytes]] = []
    s3 = _start_s3(workdir, env) if args.s3 else None
    staging = "s3://newsflow-bench/staging" if s3 else str(workdir / "staging")
    merged, single = str(workdir / "dbhost" / "merged.duckdb"), str(workdir / "single.duckdb")
    (workdir / "dbhost").mkdir()
    server, env["PREFECT_API_URL"] = start_prefect_server(env, workdir)
    os.environ["PREFECT_API_URL"] = env["PREFECT_API_URL"]
    print(f"{args.pages} pages on {args.sites} hosts of 127.0.0.1; {args.workers} crawl workers and a merge worker; "
          f"staging {'on a local S3 server' if s3 else 'in a directory'}; {cores} cores; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)  # fmt: skip
    try:
        _run([_bin("prefect"), "work-pool", "create", POOL, "--type", "process"], env)
        _run([_bin("newsflow"), "deploy", "--pool", POOL, "--staging", staging, "--db", merged, "--sources",
              str(sources)], env)  # fmt: skip
        # the machines' cores shared out: each crawl worker's runs extract in cores/workers processes
        per_worker = max(1, cores // args.workers)
        for number in range(args.workers):
            home = workdir / f"worker-{number + 1}"
            home.mkdir()
            helpers.append(subprocess.Popen(
                [_bin("prefect"), "worker", "start", "--pool", POOL, "--work-queue", "crawl", "--limit", "1",
                 "--name", f"crawl-{number + 1}"],
                cwd=home, env={**env, "NEWSFLOW_EXTRACT_WORKERS": str(per_worker)},
                stdout=(home / "worker.log").open("wb"), stderr=subprocess.STDOUT,
            ))  # fmt: skip
        helpers.append(subprocess.Popen(
            [_bin("prefect"), "worker", "start", "--pool", POOL, "--work-queue", "merge", "--limit", "1",
             "--name", "dbhost"],
            # its runs log at INFO: the merge's own timing line is read back from the server below
            cwd=workdir / "dbhost", env={**env, "PREFECT_LOGGING_LEVEL": "INFO"},
            stdout=(workdir / "dbhost" / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
        ))  # fmt: skip

        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment

        started = time.perf_counter()
        crawls = [run_deployment(f"crawl/{name}", timeout=0).id for name in names]
        with get_client(sync_client=True) as client:
            states = _wait(client, crawls, 3600)
            if set(states.values()) != {"COMPLETED"}:
                raise SystemExit(f"crawl runs ended {sorted(states.values())}; logs in {workdir}/worker-*")
            # each crawl asked for a merge when it ended; one more takes in whatever a merge running at the time
            # had not listed yet
            # had not listed yet (merge runs one at a time: this one starts after those the crawls asked for)
            last = run_deployment("merge/merge", timeout=0).id
            if _wait(client, [last], 3600)[last] != "COMPLETED":
                raise SystemExit(f"the last merge did not complete; logs in {workdir}/dbhost")
            distributed_seconds = time.perf_counter() - started
            merged_articles, merge_busy = _merge_timing(client)

        for helper in helpers:
            helper.terminate()
        began = time.perf_counter()
        _run([_bin("newsflow"), "ingest", "--sources", str(sources), "--db", single], env)
        single_seconds = time.perf_counter() - began
        # the merge alone, nothing else running: the same pages crawled into a second staging area, then merged
        alone = str(workdir / "staging-alone") if not s3 else "s3://newsflow-bench/alone"
        _run([_bin("newsflow"), "crawl", "--staging", alone, "--sources", str(sources)], env)
        merging = _run([_bin("newsflow"), "merge", "--staging", alone, "--db", str(workdir / "alone.duckdb")],
                       {**env, "PREFECT_LOGGING_LEVEL": "INFO"})
        found = _MERGED.search(merging.stdout + merging.stderr)
        alone_rate = int(found.group(1)) / float(found.group(2)) if found and float(found.group(2)) else None
    finally:
        for helper in helpers:
            helper.kill()
        server.terminate()
        if s3 is not None:
            s3.terminate()
        for site in sites:
            site.terminate()

    sys.path.insert(0, str(ROOT))
    from storage.queries import article_contents

    ours, theirs = article_contents(merged), article_contents(single)
    print(f"distributed: {len(ours)} articles from {args.workers} workers; equal to a single-process run: "
          f"{'yes' if ours == theirs else 'no'}")
    if ours != theirs:
        keys = {row[0] for row in ours} ^ {row[0] for row in theirs}
        different = sum(a != b for a, b in zip(ours, theirs, strict=False))
        print(f"  {len(theirs)} articles single-process; {len(keys)} keys on one side only, {different} rows differ")
    print(f"distributed pages/s: {len(ours) / distributed_seconds:.1f} ({distributed_seconds:.1f} s from the first "
          f"crawl started to the last merge ended)")
    print(f"single-process pages/s: {len(theirs) / single_seconds:.1f} ({single_seconds:.1f} s, `newsflow ingest`)")
    if merge_busy:
        print(f"merge: {merged_articles / merge_busy:.0f} articles/s while the workers crawled ({merged_articles} "
              f"articles in {merge_busy:.1f} s of merging, as the merge runs logged it)")
    if alone_rate:
        print(f"merge alone: {alone_rate:.0f} articles/s (the same pages staged by `newsflow crawl`, then "
              f"`newsflow merge` into a fresh database with nothing else running)")
    print("(figures from one run; meaningful only on a quiet machine)")
    return 0 if ours == theirs else 1


if __name__ == "__main__":
    raise SystemExit(main())
