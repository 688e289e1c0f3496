"""URL normalisation and keys."""

from __future__ import annotations

import pytest

from extractors.errors import InvalidURL
from extractors.urls import normalize_url, url_key


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("HTTPS://WWW.Example.COM:443/a/?utm_source=x&id=3&fbclid=1#top", "https://www.example.com/a/?id=3"),
        ("http://example.com/a?gclid=1&mc_cid=2", "http://example.com/a"),
    ],
)
def test_normalize_url(raw: str, normalised: str) -> None:
    assert normalize_url(raw) == normalised


def test_url_key_folds_host_and_amp_variants() -> None:
    keys = {url_key(normalize_url(u)) for u in (
        "https://www.example.com/news/story/", "http://m.example.com/news/story", "https://amp.example.com/news/story/amp/",
        "https://example.com/news/story?amp=1",
    )}  # fmt: skip
    assert keys == {"https://example.com/news/story"}
    assert url_key(normalize_url("http://127.0.0.1:8765/a/")) == "https://127.0.0.1:8765/a"


def test_normalize_rejects_non_http() -> None:
    with pytest.raises(InvalidURL):
        normalize_url("ftp://example.com/x")
