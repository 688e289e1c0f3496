"""Settings from ``NEWSFLOW_*`` environment variables (pydantic-settings)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from extractors.errors import ConfigError
from flows.extraction_pool import default_workers, start_fork_server
from flows.interrupts import ending_on_signals, start_watchdog

DEFAULT_USER_AGENT = "newsflow/0.1 (+https://github.com/newsflow/newsflow; news archiving bot)"

#: Environment for the Prefect server newsflow runs against (README, "Scheduled runs and backfills"; the CLI
#: sets it for a temporary server, the benchmark for its own).  By default the server writes every task-run
#: event to its SQLite database in a transaction of its own; under a crawl's load those collide with the
#: writer slot's acquisition, which the server then answers 503 and the client retries about 2 s later.
#: Batched as here, 2,000-page runs saw one such stall in ~50 slot acquisitions instead of one to four
#: (and none over 0.7 s in two of three runs).  Telemetry is off: an offline machine only logs its errors.
PREFECT_SERVER_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE": "200",
}


@contextmanager
def command_line_run(extracts: bool = False) -> Iterator[None]:
    """Around a flow run started from the command line: no flow-run heartbeats, unless configured; the
    extraction workers' fork server already starting when the run will extract (``extracts``).

    A command's process is new: its first extraction would start the fork server and wait for its imports.
    Started here, they overlap Prefect creating the flow run and the run's discovery, which keep one core
    busy (2,000-page runs: 0.7 s sooner, five alternating pairs).  Commands leave it out for a refresh run,
    mostly 304s that start no worker (with it: ~0.1 s slower in four alternating pairs, 67 MB more).
    A served process keeps its fork server from one run to the next.

    SIGINT and SIGTERM end the run (``flows/interrupts.py``), and a watchdog process stops the command's
    children if the command is killed.

    Prefect 3.9 joins a sync flow run's heartbeat thread when the run ends, and that thread sleeps in
    one-second steps, so every run ends on a whole second after it started: 0-1 s more per command
    (on a 2,000-page rerun of 304s, 3.1 s instead of 2.5-2.9 s).  Heartbeats serve Prefect's zombie
    automation for deployment runs, which keep them; a command's run has its terminal, and newsflow marks a
    run whose process died as crashed in its ``runs`` table.  ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` set in the
    environment or the Prefect profile is obeyed.
    """
    from prefect.context import SettingsContext, get_settings_context

    with ending_on_signals():
        start_watchdog()  # before any child: the fork server, its workers, a temporary Prefect server
        if extracts:
            start_fork_server(load_settings().workers())
        context = get_settings_context()
        current = context.settings
        if "heartbeat_frequency" in current.flows.model_fields_set:
            yield
            return
        # a copy with the one field changed, as temporary_settings would make it, without its ~30 ms of
        # reading every settings source again (a rerun of 304s takes ~2 s)
        flows = current.flows.model_copy(update={"heartbeat_frequency": None})
        with SettingsContext(profile=context.profile, settings=current.model_copy(update={"flows": flows})):
            yield


def checked_timezone(value: str) -> str:
    """``value`` if it names an IANA time zone, else ValueError."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
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
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad network
        return value

    def workers(self) -> int:
        """How many extraction worker processes to run (0: none, extract in process)."""
        return default_workers() if self.extract_workers is None else self.extract_workers

    def allowed_networks(self) -> tuple[str, ...]:
        return tuple(filter(None, (part.strip() for part in self.allowed_private_networks.split(","))))


def load_settings() -> Settings:
    """The settings from the environment; a bad value raises ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"NEWSFLOW_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"invalid settings in the environment: {problems}") from exc
