"""Bad input costs nothing else: a broken sitemap, a non-feed, a bad sources file.

Each gives one clear line naming the file and the problem, in the output a user sees
(`newsflow ingest` in its own process), and the rest of the run goes on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from flows.demo_server import demo_article_paths, demo_source_toml


def _newsflow(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "COLUMNS": "250", "NO_COLOR": "1"}
    env.pop("PREFECT_API_URL", None)
    script = Path(sys.executable).with_name("newsflow")
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=300)


def test_a_broken_sitemap_and_a_non_feed_cost_one_line_each_and_nothing_else(tmp_path: Path, site: str) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        demo_source_toml(site)
        + f'\n[[sources]]\nname = "broken"\nsitemaps = ["{site}/fault/broken-sitemap.xml"]\n'
        f'feeds = ["{site}/fault/not-a-feed.xml"]\nallowed_private_networks = ["127.0.0.0/8"]\n',
        encoding="utf-8",
    )
    db = tmp_path / "bad.duckdb"
    done = _newsflow(tmp_path, "ingest", "--sources", str(sources), "--db", str(db))
    output = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 1, "\n".join(output)  # the run completed; some URLs failed
    for name, problem in (("broken-sitemap.xml", "sitemap"), ("not-a-feed.xml", "feed")):
        lines = [line for line in output if name in line]
        assert len(lines) == 1, lines
        assert problem in lines[0].lower() and "feed_error" in lines[0]
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM articles WHERE source = 'demo'").fetchone()
    assert stored == (len(demo_article_paths()),)


def test_a_bad_sources_file_is_one_line_naming_file_source_and_field(tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text('[[sources]]\nname = "x"\nfeeds = ["https://x.example/f"]\nconcurrency = "many"\n')
    done = _newsflow(tmp_path, "ingest", "--sources", str(sources), "--db", str(tmp_path / "none.duckdb"))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert str(sources) in lines[0] and "'x'" in lines[0] and "concurrency" in lines[0]
    assert not (tmp_path / "none.duckdb").exists()
