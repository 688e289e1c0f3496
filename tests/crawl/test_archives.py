"""Which CC-NEWS files a window of publication dates reads, from the monthly listings."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime

import pytest

from crawl.archives import ccnews_months, file_time, listing_url, parse_listing, pick_files
from extractors.errors import FeedError


def _name(stamp: str, serial: int = 1) -> str:
    return f"crawl-data/CC-NEWS/{stamp[:4]}/{stamp[4:6]}/CC-NEWS-{stamp}-{serial:05d}.warc.gz"


def test_a_window_inside_a_month_reads_that_month_only() -> None:
    assert ccnews_months(date(2025, 3, 10), date(2025, 3, 15)) == [(2025, 3)]


def test_pages_archived_after_the_window_s_end_bring_the_next_month_in() -> None:
    assert ccnews_months(date(2025, 3, 20), date(2025, 3, 30)) == [(2025, 3), (2025, 4)]
    assert ccnews_months(date(2024, 12, 30), date(2025, 1, 2)) == [(2024, 12), (2025, 1)]


def test_files_are_picked_by_the_time_in_their_names_with_a_lag_after_the_window() -> None:
    names = [_name(s) for s in (
        "20250309235959", "20250310000000", "20250315120000", "20250318235959", "20250319000000", "20250401000000",
    )]  # fmt: skip
    picked = pick_files(list(reversed(names)), date(2025, 3, 10), date(2025, 3, 15))
    assert picked == names[1:4]  # from the first day to three days after the last, in time order
    assert file_time(names[1]) == datetime(2025, 3, 10, tzinfo=UTC)


def test_a_listing_is_read_gzipped_or_not_and_anything_else_is_refused() -> None:
    names = [_name("20250310000000"), _name("20250310010000", 2)]
    text = "\n".join(names) + "\n"
    assert parse_listing(gzip.compress(text.encode()), "u") == names
    assert parse_listing(text.encode(), "u") == names
    with pytest.raises(FeedError, match="not a CC-NEWS listing"):
        parse_listing(b"<html>404 not found</html>", "u")


def test_listing_address() -> None:
    assert listing_url("https://data.commoncrawl.org/", 2025, 3) == (
        "https://data.commoncrawl.org/crawl-data/CC-NEWS/2025/03/warc.paths.gz"
    )
