"""The champion in service as Prefect flows: `automl-score` and `automl-monitor`, one task per step
of automl.service, typed parameters (the Prefect UI renders their form; `automl deploy` serves them
from a config's score: and monitor: sections, flows/deploy.py). A drifted batch starts the training
deployment of the config that trained the model (`automl deploy` serves it) with the monitoring
run's id as a flow-run tag and as its `triggered_by` parameter (the MLflow parent run's
automl.monitoring_run tag), and tags the monitoring run with that flow run, so the retrain is linked
both ways in Prefect and in MLflow; without a deployment, the flow says what to run.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from automl import service
from automl.config import DriftThresholds, TrackingConfig

RETRAIN_TAG = "automl-monitoring-run:"  # the training flow run's tag naming the monitoring run that started it
TRAINING_FLOW = "automl-pipeline"  # flows.pipeline.automl_pipeline's name (not imported: it loads the whole pipeline)
DEFAULT_TRACKING = TrackingConfig().tracking_uri
TRACKING = "the MLflow store the model is registered in (${VAR}s are read where the flow runs)"
CHUNKS = "rows read and predicted at a time (memory stays bounded however large the batch)"


@task(name="score-batch", cache_policy=NO_CACHE)
def score_step(model: str, source: str, output: str, tracking_uri: str, id_column: str | None, proba: bool,
               chunk_rows: int) -> dict:
    logger = get_run_logger()

    def progress(rows: int, seconds: float) -> None:
        logger.info(f"{rows:,} rows scored, {rows / seconds if seconds else 0:,.0f} rows/s")

    result = service.score_batch(model, source, output, tracking_uri, id_column, proba, chunk_rows, progress)
    for warning in result.warnings:
        logger.warning(warning)
    return {"output": str(result.output), "rows": result.rows, "seconds": result.seconds, "run_id": result.run_id,
            "model_version": result.version.version, "distribution": result.distribution}


@flow(name="automl-score", log_prints=True, validate_parameters=True)
def automl_score(model: str = Field(..., description="models:/NAME@champion or models:/NAME/VERSION"),
                 input: str = Field(..., description="a CSV or Parquet file, a folder of them, or a glob"),
                 output: str = Field(..., description="the predictions: a .csv or .parquet file"),
                 tracking_uri: str = Field(DEFAULT_TRACKING, description=TRACKING),
                 id_column: str | None = Field(None, description="an input column copied beside each prediction"),
                 proba: bool = Field(False, description="also write one probability column per class"),
                 chunk_rows: int = Field(service.CHUNK_ROWS, ge=1, description=CHUNKS)) -> dict:
    """Score a batch with a registered model, in chunks; an MLflow run in `<model>-scoring`."""
    return score_step(model, input, output, tracking_uri, id_column, proba, chunk_rows)


@task(name="measure-drift", cache_policy=NO_CACHE)
def measure_step(model: str, source: str, tracking_uri: str, target: str | None, settings: DriftThresholds | None,
                 chunk_rows: int) -> service.MonitorResult:
    return service.monitor_batch(model, source, tracking_uri, target, settings, chunk_rows)


@task(name="report-drift", cache_policy=NO_CACHE)
def report_step(result: service.MonitorResult, source: str) -> str:
    run_id = service.log_monitoring(result, source)
    create_markdown_artifact(service.monitor_markdown(result), key=f"{result.version.name.lower()}-drift"
                             .replace("_", "-").replace(".", "-"), description=service.verdict(result)[:500])
    return run_id


@task(name="start-retrain", cache_policy=NO_CACHE)
def retrain_step(result: service.MonitorResult) -> str:
    return start_retrain(result)


def start_retrain(result: service.MonitorResult) -> str:
    """Start the training deployment of the config that trained the model (a flow run with the
    monitoring run's id as a tag and as `triggered_by`) and tag the monitoring run with it; without
    a Prefect server or deployment, say what to run instead."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    name = result.config_name or result.version.name
    deployment = f"{TRAINING_FLOW}/{name}"
    by_hand = (f"retrain it: automl trigger <{name}'s config> (with `automl deploy` serving it), or automl run "
               f"<{name}'s config>")
    if not PREFECT_API_URL.value():
        return f"no Prefect server (PREFECT_API_URL is unset), so no deployment was started; {by_hand}"
    try:
        run = run_deployment(deployment, timeout=0, parameters={"triggered_by": result.run_id},
                             tags=[f"{RETRAIN_TAG}{result.run_id}"],
                             flow_run_name=f"{name}-retrain-{result.run_id[:8]}")
    except ObjectNotFound:
        return f"no deployment '{deployment}' on the Prefect server; {by_hand}"
    service.note_retrain(result, str(run.id))
    return f"started flow run '{run.name}' ({run.id}) of {deployment}"


@flow(name="automl-monitor", log_prints=True, validate_parameters=True)
def automl_monitor(model: str = Field(..., description="models:/NAME@champion or models:/NAME/VERSION"),
                   input: str = Field(..., description="the batch: a CSV or Parquet file, a folder of them, or a glob"),
                   tracking_uri: str = Field(DEFAULT_TRACKING, description=TRACKING),
                   target: str | None = Field(None, description="the batch's label column (default: the training "
                                                                "target, when the batch has it)"),
                   monitor: DriftThresholds | None = Field(None, description="thresholds (default: the config that "  # noqa: B008 (Prefect builds its UI form from Field defaults)
                                                                          "trained the model)"),
                   retrain: bool = Field(True, description="start the training deployment when drifted"),
                   chunk_rows: int = Field(service.CHUNK_ROWS, ge=1, description=CHUNKS)) -> dict:
    """Measure a batch against the model's reference; when drifted, start the training deployment."""
    result = measure_step(model, input, tracking_uri, target, monitor, chunk_rows)
    run_id = report_step(result, input)
    print(service.verdict(result))
    action = retrain_step(result) if result.drifted and retrain else None
    if action:
        print(action)
    return {"drifted": result.drifted, "reasons": result.reasons, "run_id": run_id, "retrain": action,
            "prediction_psi": result.prediction_psi, "live_score": result.live_score}
