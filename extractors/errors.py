"""The one exception tree of newsflow.

Every failure that concerns a URL carries that URL and a human-readable
reason, and says whether trying again later can help (``transient``).
Flows turn these into rows (``fetches``/``runs``) instead of stopping.

    NewsflowError                      url, reason, transient
    ├── FetchError                     anything between us and the response body
    │   ├── TransientFetchError        transient = True: retry with backoff
    │   │   ├── FetchTimeout           connect/read timeout
    │   │   ├── ConnectionFailed       DNS, refused, reset, truncated body
    │   │   └── ServerError            5xx and 429 (status, retry_after)
    │   └── PermanentFetchError        transient = False: do not retry (itself: an exception nothing foresaw)
    │       ├── HTTPStatusError        other 4xx (status)
    │       ├── NotHTML                wrong content type for the stage
    │       ├── TooLarge               body over the size cap
    │       ├── TooManyRedirects       redirect cap or loop
    │       ├── InvalidURL             not an http(s) URL we can fetch
    │       ├── BlockedAddress         host resolves to a private/loopback/link-local/reserved address
    │       ├── BlockedByRobots        robots.txt disallows the URL for our user agent
    │       ├── UnreadableFile         a local page file is missing or not valid gzip
    │       └── ArchiveError           a broken or truncated WARC record (file and offset)
    ├── ExtractionError                the page was fetched but is no article
    │   ├── NoArticleContent           no main text found
    │   └── ExtractionTimeout          the page overran its time budget, or the extractor process died on it
    ├── FeedError                      a feed or sitemap we cannot parse
    ├── StorageError                   DuckDB write/read problems: disk full, read-only, corrupt, no permission
    │   ├── DatabaseLocked             another process holds the file (transient)
    │   ├── NotNewsflowDatabase        the file is not newsflow's database (nothing is written to it)
    │   └── UnsafeOutput               an output path would overwrite the database, its WAL, lock or page files
    └── ConfigError                    bad settings or parameters (no URL)
"""

from __future__ import annotations


class NewsflowError(Exception):
    """Base class: a failure about ``url`` for ``reason``."""

    transient: bool = False
    #: short machine-readable outcome stored in the ``fetches`` table
    outcome: str = "error"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(url, reason)
        self.url = url
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} ({self.url})" if self.url else self.reason


class FetchError(NewsflowError):
    outcome = "fetch_error"


class TransientFetchError(FetchError):
    transient = True


class FetchTimeout(TransientFetchError):
    outcome = "timeout"


class ConnectionFailed(TransientFetchError):
    outcome = "connection_error"


class ServerError(TransientFetchError):
    """5xx or 429; ``retry_after`` is the server's hint in seconds, if any."""

    outcome = "http_error"

    def __init__(self, url: str, reason: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(url, reason)
        self.status = status
        self.retry_after = retry_after
        self.args = (url, reason, status, retry_after)


class PermanentFetchError(FetchError):
    transient = False


class HTTPStatusError(PermanentFetchError):
    outcome = "http_error"

    def __init__(self, url: str, reason: str, status: int) -> None:
        super().__init__(url, reason)
        self.status = status
        self.args = (url, reason, status)


class NotHTML(PermanentFetchError):
    outcome = "not_html"


class TooLarge(PermanentFetchError):
    outcome = "too_large"


class TooManyRedirects(PermanentFetchError):
    outcome = "too_many_redirects"


class InvalidURL(PermanentFetchError):
    outcome = "invalid_url"


class BlockedAddress(PermanentFetchError):
    """Refused before connecting: the host resolves to an address outside the public internet."""

    outcome = "blocked_address"


class BlockedByRobots(PermanentFetchError):
    outcome = "skipped_robots"


class UnreadableFile(PermanentFetchError):
    """A local page file (``newsflow extract FILE``) is missing, unreadable or not valid gzip."""

    outcome = "unreadable_file"


class ArchiveError(PermanentFetchError):
    """A web archive (WARC) record that cannot be read: ``url`` names the file, ``offset`` the record."""

    outcome = "archive_error"

    def __init__(self, url: str, reason: str, offset: int | None = None) -> None:
        super().__init__(url, reason)
        self.offset = offset
        self.args = (url, reason, offset)


class ExtractionError(NewsflowError):
    outcome = "extraction_error"


class NoArticleContent(ExtractionError):
    outcome = "no_content"


class ExtractionTimeout(ExtractionError):
    outcome = "extraction_timeout"


class FeedError(NewsflowError):
    outcome = "feed_error"


class StorageError(NewsflowError):
    outcome = "storage_error"


class DatabaseLocked(StorageError):
    transient = True
    outcome = "database_locked"


class NotNewsflowDatabase(StorageError):
    outcome = "not_newsflow_database"


class UnsafeOutput(StorageError):
    outcome = "unsafe_output"


class ConfigError(NewsflowError):
    outcome = "config_error"

    def __init__(self, reason: str) -> None:
        super().__init__("", reason)
        self.args = (reason,)
