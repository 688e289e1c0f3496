"""The sources file (``sources.toml``): which sites to crawl and how politely.

One ``[[sources]]`` table per site.  The file is validated with pydantic when
it is loaded; a bad file stops with a ``ConfigError`` that names the file, the
source and the field.  See ``sources.toml`` at the top of the repository for
every field with an example.
"""

from __future__ import annotations

import dataclasses
import json
import re
import string
import tomllib
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crawl.fetcher import FetchPolicy
from crawl.settings import checked_network, checked_timezone, checked_url, checked_user_agent
from extractors import ExtractOptions
from extractors.errors import ConfigError
from extractors.urls import url_problem

MAX_ARCHIVE_PAGES = 400
ARCHIVE_PLACEHOLDERS = frozenset({"yyyy", "mm", "dd"})

# a host name as DNS writes it: labels of letters, digits and hyphens (IDNA's xn-- form for others)
_HOST = re.compile(r"(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*")
_CRON_ITEM = r"(?:\*|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/[0-9]+)?"
_CRON_FIELD = rf"{_CRON_ITEM}(?:,{_CRON_ITEM})*"
_CRON_FIELDS = re.compile(rf"{_CRON_FIELD}(?:\s+{_CRON_FIELD}){{4,5}}")
_CRON_NICKNAME = re.compile(r"@(?:yearly|annually|monthly|weekly|daily|midnight|hourly)")


class Source(BaseModel):
    """One site to crawl: where to discover its articles, and how fast and where it may be fetched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Short id, used by --source and deployments.")
    feeds: list[str] = Field(default_factory=list, description="RSS, Atom or JSON Feed URLs.")
    sitemaps: list[str] = Field(default_factory=list, description="Sitemaps, sitemap indexes, .xml.gz, news sitemaps.")
    start_urls: list[str] = Field(default_factory=list, description="Home or section pages to harvest links from.")
    include: list[str] = Field(default_factory=list, description="Regexes; an article URL must match one (if any).")
    exclude: list[str] = Field(default_factory=list, description="Regexes; an article URL matching one is skipped.")
    max_articles_per_run: int = Field(200, ge=1, le=100_000)
    requests_per_second: float = Field(
        1.0, ge=0, le=100,
        description="Most request starts per second per host; 0: unpaced (only for your own hosts: a mirror, a bench).",
    )  # fmt: skip
    per_host_concurrency: int = Field(
        2, ge=1, le=32, validation_alias=AliasChoices("per_host_concurrency", "concurrency"),
        description="Requests in flight at once per host (also read as `concurrency`, its older name).",
    )  # fmt: skip
    timezone: str = Field("UTC", description="IANA zone for dates the site writes without one.")
    language: str | None = Field(None, pattern=r"^[a-z]{2,3}$", description="Language hint (ISO 639-1).")
    user_agent: str | None = Field(None, min_length=1)
    respect_robots: bool = True
    allowed_private_networks: list[str] = Field(
        default_factory=list, description="CIDR networks allowed although not public; the demo lists 127.0.0.0/8."
    )
    schedule: str | None = Field(None, description="Cron expression for the scheduled deployment.")
    robots_sitemaps: bool = Field(True, description="With no sitemaps listed, read robots.txt's Sitemap: lines.")
    domains: list[str] = Field(
        default_factory=list,
        description="Hosts whose pages in web archives (WARC, CC-NEWS) are this source's: a record matches a host or "
        "any subdomain of it. Default: the hosts of the feeds, sitemaps and start URLs.",
    )
    archive_urls: list[str] = Field(
        default_factory=list,
        description="Dated archive pages for backfills, with {yyyy}, {mm} and {dd} (e.g. https://x/{yyyy}/{mm}/{dd}/).",
    )

    @field_validator("archive_urls")
    @classmethod
    def _archive_patterns(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
            except ValueError as exc:
                raise ValueError(f"an archive URL with a broken placeholder {value!r}: {exc}") from exc
            unknown = sorted(fields - ARCHIVE_PLACEHOLDERS)
            if unknown:
                raise ValueError(
                    f"unknown placeholder {', '.join('{' + n + '}' for n in unknown)} in archive URL {value!r} "
                    "(it may use {yyyy}, {mm} and {dd})"
                )
            if "yyyy" not in fields:
                raise ValueError(f"an archive URL needs {{yyyy}} (and may use {{mm}}, {{dd}}): {value!r}")
            problem = url_problem(value.format(yyyy="2026", mm="01", dd="01"))
            if problem:
                raise ValueError(f"archive URL {value!r}: {problem}")
        return values

    def archive_pages(self, since: date, until: date) -> list[tuple[str, date]]:
        """Archive page URLs for the days in [since, until), newest first, one per distinct URL."""
        pages: dict[str, date] = {}
        day = until - timedelta(days=1)
        while day >= since and len(pages) < MAX_ARCHIVE_PAGES:
            for pattern in self.archive_urls:
                url = pattern.format(yyyy=f"{day.year:04d}", mm=f"{day.month:02d}", dd=f"{day.day:02d}")
                pages.setdefault(url, day)
            day -= timedelta(days=1)
        return list(pages.items())

    @field_validator("domains")
    @classmethod
    def _hosts(cls, values: list[str]) -> list[str]:
        hosts = []
        for value in values:
            host = value.strip().strip(".").lower()
            if not _HOST.fullmatch(host):
                raise ValueError(f"not a host name: {value!r} (write example.com, not a URL)")
            hosts.append(host)
        return hosts

    def archive_domains(self) -> list[str]:
        """The hosts whose archived pages belong to this source (``domains``, or the hosts it is crawled at)."""
        if self.domains:
            return list(self.domains)
        urls = [*self.feeds, *self.sitemaps, *self.start_urls]
        # www.example.com and example.com are one site: its archived pages are found under either
        hosts = {(urlsplit(u).hostname or "").lower().removeprefix("www.") for u in urls}
        return sorted(hosts - {""})

    def archive_key(self) -> str:
        """The source as a web archive backfill reads it (name, domains, URL rules): a file read for one key
        is read again for another."""
        return json.dumps([self.name, sorted(self.archive_domains()), self.include, self.exclude])

    @property
    def archive_only(self) -> bool:
        """A source named for web archives alone: nothing to discover on the live web."""
        return not (self.feeds or self.sitemaps or self.start_urls)

    @field_validator("feeds", "sitemaps", "start_urls")
    @classmethod
    def _http_urls(cls, values: list[str]) -> list[str]:
        return [checked_url(value) for value in values]

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression {value!r}: {exc}") from exc
        return values

    @field_validator("user_agent")
    @classmethod
    def _agent(cls, value: str | None) -> str | None:
        return None if value is None else checked_user_agent(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return checked_timezone(value)

    @field_validator("allowed_private_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        return [checked_network(value) for value in values]

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # the shape here; flows/deployments.py has Prefect's schedule type check the rest when it deploys
        if not (_CRON_NICKNAME.fullmatch(value.strip()) or _CRON_FIELDS.fullmatch(value.strip())):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value

    @model_validator(mode="after")
    def _somewhere_to_start(self) -> Source:
        if self.archive_only and not self.domains:
            raise ValueError("give at least one of feeds, sitemaps or start_urls (or, for web archives, domains)")
        return self

    def fetch_policy(self, base: FetchPolicy) -> FetchPolicy:
        """The run's fetch policy with this source's politeness and network allowances."""
        return dataclasses.replace(
            base,
            user_agent=self.user_agent or base.user_agent,
            requests_per_second=self.requests_per_second or None,
            per_host_concurrency=self.per_host_concurrency,
            respect_robots=self.respect_robots,
            allowed_networks=tuple(self.allowed_private_networks),
        )

    def extract_options(self) -> ExtractOptions:
        return ExtractOptions(timezone=self.timezone, language=self.language)

    def wants(self, url: str) -> bool:
        """Whether an article URL passes the include/exclude patterns."""
        if self.include and not any(re.search(p, url) for p in self.include):
            return False
        return not any(re.search(p, url) for p in self.exclude)


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        return self


def _describe(path: Path, data: dict[str, object], error: dict[str, object]) -> str:
    location = [str(part) for part in error.get("loc", ())]  # type: ignore[attr-defined]
    message = str(error.get("msg", "invalid"))
    if len(location) >= 2 and location[0] == "sources" and location[1].isdigit():
        index = int(location[1])
        entries = data.get("sources")
        name = None
        if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
            name = entries[index].get("name")
        who = f"source {name!r}" if isinstance(name, str) else f"source #{index + 1}"
        field = ".".join(location[2:]) or "(the table)"
        return f"{path}: {who}, field {field}: {message}"
    return f"{path}: {'.'.join(location) or 'file'}: {message}"


def load_sources(path: str | Path) -> tuple[Source, ...]:
    """Every source in the file, validated; raises ConfigError naming file, source and field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the sources file: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return tuple(SourcesFile.model_validate(data).sources)
    except ValidationError as exc:
        problems = "; ".join(_describe(path, data, dict(e)) for e in exc.errors())
        raise ConfigError(problems) from exc


def clean_names(names: Sequence[str] | None) -> list[str]:
    """Names as a person typed them (a form, a shell): stripped, blank entries dropped, each once."""
    return list(dict.fromkeys(n.strip() for n in names or () if n.strip()))


def select_sources(sources: tuple[Source, ...], names: Sequence[str] | None) -> tuple[Source, ...]:
    """The named sources (all when no names or "all"), in file order; an unknown name is a ConfigError.

    Names are taken as ``clean_names`` leaves them.
    """
    wanted = [n for n in clean_names(names) if n != "all"]
    if not wanted:
        return sources
    known = [s.name for s in sources]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        raise ConfigError(f"unknown source{'s' if len(unknown) > 1 else ''} {listed}; the sources file has "
                          f"{', '.join(known)}")  # fmt: skip
    return tuple(s for s in sources if s.name in wanted)
