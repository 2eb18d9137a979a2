"""Knowledge distillation as a Prefect flow: `automl-distill`, one task per step of automl.distill
(the checks, which write nothing; the distillation, which writes one MLflow run and one model
version), its parameters typed by RunConfig (the UI renders the run form from it). `automl deploy`
serves it as automl-distill/<name> on the config's distill.schedule (flows/deploy.py), so a
distillation can follow each night's retrain; the comparison is the flow run's markdown report.
"""

from __future__ import annotations

from contextlib import nullcontext

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.states import Failed, State
from pydantic import Field

from automl import distill
from automl.config import ConfigError, RunConfig
from automl.data import DataError
from flows.pipeline import GPU_LIMIT, artifact_key

TEACHER = ("models:/NAME@ALIAS or models:/NAME/VERSION; empty: the config's distill.teacher, else its registered "
           "model @champion")
step = dict(cache_policy=NO_CACHE, persist_result=False)  # models and DataFrames pass between the steps


@task(name="check-distillation", task_run_name="check-distillation[{config.name}]", **step)
def check_step(config: RunConfig, teacher: str | None) -> distill.Distillation | State:
    """Every check before anything is written; a bad teacher, table or split ends the task Failed
    with the one-line reason, not a traceback."""
    try:
        return distill.prepare_distillation(config, teacher)
    except (ConfigError, DataError) as error:
        get_run_logger().error(f"automl: error: {error}")
        return Failed(message=str(error))


@task(name="distill", task_run_name="distill[{plan.config.name}]", **step)
def distill_step(plan: distill.Distillation) -> distill.DistillResult:
    logger = get_run_logger()

    def on_trial(trial: distill.StudentTrial) -> None:
        score = f"validation {trial.score:.4f}" if trial.score is not None else f"failed: {trial.reason}"
        logger.info(f"student {trial.number + 1}/{plan.config.distill.n_trials}: {trial.describe()}: {score}")

    return distill.run_distillation(plan, on_trial)


@flow(name="automl-distill", log_prints=True, validate_parameters=True)
def automl_distill(config: RunConfig, teacher: str | None = Field(None, description=TEACHER)) -> dict | State:
    """Distill the champion (or `teacher`) into a small, fast student, registered as a new version of
    the same model with the alias `student` (never `champion`); the comparison (test score, rows/s,
    one row's latency, size) in the MLflow run and in this flow run's report."""
    state = check_step(config, teacher, return_state=True)
    if state.is_failed():
        return Failed(message=f"check-distillation: {state.message}")
    plan = state.result()
    # An MLP student on CUDA takes a slot of the `gpu` limit, as a training run does (automl deploy --gpu-slots).
    with concurrency(GPU_LIMIT, occupy=1, strict=False) if plan.device == "cuda" else nullcontext():
        result = distill_step(plan)
    create_markdown_artifact(distill.comparison_markdown(result), key=artifact_key(config, "distillation"),
                             description=f"{config.name}: teacher against student")
    print(distill.summary(result))
    row = result.row
    return {"run_id": result.run.run_id, "registered_model": result.teacher.name, "version": result.version,
            "alias": result.alias, "registered": result.registered, "student": result.chosen.describe(),
            "test_score": float(row["test_score"]), "score_ratio": float(row["score_ratio"]),
            "speed_ratio": float(row["speed_ratio"]), "latency_ratio": float(row["latency_ratio"])}
