"""`automl distill` once, through the CLI, on the session's `shop` teacher (tests/conftest.py): what
several tests read. And the store's state, to show that a refused distillation wrote nothing."""

import io
from contextlib import redirect_stderr, redirect_stdout
from typing import NamedTuple

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from flows.cli import main


class Distilled(NamedTuple):
    code: int
    out: str
    err: str
    version: str  # the student's version of `shop`
    run_id: str  # the distillation run


@pytest.fixture(scope="session")
def distilled(shop_teacher) -> Distilled:
    """`automl distill shop.yaml`: 3 students (an MLP of 5 epochs, a boosting model, one drawn), augmented
    rows up to 1× the training rows."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["distill", str(shop_teacher.config_path)])
    student = MlflowClient(shop_teacher.tracking_uri).get_model_version_by_alias("shop", "student")
    return Distilled(code, out.getvalue(), err.getvalue(), str(student.version), student.run_id)


def store_state(tracking_uri: str) -> tuple[set, set, set]:
    """Every experiment, run and model version in the store (deleted ones too)."""
    client = MlflowClient(tracking_uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    runs = {run.info.run_id for run in client.search_runs([e.experiment_id for e in experiments],
                                                          run_view_type=ViewType.ALL, max_results=10_000)}
    versions = {(v.name, str(v.version)) for v in client.search_model_versions()}
    return {e.name for e in experiments}, runs, versions
