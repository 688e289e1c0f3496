"""Deployments: one cron ``ingest`` deployment per source, ``backfill`` (ad hoc) and ``reindex`` (hourly).

The same list feeds both ways of running them: ``newsflow serve`` (one
process, ``prefect.serve``; no work pool needed) and ``deployments/prefect.yaml``
(for ``prefect deploy`` and a process work pool), which ``newsflow
deployments --write`` regenerates from ``sources.toml`` so the two never drift.

On several machines (``newsflow deploy --pool``, ``distributed_specs``) the ingest deployments become
``crawl`` deployments, one per source (or per share of its hosts) on the source's cron, run by workers of the
``crawl`` queue anywhere, and ``merge`` (every few minutes, and after each crawl), run by the worker of the
``merge`` queue on the machine that holds the DuckDB file; ``backfill`` and ``reindex`` go to that queue too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawl.sources import Source, load_sources
from extractors.errors import ConfigError
from flows.parameters import form_schema

WORK_POOL = "newsflow"
BACKFILL = "backfill"
REINDEX = "reindex"
MERGE = "merge"
#: The queues of a distributed set-up: crawl workers anywhere, the merge (and what else writes the database)
#: on the database's machine.
CRAWL_QUEUE, MERGE_QUEUE = "crawl", "merge"
#: Staged batches wait at most this long for a merge when no crawl asks for one.
MERGE_CRON = "*/5 * * * *"
#: Ingest runs leave the search index to this deployment (and to searches): hourly, after the sources'
#: usual runs.  Its schedule can be changed in the UI like any other.
REINDEX_CRON = "50 * * * *"
BACKFILL_DESCRIPTION = (
    "Backfill a window of publication dates. Quick run (no parameters): the articles of every source "
    "published since yesterday that are not stored yet. Custom run: choose sources (none: all), the first "
    "and last publication dates (inclusive, UTC) and the mode (new, refresh, reextract)."
)


@dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """One deployment, independent of how it is served."""

    flow: str
    name: str
    entrypoint: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None
    timezone: str = "UTC"
    tags: tuple[str, ...] = ()
    work_queue: str | None = None
    """The work pool's queue whose workers run it (None: the pool's default queue)."""


def _checked_cron(source: Source) -> str | None:
    """The source's schedule, checked by the schedule type Prefect will build from it."""
    from prefect.client.schemas.schedules import CronSchedule

    if source.schedule is None:
        return None
    try:
        CronSchedule(cron=source.schedule)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"source {source.name!r}: not a valid cron expression: {source.schedule!r}") from exc
    return source.schedule


def deployment_specs(sources: tuple[Source, ...], sources_file: str) -> list[DeploymentSpec]:
    specs = [
        DeploymentSpec(
            flow="ingest",
            name=source.name,
            entrypoint="flows/ingest.py:ingest",
            description=f"Scheduled ingestion of the {source.name!r} source.",
            parameters={"sources": [source.name], "sources_file": sources_file},
            cron=_checked_cron(source),
            timezone=source.timezone,
            tags=("newsflow", "scheduled", source.name),
        )
        for source in sources
        if not source.archive_only  # nothing to crawl on the live web: backfilled from archives only
    ]
    specs.append(
        DeploymentSpec(
            flow="backfill",
            name=BACKFILL,
            entrypoint="flows/backfill.py:backfill",
            description=BACKFILL_DESCRIPTION,
            parameters={"sources_file": sources_file},
            tags=("newsflow", "backfill"),
        )
    )
    specs.append(
        DeploymentSpec(
            flow="reindex",
            name=REINDEX,
            entrypoint="flows/reindex.py:reindex",
            description="Brings the full-text search index up to date when articles changed since its last build.",
            cron=REINDEX_CRON,
            tags=("newsflow", "scheduled", "reindex"),
        )
    )
    return specs


def distributed_specs(
    sources: tuple[Source, ...], sources_file: str, staging: str, db: str, host_shares: int = 1
) -> list[DeploymentSpec]:
    """The deployments of a set-up on several machines: ``crawl`` per source (per share of its hosts when
    ``host_shares`` > 1) for the ``crawl`` queue, ``merge`` and the database's other writers for ``merge``."""
    specs = []
    for source in sources:
        if source.archive_only:
            continue
        for share in range(1, host_shares + 1):
            hosts = f"{share}/{host_shares}" if host_shares > 1 else None
            specs.append(DeploymentSpec(
                flow="crawl", name=source.name + (f"-{share}of{host_shares}" if hosts else ""),
                entrypoint="flows/shard.py:crawl_shard",
                description=f"Crawl of the {source.name!r} source{f' (hosts {hosts})' if hosts else ''}, staged for "
                "the merge.",
                parameters={"sources": [source.name], "sources_file": sources_file, "staging": staging,
                            **({"hosts": hosts} if hosts else {})},
                cron=_checked_cron(source), timezone=source.timezone, tags=("newsflow", "crawl", source.name),
                work_queue=CRAWL_QUEUE,
            ))  # fmt: skip
    specs.append(DeploymentSpec(
        flow="merge", name=MERGE, entrypoint="flows/merge.py:merge",
        description="Stores every complete batch the crawl workers staged in DuckDB, then publishes the crawl state.",
        parameters={"staging": staging, "db": db}, cron=MERGE_CRON, tags=("newsflow", "merge"), work_queue=MERGE_QUEUE,
    ))  # fmt: skip
    for spec in deployment_specs(sources, sources_file):
        if spec.flow != "ingest":
            parameters = {**spec.parameters, "db": db}
            specs.append(dataclasses.replace(spec, parameters=parameters, work_queue=MERGE_QUEUE))
    return specs


def runner_deployments(sources_file: str | Path, specs: list[DeploymentSpec] | None = None) -> list[Any]:
    """The deployments (``specs``; default: ``deployment_specs``) as ``RunnerDeployment``s for ``prefect.serve``
    or a work pool."""
    from prefect.schedules import Cron

    from flows.backfill import backfill
    from flows.ingest import ingest
    from flows.merge import merge
    from flows.reindex import reindex
    from flows.shard import crawl_shard

    by_name: dict[str, Any] = {
        "ingest": ingest, "backfill": backfill, "reindex": reindex, "crawl": crawl_shard, "merge": merge,
    }  # fmt: skip

    path = str(Path(sources_file).resolve())
    sources = load_sources(path)
    deployments = []
    for spec in specs if specs is not None else deployment_specs(sources, path):
        schedules = [Cron(spec.cron, timezone=spec.timezone)] if spec.cron else None
        flow = by_name[spec.flow]
        deployment = flow.to_deployment(
            name=spec.name,
            description=spec.description,
            parameters=spec.parameters,
            schedules=schedules,
            tags=list(spec.tags),
            # one run of a deployment at a time; runs of different deployments are kept apart by
            # the duckdb-writer limit around each write
            concurrency_limit=1,
            work_queue_name=spec.work_queue,
        )
        # the Custom-run form as a person fills it (flows/parameters.py); RunnerDeployment takes the schema
        # only from the flow's signature, so it is amended where it keeps it
        schema = deployment._parameter_openapi_schema
        schema.properties = form_schema(schema.properties, [s.name for s in sources])
        deployments.append(deployment)
    return deployments


def apply_deployments(
    sources_file: str | Path, pool: str = WORK_POOL, specs: list[DeploymentSpec] | None = None
) -> list[str]:
    """Register every deployment (``specs``; default: ``deployment_specs``) with the Prefect server for a work
    pool's workers, with the same schedules and Custom-run form as ``newsflow serve``; returns their names.
    A worker (``prefect worker start --pool POOL``) runs them from the installation at this same path."""
    from prefect.runner.storage import LocalStorage

    # a worker runs each flow run in a directory of its own unless a pull step sets it: the entrypoints
    # (flows/ingest.py:ingest, ...) are relative to the directory that holds the packages
    home = Path(__file__).resolve().parent.parent
    names = []
    for deployment in runner_deployments(sources_file, specs):
        deployment.storage = LocalStorage(str(home))
        # to_deployment names the flow's file relative to the directory the command runs in
        file, _, function = str(deployment.entrypoint).rpartition(":")
        deployment.entrypoint = f"{Path(file).resolve().relative_to(home)}:{function}"
        deployment.apply(work_pool_name=pool)
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return names


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prefect_yaml(sources: tuple[Source, ...], sources_file: str = "sources.toml") -> str:
    """``deployments/prefect.yaml`` for ``prefect deploy`` with a process work pool."""
    lines = [
        "# Generated by `newsflow deployments --write` from sources.toml: edit sources.toml, not this file.",
        "# `prefect deploy` builds each Custom-run form from the flow's signature alone: `newsflow deployments",
        "# --apply --pool newsflow` registers the same deployments with the form newsflow gives them (a choice of",
        "# sources, empty fields accepted), and is the way README describes.",
        "#   prefect work-pool create newsflow --type process",
        "#   prefect --no-prompt deploy --all --prefect-file deployments/prefect.yaml   # from the repository root",
        "#   prefect worker start --pool newsflow                                       # from the repository root",
        "name: newsflow",
        "prefect-version: 3.9.0",
        "pull:",
        "  - prefect.deployments.steps.set_working_directory:",
        '      directory: "{{ $PWD }}"',
        "deployments:",
    ]
    for spec in deployment_specs(sources, sources_file):
        lines += [
            f"  - name: {spec.name}",
            f"    entrypoint: {spec.entrypoint}",
            f"    description: {_quote(spec.description)}",
            f"    tags: [{', '.join(spec.tags)}]",
            "    concurrency_limit: 1",
        ]
        if spec.parameters:
            lines.append("    parameters:")
        for key, value in spec.parameters.items():
            rendered = "[" + ", ".join(_quote(v) for v in value) + "]" if isinstance(value, list) else _quote(value)
            lines.append(f"      {key}: {rendered}")
        if spec.cron:
            lines += ["    schedules:", f"      - cron: {_quote(spec.cron)}"]
            lines += [f"        timezone: {_quote(spec.timezone)}"]
        lines += ["    work_pool:", f"      name: {WORK_POOL}"]
    return "\n".join(lines) + "\n"
