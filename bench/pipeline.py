"""End-to-end pipeline benchmark: the real ``ingest`` flow against bare trafilatura, in one run.

A local site (its own process, 127.0.0.1 only) serves N article pages: the 121
real pages of ../shared/bench/aeb cycled under distinct URLs, each copy's
canonical link and og:url rewritten to its own address (so every copy is a
distinct article), listed by a sitemap index.  A Prefect server is started and
warmed by a small run into a scratch database (a deployed server is long-running;
a fresh one spends ~1 s of CPU on its first requests).  The script then

1. runs ``ingest`` end to end into a fresh DuckDB file, in a child process whose
   whole process tree (extraction workers, Prefect's temporary server) is
   sampled for peak RSS;
2. runs it again with ``refresh``: every page is asked for conditionally and
   answered 304;
3. runs the ``reindex`` flow, which builds the search index over what was stored
   (ingest runs leave that to it);
4. times bare ``trafilatura.extract`` over the same N pages in one process: the
   first half just before step 1, the second just after it, so that a change in
   the machine's speed while the run goes (a shared VM's can move ±30% within
   minutes) weighs on the baseline as on the run;

and prints pages/s end to end and for bare trafilatura, their ratio, peak RSS,
where the wall time went (fetch / extract / store / orchestration), DuckDB
rows/s and the 304 rerun's speed-up.  It ends with the line
``ratio end-to-end/bare-trafilatura: X.XX``.

    python bench/pipeline.py [--pages 2000] [--data ../shared/bench/aeb] [--workers N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing import Process
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "bench" / "aeb"
PER_SITEMAP = 5_000

_CANONICAL = re.compile(rb"<link\b[^>]*\brel=[\"']?canonical[\"']?[^>]*>", re.IGNORECASE)
_OG_URL = re.compile(rb"<meta\b[^>]*\bproperty=[\"']og:url[\"'][^>]*>", re.IGNORECASE)
_HEAD = re.compile(rb"<head\b[^>]*>", re.IGNORECASE)


# --- the site --------------------------------------------------------------------------------------------


def load_templates(data: Path) -> list[tuple[bytes, bytes]]:
    """Each real page split where its own address goes: (before, after), its canonical and og:url removed."""
    truth = json.loads((data / "ground-truth.json").read_text(encoding="utf-8"))
    templates = []
    for page_id in sorted(truth):
        html = gzip.decompress((data / "html" / f"{page_id}.html.gz").read_bytes())
        html = _OG_URL.sub(b"", _CANONICAL.sub(b"", html))
        head = _HEAD.search(html)
        cut = head.end() if head else 0
        templates.append((html[:cut], html[cut:]))
    return templates


def article_path(index: int) -> str:
    return f"/news/2026/11/{1 + index % 28:02d}/bench-story-number-{index:06d}"


def page_body(templates: list[tuple[bytes, bytes]], index: int, base: str) -> bytes:
    before, after = templates[index % len(templates)]
    url = f"{base}{article_path(index)}".encode()
    own = b'<link rel="canonical" href="' + url + b'"><meta property="og:url" content="' + url + b'">'
    return before + own + after


def _sitemap(base: str, pages: int, part: int | None) -> bytes:
    if part is None:
        parts = range(-(-pages // PER_SITEMAP))
        entries = "".join(f"<sitemap><loc>{base}/sitemap-{k}.xml</loc></sitemap>" for k in parts)
        return (f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns='
                f'"http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>').encode()  # fmt: skip
    indexes = range(part * PER_SITEMAP, min(pages, (part + 1) * PER_SITEMAP))
    entries = "".join(
        f"<url><loc>{base}{article_path(i)}</loc><lastmod>2026-11-{1 + i % 28:02d}</lastmod></url>" for i in indexes
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns='
            f'"http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>').encode()  # fmt: skip


def serve_site(data: Path, pages: int, port: int, ready: Any) -> None:
    """The benchmark site (run in its own process): sitemaps, article pages with ETags, 304s."""
    templates = load_templates(data)
    base = f"http://127.0.0.1:{port}"
    by_path = {article_path(i): i for i in range(pages)}

    sys.path.insert(0, str(ROOT))
    from flows.demo_server import DemoSiteHandler, SiteServer

    class Handler(DemoSiteHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real sites do

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/sitemap.xml" or re.fullmatch(r"/sitemap-\d+\.xml", path):
                part = None if path == "/sitemap.xml" else int(path[9:-4])
                self.send_body(200, _sitemap(base, pages, part), "application/xml")
            elif path in by_path:
                index = by_path[path]
                version = {"ETag": f'"bench-{index}"'}
                if self.headers.get("If-None-Match") == version["ETag"]:
                    self.send_body(304, b"", "text/html; charset=utf-8", version)
                else:
                    self.send_body(200, page_body(templates, index, base), "text/html; charset=utf-8", version)
            else:
                self.send_body(404, b"not found", "text/plain")

    server = SiteServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


# --- the measured children -------------------------------------------------------------------------------


def child_ingest(db: str, sources_file: str, refresh: bool) -> None:
    """Run the real flow once and print its report as JSON (run in a child process)."""
    sys.path.insert(0, str(ROOT))
    from flows.ingest import ingest
    from flows.prefect_runtime import command_line_run

    started = time.perf_counter()
    with command_line_run(extracts=not refresh):  # as `newsflow ingest` runs it
        report = ingest(sources=["bench"], sources_file=sources_file, refresh=refresh, db=db)
    seconds = time.perf_counter() - started
    timings = report.timings
    print(json.dumps({
        "seconds": seconds, "requested": report.requested, "fetched": report.fetched, "new": report.new,
        "not_modified": report.not_modified, "failed": report.failed, "failures": report.failures,
        "flow_wall": timings.wall if timings else None, "idle": timings.idle if timings else None,
        "stages": dict(timings.stages) if timings else {},
    }))  # fmt: skip


def child_reindex(db: str) -> None:
    """Run the real ``reindex`` flow over what the first run stored (run in a child process)."""
    sys.path.insert(0, str(ROOT))
    from flows.prefect_runtime import command_line_run
    from flows.reindex import reindex

    started = time.perf_counter()
    with command_line_run():  # as `newsflow reindex` runs it
        report = reindex(db=db)
    print(json.dumps({"seconds": time.perf_counter() - started, "rebuilt": report.rebuilt,
                      "articles": report.articles}))  # fmt: skip


def child_trafilatura(data: str, first: int, stop: int) -> None:
    """Time bare trafilatura.extract over pages ``first``..``stop``-1, one process (run in a child process)."""
    import trafilatura

    templates = load_templates(Path(data))
    base = "http://127.0.0.1:1"
    trafilatura.extract(page_body(templates, 0, base))  # warm-up: lazy imports
    seconds = 0.0
    for index in range(first, stop):
        html = page_body(templates, index, base)
        start = time.perf_counter()
        trafilatura.extract(html, url=f"{base}{article_path(index)}")
        seconds += time.perf_counter() - start
    print(json.dumps({"seconds": seconds}))


def _measure(command: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, float, float]:
    """Run a child; its JSON line, wall seconds, and the peak RSS and PSS (MB) of its whole process tree.

    RSS counts a page shared by several processes (the extraction workers share what their fork server
    loaded) in each of them; PSS splits it among them, so the tree's PSS is what it takes from the machine.
    """

    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    peak, peak_pss, detail = 0, 0, ""
    watched = psutil.Process(process.pid)
    cpu: dict[int, tuple[str, float, float]] = {}  # pid: role, user and system CPU seconds
    while process.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            # one read per process gives both (``memory_full_info`` holds the RSS too)
            memory = [(p.memory_full_info(), " ".join(p.cmdline()[1:3])[-40:]) for p in tree if p.is_running()]
            sizes = [(info.rss, name) for info, name in memory]
            peak_pss = max(peak_pss, sum(info.pss for info, _ in memory))
            for p in tree:
                times = p.cpu_times()
                cpu[p.pid] = ("main" if p.pid == process.pid else "workers", times.user, times.system)
        except psutil.Error:
            continue
        if os.environ.get("NEWSFLOW_BENCH_RSS_LOG"):
            with open(os.environ["NEWSFLOW_BENCH_RSS_LOG"], "a") as log:
                log.write(f"{datetime.now(UTC):%H:%M:%S.%f} {sum(s for s, _ in sizes) >> 20} {sizes[0][0] >> 20}\n")
        if sum(size for size, _ in sizes) > peak:
            peak = sum(size for size, _ in sizes)
            detail = ", ".join(f"{name or 'main'} {size / 2**20:.0f}" for size, name in sorted(sizes, reverse=True))
        time.sleep(0.2)
    if os.environ.get("NEWSFLOW_BENCH_VERBOSE"):
        by_role: dict[str, float] = {}
        for role, user, system in cpu.values():
            by_role[role] = by_role.get(role, 0.0) + user + system
        main_split = cpu[process.pid][1:] if process.pid in cpu else None
        print(f"  peak RSS by process (MB): {detail}; CPU s: {by_role}; main user/system {main_split}", flush=True)
    wall = time.perf_counter() - started
    out = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise SystemExit(f"{command[2:4]} failed with exit code {process.returncode}")
    return json.loads(out.strip().splitlines()[-1]), wall, peak / 2**20, peak_pss / 2**20


def _tree_cpu(process: psutil.Process) -> float:
    """User + system CPU seconds of a process and its children so far."""
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_prefect_server(env: dict[str, str], workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A Prefect server of the bench's own, as production runs one (a temporary server per process costs
    each run ~5-10 s of start-up and its memory); its address and process."""
    import urllib.request

    sys.path.insert(0, str(ROOT))
    from flows.prefect_runtime import PREFECT_SERVER_ENV  # the settings README recommends for the server

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = (workdir / "prefect-server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, **PREFECT_SERVER_ENV, "PREFECT_SERVER_UI_API_URL": api, "PREFECT_UI_ENABLED": "false"},
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{api}/health", timeout=2):
                return server, api
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit(f"the Prefect server did not start; see {workdir / 'prefect-server.log'}")


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  -  "


#: Pages of the run that warms the Prefect server before the measured runs.
WARMUP_PAGES = 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--workers", type=int, default=None, help="extraction workers (default: one per core)")
    parser.add_argument("--batch-size", type=int, default=100, help="NEWSFLOW_BATCH_SIZE (the default)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the DuckDB file here")
    args = parser.parse_args()

    port = free_port()
    from multiprocessing import Event

    ready = Event()
    site = Process(target=serve_site, args=(args.data, args.pages, port, ready), daemon=True)
    site.start()
    ready.wait(60)
    workdir = Path(tempfile.mkdtemp(prefix="newsflow-bench-"))
    db = str(args.keep or workdir / "bench.duckdb")
    sources, warmup = workdir / "sources.toml", workdir / "warmup.toml"
    for path, cap in ((sources, args.pages), (warmup, WARMUP_PAGES)):
        path.write_text(
            f'[[sources]]\nname = "bench"\nsitemaps = ["http://127.0.0.1:{port}/sitemap.xml"]\n'
            f"max_articles_per_run = {cap}\nrequests_per_second = 0\nconcurrency = 8\n"
            f'respect_robots = false\nallowed_private_networks = ["127.0.0.0/8"]\n'
        )
    env = {
        **os.environ,
        "PREFECT_HOME": str(workdir / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"),
        "NEWSFLOW_BATCH_SIZE": str(args.batch_size),
        "NEWSFLOW_ALLOWED_PRIVATE_NETWORKS": "127.0.0.0/8",
    }
    if args.workers is not None:
        env["NEWSFLOW_EXTRACT_WORKERS"] = str(args.workers)
    prefect_server, env["PREFECT_API_URL"] = start_prefect_server(env, workdir)
    me = [sys.executable, str(Path(__file__).resolve())]
    print(f"{args.pages} pages ({len(load_templates(args.data))} real pages cycled) on 127.0.0.1:{port}; "
          f"{os.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Prefect server warmed by a "
          f"{WARMUP_PAGES}-page run", flush=True)  # fmt: skip

    # A deployed Prefect server runs for weeks; a fresh one builds its routes' state and its models' schemas on
    # the first requests to each (~1 s of CPU on this machine, on the cores the run uses).  A small run into a
    # scratch database pays that before the measured runs, as the server's first scheduled run would.
    subprocess.run([*me, "_ingest", str(workdir / "warmup.duckdb"), str(warmup)], env=env, check=True,
                   capture_output=True)  # fmt: skip
    others = {"site": psutil.Process(site.pid), "prefect server": psutil.Process(prefect_server.pid)}
    half = args.pages // 2
    bare_before, _, _, _ = _measure([*me, "_trafilatura", str(args.data), "0", str(half)], env)
    before = {name: _tree_cpu(proc) for name, proc in others.items()}
    first, first_wall, first_rss, first_pss = _measure([*me, "_ingest", db, str(sources)], env)
    if os.environ.get("NEWSFLOW_BENCH_VERBOSE"):
        spent = {name: round(_tree_cpu(proc) - before[name], 1) for name, proc in others.items()}
        print(f"  CPU s outside the run's process tree during it: {spent}", flush=True)
    bare_after, _, _, _ = _measure([*me, "_trafilatura", str(args.data), str(half), str(args.pages)], env)
    second, _, second_rss, _ = _measure([*me, "_ingest", db, str(sources), "--refresh"], env)
    index, _, index_rss, _ = _measure([*me, "_reindex", db], env)
    server_rss = psutil.Process(prefect_server.pid).memory_info().rss / 2**20
    prefect_server.terminate()
    site.terminate()

    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[index]
        pages_rows = con.execute("SELECT count(*) FROM pages").fetchone()[0]  # type: ignore[index]
        fetch_rows = con.execute("SELECT count(*) FROM fetches").fetchone()[0]  # type: ignore[index]

    n = args.pages
    e2e = n / first["seconds"]
    bare_seconds = bare_before["seconds"] + bare_after["seconds"]
    trafilatura_rate = n / bare_seconds
    stages, wall = first["stages"], first["flow_wall"]
    store = stages.get("store", 0.0)
    rows = first["new"] + n + first["fetched"]  # articles + pages + fetch log rows written
    print(f"first run:  {first['new']} new, {first['failed']} failed {first['failures'] or ''}; "
          f"{first['seconds']:.1f} s in ingest(), {first_wall:.1f} s with process start")  # fmt: skip
    print(f"end to end:          {e2e:8.1f} pages/s")
    print(f"bare trafilatura:    {trafilatura_rate:8.1f} pages/s (one process, {bare_seconds:.1f} s; "
          f"{half / bare_before['seconds']:.1f} pages/s on the half before the run, "
          f"{(n - half) / bare_after['seconds']:.1f} on the half after)")  # fmt: skip
    print(f"peak RSS (process tree): {first_rss:8.0f} MB first run, {second_rss:.0f} MB 304 rerun "
          f"(the Prefect server, a separate service: {server_rss:.0f} MB)")  # fmt: skip
    print(f"peak PSS (process tree): {first_pss:8.0f} MB first run (shared pages counted once)")
    print(f"wall {wall:.1f} s of the flow run; busy per stage (stages overlap, so shares add past 100%):")
    for name in ("discover", "plan", "fetch", "extract", "store", "gc"):
        print(f"  {name:<13} {stages.get(name, 0.0):8.1f} s {_pct(stages.get(name, 0.0), wall)}")
    # Prefect's share: wall no stage covered, garbage collection, and the store calls beyond the store itself
    # (writer slot, task run); fetch and extract task runs overlap other work
    orchestration = first["idle"] + stages.get("gc", 0.0) + stages.get("store-call", 0.0) - stages.get("store", 0.0)
    print(f"  orchestration {orchestration:8.1f} s {_pct(orchestration, wall)}  (no stage at work, gc, writer slot)")
    print(f"  orchestration + storage: {_pct(orchestration + store, wall)} of wall")
    print(f"DuckDB: {rows / store if store else 0:8.0f} rows/s stored ({rows} rows in {store:.1f} s); "
          f"tables now: {articles} articles, {pages_rows} pages, {fetch_rows} fetch rows")  # fmt: skip
    print(f"search index: built by the reindex flow after the run (ingest leaves it), {index['articles']} articles "
          f"in {index['seconds']:.1f} s, peak RSS {index_rss:.0f} MB")  # fmt: skip
    busy = ", ".join(f"{k} {v:.1f} s" for k, v in second["stages"].items() if v >= 0.05)
    print(f"304 rerun stages: {busy}; idle {second['idle']:.1f} s of {second['flow_wall']:.1f} s")
    print(f"304 rerun:  {second['not_modified']} not modified, {second['new']} new; {second['seconds']:.1f} s "
          f"-> {first['seconds'] / second['seconds']:.1f}x faster than the first run")  # fmt: skip
    print(f"ratio end-to-end/bare-trafilatura: {e2e / trafilatura_rate:.2f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_ingest":
        child_ingest(sys.argv[2], sys.argv[3], "--refresh" in sys.argv[4:])
    elif len(sys.argv) > 1 and sys.argv[1] == "_reindex":
        child_reindex(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == "_trafilatura":
        child_trafilatura(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        raise SystemExit(main())
