"""Pages named on the command line: local files and URLs, read or fetched as one batch.

``newsflow extract`` takes files (``.html``, gzip-compressed ``.html.gz``, or
``-`` for standard input) and http(s) URLs in any mix.  URLs are fetched in
one batch with the configured politeness; every input gives an outcome in
input order — an article or a readable failure — and one bad input never
stops the others.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crawl.fetcher import FetchPolicy, fetch_all
from crawl.payloads import GZIP_MAGIC, gunzip_capped
from extractors import ExtractOptions, extract_article
from extractors.article import fetched_page_from_file
from extractors.errors import ConfigError, FeedError, NewsflowError, TooLarge, UnreadableFile
from extractors.records import Article, Failure, FetchedPage
from extractors.urls import is_http_url


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """What one input gave: exactly one of ``article`` and ``failure``."""

    source: str
    article: Article | None = None
    failure: Failure | None = None

    def to_json_dict(self) -> dict[str, object]:
        if self.article is not None:
            return {"input": self.source, **self.article.to_json_dict()}
        assert self.failure is not None
        failure = self.failure
        error = {"stage": failure.stage, "outcome": failure.outcome, "reason": failure.reason,
                 "transient": failure.transient, "status": failure.status}  # fmt: skip
        return {"input": self.source, "url": failure.url, "error": error}


def read_page_file(source: str, url: str, max_bytes: int) -> FetchedPage:
    """A local page as if it had been fetched from ``url``; gzip is recognised by its magic bytes."""
    try:
        data = sys.stdin.buffer.read(max_bytes + 1) if source == "-" else _read_capped(Path(source), max_bytes)
    except OSError as error:
        raise UnreadableFile(url, f"cannot read {source}: {error.strerror or error}") from error
    if data.startswith(GZIP_MAGIC):
        try:
            data = gunzip_capped(data, url, max_bytes)
        except FeedError as error:
            raise UnreadableFile(url, error.reason) from error
    if len(data) > max_bytes:
        raise TooLarge(url, f"{source} is over the {max_bytes}-byte page limit")
    return fetched_page_from_file(data, url)


def _read_capped(path: Path, max_bytes: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(max_bytes + 1)


def _file_url(source: str) -> str:
    return "file:///dev/stdin" if source == "-" else Path(source).resolve().as_uri()


def _extract(source: str, page: FetchedPage, options: ExtractOptions) -> PageOutcome:
    try:
        return PageOutcome(source, article=extract_article(page, options))
    except NewsflowError as error:
        return PageOutcome(source, failure=Failure.from_error("extract", error))


def read_url_map(path: str) -> dict[str, str]:
    """``--url-from``: a TSV file of ``input path <TAB> URL`` lines (blank lines and ``#`` comments
    skipped); raises ConfigError naming the file and line of anything else."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the URL map: {getattr(error, 'strerror', None) or error}") from error
    mapping: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not is_http_url(parts[1].strip()):
            raise ConfigError(f"{path}, line {number}: expected 'input path<TAB>http(s) URL', got {line!r}")
        mapping[parts[0].strip()] = parts[1].strip()
    return mapping


def extract_inputs(
    sources: Sequence[str],
    url: str | None,
    policy: FetchPolicy,
    options: ExtractOptions,
    urls: Mapping[str, str] | None = None,
) -> list[PageOutcome]:
    """Extract every input, in input order. ``url`` is the address of a single local file; ``urls`` maps
    local inputs to their addresses (``--url-from``).  A local file with neither is addressed by its
    ``<link rel=canonical>``, or else by its ``file://`` URL (its article then has no ``url_key``)."""
    outcomes: dict[int, PageOutcome] = {}
    remote = [(i, s) for i, s in enumerate(sources) if is_http_url(s)]
    for (index, source), result in zip(remote, fetch_all([s for _, s in remote], policy), strict=True):
        # no validators are sent, so no 304 can come back: every result is a page or a failure
        if isinstance(result, FetchedPage):
            outcomes[index] = _extract(source, result, options)
        elif isinstance(result, Failure):
            outcomes[index] = PageOutcome(source, failure=result)
    for index, source in enumerate(sources):
        if index in outcomes:
            continue
        address = url or (urls or {}).get(source) or _file_url(source)
        try:
            page = read_page_file(source, address, policy.max_bytes)
        except NewsflowError as error:
            outcomes[index] = PageOutcome(source, failure=Failure.from_error("read", error))
            continue
        outcomes[index] = _extract(source, page, options)
    return [outcomes[i] for i in range(len(sources))]
