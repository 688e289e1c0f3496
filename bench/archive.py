"""Web archive benchmark: a backfill from a generated WARC against bare FastWARC and bare trafilatura, one run.

A WARC of N ``response`` records (default 10,000) is written with newsflow's writer: the 121 real pages of
../shared/bench/aeb cycled under distinct addresses (each copy's canonical link and og:url rewritten to its
own), one record in five on a host the source does not name.  Then, in one run on the same file:

1. bare FastWARC iterates every response record and reads its body (the reading floor);
2. newsflow's reader (``crawl/warc.py``) yields the source's HTML pages, skipping the other host's records
   on their headers;
3. ``newsflow backfill --warc FILE --source bench`` runs end to end (the real flow, its extraction workers,
   DuckDB) against a Prefect server of the bench's own, in a child process;
4. bare ``trafilatura.extract`` runs over the same source pages in one process;

and it prints records/s for 1-2, articles/s stored for 3 and pages/s for 4, with the ratios, ending with
``ratio backfill/bare-trafilatura: X.XX``.  Figures are meaningful only on a quiet machine.

    python bench/archive.py [--records 10000] [--data ../shared/bench/aeb]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import DEFAULT_DATA, article_path, load_templates, page_body, start_prefect_server  # noqa: E402

BASE = "https://bench.example"
OTHER = "https://elsewhere.example"


def write_warc(path: Path, data: Path, records: int) -> tuple[int, float]:
    """The benchmark's WARC; returns the source pages in it and the seconds writing took."""
    from crawl.warc import WarcWriter
    from extractors.records import FetchedPage

    templates = load_templates(data)
    started = time.perf_counter()
    wanted = 0
    when = datetime(2026, 11, 1, tzinfo=UTC)
    with open(path, "wb") as out:
        writer = WarcWriter(out)
        for index in range(records):
            base = OTHER if index % 5 == 4 else BASE
            wanted += base == BASE
            url = f"{base}{article_path(index)}"
            headers = (("content-type", "text/html; charset=utf-8"),)
            body = page_body(templates, index, base)
            writer.write_page(FetchedPage(url, url, 200, headers, body, when + timedelta(seconds=index)))
    return wanted, time.perf_counter() - started


def bare_fastwarc(path: Path) -> tuple[int, float]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    started = time.perf_counter()
    count = 0
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True):
            record.reader.read()
            count += 1
    return count, time.perf_counter() - started


def newsflow_reader(path: Path) -> tuple[int, float]:
    from crawl.warc import ReadCounts, domain_matcher, read_pages

    started = time.perf_counter()
    counts = ReadCounts()
    with open(path, "rb") as stream:
        pages = sum(1 for _ in read_pages(stream, str(path), domain_matcher(["bench.example"]), counts))
    return pages, time.perf_counter() - started


def bare_trafilatura(data: Path, records: int) -> tuple[int, float]:
    import trafilatura

    templates = load_templates(data)
    trafilatura.extract(page_body(templates, 0, BASE))  # warm-up: lazy imports
    seconds, count = 0.0, 0
    for index in range(records):
        if index % 5 == 4:
            continue
        html = page_body(templates, index, BASE)
        started = time.perf_counter()
        trafilatura.extract(html, url=f"{BASE}{article_path(index)}")
        seconds += time.perf_counter() - started
        count += 1
    return count, seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="newsflow-archive-bench-"))
    warc = workdir / "bench.warc.gz"
    wanted, writing = write_warc(warc, args.data, args.records)
    size = warc.stat().st_size
    print(f"{args.records} records ({wanted} of the source's host) in {size / 2**20:.0f} MB; {os.cpu_count()} cores; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; figures hold only on a quiet machine")  # fmt: skip
    print(f"writing (warcio + ISA-L, gzip per record): {args.records / writing:8.0f} records/s")

    read, fast_seconds = bare_fastwarc(warc)
    print(f"bare FastWARC iteration:                  {read / fast_seconds:8.0f} records/s")
    pages, reader_seconds = newsflow_reader(warc)
    print(f"newsflow reader (host filter, pages):     {args.records / reader_seconds:8.0f} records/s "
          f"({pages} pages; {fast_seconds / reader_seconds:.2f}x bare FastWARC)")  # fmt: skip

    sources = workdir / "sources.toml"
    sources.write_text('[[sources]]\nname = "bench"\ndomains = ["bench.example"]\n', encoding="utf-8")
    env = {**os.environ, "PREFECT_HOME": str(workdir / "prefect"), "DO_NOT_TRACK": "1",
           "PREFECT_LOGGING_LEVEL": os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING")}  # fmt: skip
    server, env["PREFECT_API_URL"] = start_prefect_server(env, workdir)
    try:
        db = workdir / "bench.duckdb"
        command = [str(Path(sys.executable).with_name("newsflow")), "backfill", "--warc", str(warc), "--source",
                   "bench", "--sources", str(sources), "--db", str(db)]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        backfill_seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"the backfill failed:\n{done.stdout}\n{done.stderr}")
    finally:
        server.terminate()
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[index]
    rate = stored / backfill_seconds
    print(f"newsflow backfill --warc, end to end:     {rate:8.1f} articles/s "
          f"({stored} stored in {backfill_seconds:.1f} s, command start included)")  # fmt: skip

    extracted, traf_seconds = bare_trafilatura(args.data, args.records)
    traf_rate = extracted / traf_seconds
    print(f"bare trafilatura.extract, one process:    {traf_rate:8.1f} pages/s ({extracted} pages)")
    print(f"ratio backfill/bare-trafilatura: {rate / traf_rate:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
