"""The MLflow run a service command writes: in an experiment of its own (`<model>-scoring`,
`<model>-monitoring`) so the training experiment stays readable, tagged with the model version
and the training run it used. Made only once the work has succeeded: refused input writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from mlflow import MlflowClient

from automl.service._model import ModelVersion
from automl.tracking import RunRef, start_run


def service_run(version: ModelVersion, kind: str, tags: dict[str, str]) -> RunRef:
    """A new run in experiment `<model name>-<kind>`, its artifacts beside the training experiment's."""
    client = MlflowClient(version.tracking_uri)
    training = client.get_experiment(client.get_run(version.run_id).info.experiment_id)
    root = training.artifact_location.rsplit("/", 1)[0]
    if root.startswith("file:"):
        root = str(Path(url2pathname(urlparse(root).path)))
    name = f"{version.name}-{kind}"
    run_name = f"{name}-v{version.version}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    return start_run(version.tracking_uri, name, root, run_name, {**version.tags(), **tags})
