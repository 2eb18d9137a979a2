"""`automl deploy`: the Prefect deployments of each config, each with its own schedule, served here:
`automl-pipeline/<name>` (training), and, when the config says what to watch, score or distill,
`automl-monitor/<name>` (monitor.input), `automl-score/<name>` (the score: section) and
`automl-distill/<name>` (distill.schedule).

The training deployment's parameters are the whole config, so the Prefect UI renders the run form
from RunConfig (titles, descriptions, defaults, dropdowns for choices, sections for nested parts)
and a run started there with edited values is validated by the same model.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta
from pathlib import Path

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron, Interval

from automl.config import BUNDLED_TARGET, ConfigError, RunConfig, ScheduleConfig, literal_passwords, load_config
from flows.distill import automl_distill
from flows.pipeline import GPU_LIMIT, automl_pipeline, config_tag
from flows.service import automl_monitor, automl_score


def schedules_for(s: ScheduleConfig | None) -> list:
    if s is None:
        return []
    if s.cron is not None:
        return [Cron(s.cron, timezone=s.timezone, active=s.active)]
    return [Interval(timedelta(seconds=s.interval_s), timezone=s.timezone, active=s.active)]


def concurrency_limit(s: ScheduleConfig | None) -> ConcurrencyLimitConfig:
    """At most `max_running` runs of the deployment at once; a run due beyond that waits or is cancelled."""
    limit, when_busy = (s.max_running, s.when_busy) if s is not None else (1, "queue")
    strategy = ConcurrencyLimitStrategy.ENQUEUE if when_busy == "queue" else ConcurrencyLimitStrategy.CANCEL_NEW
    return ConcurrencyLimitConfig(limit=limit, collision_strategy=strategy)


def describe(s: ScheduleConfig | None) -> str:
    limit = concurrency_limit(s)
    newer = "queued" if limit.collision_strategy == ConcurrencyLimitStrategy.ENQUEUE else "cancelled"
    busy = f"at most {limit.limit} at once, newer ones {newer}"
    if s is None:
        return f"no schedule (runs when triggered); {busy}"
    when = f"cron '{s.cron}'" if s.cron else f"every {s.interval_s:g} s"
    return f"{when} ({s.timezone}){'' if s.active else ', paused'}; {busy}"


def form_values(config: RunConfig) -> dict:
    """The config as the form's values: a bundled set's target written out (the form requires one)."""
    values = config.model_dump(mode="json")
    if values["data"]["target"] is None and config.data.source.startswith("sklearn:"):
        values["data"]["target"] = BUNDLED_TARGET  # (the same config_hash: a run can resume the other's)
    return values


def build_deployment(config: RunConfig):
    """A runner deployment of the pipeline flow for this config, with its schedule."""
    return automl_pipeline.to_deployment(
        name=config.name,
        parameters={"config": form_values(config)},
        schedules=schedules_for(config.schedule),
        concurrency_limit=concurrency_limit(config.schedule),
        tags=["automl", config_tag(config), config.data.source.split(":")[0] if ":" in config.data.source else "file"],
        description=f"AutoML pipeline '{config.name}' on {config.data.source} "
                    f"({config.search.n_trials or '∞'} trials over {', '.join(config.search.families)}).",
        enforce_parameter_schema=True,
    )


def champion_uri(config: RunConfig) -> str:
    return f"models:/{config.registered_model_name}@champion"


def monitor_deployment(config: RunConfig):
    """automl-monitor/<name>: monitor.input measured against the config's champion, on monitor.schedule;
    a drifted batch starts automl-pipeline/<name>."""
    monitor = config.monitor
    return automl_monitor.to_deployment(
        name=config.name,
        parameters={"model": champion_uri(config), "input": monitor.input, "tracking_uri": config.tracking.tracking_uri,
                    "monitor": monitor.thresholds().model_dump()},
        schedules=schedules_for(monitor.schedule), concurrency_limit=concurrency_limit(monitor.schedule),
        tags=["automl", "monitor"], enforce_parameter_schema=True,
        description=f"Drift of {champion_uri(config)} on {monitor.input}; a drifted batch starts "
                    f"automl-pipeline/{config.name}.",
    )


def score_deployment(config: RunConfig):
    """automl-score/<name>: the score: section's batch scored with the config's champion, on its schedule."""
    score = config.score
    return automl_score.to_deployment(
        name=config.name,
        parameters={"model": champion_uri(config), "input": score.input, "output": score.output,
                    "tracking_uri": config.tracking.tracking_uri, "id_column": score.id_column, "proba": score.proba},
        schedules=schedules_for(score.schedule), concurrency_limit=concurrency_limit(score.schedule),
        tags=["automl", "score"], enforce_parameter_schema=True,
        description=f"{score.input} scored with {champion_uri(config)} into {score.output}.",
    )


def distill_deployment(config: RunConfig):
    """automl-distill/<name>: the config's champion (or distill.teacher) distilled on distill.schedule."""
    schedule = config.distill.schedule
    return automl_distill.to_deployment(
        name=config.name, parameters={"config": form_values(config)},
        schedules=schedules_for(schedule), concurrency_limit=concurrency_limit(schedule),
        tags=["automl", "distill", config_tag(config)], enforce_parameter_schema=True,
        description=f"{config.distill.teacher or champion_uri(config)} distilled into a student "
                    f"({', '.join(config.distill.students)}), registered with the alias `student`.",
    )


def deployments_for(config: RunConfig) -> list[tuple[object, str]]:
    """The config's deployments, each with the line `automl deploy` prints for it."""
    made = [(build_deployment(config), f"deployment 'automl-pipeline/{config.name}' "
                                       f"({Path(config.data.source).name}): {describe(config.schedule)}")]
    if config.monitor.input is not None:
        made.append((monitor_deployment(config), f"deployment 'automl-monitor/{config.name}' ({config.monitor.input} "
                                                 f"against the champion): {describe(config.monitor.schedule)}"))
    if config.score is not None:
        made.append((score_deployment(config), f"deployment 'automl-score/{config.name}' ({config.score.input} → "
                                               f"{config.score.output}): {describe(config.score.schedule)}"))
    if config.distill.schedule is not None:
        teacher = config.distill.teacher or champion_uri(config)
        made.append((distill_deployment(config), f"deployment 'automl-distill/{config.name}' ({teacher} → "
                                                 f"@student): {describe(config.distill.schedule)}"))
    return made


def load_configs(paths: list[str]) -> list[RunConfig]:
    configs = [load_config(path) for path in paths]
    names = [c.name for c in configs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"configs share the name {duplicates}: each deployment needs its own name; "
                          "set a distinct `name:` in each file")
    for config in configs:
        if keys := literal_passwords(config):
            raise ConfigError(f"config '{config.name}': {', '.join(keys)} holds a password, and a deployment's "
                              "parameters are stored in Prefect's database; write the URL as ${PG_URL} (any "
                              "variable name) and export PG_URL where the deployment is served")
    return configs


async def ensure_gpu_limit(slots: int) -> None:
    """Create or resize the `gpu` global concurrency limit: at most `slots` runs train on CUDA at once."""
    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(GPU_LIMIT)
        except ObjectNotFound:
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=GPU_LIMIT, limit=slots))
        else:
            await client.update_global_concurrency_limit(
                GPU_LIMIT, GlobalConcurrencyLimitUpdate(limit=slots, active=True))


def deploy(paths: list[str], gpu_slots: int = 1) -> None:
    """Validate every config, set the GPU limit, then serve the deployments until interrupted."""
    configs = load_configs(paths)
    asyncio.run(ensure_gpu_limit(gpu_slots))
    made = [pair for config in configs for pair in deployments_for(config)]
    for _, line in made:
        print(line)
    serve(*(deployment for deployment, _ in made))


def trigger(config: RunConfig, name: str | None = None) -> int:
    """A flow run of the config's deployment, made only after the table is read and validated here
    against the config (a bad target is one line, and no flow run exists). The stores and the
    device are checked where the deployment is served, by the run's first task: they may only be
    reachable there (a ${PG_URL} exported on that host, its GPU)."""
    from datetime import datetime

    from prefect.deployments import run_deployment

    from automl.checks import validate_data

    if keys := literal_passwords(config):
        raise ConfigError(f"{', '.join(keys)} holds a password, and a flow run's parameters are stored in "
                          "Prefect's database; write the URL as ${PG_URL} and export PG_URL "
                          "where the deployment is served")
    validate_data(config)
    deployment = f"{automl_pipeline.name}/{config.name}"
    try:
        run = run_deployment(deployment, parameters={"config": form_values(config)}, timeout=0,
                             flow_run_name=name or f"{config.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}")
    except ObjectNotFound:
        raise ConfigError(f"no deployment '{deployment}' on the Prefect server; serve it first: "
                          f"automl deploy <the config file>") from None
    print(f"flow run '{run.name}' ({run.id}) of {deployment}: {run.state.name if run.state else 'created'}")
    return 0
