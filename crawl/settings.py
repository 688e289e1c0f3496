"""Settings from ``NEWSFLOW_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import ipaddress
import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from extractors.errors import ConfigError
from extractors.urls import url_problem

DEFAULT_USER_AGENT = "newsflow/0.1 (+https://github.com/newsflow/newsflow; news archiving bot)"


def checked_timezone(value: str) -> str:
    """``value`` if it names an IANA time zone, else ValueError."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


def checked_url(value: str) -> str:
    """``value`` if newsflow can fetch it as written, else ValueError saying why (``url_problem``)."""
    problem = url_problem(value)
    if problem:
        raise ValueError(f"not a URL newsflow can fetch: {value!r}: {problem}")
    return value


def checked_network(value: str) -> str:
    """``value`` if it is a CIDR network (``127.0.0.0/8``, ``::1``), else ValueError naming it."""
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"not a CIDR network: {value!r}") from exc
    return value


def checked_user_agent(value: str) -> str:
    """``value`` if it can be sent as a User-Agent header, else ValueError: one line of printable ASCII
    (a newline would make every request fail, and be read as a robots.txt refusal)."""
    if not value.strip() or not value.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"a User-Agent must be one line of printable ASCII text, not {value!r}")
    return value


class Settings(BaseSettings):
    """Runtime knobs; every field can be set as ``NEWSFLOW_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="NEWSFLOW_", extra="ignore")

    db: str = Field("newsflow.duckdb", description="Path of the DuckDB file.")
    user_agent: str = Field(DEFAULT_USER_AGENT, description="User-Agent sent with every request.")
    timeout: float = Field(20.0, gt=0, description="Seconds for connect/read/write/pool timeouts.")
    concurrency: int = Field(8, ge=1, le=256, description="Requests in flight at once, all hosts together.")
    per_host_concurrency: int = Field(2, ge=1, le=64, description="Requests in flight at once per host.")
    retries: int = Field(2, ge=0, le=10, description="Extra attempts on timeouts, connection errors, 429 and 5xx.")
    backoff: float = Field(1.0, ge=0, description="Base seconds of exponential backoff between attempts.")
    max_redirects: int = Field(10, ge=0, le=50)
    max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest response body accepted, in bytes.")
    batch_size: int = Field(
        100, ge=1, le=2000, description="URLs per Prefect batch task (up to 4x as many while the answers are 304s)."
    )
    extract_workers: int | None = Field(
        None, ge=0, le=64,
        description="Extraction worker processes; unset: one per CPU core; 0: extract in the flow's own process.",
    )  # fmt: skip
    timezone: str = Field("UTC", description="IANA zone for page timestamps written without one.")
    respect_robots: bool = Field(True, description="Obey robots.txt (rules and Crawl-delay).")
    allowed_private_networks: str = Field(
        "", description="Comma-separated CIDR networks that may be fetched although not public (e.g. 127.0.0.0/8)."
    )
    sources: str | None = Field(None, description="Path of the sources.toml file.")
    ccnews_url: str = Field(
        "https://data.commoncrawl.org",
        description="Base address of Common Crawl's data (its crawl-data/CC-NEWS/ listings and WARC files).",
    )
    max_archive_bytes: int = Field(
        8 * 1024**3, ge=1024, description="Largest WARC file downloaded for a backfill, in bytes."
    )
    staging_url: str | None = Field(
        None,
        description="Where crawl workers stage their batches for the merge: a directory or an fsspec URL "
        "(s3://bucket/prefix).",
    )

    @field_validator("ccnews_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return checked_url(value).rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return checked_timezone(value)

    @field_validator("user_agent")
    @classmethod
    def _agent(cls, value: str) -> str:
        return checked_user_agent(value)

    @field_validator("allowed_private_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            checked_network(item)
        return value

    def workers(self) -> int:
        """How many extraction worker processes to run (0: none, extract in process)."""
        return default_workers() if self.extract_workers is None else self.extract_workers

    def allowed_networks(self) -> tuple[str, ...]:
        return tuple(filter(None, (part.strip() for part in self.allowed_private_networks.split(","))))


def default_workers() -> int:
    """One extraction worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_settings() -> Settings:
    """The settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"NEWSFLOW_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"invalid settings in the environment: {problems}") from exc
