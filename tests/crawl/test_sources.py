"""sources.toml: validation with messages that name the file, the source and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawl.fetcher import FetchPolicy
from crawl.sources import Source, load_sources, select_sources
from extractors.errors import ConfigError
from flows.demo_server import demo_source_toml

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_sources_file_is_valid_and_its_demo_source_matches_the_demo() -> None:
    sources = {s.name: s for s in load_sources(REPO / "sources.toml")}
    assert "demo" in sources and len(sources) >= 3
    assert all(s.schedule for s in sources.values())
    assert sources["demo"].allowed_private_networks == ["127.0.0.0/8"]
    assert all(not s.allowed_private_networks for name, s in sources.items() if name != "demo")


def test_demo_source_as_the_cli_writes_it(tmp_path: Path) -> None:
    demo = load_sources(_write(tmp_path, demo_source_toml("http://127.0.0.1:8765")))[0]
    shipped = {s.name: s for s in load_sources(REPO / "sources.toml")}["demo"]
    assert demo == shipped


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[[sources]]\nname = "a"\nfeeds = ["ftp://x"]\n', "source 'a', field feeds"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\nrequests_per_second = -1\n',
         "source 'a', field requests_per_second"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\ntimezone = "Mars/Base"\n',
         "source 'a', field timezone"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\nschedule = "every hour"\n',
         "source 'a', field schedule"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\nallowed_private_networks = ["10.0.0.0/33"]\n',
         "source 'a', field allowed_private_networks"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\ninclude = ["("]\n', "source 'a', field include"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\nfeed = ["typo"]\n', "source 'a', field feed"),
        ('[[sources]]\nname = "a"\n', "give at least one of feeds, sitemaps or start_urls"),
        ('[[sources]]\nfeeds = ["https://x.example/f"]\n', "source #1, field name"),
        ('[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\n[[sources]]\nname = "a"\nsitemaps = '
         '["https://x.example/s.xml"]\n', "unique"),
        ("sources = 3\n", "sources"),
        ("[[sources]\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_file_names_file_source_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_sources(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_missing_file_and_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_sources(tmp_path / "nope.toml")
    sources = load_sources(_write(tmp_path, '[[sources]]\nname = "a"\nfeeds = ["https://x.example/f"]\n'))
    with pytest.raises(ConfigError, match="unknown source"):
        select_sources(sources, ["b"])


def test_names_typed_by_hand_are_stripped_blank_ones_dropped_and_unknown_ones_quoted(tmp_path: Path) -> None:
    body = '[[sources]]\nname = "demo"\nfeeds = ["https://x.example/f"]\n[[sources]]\nname = "b"\nfeeds = ["https://y.example/f"]\n'
    sources = load_sources(_write(tmp_path, body))
    assert [s.name for s in select_sources(sources, [" demo\n", "", "  "])] == ["demo"]
    assert [s.name for s in select_sources(sources, ["", " "])] == ["demo", "b"]  # nothing named: every source
    with pytest.raises(ConfigError) as caught:
        select_sources(sources, ["demo", "dem o", "x\ty"])
    assert str(caught.value) == "unknown sources 'dem o', 'x\\ty'; the sources file has demo, b"


def test_source_politeness_becomes_the_fetch_policy() -> None:
    base = FetchPolicy("ua", 5.0, 8, 2, 2, 1.0, 10, 1000)
    source = Source(name="s", feeds=["https://x.example/f"], requests_per_second=2, per_host_concurrency=3,
                    user_agent="special", respect_robots=False, allowed_private_networks=["127.0.0.0/8"])  # fmt: skip
    policy = source.fetch_policy(base)
    assert (policy.requests_per_second, policy.per_host_concurrency, policy.user_agent) == (2, 3, "special")
    assert (policy.respect_robots, policy.allowed_networks) == (False, ("127.0.0.0/8",))


def test_include_and_exclude_patterns() -> None:
    source = Source(name="s", feeds=["https://x.example/f"], include=[r"/news/"], exclude=[r"/live/"])
    assert source.wants("https://x.example/news/a-b-c")
    assert not source.wants("https://x.example/sport/a-b-c")
    assert not source.wants("https://x.example/news/live/a-b-c")


def test_dated_archive_pages_for_a_backfill_window() -> None:
    from datetime import date

    source = Source(name="s", feeds=["https://x.example/f"], archive_urls=["https://x.example/{yyyy}/{mm}/{dd}/"])
    pages = source.archive_pages(date(2026, 2, 27), date(2026, 3, 2))
    assert pages == [
        ("https://x.example/2026/03/01/", date(2026, 3, 1)),
        ("https://x.example/2026/02/28/", date(2026, 2, 28)),
        ("https://x.example/2026/02/27/", date(2026, 2, 27)),
    ]
    monthly = Source(name="m", feeds=["https://x.example/f"], archive_urls=["https://x.example/archive/{yyyy}-{mm}/"])
    assert [u for u, _ in monthly.archive_pages(date(2026, 1, 30), date(2026, 2, 3))] == [
        "https://x.example/archive/2026-02/", "https://x.example/archive/2026-01/",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="yyyy"):
        Source(name="b", feeds=["https://x.example/f"], archive_urls=["https://x.example/archive/"])


def test_concurrency_in_a_sources_file_is_per_host_under_either_name() -> None:
    # NEWSFLOW_CONCURRENCY caps all hosts together; a source's limit is per host, and says so in its name
    for key in ("per_host_concurrency", "concurrency"):  # the second: its name in older sources files
        source = Source.model_validate({"name": "s", "feeds": ["https://x.example/f"], key: 3})
        assert source.per_host_concurrency == 3
